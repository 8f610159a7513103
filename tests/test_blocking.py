"""Blocking: streamed pairs equal a brute-force join, passes never repeat a pair, caps hold."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st_

from matching.blocking import Blocker, BlockingPass, add_blocking_keys


def pairs_of(blocker: Blocker, **kwargs: object) -> list[tuple[str, int, int]]:
    return [
        (b.pass_name, int(i), int(j))
        for b in blocker.pairs(**kwargs)
        for i, j in zip(b.left, b.right, strict=True)
    ]


def brute_force(
    frame: pd.DataFrame, keys: tuple[str, ...], other: tuple[str, ...] | None = None
) -> set:
    other = other or keys
    found = set()
    for i, j in itertools.combinations(range(len(frame)), 2):
        a, b = frame.iloc[i], frame.iloc[j]
        for x, y in ((a, b), (b, a)):
            lv, rv = [x[k] for k in keys], [y[k] for k in other]
            if all(pd.notna(v) for v in lv + rv) and lv == rv:
                found.add((i, j))
    return found


CODES = st_.sampled_from(["A", "B", "C", None])


@settings(max_examples=40, deadline=None)
@given(st_.lists(st_.tuples(CODES, CODES), min_size=2, max_size=25), st_.integers(1, 7))
def test_streamed_pairs_equal_brute_force(rows: list[tuple], batch: int) -> None:
    frame = pd.DataFrame(rows, columns=["x", "y"])
    passes = [
        BlockingPass("x", ("x",)),
        BlockingPass("xy_swapped", ("x", "y"), other_keys=("y", "x")),
    ]
    blocker = Blocker(frame, passes, max_block_size=1000, batch_pairs=batch)
    got = pairs_of(blocker, exclude_earlier=False)
    assert all(i < j for _, i, j in got)
    for p in passes:
        mine = [(i, j) for name, i, j in got if name == p.name]
        assert len(mine) == len(set(mine)), "a pass repeated a pair"
        assert set(mine) == brute_force(frame, p.keys, p.other_keys)


def test_later_passes_skip_pairs_found_earlier() -> None:
    frame = pd.DataFrame({"a": ["1", "1", "1", "2"], "b": ["x", "x", "y", "y"]})
    passes = [BlockingPass("a", ("a",)), BlockingPass("b", ("b",))]
    got = pairs_of(Blocker(frame, passes))
    assert sorted(got) == [("a", 0, 1), ("a", 0, 2), ("a", 1, 2), ("b", 2, 3)]


def test_oversized_blocks_are_split_then_dropped_and_reported() -> None:
    frame = pd.DataFrame(
        {
            "surname": ["SMITH"] * 6 + ["JONES"] * 2,
            "initial": ["J", "J", "J", "A", "B", None, "K", "K"],
        }
    )
    split = Blocker(frame, [BlockingPass("s", ("surname",), split_by="initial")], max_block_size=3)
    got = {(i, j) for _, i, j in pairs_of(split)}
    assert got == {(0, 1), (0, 2), (1, 2), (6, 7)}
    report = split.block_report().loc["s"]
    assert report["split_blocks"] == 1
    assert report["worst_keys"][0] == "SMITH"
    dropped = Blocker(frame, [BlockingPass("s", ("surname",))], max_block_size=3)
    assert {(i, j) for _, i, j in pairs_of(dropped)} == {(6, 7)}
    assert dropped.block_report().loc["s", "dropped_blocks"] == 1


def test_focus_keeps_only_pairs_touching_new_records() -> None:
    frame = pd.DataFrame({"k": ["a"] * 4 + ["b"] * 2})
    focus = np.array([False, False, True, False, False, False])
    got = {(i, j) for _, i, j in pairs_of(Blocker(frame, [BlockingPass("k", ("k",))]), focus=focus)}
    assert got == {(0, 2), (1, 2), (2, 3)}


def test_default_keys_find_swapped_dates_and_names() -> None:
    mentions = pd.DataFrame(
        {
            "first_name": ["JOHN", "JOHN", "SMITH", "ANNA"],
            "last_name": ["SMITH", "SMITH", "JOHN", "BELL"],
            "dob": pd.to_datetime(["1990-03-04", "1990-04-03", None, "1990-03-04"]),
        }
    )
    keys = add_blocking_keys(mentions)
    assert keys.loc[0, "dob_dm_swapped"] == "1990-04-03"
    assert pd.isna(keys.loc[2, "dob_dm_swapped"])
    passes = [
        BlockingPass(
            "dob_dm_swapped",
            ("dob_dm_swapped", "first_initial"),
            other_keys=("dob", "first_initial"),
        ),
        BlockingPass(
            "names_swapped", ("first_name", "last_name"), other_keys=("last_name", "first_name")
        ),
    ]
    got = pairs_of(Blocker(keys, passes))
    assert ("dob_dm_swapped", 0, 1) in got
    assert ("names_swapped", 0, 2) in got and ("names_swapped", 1, 2) in got
    assert not any(3 in (i, j) for _, i, j in got)


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(KeyError, match="blocking fields"):
        Blocker(pd.DataFrame({"a": [1]}), [BlockingPass("b", ("b",))])


def test_completeness_counts_true_pairs_each_pass_finds() -> None:
    from matching.matcher import Matcher, MatchSettings

    mentions = pd.DataFrame(
        {
            "mention_id": ["a", "b", "c", "d", "e"],
            "agency": ["health", "police", "schools", "health", "dwp"],
            "first_name": ["ANNA", "ANNA", "ANNA", "BOB", "ROBERT"],
            "last_name": ["JONES", "JONES", "JONES", "LEE", "LEE"],
            "dob": ["2001-02-03", "2001-02-03", "2001-03-02", "1970-01-01", "1980-06-07"],
            "nhs_number": ["9434765919", None, None, None, None],
            "postcode": ["SW1A 1AA"] * 4 + ["M1 1AE"],
        }
    )
    truth = pd.Series(["p1", "p1", "p1", "p2", "p2"])  # d and e share nothing blocking sees
    report = Matcher(MatchSettings()).blocking.completeness(mentions, truth)
    assert report.attrs["true_pairs"] == 4
    assert report["true_pairs_added"].sum() == 3  # a-b, a-c, b-c; never d-e
    assert report["completeness"].iloc[-1] == pytest.approx(0.75)
    assert report["completeness"].is_monotonic_increasing
    assert (report["true_pairs_added"] <= report["pairs_added"]).all()


def test_records_without_any_date_of_birth_still_link() -> None:
    from matching.matcher import Matcher, MatchSettings

    mentions = pd.DataFrame(
        {
            "mention_id": ["a", "b"],
            "agency": ["health", "police"],
            "first_name": ["ANN", "ANN"],
            "last_name": ["LEE", "LEE"],
            "dob": [None, None],
            "postcode": ["SW1A 1AA", "SW1A 1AA"],
        }
    )
    keys = add_blocking_keys(mentions.assign(dob=pd.to_datetime(mentions["dob"])))
    assert keys[["dob", "dob_year", "dob_dm_swapped"]].isna().all().all()
    clusters = Matcher(MatchSettings()).link_persons(mentions).clusters
    assert set(clusters["mention_id"]) == {"a", "b"}


def test_default_passes_survive_any_single_error_the_first_letter_included() -> None:
    """Each pair carries one error of real records (issue 13) and must still be a candidate;
    the last pair (different people, nothing shared) must not be."""
    from matching.matcher import Matcher

    rows = [  # (first, last, dob, postcode)
        ("CAITLIN", "EVANS", "2004-04-26", "NE3 1AF"), ("SAITLIN", "EVANS", "2004-04-26", None),
        ("LINDA", "HAYSHAW", "2008-11-01", None), ("LINDA", "GAYSHAW", "2008-11-01", None),
        ("TYLER", "HAYLEY", "2011-06-25", "NE3 9AQ"), ("TYLER", "JACKSON", "1900-01-01", "NE3 9AQ"),
        ("AMY", "CLARK", "2011-05-12", "DH3 9AD"), ("AMY", "HESTER", None, "DH3 9AD"),
        ("ELIZABETH", "CHATLEY", "1959-10-23", None), ("CHATLEY", "ELIZABETH", "1959-10-23", None),
        ("MARK", "DAVIES", "1987-10-15", "NE16 1AE"), ("SUSAN", "OKAFOR", "1962-03-09", "DH1 2AB"),
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["first_name", "last_name", "dob", "postcode"])
    frame.insert(0, "mention_id", [f"m{i}" for i in range(len(frame))])
    pairs = Matcher().blocking.pairs(frame.assign(agency="x"))
    found = {tuple(sorted(p)) for p in zip(pairs["mention_id_l"], pairs["mention_id_r"], strict=True)}
    for i in range(0, 10, 2):
        assert (f"m{i}", f"m{i + 1}") in found, rows[i]
    assert ("m10", "m11") not in found
