"""Sensor benchmark: one poke of every agency's landing folder after years of daily files.

Usage::

    python benchmarks/sensor.py [--years 5] [--backend duckdb --backend postgres]

Builds ``years`` × 365 daily files for each of the 7 agencies (tiny files: the rule under test
never reads them) and a ledger holding every one of them, as years of service without
``--archive`` leave it, plus one new file per agency. Then times what each ingest DAG's
sensor does on a poke (``pipeline.airflow.tasks.pending_files``), for all agencies one after
another, and checks that exactly the new files are pending. ``hashed`` counts the files read:
only the new ones. ``poke s`` is the best of three rounds of seven pokes (each opens its own
warehouse connection and checks its schema revision, as a sensor task does; ``cpu s`` is this
process's share), and ``old rule s`` a poke that hashes every file, for one agency only (what the sensor did before
the ledger kept size and modification time). The machine may be shared: the 1-minute load
average is shown before and after.
PostgreSQL: a fresh database on the local server (``FAMILYHUB_BENCH_PG``, an admin URL).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from unittest import mock

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.scratch import pg_warehouse
from pipeline.ingest import ledger
from pipeline.ingest.agencies import load_agencies
from pipeline.warehouse.engine import Warehouse

PG_ADMIN = os.environ.get("FAMILYHUB_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def build(root: Path, wh: Warehouse, years: int) -> int:
    """Daily files for every agency, all in the ledger but the last day's; returns the file count."""
    start = date(2027, 1, 1) - timedelta(days=365 * years)
    days = [start + timedelta(days=i) for i in range(365 * years + 1)]
    rows = []
    for agency in load_agencies().values():
        folder = root / "landing" / agency.name
        folder.mkdir(parents=True)
        for d in days:
            path = folder / f"{agency.name}_{d:%Y%m%d}.{agency.file.extension}"
            path.write_bytes(f"header\n{d}\n".encode())
            if d != days[-1]:
                st = path.stat()
                rows.append({"agency": agency.name, "file_name": path.name, "extract_date": d, "sequence": 1,
                             "sha256": uuid.uuid4().hex, "size_bytes": st.st_size, "mtime_ns": st.st_mtime_ns,
                             "status": "loaded", "received_at": datetime.now()})
    ledger_rows = pd.DataFrame(rows)
    ledger_rows.insert(0, "file_id", range(1, len(rows) + 1))
    with wh.begin() as conn:
        wh.insert(conn, "ops.files", ledger_rows)
    return len(days) * len(load_agencies())


def poke_all(agencies: list[str]) -> tuple[float, int, int, float]:
    """(seconds, files pending, files hashed, CPU seconds of this process) of one poke per agency."""
    from pipeline.airflow import tasks

    hashed = 0
    real = ledger.sha256_of

    def counting(path: Path) -> str:
        nonlocal hashed
        hashed += 1
        return real(path)

    with mock.patch.object(tasks, "sha256_of", counting):
        started, cpu = time.perf_counter(), time.process_time()
        pending = sum(len(tasks.pending_files(a)) for a in agencies)
        return time.perf_counter() - started, pending, hashed, time.process_time() - cpu


def measure(url: str, years: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        url = url or f"duckdb:///{root / 'wh.duckdb'}"
        wh = Warehouse.connect(url)
        wh.migrate()
        n = build(root, wh, years)
        wh.engine.dispose()
        os.environ.update({"FAMILYHUB_LANDING": str(root / "landing"), "FAMILYHUB_WAREHOUSE": url})
        agencies = list(load_agencies())
        poke_all(agencies)  # warm: imports, the first connection
        load = os.getloadavg()[0]
        poke, pending, hashed, cpu = min((poke_all(agencies) for _ in range(3)), key=lambda r: r[0])
        with mock.patch("pipeline.airflow.tasks.recorded", lambda wh, paths: pd.DataFrame({"path": []})):
            old, _, old_hashed, _ = poke_all(agencies[:1])  # one agency: the old rule is slow
        backend = url.split(":")[0]
        print(f"{backend:<20} files {n:>6}  pending {pending}  hashed {hashed}  poke s {poke:.3f} "
              f"(cpu s {cpu:.3f})  "
              f"old rule s {old:.3f} (one agency, hashed {old_hashed})  load {load:.1f}->{os.getloadavg()[0]:.1f}")
        assert pending == len(agencies) and hashed == len(agencies), (pending, hashed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--backend", action="append", choices=["duckdb", "postgres"])
    args = parser.parse_args()
    for backend in args.backend or ["duckdb"]:
        if backend == "duckdb":
            measure("", args.years)
            continue
        with pg_warehouse(PG_ADMIN, prefix="fh_bench_sensor") as wh:
            measure(wh.engine.url.render_as_string(hide_password=False), args.years)

if __name__ == "__main__":
    main()
