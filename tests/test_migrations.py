"""Versioned schema migrations: a first-release warehouse upgrades in place on both backends,
commands refuse a schema that is behind, raw tables follow their declarations, and the DDL
ships inside the package."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import fresh_pg_database
from trust_data import build_linked, small_landing

from pipeline.cli import main
from pipeline.governance import audit
from pipeline.ingest.agencies import DECLARATIONS, load_agencies
from pipeline.warehouse import schema
from pipeline.warehouse.engine import LAYERS, SQL_DIR, Warehouse

ROOT = Path(__file__).resolve().parents[1]
PREVIOUS_SQL = Path(__file__).parent / "fixtures" / "release-0.1-sql.tar.gz"


def build_previous_release(url: str, folder: Path) -> Warehouse:
    """A warehouse as release 0.1 made it: every DDL file of each folder, raw tables from the
    declarations, the views; no version table."""
    with tarfile.open(PREVIOUS_SQL) as archive:
        archive.extractall(folder, filter="data")
    wh = Warehouse.connect(url)
    with wh.begin() as conn:
        for layer in LAYERS:
            conn.exec_driver_sql(f"create schema if not exists {layer}")
        for layer in ("ops", "staging", "linked", "cohort", "raw", "reporting"):
            if layer == "raw":
                for agency in load_agencies().values():
                    conn.exec_driver_sql(Warehouse.raw_table_ddl(agency))
                continue
            for path in sorted((folder / layer).glob("*.sql")):
                for statement in schema.statements(path.read_text(encoding="utf-8")):
                    conn.exec_driver_sql(statement)
    return wh


def columns(wh: Warehouse) -> set[tuple[str, str, str, str]]:
    """(schema, table, column, type) of every FamilyHub table and view."""
    rows = wh.read("select table_schema, table_name, column_name, data_type from information_schema.columns "
                   "where table_schema in ('ops', 'raw', 'staging', 'linked', 'cohort', 'reporting')")
    return set(rows.itertuples(index=False, name=None))


@pytest.fixture
def second_url(warehouse_url: str, tmp_path: Path, request: pytest.FixtureRequest):
    """Another empty warehouse on the same backend."""
    if warehouse_url.startswith("duckdb"):
        yield f"duckdb:///{tmp_path / 'fresh.duckdb'}"
        return
    with fresh_pg_database(request.getfixturevalue("pg_admin")) as url:
        yield url


@pytest.mark.slow
def test_first_release_warehouse_upgrades_in_place_keeping_every_row(warehouse_url: str, second_url: str,
                                                                     tmp_path: Path) -> None:
    fresh = Warehouse.connect(second_url)  # this release's pipeline fills a warehouse at head...
    fresh.migrate()
    build_linked(fresh, small_landing(tmp_path, households=40, files=1))
    old = build_previous_release(warehouse_url, tmp_path / "release-0.1-sql")  # ...whose rows, in the columns release 0.1 had,
    old_columns = columns(old)  # are what a release-0.1 warehouse holds
    with old.begin() as conn:
        for table in old.table_counts():
            layer, name = table.split(".")
            kept = ", ".join(f'"{c}"' for s, n, c, _ in sorted(old_columns) if (s, n) == (layer, name))
            old.insert(conn, table, fresh.read(f"select {kept} from {table}"))
        old.execute(conn, "insert into cohort.attachments (family_id, key_worker, attached_on, recorded_at) "
                          "select family_id, 'Ann Key', date '2026-06-01', timestamp '2026-06-01' "
                          "from linked.families limit 3")
    audit.record(old, "view_family", who="tester", reason="before the upgrade", family_id="F1")
    before = old.table_counts()
    assert sum(n > 0 for n in before.values()) >= 15, before  # most tables hold rows
    unseen = 0 if old.is_embedded else old.scalar(  # PostgreSQL queues them for the next alert pass
        "select count(*) from staging.events e where not exists (select 1 from cohort.alert_seen s "
        "where s.mention_id = e.mention_id and s.version >= e.version)")
    with pytest.raises(schema.SchemaBehind, match=rf"no schema version .* needs {schema.head()}: run `familyhub db upgrade`"):
        old.require_current()

    result = CliRunner().invoke(main, ["db", "upgrade", "--warehouse", warehouse_url])
    assert result.exit_code == 0, result.output
    assert f"unversioned -> {schema.head()}" in result.output
    old.require_current()
    after = old.table_counts()
    assert {t: after[t] for t in before} == before  # every row kept
    added = set(after) - set(before)  # the version row lives in ops; later revisions' tables start empty
    assert {t: after[t] for t in added} == {**dict.fromkeys(added, 0), "ops.alembic_version": 1,
                                            "cohort.case_families": 3,  # each attached family, a case
                                            "cohort.alert_queue": unseen}
    assert unseen or old.is_embedded
    assert old.scalar("select count(*) from reporting.family_view") > 0

    assert columns(old) == columns(fresh)  # upgraded = made new: the revisions describe every change
    old.engine.dispose()
    fresh.engine.dispose()


def test_commands_refuse_a_schema_behind_without_a_traceback(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    runner = CliRunner()
    refused = runner.invoke(main, ["status", "--warehouse", url])
    assert refused.exit_code == 1 and isinstance(refused.exception, SystemExit)
    assert f"needs {schema.head()}: run `familyhub db upgrade`" in refused.output and "Traceback" not in refused.output
    assert runner.invoke(main, ["db", "current", "--warehouse", url]).output.startswith("unversioned")
    assert runner.invoke(main, ["db", "upgrade", "--to", "0001", "--warehouse", url]).exit_code == 0
    behind = runner.invoke(main, ["db", "current", "--warehouse", url]).output.strip()
    assert behind == f"0001 (this release needs {schema.head()})"
    assert runner.invoke(main, ["db", "upgrade", "--warehouse", url]).exit_code == 0
    shown = runner.invoke(main, ["db", "current", "--warehouse", url])
    assert (shown.exit_code, shown.output.strip()) == (0, f"{schema.head()} (head)")
    assert "already at" in runner.invoke(main, ["db", "upgrade", "--warehouse", url]).output
    assert runner.invoke(main, ["status", "--warehouse", url]).exit_code == 0
    listed = runner.invoke(main, ["db", "history"]).output.splitlines()
    assert listed[0].startswith("base -> 0001") and len(listed) == len(schema.history())
    bad = runner.invoke(main, ["db", "upgrade", "--to", "9999", "--warehouse", url])
    assert bad.exit_code == 1 and "nothing changed" in bad.output


def test_a_declaration_that_gains_a_column_migrates_its_raw_table(warehouse: Warehouse, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    with warehouse.begin() as conn:
        warehouse.execute(conn, 'insert into raw.police (file_id, row_number, "OccurrenceRef") values (1, 1, :r)',
                          {"r": "OC/1"})
    declared = yaml.safe_load((DECLARATIONS / "police.yaml").read_text())
    declared["columns"].append({"name": "Beat"})
    (tmp_path / "police.yaml").write_text(yaml.safe_dump(declared))
    monkeypatch.setenv("FAMILYHUB_DECLARATIONS", str(tmp_path))
    with pytest.raises(schema.SchemaBehind, match=r"raw\.police: Beat\): run `familyhub db upgrade`"):
        warehouse.require_current()
    warehouse.migrate()
    warehouse.require_current()
    rows = warehouse.read('select "OccurrenceRef", "Beat" from raw.police')
    assert rows.to_dict("records") == [{"OccurrenceRef": "OC/1", "Beat": None}]


def test_a_missing_ddl_file_is_an_error_not_an_empty_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(SQL_DIR, tmp_path / "sql")
    (tmp_path / "sql" / "linked" / "persons.sql").unlink()
    monkeypatch.setattr(schema, "SQL_DIR", tmp_path / "sql")
    wh = Warehouse.connect(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    with pytest.raises(FileNotFoundError, match=r"linked/persons\.sql is missing"):
        wh.migrate()
    assert wh.table_counts() == {} and schema.current(wh) is None  # the upgrade rolled back whole
    (tmp_path / "sql" / "reporting").rename(tmp_path / "elsewhere")
    with pytest.raises(FileNotFoundError, match="no DDL in"):
        schema.folder_files("reporting")
    wh.engine.dispose()


@pytest.mark.slow
def test_the_wheel_ships_the_sql_and_the_migrations(tmp_path: Path) -> None:
    """A regular (not editable) install finds its DDL: every file of sql/ is inside the wheel."""
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    names = set(zipfile.ZipFile(next(tmp_path.glob("familyhub-*.whl"))).namelist())
    shipped = {f"pipeline/warehouse/sql/{p.relative_to(SQL_DIR).as_posix()}" for p in SQL_DIR.rglob("*.sql")}
    assert len(shipped) > 40 and shipped <= names
    versions = {f"pipeline/warehouse/migrations/versions/{Path(s.path).name}"
                for s in schema._scripts().walk_revisions()}
    assert {"pipeline/warehouse/migrations/env.py", *versions} <= names


def test_revisions_form_one_line_from_the_first_release() -> None:
    revisions = schema.history()
    assert revisions[0].revision == "0001" and revisions[0].down_revision is None
    assert [r.down_revision for r in revisions[1:]] == [r.revision for r in revisions[:-1]]
    assert revisions[-1].revision == schema.head() and all(r.doc for r in revisions)


def test_every_table_file_is_applied_by_a_revision(warehouse: Warehouse) -> None:
    """A new file under sql/ needs a revision applying it (views need none: every upgrade re-creates them)."""
    tables = set(warehouse.table_counts())
    declared = {m.group(1) for path in SQL_DIR.glob("*/*.sql") if path.parent.name != "reporting"
                for m in re.finditer(r"create table if not exists (\w+\.\w+)", path.read_text(encoding="utf-8"), re.I)}
    assert len(declared) > 30 and declared <= tables, declared - tables


@pytest.mark.postgres
def test_replacing_an_evaluation_reads_its_evidence_by_index(pg_url: str) -> None:
    """Each cohort run deletes the evaluation it replaces: by index, not by reading the evidence of
    every evaluation kept (a table that grows every month)."""
    wh = Warehouse.connect(pg_url)
    wh.migrate()
    with wh.begin() as conn:
        conn.exec_driver_sql("set local enable_seqscan = off")  # an empty table: the plan a large one gets
        plan = " ".join(row[0] for row in conn.exec_driver_sql(
            "explain delete from cohort.evidence where programme = 'tf2015' and as_of = date '2026-03-31'"))
    wh.engine.dispose()
    assert "evidence_by_evaluation" in plan, plan
