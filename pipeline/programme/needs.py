"""Recorded needs: needs found at the whole-family assessment, not in any extract.

A coordinator or key worker records one for a family under a headline (a criterion code such
as ``early_years``), with the date identified, a short evidence text and who recorded it; it
is closed with an outcome (``achieved``, ``not_achieved``) and its date. ``cohort.recorded_needs``
is append-only: adding, changing and closing each add a row, so the history stays, and each is
audited in the same transaction. While open, a need meets the criterion of that code in every
programme that has one (:func:`pipeline.programme.cohort.evaluate` takes :func:`recorded_frame`).

Needs are keyed on ``family_id``, as attachments are: when linkage retires a family id the
needs stay under the old id until casework follows it through ``linked.lineage_events``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from typing import Literal

import pandas as pd

from pipeline.governance import audit
from pipeline.programme.cohort import list_programmes, load_programme
from pipeline.warehouse.engine import Warehouse

__all__ = ["NEEDS", "OUTCOMES", "Need", "add_need", "change_need", "close_need", "list_needs", "recorded_frame"]

OUTCOMES = ("achieved", "not_achieved")
#: The current state of every need: its latest row.
NEEDS = """
select need_id, family_id, headline, identified_on, evidence, recorded_by, outcome, closed_on from (
  select n.*, row_number() over (partition by need_id order by recorded_at desc) as latest
  from cohort.recorded_needs n
) n where latest = 1
"""
_COLUMNS = ["need_id", "family_id", "headline", "identified_on", "evidence", "recorded_by", "outcome", "closed_on"]


@dataclass(frozen=True)
class Need:
    """A recorded need as it now stands."""

    need_id: str
    family_id: str
    headline: str
    identified_on: date
    evidence: str
    recorded_by: str
    outcome: Literal["achieved", "not_achieved"] | None = None
    closed_on: date | None = None

    @property
    def is_open(self) -> bool:
        return self.closed_on is None


def headlines() -> set[str]:
    """Every criterion code of every programme found: what a need can be recorded under."""
    return {code for name in list_programmes() for code in load_programme(name).criteria}


def _text(value: str, what: str) -> str:
    value = " ".join((value or "").split())
    if len(value) < 3:
        raise ValueError(f"give the {what} (a few words at least)")
    return value


def _headline(code: str) -> str:
    known = headlines()
    if code not in known:
        raise ValueError(f"no programme has a criterion '{code}' (headlines: {', '.join(sorted(known))})")
    return code


def _write(wh: Warehouse, need: Need, change: str, by: str) -> Need:
    """Append the need's new state and audit it, in one transaction."""
    action = {"added": "add_need", "changed": "change_need", "closed": "close_need"}[change]
    row = {**asdict(need), "change": change, "changed_by": by, "recorded_at": datetime.now()}
    with wh.begin() as conn:  # a plain insert: the COPY path would write the time as a date
        wh.execute(conn, f"insert into cohort.recorded_needs ({', '.join(row)}) "
                         f"values ({', '.join(':' + k for k in row)})", row)
        audit.record(wh, action, who=by, family_id=need.family_id, conn=conn,
                     detail=json.dumps({"need_id": need.need_id, "headline": need.headline,
                                        "identified_on": str(need.identified_on), "outcome": need.outcome,
                                        "closed_on": need.closed_on and str(need.closed_on)}))
    return need


def _day(value: object) -> date | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def get_need(wh: Warehouse, need_id: str) -> Need:
    """A need as it now stands; a clear error when there is none."""
    rows = wh.read(f"select * from ({NEEDS}) n where need_id = :n", {"n": need_id})
    if rows.empty:
        raise ValueError(f"no recorded need {need_id} (see `familyhub need list`)")
    r = rows.iloc[0]
    return Need(r["need_id"], r["family_id"], r["headline"], _day(r["identified_on"]), r["evidence"],
                r["recorded_by"], r["outcome"] if pd.notna(r["outcome"]) else None, _day(r["closed_on"]))


def add_need(wh: Warehouse, family_id: str, headline: str, on: date, evidence: str, by: str | None = None) -> Need:
    """Record a need of a family under a headline, identified on ``on``."""
    if not wh.scalar("select count(*) from linked.families where family_id = :f", {"f": family_id}):
        raise ValueError(f"no family {family_id} (see reporting.family_view)")
    who = audit.actor(by)
    need = Need("N" + uuid.uuid4().hex[:10], family_id, _headline(headline), on, _text(evidence, "evidence"), who)
    return _write(wh, need, "added", who)


def change_need(wh: Warehouse, need_id: str, *, headline: str | None = None, on: date | None = None,
                evidence: str | None = None, by: str | None = None) -> Need:
    """Correct an open need's headline, date identified or evidence (the earlier state is kept)."""
    need = get_need(wh, need_id)
    if not need.is_open:
        raise ValueError(f"need {need_id} was closed on {need.closed_on}: record a new need instead")
    changed = replace(need, headline=_headline(headline) if headline else need.headline,
                      identified_on=on or need.identified_on,
                      evidence=_text(evidence, "evidence") if evidence is not None else need.evidence)
    if changed == need:
        raise ValueError("nothing to change: give --headline, --date or --evidence")
    return _write(wh, changed, "changed", audit.actor(by))


def close_need(wh: Warehouse, need_id: str, outcome: str, on: date, by: str | None = None) -> Need:
    """Close an open need with its outcome on ``on`` (it counts up to and including that day)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome '{outcome}': write {' or '.join(OUTCOMES)}")
    need = get_need(wh, need_id)
    if not need.is_open:
        raise ValueError(f"need {need_id} is already closed ({need.outcome} on {need.closed_on})")
    if on < need.identified_on:
        raise ValueError(f"need {need_id} was identified on {need.identified_on}: it cannot close before that")
    return _write(wh, replace(need, outcome=outcome, closed_on=on), "closed", audit.actor(by))


def recorded_frame(wh: Warehouse, family_id: str | None = None) -> pd.DataFrame:
    """Current needs (NEEDS columns, dates parsed), of one family or all, as the engine takes them."""
    where, params = ("where family_id = :f", {"f": family_id}) if family_id else ("", {})
    frame = wh.read(f"select * from ({NEEDS}) n {where} order by family_id, identified_on, need_id", params)
    for col in ("identified_on", "closed_on"):
        frame[col] = pd.to_datetime(frame[col])
    return frame.reindex(columns=_COLUMNS)


def list_needs(wh: Warehouse, family_id: str | None = None, open_only: bool = False) -> pd.DataFrame:
    """Current needs for listing; ``open_only`` leaves out closed ones."""
    frame = recorded_frame(wh, family_id)
    return frame[frame["closed_on"].isna()] if open_only else frame
