"""Linkage errors by group (issue 13, GUILD guidance) and clerical review with a perfect reviewer.

With truth (benchmarks/linkage.py): missed and false links per group of records. Without truth
(``reporting.agency_linkage`` and the report): the share of each agency's records linked to a
person another agency knows, by age band. The review oracle answers the real queue through
``familyhub review export/import`` on a small generated data set with every error kind on.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.linkage import (
    errors_by_group,
    generated,
    oracle_answers,
    review_oracle,
    scratch_warehouse,
    with_truth,
)
from matching.explain import pairwise_scores
from pipeline.linkage.review_queue import open_queue
from pipeline.programme.report import linked_elsewhere_table
from pipeline.warehouse.engine import Warehouse


def test_missed_and_false_links_by_group_over_records() -> None:
    # true persons: A = {a1, a2, a3}, B = {b1, b2}; found: {a1, a2}, {a3, b1}, {b2}
    ids = ["a1", "a2", "a3", "b1", "b2"]
    truth = pd.Series(["A", "A", "A", "B", "B"], index=ids)
    found = pd.Series([1, 1, 2, 2, 3], index=ids)
    groups = pd.DataFrame({"agency": ["health", "health", "police", "police", "health"],
                           "age": ["adult"] * 3 + ["child"] * 2}, index=ids)
    table = errors_by_group(found, truth, groups).set_index(["group", "value"])
    # a1, a2: 1 of 2 true partners found, no false one; a3: 0 of 2, one false (b1);
    # b1: 0 of 1, one false (a3); b2: 0 of 1
    health, police = table.loc[("agency", "health")], table.loc[("agency", "police")]
    assert (health["records"], health["missed"], health["false"]) == (3, 3, 0)
    assert health["recall"] == pytest.approx(2 / 5) and health["precision"] == pytest.approx(1.0)
    assert (police["records"], police["missed"], police["false"]) == (2, 3, 2)
    assert police["recall"] == pytest.approx(0.0) and police["precision"] == pytest.approx(0.0)
    adults, children = table.loc[("age", "adult")], table.loc[("age", "child")]
    assert (adults["missed"], adults["false"], children["missed"], children["false"]) == (4, 1, 2, 1)
    # the group of everyone is the pairwise measure (each pair counted once per record)
    everyone = errors_by_group(found, truth, pd.DataFrame({"all": "x"}, index=ids)).iloc[0]
    scores = pairwise_scores(found, truth)
    assert everyone["recall"] == pytest.approx(scores["recall"])
    assert everyone["precision"] == pytest.approx(scores["precision"])


def test_the_oracle_answers_from_the_truth_and_leaves_unknown_records_blank() -> None:
    sheet = pd.DataFrame({"agency_l": ["health", "health", "dwp"], "record_key_l": ["'=H1", "H2", "D9"],
                          "agency_r": ["police", "police", "police"], "record_key_r": ["P1", "P2", "P1"],
                          "decision": ""})
    truth = pd.Series({"health|=H1": "A", "health|H2": "B", "police|P1": "A", "police|P2": "C"})
    assert oracle_answers(sheet, truth)["decision"].tolist() == ["match", "non-match", ""]


def load_linked(wh: Warehouse) -> None:
    """Seven records of four persons, linked as of 2026-11-01: Ann (born 2022: 0-4) known to
    health and schools; Bob (born 2012: 11-15) to schools only; Cat (born 1980: 45-64) to
    health and police; Dan (no date of birth) to police only."""
    records = [("health|h1", "P1"), ("schools|s1", "P1"), ("schools|s2", "P2"), ("health|h2", "P3"),
               ("police|p1", "P3"), ("police|p2", "P3"), ("police|p3", "P4")]
    mentions = pd.DataFrame([{"mention_id": m, "agency": m.split("|")[0], "record_key": m.split("|")[1],
                              "file_id": 1, "row_number": i, "version": 1} for i, (m, _) in enumerate(records)])
    people = pd.DataFrame({"person_id": ["P1", "P2", "P3", "P4"],
                           "date_of_birth": pd.to_datetime(["2022-03-01", "2012-01-01", "1980-06-30", None]),
                           "agencies": ["health,schools", "schools", "health,police", "police"],
                           "n_mentions": [2, 1, 3, 1]})
    with wh.begin() as conn:
        wh.insert(conn, "staging.person_mentions", mentions)
        wh.insert(conn, "linked.mention_person", pd.DataFrame(
            {"mention_id": [m for m, _ in records], "person_id": [p for _, p in records], "run_id": "r1"}))
        wh.insert(conn, "linked.persons", people)
        wh.insert(conn, "linked.runs", pd.DataFrame([{"run_id": "r1", "as_of": date(2026, 11, 1), "mode": "full",
                                                      "started_at": datetime(2026, 11, 1)}]))


def test_share_of_records_linked_to_another_agency_by_age_band(warehouse: Warehouse) -> None:
    load_linked(warehouse)
    rows = warehouse.read("select * from reporting.agency_linkage order by agency, age_from")
    got = [(r.agency, r.age_band, int(r.n_records), int(r.n_linked_elsewhere), float(r.share_linked_elsewhere))
           for r in rows.itertuples()]
    assert got == [("health", "0-4", 1, 1, 1.0), ("health", "45-64", 1, 1, 1.0),
                   ("police", "45-64", 2, 2, 1.0), ("police", "unknown", 1, 0, 0.0),
                   ("schools", "0-4", 1, 1, 1.0), ("schools", "11-15", 1, 0, 0.0)]
    table = linked_elsewhere_table(rows)
    assert table.columns.tolist() == ["agency", "0-4", "11-15", "45-64", "unknown"]  # youngest first
    police = table.set_index("agency").loc["police"]
    assert (police["45-64"], police["unknown"], police["0-4"]) == ("100.0% of 2", "0.0% of 1", "")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 generated households with every error kind on (not an evaluation seed)."""
    return generated(300, 5, tmp_path_factory.mktemp("hostile"), "hostile")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_review_oracle_answers_the_queue_through_the_commands_and_recall_does_not_drop(
    hostile: Path, backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    pg = request.getfixturevalue("pg_admin").url.render_as_string(hide_password=False) if backend == "postgres" else None
    with scratch_warehouse(hostile, pg) as url:
        wh = Warehouse.connect(url)
        mentions, as_of = with_truth(wh.read("select * from staging.person_mentions"), hostile)
        wh.engine.dispose()
        outcome = review_oracle(url, mentions, as_of, tmp_path)
        wh = Warehouse.connect(url)
        left = len(open_queue(wh))
        decisions = wh.read("select decision, decided_by from linked.review_decisions")
        wh.engine.dispose()
    assert outcome["queue"] > 0 and outcome["answered"] == outcome["queue"] and left == 0
    assert len(decisions) == outcome["queue"] and set(decisions["decided_by"]) == {"review oracle"}
    truth = mentions.set_index("mention_id")["true_person_id"]
    before, after = (pairwise_scores(outcome[k][0].reindex(truth.index), truth) for k in ("before", "after"))
    assert after["recall"] >= before["recall"] and after["precision"] >= before["precision"]
    assert after["true_positive_pairs"] > before["true_positive_pairs"]  # some answer joined two persons
