"""Stable ids: carried by overlap, minted deterministically, merges and splits recorded."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from matching.lineage import EVENT_COLUMNS, carry_forward


def clusters(**members: str) -> pd.Series:
    """Provisional clusters as ``key=label``."""
    return pd.Series(members, dtype=object)


@pytest.fixture
def first_run():
    current = clusters(m1="a", m2="a", m3="b", m4="c", m5="c", m6="c")
    return carry_forward(current, None, prefix="P", run_id="run1")


def test_first_run_mints_opaque_ids_and_records_creation(first_run) -> None:
    ids = first_run.ids
    assert ids["m1"] == ids["m2"] != ids["m3"]
    assert ids["m4"] == ids["m5"] == ids["m6"]
    assert ids.nunique() == 3
    assert all(re.fullmatch(r"P[0-9a-f]{10}", i) for i in ids.unique())
    assert list(first_run.events.columns) == EVENT_COLUMNS
    assert sorted(first_run.events["event"]) == ["created"] * 3
    assert set(first_run.events["new_id"]) == set(ids.unique())
    assert (first_run.events["run_id"] == "run1").all()


def test_ids_do_not_come_from_labels_or_row_order(first_run) -> None:
    relabelled = clusters(m6="z", m2="y", m5="z", m1="y", m4="z", m3="q")
    again = carry_forward(relabelled, None, prefix="P", run_id="run1")
    pd.testing.assert_series_equal(again.ids.sort_index(), first_run.ids.sort_index())


def test_same_input_twice_gives_same_ids_and_events(first_run) -> None:
    current = clusters(m1="x", m2="x", m3="x", m4="y", m7="y", m5="z", m6="z")
    one = carry_forward(current, first_run.ids, prefix="P", run_id="run2")
    two = carry_forward(current, first_run.ids, prefix="P", run_id="run2")
    pd.testing.assert_series_equal(one.ids, two.ids)
    pd.testing.assert_frame_equal(one.events, two.events)


def test_second_run_with_new_records_keeps_ids(first_run) -> None:
    current = clusters(m1="a2", m2="a2", m7="a2", m3="b2", m4="c2", m5="c2", m6="c2", m8="d2")
    second = carry_forward(current, first_run.ids, prefix="P", run_id="run2")
    old = first_run.ids
    for key in ("m1", "m2", "m3", "m4", "m5", "m6"):
        assert second.ids[key] == old[key]
    assert second.ids["m7"] == old["m1"]  # a new record joined an existing person
    assert second.ids["m8"] not in set(old)
    events = second.events
    assert events[["event", "new_id", "n_keys"]].values.tolist() == [
        ["created", second.ids["m8"], 1]
    ]


def test_a_rerun_on_its_own_output_changes_nothing(first_run) -> None:
    current = clusters(m1="a", m2="a", m3="b", m4="c", m5="c", m6="c")
    rerun = carry_forward(current, first_run.ids, prefix="P", run_id="run2")
    pd.testing.assert_series_equal(rerun.ids, first_run.ids)
    assert rerun.events.empty


def test_merge_keeps_the_largest_overlap_and_is_recorded(first_run) -> None:
    old = first_run.ids
    # the persons of m3 (1 key) and m4-m6 (3 keys) turn out to be one person
    current = clusters(m1="a", m2="a", m3="bc", m4="bc", m5="bc", m6="bc")
    merged = carry_forward(
        current, old, prefix="P", run_id="run2", reasons={"bc": "NHS number agrees"}
    )
    assert merged.ids["m3"] == old["m4"]
    events = merged.events
    assert len(events) == 1
    event = events.iloc[0]
    assert (event["event"], event["old_id"], event["new_id"], event["n_keys"]) == (
        "merged",
        old["m3"],
        old["m4"],
        1,
    )
    assert event["reason"].startswith("NHS number agrees: ")


def test_split_keeps_the_id_on_the_larger_part_and_is_recorded(first_run) -> None:
    old = first_run.ids
    current = clusters(m1="a", m2="a", m3="b", m4="c", m5="c", m6="d")
    split = carry_forward(current, old, prefix="P", run_id="run2")
    assert split.ids["m4"] == split.ids["m5"] == old["m4"]
    assert split.ids["m6"] not in set(old)
    events = split.events
    assert events[["event", "old_id", "new_id", "n_keys"]].values.tolist() == [
        ["split", old["m4"], split.ids["m6"], 1]
    ]


def test_part_of_one_person_moving_to_another_is_a_split(first_run) -> None:
    old = first_run.ids
    current = clusters(m1="a", m2="a", m3="b", m4="b", m5="c", m6="c")
    moved = carry_forward(current, old, prefix="P", run_id="run2")
    assert moved.ids["m4"] == old["m3"]
    assert moved.ids["m5"] == old["m5"]
    assert moved.events[["event", "old_id", "new_id"]].values.tolist() == [
        ["split", old["m4"], old["m3"]]
    ]


def test_ties_are_broken_by_data_not_by_labels(first_run) -> None:
    old = first_run.ids
    # m1/m2 split evenly: whichever half keeps the id must not depend on labels
    one = carry_forward(clusters(m1="x", m2="y"), old[["m1", "m2"]], prefix="P", run_id="r")
    two = carry_forward(clusters(m1="k", m2="j"), old[["m1", "m2"]], prefix="P", run_id="r")
    pd.testing.assert_series_equal(one.ids, two.ids)
    assert sorted(one.events["event"]) == ["split"]


def test_vanished_ids_are_retired_and_never_reissued(first_run) -> None:
    old = first_run.ids
    current = clusters(m1="a", m2="a", m4="c", m5="c", m6="c")
    retired = carry_forward(current, old, prefix="P", run_id="run2")
    assert retired.events[["event", "old_id"]].values.tolist() == [["retired", old["m3"]]]
    # m3 comes back alone: same content as its old cluster, but the old id is reserved
    back = carry_forward(
        clusters(m3="b"), retired.ids, prefix="P", run_id="run3", reserved=set(old)
    )
    assert back.ids["m3"] != old["m3"]
    # the history may instead be asked which of the minted ids it holds: the same ids
    asked = []
    lookup = carry_forward(
        clusters(m3="b"), retired.ids, prefix="P", run_id="run3",
        reserved=lambda ids: asked.append(list(ids)) or [i for i in ids if i in set(old)],
    )
    pd.testing.assert_series_equal(lookup.ids, back.ids)
    assert asked[0] == [old["m3"]] and len(asked) == 2  # the clash, then its re-hash


def test_minted_ids_never_clash_with_ids_in_use_or_reserved() -> None:
    natural = carry_forward(clusters(m2="b"), None, prefix="F", run_id="r1").ids["m2"]
    # another family already holds the id that {m2} would be given
    in_use = carry_forward(
        clusters(m2="b", m9="c"), pd.Series({"m9": natural}), prefix="F", run_id="r2"
    )
    assert in_use.ids["m9"] == natural
    assert in_use.ids["m2"] != natural
    assert re.fullmatch(r"F[0-9a-f]{10}", in_use.ids["m2"])
    reserved = carry_forward(clusters(m2="b"), None, prefix="F", run_id="r2", reserved=[natural])
    assert reserved.ids["m2"] not in {natural}
    assert re.fullmatch(r"F[0-9a-f]{10}", reserved.ids["m2"])


def test_generic_for_families_keyed_by_person() -> None:
    previous = pd.Series({"P1": "F1", "P2": "F1", "P3": "F2"})
    households = pd.Series({"P1": 0, "P2": 0, "P3": 0, "P4": 1})
    result = carry_forward(households, previous, prefix="F", run_id="r2")
    assert result.ids[["P1", "P2", "P3"]].tolist() == ["F1"] * 3
    assert result.ids["P4"].startswith("F")
    assert set(result.events["event"]) == {"merged", "created"}


def test_rejects_duplicate_keys() -> None:
    with pytest.raises(ValueError, match="unique"):
        carry_forward(pd.Series(["a", "b"], index=["m1", "m1"]), None, prefix="P", run_id="r")
