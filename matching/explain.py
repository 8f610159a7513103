"""Explanations and diagnostics: waterfalls and pairwise accuracy.

A waterfall shows why two records were (or were not) linked: the prior log-odds, then each
comparison's level and the log2 Bayes factor it contributed, then the total match weight and
probability, as Splink's waterfall chart does (dedupe #1178, recordlinkage #64).

Accuracy against a truth is reported in two separate parts (Splink #793, #2059): blocking
pairs-completeness (true pairs that blocking ever proposed, ``Matcher.blocking.completeness``)
and pairwise precision/recall/F1 of the final clusters (:func:`pairwise_scores`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from matching.comparisons import Comparison
from matching.scoring import FellegiSunterModel

__all__ = ["pairwise_scores", "waterfall"]


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
