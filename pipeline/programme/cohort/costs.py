"""Estimated annual cost of each family from the programme's unit-cost table.

Events are priced by the first rule they match. Spans (episodes, claims, terms with an
exclusion) are priced per year open within the window, counting each person's overlapping
spans of one rule once, so two overlapping claims of one adult are one adult-year.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.programme.cohort.config import Programme
from pipeline.programme.cohort.frames import take_rows
from pipeline.programme.cohort.rules import Context, match_mask

__all__ = ["family_costs"]

_YEAR_DAYS = 365


def _priced_rule(programme: Programme, ev: pd.DataFrame, ctx: Context) -> np.ndarray:
    """Index of the first unit-cost rule each event matches, -1 when none."""
    rule = np.full(len(ev), -1)
    for i, cost in enumerate(programme.unit_costs):
        rule[match_mask(cost, ev, ctx).to_numpy() & (rule < 0)] = i
    return rule


def _span_costs(spans: pd.DataFrame, first: pd.Series, ctx: Context) -> pd.DataFrame:
    """Amount x years open within the window, over the union of each (person, rule)'s spans."""
    day = np.timedelta64(1, "D")
    frame = pd.DataFrame({
        "family_id": spans["family_id"],
        "person_code": spans["person_code"],
        "rule": spans["rule"],
        "amount": spans["amount"],
        "start": (spans["start_date"].clip(lower=first) - ctx.as_of) / day,
        "end": (spans["end_date"].fillna(ctx.as_of).clip(upper=ctx.as_of) - ctx.as_of) / day,
    }).sort_values(["person_code", "rule", "start"])
    same = frame["person_code"].eq(frame["person_code"].shift()) & frame["rule"].eq(
        frame["rule"].shift()
    )
    reach = frame.groupby(["person_code", "rule"], sort=False)["end"].cummax().shift()
    block = (~same | (frame["start"] > reach)).cumsum()
    union = frame.groupby(block).agg(
        family_id=("family_id", "first"), amount=("amount", "first"),
        start=("start", "min"), end=("end", "max"),
    )
    years = (union["end"] - union["start"] + 1) / _YEAR_DAYS
    return pd.DataFrame({"family_id": union["family_id"], "amount": union["amount"] * years})


def family_costs(programme: Programme, ev: pd.DataFrame, ctx: Context) -> pd.Series:
    """Pounds per family_id (families without priced events are absent).

    per event: each matching event; per occurrence: once per family and occurrence (first
    part of the record key) at its highest price; per year: pro rata to the days open in
    the window (D - days, D], `days` being the rule's window or the programme's.
    """
    rule = _priced_rule(programme, ev, ctx)
    rules = programme.unit_costs
    priced = take_rows(ev, rule >= 0, ["family_id", "person_code", "agency", "record_key",
                                       "start_date", "end_date"])
    rule = rule[rule >= 0]
    priced = priced.assign(rule=rule, amount=np.array([r.amount for r in rules])[rule])
    per = np.array([r.per for r in rules])[rule]

    occurrences = priced.loc[per == "occurrence"]
    occurrences = (
        occurrences.assign(occurrence=occurrences["record_key"].str.split("|", n=1).str[0])
        .groupby(["family_id", "agency", "occurrence"], observed=True, sort=False)["amount"]
        .max()
        .reset_index()
    )
    spans = priced.loc[per == "year"]
    days = np.array([r.window.days or ctx.window_days for r in rules])[spans["rule"]]
    first = pd.Series(ctx.as_of - pd.to_timedelta(days - 1, unit="D"), index=spans.index)
    parts = [priced.loc[per == "event"], occurrences, _span_costs(spans, first, ctx)]
    return pd.concat([p[["family_id", "amount"]] for p in parts]).groupby("family_id")[
        "amount"
    ].sum()
