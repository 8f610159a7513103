"""The Matcher's namespaces, as Splink's linker has them: ``.blocking``, ``.scoring``,
``.clustering`` and ``.diagnostics``.

Each works on the shared run state (:mod:`matching.state`) through the
:class:`~matching.state.Linker` interface, with the functions of its own module
(:mod:`matching.blocking`, :mod:`matching.scoring`, :mod:`matching.clustering`,
:mod:`matching.explain`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from matching.blocking import Blocker
from matching.clustering import ClusterResult, Constraints, cluster
from matching.comparisons import Comparer, FieldTable
from matching.explain import pairwise_scores, waterfall
from matching.scoring import (
    FellegiSunterModel,
    PatternCounts,
    estimate_m,
    estimate_prior,
    estimate_u,
    refine_m_leave_one_out,
)
from matching.state import Linker, Run, Scan

__all__ = ["BlockingNamespace", "ClusteringNamespace", "Diagnostics", "ScoringNamespace"]

log = logging.getLogger(__name__)


class BlockingNamespace:
    """``Matcher.blocking``: inspect the blocking plan without comparing anything."""

    def __init__(self, matcher: Linker) -> None:
        self._matcher = matcher

    def report(self, mentions: pd.DataFrame) -> pd.DataFrame:
        """Per pass: blocks, largest block, split/dropped blocks, worst keys and pairs added.

        Args:
            mentions: a mention frame.

        Returns:
            One row per pass, in declared order; ``pairs_added`` excludes pairs that an
            earlier pass already produced.
        """
        run = self._matcher.start_run(self._matcher.profiles(mentions))
        return run.blocker.block_report().assign(
            pairs_added=_pairs_per_pass(run.blocker)["pairs_added"]
        )

    def completeness(self, mentions: pd.DataFrame, truth: pd.Series) -> pd.DataFrame:
        """Per pass: candidate pairs added, true pairs among them, and the cumulative
        pairs-completeness (share of all true pairs the passes so far have produced).

        Args:
            mentions: a mention frame.
            truth: the true entity of each mention, aligned with ``mentions`` (labelled data).

        Returns:
            One row per pass, in declared order; ``attrs["true_pairs"]`` is the total. Pairs
            are counted between distinct profiles (identical records are one profile and
            always link), a profile taking its first mention's label.
        """
        profiles = self._matcher.profiles(mentions)
        run = self._matcher.start_run(profiles)
        label = pd.factorize(truth.to_numpy())[0][profiles.first_mention]
        sizes = np.bincount(label)
        total = int((sizes * (sizes - 1) // 2).sum())
        report = _pairs_per_pass(run.blocker, label)
        report["completeness"] = report["true_pairs_added"].cumsum() / max(total, 1)
        report.attrs["true_pairs"] = total
        return report

    def pairs(self, mentions: pd.DataFrame) -> pd.DataFrame:
        """All candidate pairs as representative mention ids (small frames only)."""
        profiles = self._matcher.profiles(mentions)
        run = self._matcher.start_run(profiles)
        rep = profiles.representative
        frames = [
            pd.DataFrame(
                {
                    "mention_id_l": rep[b.left],
                    "mention_id_r": rep[b.right],
                    "blocking_pass": b.pass_name,
                }
            )
            for b in run.blocker.pairs()
        ]
        columns = ["mention_id_l", "mention_id_r", "blocking_pass"]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _pairs_per_pass(blocker: Blocker, label: np.ndarray | None = None) -> pd.DataFrame:
    """Candidate pairs each pass adds, streamed once; given a true label per profile, also
    ``true_pairs_added``, the pairs among them whose two profiles share a label."""
    names = [p.spec.name for p in blocker.passes]
    added, true = dict.fromkeys(names, 0), dict.fromkeys(names, 0)
    for batch in blocker.pairs():
        added[batch.pass_name] += len(batch)
        if label is not None:
            true[batch.pass_name] += int((label[batch.left] == label[batch.right]).sum())
    counts = {"pairs_added": added, **({"true_pairs_added": true} if label is not None else {})}
    return pd.DataFrame(counts)


class ScoringNamespace:
    """``Matcher.scoring``: train the model, stream and score candidate pairs, save the model."""

    def __init__(self, matcher: Linker) -> None:
        self._matcher = matcher

    def train(self, run: Run) -> FellegiSunterModel:
        """Train m and u without labels (see module docstring); the prior comes later.

        Args:
            run: prepared run state (profiles, comparer, blocker).

        Returns:
            A model with m, u and training metadata; ``prior`` is a placeholder until
            the candidate patterns are known.
        """
        s = self._matcher.settings
        rng = np.random.default_rng(s.seed)
        prof, comparer = run.profiles, run.comparer
        n = len(prof.of_mention)
        a = prof.of_mention[rng.integers(0, n, s.u_pairs)]
        b = prof.of_mention[rng.integers(0, n, s.u_pairs)]
        distinct = a != b
        u = estimate_u(comparer.levels(a[distinct], b[distinct]), comparer.n_levels)
        samples, sizes = {}, {}
        mult = prof.multiplicity.astype(np.float64)
        for ident in s.training_identifiers:
            share = min(1.0, s.m_pairs / max(run.blocker.pass_pairs(ident), 1))
            lefts, rights = [], []
            for batch in run.blocker.pairs(passes=[ident], exclude_earlier=False):
                pick = rng.random(len(batch)) < share
                lefts.append(batch.left[pick])
                rights.append(batch.right[pick])
            # records repeated verbatim agree with themselves: C(k, 2) pairs per profile
            same = np.flatnonzero(prof.frame[ident].notna().to_numpy() & (prof.multiplicity > 1))
            left = np.concatenate([*lefts, same]).astype(np.int64)
            right = np.concatenate([*rights, same]).astype(np.int64)
            pair_w = mult[left] * mult[right] / share
            pair_w[len(left) - len(same) :] = mult[same] * (mult[same] - 1) / 2
            samples[ident] = (comparer.levels(left, right), pair_w)
            sizes[ident] = len(left)
        m, support = estimate_m(samples, s.comparisons)
        model = FellegiSunterModel(
            [c.name for c in s.comparisons],
            [list(c.labels) for c in s.comparisons],
            m,
            u,
            thresholds=s.thresholds,
            training={
                "u_pairs": int(distinct.sum()),
                "m_pairs": sizes,
                "m_support": support,
                "seed": s.seed,
            },
        )
        log.info(
            "trained m/u: %d random pairs for u; identifier pairs for m: %s",
            int(distinct.sum()),
            sizes,
        )
        return model

    def scan(self, run: Run, focus: np.ndarray | None = None) -> Scan:
        """Stream every candidate pair through the comparisons, batch by batch.

        Keeps pairs whose summed Bayes factor reaches ``keep_bayes_factor`` and counts
        the comparison patterns of all of them (for the prior and EM).
        """
        s = self._matcher.settings
        model = self._matcher.model
        comparer = run.comparer
        radix = comparer.n_levels
        place = np.r_[1, np.cumprod(radix[::-1])[:-1]][::-1].astype(np.int64)
        mult = run.profiles.multiplicity.astype(np.float64)
        pass_index = {p.name: k for k, p in enumerate(s.passes)}
        kept: list[tuple] = []
        codes, counts = [], []
        per_pass = dict.fromkeys(pass_index, 0)
        for batch in run.blocker.pairs(focus=focus):
            levels = comparer.levels(batch.left, batch.right)
            bf = model.bayes_factor_weights(levels)
            code = levels.astype(np.int64) @ place
            uniq, inverse = np.unique(code, return_inverse=True)
            codes.append(uniq)
            counts.append(np.bincount(inverse, weights=mult[batch.left] * mult[batch.right]))
            keep = bf >= s.keep_bayes_factor
            kept.append(
                (
                    batch.left[keep],
                    batch.right[keep],
                    levels[keep],
                    np.full(int(keep.sum()), pass_index[batch.pass_name], dtype=np.int16),
                )
            )
            per_pass[batch.pass_name] += len(batch)
        if codes:
            totals = pd.Series(np.concatenate(counts)).groupby(np.concatenate(codes)).sum()
            pattern_levels = (totals.index.to_numpy()[:, None] // place) % radix
            patterns = PatternCounts(pattern_levels.astype(np.int8), totals.to_numpy())
        else:
            patterns = PatternCounts(np.empty((0, len(radix)), np.int8), np.empty(0))
        width = len(s.comparisons)
        return Scan(
            left=np.concatenate([k[0] for k in kept]) if kept else np.empty(0, np.int32),
            right=np.concatenate([k[1] for k in kept]) if kept else np.empty(0, np.int32),
            levels=np.concatenate([k[2] for k in kept]) if kept else np.empty((0, width), np.int8),
            pass_index=np.concatenate([k[3] for k in kept]) if kept else np.empty(0, np.int16),
            patterns=patterns,
            pairs_per_pass=per_pass,
        )

    def fit_to_candidates(self, run: Run, patterns: PatternCounts) -> None:
        """Estimate the prior, then refine m leave-one-out on confident candidates (in place).

        The prior is over record pairs: identical records (one profile) are settled matches.
        """
        s = self._matcher.settings
        model = self._matcher.model
        mult = run.profiles.multiplicity.astype(np.float64)
        n = mult.sum()
        total, settled = n * (n - 1) / 2, float((mult * (mult - 1) / 2).sum())
        model.prior = estimate_prior(model, patterns, total, settled)
        support = {}
        forbidden = self._matcher.forbidden_patterns(patterns.levels)
        for _ in range(s.refine_rounds):
            support = refine_m_leave_one_out(
                model, patterns, s.refine_comparisons, forbidden, s.confident_weight
            )
            model.prior = estimate_prior(model, patterns, total, settled)
        model.training["refined_support"] = support
        log.info("prior %.3g; m refined from confident candidates: %s", model.prior, support)

    def save(self, directory: str | Path) -> Path:
        """Save the current model as the next version in ``directory``."""
        if self._matcher.model is None:
            raise ValueError("no trained model yet: run link_persons first")
        return self._matcher.model.save(directory)


class ClusteringNamespace:
    """``Matcher.clustering``: constrained clustering of accepted links."""

    def __init__(self, matcher: Linker) -> None:
        self._matcher = matcher

    def cluster(
        self,
        run: Run,
        left: np.ndarray,
        right: np.ndarray,
        weight: np.ndarray,
        groups: np.ndarray | None = None,
        constraints: Constraints | None = None,
    ) -> ClusterResult:
        """Cluster a run's profiles with the settings' cannot-link rules (see :func:`cluster`;
        ``constraints``: the run's, when already built)."""
        rules = self._matcher.constraints(run) if constraints is None else constraints
        result = cluster(len(run.profiles.frame), left, right, weight, rules, groups)
        if len(result.dropped):
            log.info(
                "clustering dropped %d links to keep cannot-link rules: %s",
                len(result.dropped),
                result.dropped["reason"].value_counts().to_dict(),
            )
        return result


class Diagnostics:
    """``Matcher.diagnostics``: explain pairs and measure accuracy (blocking recall is
    ``Matcher.blocking.completeness``)."""

    def __init__(self, matcher: Linker) -> None:
        self._matcher = matcher

    def waterfall(
        self, mentions: pd.DataFrame, mention_id_l: str, mention_id_r: str
    ) -> pd.DataFrame:
        """Waterfall for any two mentions, linked or not, under the matcher's model.

        Examples:
            >>> m.diagnostics.waterfall(mentions, "police|OC1|N1", "health|E9")  # doctest: +SKIP
        """
        matcher = self._matcher
        if matcher.model is None:
            raise ValueError("no trained model: run link_persons first or pass a model")
        pair = mentions[mentions["mention_id"].isin([mention_id_l, mention_id_r])]
        if len(pair) != 2:
            raise KeyError(f"need both mentions, found {len(pair)}")
        pair = pair.set_index("mention_id").loc[[mention_id_l, mention_id_r]].reset_index()
        frame = matcher.profiles(pair)
        comparisons = matcher.settings.comparisons
        fields = sorted(set().union(*(c.fields for c in comparisons)))
        comparer = Comparer(FieldTable(frame.frame, fields), comparisons)
        left, right = frame.of_mention[:1], frame.of_mention[1:]
        return waterfall(matcher.model, comparisons, comparer.levels(left, right)[0])

    def explain_link(self, link: pd.Series) -> pd.DataFrame:
        """Waterfall of a row of ``PersonLinkResult.links`` (or ``review``) from its stored levels."""
        comparisons = self._matcher.settings.comparisons
        levels = [list(c.labels).index(link[c.name]) for c in comparisons]
        return waterfall(self._matcher.model, comparisons, levels)

    def accuracy(self, clusters: pd.DataFrame, truth: pd.Series) -> dict[str, float]:
        """Pairwise precision/recall/F1 of ``clusters`` (mention_id, cluster) against
        ``truth`` (a Series of true person labels indexed by mention_id)."""
        aligned = truth.reindex(clusters["mention_id"]).to_numpy()
        if pd.isna(aligned).any():
            raise KeyError("truth lacks some clustered mentions")
        return pairwise_scores(clusters["cluster"].reset_index(drop=True), pd.Series(aligned))
