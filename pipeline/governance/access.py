"""Least-privilege access: PostgreSQL roles, row-level security, and pseudonyms for analysts.

``familyhub db grant`` makes six group roles (NOLOGIN) and grants them on the warehouse:

- ``familyhub_owner`` owns every FamilyHub schema, table and view (not the audit log); its
  login runs ``familyhub db upgrade``;
- ``familyhub_loader`` writes raw and derived layers (the pipeline's account: Airflow and
  ``familyhub run``); it owns nothing, so it cannot alter a table, and may only insert into
  the audit log;
- ``familyhub_analyst`` reads only the ``reporting.pseudonymised_*`` views: opaque refs, age
  bands, postcode districts, no names, dates of birth, addresses or record keys;
- ``familyhub_keyworker`` reads the identifiable reporting views, but row-level security shows
  only the families currently attached to the key worker logged in (``ops.key_worker_logins``);
- ``familyhub_auditor`` reads the audit log (and appends its own exports of it);
- ``familyhub_coordinator`` reads the whole cohort and the identifiable views, and attaches,
  reassigns and closes families and records claims (``cohort`` tables);
- ``familyhub_admin`` reads and writes everything, reads the audit log, erases.

Every role may read ``ops.alembic_version``: each command checks the schema revision first.

Row-level security is forced on the linked, staging and cohort tables, so it holds through the
reporting views too (they run as their owner, a plain role, and the policies look at the role
actually querying). Login users are made members of one group role (``db grant --user``);
membership is all a login needs (no BYPASSRLS, which is a per-login superuser-granted attribute
that would also bypass row security elsewhere on the server): PostgreSQL refuses ``COPY FROM``
into a table whose row security applies to the role, so the engine bulk-loads such a table
through a temporary table and ``insert ... select``, which the policies allow the loader.
The web server acts as each signed-in user's login (``SET ROLE``), so the same policies hold there.

The embedded DuckDB warehouse is a single-user file: roles do not apply there; whoever can
read the file can read everything. Pseudonymised views exist on both backends.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime

import pandas as pd
from sqlalchemy.engine import Connection

from pipeline.settings import settings
from pipeline.warehouse.engine import LAYERS, Warehouse
from pipeline.warehouse.schema import install_postgres_objects

__all__ = [
    "GROUP_ROLES",
    "PostgresOnly",
    "add_user",
    "grant_roles",
    "install_postgres_objects",
    "pseudonym_key",
    "refresh_pseudonyms",
    "remove_user",
    "role_name",
]

GROUP_ROLES = ("owner", "loader", "analyst", "keyworker", "coordinator", "auditor", "admin")
KEY_ENV = "FAMILYHUB_PSEUDONYM_KEY"
MIN_KEY_LENGTH = 16
_LOGIN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

#: Row-level security: table -> (column, set of visible values) for key workers.
ROW_FILTERS: dict[str, tuple[str, str]] = {
    "linked.families": ("family_id", "ops.fh_visible_families()"),
    "linked.person_family": ("family_id", "ops.fh_visible_families()"),
    "linked.household_edges": ("family_id", "ops.fh_visible_families()"),
    "cohort.results": ("family_id", "ops.fh_visible_families()"),
    "cohort.evidence": ("family_id", "ops.fh_visible_families()"),
    "cohort.recorded_needs": ("family_id", "ops.fh_visible_families()"),
    "cohort.attachments": ("family_id", "ops.fh_visible_families()"),
    "cohort.alerts": ("family_id", "ops.fh_visible_families()"),
    "linked.persons": ("person_id", "ops.fh_visible_persons()"),
    "linked.mention_person": ("person_id", "ops.fh_visible_persons()"),
    "linked.record_links": ("mention_id_l", "ops.fh_visible_mentions()"),
    "staging.person_mentions": ("mention_id", "ops.fh_visible_mentions()"),
    "staging.events": ("mention_id", "ops.fh_visible_mentions()"),
}
#: Identifiable views a key worker may read (rows limited by the policies above).
KEY_WORKER_VIEWS = ("family_view", "family_member", "family_evidence", "family_timeline",
                    "record_link", "cohort", "recorded_need", "alert")


class PostgresOnly(RuntimeError):
    """Roles, grants and row-level security need PostgreSQL (DuckDB is a single-user file)."""


def role_name(role: str) -> str:
    if role not in GROUP_ROLES:
        raise ValueError(f"unknown role '{role}' (one of {', '.join(GROUP_ROLES)})")
    return f"familyhub_{role}"


def _require_postgres(wh: Warehouse) -> None:
    if wh.is_embedded:
        raise PostgresOnly("roles do not apply to the embedded DuckDB warehouse: it is a single-user "
                           "file, and whoever can read the file can read everything")


# -- roles and grants --------------------------------------------------------------------------
def _ensure_role(conn: Connection, name: str, login: bool) -> bool:
    exists = conn.exec_driver_sql("select 1 from pg_roles where rolname = %(n)s", {"n": name}).first()
    if exists:
        return False
    conn.exec_driver_sql(f'create role "{name}" {"login" if login else "nologin"}')
    return True


def _relations(conn: Connection) -> list[tuple[str, str, str]]:
    """(schema, name, kind) of every FamilyHub table, view and sequence."""
    rows = conn.exec_driver_sql(
        "select n.nspname, c.relname, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = any(%(s)s) and c.relkind in ('r', 'v', 'S', 'm', 'p') order by 1, 2",
        {"s": list(LAYERS)}).all()
    return [(s, n, k) for s, n, k in rows]


def grant_roles(wh: Warehouse) -> dict[str, list[str]]:
    """Create the group roles and grant them on this warehouse; idempotent.

    Run by a superuser (or a role that may create roles and owns the warehouse), after
    ``familyhub`` has created the schema and after every upgrade that adds tables.
    Returns, per role, what it was granted (for the command's report).
    """
    _require_postgres(wh)
    owner, loader, analyst, keyworker, coordinator, auditor, admin = (role_name(r) for r in GROUP_ROLES)
    kinds = {"r": "table", "p": "table", "v": "view", "m": "materialized view", "S": "sequence"}
    with wh.begin() as conn:
        for role in GROUP_ROLES:
            _ensure_role(conn, role_name(role), login=False)
        install_postgres_objects(conn)
        relations = _relations(conn)
        database = conn.exec_driver_sql("select current_database()").scalar()
        conn.exec_driver_sql(f'grant create on database "{database}" to {owner}')  # upgrades add schemas
        for schema in LAYERS:
            conn.exec_driver_sql(f"alter schema {schema} owner to {owner}")
            conn.exec_driver_sql(f"revoke all on all tables in schema {schema} from public")
        for schema, name, kind in relations:
            if (schema, name) != ("ops", "audit_log"):  # its owner could drop the append-only trigger
                conn.exec_driver_sql(f'alter {kinds[kind]} {schema}."{name}" owner to {owner}')
        for table, (column, visible) in ROW_FILTERS.items():
            conn.exec_driver_sql(f"alter table {table} enable row level security")
            conn.exec_driver_sql(f"alter table {table} force row level security")
            conn.exec_driver_sql(f"drop policy if exists familyhub_rows on {table}")
            conn.exec_driver_sql(f"create policy familyhub_rows on {table} using "
                                 f"((select ops.fh_full_access()) or {column} in (select * from {visible}))")
        everyone = ", ".join(role_name(r) for r in GROUP_ROLES)
        conn.exec_driver_sql("revoke execute on all functions in schema ops from public")
        conn.exec_driver_sql(f"grant execute on all functions in schema ops to {everyone}")
        # the policies' visibility functions are inlined, so every role reading a protected table
        # looks their names up in ops (usage lets it name objects there, not read them)
        conn.exec_driver_sql(f"grant usage on schema ops to {everyone}")
        conn.exec_driver_sql(f"grant select on ops.alembic_version to {everyone}")  # the revision check

        data = ("raw", "staging", "linked", "cohort")
        granted: dict[str, list[str]] = {}
        statements = {
            loader: [
                f"grant usage on schema {', '.join(LAYERS)} to {loader}",
                *(f"grant select, insert, update, delete on all tables in schema {s} to {loader}" for s in data),
                f"grant select, insert, update on ops.files, ops.held_rows to {loader}",
                f"grant select, insert on ops.removed_rows, ops.notices to {loader}",
                f"grant select on ops.tombstones to {loader}",
                f"grant select, insert, update, delete on ops.pseudonyms, ops.pseudonym_key to {loader}",
                f"grant insert on ops.audit_log to {loader}",
                f"grant usage, select, update on all sequences in schema ops to {loader}",
                f"grant select on all tables in schema reporting to {loader}",
            ],
            admin: [
                f"grant usage on schema {', '.join(LAYERS)} to {admin}",
                *(f"grant select, insert, update, delete on all tables in schema {s} to {admin}"
                  for s in (*data, "ops")),
                f"revoke update, delete, truncate on ops.audit_log from {admin}",
                f"grant usage, select, update on all sequences in schema ops to {admin}",
                f"grant select on all tables in schema reporting to {admin}",
            ],
            analyst: [
                f"grant usage on schema reporting to {analyst}",
                *(f"grant select on reporting.{v} to {analyst}" for v in _pseudonymised_views(conn)),
            ],
            auditor: [
                f"grant select, insert on ops.audit_log to {auditor}",
            ],
            keyworker: [
                f"grant usage on schema reporting, cohort, ops, linked to {keyworker}",
                f"grant select on linked.families to {keyworker}",  # row security: their own only
                *(f"grant select on reporting.{v} to {keyworker}" for v in KEY_WORKER_VIEWS),
                f"grant select on cohort.active, cohort.attachments, cohort.family_attachments to {keyworker}",
                f"grant insert on ops.audit_log to {keyworker}",
                f"grant select, insert on ops.web_alert_reads to {keyworker}",
            ],
            coordinator: [
                f"grant usage on schema {', '.join(LAYERS)} to {coordinator}",
                *(f"grant select on all tables in schema {s} to {coordinator}"
                  for s in ("staging", "linked", "reporting")),
                f"grant select, insert, update, delete on all tables in schema cohort to {coordinator}",
                f"grant select on ops.files, ops.tombstones, ops.web_alert_reads to {coordinator}",
                f"grant insert on ops.audit_log to {coordinator}",
            ],
        }
        for role, sql in statements.items():
            for statement in sql:
                conn.exec_driver_sql(statement)
            granted[role] = sql
    return granted


def _pseudonymised_views(conn: Connection) -> list[str]:
    rows = conn.exec_driver_sql("select viewname from pg_views where schemaname = 'reporting' "
                                "and viewname like 'pseudonymised\\_%%' order by 1").all()
    return [r[0] for r in rows]


def _check_login(login: str) -> str:
    if not _LOGIN.match(login):
        raise ValueError(f"login '{login}' must be lower-case letters, digits and _ (a PostgreSQL name)")
    if login.startswith("familyhub_"):
        raise ValueError("the familyhub_ prefix is kept for the group roles")
    return login


def add_user(wh: Warehouse, login: str, role: str, key_worker: str | None = None) -> bool:
    """Make ``login`` (created if missing, without a password) a member of one group role.

    A key worker login is mapped to the name used in ``cohort.attachments.key_worker``.
    Set a password out of band (``\\password NAME`` in psql hashes it on the client), so no
    password ever passes through FamilyHub. Returns whether the login was created.
    """
    _require_postgres(wh)
    _check_login(login)
    group = role_name(role)
    if role == "keyworker" and not key_worker:
        raise ValueError("a key worker login needs --key-worker NAME (as in cohort.attachments)")
    with wh.begin() as conn:
        created = _ensure_role(conn, login, login=True)
        conn.exec_driver_sql(f'grant {group} to "{login}"')
        # Membership is enough: no login bypasses row security (an earlier release gave the
        # loader's and admins' logins BYPASSRLS; it is taken back here).
        if conn.exec_driver_sql("select rolbypassrls from pg_roles where rolname = %(n)s", {"n": login}).scalar():
            conn.exec_driver_sql(f'alter role "{login}" nobypassrls')
        if role == "keyworker":
            wh.execute(conn, "delete from ops.key_worker_logins where login = :l", {"l": login})
            wh.execute(conn, "insert into ops.key_worker_logins (login, key_worker, granted_at) "
                             "values (:l, :k, :t)", {"l": login, "k": key_worker, "t": datetime.now()})
    return created


def remove_user(wh: Warehouse, login: str) -> None:
    """Take every FamilyHub group role (and any key worker mapping) away from ``login``."""
    _require_postgres(wh)
    _check_login(login)
    with wh.begin() as conn:
        for role in GROUP_ROLES:
            conn.exec_driver_sql(f'revoke {role_name(role)} from "{login}"')
        wh.execute(conn, "delete from ops.key_worker_logins where login = :l", {"l": login})


# -- pseudonyms --------------------------------------------------------------------------------
def pseudonym_key() -> bytes:
    """The HMAC key, from ``FAMILYHUB_PSEUDONYM_KEY`` only (never stored, never logged)."""
    secret = settings().pseudonym_key
    key = secret.get_secret_value() if secret else ""
    if len(key) < MIN_KEY_LENGTH:
        raise ValueError(f"set {KEY_ENV} to a random secret of at least {MIN_KEY_LENGTH} characters "
                         "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
    return key.encode("utf-8")


def _pseudo(key: bytes, kind: str, ids: pd.Series) -> list[str]:
    return [hmac.new(key, f"{kind}:{i}".encode(), hashlib.sha256).hexdigest()[:24] for i in ids]


_CURRENT = {"person": ("linked.persons", "person_id"), "family": ("linked.families", "family_id")}


def refresh_pseudonyms(wh: Warehouse, key: bytes | None = None) -> dict[str, int]:
    """Give every current person and family its opaque ref; drop refs of ids that are gone.

    Refs are HMAC-SHA256(key, kind:id), so they are stable for as long as the key is; a new
    key (told by its fingerprint) re-makes them all. Run after each link run.
    """
    key = key or pseudonym_key()
    fingerprint = hmac.new(key, b"familyhub:pseudonym-key-fingerprint", hashlib.sha256).hexdigest()
    counts = {"added": 0, "removed": 0}
    with wh.begin() as conn:
        known = wh.read("select fingerprint from ops.pseudonym_key", conn=conn)["fingerprint"].tolist()
        if known != [fingerprint]:
            counts["removed"] += len(wh.execute(conn, "delete from ops.pseudonyms returning 1").fetchall())
            wh.execute(conn, "delete from ops.pseudonym_key")
            wh.execute(conn, "insert into ops.pseudonym_key (fingerprint, set_at) values (:f, :t)",
                       {"f": fingerprint, "t": datetime.now()})
        for kind, (table, column) in _CURRENT.items():
            gone = wh.execute(conn, f"delete from ops.pseudonyms where kind = :k and not exists "
                                    f"(select 1 from {table} t where t.{column} = ops.pseudonyms.real_id) "
                                    "returning 1", {"k": kind})
            counts["removed"] += len(gone.fetchall())
            new = wh.read(f"select {column} as real_id from {table} t where not exists (select 1 from "
                          f"ops.pseudonyms p where p.kind = :k and p.real_id = t.{column})", {"k": kind}, conn)
            if len(new):
                wh.insert(conn, "ops.pseudonyms",
                          new.assign(kind=kind, pseudo_id=_pseudo(key, kind, new["real_id"]))[
                              ["kind", "real_id", "pseudo_id"]])
            counts["added"] += len(new)
    return counts
