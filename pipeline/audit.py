"""The audit log: who read identifiable data through FamilyHub, when, which family, and why.

Every identifiable read (``familyhub family``), export, erasure, retention run and grant
appends one row to ``ops.audit_log``; the read is logged *before* any data is shown, so a
read that cannot be audited does not happen. Who = ``--as NAME``, else ``FAMILYHUB_USER``,
else the OS user, plus the warehouse login that wrote the row. The log is append-only: on
PostgreSQL a trigger refuses update, delete and truncate (and no role is granted them); on
DuckDB, a single-user file, this module is the only writer and it only ever inserts.
"""

from __future__ import annotations

import getpass
import os
from datetime import datetime

import pandas as pd
from sqlalchemy.engine import Connection

from pipeline.warehouse import Warehouse

__all__ = ["ACTIONS", "AuditError", "actor", "ensure_append_only", "read_log", "record", "require_reason"]

ACTIONS = ("view_family", "export", "erase", "retention", "grant")
USER_ENV = "FAMILYHUB_USER"
_GUARDS = ("audit_guard", "audit_log_append_only", "audit_log_no_truncate")
_guarded: set[str] = set()


class AuditError(ValueError):
    """An identifiable read or change without the facts the audit log needs."""


def actor(name: str | None = None) -> str:
    """Who is acting: the name given, else ``FAMILYHUB_USER``, else the OS user."""
    who = (name or os.environ.get(USER_ENV) or getpass.getuser() or "").strip()
    if not who:
        raise AuditError(f"say who you are with --as NAME or {USER_ENV}")
    return who


def require_reason(reason: str | None) -> str:
    """Identifiable reads need a purpose: a case reference or a few words."""
    reason = (reason or "").strip()
    if len(reason) < 3:
        raise AuditError("say why you need identifiable data: --reason 'case 1234 review'")
    return reason


def ensure_append_only(wh: Warehouse, conn: Connection) -> None:
    """On PostgreSQL, make sure the append-only triggers exist before the first row is written."""
    if wh.is_embedded or wh.url in _guarded:
        return
    present = conn.exec_driver_sql(
        "select count(*) from pg_trigger where tgrelid = 'ops.audit_log'::regclass "
        "and tgname in ('audit_log_append_only', 'audit_log_no_truncate')").scalar()
    if present < 2:
        from pipeline.access import install_postgres_objects

        install_postgres_objects(conn, list(_GUARDS))
    _guarded.add(wh.url)


def record(wh: Warehouse, action: str, *, who: str, reason: str | None = None, family_id: str | None = None,
           person_id: str | None = None, detail: str | None = None, conn: Connection | None = None) -> None:
    """Append one audit row; inside ``conn``'s transaction if given, else committed at once."""
    if action not in ACTIONS:
        raise AuditError(f"unknown audit action '{action}'")
    params = {"t": datetime.now(), "a": who, "x": action, "f": family_id, "p": person_id, "r": reason, "d": detail}
    sql = ("insert into ops.audit_log (logged_at, actor, db_user, action, family_id, person_id, reason, detail) "
           "values (:t, :a, current_user, :x, :f, :p, :r, :d)")
    if conn is not None:
        ensure_append_only(wh, conn)
        wh.execute(conn, sql, params)
        return
    with wh.begin() as own:
        ensure_append_only(wh, own)
        wh.execute(own, sql, params)


def read_log(wh: Warehouse, family_id: str | None = None, person_id: str | None = None, who: str | None = None,
             action: str | None = None, since: datetime | None = None, limit: int = 1000) -> pd.DataFrame:
    """Audit rows, newest first, filtered by any of family, person, actor, action and time."""
    where, params = [], {"n": limit}
    for column, value in (("family_id", family_id), ("person_id", person_id), ("actor", who), ("action", action)):
        if value:
            where.append(f"{column} = :{column}")
            params[column] = value
    if since:
        where.append("logged_at >= :since")
        params["since"] = since
    clause = f"where {' and '.join(where)} " if where else ""
    return wh.read(f"select * from ops.audit_log {clause}order by logged_at desc limit :n", params)
