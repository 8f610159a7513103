"""Cases follow family lineage: merges carry the attachment, splits cover every part until decided."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.programme.cases import decide, follow, open_reviews
from pipeline.programme.keyworkers import attach, close, current, episodes
from pipeline.warehouse.engine import Warehouse

duckdb_only = pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
ON = date(2026, 5, 1)


@pytest.fixture
def wh(warehouse: Warehouse) -> Warehouse:
    with warehouse.begin() as conn:
        warehouse.insert(conn, "linked.families", pd.DataFrame({"family_id": ["F1", "F2", "F3"], "n_members": 2}))
    return warehouse


def run(wh: Warehouse, run_id: str, *events: tuple[str, str, str | None]) -> dict[str, int]:
    """Follow one link run whose family lineage is ``(event, old_id, new_id)``."""
    lineage = pd.DataFrame([{"kind": "family", "event": e, "old_id": o, "new_id": n, "n_keys": 3}
                            for e, o, n in events])
    with wh.begin() as conn:
        return follow(wh, conn, lineage, run_id)


def covers(wh: Warehouse) -> dict[str, set[str]]:
    rows = wh.read("select case_id, family_id from cohort.case_families")
    return rows.groupby("case_id")["family_id"].agg(set).to_dict()


def test_a_merged_family_carries_its_attachment_and_history_says_so(wh: Warehouse):
    case = attach(wh, "F1", "Ann", ON).case_id
    run(wh, "r1", ("merged", "F1", "F9"))
    assert covers(wh) == {case: {"F9"}}
    assert current(wh, "F9").key_worker == "Ann" and current(wh, "F1") is None
    history = wh.read("select event, family_id, from_family_id, detail from cohort.case_events order by recorded_at")
    assert history["event"].tolist() == ["attached", "followed"]
    assert "merged into F9: the case follows F9" in history["detail"].iloc[-1]
    assert open_reviews(wh)[["case_id", "kind"]].values.tolist() == [[case, "merged"]]
    assert wh.read("select key_worker from reporting.family_view where family_id = 'F9'").empty  # not in linked


def test_a_split_family_is_covered_in_every_part_until_the_coordinator_decides(wh: Warehouse):
    case = attach(wh, "F1", "Ann", ON).case_id
    run(wh, "r1", ("split", "F1", "F2"))
    assert covers(wh) == {case: {"F1", "F2"}}
    assert set(episodes(wh)["family_id"]) == {"F1", "F2"}
    review = open_reviews(wh).iloc[0]
    assert (review["kind"], review["families"]) == ("split", "F1,F2")
    with pytest.raises(ValueError, match="cannot keep F3"):
        decide(wh, review["review_id"], "Coordinator", keep=["F3"])
    assert decide(wh, review["review_id"], "Coordinator", keep=["F2"]) == ["F2"]
    assert covers(wh) == {case: {"F2"}} and open_reviews(wh).empty
    assert wh.read("select event from cohort.case_events order by recorded_at")["event"].tolist()[-1] == "decided"


def test_two_attached_families_merging_raise_a_review_for_both_and_both_keep_seeing(wh: Warehouse):
    ann, bob = attach(wh, "F1", "Ann", ON).case_id, attach(wh, "F2", "Bob", ON).case_id
    run(wh, "r1", ("merged", "F2", "F1"))
    assert covers(wh) == {ann: {"F1"}, bob: {"F1"}}
    open_now = episodes(wh)
    assert set(open_now.loc[open_now["family_id"] == "F1", "key_worker"]) == {"Ann", "Bob"}
    reviews = open_reviews(wh).set_index("case_id")
    assert set(reviews["kind"]) == {"shared"} and reviews.at[ann, "other_cases"] == bob
    with pytest.raises(ValueError, match="attached to"):
        attach(wh, "F1", "Cat", ON)  # the family is covered by an open case


@duckdb_only
def test_closed_cases_follow_quietly_and_retired_families_are_lost(wh: Warehouse):
    case = attach(wh, "F1", "Ann", ON).case_id
    close(wh, "F1", date(2026, 6, 1))
    assert run(wh, "r1", ("split", "F1", "F2")) == {"moved": 1, "reviews": 0}
    run(wh, "r2", ("retired", "F2", None), ("merged", "F1", "F3"))
    assert covers(wh) == {case: {"F3"}}
    assert attach(wh, "F3", "Bob", date(2026, 7, 1)).case_id == case  # same case, new episode
    assert run(wh, "r3", ("created", None, "F4")) == {"moved": 0, "reviews": 0}


@duckdb_only
def test_cli_lists_and_decides_review_items(wh: Warehouse, warehouse_url: str):
    case = attach(wh, "F1", "Ann", ON).case_id
    run(wh, "r1", ("split", "F1", "F2"))
    listed = CliRunner().invoke(main, ["cases", "--warehouse", warehouse_url])
    assert listed.exit_code == 0 and f"split   case {case}" in listed.output and "1 open review item" in listed.output
    review = open_reviews(wh)["review_id"].iloc[0]
    no_name = CliRunner().invoke(main, ["cases", "--decide", review, "--warehouse", warehouse_url])
    assert no_name.exit_code == 2 and "--by" in no_name.output
    done = CliRunner().invoke(main, ["cases", "--decide", review, "--keep", "F1", "--by", "Jo",
                                     "--warehouse", warehouse_url])
    assert done.exit_code == 0 and "keeps F1" in done.output and covers(wh) == {case: {"F1"}}
