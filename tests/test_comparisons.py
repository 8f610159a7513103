"""Comparison levels: declared order, null rules, names, dates, places, identifiers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st_

from matching.comparisons import (
    DEFAULT_COMPARISONS,
    Comparer,
    Comparison,
    Condition,
    FieldTable,
    Level,
    load_nicknames,
)

FIELDS = sorted(set().union(*(c.fields for c in DEFAULT_COMPARISONS)))


def frame(*rows: dict) -> pd.DataFrame:
    out = pd.DataFrame(list(rows))
    for name in FIELDS:
        if name not in out:
            out[name] = None
    return out


def level_of(left: dict, right: dict, comparison: str) -> str:
    """The level label a pair of records gets on one default comparison."""
    table = FieldTable(frame(left, right), FIELDS)
    comparer = Comparer(table, DEFAULT_COMPARISONS)
    levels = comparer.levels(np.array([0]), np.array([1]))
    k = comparer.names.index(comparison)
    return DEFAULT_COMPARISONS[k].labels[levels[0, k]]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("WILLIAM", "WILLIAM", "exact"),
        ("BILL", "WILLIAM", "nickname"),
        ("HARRY", "HENRY", "nickname"),
        ("PEGGY", "MARGARET", "nickname"),
        ("WILLAIM", "WILLIAM", "jw92"),
        ("J", "JAMES", "initial"),
        ("HENRY", "HAROLD", "else"),
        ("MAJA", "ZBIGNIEW", "else"),
        (None, "JAMES", "null"),
    ],
)
def test_first_name_levels(a: str | None, b: str, expected: str) -> None:
    assert (
        level_of(
            {"first_name": a, "last_name": "X"}, {"first_name": b, "last_name": "X"}, "first_name"
        )
        == expected
    )


def test_swapped_names_agree_on_both_name_comparisons() -> None:
    left = {"first_name": "SMITH", "last_name": "JOHN"}
    right = {"first_name": "JOHN", "last_name": "SMITH"}
    assert level_of(left, right, "first_name") == "swapped"
    assert level_of(left, right, "last_name") == "swapped"


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("SMITH-JONES", "JONES", "token"),
        ("SMITH JONES", "SMITH", "token"),
        ("WRIGHT", "WRIGTH", "jw92"),
        ("OKAFOR", "BROWN", "else"),
    ],
)
def test_surname_levels(a: str, b: str, expected: str) -> None:
    assert (
        level_of(
            {"first_name": "A", "last_name": a}, {"first_name": "A", "last_name": b}, "last_name"
        )
        == expected
    )


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1990-03-04", "1990-03-04", "exact"),
        ("1990-03-04", "1990-04-03", "dm_swap"),
        ("1990-03-04", "1991-03-04", "year_off_one"),
        ("1990-03-04", "1990-03-14", "one_field"),
        ("1990-03-04", "1985-07-21", "else"),
        ("1990-03-04", None, "null"),
    ],
)
def test_date_of_birth_levels(a: str, b: str | None, expected: str) -> None:
    assert level_of({"dob": a}, {"dob": b}, "dob") == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (("NE15 6AF", "NE15 6", "NE15"), ("NE15 6AF", "NE15 6", "NE15"), "exact"),
        (("NE15 6AF", "NE15 6", "NE15"), ("NE15 6BG", "NE15 6", "NE15"), "sector"),
        (("NE15 6AF", "NE15 6", "NE15"), ("NE15 9ZZ", "NE15 9", "NE15"), "district"),
        (("NE15 6AF", "NE15 6", "NE15"), ("DH1 1AA", "DH1 1", "DH1"), "else"),
    ],
)
def test_postcode_levels(a: tuple, b: tuple, expected: str) -> None:
    keys = ("postcode", "postcode_sector", "postcode_district")
    assert (
        level_of(dict(zip(keys, a, strict=True)), dict(zip(keys, b, strict=True)), "postcode")
        == expected
    )


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (("14A HIGH STREET", "14A"), ("14A HIGH STREET", "14A"), "exact"),
        (("14A HIGH STREET", "14A"), ("14A HIGH ST LEEDS", "14A"), "number_fuzzy"),
        (("14A HIGH STREET", "14A"), ("14C HIGH STREET", "14C"), "else"),
    ],
)
def test_address_numbers_must_agree(a: tuple, b: tuple, expected: str) -> None:
    keys = ("address", "address_number")
    assert (
        level_of(dict(zip(keys, a, strict=True)), dict(zip(keys, b, strict=True)), "address")
        == expected
    )


def test_identifiers_agree_disagree_or_are_null() -> None:
    assert level_of({"nhs_number": "1"}, {"nhs_number": "1"}, "nhs_number") == "exact"
    assert level_of({"nhs_number": "1"}, {"nhs_number": "2"}, "nhs_number") == "else"
    assert level_of({"nhs_number": "1"}, {"nhs_number": None}, "nhs_number") == "null"


def test_agency_ids_compare_only_within_their_agency() -> None:
    police = {"agency": "police", "source_person_id": "police:N1"}
    assert (
        level_of(police, {"agency": "police", "source_person_id": "police:N2"}, "source_person_id")
        == "else"
    )
    assert (
        level_of(police, {"agency": "yot", "source_person_id": "yot:7"}, "source_person_id")
        == "null"
    )


def test_declarations_are_validated() -> None:
    with pytest.raises(ValueError, match="else"):
        Comparison("x", (Level("exact", (Condition("exact", ("x",)),)),))
    with pytest.raises(ValueError, match="unknown comparison method"):
        Condition("soundalike", ("x",))
    with pytest.raises(KeyError, match="lacks fields"):
        Comparer(FieldTable(pd.DataFrame({"x": ["a"]}), ["x"]), DEFAULT_COMPARISONS)


def test_nickname_table_is_shipped_and_sizeable() -> None:
    table = load_nicknames()
    assert len(table) >= 300
    assert {"BILL", "WILLIAM"} <= set(table["nickname"]) | set(table["name"])


NAMES = st_.sampled_from(["JOHN", "JON", "JONATHAN", "BILL", "WILLIAM", "ANNE", "ANN", "J", None])


@settings(max_examples=50, deadline=None)
@given(st_.lists(st_.tuples(NAMES, NAMES), min_size=1, max_size=30))
def test_batch_levels_equal_pairwise_levels(pairs: list[tuple]) -> None:
    """Evaluating many pairs at once (with caching and row subsets) matches one at a time."""
    rows = [
        r
        for a, b in pairs
        for r in ({"first_name": a, "last_name": "X"}, {"first_name": b, "last_name": "X"})
    ]
    comparer = Comparer(FieldTable(frame(*rows), FIELDS), DEFAULT_COMPARISONS)
    left = np.arange(0, len(rows), 2)
    batch = comparer.levels(left, left + 1)
    single = np.vstack([comparer.levels(np.array([i]), np.array([i + 1])) for i in left])
    assert (batch == single).all()
