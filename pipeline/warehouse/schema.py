"""Versioned schema migrations (Alembic): ``familyhub db upgrade | current | history``.

The deployment upgrades once (compose's init job, ``make airflow``, ``make demo``); every
other command and Airflow task only connects and calls :func:`require_current`, which names
the revision the warehouse is at and the one this release needs. Upgrading as one role (the
owner) and running as another (the loader) is what lets the pipeline run without DDL rights.

Revisions live in ``pipeline/warehouse/migrations/versions/`` and go forward only. What each
upgrade does, in one transaction:

1. the schemas (``ops``, ``raw``, ...) exist, and ``ops.alembic_version`` records the revision;
2. the pending revisions run: each applies SQL files from the package's ``sql/`` folder
   (:func:`apply_sql`) and/or plain ``op.execute`` statements;
3. at head, the replaceable objects are re-created from their files: the reporting views
   (``sql/reporting``) and, on PostgreSQL, the functions and triggers of ``sql/ops/postgresql``;
   and each agency's raw table is reconciled with its declaration (created, or given the
   columns the declaration gained: :func:`reconcile_raw_tables`).

Adding a revision (e.g. a new table): write ``sql/<layer>/<table>.sql`` (``create table if not
exists``), then copy the newest file in ``versions/`` to ``NNNN_what.py``, set ``revision`` and
``down_revision`` (the previous head), and make ``upgrade()`` call
``apply_sql(op.get_bind(), "<layer>/<table>.sql")``. A column added to an existing table: edit
its ``create table`` (fresh warehouses) *and* add a revision running
``alter table ... add column if not exists ...`` (existing ones). A changed view needs no revision.
``tests/test_migrations.py`` upgrades a first-release warehouse and compares its columns with a
fresh one's: a table edited without a revision fails it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.ddl.impl import DefaultImpl
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from pipeline.ingest.agencies import load_agencies
from pipeline.warehouse.engine import LAYERS, SQL_DIR, Warehouse

__all__ = ["Revision", "SchemaBehind", "apply_sql", "current", "head", "history", "reconcile_raw_tables",
           "require_current", "upgrade"]

SCRIPTS = "pipeline.warehouse:migrations"
VERSION_SCHEMA = "ops"
VERSION_TABLE = "alembic_version"  # Alembic's default name
UPGRADE_HINT = "run `familyhub db upgrade` (as the warehouse owner)"


class AlembicDuckDBImpl(DefaultImpl):
    """Alembic knows a dialect only through an implementation class naming it (duckdb_engine
    ships none); DuckDB runs DDL inside transactions, so an upgrade commits whole or not at all."""

    __dialect__ = "duckdb"
    transactional_ddl = True


class SchemaBehind(RuntimeError):
    """The warehouse's schema is older than this release needs (or was never versioned)."""


@dataclass(frozen=True)
class Revision:
    revision: str
    down_revision: str | None
    doc: str


def _config(conn: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPTS)
    cfg.attributes["connection"] = conn
    return cfg


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The revision this release needs."""
    found = _scripts().get_current_head()
    assert found, "no migration scripts are installed"
    return found


def history() -> list[Revision]:
    """Every revision, oldest first."""
    return [Revision(s.revision, s.down_revision, (s.doc or "").strip())  # type: ignore[arg-type]
            for s in reversed(list(_scripts().walk_revisions()))]


def current(wh: Warehouse) -> str | None:
    """The revision the warehouse is at; None when it was never versioned (empty, or made by an
    earlier release)."""
    with wh.engine.connect() as conn:  # read directly: every command calls this, Alembic's context logs
        if not sa.inspect(conn).has_table(VERSION_TABLE, schema=VERSION_SCHEMA):
            return None
        return conn.execute(sa.text(f"select version_num from {VERSION_SCHEMA}.{VERSION_TABLE}")).scalar()


def upgrade(wh: Warehouse, to: str = "head") -> tuple[str | None, str | None]:
    """Bring the warehouse to revision ``to`` in one transaction; returns (before, after)."""
    before = current(wh)
    with wh.begin() as conn:
        wh.lock(conn, "schema")  # two upgrades at once: the second waits and finds nothing to do
        command.upgrade(_config(conn), to)
    return before, current(wh)


def require_current(wh: Warehouse) -> None:
    """Refuse a warehouse whose schema is behind this release: the message says what to run.

    Reads the version row and the raw tables' columns (two catalogue queries), so every
    command and task can afford it.
    """
    needed, at = head(), current(wh)
    if at != needed:
        state = f"is at revision {at}" if at else "has no schema version (empty, or made by an earlier release)"
        raise SchemaBehind(f"warehouse {wh.url} {state}; this release needs {needed}: {UPGRADE_HINT}")
    with wh.engine.connect() as conn:
        missing = _missing_raw_columns(conn)
    if missing:
        detail = "; ".join(f"raw.{t}: {', '.join(cols)}" for t, cols in sorted(missing.items()))
        raise SchemaBehind(f"warehouse {wh.url}: raw tables lack declared columns ({detail}): {UPGRADE_HINT}")


# -- used by the migration scripts -----------------------------------------------------------
def sql_path(name: str) -> Path:
    """A DDL file of the package; a missing file is an error, never an empty schema."""
    path = SQL_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"DDL file {path} is missing: the FamilyHub installation is incomplete")
    return path


def statements(sql: str) -> list[str]:
    """Split a DDL file into statements (files outside ``postgresql/`` hold no procedural bodies)."""
    sql = re.sub(r"--[^\n]*", "", sql)
    return [s.strip() for s in sql.split(";") if s.strip()]


def apply_sql(conn: Connection, *names: str) -> None:
    """Run DDL files given relative to ``sql/`` (e.g. ``"ops/files.sql"``), in order."""
    for name in names:
        for statement in statements(sql_path(name).read_text(encoding="utf-8")):
            conn.exec_driver_sql(statement)


def folder_files(layer: str, suffix: str = "*.sql") -> list[str]:
    """The files of one ``sql/`` folder, sorted; an empty or missing folder is an error."""
    found = sorted(p.relative_to(SQL_DIR).as_posix() for p in (SQL_DIR / layer).glob(suffix))
    if not found:
        raise FileNotFoundError(f"no DDL in {SQL_DIR / layer}: the FamilyHub installation is incomplete")
    return found


def install_postgres_objects(conn: Connection, names: list[str] | None = None) -> None:
    """Run the PostgreSQL-only DDL of ``sql/ops/postgresql/`` (functions and triggers, one
    statement per file, sent whole since they hold procedural bodies)."""
    conn.exec_driver_sql("set local check_function_bodies = off")
    for name in folder_files("ops/postgresql"):
        if names is None or Path(name).stem in names:  # '%' is literal here (psycopg reads %% as %)
            conn.exec_driver_sql(sql_path(name).read_text(encoding="utf-8").replace("%", "%%"))


def prepare(conn: Connection) -> None:
    """Before any revision: the schemas, so the version table has its home in ``ops``."""
    for name in LAYERS:
        conn.exec_driver_sql(f"create schema if not exists {name}")


def refresh_replaceable(conn: Connection) -> None:
    """At head: raw tables as declared, reporting views and (PostgreSQL) functions and triggers."""
    reconcile_raw_tables(conn)
    apply_sql(conn, *folder_files("reporting"))
    if conn.dialect.name == "postgresql":
        install_postgres_objects(conn)


def _raw_columns(conn: Connection) -> dict[str, set[str]]:
    """Columns of every raw table, from the catalogue every role may read (information_schema
    on PostgreSQL lists only what the role was granted)."""
    if conn.dialect.name == "postgresql":
        sql = ("select c.relname, a.attname from pg_attribute a join pg_class c on c.oid = a.attrelid "
               "join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'raw' and c.relkind in ('r', 'p') "
               "and a.attnum > 0 and not a.attisdropped")
    else:
        sql = "select table_name, column_name from information_schema.columns where table_schema = 'raw'"
    found: dict[str, set[str]] = {}
    for table, column in conn.execute(sa.text(sql)).all():
        found.setdefault(table, set()).add(column)
    return found


def _missing_raw_columns(conn: Connection) -> dict[str, list[str]]:
    """Per agency, the declared columns its raw table lacks (all of them when there is no table)."""
    have = _raw_columns(conn)
    missing = {}
    for agency in load_agencies().values():
        lacking = [c for c in ("file_id", "row_number", *agency.column_names) if c not in have.get(agency.name, ())]
        if lacking:
            missing[agency.name] = lacking
    return missing


def reconcile_raw_tables(conn: Connection) -> dict[str, list[str]]:
    """Create each agency's raw table, or add the columns its declaration gained (as text,
    null in rows loaded before). Columns no longer declared are kept: the rows hold them.
    Returns the columns added per existing table."""
    agencies = load_agencies()
    added = {}
    for name, lacking in _missing_raw_columns(conn).items():
        if "file_id" in lacking:
            conn.exec_driver_sql(Warehouse.raw_table_ddl(agencies[name]))
            continue
        for column in lacking:
            conn.exec_driver_sql(f'alter table raw.{name} add column "{column}" text')
        added[name] = lacking
    return added
