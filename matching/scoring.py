"""Fellegi–Sunter scoring: m/u trained without labels, match weights as log2 Bayes factors.

Training follows Splink's unsupervised recipe, done on comparison-level counts so that it is
vectorised and cheap:

* **u** (chance agreement) from random record pairs;
* **m** (agreement among matches) from pairs that share a valid strong identifier, each
  comparison estimated only from identifiers other than its own (so NHS-number pairs say
  nothing about the NHS-number comparison), blended with the declared ``m_prior`` as
  pseudo-counts where the identifier pairs are thin;
* the **prior** (probability that two random records match) by EM over the candidate
  pairs' comparison patterns with m and u held fixed; optionally m is refined by EM too.

Counts are weighted by how many source records each distinct profile stands for, so the
parameters describe record pairs, not profile pairs.

A trained model is a :class:`FellegiSunterModel`, saved as versioned JSON (one file per run)
together with the run's summary statistics, which :func:`compare_runs` uses to warn when the
predicted match rate moves far from the previous run's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from matching.comparisons import Comparison

__all__ = [
    "FORMAT_VERSION",
    "FellegiSunterModel",
    "PatternCounts",
    "Thresholds",
    "compare_runs",
    "estimate_m",
    "estimate_prior",
    "estimate_u",
    "load_latest_model",
    "refine_m_leave_one_out",
]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds on the match probability. Precision first: accept only when sure.

    Pairs at or above ``accept`` are links; pairs in ``[review, accept)`` go to clerical
    review; the rest are non-links.

    Family members share surname, address and postcode, so those agreements are not
    independent evidence of one *person* (lessons-from-peers, "Persons vs families"): a
    pair is only linked when the person-specific comparisons (``identity``: first name,
    date of birth, identifiers) add up to at least ``identity_min_weight`` bits on their
    own. An otherwise sure pair failing that goes to review instead, unless its person
    evidence is below ``identity_review_min_weight`` (a parent and child, two siblings):
    such pairs are non-links and do not flood the clerical queue.

    Overwhelming agreement elsewhere still links: a pair whose match weight reaches
    ``overwhelming_weight`` needs only person evidence that is not against it (at least
    ``identity_overwhelming_min_weight``), e.g. a replaced first name with the date of birth,
    surname and address all agreeing. Family members never get there: their first names
    and dates of birth disagree, which makes their person evidence negative.
    """

    accept: float = 0.99
    review: float = 0.2  # seeds 1-2 hostile, with the oracle: below it, a true pair in three is not worth a queue row
    identity: tuple[str, ...] = (
        "first_name",
        "dob",
        "nhs_number",
        "upn",
        "nino",
        "source_person_id",
    )
    identity_min_weight: float = 5.0
    identity_review_min_weight: float = -2.0  # seeds 1-2 hostile: every pair in the band below it was two people
    overwhelming_weight: float = 20.0
    identity_overwhelming_min_weight: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.review <= self.accept < 1:
            raise ValueError(f"need 0 < review <= accept < 1, got {self}")
        if self.identity_review_min_weight > self.identity_min_weight:
            raise ValueError("identity_review_min_weight must not exceed identity_min_weight")
        object.__setattr__(self, "identity", tuple(self.identity))

    def accepts(self, weight: np.ndarray, identity: np.ndarray) -> np.ndarray:
        """Which pairs (match weight, person evidence) are links."""
        sure = identity >= self.identity_min_weight
        overwhelming = (weight >= self.overwhelming_weight) & (
            identity >= self.identity_overwhelming_min_weight
        )
        return (weight >= self.accept_weight) & (sure | overwhelming)

    @property
    def accept_weight(self) -> float:
        return float(np.log2(self.accept / (1 - self.accept)))

    @property
    def review_weight(self) -> float:
        return float(np.log2(self.review / (1 - self.review)))


def _counts(
    levels: np.ndarray, n_levels: np.ndarray, weights: np.ndarray | None
) -> list[np.ndarray]:
    """Per comparison, the (weighted) count of pairs at each level (index 0 = null)."""
    w = np.ones(len(levels)) if weights is None else weights
    return [
        np.bincount(levels[:, k], weights=w, minlength=int(n_levels[k])).astype(np.float64)
        for k in range(levels.shape[1])
    ]


def estimate_u(
    levels: np.ndarray, n_levels: np.ndarray, weights: np.ndarray | None = None
) -> list[np.ndarray]:
    """u probabilities from the levels of random pairs (add-half smoothing, null excluded)."""
    out = []
    for counts in _counts(levels, n_levels, weights):
        body = counts[1:] + 0.5
        out.append(np.r_[np.nan, body / body.sum()])
    return out


def estimate_m(
    samples: Mapping[str, tuple[np.ndarray, np.ndarray | None]],
    comparisons: Sequence[Comparison],
    pseudo_count: float = 20.0,
) -> tuple[list[np.ndarray], dict[str, float]]:
    """m probabilities from identifier-agreeing pairs, each comparison excluding its own id.

    Args:
        samples: identifier comparison name -> (levels of pairs agreeing on it, weights).
        comparisons: the declared comparisons (for ``m_prior`` and level counts).
        pseudo_count: weight of the declared ``m_prior`` in the estimate.

    Returns:
        m per comparison (index 0 = null, NaN) and the effective number of non-null training
        pairs per comparison.
    """
    n_levels = np.array([len(c.levels) + 1 for c in comparisons])
    per_id = {name: _counts(lv, n_levels, w) for name, (lv, w) in samples.items()}
    out, support = [], {}
    for k, comp in enumerate(comparisons):
        counts = np.zeros(int(n_levels[k]))
        for name, c in per_id.items():
            if name != comp.name:
                counts += c[k]
        prior = np.array([lv.m_prior for lv in comp.levels], dtype=np.float64)
        prior /= prior.sum()
        body = counts[1:] + pseudo_count * prior
        support[comp.name] = float(counts[1:].sum())
        out.append(np.r_[np.nan, body / body.sum()])
    return out, support


@dataclass
class PatternCounts:
    """Distinct comparison patterns of the candidate pairs with their (weighted) counts."""

    levels: np.ndarray  # (patterns, comparisons) int8
    counts: np.ndarray  # float64


def _posterior(model: FellegiSunterModel, patterns: PatternCounts, prior: float) -> np.ndarray:
    bf = model.bayes_factor_weights(patterns.levels)
    logit = np.log2(prior / (1 - prior)) + bf
    return 1.0 / (1.0 + np.exp2(-np.clip(logit, -60, 60)))


def estimate_prior(
    model: FellegiSunterModel,
    patterns: PatternCounts,
    total_pairs: float,
    settled_matches: float = 0.0,
    iterations: int = 50,
) -> float:
    """Probability two random records match, by EM over candidate patterns with m, u fixed.

    ``settled_matches``: record pairs known to match without scoring (identical profiles).
    """
    n = patterns.counts.sum()
    if n == 0 or total_pairs <= 0:
        return model.prior
    share = min(max((settled_matches + 1.0) / max(n, 1.0), 1e-6), 0.5)
    for _ in range(iterations):
        post = _posterior(model, patterns, share)
        new = float((post * patterns.counts).sum() / n)
        new = min(max(new, 1e-9), 1 - 1e-9)
        if abs(new - share) < 1e-9:
            share = new
            break
        share = new
    expected = share * n + settled_matches
    return float(min(max(expected / total_pairs, 1e-12), 0.5))


def refine_m_leave_one_out(
    model: FellegiSunterModel,
    patterns: PatternCounts,
    names: Sequence[str],
    forbidden: np.ndarray | None = None,
    confident_weight: float = 10.0,
    pseudo_count: float = 20.0,
) -> dict[str, float]:
    """Re-estimate each comparison's m from candidate pairs that are sure matches without it.

    Identifier pairs are within one agency, so they never show what differs *between*
    agencies (a nickname one agency uses, a maiden name, one half of a double-barrelled
    surname). For each comparison in ``names`` this counts its levels among candidate
    patterns whose match weight *leaving it out* reaches ``confident_weight`` (a hard,
    leave-one-out EM step); the previous m acts as a prior.

    Plain EM over all candidates drifts toward matching households (Splink discussion
    #2023): family members share surname and address, twins a date of birth, a father
    and son sometimes a first name. So only comparisons whose agency-specific variants
    matter are refined (the names), and ``forbidden`` patterns (those the cannot-link rules
    reject: twins, conflicting identifiers) never count as matches.

    Returns:
        The weighted number of confident pairs behind each comparison's new m.
    """
    table = model.weight_table()
    index = patterns.levels.astype(np.int64)
    contrib = table[np.arange(table.shape[0])[None, :], index]
    total = model.prior_weight + contrib.sum(axis=1)
    allowed = np.ones(len(total), dtype=bool) if forbidden is None else ~forbidden
    support = {}
    for name in names:
        k = model.comparisons.index(name)
        sure = allowed & ((total - contrib[:, k]) >= confident_weight)
        counts = np.bincount(
            index[sure, k], weights=patterns.counts[sure], minlength=len(model.m[k])
        )
        body = counts[1:] + pseudo_count * model.m[k][1:]
        model.m[k] = np.r_[np.nan, body / body.sum()]
        support[name] = float(counts[1:].sum())
    return support


@dataclass
class FellegiSunterModel:
    """Trained parameters: per comparison, m and u for each level (index 0 = null, unused)."""

    comparisons: list[str]
    labels: list[list[str]]
    m: list[np.ndarray]
    u: list[np.ndarray]
    prior: float = 1e-4
    thresholds: Thresholds = field(default_factory=Thresholds)
    training: dict = field(default_factory=dict)
    run: dict = field(default_factory=dict)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @classmethod
    def untrained(
        cls, comparisons: Sequence[Comparison], thresholds: Thresholds
    ) -> FellegiSunterModel:
        """Declared m priors and flat u: a placeholder until :meth:`fit` data arrive."""
        m = []
        for c in comparisons:
            prior = np.array([lv.m_prior for lv in c.levels])
            m.append(np.r_[np.nan, prior / prior.sum()])
        u = [np.r_[np.nan, np.full(len(c.levels), 1.0 / len(c.levels))] for c in comparisons]
        return cls(
            [c.name for c in comparisons],
            [list(c.labels) for c in comparisons],
            m,
            u,
            thresholds=thresholds,
        )

    # -- weights ---------------------------------------------------------------------

    def weight_table(self) -> np.ndarray:
        """(comparisons, max levels) log2(m/u); 0 for the null level and padding."""
        width = max(len(m) for m in self.m)
        table = np.zeros((len(self.m), width), dtype=np.float64)
        for k, (m, u) in enumerate(zip(self.m, self.u, strict=True)):
            table[k, 1 : len(m)] = np.log2(m[1:] / u[1:])
        return table

    def bayes_factor_weights(self, levels: np.ndarray) -> np.ndarray:
        """Sum of the comparisons' log2 Bayes factors for each row of a level matrix."""
        table = self.weight_table()
        flat = table.ravel()
        index = levels.astype(np.int64) + (np.arange(levels.shape[1]) * table.shape[1])
        return flat[index].sum(axis=1)

    def identity_weight(self, levels: np.ndarray) -> np.ndarray:
        """Summed log2 Bayes factors of the person-specific comparisons (see :class:`Thresholds`)."""
        keep = [k for k, name in enumerate(self.comparisons) if name in self.thresholds.identity]
        table = self.weight_table()[keep]
        index = levels[:, keep].astype(np.int64) + np.arange(len(keep)) * table.shape[1]
        return table.ravel()[index].sum(axis=1)

    @property
    def prior_weight(self) -> float:
        return float(np.log2(self.prior / (1 - self.prior)))

    def match_weight(self, levels: np.ndarray) -> np.ndarray:
        """Total match weight: prior log-odds plus every comparison's log2 Bayes factor."""
        return self.prior_weight + self.bayes_factor_weights(levels)

    @staticmethod
    def probability(weight: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp2(-np.asarray(weight, dtype=np.float64)))

    # -- persistence -----------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "created": self.created,
            "prior": self.prior,
            "thresholds": asdict(self.thresholds),
            "comparisons": [
                {
                    "name": name,
                    "levels": [
                        {"label": lab, "m": _num(m[i]), "u": _num(u[i])}
                        for i, lab in enumerate(labels)
                    ],
                }
                for name, labels, m, u in zip(
                    self.comparisons, self.labels, self.m, self.u, strict=True
                )
            ],
            "training": self.training,
            "run": self.run,
        }

    @classmethod
    def from_dict(cls, data: dict) -> FellegiSunterModel:
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported model format {data.get('format_version')!r}")
        comps = data["comparisons"]
        return cls(
            comparisons=[c["name"] for c in comps],
            labels=[[lv["label"] for lv in c["levels"]] for c in comps],
            m=[
                np.array([np.nan if lv["m"] is None else lv["m"] for lv in c["levels"]])
                for c in comps
            ],
            u=[
                np.array([np.nan if lv["u"] is None else lv["u"] for lv in c["levels"]])
                for c in comps
            ],
            prior=float(data["prior"]),
            thresholds=Thresholds(**data["thresholds"]),
            training=data.get("training", {}),
            run=data.get("run", {}),
            created=data.get("created", ""),
        )

    def check_compatible(self, comparisons: Sequence[Comparison]) -> None:
        """Refuse a saved model whose comparisons or levels differ from the declarations."""
        declared = [[*c.labels] for c in comparisons]
        if [c.name for c in comparisons] != self.comparisons or declared != self.labels:
            raise ValueError("saved model does not match the declared comparisons; retrain it")

    def save(self, directory: str | Path, stem: str = "person-model") -> Path:
        """Write ``<stem>-vNNNN.json`` (next version number) into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        existing = sorted(directory.glob(f"{stem}-v*.json"))
        number = int(existing[-1].stem.rsplit("-v", 1)[1]) + 1 if existing else 1
        path = directory / f"{stem}-v{number:04d}.json"
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False))
        return path

    @classmethod
    def load(cls, path: str | Path) -> FellegiSunterModel:
        return cls.from_dict(json.loads(Path(path).read_text()))


def _num(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def load_latest_model(
    directory: str | Path, stem: str = "person-model"
) -> FellegiSunterModel | None:
    """The highest-versioned saved model in ``directory``, or None."""
    existing = sorted(Path(directory).glob(f"{stem}-v*.json"))
    return FellegiSunterModel.load(existing[-1]) if existing else None


def compare_runs(
    current: Mapping[str, float], previous: Mapping[str, float], tolerance: float = 0.25
) -> list[str]:
    """Warnings for run statistics that moved more than ``tolerance`` (relative) since last run.

    Guards against the failure modes seen in peers' trackers: ECM calling nearly every pair
    a match (recordlinkage #193) or none (#100), parameters drifting between runs (Splink #2882).
    """
    warnings = []
    for key, now in current.items():
        before = previous.get(key)
        if before is None or not isinstance(now, int | float):
            continue
        scale = max(abs(before), 1e-12)
        if abs(now - before) / scale > tolerance:
            warnings.append(
                f"{key} moved from {before:.4g} to {now:.4g} (more than {tolerance:.0%})"
            )
    for w in warnings:
        log.warning("linkage run gate: %s", w)
    return warnings
