"""The state one person-linkage run shares between the Matcher and its namespaces.

A leaf below :mod:`matching.matcher` and :mod:`matching.namespaces`: the settings, the
profiles, the prepared run (profiles, field table, comparer, blocker), what a scan of all
candidate pairs keeps, and :class:`Linker`, what the namespaces ask of the Matcher; so no
module imports back into :mod:`matching.matcher`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from matching.blocking import DEFAULT_PASSES, Blocker, BlockingPass
from matching.clustering import Constraints, TwinRule
from matching.comparisons import DEFAULT_COMPARISONS, Comparer, Comparison, FieldTable
from matching.scoring import FellegiSunterModel, PatternCounts, Thresholds

__all__ = ["MENTION_FIELDS", "Linker", "MatchSettings", "Profiles", "Run", "Scan"]


MENTION_FIELDS = (
    "agency",
    "source_person_id",
    "first_name",
    "middle_names",
    "last_name",
    "dob",
    "sex",
    "address",
    "postcode",
    "nhs_number",
    "upn",
    "nino",
)


@dataclass(frozen=True)
class MatchSettings:
    """Everything the person linkage is configured by; all declarations are data.

    Attributes:
        comparisons: comparison declarations, in Splink level order.
        passes: blocking passes, in priority order.
        identifiers: strong identifiers: different valid values never merge.
        scoped_identifiers: identifier -> scope column (agency ids within one agency).
        training_identifiers: passes/comparisons whose agreeing pairs train m.
        twin_rule: twins stay apart (None to disable).
        generation_gap: records whose birth years are this many years apart (not a typo in
            the year) never merge: parent and child sharing a name or an identifier; and
            records whose dates differ in two parts merge only on a shared identifier (None
            disables both, for data whose errors rewrite whole dates).
        thresholds: accept / review match probabilities.
        max_block_size: block size cap (records) before splitting or dropping a block.
        batch_pairs: pairs compared per batch (bounds memory).
        keep_bayes_factor: pairs with a summed log2 Bayes factor below this are discarded
            while streaming; must sit well below the review threshold's Bayes factor.
        u_pairs: random record pairs for u.
        m_pairs: identifier-agreeing profile pairs per identifier for m.
        refine_comparisons: comparisons whose m is refined on confident candidate pairs
            (those whose variants are stable within an agency: names).
        refine_rounds: rounds of that leave-one-out refinement.
        confident_weight: match weight (without the comparison being estimated) that makes
            a candidate pair count as a sure match in that refinement.
        seed: random seed for sampling.
    """

    comparisons: tuple[Comparison, ...] = DEFAULT_COMPARISONS
    passes: tuple[BlockingPass, ...] = DEFAULT_PASSES
    identifiers: tuple[str, ...] = ("nhs_number", "upn", "nino")
    scoped_identifiers: Mapping[str, str] = field(
        default_factory=lambda: {"source_person_id": "agency"}
    )
    training_identifiers: tuple[str, ...] = ("nhs_number", "upn", "nino", "source_person_id")
    twin_rule: TwinRule | None = field(default_factory=TwinRule)
    generation_gap: int | None = 12
    thresholds: Thresholds = field(default_factory=Thresholds)
    max_block_size: int = 400
    batch_pairs: int = 2_000_000
    keep_bayes_factor: float = -10.0
    u_pairs: int = 400_000
    m_pairs: int = 200_000
    refine_comparisons: tuple[str, ...] = ("first_name", "last_name")
    refine_rounds: int = 2
    confident_weight: float = 10.0
    seed: int = 42

    def __post_init__(self) -> None:
        names = {c.name for c in self.comparisons}
        passes = {p.name for p in self.passes}
        unknown = [t for t in self.training_identifiers if t not in names or t not in passes]
        if unknown:
            raise ValueError(f"training identifiers need a comparison and a pass: {unknown}")


@dataclass
class Profiles:
    """Distinct profiles of a mention frame and how mentions map onto them."""

    frame: pd.DataFrame  # one row per profile, derived fields included
    of_mention: np.ndarray  # profile index of each mention
    multiplicity: np.ndarray  # mentions per profile
    mention_ids: np.ndarray  # mention ids, aligned with of_mention
    focus: np.ndarray | None = None  # profiles holding new mentions (incremental)

    @property
    def first_mention(self) -> np.ndarray:
        """Position of each profile's first mention."""
        first = np.full(len(self.frame), -1, dtype=np.int64)
        order = np.arange(len(self.of_mention))[::-1]
        first[self.of_mention[order]] = order
        return first

    @property
    def representative(self) -> np.ndarray:
        """A mention id standing for each profile (its first mention)."""
        return self.mention_ids[self.first_mention]


@dataclass
class Run:
    """Working state of one linkage run (shared by the namespaces)."""

    profiles: Profiles
    table: FieldTable
    comparer: Comparer
    blocker: Blocker
    timings: dict[str, float] = field(default_factory=dict)

    def tick(self, stage: str, start: float) -> float:
        """Record the seconds ``stage`` took since ``start``; return now, the next start."""
        now = time.perf_counter()
        self.timings[stage] = round(now - start, 3)
        return now


@dataclass
class Scan:
    """Pairs kept from streaming all candidates, and the pattern counts of all of them."""

    left: np.ndarray
    right: np.ndarray
    levels: np.ndarray
    pass_index: np.ndarray
    patterns: PatternCounts
    pairs_per_pass: dict[str, int]


class Linker(Protocol):
    """What the namespaces ask of the :class:`~matching.matcher.Matcher`."""

    settings: MatchSettings
    model: FellegiSunterModel | None

    def profiles(
        self, mentions: pd.DataFrame, group: pd.Series | None = None, focus: pd.Series | None = None
    ) -> Profiles: ...

    def start_run(self, profiles: Profiles) -> Run: ...

    def constraints(self, run: Run) -> Constraints: ...

    def forbidden_patterns(self, levels: np.ndarray) -> np.ndarray: ...
