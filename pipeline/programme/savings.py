"""Family savings calculator: what attached families cost before and since attachment.

Each attached family's estimated cost, from the programme's unit costs (the same pricing as
the cohort's ``estimated_annual_cost``), in the 12 months up to its first attachment and in
the 12 months up to the as-of date. Kept per (programme, as-of date) in
``cohort.family_outcomes`` and shown by ``reporting.family_outcome``.
"""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

from pipeline.programme.cohort import Programme, load_programme
from pipeline.programme.cohort.costs import family_costs
from pipeline.programme.cohort.frames import prepare_events, prepare_members
from pipeline.programme.cohort.rules import Context
from pipeline.warehouse.engine import Warehouse

__all__ = ["OUTCOME_COLUMNS", "family_outcomes", "record_outcomes", "report_defaults", "totals"]

OUTCOME_COLUMNS = ["family_id", "programme", "as_of", "attached_on", "cost_before", "cost_latest"]


def family_outcomes(programme: Programme, events: pd.DataFrame, members: pd.DataFrame,
                    attachments: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Cost in the window up to each family's first attachment and in the window up to `as_of`.

    `attachments`: family_id, attached_on (every episode; the first counts; later than
    `as_of` is left out). The window is the programme's (365 days by default).
    """
    as_of_ts = pd.Timestamp(as_of)
    first = pd.to_datetime(attachments.groupby("family_id")["attached_on"].min())
    first = first[first <= as_of_ts]
    mine = events[events["family_id"].isin(first.index)]
    ev = prepare_events(mine, prepare_members(members[members["family_id"].isin(first.index)], as_of_ts))
    before = pd.concat([
        family_costs(programme, ev[ev["family_id"].isin(families)], Context.of(programme, day))
        for day, families in first.groupby(first).groups.items()
    ]) if len(first) else pd.Series(dtype=float)
    latest = family_costs(programme, ev, Context.of(programme, as_of_ts))
    return pd.DataFrame({
        "family_id": first.index,
        "programme": programme.name,
        "as_of": as_of_ts,
        "attached_on": first.to_numpy(),
        "cost_before": before.reindex(first.index, fill_value=0.0).round(2).to_numpy(),
        "cost_latest": latest.reindex(first.index, fill_value=0.0).round(2).to_numpy(),
    })[OUTCOME_COLUMNS].sort_values("family_id", ignore_index=True)


def report_defaults(wh: Warehouse, programme: str | None, as_of: date | None) -> tuple[str, date]:
    """The programme and date to use: as given, else the active evaluation's, else tf2015 today."""
    active = wh.read("select programme, as_of from cohort.active limit 1")
    name = programme or (active["programme"].iloc[0] if len(active) else "tf2015")
    day = as_of or (pd.Timestamp(active["as_of"].iloc[0]).date() if len(active) else date.today())
    return name, day


def record_outcomes(wh: Warehouse, programme: str | None = None, as_of: date | None = None) -> pd.DataFrame:
    """Compute every attached family's outcome and replace that (programme, as-of) in the warehouse."""
    from pipeline.programme.identification import load_inputs
    from pipeline.programme.keyworkers import episodes

    name, day = report_defaults(wh, programme, as_of)
    prog = load_programme(name)
    events, members, _ = load_inputs(wh)
    outcomes = family_outcomes(prog, events, members, episodes(wh), day)
    with wh.begin() as conn:
        wh.execute(conn, "delete from cohort.family_outcomes where programme = :p and as_of = :d",
                   {"p": prog.name, "d": day})
        wh.insert(conn, "cohort.family_outcomes", outcomes.assign(computed_at=datetime.now().isoformat(sep=" ")))
    return outcomes


def totals(outcomes: pd.DataFrame) -> dict[str, float]:
    """Families, total cost before and latest, and the saving (before minus latest)."""
    before, latest = float(outcomes["cost_before"].astype(float).sum()), float(outcomes["cost_latest"].astype(float).sum())
    return {"families": len(outcomes), "cost_before": round(before, 2), "cost_latest": round(latest, 2),
            "saving": round(before - latest, 2)}
