"""Audit: identifiable reads need a reason and are logged first; the log is append-only."""

from __future__ import annotations

import csv
import getpass
import re
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from openpyxl import load_workbook

from pipeline.cli import main
from pipeline.governance import audit
from pipeline.governance.exports import export_identifiable
from pipeline.warehouse.engine import SQL_DIR, Warehouse

PIPELINE = Path(__file__).resolve().parents[1] / "pipeline"


def _one_family(wh: Warehouse) -> None:
    with wh.begin() as conn:
        wh.execute(conn, "insert into linked.families (family_id, address, postcode, n_members) "
                         "values ('F0001', '1 High Street', 'NE1 4ST', 0)")


def _family(url: str, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, ["family", "F0001", "--warehouse", url, *args], env=env or {})


def test_family_view_needs_a_reason(warehouse: Warehouse, warehouse_url: str) -> None:
    _one_family(warehouse)
    missing = _family(warehouse_url)
    assert missing.exit_code == 2 and "Missing option '--reason'" in missing.output
    blank = _family(warehouse_url, "--reason", "  ")
    assert blank.exit_code == 2 and "say why you need identifiable data" in blank.output
    assert warehouse.read("select * from ops.audit_log").empty  # nothing read, nothing logged


def test_family_view_is_audited_with_who_and_why(warehouse: Warehouse, warehouse_url: str) -> None:
    _one_family(warehouse)
    shown = _family(warehouse_url, "--reason", "case 1234 planning", "--as", "kw.jones")
    assert shown.exit_code == 0 and "Family F0001" in shown.output
    by_env = _family(warehouse_url, "--reason", "case 1234 visit", env={"FAMILYHUB_USER": "kw.smith"})
    assert by_env.exit_code == 0
    by_os = _family(warehouse_url, "--reason", "case 1234 visit", env={"FAMILYHUB_USER": ""})
    assert by_os.exit_code == 0
    unknown = CliRunner().invoke(main, ["family", "F9999", "--warehouse", warehouse_url, "--reason", "looking"])
    assert unknown.exit_code == 1 and "no family F9999" in unknown.output
    log = warehouse.read("select actor, db_user, action, family_id, reason, logged_at from ops.audit_log "
                         "order by logged_at")
    assert log[["actor", "family_id", "reason"]].values.tolist() == [
        ["kw.jones", "F0001", "case 1234 planning"], ["kw.smith", "F0001", "case 1234 visit"],
        [getpass.getuser(), "F0001", "case 1234 visit"], [getpass.getuser(), "F9999", "looking"]]
    assert set(log["action"]) == {"view_family"} and log["db_user"].notna().all()
    assert (datetime.now() - log["logged_at"].max()).total_seconds() < 300


def test_audit_command_filters_and_exports_inert_csv(warehouse: Warehouse, warehouse_url: str,
                                                     tmp_path: Path) -> None:
    audit.record(warehouse, "view_family", who="a", reason="=HYPERLINK(\"http://x\",\"y\")", family_id="F1")
    audit.record(warehouse, "view_family", who="b", reason="+1 review", family_id="F2")
    listed = CliRunner().invoke(main, ["audit", "--family", "F2", "--warehouse", warehouse_url])
    assert listed.exit_code == 0 and "+1 review" in listed.output and "F1" not in listed.output
    out = tmp_path / "audit.csv"
    refused = CliRunner().invoke(main, ["audit", "--csv", str(out), "--warehouse", warehouse_url])
    assert refused.exit_code == 2 and "--reason" in refused.output and not out.exists()
    exported = CliRunner().invoke(main, ["audit", "--csv", str(out), "--reason", "DPO quarterly check", "--as", "dpo",
                                         "--warehouse", warehouse_url])
    assert exported.exit_code == 0, exported.output
    reasons = {r["actor"]: r["reason"] for r in csv.DictReader(out.open())}
    assert reasons == {"a": "'=HYPERLINK(\"http://x\",\"y\")", "b": "'+1 review"}
    export = audit.read_log(warehouse, action="export")  # the export of the log is itself audited
    assert sorted(export["family_id"]) == ["F1", "F2"] and set(export["actor"]) == {"dpo"}


def test_an_identifiable_export_is_audited_per_subject_before_it_is_written(warehouse: Warehouse,
                                                                            tmp_path: Path) -> None:
    frame = pd.DataFrame({"family_id": ["F1", "F1", "F2"], "person_id": ["P1", "P2", "P3"],
                          "name": ["=cmd|' /C calc'!A0", "Ann", "Bo"]})
    out = tmp_path / "people.xlsx"
    with pytest.raises(audit.AuditError, match="say why"):
        export_identifiable(warehouse, frame, out, who="kw", reason=" ", what="people")
    assert not out.exists() and warehouse.read("select * from ops.audit_log").empty
    export_identifiable(warehouse, frame, out, who="kw", reason="case 1234", what="people")
    assert [c.value for c in load_workbook(out).active["C"]][1:] == ["'=cmd|' /C calc'!A0", "Ann", "Bo"]
    log = warehouse.read("select * from ops.audit_log order by person_id")
    assert log[["actor", "action", "family_id", "person_id", "reason"]].values.tolist() == [
        ["kw", "export", "F1", "P1", "case 1234"], ["kw", "export", "F1", "P2", "case 1234"],
        ["kw", "export", "F2", "P3", "case 1234"]]
    assert log["detail"].eq(f"people: 3 rows to {out.resolve()}").all() and log["logged_at"].nunique() == 1
    families = pd.DataFrame({"family_id": ["F2"]})
    export_identifiable(warehouse, frame, tmp_path / "f.csv", who="kw", reason="case 9", what="x", subjects=families)
    assert warehouse.read("select family_id, person_id from ops.audit_log where reason = 'case 9'").values.tolist() \
        == [["F2", None]]
    assert (tmp_path / "f.csv").read_text().splitlines()[1] == "F1,P1,'=cmd|' /C calc'!A0"


def test_every_file_export_goes_through_the_exports_module() -> None:
    """One path for files people open: formula-safe, and audited when identifiable."""
    writers = re.compile(r"\.to_csv\(|\.to_excel\(|\bWorkbook\(|csv\.writer\(|csv\.DictWriter\(")
    allowed = {PIPELINE / "governance" / "exports.py",  # the one path
               PIPELINE / "warehouse" / "engine.py",  # COPY buffers for PostgreSQL
               PIPELINE / "linkage" / "review_queue.py"}  # re-reads a reviewer's own file, in memory
    sources = [p for p in PIPELINE.rglob("*.py") if "generator" not in p.parts]  # synthetic extracts
    offenders = [str(p.relative_to(PIPELINE)) for p in sources
                 if p not in allowed and writers.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_unknown_actions_and_missing_facts_are_refused(warehouse: Warehouse, monkeypatch) -> None:
    with pytest.raises(audit.AuditError, match="unknown audit action"):
        audit.record(warehouse, "peek", who="x")
    with pytest.raises(audit.AuditError, match="say why"):
        audit.require_reason("")
    monkeypatch.delenv("FAMILYHUB_USER", raising=False)
    monkeypatch.setattr(getpass, "getuser", lambda: "")
    with pytest.raises(audit.AuditError, match="--as NAME"):
        audit.actor(None)


@pytest.mark.postgres
def test_audit_log_is_append_only_on_postgres(pg_url: str) -> None:
    wh = Warehouse.connect(pg_url)
    wh.migrate()
    audit.record(wh, "export", who="someone", reason="claims return", detail="claims.csv")
    for statement in ("update ops.audit_log set actor = 'nobody'", "delete from ops.audit_log",
                      "truncate ops.audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), wh.begin() as conn:
            conn.exec_driver_sql(statement)  # even the superuser is refused
    audit.record(wh, "export", who="someone", reason="second return")
    assert wh.read("select actor from ops.audit_log")["actor"].tolist() == ["someone", "someone"]
    wh.engine.dispose()


def test_no_code_changes_the_audit_log() -> None:
    """DuckDB has no triggers: FamilyHub itself must only ever insert into the audit log."""
    changes = re.compile(r"(update|delete\s+from|truncate)\s+(table\s+)?ops\.audit_log", re.IGNORECASE)
    sources = [*PIPELINE.rglob("*.py"), *SQL_DIR.rglob("*.sql")]
    offenders = [p.name for p in sources if changes.search(p.read_text(encoding="utf-8"))]
    assert sources and offenders == []


@pytest.mark.parametrize("command", [["db"], ["db", "grant"], ["db", "pseudonymise"], ["db", "check"], ["erase"],
                                     ["retention"], ["audit"], ["family"], ["review", "list"], ["review", "export"],
                                     ["explain"], ["claims"], ["compare"]])
def test_every_data_protection_command_has_help_with_an_example(command: list[str]) -> None:
    shown = CliRunner().invoke(main, [*command, "--help"])
    assert shown.exit_code == 0 and "Example:" in shown.output
