"""Households: placement at the latest address, each grouping rule, the giant-component guards."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from household_fixtures import (
    AS_OF,
    HIGH_ST,
    LOW_RD,
    event,
    family_of,
    households,
    mention,
    reasons,
)

from matching.households import (
    address_keys,
    build_households,
)
from matching.households.graph import _joins_two_homes
from matching.standardise import standardise_address


def test_address_keys_compare_flat_numbers_explicitly() -> None:
    keys = address_keys(
        pd.Series(
            [
                "Flat 14A, 3 Low Rd",
                "FLAT 14 A 3 LOW ROAD",
                "FLAT 14C 3 LOW ROAD",
                "FLAT B 3 LOW RD",
                None,
            ]
        ),
        pd.Series(["LS2 2BB"] * 5),
    )
    assert keys[0] == keys[1]
    assert keys[0] != keys[2]
    assert len({keys[0], keys[2], keys[3]}) == 3
    assert keys[4] is None
    flats = address_keys(
        pd.Series(["FLAT 1 2 KEATS GROVE", "Flat 2, 1 Keats Grove"]), pd.Series(["NE15 1AG"] * 2)
    )
    assert flats[0] != flats[1]


def test_address_keys_read_st_as_the_address_normaliser_does() -> None:
    """One normaliser: ST is STREET ending a street name, SAINT starting one, as in
    standardise_address, so a raw address and its standardised form share a key."""
    raw = pd.Series(["12 High St, Leeds", "3 St Johns Rd", "Flat 2, 7 St Marys Grn", "5 Kings Sq"])
    postcode = pd.Series(["LS1 1AA"] * len(raw))
    keys = address_keys(raw, postcode)
    assert keys.tolist() == address_keys(standardise_address(raw), postcode).tolist()
    assert keys[0] == address_keys(pd.Series(["12 HIGH STREET"]), postcode[:1])[0]
    assert keys[1] == address_keys(pd.Series(["3 SAINT JOHNS ROAD"]), postcode[:1])[0]
    assert keys[1].endswith("|SAINT JOHNS")  # was STREET JOHNS: keys disagreed with linkage


def test_flat_14a_and_14c_are_not_merged() -> None:
    rows = [
        mention("a", address="FLAT 14A 3 LOW ROAD", postcode="LS2 2BB", last_name="SMITH"),
        mention("b", address="Flat 14 A, 3 Low Rd", postcode="LS2 2BB", last_name="SMITH"),
        mention("c", address="FLAT 14C 3 LOW ROAD", postcode="LS2 2BB", last_name="SMITH"),
    ]
    result = households(rows)
    assert family_of(result, "a") == {"a", "b"}
    assert family_of(result, "c") == {"c"}


def test_mover_is_placed_at_the_latest_address() -> None:
    rows = [
        mention("old_partner", "2019-03-01", last_name="BROWN", **HIGH_ST),
        mention("mover", "2019-03-01", last_name="BROWN", **HIGH_ST),
        mention("mover", "2024-09-01", last_name="BROWN", **LOW_RD),
        mention("new_partner", "2024-10-01", last_name="BROWN", **LOW_RD),
    ]
    now = households(rows)
    assert family_of(now, "mover") == {"mover", "new_partner"}
    placed = now.members.set_index("person_id").loc["mover"]
    assert placed["postcode"] == "LS2 2BB"
    assert placed["located_on"] == pd.Timestamp("2024-09-01")
    # evaluated before the move, the mover still lives at the old address
    before = households(rows, as_of="2022-01-01")
    assert family_of(before, "mover") == {"mover", "old_partner"}


def test_a_bare_postcode_keeps_the_address_seen_at_that_postcode() -> None:
    rows = [
        mention("mum", "2023-01-01", last_name="KHAN", **HIGH_ST),
        mention("son", "2023-01-01", last_name="KHAN", **HIGH_ST),
        mention("son", "2025-01-01", last_name="KHAN", postcode="LS1 1AA"),  # health: postcode only
        mention("dad", "2023-01-01", last_name="KHAN", **HIGH_ST),
        mention("dad", "2025-01-01", last_name="KHAN", postcode="LS9 9ZZ"),  # moved away
    ]
    result = households(rows)
    assert family_of(result, "son") == {"mum", "son"}
    assert family_of(result, "dad") == {"dad"}


GREEN_AVE = {"address": "7 GREEN AVENUE", "postcode": "NE15 8AA", "uprn": "100061626586"}
BRONTE_DR = {"address": "35 BRONTE DRIVE", "postcode": "NE14 5AF"}


def test_a_current_tenancy_outranks_a_later_stale_postcode() -> None:
    """H000361: mother and child share a current tenancy; her later health record (and his
    school's last term) still show the old address."""
    tenancy = {"group_kind": "tenancy", "group_ref": "housing:T1", "tenancy_current": True}
    rows = [
        mention("mum", "2020-08-24", last_name="GARMORE", postcode="NE14 5AF"),  # dwp
        mention("mum", "2025-07-13", last_name="GARMORE", **tenancy, **GREEN_AVE),
        mention("mum", "2025-12-05", last_name="GARMORE", postcode="NE14 5AF"),  # health, stale
        mention("isla", "2025-07-13", last_name="GARMORE", **tenancy, **GREEN_AVE),
        mention("isla", "2026-01-01", last_name="GARMORE", **BRONTE_DR),  # school, stale
        mention("neighbour", "2025-11-01", last_name="OTHER", **BRONTE_DR),
    ]
    result = households(rows)
    assert family_of(result, "mum") == {"mum", "isla"}
    assert set(result.members.set_index("person_id").loc[["mum", "isla"], "postcode"]) == {
        "NE15 8AA"
    }
    assert family_of(result, "neighbour") == {"neighbour"}


def test_a_new_address_first_seen_later_wins_over_a_stale_latest_record() -> None:
    """H000231: the child's latest record is health at the old postcode; the school has the
    new address, where the school's named contact lives."""
    school = {"contact_first_name": "LINDA", "contact_last_name": "THORNWOOD"}
    rows = [
        mention("ruby", "2024-09-01", last_name="HAYSTEAD", **school, **LOW_RD),
        mention("ruby", "2025-09-01", last_name="HAYSTEAD", **school, **HIGH_ST),
        mention("ruby", "2025-11-02", last_name="HAYSTEAD", postcode="LS1 1AA"),  # health
        mention("ruby", "2026-01-20", last_name="HAYSTEAD", postcode="LS2 2BB"),  # health, stale
        mention(
            "linda", "2025-12-03", first_name="LINDA", last_name="THORNWOOD", postcode="LS1 1AA"
        ),
    ]
    result = households(rows)
    assert result.members.set_index("person_id").at["ruby", "postcode"] == "LS1 1AA"
    assert family_of(result, "ruby") == {"ruby", "linda"}


def test_a_stale_record_cannot_outrank_a_genuine_move() -> None:
    rows = [
        mention("mover", "2023-01-01", last_name="BLACK", **HIGH_ST),  # school
        mention("mover", "2025-03-01", last_name="BLACK", postcode="LS2 2BB"),  # health: moved
        mention("mover", "2025-09-01", last_name="BLACK", postcode="LS2 2BB"),
        mention("old_flatmate", "2025-10-01", last_name="BLACK", **HIGH_ST),
    ]
    assert households(rows).members.set_index("person_id").at["mover", "postcode"] == "LS2 2BB"
    assert family_of(households(rows), "mover") == {"mover"}
    # the old address seen again by a stronger record after the new one appeared wins back
    back = [*rows, mention("mover", "2025-10-01", last_name="BLACK", **HIGH_ST)]
    assert family_of(households(back), "mover") == {"mover", "old_flatmate"}


def test_a_closed_claim_shows_the_address_of_its_end() -> None:
    claim = mention("dad", "2015-09-20", last_name="WOOD", postcode="LS2 2BB")  # dwp, closed 2025
    rows = [
        mention("dad", "2017-11-12", last_name="WOOD", **HIGH_ST),  # police, before the move
        claim,
        mention("son", "2025-06-01", last_name="WOOD", **LOW_RD),
    ]
    events = [event(claim, "JSA", end="2025-08-01")]
    # by its start date the claim looks older than the police record
    assert family_of(households(rows, surname_expected=float("inf")), "dad") == {"dad"}
    anything = {"surname_expected": float("inf")}  # chance is not the question here
    assert family_of(households(rows, events=events, **anything), "dad") == {"dad", "son"}


def test_a_tenancy_is_current_as_of_the_evaluation_date() -> None:
    tenancy = {"group_kind": "tenancy", "group_ref": "housing:T1", "tenancy_current": False}
    rows = [
        mention("lead", "2020-01-01", last_name="ONE", **tenancy, **GREEN_AVE),
        mention("lodger", "2020-01-01", last_name="TWO", **tenancy, **GREEN_AVE),
    ]
    ended = [event(r, "TENANCY", end="2025-06-30") for r in rows]
    # ended by the extract date, but still current on an earlier evaluation date
    before = households(rows, as_of="2025-01-01", events=ended, link_co_residents=False)
    assert family_of(before, "lead") == {"lead", "lodger"}
    after = households(rows, as_of="2025-12-31", events=ended, link_co_residents=False)
    assert family_of(after, "lead") == {"lead"}


def test_current_tenancy_members_are_one_household() -> None:
    tenancy = {"group_kind": "tenancy", "uprn": "100023", **HIGH_ST}
    rows = [
        mention("lead", last_name="ONE", group_ref="housing:T1", tenancy_current=True, **tenancy),
        mention("lodger", last_name="TWO", group_ref="housing:T1", tenancy_current=True, **tenancy),
        mention(
            "ended_a", last_name="THREE", group_ref="housing:T2", tenancy_current=False, **tenancy
        ),
        mention(
            "ended_b", last_name="FOUR", group_ref="housing:T2", tenancy_current=False, **tenancy
        ),
    ]
    result = households(rows, link_co_residents=False)
    assert family_of(result, "lead") == {"lead", "lodger"}
    assert family_of(result, "ended_a") == {"ended_a"}
    assert reasons(result) == {"tenancy"}


def test_a_text_address_borrows_the_uprn_of_the_same_address() -> None:
    rows = [
        mention("tenant", uprn="100023", address="12 High St", postcode="LS1 1AA", last_name="LEE"),
        mention("pupil", address="12 HIGH STREET", postcode="LS1 1AA", last_name="LEE"),
    ]
    result = households(rows)
    assert family_of(result, "pupil") == {"tenant", "pupil"}
    assert set(result.members["address_key"]) == {"U:100023"}



def test_crowded_address_gets_no_address_only_links_and_is_reported() -> None:
    hostel = {"address": "1 STATION ROAD", "postcode": "LS4 4DD"}
    rows = [mention(f"resident{i}", last_name=f"NAME{i % 2}", **hostel) for i in range(6)]
    result = households(rows, max_address_persons=5)
    assert result.members["household_key"].nunique() == 6
    guard = result.guard
    assert guard[["kind", "n"]].values.tolist() == [["crowded_address", 6]]


def test_weak_links_that_would_make_a_giant_household_are_dropped_and_reported() -> None:
    tenancy = {"group_kind": "tenancy", "group_ref": "housing:T9", "uprn": "7", **LOW_RD}
    rows = [
        *(mention(f"t{i}", last_name=f"T{i}", **tenancy) for i in range(4)),
        *(mention(f"s{i}", last_name="SAME", **HIGH_ST) for i in range(4)),
    ]
    result = households(rows, max_household_size=3)
    # explicit evidence (the tenancy) is kept even though it is big ...
    assert family_of(result, "t0") == {"t0", "t1", "t2", "t3"}
    # ... but surname/co-residence links that would exceed the limit are refused
    assert family_of(result, "s0") == {"s0"}
    assert set(result.dropped_edges["reason"]) == {"shared_surname", "co_resident"}
    assert set(result.guard["kind"]) == {"guarded_household", "oversized_household"}


def test_every_person_has_exactly_one_household_with_at_least_one_member() -> None:
    rows = [
        mention("a", **HIGH_ST),
        mention("b", **HIGH_ST),
        mention("nowhere"),  # no address or postcode at all
        mention("future", "2030-01-01", **LOW_RD),  # only seen after the evaluation date
    ]
    result = households(rows)
    members = result.members
    assert sorted(members["person_id"]) == ["a", "b", "future", "nowhere"]
    assert members["person_id"].is_unique
    assert (result.households["n_members"] >= 1).all()
    assert result.households["n_members"].sum() == len(members)
    assert set(result.households["household_key"]) == set(members["household_key"])


def test_result_does_not_depend_on_row_order() -> None:
    rows = [
        mention("a", "2024-01-01", **HIGH_ST),
        mention("a", "2024-01-01", **LOW_RD),  # same day, two addresses: settled by data
        mention("b", **HIGH_ST),
        mention("c", **LOW_RD),
    ]
    one = households(rows).members
    two = households(rows[::-1]).members
    pd.testing.assert_frame_equal(one, two)


def test_requires_person_ids() -> None:
    frame = pd.DataFrame([mention("a")]).drop(columns=["person_id"])
    with pytest.raises(ValueError, match="person_id"):
        build_households(frame, AS_OF)


def test_empty_input_gives_empty_result() -> None:
    result = build_households(pd.DataFrame(columns=["mention_id", "person_id", "seen_date"]), AS_OF)
    assert result.members.empty
    assert result.households.empty
    assert list(result.members.columns)[:2] == ["person_id", "household_key"]


def test_two_homes_guard_tells_pairs_apart_in_a_large_area() -> None:
    """Person 0 (at address 5) and person 1 (at address 32,704) have two homes and neither was
    recorded at the other's, so the edge between them joins two homes. In an area of 107,376
    persons and 40,000 addresses, component 107,375 recorded at address 0 had, in 32-bit
    arithmetic, the same (component, address) key as component 0 at address 32,704: the guard
    took person 0's family to have lived at person 1's address and let the edge through."""
    n_nodes = 107_376
    address = np.full(n_nodes, -1, dtype=np.int64)
    address[[0, 1, 2, 107_375]] = [5, 32_704, 39_999, 0]
    recorded = pd.DataFrame({"node": [0, 1, 107_375], "address": [5, 32_704, 0]})
    no_edges = pd.DataFrame({"a": np.array([], dtype=np.int64), "b": np.array([], dtype=np.int64)})
    candidates = pd.DataFrame({"a": [0], "b": [1]})
    assert _joins_two_homes(candidates, no_edges, address, n_nodes, recorded).tolist() == [True]
    recorded.loc[0, "address"] = 32_704  # once person 0 was recorded at address 32,704: a family that moved
    assert _joins_two_homes(candidates, no_edges, address, n_nodes, recorded).tolist() == [False]
