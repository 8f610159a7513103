"""Key workers: attach a family, reassign it, close it; every change is kept.

``cohort.attachments`` is append-only. Each row is the state of one attachment episode
(``family_id``, ``attached_on``) as recorded at ``recorded_at``: attaching adds an episode,
reassigning and closing add a later row of the same episode. The latest row of the latest
episode is the family's current state, which is what ``reporting.family_view`` shows. Payment
by results starts at a family's first attachment (:func:`episodes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from pipeline.warehouse.engine import Warehouse

__all__ = ["EPISODES", "Attachment", "attach", "close", "current", "episodes", "set_email"]

#: One row per attachment episode with its latest key worker and closing date.
EPISODES = """
select family_id, key_worker, attached_on, closed_on from (
  select family_id, key_worker, attached_on, closed_on,
         row_number() over (partition by family_id, attached_on order by recorded_at desc) as latest
  from cohort.attachments
) a where latest = 1
"""


@dataclass(frozen=True)
class Attachment:
    """A family's current attachment state."""

    family_id: str
    key_worker: str
    attached_on: date
    closed_on: date | None = None

    @property
    def is_open(self) -> bool:
        return self.closed_on is None


def _day(value: object) -> date | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def current(wh: Warehouse, family_id: str) -> Attachment | None:
    """The family's latest episode as it now stands, or None if it was never attached."""
    rows = wh.read(f"select * from ({EPISODES}) e where family_id = :f "
                   "order by attached_on desc limit 1", {"f": family_id})
    if rows.empty:
        return None
    r = rows.iloc[0]
    return Attachment(r["family_id"], r["key_worker"], _day(r["attached_on"]), _day(r["closed_on"]))


def episodes(wh: Warehouse) -> pd.DataFrame:
    """Every attachment episode (family_id, key_worker, attached_on, closed_on), dates parsed."""
    frame = wh.read(EPISODES + " order by family_id, attached_on")
    for col in ("attached_on", "closed_on"):
        frame[col] = pd.to_datetime(frame[col])
    return frame


def _record(wh: Warehouse, state: Attachment) -> Attachment:
    with wh.begin() as conn:
        wh.execute(conn, "insert into cohort.attachments (family_id, key_worker, attached_on, closed_on, "
                         "recorded_at) values (:f, :k, :a, :c, :t)",
                   {"f": state.family_id, "k": state.key_worker, "a": state.attached_on,
                    "c": state.closed_on, "t": datetime.now()})
    return state


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
        return _record(wh, Attachment(family_id, key_worker, now.attached_on))
    if reassign:
        raise ValueError(f"family {family_id} is not attached: nothing to reassign")
    if now is not None and on < now.closed_on:
        raise ValueError(f"family {family_id} was closed on {now.closed_on}: attach it again on or after that")
    return _record(wh, Attachment(family_id, key_worker, on))


def close(wh: Warehouse, family_id: str, on: date) -> Attachment:
    """Close the family's open attachment on ``on`` (its key worker stops working with it)."""
    now = current(wh, family_id)
    if now is None or not now.is_open:
        raise ValueError(f"family {family_id} is not attached")
    if on < now.attached_on:
        raise ValueError(f"family {family_id} was attached on {now.attached_on}: it cannot close before that")
    return _record(wh, Attachment(family_id, now.key_worker, now.attached_on, on))
