"""Key-worker cases of troubled households: attachment, closure and what happened after.

About half the households with 2 or more problems under way at once are worked with:
attached a few weeks after the second began. Three cases in five close a few weeks after
the last of those needs ended (sustained, unless a need comes back); the others close
3-10 months after attachment, whatever the needs are doing. A case is ``relapsed`` when a
need it had at attachment is still under way more than 30 days after closure, so its
events recur after closure; ``sustained`` when none is; ``open`` when not closed
14 days before the as-of date. Cases are read off the problem periods the events are
drawn from, never change them, so adding them shifts no other generated figure.
``truth_cases.csv`` records them, so that outcome-based claims can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from pipeline.generator.dates import MISSING, format_days
from pipeline.generator.population import PROBLEMS, Population

__all__ = ["Cases", "draw_cases", "truth_cases"]

WORKED_WITH, CLOSED_WHEN_MET = 0.5, 0.6
RELAPSE_DAYS = 30


@dataclass
class Cases:
    """One row per case: household, attached and closed day (-1 while open), the needs at
    attachment (cases x problems) and whether a need recurred after closure."""

    household: np.ndarray
    attached: np.ndarray
    closed: np.ndarray
    needs: np.ndarray
    relapsed: np.ndarray


def draw_cases(rng: np.random.Generator, pop: Population) -> Cases:
    """Draw the cases from ``pop``'s problem periods (left as they are)."""
    start, end = pop.problem_start, pop.problem_end
    present = start >= 0
    h = len(start)
    second = np.sort(np.where(present, start, np.iinfo(np.int64).max), 1)[:, 1]
    attached = np.maximum(second, pop.span_start) + rng.integers(14, 90, h)
    needs = present & (start <= attached[:, None]) & (end >= attached[:, None])
    chosen = np.flatnonzero((needs.sum(1) >= 2) & (rng.random(h) < WORKED_WITH)
                            & (attached <= pop.as_of - 30))
    attached, needs = attached[chosen], needs[chosen]
    last_need = np.where(needs, end[chosen], -1).max(1)
    closed = np.where(rng.random(len(chosen)) < CLOSED_WHEN_MET,
                      last_need + rng.integers(7, 60, len(chosen)),
                      attached + rng.integers(90, 300, len(chosen)))
    closed = np.where(closed <= pop.as_of - 14, closed, -1)
    recurs = needs & (closed >= 0)[:, None] & (end[chosen] > closed[:, None] + RELAPSE_DAYS)
    return Cases(chosen, attached, closed, needs, recurs.any(1))


def truth_cases(cases: Cases, household_id: pd.Series) -> pd.DataFrame:
    """The cases as ``truth_cases.csv`` rows (dates ISO, blank while open)."""
    names = np.array(PROBLEMS, dtype=object)
    return pd.DataFrame({
        "true_household_id": household_id.to_numpy()[cases.household],
        "attached_on": format_days(cases.attached, date.isoformat),
        "closed_on": format_days(np.where(cases.closed >= 0, cases.closed, MISSING), date.isoformat),
        "outcome": np.select([cases.closed < 0, cases.relapsed], ["open", "relapsed"], "sustained"),
        "needs_at_attachment": [";".join(names[row]) for row in cases.needs],
    })
