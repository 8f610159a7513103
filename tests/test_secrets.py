"""Secrets: the warehouse URL and SMTP credentials come from the environment, never from code, and
never reach output, logs, reports or the warehouse, even at the highest verbosity."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from trust_data import small_landing

from pipeline.warehouse.engine import redact

ROOT = Path(__file__).resolve().parents[1]
FAMILYHUB = Path(sys.executable).parent / "familyhub"
PASSWORD = "S3cr3t-Pa55-w0rd-7q"
SMTP_PASSWORD = "smtp-S3cr3t-9z"
PSEUDONYM_KEY = "pseudonym-S3cr3t-key-0123456789"


def _run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "FAMILYHUB_SMTP_PASSWORD": SMTP_PASSWORD,
            "FAMILYHUB_PSEUDONYM_KEY": PSEUDONYM_KEY, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    return subprocess.run([str(FAMILYHUB), "-vv", *args], env=base | env, cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def _leaks(text: str) -> list[str]:
    return [s for s in (PASSWORD, SMTP_PASSWORD, PSEUDONYM_KEY) if s in text]


@pytest.mark.slow
@pytest.mark.postgres
def test_no_secret_in_output_logs_reports_or_warehouse(pg_url: str, tmp_path: Path) -> None:
    url = sa.make_url(pg_url).set(password=PASSWORD).render_as_string(hide_password=False)
    assert PASSWORD in url
    landing = small_landing(tmp_path, ("police", "dwp"), households=60, files=1)
    (landing / "police" / "police_20260915.csv").write_text("OccurrenceRef\nOC/1\n")  # refused: a report is written
    env = {"FAMILYHUB_WAREHOUSE": url, "FAMILYHUB_LANDING": str(landing)}
    runs = [_run("db", "upgrade", env=env, cwd=tmp_path),
            _run("ingest", env=env, cwd=tmp_path),
            _run("link", "--as-of", "2026-11-01", env=env, cwd=tmp_path),
            _run("db", "pseudonymise", env=env, cwd=tmp_path),
            _run("status", "--json", env=env, cwd=tmp_path),
            _run("family", "F-none", "--reason", "secrets test", env=env, cwd=tmp_path),
            _run("db", "check", env=env, cwd=tmp_path),
            _run("audit", "--json", env=env, cwd=tmp_path),
            _run("status", env={"FAMILYHUB_WAREHOUSE": url.replace("5432", "5999")}, cwd=tmp_path),
            _run("status", env={"FAMILYHUB_WAREHOUSE": url.replace(":5432", ":notaport")}, cwd=tmp_path)]
    assert [r.returncode for r in runs] == [0, 0, 0, 0, 0, 1, 0, 0, 1, 1], [r.stderr[-500:] for r in runs]
    assert "INFO pipeline.ingest.load" in runs[1].stderr and "refused" in runs[1].stdout  # it did log
    assert "***" in runs[-1].stderr + runs[-1].stdout  # the URL is shown, redacted
    for r in runs:
        assert _leaks(r.stdout + r.stderr) == []
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix not in {".xlsx", ".duckdb"}]
    assert any(p.name.endswith(".report.md") for p in written)
    for path in written:
        assert _leaks(path.read_text(encoding="utf-8", errors="replace")) == [], path
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        tables = conn.execute(sa.text("select table_schema || '.' || table_name from information_schema.tables "
                                      "where table_schema in ('ops', 'linked', 'cohort')")).scalars().all()
        for table in tables:
            text = " ".join(str(row) for row in conn.execute(sa.text(f"select * from {table}")))
            assert _leaks(text) == [], table
    engine.dispose()


#: URLs with a password, and password-like assignments with a literal value.
CREDENTIALS = [re.compile(r"\b[a-z][a-z0-9+]*://[^\s/:@'\"{}]+:[^\s@'\"{}*]+@"),
               re.compile(r"(password|passwd|secret|api_key|token)\w*\s*[=:]\s*['\"](?!\$)[^'\"{}\s]{4,}['\"]",
                          re.IGNORECASE)]


def test_no_credentials_in_code() -> None:
    """Warehouse URLs and SMTP credentials come from the environment or Airflow connections."""
    sources = [p for folder in ("pipeline", "matching", "dags", "expectations", "sql", "scripts")
               for p in (ROOT / folder).rglob("*") if p.suffix in {".py", ".sql", ".sh", ".yaml", ".json", ".cfg"}]
    sources += [ROOT / "Makefile", ROOT / "pyproject.toml"]
    found = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in sources for pattern in CREDENTIALS
             for m in pattern.finditer(p.read_text(encoding="utf-8", errors="replace"))]
    assert len(sources) > 30 and found == []


@pytest.mark.parametrize("url", ["postgresql+psycopg://fh:S3cr3t@db.example:5432/familyhub",
                                 "postgresql://fh:p%40ss%3Aword@db/familyhub", "duckdb:///x.duckdb"])
def test_redact_hides_the_password(url: str) -> None:
    shown = redact(url)
    assert "S3cr3t" not in shown and "p%40ss" not in shown
    assert shown.split("@")[-1] == url.split("@")[-1]
