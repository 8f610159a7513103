"""Ingest benchmark: load ~1M generated rows into each backend; print rows/s and peak memory.

Usage::

    python benchmarks/ingest.py --rows 1000000 [--backend duckdb --backend postgres]

The landing folder is generated once (``familyhub generate``, about 6.4 rows per household)
and cached under ``benchmarks/.cache``. Each backend is measured in its own process, so peak
memory (ru_maxrss) is the ingest's own. PostgreSQL: a fresh database on the local server
(``FAMILYHUB_BENCH_PG``, an admin URL). On PostgreSQL agencies load in worker processes
(``FAMILYHUB_INGEST_WORKERS``, default 2): peak memory is then that of the largest process, and
all of them together stay under the sum shown. The machine is shared, so each line also shows
the ingest's CPU seconds (its processes, not the database server) and the 1-minute load average
before and after: wall-clock rows/s on a loaded machine understate what the code does.

``seconds`` and ``rows/s`` are the wall clock of the whole ingest, start-up included;
``start-up`` is the part of ``seconds`` spent importing Great Expectations and building its
context, paid once per process (a long-lived worker or an Airflow task pays it once too).

Where the time goes (PostgreSQL, one worker so the parts add up: 47.5 s for 1M rows, 32.5 s of
it CPU in FamilyHub, the rest waiting for the server): standardisation into mentions and events
12.8 s; COPY into staging.person_mentions 7.2 s and staging.events 6.1 s (mostly the server: wide
rows, the primary-key index, WAL); the GX suite 4.9 s (38 validations, ~0.13 s each, nearly all
GX's fixed cost); GX start-up 3.2 s; reading 3.2 s (the workbook 1.5 s of it); row rules 2.8 s;
raw COPY 2.3 s; Data Docs 0.6 s. With two workers on two cores the ingest is CPU-bound: the wall
time is about (FamilyHub + server CPU) / 2 plus start-up. DuckDB adds its inserts (~11 s),
commits (~3 s) and one checkpoint at the end (~3 s) in the same process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

ROWS_PER_HOUSEHOLD = 6.44
CACHE = Path(__file__).parent / ".cache"
PG_ADMIN = os.environ.get("FAMILYHUB_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def landing_for(rows: int) -> Path:
    households = max(1, round(rows / ROWS_PER_HOUSEHOLD))
    out = CACHE / f"households-{households}"
    if not (out / "truth.csv").exists():
        from pipeline.generator import generate

        print(f"generating {households} households into {out} ...", flush=True)
        generate(out, households=households, seed=2026, bad_files=False)
    return out / "landing"


def measure(url: str, landing: Path, workdir: Path) -> dict:
    """Ingest the landing folder into ``url``; run in a child process."""
    from pipeline.ingest import ingest_landing, ingest_workers
    from pipeline.quality import prepare_gate
    from pipeline.warehouse import Warehouse

    wh = Warehouse.connect(url)
    wh.migrate()
    load_before = os.getloadavg()[0]
    start, cpu = time.perf_counter(), time.process_time()
    prepare_gate()  # start-up, else paid by the first file; timed apart, still inside the total
    startup = time.perf_counter() - start
    outcomes = ingest_landing(wh, landing, workdir / "quarantine")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    rows = sum(o.rows_sent or 0 for o in outcomes)
    mine, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu += workers.ru_utime + workers.ru_stime
    return {"rows": rows, "files": len(outcomes), "seconds": round(seconds, 1), "startup": round(startup, 1),
            "rows_per_second": round(rows / seconds), "cpu_seconds": round(cpu, 1),
            "peak_rss_mib": round(max(mine.ru_maxrss, workers.ru_maxrss) / 1024),
            "peak_sum_mib": round((mine.ru_maxrss + ingest_workers(wh) * workers.ru_maxrss) / 1024),
            "load": f"{load_before:.1f}-{os.getloadavg()[0]:.1f}",
            "refused": sum(o.status == "refused" for o in outcomes)}


def run_backend(backend: str, landing: Path) -> dict:
    workdir = CACHE / f"run-{uuid.uuid4().hex[:8]}"
    workdir.mkdir(parents=True)
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT") if backend == "postgres" else None
    name = f"fh_bench_{uuid.uuid4().hex[:8]}"
    if admin is not None:
        with admin.connect() as c:
            c.execute(sa.text(f'create database "{name}"'))
        url = admin.url.set(database=name).render_as_string(hide_password=False)
    else:
        url = f"duckdb:///{workdir / 'bench.duckdb'}"
    try:
        out = subprocess.run([sys.executable, __file__, "--child", url, str(landing), str(workdir)],
                             check=True, capture_output=True, text=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        if admin is not None:
            with admin.connect() as c:
                c.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        subprocess.run(["rm", "-rf", str(workdir)], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", action="append", choices=["duckdb", "postgres"])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, landing, workdir = args.child
        print(json.dumps(measure(url, Path(landing), Path(workdir))))
        return
    landing = landing_for(args.rows)
    print(f"{'backend':<10} {'rows':>9} {'files':>6} {'seconds':>8} {'start-up':>9} {'rows/s':>9} {'cpu s':>7} "
          f"{'peak MiB':>9} {'(sum)':>6} {'load':>10}")
    for backend in args.backend or ["duckdb", "postgres"]:
        r = run_backend(backend, landing)
        print(f"{backend:<10} {r['rows']:>9} {r['files']:>6} {r['seconds']:>8} {r['startup']:>9} "
              f"{r['rows_per_second']:>9} {r['cpu_seconds']:>7} {r['peak_rss_mib']:>9} {r['peak_sum_mib']:>6} "
              f"{r['load']:>10}", flush=True)


if __name__ == "__main__":
    main()
