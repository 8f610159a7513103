"""Ingest benchmark: load ~1M generated rows into each backend; print rows/s and peak memory.

Usage::

    python benchmarks/ingest.py --rows 1000000 [--backend duckdb --backend postgres] [--stages]

The landing folder is generated once (``familyhub generate``, about 6.4 rows per household)
and cached under ``benchmarks/.cache``. Each backend is measured in its own process, so peak
memory (ru_maxrss) is the ingest's own. PostgreSQL: a fresh database on the local server
(``FAMILYHUB_BENCH_PG``, an admin URL). On PostgreSQL agencies load in worker processes
(``FAMILYHUB_INGEST_WORKERS``, default 2): peak memory is then that of the largest process, and
all of them together stay under the sum shown. The machine is shared, so each line also shows
CPU seconds (``cpu s``: FamilyHub's processes; ``server s``: the local PostgreSQL server's) and
the 1-minute load average before and after: wall-clock rows/s on a loaded machine understate
what the code does.

``seconds`` and ``rows/s`` are the wall clock of the whole ingest, start-up included;
``start-up`` is the part of ``seconds`` spent importing Great Expectations and building its
context, paid once per process (a long-lived worker or an Airflow task pays it once too).

``COPY only`` is the ceiling this machine puts on any ingest that writes the same rows: the
raw and staging rows the ingest just wrote, as CSV that PostgreSQL itself produced, COPYed back
into empty copies of their tables (same keys and indexes) by one session per core, with no
reading, gate or standardisation. The last line compares CPU seconds with the budget that
100,000 rows/s leaves on this machine's cores.

Where the time goes (``--stages``: one worker so the parts add up; 988,260 rows): FamilyHub
29.4 CPU s, of which start-up 3.1, reading 3.1, the GX suite 5.3 (36 files, nearly all GX's
fixed cost per validation: the suite already sees each column's distinct values only), row
rules 2.0, standardisation 10.8, COPY on the client side 3.3, Data Docs 0.6; the server 12.4 CPU
s. Two cores at 100,000 rows/s give 19.8 CPU s for 988,260 rows. The server's COPY alone takes
11-14 of them (``COPY only``), and GX with its start-up 8 more, before FamilyHub has read or
standardised a row: the target cannot be reached on this machine with the layers the
warehouse must hold (raw as received, person mentions and events, each keyed so that a
correction replaces the earlier version). DuckDB adds its inserts, commits and one
checkpoint at the end in the same process.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import inspect
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import sqlalchemy as sa

ROWS_PER_HOUSEHOLD = 6.44
CACHE = Path(__file__).parent / ".cache"
PG_ADMIN = os.environ.get("FAMILYHUB_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def landing_for(rows: int) -> Path:
    from pipeline.generator.errors import DEFAULT_ERRORS

    households = max(1, round(rows / ROWS_PER_HOUSEHOLD))
    out = CACHE / f"households-{households}-{DEFAULT_ERRORS}"  # a cache of clean data is not reused
    if not (out / "truth.csv").exists():
        from pipeline.generator import generate

        print(f"generating {households} households into {out} ...", flush=True)
        generate(out, households=households, seed=2026, bad_files=False)
    return out / "landing"


def libpq_dsn(url: str) -> str:
    """The warehouse's SQLAlchemy URL as psycopg takes it."""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def server_cpu() -> float:
    """CPU seconds used so far by the local PostgreSQL server: every ``postgres`` process, plus what
    its exited children (finished sessions) left in their parent's account. 0 when it is not local."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, rest = stat.read_text().split(" (", 1)[1].rsplit(") ", 1)
        except (OSError, IndexError, ValueError):  # the process ended meanwhile
            continue
        if name == "postgres":
            total += sum(int(f) for f in rest.split()[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


#: What ``--stages`` times (CPU seconds in FamilyHub's process): label -> (module, attribute).
STAGES = {
    "read files": ("pipeline.ingest.load", "read_extract"),
    "GX suite": ("pipeline.ingest.quality", "_run_gx"),
    "row rules": ("pipeline.ingest.quality", "_semantic_reasons"),
    "standardise": ("pipeline.ingest.load", "canonical_frames"),
    "COPY, client side": ("pipeline.warehouse.engine", "_Postgres.insert_frame"),
    "Data Docs": ("pipeline.ingest.data_docs", "publish"),
}


def time_stages() -> dict[str, float]:
    """Wrap each of :data:`STAGES` so its CPU seconds add up in the returned dict (a generator's
    time is counted per item it yields)."""
    spent = dict.fromkeys(STAGES, 0.0)

    def add(label: str, started: float) -> None:
        spent[label] += time.process_time() - started

    for label, (module, attribute) in STAGES.items():
        owner = importlib.import_module(module)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        original = getattr(owner, name)
        if inspect.isgeneratorfunction(original):
            def wrapper(*args, _f=original, _label=label, **kwargs):
                items = _f(*args, **kwargs)
                while True:
                    started = time.process_time()
                    try:
                        item = next(items)
                    except StopIteration:
                        return
                    finally:
                        add(_label, started)
                    yield item
        else:
            def wrapper(*args, _f=original, _label=label, **kwargs):
                started = time.process_time()
                try:
                    return _f(*args, **kwargs)
                finally:
                    add(_label, started)
        setattr(owner, name, functools.wraps(original)(wrapper))
    return spent


def settled_server_cpu(url: str) -> float | None:
    """:func:`server_cpu` once the server is idle (no other active session, no autovacuum still
    working on an earlier load's tables), so a measurement starts clean; None for DuckDB."""
    if not url.startswith("postgresql"):
        return None
    with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
        for _ in range(600):
            busy = conn.execute("select count(*) from pg_stat_activity where pid <> pg_backend_pid() and "
                                "(backend_type = 'autovacuum worker' or state = 'active')").fetchone()[0]
            if not busy:
                break
            time.sleep(0.2)
    time.sleep(0.5)  # sessions that just ended are accounted to the server once it has reaped them
    return server_cpu()


def measure(url: str, landing: Path, workdir: Path, stages: bool = False) -> dict:
    """Ingest the landing folder into ``url``; run in a child process."""
    from pipeline.ingest.load import ingest_landing, ingest_workers
    from pipeline.ingest.quality import prepare_gate
    from pipeline.warehouse.engine import Warehouse

    spent = None
    if stages:  # in one process, so that the stages' CPU seconds are counted and add up
        os.environ["FAMILYHUB_INGEST_WORKERS"] = "1"
        spent = time_stages()
    wh = Warehouse.connect(url)
    wh.migrate()
    server = settled_server_cpu(url)
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
            "server_cpu_seconds": None if server is None else round(server_cpu() - server, 2),
            "peak_rss_mib": round(max(mine.ru_maxrss, workers.ru_maxrss) / 1024),
            "peak_sum_mib": round((mine.ru_maxrss + ingest_workers(wh) * workers.ru_maxrss) / 1024),
            "load": f"{load_before:.1f}-{os.getloadavg()[0]:.1f}",
            "refused": sum(o.status == "refused" for o in outcomes),
            "stages": spent and {label: round(v, 1) for label, v in spent.items()}}


def copy_only(url: str, workdir: Path, workers: int) -> dict:
    """The server's share alone: COPY the layers the ingest just wrote back into empty copies of
    their tables (same columns, keys and indexes), from CSV files PostgreSQL itself wrote, in
    ``workers`` sessions at once, one transaction each; no reading, gate or standardisation.
    What this takes on the machine bounds any ingest that writes the same rows."""
    dsn = libpq_dsn(url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = [f"{s}.{t}" for s, t in conn.execute(
            "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE' "
            "and (table_schema = 'raw' or table_name in ('person_mentions', 'events') and table_schema = 'staging')")]
        conn.execute("create schema copy_only")
        files = {}
        for table in tables:
            target = f"copy_only.{table.replace('.', '__')}"
            conn.execute(f"create table {target} (like {table} including all)")
            files[target] = workdir / f"{target}.csv"
            with files[target].open("wb") as out, conn.cursor().copy(f"copy {table} to stdout (format csv)") as cp:
                for block in cp:
                    out.write(block)
        rows = sum(conn.execute(f"select count(*) from {t}").fetchone()[0] for t in tables)

    def load(table: str) -> None:
        with psycopg.connect(dsn) as conn, conn.cursor().copy(f"copy {table} from stdin (format csv)") as cp, \
                files[table].open("rb") as data:
            while block := data.read(1 << 20):
                cp.write(block)

    server = settled_server_cpu(url)
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:  # largest first: the sessions finish together
        list(pool.map(load, sorted(files, key=lambda t: -files[t].stat().st_size)))
    return {"seconds": round(time.perf_counter() - start, 1), "server_cpu_seconds": round(server_cpu() - server, 2),
            "table_rows": rows,
            "bytes_mib": round(sum(f.stat().st_size for f in files.values()) / 2**20)}


def run_backend(backend: str, landing: Path, stages: bool = False) -> dict:
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
        out = subprocess.run([sys.executable, __file__, "--child", url, str(landing), str(workdir),
                              *(["--stages"] if stages else [])], check=True, capture_output=True, text=True)
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
    parser.add_argument("--stages", action="store_true",
                        help="one worker, and the CPU seconds of each stage of the ingest")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, landing, workdir = args.child
        result = measure(url, Path(landing), Path(workdir), args.stages)
        if url.startswith("postgresql"):  # as many sessions as cores: the fastest this server loads them
            result["copy_only"] = copy_only(url, Path(workdir), os.cpu_count() or 1)
        print(json.dumps(result))
        return
    landing = landing_for(args.rows)
    print(f"{'backend':<10} {'rows':>9} {'files':>6} {'seconds':>8} {'start-up':>9} {'rows/s':>9} {'cpu s':>7} "
          f"{'server s':>9} {'peak MiB':>9} {'(sum)':>6} {'load':>10}")
    for backend in args.backend or ["duckdb", "postgres"]:
        r = run_backend(backend, landing, args.stages)
        server = "" if r["server_cpu_seconds"] is None else r["server_cpu_seconds"]
        print(f"{backend:<10} {r['rows']:>9} {r['files']:>6} {r['seconds']:>8} {r['startup']:>9} "
              f"{r['rows_per_second']:>9} {r['cpu_seconds']:>7} {server:>9} {r['peak_rss_mib']:>9} "
              f"{r['peak_sum_mib']:>6} {r['load']:>10}", flush=True)
        if "copy_only" in r:
            c = r["copy_only"]
            print(f"{'COPY only':<10} {r['rows']:>9} {'':>6} {c['seconds']:>8} {'':>9} "
                  f"{round(r['rows'] / c['seconds']):>9} {'':>7} {c['server_cpu_seconds']:>9}   (the same "
                  f"{c['table_rows']} table rows, {c['bytes_mib']} MiB of CSV, COPYed by the server alone)")
            budget = os.cpu_count() * r["rows"] / 100_000
            print(f"CPU budget at 100,000 rows/s on {os.cpu_count()} cores: {budget:.1f} s; the ingest used "
                  f"{r['cpu_seconds'] + r['server_cpu_seconds']:.1f} s (FamilyHub {r['cpu_seconds']} + "
                  f"server {r['server_cpu_seconds']}), COPY alone {c['server_cpu_seconds']} s", flush=True)
        for label, cpu in (r["stages"] or {}).items():
            print(f"  {label:<20} {cpu:>6} CPU s")

if __name__ == "__main__":
    main()
