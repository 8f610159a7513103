"""The link stage in the warehouse: stable ids across extracts, binding review decisions with their
lineage, constraints that never merge, and reporting.record_link filled for every record.

The generated extracts are ingested once per module (first extract date per agency, then every
file: about a minute, most of it the ingest gate); each test loads the resulting
``staging.person_mentions`` rows into a fresh warehouse, on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from matching.review import DECISION_COLUMNS, build_queue
from pipeline.ingest.load import ingest_landing
from pipeline.linkage.link import _explanations, bind_decisions, link
from pipeline.linkage.review_queue import import_decisions
from pipeline.warehouse.engine import Warehouse

FIRST_AS_OF = date(2026, 8, 1)
AS_OF = date(2026, 11, 1)


@dataclass(frozen=True)
class Extracts:
    first: pd.DataFrame  # staging.person_mentions after each agency's first extract date
    every: pd.DataFrame  # ... after every landing file
    truth: pd.Series  # true person id per mention id


@pytest.fixture(scope="module")
def extracts(generated: Path, tmp_path_factory: pytest.TempPathFactory) -> Extracts:
    files = pd.DataFrame(json.loads((generated / "manifest.json").read_text())["files"])
    files = files[files["path"].str.startswith("landing/")]
    first = files[files["extract_date"] == files.groupby("agency")["extract_date"].transform("min")]
    root = tmp_path_factory.mktemp("extracts")
    for path in first["path"]:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(generated / path, root / path)
    wh = Warehouse.connect(f"duckdb:///{root / 'ingest.duckdb'}")
    wh.migrate()
    read = "select * from staging.person_mentions order by mention_id"
    ingest_landing(wh, root / "landing", root / "quarantine")
    before = wh.read(read)
    ingest_landing(wh, generated / "landing", root / "quarantine")
    after = wh.read(read)
    wh.engine.dispose()
    truth = pd.read_csv(generated / "truth.csv", dtype=str)
    truth.index = truth["agency"] + "|" + truth["record_key"]
    return Extracts(before, after, truth[~truth.index.duplicated()]["true_person_id"])


def load(wh: Warehouse, mentions: pd.DataFrame) -> None:
    """What ingest leaves behind: these mentions in staging (replacing what was there)."""
    with wh.begin() as conn:
        wh.execute(conn, "delete from staging.person_mentions")
        wh.insert(conn, "staging.person_mentions", mentions)


def persons(wh: Warehouse) -> pd.Series:
    return wh.read("select mention_id, person_id from linked.mention_person").set_index("mention_id")["person_id"]


def weights(wh: Warehouse) -> pd.Series:
    return wh.read("select mention_id, match_weight from linked.mention_person").set_index("mention_id")[
        "match_weight"].astype(float)


def families(wh: Warehouse) -> pd.Series:
    return wh.read("select person_id, family_id from linked.person_family").set_index("person_id")["family_id"]


def events(wh: Warehouse, run_id: str) -> pd.DataFrame:
    return wh.read("select * from linked.lineage_events where run_id = :r", {"r": run_id})


# -- stable ids ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_ids_stay_stable_across_a_second_extract(warehouse: Warehouse, extracts: Extracts) -> None:
    load(warehouse, extracts.first)
    first = link(warehouse, FIRST_AS_OF)
    person1, family1 = persons(warehouse), families(warehouse)
    assert first["mode"] == "full"

    weight1 = weights(warehouse)
    load(warehouse, extracts.every)
    second = link(warehouse, AS_OF)
    person2, family2 = persons(warehouse), families(warehouse)
    # a record keeps the evidence of its strongest accepted link: a delta that links new records
    # to its person (scoring only the new pairs) neither blanks nor weakens it
    linked_before = weight1.dropna()
    assert len(linked_before) > 100
    assert (weights(warehouse).reindex(linked_before.index) >= linked_before).all()
    assert second["mode"] == "incremental"
    assert second["n_new_mentions"] == len(extracts.every) - len(extracts.first) > 0

    changes = events(warehouse, second["run_id"])
    moved = changes[changes["event"].isin(["merged", "split"])]
    # every first-run id keeps its records unless a merge or split of that id is recorded
    lost_person = person1[person1 != person2.reindex(person1.index)]
    assert set(lost_person) <= set(moved.loc[moved["kind"] == "person", "old_id"])
    kept = person1.drop(lost_person.index)
    assert len(kept) > 0.99 * len(person1)
    # families are carried forward on records (a person merging into another of the same family
    # retires the person id, not the family's hold on the records), so compare family per record
    family_of1, family_of2 = person1.map(family1), person2.map(family2)
    lost_family = family_of1[family_of1 != family_of2.reindex(family_of1.index)]
    assert set(lost_family) <= set(moved.loc[moved["kind"] == "family", "old_id"])
    assert len(lost_family) < 0.05 * len(family_of1)

    # new records of people already known join those people's existing ids
    new = extracts.every["mention_id"][~extracts.every["mention_id"].isin(extracts.first["mention_id"])]
    known = pd.DataFrame({"truth": extracts.truth.reindex(person1.index).to_numpy(), "id": person1.to_numpy()})
    usual_id = known.groupby("truth")["id"].agg(lambda ids: ids.mode()[0])
    expected = extracts.truth.reindex(new).map(usual_id).dropna()
    assert len(expected) > 100
    assert (person2.reindex(expected.index) == expected).mean() >= 0.95

    record_link = warehouse.read("select * from reporting.record_link")
    assert len(record_link) == len(extracts.every)
    assert record_link["person_id"].notna().all() and record_link["family_id"].notna().all()


# -- review decisions ----------------------------------------------------------------------------


def _decisions_csv(rows: list[tuple[str, str, str, str]], path: Path) -> Path:
    """A filled-in review sheet: (mention a, mention b, decision, reviewer) per row."""
    sheet = pd.DataFrame(
        [(*a.split("|", 1), *b.split("|", 1), d, by) for a, b, d, by in rows],
        columns=[*DECISION_COLUMNS[:4], "decision", "decided_by"],
    )
    sheet.to_csv(path, index=False)
    return path


def _pick_pairs(wh: Warehouse) -> tuple[tuple[str, str], tuple[str, str]]:
    """An uncertain pair of two different persons, and an accepted link inside another person."""
    who = persons(wh)
    pairs = wh.read("select mention_id_l, mention_id_r, status, match_weight from linked.record_links")
    pairs = pairs.assign(p_l=pairs["mention_id_l"].map(who), p_r=pairs["mention_id_r"].map(who))
    review = pairs[(pairs["status"] == "review") & (pairs["p_l"] != pairs["p_r"])].iloc[0]
    inside = pairs[(pairs["status"] == "accepted") & (pairs["p_l"] == pairs["p_r"])
                   & ~pairs["p_l"].isin([review["p_l"], review["p_r"]])]
    accepted = inside.sort_values("match_weight").iloc[0]
    return (review["mention_id_l"], review["mention_id_r"]), (accepted["mention_id_l"], accepted["mention_id_r"])


@pytest.mark.slow
def test_review_decisions_merge_and_split_with_reasons_and_bind_later_runs(
    warehouse: Warehouse, extracts: Extracts, tmp_path: Path
) -> None:
    load(warehouse, extracts.first)
    link(warehouse, FIRST_AS_OF)
    (a, b), (c, d) = _pick_pairs(warehouse)
    before = persons(warehouse)
    assert before[a] != before[b] and before[c] == before[d]
    sheet = _decisions_csv([(a, b, "match", "Ann"), (c, d, "non-match", "Bob")], tmp_path / "d.csv")
    assert import_decisions(warehouse, sheet).added == 2

    run = link(warehouse, FIRST_AS_OF)  # no new records: only the decisions change persons
    now = persons(warehouse)
    assert now[a] == now[b] and now[c] != now[d]
    changes = events(warehouse, run["run_id"]).query("kind == 'person'")
    merged = changes[(changes["event"] == "merged") & changes["old_id"].isin([before[a], before[b]])]
    assert len(merged) == 1 and merged["reason"].iloc[0].startswith("review decision by Ann: ")
    split = changes[(changes["event"] == "split") & (changes["old_id"] == before[c])]
    assert len(split) == 1 and split["reason"].iloc[0].startswith("review decision by Bob: ")
    assert {now[c], now[d]} == {before[c], split["new_id"].iloc[0]}
    assert len(changes) == 2  # nothing else changed

    load(warehouse, extracts.every)
    link(warehouse, AS_OF)  # incremental: new records may touch these persons, decisions still bind
    later = persons(warehouse)
    assert later[a] == later[b] and later[c] != later[d]
    link(warehouse, AS_OF, full=True)  # retrained from scratch: the decisions still bind
    final = persons(warehouse)
    assert final[a] == final[b] and final[c] != final[d]
    assert [final[m] for m in (a, c, d)] == [later[m] for m in (a, c, d)]  # and the ids carry on


def test_bind_decisions_splits_on_the_weakest_link_keeping_identical_records_together() -> None:
    ids = ["a|1", "a|2", "a|3", "a|4", "a|5", "a|6", "b|1"]
    labels = pd.Series(["x"] * 6 + ["y"], index=ids)
    mentions = pd.DataFrame({"mention_id": ids, "first_name": ["A", "B", "C", "D", "E", "D", "F"],
                             "last_name": "SMITH", "dob": "2000-01-01"})  # a|6 is a|4 again
    links = pd.DataFrame({"mention_id_l": ["a|1", "a|2", "a|3"], "mention_id_r": ["a|2", "a|3", "a|4"],
                          "match_weight": [20.0, 5.0, 30.0]})
    log = _log(("a|1", "a|4", "non-match", "Bob"))
    bound = bind_decisions(labels, log, mentions, lambda nodes: links)
    out = bound.labels
    assert out["a|1"] == out["a|2"] == out["a|5"]  # a|5 is reached by no link: stays with a|1
    assert out["a|3"] == out["a|4"] == out["a|6"]
    assert out["a|1"] != out["a|4"] and out["b|1"] == "y"
    assert set(bound.reasons) == {"review decision by Bob"}
    assert bound.warnings == []


def test_bind_decisions_joins_matches_transitively_and_reports_contradictions() -> None:
    labels = pd.Series(["x", "y", "z", "w"], index=["a|1", "b|1", "c|1", "d|1"])
    mentions = pd.DataFrame({"mention_id": labels.index, "first_name": ["A", "B", "C", "D"], "dob": "2000-01-01"})
    none = lambda nodes: pd.DataFrame(columns=["mention_id_l", "mention_id_r", "match_weight"])  # noqa: E731
    joined = bind_decisions(labels, _log(("a|1", "b|1", "match", "Ann"), ("c|1", "b|1", "match", "Cy")),
                            mentions, none)
    assert joined.labels[["a|1", "b|1", "c|1"]].nunique() == 1 and joined.labels["d|1"] == "w"
    assert joined.reasons.tolist() == ["review decision by Ann, Cy"]
    contradiction = _log(("a|1", "b|1", "match", "Ann"), ("b|1", "c|1", "match", "Cy"),
                         ("a|1", "c|1", "non-match", "Bob"))
    bound = bind_decisions(labels, contradiction, mentions, none)
    assert bound.labels["a|1"] != bound.labels["c|1"]  # the non-match holds ...
    assert len(bound.warnings) == 1 and "could not hold" in bound.warnings[0]  # ... and says so


def test_an_answer_on_the_one_queued_pair_of_two_persons_binds_their_other_records() -> None:
    ids = ["a|1", "a|2", "b|1", "b|2"]
    labels = pd.Series(["x", "x", "y", "y"], index=ids)
    mentions = pd.DataFrame({"mention_id": ids, "first_name": ["A", "AA", "B", "BB"], "dob": "2000-01-01"})
    uncertain = pd.DataFrame({"mention_id_l": ["a|2", "a|1"], "mention_id_r": ["b|2", "b|1"],
                              "match_weight": [3.0, 1.0]})
    asked = build_queue(uncertain, persons=labels)
    assert asked[["mention_id_l", "mention_id_r"]].values.tolist() == [["a|2", "b|2"]]
    links = pd.DataFrame({"mention_id_l": ["a|1", "b|1", "a|1"], "mention_id_r": ["a|2", "b|2", "b|1"],
                          "match_weight": [20.0, 20.0, 8.0]})
    later = pd.Series("x", index=ids)  # a later run links a|1 and b|1, the pair nobody was shown
    kept_apart = bind_decisions(later, _log(("a|2", "b|2", "non-match", "Bob")), mentions, lambda nodes: links)
    assert kept_apart.labels["a|1"] == kept_apart.labels["a|2"] != kept_apart.labels["b|1"]
    assert kept_apart.labels["b|1"] == kept_apart.labels["b|2"]
    joined = bind_decisions(labels, _log(("a|2", "b|2", "match", "Ann")), mentions, lambda nodes: links)
    assert joined.labels.nunique() == 1  # both whole persons, a|1 and b|1 with them


def _log(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [(*a.split("|", 1), *b.split("|", 1), d, by, pd.Timestamp("2026-01-01", tz="UTC"), None)
         for a, b, d, by in rows],
        columns=DECISION_COLUMNS,
    )


# -- constraints -----------------------------------------------------------------------------------


def nhs_number(stem: str) -> str:
    """A valid NHS number (modulus 11 check digit) from 9 digits."""
    check = 11 - sum(int(d) * (10 - i) for i, d in enumerate(stem)) % 11
    assert check != 10, "no valid number with this stem"
    return stem + str(check % 11)


def _mentions(rows: list[dict], like: pd.DataFrame) -> pd.DataFrame:
    """Hand-made staging rows (raw names as standardised ones), columns as ``like``."""
    frame = pd.DataFrame(rows)
    frame["mention_id"] = frame["agency"] + "|" + frame["record_key"]
    frame = frame.assign(first_name_raw=frame["first_name"], last_name_raw=frame["last_name"],
                         file_id=999, row_number=range(1, len(frame) + 1), version=2026080199,
                         seen_date=date(2026, 7, 1), dob=pd.to_datetime(frame["dob"]).dt.date)
    frame = frame.reindex(columns=like.columns).astype(object)
    return frame.where(frame.notna(), None)


@pytest.mark.slow
def test_conflicting_identifiers_and_twins_stay_apart_even_through_a_shared_record(
    tmp_path: Path, extracts: Extracts
) -> None:
    same = {"last_name": "QUINTRELL", "dob": "1980-05-06", "sex": "M", "postcode": "NE11 4ZZ",
            "address": "5 HOLLOW LANE HALLBRIDGE"}
    twins = {"last_name": "ZORBANEK", "dob": "2012-03-04", "sex": "M", "postcode": "NE11 4ZY",
             "address": "9 HOLLOW LANE HALLBRIDGE"}
    rows = [
        # two people with the same name and address, birthdays a day apart, different NHS numbers ...
        {"agency": "health", "record_key": "RXT1", "first_name": "JAMES", "nhs_number": nhs_number("999000001"), **same},
        {"agency": "health", "record_key": "RXT2", "first_name": "JAMES", "nhs_number": nhs_number("999000002"),
         **{**same, "dob": "1980-05-07"}},
        # ... a mistyped NHS number that still validates, everything else exactly RXT1's (issue 13)
        {"agency": "health", "record_key": "RXT4", "first_name": "JAMES", "nhs_number": nhs_number("999000004"), **same},
        # ... and a benefit claim that matches RXT1 exactly, RXT2 but for a day
        {"agency": "dwp", "record_key": "CLT1", "first_name": "JAMES", "nino": "QQ123456C", **same},
        # twins, and a record without a first name that matches both of them
        {"agency": "police", "record_key": "OC/2026/999999|N9000001", "first_name": "OLIVER",
         "source_person_id": "police:N9000001", **twins},
        {"agency": "housing", "record_key": "TEN999|HP9000002", "first_name": "HARRY",
         "source_person_id": "housing:HP9000002", **twins},
        {"agency": "health", "record_key": "RXT3", "first_name": None, "nhs_number": nhs_number("999000003"), **twins},
    ]
    extra = _mentions(rows, extracts.first)
    wh = Warehouse.connect(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    wh.migrate()
    load(wh, pd.concat([extracts.first, extra], ignore_index=True))
    link(wh, FIRST_AS_OF)
    who = persons(wh)
    assert who["health|RXT1"] != who["health|RXT2"]
    assert who["health|RXT4"] == who["health|RXT1"]  # identifiers are evidence, not walls
    assert who["dwp|CLT1"] == who["health|RXT1"]  # it did link, with the exact one
    oliver, harry = who["police|OC/2026/999999|N9000001"], who["housing|TEN999|HP9000002"]
    assert oliver != harry
    assert who["health|RXT3"] in {oliver, harry}
    dropped = wh.read("select mention_id_l, mention_id_r from linked.record_links where status = 'dropped'")
    assert "health|RXT3" in set(dropped.to_numpy().ravel())


def _declarations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, changes: dict[str, str]) -> None:
    """An extra declaration folder replacing shipped declarations, each with one line changed."""
    from pipeline.ingest.agencies import DECLARATIONS
    for name, (old, new) in changes.items():
        text = (DECLARATIONS / f"{name}.yaml").read_text(encoding="utf-8")
        assert old in text
        (tmp_path / f"{name}.yaml").write_text(text.replace(old, new), encoding="utf-8")
    monkeypatch.setenv("FAMILYHUB_DECLARATIONS", str(tmp_path))


def test_a_persons_details_come_from_the_agency_its_declaration_trusts_most(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.linkage.link import _best_person_values
    mentions = pd.DataFrame({
        "person_id": ["P1"] * 3, "agency": ["police", "health", "newagency"],
        "seen_date": pd.to_datetime(["2026-06-01", "2025-01-01", "2026-09-01"]),
        "first_name_raw": ["Jon", "John", "Johnny"], "last_name_raw": ["Smith"] * 3,
        "dob": pd.to_datetime(["1980-01-01"] * 3), "sex": ["M"] * 3, "address": [None] * 3, "postcode": [None] * 3})
    assert _best_person_values(mentions)["first_name"].tolist() == ["John"]  # health 1, police 7, undeclared last
    _declarations(tmp_path, monkeypatch, {"police": ("trust: 7", "trust: 1"), "health": ("trust: 1", "trust: 8")})
    assert _best_person_values(mentions)["first_name"].tolist() == ["Jon"]


def test_explanations_are_each_pairs_levels_and_weights_as_json():
    """A pair's explanation is the JSON of its levels and rounded weights, whatever pairs share
    them: 0.0 and -0.0 stay apart, infinities and a missing weight are written as JSON does."""
    weights = [1.23449, -0.0004, 0.0, float("inf"), float("-inf"), float("nan"), 1.23449]
    pairs = pd.DataFrame({
        "dob": pd.Categorical(["exact", "exact", "exact", 'a "quoted" level', "exact", "else", "exact"]),
        "bf_dob": weights, "sex": pd.Categorical(["agree"] * 7), "bf_sex": [0.5] * 7,
    }, index=[4, 9, 2, 7, 1, 3, 8])
    expected = [json.dumps({"dob": [lv, round(w, 3)], "sex": ["agree", 0.5]})
                for lv, w in zip(pairs["dob"].astype(str), weights, strict=True)]
    explained = _explanations(pairs)
    assert explained.index.equals(pairs.index) and explained.tolist() == expected
    assert '"dob": ["exact", -0.0]' in explained[9] and '"dob": ["exact", 0.0]' in explained[2]
    assert _explanations(pairs.iloc[:0]).empty
