"""Matching events to conditions: windows, filters, aggregates and evidence text, vectorised.

Each condition is a boolean mask over all families' events at once; aggregates are grouped
sums over the masked rows. Nothing here loops over families or events.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from pipeline.programme.cohort.config import (
    Aggregate,
    Bound,
    Condition,
    Match,
    Programme,
    Window,
    template_fields,
)
from pipeline.programme.cohort.frames import last_terms, take_rows, terms_ending_from

__all__ = ["EVIDENCE_COLUMNS", "Context", "Horizon", "condition_hits", "event_horizon", "match_mask"]

EVIDENCE_COLUMNS = ["family_id", "person_id", "agency", "record_key", "event_date", "detail"]


@dataclass(frozen=True)
class Context:
    """The programme-wide settings a condition falls back on, and the as-of date D."""

    as_of: pd.Timestamp
    window_days: int
    school_terms: int
    adult_age: int

    @classmethod
    def of(cls, programme: Programme, as_of: pd.Timestamp) -> Context:
        return cls(as_of, programme.window_days, programme.school_terms, programme.adult_age)


def _window_first_day(window: Window, ctx: Context) -> pd.Timestamp:
    """First day inside the window: (D - days, D] holds D - days + 1 .. D."""
    if window.kind == "current":
        return ctx.as_of
    return ctx.as_of - pd.Timedelta(days=(window.days or ctx.window_days) - 1)


@dataclass(frozen=True)
class Horizon:
    """How far back an evaluation at D can look: an event counts only through a window, so one
    with no date on or after `first_day` (blank end: a span still open), and no school term code
    of `first_term_year` or later or among `terms`, is met by no condition, cost or household rule."""

    first_day: pd.Timestamp
    first_term_year: int
    terms: tuple[str, ...]


def event_horizon(programme: Programme, as_of: date | pd.Timestamp) -> Horizon:
    """The horizon of every window the programme declares (criteria, household, unit costs)."""
    as_of = pd.Timestamp(as_of).normalize()
    ctx = Context.of(programme, as_of)
    windows = [m.window for c in programme.criteria.values() for m in c.any_of]
    windows += [m.window for m in (*programme.household.or_any_of, *programme.unit_costs)]
    first_day = min([_window_first_day(w, ctx) for w in windows if w.kind != "last_terms"], default=as_of)
    year, ending = terms_ending_from(first_day)  # the terms a dated or span window can reach
    last = {code for w in windows if w.kind == "last_terms" for code in last_terms(as_of, w.terms or ctx.school_terms)}
    return Horizon(first_day, year, tuple(sorted({*ending, *(code for code in last if int(code[:4]) < year)})))


def _window_mask(window: Window, ev: pd.DataFrame, ctx: Context) -> pd.Series:
    if window.kind == "last_terms":
        return ev["term"].isin(last_terms(ctx.as_of, window.terms or ctx.school_terms))
    first = _window_first_day(window, ctx)
    if window.kind == "dated":
        dates = ev[window.date]
        return (dates >= first) & (dates <= ctx.as_of)
    return (ev["start_date"] <= ctx.as_of) & (ev["end_date"].isna() | (ev["end_date"] >= first))


def _value_mask(values: pd.Series, wanted: object) -> pd.Series:
    if isinstance(wanted, Bound):
        return wanted.test(values)
    if isinstance(wanted, list):
        return values.isin(wanted)
    return values == wanted


def match_mask(match: Match, ev: pd.DataFrame, ctx: Context) -> pd.Series:
    """True for the events (rows of the prepared frame) that the declaration selects."""
    mask = ev["agency"] == match.agency
    if not mask.any():
        return mask
    if match.event_types is not None:
        mask &= ev["event_type"].isin(match.event_types)
    if match.roles is not None:
        mask &= ev["role"].isin(match.roles)
    if match.member == "child":
        mask &= ev["age"] < ctx.adult_age
    elif match.member == "adult":
        mask &= ev["age"] >= ctx.adult_age
    for column, wanted in match.where.items():
        mask &= _value_mask(ev[column], wanted)
    if match.where_any:
        any_of = pd.Series(False, index=ev.index)
        for column, wanted in match.where_any.items():
            any_of |= _value_mask(ev[column], wanted)
        mask &= any_of
    return mask & _window_mask(match.window, ev, ctx)


def _aggregate(aggregate: Aggregate, hits: pd.DataFrame) -> pd.DataFrame:
    """The rows of the groups (persons or families) that pass, with `value` and `n` added."""
    key = hits["person_code" if aggregate.per == "person" else "family_id"]
    n = hits.groupby(key, sort=False)[key.name].transform("size")

    def summed(columns: list[str]) -> pd.Series:
        return hits[columns].sum(axis=1).groupby(key, sort=False).transform("sum")

    if aggregate.measure == "count":
        value = n.astype(float)
    elif aggregate.measure == "total":
        value = summed(aggregate.of)
    else:
        denominator = summed(aggregate.over)
        value = summed(aggregate.of) / denominator.where(denominator > 0)
    passed = aggregate.test(value)
    return hits.loc[passed].assign(value=value[passed], n=n[passed])


def _text(values: pd.Series, decimals: int = 2) -> pd.Series:
    """Values as evidence text: dates ISO, numbers to `decimals` places unless whole."""
    if pd.api.types.is_datetime64_any_dtype(values):
        text = values.dt.strftime("%Y-%m-%d")
    elif pd.api.types.is_float_dtype(values):
        fixed = np.char.mod(f"%.{decimals}f", values.to_numpy())
        text = pd.Series(fixed, index=values.index, dtype=object).str.removesuffix(
            "." + "0" * decimals
        )
    else:
        text = values.astype(object).astype(str)
    return text.where(values.notna(), "")


def _render(template: str, hits: pd.DataFrame, fields: dict[str, str | pd.Series]) -> pd.Series:
    out = pd.Series("", index=hits.index, dtype=object)
    for literal, field, _, _ in string.Formatter().parse(template):
        out += literal
        if field is not None:
            out += fields[field] if field in fields else _text(hits[field])
    return out


def condition_hits(condition: Condition, ev: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    """Evidence rows (EVIDENCE_COLUMNS) of the events that meet one condition."""
    window = condition.window
    aggregate = condition.aggregate
    needed = {"family_id", "person_id", "person_code", "agency", "record_key", window.date}
    needed |= set(template_fields(condition.detail)) & set(ev.columns)
    needed |= set(aggregate.of + aggregate.over) if aggregate else set()
    mask = match_mask(condition, ev, ctx)
    if not mask.any():
        return pd.DataFrame(columns=EVIDENCE_COLUMNS)
    hits = take_rows(ev, mask, [c for c in ev.columns if c in needed])
    fields: dict[str, str | pd.Series] = {
        "terms": str(window.terms or ctx.school_terms),
        "days": str(window.days or ctx.window_days),
    }
    if aggregate is not None:
        hits = _aggregate(aggregate, hits)
        if aggregate.measure == "rate":
            fields["value"] = _text(hits["value"] * 100, decimals=1) + "%"
    detail = _render(condition.detail, hits, fields)
    date_column = window.date if window.kind == "dated" else "event_date"
    return pd.DataFrame({
        "family_id": hits["family_id"],
        "person_id": hits["person_id"],
        "agency": hits["agency"].astype(object),
        "record_key": hits["record_key"],
        "event_date": hits[date_column],
        "detail": detail,
    })
