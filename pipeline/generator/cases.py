"""Key-worker cases of troubled households: attachment, closure and what happened after.

About half the households with 2 or more problems under way at once are worked with:
attached a few weeks after the second began, closed 3-14 months later (a fifth, and those
attached lately, are still open). A closed case's problems end by its closure, its needs met; in about a third of
closed cases one problem that recurs in life (crime, domestic abuse, health) comes back
after closure, a relapse with its own period of events. ``truth_cases.csv`` records each
case, so that outcome-based claims (needs sustained after closure) can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from pipeline.generator.dates import MISSING, format_days
from pipeline.generator.population import PROBLEMS, Population

__all__ = ["RELAPSING", "Cases", "draw_cases", "truth_cases"]

RELAPSING = ("crime_asb", "domestic_abuse", "health")
WORKED_WITH, RELAPSE_SHARE = 0.5, 0.35


@dataclass
class Cases:
    """One row per case: household, attached and closed day (-1 while open), the problems
    present at attachment (households x problems) and the relapsed problem (-1: none)."""

    household: np.ndarray
    attached: np.ndarray
    closed: np.ndarray
    needs: np.ndarray
    relapsed: np.ndarray


def draw_cases(rng: np.random.Generator, pop: Population) -> Cases:
    """Draw the cases and apply them to ``pop``: closed cases' problems end by closure,
    relapses get a second active period (``pop.relapse_start``/``relapse_end``)."""
    start, end = pop.problem_start, pop.problem_end
    present = start >= 0
    h = len(start)
    # Attached a few weeks after the second problem began, when both are still under way.
    second = np.sort(np.where(present, start, np.iinfo(np.int64).max), 1)[:, 1]
    attached = np.maximum(second, pop.span_start) + rng.integers(14, 90, h)
    needs = present & (start <= attached[:, None]) & (end >= attached[:, None])
    chosen = np.flatnonzero((needs.sum(1) >= 2) & (rng.random(h) < WORKED_WITH)
                            & (attached <= pop.as_of - 30))
    attached, needs = attached[chosen], needs[chosen]
    closed = attached + rng.integers(90, 420, len(chosen))
    closed = np.where((closed <= pop.as_of - 14) & (rng.random(len(chosen)) >= 0.2), closed, -1)
    s, e = start[chosen], end[chosen]

    # Needs met: every problem under way by closure ends by then (a few weeks before, at most).
    done = (closed >= 0)[:, None] & present[chosen] & (s <= closed[:, None])
    ended = np.maximum(s, closed[:, None] - rng.integers(0, 30, done.shape))
    end[chosen] = np.where(done, np.minimum(e, ended), e)

    # Relapse: one recurring need at attachment comes back a while after closure.
    recurring = needs & np.isin(np.array(PROBLEMS), RELAPSING)[None, :]
    can = (closed >= 0) & recurring.any(1) & (closed + 45 <= pop.as_of)
    relapsing = can & (rng.random(len(chosen)) < RELAPSE_SHARE)
    keys = np.where(recurring, rng.random(recurring.shape), -1.0)
    relapsed = np.where(relapsing, keys.argmax(1), -1)
    rows = np.flatnonzero(relapsing)
    back = closed[rows] + 30 + (rng.random(len(rows)) * (pop.as_of - closed[rows] - 30)).astype(np.int64)
    pop.relapse_start[chosen[rows], relapsed[rows]] = back
    pop.relapse_end[chosen[rows], relapsed[rows]] = back + rng.integers(60, 300, len(rows))
    return Cases(chosen, attached, closed, needs, relapsed)


def truth_cases(cases: Cases, household_id: pd.Series) -> pd.DataFrame:
    """The cases as ``truth_cases.csv`` rows (dates ISO, blank while open)."""
    names = np.array(PROBLEMS, dtype=object)
    relapsed = cases.relapsed >= 0
    return pd.DataFrame({
        "true_household_id": household_id.to_numpy()[cases.household],
        "attached_on": format_days(cases.attached, date.isoformat),
        "closed_on": format_days(np.where(cases.closed >= 0, cases.closed, MISSING), date.isoformat),
        "outcome": np.select([cases.closed < 0, relapsed], ["open", "relapsed"], "sustained"),
        "needs_at_attachment": [";".join(names[row]) for row in cases.needs],
        "relapsed_problem": np.where(relapsed, names[np.maximum(cases.relapsed, 0)], ""),
    })
