"""The audit log: who read identifiable data through FamilyHub, when, which family, and why.

Every identifiable read (``familyhub family``, ``review list``, ``explain``), export
(:func:`pipeline.governance.exports.export_identifiable`), erasure, retention run, grant and
change to a recorded need (:mod:`pipeline.programme.needs`) appends to
``ops.audit_log``: one row, or one per family or person a read or export shows, so
``familyhub audit --family F`` finds every time F was seen. The read is logged *before* any
data is shown, so a read that cannot be audited does not happen. Who = ``--as NAME``, else ``FAMILYHUB_USER``,
else the OS user, plus the warehouse login that wrote the row. The log is append-only: on
PostgreSQL a trigger refuses update, delete and truncate (and no role is granted them); on
DuckDB, a single-user file, this module is the only writer and it only ever inserts.
"""

from __future__ import annotations

import getpass
from contextlib import nullcontext
from datetime import datetime

import pandas as pd
from sqlalchemy.engine import Connection

from pipeline.settings import settings
from pipeline.warehouse.engine import Warehouse

__all__ = ["ACTIONS", "AuditError", "actor", "ensure_append_only", "read_log", "record", "require_reason"]

ACTIONS = ("view_family", "view_records", "export", "erase", "retention", "grant", "denied",
           "add_need", "change_need", "close_need")
USER_ENV = "FAMILYHUB_USER"
_GUARDS = ("audit_guard", "audit_log_append_only", "audit_log_no_truncate")
_guarded: set[str] = set()


class AuditError(ValueError):
    """An identifiable read or change without the facts the audit log needs."""


def actor(name: str | None = None) -> str:
    """Who is acting: the name given, else ``FAMILYHUB_USER``, else the OS user."""
    who = (name or settings().user or getpass.getuser() or "").strip()
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
        from pipeline.governance.access import install_postgres_objects

        install_postgres_objects(conn, list(_GUARDS))
    _guarded.add(wh.url)


def record(wh: Warehouse, action: str, *, who: str, reason: str | None = None, family_id: str | None = None,
           person_id: str | None = None, detail: str | None = None, subjects: pd.DataFrame | None = None,
           conn: Connection | None = None) -> int:
    """Append audit rows, inside ``conn``'s transaction if given, else committed at once.

    One row, or with ``subjects`` (columns ``family_id`` and/or ``person_id``) one row per
    distinct subject, all with the same time, actor, reason and detail. Returns the rows written.
    """
    if action not in ACTIONS:
        raise AuditError(f"unknown audit action '{action}'")
    rows = pd.DataFrame({"family_id": [family_id], "person_id": [person_id]}, dtype=object)
    if subjects is not None and len(subjects):
        rows = subjects.reindex(columns=rows.columns).astype(object)
        rows = rows.where(rows.notna(), None).drop_duplicates()
    params = {"t": datetime.now(), "a": who, "x": action, "r": reason, "d": detail}
    sql = ("insert into ops.audit_log (logged_at, actor, db_user, action, family_id, person_id, reason, detail) "
           "select :t, :a, current_user, :x, s.family_id, s.person_id, :r, :d from _fh_audit s")
    with nullcontext(conn) if conn is not None else wh.begin() as tx:
        ensure_append_only(wh, tx)
        with wh.staged(tx, "_fh_audit", rows):
            wh.execute(tx, sql, params)
    return len(rows)


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
