"""The one place the web front end decides who may do what, and the database role it does it as.

Every page asks :func:`allowed` (Datasette's ``permission_allowed(actor, action, resource)``);
no page tests a role itself. On PostgreSQL each request then runs as the signed-in user's
own login (:func:`acting`: ``SET ROLE`` on every connection the request takes), so row-level
security (:mod:`pipeline.governance.access`) backs the rule: a key worker's queries return
only the families attached to them even if a page forgot to ask. On the embedded DuckDB file,
which has no roles, the rule is :func:`allowed` alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from psycopg import sql
from sqlalchemy import event

from pipeline.warehouse.engine import Warehouse
from pipeline.web.accounts import Actor

__all__ = ["ACTIONS", "acting", "allowed", "install_role_switch", "pages_for"]

#: Action -> roles that may take it. Family-level actions also need the family to be visible.
ACTIONS: dict[str, frozenset[str]] = {
    "my_families": frozenset({"keyworker"}),
    "family": frozenset({"keyworker", "coordinator", "datateam"}),
    "alerts_seen": frozenset({"keyworker"}),
    "cohort": frozenset({"coordinator", "manager"}),
    "cohort_identifiable": frozenset({"coordinator"}),
    "attach": frozenset({"coordinator"}),
    "claims": frozenset({"coordinator", "manager"}),
    "claims_identifiable": frozenset({"coordinator"}),
    "savings": frozenset({"coordinator", "manager"}),  # aggregates only, no family named
    "feeds": frozenset({"datateam"}),
    "review": frozenset({"datateam"}),
}
#: Navigation: (action, path, label), shown to those allowed the action.
PAGES = (("my_families", "/", "My families"), ("cohort", "/cohort", "Cohort"), ("claims", "/claims", "Claims"),
         ("savings", "/savings", "Savings"), ("feeds", "/feeds", "Feeds"), ("review", "/review", "Review"))
#: Whose family needs a stated reason before even its summary is shown.
REASON_FIRST = frozenset({"datateam"})

_db_login: ContextVar[str | None] = ContextVar("familyhub_db_login", default=None)

_ATTACHED = """
select key_worker, closed_on from cohort.attachments where family_id = :f
order by attached_on desc, recorded_at desc limit 1
"""


def allowed(wh: Warehouse, actor: Actor | None, action: str, family_id: str | None = None) -> bool:
    """May ``actor`` take ``action`` (on ``family_id``)? A key worker's family must be attached
    to them now; everyone else allowed the action sees every family."""
    if actor is None or actor.role not in ACTIONS.get(action, frozenset()):
        return False
    if family_id is None or actor.role != "keyworker":
        return True
    row = wh.read(_ATTACHED, {"f": family_id})
    return bool(len(row)) and row.iloc[0]["key_worker"] == actor.key_worker and row.iloc[0]["closed_on"] is None


def pages_for(actor: Actor) -> list[tuple[str, str]]:
    """(path, label) of the pages ``actor`` may open, for the navigation bar."""
    return [(path, label) for action, path, label in PAGES if actor.role in ACTIONS[action]]


def install_role_switch(wh: Warehouse) -> None:
    """On PostgreSQL, make every connection taken from the pool run as the login set by
    :func:`acting` (or as the server's own login outside a request), without parallel workers."""
    if wh.is_embedded:
        return

    @event.listens_for(wh.engine, "connect")
    def _interactive(dbapi_conn, _record) -> None:
        """Page queries read a few rows by index: starting parallel workers costs more than it saves."""
        dbapi_conn.execute("set max_parallel_workers_per_gather = 0")
        dbapi_conn.commit()

    @event.listens_for(wh.engine, "checkout")
    def _switch(dbapi_conn, _record, _proxy) -> None:
        login = _db_login.get()
        dbapi_conn.rollback()  # idle, so the role set below is a session setting, kept on rollback
        was = dbapi_conn.autocommit
        dbapi_conn.autocommit = True
        try:
            statement = sql.SQL("set role {}").format(sql.Identifier(login)) if login else sql.SQL("reset role")
            dbapi_conn.execute(statement)
        finally:
            dbapi_conn.autocommit = was


@contextmanager
def acting(actor: Actor) -> Iterator[None]:
    """Run the block's warehouse queries as ``actor``'s database login."""
    token = _db_login.set(actor.db_login)
    try:
        yield
    finally:
        _db_login.reset(token)
