"""The ``sustained`` results test (``sf2022``): every need at attachment sustained after closure.

``shared/spec/programme.md``, "Payment by results (sf2022)": the family's case is closed, and
every need it had at attachment shows a positive outcome sustained for at least ``months``
after closure. A data-driven need (a criterion met by events at attachment) is sustained when
no qualifying event for it happened from the closure date to the claim date (education: only
terms ending after closure are judged) and no need was recorded under it in that time; a
recorded need open at attachment is sustained when it was closed ``achieved`` by the claim
date and no new need was recorded under the same headline since its closing.

Decisions where the spec leaves room: the case is the family's latest attachment episode
(closed by the claim date, not reopened); "6 months after closure" means the claim date is on
or after the closure date plus 6 calendar months.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from pipeline.programme.cohort import evaluate, term_bounds
from pipeline.programme.cohort.frames import EVENT_COLUMNS

if TYPE_CHECKING:
    from pipeline.programme.claims import _Inputs

__all__ = ["Sustained", "sustained"]


class Sustained(BaseModel):
    """``sustained: {months: n}`` in a payments file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    months: int = Field(6, gt=0)


def _pairs(frame: pd.DataFrame, code: str = "criterion") -> pd.DataFrame:
    return frame[["family_id", code]].rename(columns={code: "criterion"}).drop_duplicates()


def _since_closure(events: pd.DataFrame, closed: pd.Series) -> pd.DataFrame:
    """Each family's events as they stand after its closure date C: dates before C blanked, spans
    that ended before C and terms that ended on or before C removed, rows left with nothing
    dropped. (A `dated` window on a span's own start or end date would see the span's start.)"""
    day = events["family_id"].map(closed)
    ev = events[day.notna()].copy()
    day = day[day.notna()]
    keep = pd.Series(False, index=ev.index)
    for col in [c for c, kind in EVENT_COLUMNS.items() if kind == "date" and c not in ("start_date", "end_date")]:
        if col in ev:
            ev[col] = pd.to_datetime(ev[col]).where(pd.to_datetime(ev[col]) >= day)
            keep |= ev[col].notna()
    if "start_date" in ev:
        end = pd.to_datetime(ev.get("end_date", pd.Series(pd.NaT, index=ev.index)))
        span = pd.to_datetime(ev["start_date"]).notna() & (end.isna() | (end >= day))
        ev["start_date"] = pd.to_datetime(ev["start_date"]).where(span)
        keep |= span
    if "term" in ev:
        after = term_bounds(ev["term"])[1] > day
        ev["term"] = ev["term"].where(after)
        keep |= after
    return ev[keep]


def _relapsed(inp: _Inputs, closed: pd.Series) -> pd.DataFrame:
    """(family_id, criterion) met by events from each family's closure date to the claim date:
    one evaluation at the claim date, over the window from the earliest closure, of the events
    after each family's own closure."""
    if closed.empty:
        return pd.DataFrame(columns=["family_id", "criterion"])
    days = (inp.claim_date - closed.min()).days + 1
    result = evaluate(inp.programme.model_copy(update={"window_days": days}), _since_closure(inp.events, closed),
                      inp.members[inp.members["family_id"].isin(closed.index)], inp.claim_date)
    met = result.cohort[["family_id", "criteria"]]
    met = met.assign(criterion=met["criteria"].str.split(",")).explode("criterion")
    return _pairs(met[met["criterion"].fillna("").ne("")])


def sustained(test: Sustained, inp: _Inputs) -> tuple[pd.Series, pd.DataFrame]:
    """Which families pass, and the evidence per need of those that do."""
    families, claim = inp.first.index, inp.claim_date
    closed = inp.closed.reindex(families)
    due = closed.notna() & (closed + pd.DateOffset(months=test.months) <= claim)
    closed = closed[due]
    at = inp.attached[inp.attached["family_id"].isin(closed.index)]
    recorded_at = at["agency"].eq("recorded")
    data = _pairs(at[~recorded_at])
    needs = inp.needs[inp.needs["family_id"].isin(closed.index)]
    held = at.loc[recorded_at, ["family_id", "criterion", "record_key"]].drop_duplicates()
    held = held.rename(columns={"record_key": "need_id"}).merge(
        needs[["need_id", "outcome", "closed_on"]], on="need_id", how="left")

    # data-driven needs: no qualifying event, and no need recorded, since the case closed
    new = needs[(needs["identified_on"] >= needs["family_id"].map(closed)) & (needs["identified_on"] <= claim)]
    relapse = pd.concat([_relapsed(inp, closed), _pairs(new, "headline")], ignore_index=True)
    data_bad = data.merge(relapse, on=["family_id", "criterion"])["family_id"]
    # recorded needs: closed achieved by the claim date, no new need under its headline since
    later = held.merge(needs[["family_id", "headline", "need_id", "identified_on"]].rename(
        columns={"headline": "criterion", "need_id": "other"}), on=["family_id", "criterion"])
    renewed = later[(later["other"] != later["need_id"]) & (later["identified_on"] >= later["closed_on"])
                    & (later["identified_on"] <= claim)]
    achieved = held["outcome"].eq("achieved") & (held["closed_on"] <= claim)
    held_bad = pd.concat([held.loc[~achieved, "family_id"], renewed["family_id"]])
    ok = pd.Series(families.isin(closed.index.difference(pd.Index(pd.concat([data_bad, held_bad])))),
                   index=families)
    return ok, _evidence(test, inp, closed[ok[closed.index]], data, held, at)


def _evidence(test: Sustained, inp: _Inputs, closed: pd.Series, data: pd.DataFrame, held: pd.DataFrame,
              at: pd.DataFrame) -> pd.DataFrame:
    """Per paid family: the closure, each need and why it is sustained, and the records behind it."""
    claim = inp.claim_date.date()
    day = closed.dt.strftime("%Y-%m-%d")
    data, held = data[data["family_id"].isin(closed.index)], held[held["family_id"].isin(closed.index)]
    case = pd.DataFrame({"family_id": closed.index, "item": "closure", "summary": True,
                         "detail": "case closed on " + day.to_numpy() + f", {test.months} months or more "
                                   f"before the claim date {claim}"})
    data_rows = data.assign(item=data["criterion"], summary=True, detail=(
        data["criterion"] + ": no qualifying event from " + data["family_id"].map(day) + f" to {claim}"
        + " (met at attachment)"))
    held_rows = held.assign(item=held["criterion"], summary=True, agency="recorded", record_key=held["need_id"],
                            event_date=held["closed_on"], detail=(
        held["criterion"] + ": recorded need " + held["need_id"] + " closed achieved on "
        + held["closed_on"].dt.strftime("%Y-%m-%d") + ", no new need since"))
    shown = at[at["family_id"].isin(closed.index)]
    records = shown.rename(columns={"criterion": "item"}).assign(detail="at attachment: " + shown["detail"].astype(str))
    columns = ["family_id", "item", "summary", "person_id", "agency", "record_key", "event_date", "detail"]
    return pd.concat([case, data_rows, held_rows, records], ignore_index=True).reindex(columns=columns)
