"""The ingest benchmark's measurements (``benchmarks/ingest.py``), run as the README runs them
but on a small landing folder: its figures back the closing notes, so they must add up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "ingest.py"


@pytest.mark.postgres
def test_benchmark_counts_every_row_and_its_copy_only_ceiling_reloads_the_same_rows(
        generated: Path, pg_url: str, tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "--child", pg_url, str(generated / "landing"), str(tmp_path),
                          "--stages"], check=True, capture_output=True, text=True, timeout=600)
    result = json.loads(out.stdout.strip().splitlines()[-1])

    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            sent = conn.execute(sa.text("select sum(rows_sent) from ops.files")).scalar()
            tables = conn.execute(sa.text(
                "select table_name from information_schema.tables where table_schema = 'raw'")).scalars().all()
            layers = [f"raw.{t}" for t in tables] + ["staging.person_mentions", "staging.events"]
            counts = {t: conn.execute(sa.text(f"select count(*) from {t}")).scalar() for t in layers}
            copies = {t: conn.execute(sa.text(f"select count(*) from copy_only.{t.replace('.', '__')}")).scalar()
                      for t in layers}
    finally:
        engine.dispose()

    assert result["rows"] == sent > 0
    assert copies == counts and result["copy_only"]["table_rows"] == sum(counts.values())
    # the server's clock ticks are 10 ms: COPY alone of a small landing may take less than one
    assert result["server_cpu_seconds"] > 0 and result["copy_only"]["server_cpu_seconds"] >= 0
    stages = result["stages"]
    assert set(stages) == {"read files", "GX suite", "row rules", "standardise", "COPY, client side", "Data Docs"}
    assert all(stages[s] > 0 for s in ("GX suite", "standardise"))
    assert sum(stages.values()) <= result["cpu_seconds"]
