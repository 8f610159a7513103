"""Nothing is silently lost: on a generated 20,000-household set (plus every bad file), for each
agency, rows loaded + rows held back + rows of refused files = rows sent, as `status --json` shows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from pipeline.cli import main


@pytest.mark.slow
def test_every_row_sent_is_accounted_for(tmp_path: Path) -> None:
    from pipeline.generator import generate

    out = tmp_path / "gen"
    generate(out, households=20_000, seed=5)
    manifest = json.loads((out / "manifest.json").read_text())
    for bad in (out / "bad").rglob("*"):
        if bad.is_file():
            target = out / "landing" / bad.parent.name / bad.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(bad, target)
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade", "--warehouse", url]).exit_code == 0
    ingest = runner.invoke(main, ["ingest", "--landing", str(out / "landing"), "--warehouse", url, "--json"])
    assert ingest.exit_code == 0, ingest.output
    result = runner.invoke(main, ["status", "--json", "--warehouse", url])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)

    truth = pd.read_csv(out / "truth.csv", dtype=str, keep_default_na=False)
    sent = truth.groupby("agency").size()
    held_expected = truth[truth["bad_row_reason"] != ""].groupby("agency").size()
    bad_files = [f for f in manifest["files"] if f["kind"] == "bad"]
    for agency, s in status.items():
        refused_rows = sum(f["rows"] or 0 for f in bad_files if f["agency"] == agency)
        assert s["rows_loaded"] + s["rows_held"] + s["rows_in_refused_files"] == s["rows_sent"], (agency, s)
        assert s["rows_sent"] == sent.get(agency, 0) + refused_rows or s["refused_files_rows_unknown"], (agency, s)
        assert s["rows_held"] == held_expected.get(agency, 0), (agency, s)
        assert s["files_refused"] == sum(f["agency"] == agency for f in bad_files), (agency, s)
