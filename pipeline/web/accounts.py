"""Web accounts, sign-in and sessions: argon2id passwords, throttling and lockout, server-side
sessions with an idle timeout and a CSRF token each.

Sessions live in ``ops.web_sessions`` rather than in a signed cookie so that signing out,
disabling an account and the idle timeout take effect at once on the server; the cookie holds
a random token whose sha256 only is stored. On PostgreSQL every account is also a database
login in one FamilyHub group role (:data:`DB_ROLES`), the role each of its requests runs as.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from pipeline.governance import access as pg_access
from pipeline.warehouse.engine import Warehouse
from pipeline.web.settings import WebSettings

__all__ = ["DB_ROLES", "ROLES", "Actor", "SignInRefused", "add_user", "authenticate", "end_session",
           "find_user", "open_session", "reset_password", "session_actor", "set_disabled"]

ROLES = ("keyworker", "coordinator", "manager", "datateam")
#: The FamilyHub group role (pipeline.governance.access) each web role's login is a member of.
DB_ROLES = {"keyworker": "keyworker", "coordinator": "coordinator", "manager": "analyst", "datateam": "admin"}
MIN_PASSWORD = 12
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("familyhub: equalises the time of unknown names")


class SignInRefused(ValueError):
    """Sign-in refused; ``status`` is 401 (wrong), 423 (locked) or 429 (throttled)."""

    def __init__(self, message: str, status: int = 401):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Actor:
    """Who is signed in: name, role, key-worker name, and the session's CSRF token."""

    name: str
    role: str
    key_worker: str | None = None
    csrf: str = ""
    session: str | None = None

    @property
    def db_login(self) -> str:
        """The PostgreSQL login this actor's requests run as."""
        return self.name


def _now() -> datetime:
    return datetime.now()


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    return password


def find_user(wh: Warehouse, name: str) -> dict | None:
    rows = wh.read("select * from ops.web_users where name = :n", {"n": name})
    return None if rows.empty else rows.iloc[0].to_dict()


def add_user(wh: Warehouse, name: str, role: str, password: str | None, key_worker: str | None = None,
             app_login: str | None = None) -> None:
    """Create an account (``password`` None: single sign-on only); on PostgreSQL also its login,
    which ``app_login`` (the web server's own login; default: the one running this) may act as.

    The name must be a PostgreSQL login name (lower-case letters, digits, ``_``) on both
    backends, so a warehouse can move from DuckDB to PostgreSQL with its accounts.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role '{role}' (one of {', '.join(ROLES)})")
    pg_access._check_login(name)
    if role == "keyworker":
        key_worker = (key_worker or name).strip()
    elif key_worker:
        raise ValueError("--key-worker is only for --role keyworker")
    if find_user(wh, name):
        raise ValueError(f"user '{name}' exists (use reset-password or disable)")
    digest = _hasher.hash(_check_password(password)) if password is not None else None
    if not wh.is_embedded:
        pg_access.add_user(wh, name, DB_ROLES[role], key_worker)
        _let_app_act_as(wh, name, app_login)
    now = _now()
    with wh.begin() as conn:
        wh.execute(conn, "insert into ops.web_users (name, role, key_worker, password_hash, disabled, "
                         "created_at, updated_at) values (:n, :r, :k, :h, false, :t, :t)",
                   {"n": name, "r": role, "k": key_worker, "h": digest, "t": now})


def _let_app_act_as(wh: Warehouse, login: str, app_login: str | None) -> None:
    """Let the web server's login switch to ``login`` (SET ROLE), unless it is a superuser."""
    with wh.begin() as conn:
        app, superuser = conn.exec_driver_sql(
            "select rolname, rolsuper from pg_roles where rolname = coalesce(%(a)s, current_user)",
            {"a": app_login}).one()
        if not superuser and app != login:
            conn.exec_driver_sql(f'grant "{login}" to "{app}"')


def set_disabled(wh: Warehouse, name: str, disabled: bool = True) -> None:
    """Disable (or enable) an account; disabling ends its sessions at once."""
    if not find_user(wh, name):
        raise ValueError(f"no user '{name}'")
    with wh.begin() as conn:
        wh.execute(conn, "update ops.web_users set disabled = :d, updated_at = :t where name = :n",
                   {"d": disabled, "t": _now(), "n": name})
        if disabled:
            wh.execute(conn, "update ops.web_sessions set ended_at = :t where user_name = :n and ended_at is null",
                       {"t": _now(), "n": name})


def reset_password(wh: Warehouse, name: str, password: str) -> None:
    """Set a new password, end the account's sessions and lift any lockout."""
    if not find_user(wh, name):
        raise ValueError(f"no user '{name}'")
    digest = _hasher.hash(_check_password(password))
    now = _now()
    with wh.begin() as conn:
        wh.execute(conn, "update ops.web_users set password_hash = :h, updated_at = :t where name = :n",
                   {"h": digest, "t": now, "n": name})
        wh.execute(conn, "update ops.web_sessions set ended_at = :t where user_name = :n and ended_at is null",
                   {"t": now, "n": name})
        wh.execute(conn, "insert into ops.web_login_attempts (user_name, client, attempted_at, ok) "
                         "values (:n, 'reset-password', :t, true)", {"n": name, "t": now})


def _failures(wh: Warehouse, name: str, client: str | None, settings: WebSettings) -> tuple[int, int]:
    """(failures of this account since its last success within the lockout window,
    failures from this client address within the same window)."""
    since = _now() - timedelta(minutes=settings.lockout_minutes)
    row = wh.read(
        "select (select count(*) from ops.web_login_attempts a where a.user_name = :n and not a.ok "
        "        and a.attempted_at >= :s and a.attempted_at > coalesce((select max(attempted_at) from "
        "        ops.web_login_attempts where user_name = :n and ok), :s)) as account, "
        "       (select count(*) from ops.web_login_attempts where client = :c and not ok "
        "        and attempted_at >= :s) as client", {"n": name, "c": client, "s": since})
    return int(row.iloc[0]["account"]), int(row.iloc[0]["client"])


def _log_attempt(wh: Warehouse, name: str, client: str | None, ok: bool) -> None:
    with wh.begin() as conn:
        wh.execute(conn, "insert into ops.web_login_attempts (user_name, client, attempted_at, ok) "
                         "values (:n, :c, :t, :ok)", {"n": name, "c": client, "t": _now(), "ok": ok})


def authenticate(wh: Warehouse, name: str, password: str, client: str | None, settings: WebSettings) -> dict:
    """The account if the password is right; else :class:`SignInRefused` (and the failure counted).

    A locked account is refused even with the right password until the lockout passes; an
    address with too many recent failures is throttled whatever name it tries.
    """
    name = name.strip().lower()
    account_failures, client_failures = _failures(wh, name, client, settings)
    if client_failures >= settings.client_failures:
        raise SignInRefused("too many failed sign-ins from this address: wait a few minutes", 429)
    if account_failures >= settings.max_failures:
        raise SignInRefused(f"this account is locked after {settings.max_failures} failed sign-ins: try again "
                            f"in {settings.lockout_minutes} minutes or ask for a password reset", 423)
    user = find_user(wh, name)
    try:
        _hasher.verify(user["password_hash"] if user and user["password_hash"] else _DUMMY_HASH, password)
        ok = bool(user) and bool(user["password_hash"]) and not user["disabled"]
    except (VerificationError, InvalidHashError):
        ok = False
    _log_attempt(wh, name, client, ok)
    if not ok:
        raise SignInRefused("wrong name or password, or the account is disabled")
    return user


def open_session(wh: Warehouse, name: str) -> str:
    """Start a session for ``name``; returns the token for the cookie."""
    token = secrets.token_urlsafe(32)
    now = _now()
    with wh.begin() as conn:
        wh.execute(conn, "insert into ops.web_sessions (token_hash, user_name, csrf_token, created_at, last_seen) "
                         "values (:h, :n, :c, :t, :t)",
                   {"h": _digest(token), "n": name, "c": secrets.token_urlsafe(32), "t": now})
    return token


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_actor(wh: Warehouse, token: str | None, settings: WebSettings) -> Actor | None:
    """The actor of a live session (and its idle clock restarted), or None when it has ended,
    idled out or its account is disabled."""
    if not token:
        return None
    now = _now()
    rows = wh.read("select s.token_hash, s.csrf_token, s.last_seen, u.name, u.role, u.key_worker from "
                   "ops.web_sessions s join ops.web_users u on u.name = s.user_name "
                   "where s.token_hash = :h and s.ended_at is null and not u.disabled", {"h": _digest(token)})
    if rows.empty:
        return None
    row = rows.iloc[0]
    with wh.begin() as conn:
        if row["last_seen"] < now - timedelta(minutes=settings.idle_minutes):
            wh.execute(conn, "update ops.web_sessions set ended_at = :t where token_hash = :h",
                       {"t": now, "h": row["token_hash"]})
            return None
        wh.execute(conn, "update ops.web_sessions set last_seen = :t where token_hash = :h",
                   {"t": now, "h": row["token_hash"]})
    return Actor(row["name"], row["role"], row["key_worker"], row["csrf_token"], row["token_hash"])


def end_session(wh: Warehouse, token: str | None) -> None:
    """Sign out: the session ends on the server, whatever the browser keeps."""
    if token:
        with wh.begin() as conn:
            wh.execute(conn, "update ops.web_sessions set ended_at = :t where token_hash = :h and ended_at is null",
                       {"t": _now(), "h": _digest(token)})
