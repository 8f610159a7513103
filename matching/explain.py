"""Explanations and diagnostics: waterfalls, pairwise accuracy, blocking recall.

A waterfall shows why two records were (or were not) linked: the prior log-odds, then each
comparison's level and the log2 Bayes factor it contributed, then the total match weight and
probability, as Splink's waterfall chart does (dedupe #1178, recordlinkage #64).

Accuracy against a truth is reported in two separate parts (Splink #793, #2059): blocking
recall (true pairs that blocking ever proposed) and pairwise precision/recall/F1 of the
final clusters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from matching.comparisons import Comparer, Comparison, FieldTable
from matching.scoring import FellegiSunterModel

if TYPE_CHECKING:
    from matching.matcher import Matcher

__all__ = ["Diagnostics", "blocking_recall", "pairwise_scores", "waterfall"]


def waterfall(
    model: FellegiSunterModel, comparisons: Sequence[Comparison], levels: Sequence[int]
) -> pd.DataFrame:
    """One pair's evidence: prior, each comparison's level and weight, total.

    Args:
        model: trained model.
        comparisons: the declarations the model was trained with.
        levels: the pair's level number per comparison (0 = null).

    Returns:
        Rows ``prior``, one per comparison, ``total``: columns ``comparison``, ``level``,
        ``m``, ``u``, ``bayes_factor``, ``weight`` (log2) and ``cumulative``.
    """
    rows = [
        {"comparison": "prior", "level": "", "m": np.nan, "u": np.nan,
         "bayes_factor": model.prior / (1 - model.prior), "weight": model.prior_weight}
    ]  # fmt: skip
    for k, comp in enumerate(comparisons):
        lv = int(levels[k])
        m, u = model.m[k][lv], model.u[k][lv]
        weight = 0.0 if lv == 0 else float(np.log2(m / u))
        rows.append(
            {"comparison": comp.name, "level": comp.labels[lv], "m": m, "u": u,
             "bayes_factor": 2.0**weight, "weight": weight}
        )  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["cumulative"] = frame["weight"].cumsum()
    total = float(frame["weight"].sum())
    frame.loc[len(frame)] = {
        "comparison": "total",
        "level": f"p={FellegiSunterModel.probability(total):.6f}",
        "m": np.nan,
        "u": np.nan,
        "bayes_factor": 2.0**total,
        "weight": total,
        "cumulative": total,
    }
    return frame


def pairwise_scores(predicted: pd.Series, truth: pd.Series) -> dict[str, float]:
    """Pairwise precision, recall and F1 of a clustering against true entity labels.

    Both series are aligned label-per-record; pairs are counted, never listed.
    """
    frame = pd.DataFrame({"p": pd.factorize(predicted)[0], "t": pd.factorize(truth)[0]})

    def pairs(sizes: pd.Series) -> float:
        s = sizes.to_numpy(dtype=np.float64)
        return float((s * (s - 1) / 2).sum())

    tp = pairs(frame.groupby(["p", "t"]).size())
    predicted_pairs = pairs(frame.groupby("p").size())
    true_pairs = pairs(frame.groupby("t").size())
    precision = tp / predicted_pairs if predicted_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "true_positive_pairs": tp,
        "predicted_pairs": predicted_pairs,
        "true_pairs": true_pairs,
    }


def blocking_recall(matcher: Matcher, mentions: pd.DataFrame, truth: pd.Series) -> dict[str, float]:
    """Share of true record pairs that blocking proposes (or that are identical records).

    Args:
        matcher: supplies the settings (passes, caps).
        mentions: the mention frame.
        truth: true entity label per mention, aligned with ``mentions``.
    """
    profiles = matcher.profiles(mentions)
    run = matcher._run(profiles)
    label = pd.factorize(truth.reset_index(drop=True))[0]
    # a profile's label: its first mention's (profiles are verbatim-identical records)
    first = np.full(len(profiles.frame), -1, dtype=np.int64)
    first[profiles.of_mention[::-1]] = np.arange(len(label))[::-1]
    prof_label = label[first]
    mult = profiles.multiplicity.astype(np.float64)
    within = pd.DataFrame({"p": profiles.of_mention, "t": label}).groupby(["p", "t"]).size()
    covered = float((within * (within - 1) / 2).sum())
    for batch in run.blocker.pairs():
        same = prof_label[batch.left] == prof_label[batch.right]
        covered += float((mult[batch.left[same]] * mult[batch.right[same]]).sum())
    sizes = pd.Series(label).value_counts().to_numpy(dtype=np.float64)
    true_pairs = float((sizes * (sizes - 1) / 2).sum())
    return {
        "blocking_recall": covered / true_pairs if true_pairs else 1.0,
        "true_pairs": true_pairs,
    }


class Diagnostics:
    """``Matcher.diagnostics``: explain pairs, measure accuracy and blocking recall."""

    def __init__(self, matcher: Matcher) -> None:
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

    def blocking_recall(self, mentions: pd.DataFrame, truth: pd.Series) -> dict[str, float]:
        """See :func:`blocking_recall`; ``truth`` is indexed by mention_id."""
        aligned = truth.reindex(mentions["mention_id"]).reset_index(drop=True)
        return blocking_recall(self._matcher, mentions, aligned)
