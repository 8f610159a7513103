"""Key workers: attach a family, reassign it, close it; every change is kept.

``cohort.attachments`` is append-only. Each row is the state of one attachment episode
(``case_id``, ``attached_on``) as recorded at ``recorded_at``: attaching adds an episode,
reassigning and closing add a later row of the same episode. The latest row of the latest
episode is the family's current state, which is what ``reporting.family_view`` shows. Payment
by results starts at a case's first attachment (:func:`episodes`).

Attachments belong to a case (:mod:`pipeline.programme.cases`), not to a family id: a family
id can retire when families merge or split, so every read goes through
``cohort.family_attachments``, which joins each attachment to the families its case covers now.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

import pandas as pd

from pipeline.programme.cases import case_of, mint_case
from pipeline.warehouse.engine import Warehouse

__all__ = ["EPISODES", "Attachment", "attach", "close", "current", "episodes", "set_email"]

#: One row per attachment episode and family its case covers now, with the latest key worker
#: and closing date.
EPISODES = """
select family_id, case_id, key_worker, attached_on, closed_on from (
  select family_id, case_id, key_worker, attached_on, closed_on,
         row_number() over (partition by case_id, family_id, attached_on order by recorded_at desc) as latest
  from cohort.family_attachments
) a where latest = 1
"""


@dataclass(frozen=True)
class Attachment:
    """A family's current attachment state."""

    family_id: str
    key_worker: str
    attached_on: date
    closed_on: date | None = None
    case_id: str | None = None

    @property
    def is_open(self) -> bool:
        return self.closed_on is None


def _day(value: object) -> date | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def current(wh: Warehouse, family_id: str) -> Attachment | None:
    """The family's latest episode as it now stands, or None if it was never attached."""
    rows = wh.read(f"select * from ({EPISODES}) e where family_id = :f "
                   "order by attached_on desc, case_id limit 1", {"f": family_id})
    if rows.empty:
        return None
    r = rows.iloc[0]
    return Attachment(r["family_id"], r["key_worker"], _day(r["attached_on"]), _day(r["closed_on"]), r["case_id"])


def episodes(wh: Warehouse) -> pd.DataFrame:
    """Every attachment episode (family_id, case_id, key_worker, attached_on, closed_on) per
    family its case covers now, dates parsed."""
    frame = wh.read(EPISODES + " order by family_id, attached_on, case_id")
    for col in ("attached_on", "closed_on"):
        frame[col] = pd.to_datetime(frame[col])
    return frame


def _record(wh: Warehouse, state: Attachment) -> Attachment:
    """Append the state; a family no case covers yet opens a new case covering it."""
    now = datetime.now()
    case = state.case_id or case_of(wh, state.family_id)
    with wh.begin() as conn:
        if case is None:
            case = mint_case(state.family_id, now)
            wh.execute(conn, "insert into cohort.case_families (case_id, family_id) values (:c, :f)",
                       {"c": case, "f": state.family_id})
            wh.execute(conn, "insert into cohort.case_events (case_id, event, family_id, detail, recorded_at) "
                             "values (:c, 'attached', :f, :d, :t)",
                       {"c": case, "f": state.family_id, "t": now,
                        "d": f"case opened: family {state.family_id} attached to {state.key_worker}"})
        wh.execute(conn, "insert into cohort.attachments (family_id, key_worker, attached_on, closed_on, "
                         "recorded_at, case_id) values (:f, :k, :a, :c, :t, :case)",
                   {"f": state.family_id, "k": state.key_worker, "a": state.attached_on,
                    "c": state.closed_on, "t": now, "case": case})
    return replace(state, case_id=case)


def set_email(wh: Warehouse, key_worker: str, email: str) -> None:
    """Record where a key worker's alerts are e-mailed (replaces any earlier address)."""
    if "@" not in email or any(c.isspace() for c in email.strip()):
        raise ValueError(f"'{email}' is not an e-mail address")
    with wh.begin() as conn:
        wh.execute(conn, "delete from cohort.key_workers where key_worker = :k", {"k": key_worker})
        wh.execute(conn, "insert into cohort.key_workers (key_worker, email, updated_at) values (:k, :e, :t)",
                   {"k": key_worker, "e": email.strip(), "t": datetime.now()})


def attach(wh: Warehouse, family_id: str, key_worker: str, on: date, reassign: bool = False) -> Attachment:
    """Attach a family to a key worker from ``on``, or hand an attached family to another.

    Attaching again to the same key worker changes nothing. An attached family goes to a
    different key worker only with ``reassign`` (the episode and its attachment date stay);
    a closed family can be attached again from its closing date on, as a new episode.
    """
    key_worker = key_worker.strip()
    if not key_worker:
        raise ValueError("give the key worker's name")
    if not wh.scalar("select count(*) from linked.families where family_id = :f", {"f": family_id}):
        raise ValueError(f"no family {family_id} (see reporting.family_view)")
    now = current(wh, family_id)
    if now is not None and now.is_open:
        if now.key_worker == key_worker:
            return now
        if not reassign:
            raise ValueError(f"family {family_id} is attached to {now.key_worker} since "
                             f"{now.attached_on}: close it first or reassign it")
        return _record(wh, Attachment(family_id, key_worker, now.attached_on, case_id=now.case_id))
    if reassign:
        raise ValueError(f"family {family_id} is not attached: nothing to reassign")
    if now is not None and on < now.closed_on:
        raise ValueError(f"family {family_id} was closed on {now.closed_on}: attach it again on or after that")
    return _record(wh, Attachment(family_id, key_worker, on, case_id=None if now is None else now.case_id))


def close(wh: Warehouse, family_id: str, on: date) -> Attachment:
    """Close the family's open attachment on ``on`` (its key worker stops working with it)."""
    now = current(wh, family_id)
    if now is None or not now.is_open:
        raise ValueError(f"family {family_id} is not attached")
    if on < now.attached_on:
        raise ValueError(f"family {family_id} was attached on {now.attached_on}: it cannot close before that")
    return _record(wh, Attachment(family_id, now.key_worker, now.attached_on, on, now.case_id))
