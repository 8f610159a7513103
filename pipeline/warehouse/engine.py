"""The warehouse: one SQLAlchemy engine, the DDL in ``sql/``, and the backend differences.

Two backends are supported and tested: DuckDB, an embedded file needing no server (the
zero-set-up default, ``familyhub.duckdb`` in the working folder), and PostgreSQL through
psycopg 3 (``postgresql+psycopg://...``). The URL comes from ``--warehouse`` or
``FAMILYHUB_WAREHOUSE``. Everything dialect-specific (bulk loading, temporary tables) is in
the ``_Backend`` classes below; the rest of FamilyHub writes portable SQL.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline.ingest.agencies import Agency
from pipeline.settings import Settings, settings

__all__ = ["DEFAULT_URL", "SQL_DIR", "Warehouse", "resolve_url"]

SQL_DIR = Path(__file__).resolve().parent / "sql"  # links to the repository's sql/; copied into wheels
DEFAULT_URL: str = Settings.model_fields["warehouse"].default
LAYERS = ("ops", "raw", "staging", "linked", "cohort", "reporting")
LOCK_SPACE = 0x4648  # "FH": the first key of FamilyHub's two-key advisory locks
COPY_BATCH_ROWS = 50_000  # rows per CSV buffer sent to COPY: bounds the extra memory of a bulk insert
CHECKPOINT_THRESHOLD = "256MB"  # DuckDB: write-ahead log size that triggers a checkpoint


def resolve_url(url: str | None = None) -> str:
    """The warehouse URL: the argument, else ``FAMILYHUB_WAREHOUSE``, else the embedded default."""
    return url or settings().warehouse


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


class _Backend:
    name = "generic"

    def __init__(self, engine: Engine):
        self.engine = engine

    def insert_frame(self, conn: Connection, table: str, frame: pd.DataFrame) -> None:
        raise NotImplementedError(f"bulk insert is not implemented for {self.name}")

    def stage_frame(self, conn: Connection, name: str, frame: pd.DataFrame, like: str | None = None) -> None:
        """Make ``frame`` queryable as ``name`` for the rest of the transaction (typed as table ``like``)."""
        raise NotImplementedError(f"staging frames is not implemented for {self.name}")

    def drop_staged(self, conn: Connection, name: str) -> None:
        raise NotImplementedError

    def read_bulk(self, conn: Connection, sql: str) -> pd.DataFrame:
        """The rows of a query without parameters; the driver's tuples unless a backend has faster."""
        return _frame(conn.exec_driver_sql(sql))


def _arrow(frame: pd.DataFrame) -> pa.Table | None:
    """The frame as an Arrow table, converted in C; None when a column mixes types Arrow cannot hold."""
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None


class _DuckDB(_Backend):
    """Checkpoints when the write-ahead log reaches ``CHECKPOINT_THRESHOLD`` rather than DuckDB's 16 MB:
    each checkpoint rewrites the primary-key indexes whole, so at 16 MB a bulk load checkpointed
    after nearly every file (a fifth of a 1M-row ingest). Commits stay durable: the log is on disk."""

    name = "duckdb"

    def __init__(self, engine: Engine):
        super().__init__(engine)
        sa.event.listen(engine, "connect", lambda dbapi, _record: dbapi.execute(
            f"set checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'"))

    def insert_frame(self, conn: Connection, table: str, frame: pd.DataFrame) -> None:
        cols = ", ".join(f'"{c}"' for c in frame.columns)
        self.stage_frame(conn, "_fh_insert", frame)
        conn.exec_driver_sql(f"insert into {table} ({cols}) select {cols} from _fh_insert")
        self.drop_staged(conn, "_fh_insert")

    def stage_frame(self, conn: Connection, name: str, frame: pd.DataFrame, like: str | None = None) -> None:
        table = _arrow(frame)  # DuckDB scans Arrow natively; pandas object columns one Python value at a time
        conn.connection.driver_connection.register(name, frame if table is None else table)

    def drop_staged(self, conn: Connection, name: str) -> None:
        conn.connection.driver_connection.unregister(name)


class _Postgres(_Backend):
    """COPY through psycopg 3: an order of magnitude faster than row inserts."""

    name = "postgresql"

    def insert_frame(self, conn: Connection, table: str, frame: pd.DataFrame) -> None:
        """COPY the frame as CSV written by Arrow's C++ writer: strings always quoted, so an empty
        string stays empty and a null (an unquoted empty field) is NULL. Date-times are written to the
        microsecond (a ``date`` column takes the day, a ``timestamp`` column keeps the time: a run's
        start time orders runs of one day). Frames Arrow cannot type go through pandas."""
        cols = ", ".join(f'"{c}"' for c in frame.columns)
        if "." in table and conn.exec_driver_sql("select row_security_active(%(t)s)", {"t": table}).scalar():
            # PostgreSQL refuses COPY FROM into a table whose row security applies to this role
            # (the loader after `db grant`): COPY into a temporary table, insert through the policies.
            self.stage_frame(conn, "_fh_rls_load", frame, like=table)
            conn.exec_driver_sql(f"insert into {table} ({cols}) select {cols} from _fh_rls_load")
            self.drop_staged(conn, "_fh_rls_load")
            return
        data = _arrow(frame)
        cursor = conn.connection.driver_connection.cursor()
        if data is None:
            buffer = io.StringIO()
            frame.to_csv(buffer, index=False, header=False, na_rep="\\N", date_format="%Y-%m-%d %H:%M:%S.%f")
            with cursor.copy(f"copy {table} ({cols}) from stdin with (format csv, null '\\N')") as copy:
                copy.write(buffer.getvalue())
            return
        for i, field in enumerate(data.schema):
            if pa.types.is_timestamp(field.type):
                microseconds = pa.timestamp("us", tz=field.type.tz)
                data = data.set_column(i, field.name, pc.cast(data.column(i), microseconds, safe=False))
        with cursor.copy(f"copy {table} ({cols}) from stdin with (format csv)") as copy:
            for batch in data.to_batches(max_chunksize=COPY_BATCH_ROWS):
                buffer = io.BytesIO()
                pacsv.write_csv(batch, buffer, pacsv.WriteOptions(include_header=False))
                copy.write(buffer.getbuffer())

    def stage_frame(self, conn: Connection, name: str, frame: pd.DataFrame, like: str | None = None) -> None:
        conn.exec_driver_sql(f"drop table if exists {name}")
        if like:
            cols = ", ".join(f'"{c}"' for c in frame.columns)
            conn.exec_driver_sql(f"create temporary table {name} on commit drop as select {cols} from {like} limit 0")
        else:
            types = ", ".join(f'"{c}" {_pg_type(frame[c])}' for c in frame.columns)
            conn.exec_driver_sql(f"create temporary table {name} ({types}) on commit drop")
        self.insert_frame(conn, name, frame)

    def drop_staged(self, conn: Connection, name: str) -> None:
        conn.exec_driver_sql(f"drop table if exists {name}")

    def read_bulk(self, conn: Connection, sql: str) -> pd.DataFrame:
        """COPY the rows out as CSV parsed by Arrow, typed as the query's columns: building a
        Python tuple per row made reading every mention the link step's slowest read. Text
        stays text (a quoted empty string is empty, an unquoted one null), dates come as dates,
        as the driver gives them; a query with another column type is read row by row."""
        cursor = conn.connection.driver_connection.cursor()
        cursor.execute(f"select * from ({sql}) _fh_q limit 0")
        names = [d.name for d in cursor.description]
        types = [_PG_ARROW.get(d.type_code) for d in cursor.description]
        if any(t is None for t in types) or len(set(names)) < len(names):
            return super().read_bulk(conn, sql)
        data = bytearray()
        with cursor.copy(f"copy ({sql}) to stdout with (format csv)") as copy:
            for chunk in copy:
                data += chunk
        if not data:
            return pd.DataFrame({n: pd.Series(dtype=object) for n in names})
        table = pacsv.read_csv(
            pa.BufferReader(data), read_options=pacsv.ReadOptions(column_names=names),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=dict(zip(names, types, strict=True)), null_values=[""], true_values=["t"],
                false_values=["f"], strings_can_be_null=True, quoted_strings_can_be_null=False))
        return table.to_pandas()


#: PostgreSQL type oids read by :meth:`_Postgres.read_bulk`, as Arrow types (text, varchar,
#: char, name; date; boolean; integers; floats).
_PG_ARROW = {25: pa.string(), 1043: pa.string(), 1042: pa.string(), 19: pa.string(), 1082: pa.date32(),
             16: pa.bool_(), 20: pa.int64(), 21: pa.int64(), 23: pa.int64(), 700: pa.float64(),
             701: pa.float64()}


def _pg_type(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s):
        return "boolean"
    if pd.api.types.is_integer_dtype(s):
        return "bigint"
    if pd.api.types.is_float_dtype(s):
        return "double precision"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "date"
    return "text"


class Warehouse:
    """A FamilyHub warehouse: ``Warehouse.connect(url)``; ``familyhub db upgrade`` (or
    :meth:`migrate`) brings its schema to this release's revision."""

    def __init__(self, engine: Engine):
        self.engine = engine
        backend = {"duckdb": _DuckDB, "postgresql": _Postgres}.get(engine.dialect.name)
        if backend is None:
            raise ValueError(f"unsupported warehouse backend '{engine.dialect.name}' (use duckdb or postgresql)")
        self.backend: _Backend = backend(engine)

    @classmethod
    def connect(cls, url: str | None = None) -> Warehouse:
        url = resolve_url(url)
        kwargs: dict[str, Any] = {}
        if url.startswith("postgresql"):
            kwargs["pool_pre_ping"] = True
        return cls(sa.create_engine(url, **kwargs))

    @property
    def url(self) -> str:
        return redact(self.engine.url.render_as_string(hide_password=True))

    @property
    def is_embedded(self) -> bool:
        return self.backend.name == "duckdb"

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: everything inside commits together or not at all."""
        with self.engine.begin() as conn:
            yield conn

    def lock(self, conn: Connection, name: str) -> None:
        """Hold a lock named ``name`` until the transaction ends, so transactions taking the same
        lock run one at a time (PostgreSQL advisory lock; DuckDB has one writer anyway)."""
        if self.dialect == "postgresql":
            conn.execute(sa.text("select pg_advisory_xact_lock(:space, hashtext(:name))"),
                         {"space": LOCK_SPACE, "name": name})

    # -- schema -----------------------------------------------------------------------------
    def migrate(self) -> None:
        """Upgrade the schema to this release's head revision (the owner's job: see
        :mod:`pipeline.warehouse.schema`); commands and tasks only check it."""
        from pipeline.warehouse.schema import upgrade

        upgrade(self)

    def require_current(self) -> None:
        """Raise :class:`pipeline.warehouse.schema.SchemaBehind` unless the schema is at head."""
        from pipeline.warehouse.schema import require_current

        require_current(self)

    @staticmethod
    def raw_table_ddl(agency: Agency) -> str:
        """The agency's raw table: every column as text. (file_id, row_number) is unique by
        construction (a file loads once, in one transaction, numbering its rows), so there is no
        key index to maintain on bulk loads."""
        cols = ",\n  ".join(f'"{c}" text' for c in agency.column_names)
        return (f"create table if not exists raw.{agency.name} (\n  file_id bigint not null,\n"
                f"  row_number integer not null,\n  {cols}\n)")

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the embedded database file at once, after a bulk load
        (a server needs nothing)."""
        if self.is_embedded:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("checkpoint")

    # -- data -------------------------------------------------------------------------------
    def insert(self, conn: Connection, table: str, frame: pd.DataFrame) -> None:
        """Bulk insert a frame whose columns are named as the table's."""
        if len(frame):
            self.backend.insert_frame(conn, table, frame)

    def sync(self, conn: Connection, table: str, frame: pd.DataFrame, key: list[str],
             within: pd.DataFrame | None = None, unique: bool = False) -> int:
        """Make ``table`` hold exactly ``frame`` (``within``: for these keys only, ``frame`` then
        holding all their rows now), deleting and inserting only the keys whose rows differ: a
        monthly delta moves a few families, and rewriting every row of a large table cost
        seconds. The frame is staged typed as the table and compared in the database, rows as
        the table stores them (every null alike): reading the old rows out to compare them cost
        more than the writes. ``unique``: ``key`` is the table's primary key; when the frame's
        keys are unique too, a row is compared with the one row of its key (a join on the key,
        a third of the time of grouping both sides by every column). Returns the keys rewritten."""
        cols = ", ".join(f'"{c}"' for c in frame.columns)
        keys = ", ".join(f'"{k}"' for k in key)

        def match(a: str, b: str) -> str:
            return " and ".join(f'{a}."{k}" = {b}."{k}"' for k in key)

        with ExitStack() as stack:
            stack.enter_context(self.staged(conn, "_fh_now", frame, like=table))
            scope = ""
            if within is not None:
                stack.enter_context(self.staged(conn, "_fh_within", within[key].astype(object), like=table))
                scope = f" where exists (select 1 from _fh_within w where {match('w', table)})"
            if unique and not frame.duplicated(key).any():
                either = ", ".join(f'coalesce(t."{k}", n."{k}") as "{k}"' for k in key)
                differ = " or ".join([f't."{key[0]}" is null', f'n."{key[0]}" is null',
                                      *(f't."{c}" is distinct from n."{c}"' for c in frame.columns if c not in key)])
                changed = self.read(f"select {either} from (select {cols} from {table}{scope}) t full join _fh_now n "
                                    f"on {match('t', 'n')} where {differ}", conn=conn)
            else:
                # keys of the rows held a different number of times by the table and the frame, in
                # one pass; then every row of those keys goes and the frame's rows of them come in
                changed = self.read(f"select distinct {keys} from (select {cols}, 1 as _fh_side from {table}{scope} "
                                    f"union all select {cols}, -1 from _fh_now) r group by {cols} "
                                    f"having sum(_fh_side) <> 0", conn=conn)
            if len(changed):
                with self.staged(conn, "_fh_keys", changed.astype(object), like=table):
                    self.execute(conn, f"delete from {table} where exists (select 1 from _fh_keys c "
                                       f"where {match('c', table)})")
                    self.execute(conn, f"insert into {table} ({cols}) select {cols} from _fh_now n "
                                       f"where exists (select 1 from _fh_keys c where {match('c', 'n')})")
        return len(changed)

    @contextmanager
    def staged(self, conn: Connection, name: str, frame: pd.DataFrame, like: str | None = None) -> Iterator[str]:
        """Expose a frame as a temporary relation ``name`` (``_fh_`` prefix) inside a transaction.

        ``like`` names a table whose column types the relation takes (PostgreSQL needs them).
        """
        self.backend.stage_frame(conn, name, frame, like)
        yield name
        self.backend.drop_staged(conn, name)

    def read(self, sql: str, params: dict[str, Any] | None = None, conn: Connection | None = None) -> pd.DataFrame:
        if conn is not None:
            return _frame(conn.execute(sa.text(sql), params or {}))
        with self.engine.connect() as c:
            return _frame(c.execute(sa.text(sql), params or {}))

    def read_bulk(self, sql: str, conn: Connection | None = None) -> pd.DataFrame:
        """The rows of a large query without parameters, as :meth:`read` gives them, read the
        backend's fastest way (PostgreSQL: COPY parsed by Arrow)."""
        if conn is not None:
            return self.backend.read_bulk(conn, sql)
        with self.engine.connect() as c:
            return self.backend.read_bulk(c, sql)

    def scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        with self.engine.connect() as c:
            return c.execute(sa.text(sql), params or {}).scalar()

    def execute(self, conn: Connection, sql: str, params: dict[str, Any] | Sequence[dict[str, Any]] | None = None):
        """Run one statement; a list of parameter sets runs it for each (none: nothing to do)."""
        if isinstance(params, list) and not params:
            return None
        return conn.execute(sa.text(sql), params or {})

    def table_counts(self) -> dict[str, int]:
        """Row counts of every FamilyHub table the role may read, for status and idempotency checks
        (the loader, say, may only append to the audit log)."""
        readable = (" and has_table_privilege(quote_ident(table_schema) || '.' || quote_ident(table_name), 'select')"
                    if self.dialect == "postgresql" else "")
        with self.engine.connect() as c:
            tables = c.execute(sa.text(
                "select table_schema, table_name from information_schema.tables "
                "where table_schema in ('ops','raw','staging','linked','cohort') and table_type = 'BASE TABLE'"
                f"{readable} order by 1, 2")).all()
            return {f"{s}.{t}": c.execute(sa.text(f'select count(*) from {s}."{t}"')).scalar() for s, t in tables}

    @cached_property
    def dialect(self) -> str:
        return self.backend.name


def _frame(result: sa.CursorResult) -> pd.DataFrame:
    """The rows as a frame, fetched from the driver's cursor as plain tuples: SQLAlchemy's
    ``Row`` objects made reading a large table twice as slow (a textual query has no result
    types for SQLAlchemy to convert: the values are the driver's either way)."""
    columns = list(result.keys())
    rows = result.cursor.fetchall()
    result.close()
    return pd.DataFrame.from_records(rows, columns=columns)
