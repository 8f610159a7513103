"""Clerical review: queue, blind CSV round trip, validation, decisions that bind later runs."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from matching.review import (
    DECISION_COLUMNS,
    DecisionImportError,
    bind_links,
    build_queue,
    cannot_link,
    current_decisions,
    export_queue,
    must_link,
    read_decisions,
    record_decisions,
    violations,
)

NOW = "2026-02-01T10:00:00Z"


def pairs(*rows: tuple[str, str, float]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["mention_id_l", "mention_id_r", "match_weight"])


def decision(left: str, right: str, answer: str, at: str = NOW, by: str = "rev1") -> dict:
    agency_l, key_l = left.split("|", 1)
    agency_r, key_r = right.split("|", 1)
    return dict(
        agency_l=agency_l,
        record_key_l=key_l,
        agency_r=agency_r,
        record_key_r=key_r,
        decision=answer,
        decided_by=by,
        decided_at=pd.Timestamp(at),
        note="",
    )


def log(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=DECISION_COLUMNS)


UNCERTAIN = pairs(
    ("police|OC/1|N1", "health|E1", 4.0),
    ("schools|A1|2025-AUT", "police|OC/2|N2", 6.5),
    ("dwp|C1", "yot|Y1", 2.0),
)

MENTIONS = pd.DataFrame(
    {
        "mention_id": [
            "police|OC/1|N1",
            "health|E1",
            "schools|A1|2025-AUT",
            "police|OC/2|N2",
            "dwp|C1",
            "yot|Y1",
        ],
        "first_name": ["JOHN", "JON", "AMY", "AMY", "LEE", "LEE"],
        "last_name": ["SMITH", "SMITH", "HILL", "HILL", "WU", "WU"],
        "dob": ["2001-02-03"] * 6,
    }
)


def test_queue_is_canonical_sorted_and_leaves_out_decided_pairs() -> None:
    queue = build_queue(UNCERTAIN)
    assert queue["match_weight"].tolist() == [6.5, 4.0, 2.0]
    assert (queue["mention_id_l"] < queue["mention_id_r"]).all()
    decided = log(decision("health|E1", "police|OC/1|N1", "non-match"))  # either way round
    assert build_queue(UNCERTAIN, decided)["match_weight"].tolist() == [6.5, 2.0]


def test_queue_asks_once_per_two_persons() -> None:
    # A = {police N1 twice, health E1}, B = {schools A1, health E2}; dwp C1 and yot Y1 unlinked
    persons = pd.Series({"police|OC/1|N1": "A", "police|OC/3|N1": "A", "health|E1": "A",
                         "schools|A1|2025-AUT": "B", "health|E2": "B"})
    uncertain = pairs(
        ("police|OC/1|N1", "health|E1", 9.0),  # inside A: an answer would change nothing
        ("police|OC/1|N1", "schools|A1|2025-AUT", 3.0),
        ("health|E2", "police|OC/3|N1", 5.0),  # the strongest of A and B
        ("health|E1", "health|E2", 1.0),
        ("dwp|C1", "yot|Y1", 2.0),  # records without a person stand for themselves
        ("dwp|C1", "health|E2", 0.5),
    )
    queue = build_queue(uncertain, persons=persons)
    assert list(zip(queue["mention_id_l"], queue["mention_id_r"], strict=True)) == [
        ("health|E2", "police|OC/3|N1"), ("dwp|C1", "yot|Y1"), ("dwp|C1", "health|E2")]
    assert len(build_queue(uncertain)) == 6  # without persons: every record pair
    for answer in ("match", "non-match", "unsure"):  # an answer on any pair of A and B settles A and B
        answered = log(decision("health|E1", "health|E2", answer))
        assert build_queue(uncertain, answered, persons=persons)["match_weight"].tolist() == [2.0, 0.5]
    unsure = log(decision("health|E2", "police|OC/3|N1", "unsure"))
    assert build_queue(uncertain, unsure, persons=persons, requeue_unsure=True)["match_weight"].tolist() == [
        5.0, 2.0, 0.5]


def test_unsure_leaves_the_queue_unless_asked_and_undo_puts_a_pair_back() -> None:
    unsure = log(decision("dwp|C1", "yot|Y1", "unsure"))
    assert 2.0 not in build_queue(UNCERTAIN, unsure)["match_weight"].tolist()
    assert 2.0 in build_queue(UNCERTAIN, unsure, requeue_unsure=True)["match_weight"].tolist()
    undone = record_decisions(unsure, log(decision("dwp|C1", "yot|Y1", "undo", "2026-02-02")))
    assert 2.0 in build_queue(UNCERTAIN, undone)["match_weight"].tolist()
    assert current_decisions(undone).empty


def test_latest_decision_wins() -> None:
    history = log(
        decision("dwp|C1", "yot|Y1", "match", "2026-01-01"),
        decision("yot|Y1", "dwp|C1", "non-match", "2026-01-05", by="senior"),
    )
    standing = current_decisions(history)
    assert standing[["decision", "decided_by"]].values.tolist() == [["non-match", "senior"]]
    assert cannot_link(history).values.tolist() == [["dwp|C1", "yot|Y1"]]
    assert must_link(history).empty


def test_export_is_blind_unless_scores_are_asked_for() -> None:
    queue = build_queue(UNCERTAIN)
    blind = pd.read_csv(
        io.StringIO(export_queue(queue, MENTIONS)), dtype=str, keep_default_na=False
    )
    assert "match_weight" not in blind.columns
    assert {"first_name_l", "first_name_r", "decision", "decided_by", "note"} <= set(blind.columns)
    first = blind.iloc[0]
    assert (first["agency_l"], first["record_key_l"]) == ("police", "OC/2|N2")  # key keeps its |
    assert (first["agency_r"], first["record_key_r"]) == ("schools", "A1|2025-AUT")
    scored = pd.read_csv(io.StringIO(export_queue(queue, MENTIONS, with_scores=True)))
    assert scored["match_weight"].tolist() == [6.5, 4.0, 2.0]


def test_round_trip_export_fill_in_import(tmp_path) -> None:
    path = tmp_path / "review.csv"
    export_queue(build_queue(UNCERTAIN), MENTIONS, path)
    sheet = pd.read_csv(path, dtype=str, keep_default_na=False)
    sheet.loc[0, ["decision", "decided_by"]] = ["MATCH", "rev1"]
    sheet.loc[1, ["decision", "decided_by", "decided_at"]] = [
        "non match",
        "rev2",
        "2026-01-30T09:00",
    ]
    sheet.to_csv(path, index=False)  # row 3 left blank: not reviewed yet
    imported = read_decisions(path, decided_at=NOW, known_mention_ids=MENTIONS["mention_id"])
    assert list(imported.columns) == DECISION_COLUMNS
    assert imported["decision"].tolist() == ["match", "non-match"]
    assert imported["decided_at"].tolist() == [
        pd.Timestamp(NOW),
        pd.Timestamp("2026-01-30T09:00", tz="UTC"),
    ]
    logged = record_decisions(None, imported)
    assert record_decisions(logged, imported).equals(logged)  # re-import changes nothing
    assert build_queue(UNCERTAIN, logged)["match_weight"].tolist() == [2.0]


def test_import_names_every_bad_row_and_field() -> None:
    text = (
        "agency_l,record_key_l,agency_r,record_key_r,decision,decided_by,decided_at\n"
        "police,OC/1|N1,health,E1,maybe,rev1,\n"  # line 2: bad answer
        "police,OC/1|N1,health,E1,match,,\n"  # line 3: nobody decided
        "dwp,C1,dwp,C1,match,rev1,\n"  # line 4: a record with itself
        "dwp,C1,yot,NOPE,match,rev1,yesterday\n"  # line 5: unknown record, bad time
        "dwp,C1,yot,Y1,,,\n"  # line 6: blank decision: skipped, not an error
    )
    with pytest.raises(DecisionImportError) as error:
        read_decisions(io.StringIO(text), decided_at=NOW, known_mention_ids=MENTIONS["mention_id"])
    problems = error.value.problems
    assert (
        "line 2, field 'decision': 'maybe' is not one of match, non-match, unsure, undo" in problems
    )
    assert "line 3, field 'decided_by': is blank" in problems
    assert "line 4, field 'record_key_r': pairs a record with itself" in problems
    assert "line 5, field 'record_key_r': record 'yot|NOPE' is not known" in problems
    assert "line 5, field 'decided_at': 'yesterday' is not an ISO date/time" in problems
    assert not any(p.startswith("line 6") for p in problems)


def test_import_refuses_missing_columns_conflicts_and_missing_times() -> None:
    with pytest.raises(DecisionImportError, match="missing column"):
        read_decisions(io.StringIO("agency_l,record_key_l,decision\npolice,1,match\n"))
    conflicting = (
        "agency_l,record_key_l,agency_r,record_key_r,decision,decided_by\n"
        "dwp,C1,yot,Y1,match,a\n"
        "yot,Y1,dwp,C1,non-match,b\n"
    )
    with pytest.raises(DecisionImportError, match="line 3, field 'decision': conflicts"):
        read_decisions(io.StringIO(conflicting), decided_at=NOW)
    with pytest.raises(DecisionImportError, match="no import time"):
        read_decisions(io.StringIO(conflicting.splitlines()[0] + "\ndwp,C1,yot,Y1,match,a\n"))


def components(links: pd.DataFrame, mention_ids: list[str]) -> pd.DataFrame:
    """Plain connected components, standing in for the clustering stage."""
    index = pd.Index(mention_ids)
    left, right = index.get_indexer(links["mention_id_l"]), index.get_indexer(links["mention_id_r"])
    graph = coo_matrix((np.ones(len(left)), (left, right)), shape=(len(index), len(index)))
    return pd.DataFrame({"mention_id": mention_ids, "cluster": connected_components(graph)[1]})


def test_decisions_bind_every_later_run() -> None:
    ids = MENTIONS["mention_id"].tolist()
    decisions = log(
        decision("police|OC/1|N1", "health|E1", "non-match"),
        decision("dwp|C1", "yot|Y1", "match"),
        decision("schools|A1|2025-AUT", "police|OC/2|N2", "unsure"),
    )
    # a later run scores the rejected pair high, never scores the confirmed one,
    # and keeps the unsure one on its own merits
    later = pairs(
        ("health|E1", "police|OC/1|N1", 15.0),
        ("schools|A1|2025-AUT", "police|OC/2|N2", 9.0),
    )
    assert not violations(components(later, ids), decisions).empty
    bound = bind_links(later, decisions)
    kept = set(zip(bound["mention_id_l"], bound["mention_id_r"], strict=True))
    assert ("health|E1", "police|OC/1|N1") not in kept
    assert ("schools|A1|2025-AUT", "police|OC/2|N2") in kept
    forced = bound[bound["mention_id_l"] == "dwp|C1"].iloc[0]
    assert (forced["mention_id_r"], forced["decision"], forced["match_weight"]) == (
        "yot|Y1",
        "match",
        np.inf,
    )
    assert violations(components(bound, ids), decisions).empty
    # and none of the three pairs is queued again
    assert build_queue(
        pairs(*(tuple(r) for r in later.itertuples(index=False)), ("yot|Y1", "dwp|C1", 3.0)),
        decisions,
    ).empty


def test_decisions_follow_profiles_of_identical_records() -> None:
    # a re-sent identical record (police|OC/1|N1v2) is represented by the decided one
    profiles = pd.Series({"police|OC/1|N1v2": "police|OC/1|N1"})
    decisions = log(decision("police|OC/1|N1v2", "health|E1", "non-match"))
    assert build_queue(UNCERTAIN, decisions, profiles=profiles)["match_weight"].tolist() == [
        6.5,
        2.0,
    ]
    bound = bind_links(UNCERTAIN, decisions, profiles=profiles)
    assert "health|E1" not in set(bound["mention_id_l"]) | set(bound["mention_id_r"])
