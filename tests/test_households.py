"""Households: placement at the latest address, each grouping rule, the giant-component guards."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from matching.households import (
    EDGE_LEVELS,
    EDGE_RULES,
    HouseholdEvidence,
    HouseholdRules,
    address_keys,
    build_households,
)
from matching.standardise import standardise_address

AS_OF = "2026-01-31"
#: What the agency declarations name as household evidence (pipeline/declarations/*.yaml).
EVIDENCE = HouseholdEvidence(
    residence_groups=("tenancy",), incident_groups=("domestic_incident",), birth_events=("MATERNITY",)
)
_ids = itertools.count()


def mention(person: str, seen: str = "2025-06-01", **fields: object) -> dict:
    """One person mention with the data-model columns the household stage reads."""
    return {
        "mention_id": f"test|{next(_ids)}",
        "person_id": person,
        "seen_date": seen,
        "first_name": fields.pop("first_name", person.upper()),
        "last_name": fields.pop("last_name", "DOE"),
        **fields,
    }


def event(
    row: dict, event_type: str, event_date: str | None = None, end: str | None = None
) -> dict:
    """The staging.events row of a mention (``event_date`` defaults to its seen date)."""
    return {
        "mention_id": row["mention_id"],
        "event_type": event_type,
        "event_date": event_date or row["seen_date"],
        "end_date": end,
    }


def households(
    rows: list[dict],
    as_of: str = AS_OF,
    events: list[dict] | None = None,
    evidence: HouseholdEvidence = EVIDENCE,
    **rules: object,
):
    frame = None if events is None else pd.DataFrame(events)
    return build_households(
        pd.DataFrame(rows), as_of, HouseholdRules(**rules), events=frame, evidence=evidence
    )


def family_of(result, person: str) -> set[str]:
    members = result.members
    key = members.loc[members["person_id"] == person, "household_key"].iloc[0]
    return set(members.loc[members["household_key"] == key, "person_id"])


def reasons(result) -> set[str]:
    return set(result.edges["reason"])


HIGH_ST = {"address": "12 HIGH STREET", "postcode": "LS1 1AA"}
LOW_RD = {"address": "3 LOW ROAD", "postcode": "LS2 2BB"}


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


def test_domestic_incident_links_the_persons_involved() -> None:
    incident = {"group_kind": "domestic_incident", "group_ref": "police:OC/1"}
    rows = [
        mention("victim", "2025-05-01", last_name="GREEN", postcode="LS3 3CC", **incident),
        mention("suspect", "2025-05-01", last_name="GREY", postcode="LS3 3CC", **incident),
        mention("other", "2025-05-01", last_name="BLUE", postcode="LS3 3CC"),
    ]
    result = households(rows)
    assert family_of(result, "victim") == {"victim", "suspect"}
    assert reasons(result) == {"domestic_incident"}
    # once the suspect is seen living at another postcode, the incident no longer links them
    moved = households(
        [*rows, mention("suspect", "2025-11-01", last_name="GREY", postcode="LS8 8HH")]
    )
    assert family_of(moved, "victim") == {"victim"}


def test_pupils_named_parent_joins_the_pupils_household() -> None:
    rows = [
        mention(
            "pupil",
            last_name="WOOD",
            contact_first_name="JANE",
            contact_last_name="SMITH",
            **HIGH_ST,
        ),
        mention("jane", first_name="JANE", last_name="SMITH", postcode="LS1 1AA"),  # health record
        mention("other_jane", first_name="JANE", last_name="SMITH", postcode="LS7 7GG"),
    ]
    result = households(rows)
    assert family_of(result, "pupil") == {"pupil", "jane"}
    assert reasons(result) == {"parent_contact"}


def test_shared_surname_at_same_address_including_double_barrelled() -> None:
    rows = [
        mention("mum", last_name="PATEL", **HIGH_ST),
        mention("child", last_name="PATEL-JONES", **HIGH_ST),
        mention("lodger", last_name="NOWAK", **HIGH_ST),
    ]
    strict = households(rows, link_co_residents=False)
    assert family_of(strict, "mum") == {"mum", "child"}
    assert family_of(strict, "lodger") == {"lodger"}
    loose = households(rows)
    assert family_of(loose, "mum") == {"mum", "child", "lodger"}


def test_a_mothers_maternity_event_on_the_babys_birthday_joins_them() -> None:
    """DEBORAH KING (health) and baby ELLA GREENHAM (health), both known only by postcode."""
    delivery = mention("deborah", "2025-10-11", last_name="KING", postcode="NE15 8AA")
    rows = [
        delivery,
        mention("ella", "2025-12-26", last_name="GREENHAM", dob="2025-10-11", postcode="NE15 8AA"),
        # another baby at the postcode two days later, whose mother is not recorded
        mention("neighbour_baby", last_name="OTHER", dob="2025-10-13", postcode="NE15 8AA"),
        # a baby born that day at another postcode
        mention("far_baby", last_name="FAR", dob="2025-10-11", postcode="NE15 9ZZ"),
    ]
    events = [event(delivery, "MATERNITY")]
    result = households(rows, events=events)
    assert family_of(result, "deborah") == {"deborah", "ella"}
    assert family_of(result, "neighbour_baby") == {"neighbour_baby"}
    assert family_of(result, "far_baby") == {"far_baby"}
    assert result.edges.loc[result.edges["reason"] == "birth", "evidence"].tolist() == [
        "MATERNITY 2025-10-11, born 2025-10-11"
    ]
    # without events, or with the rule off, nothing joins them
    assert family_of(households(rows), "deborah") == {"deborah"}
    assert family_of(households(rows, events=events, birth_days=-1), "deborah") == {"deborah"}
    # a booking visit months before the birth is no birth
    booking = [event(delivery, "MATERNITY", event_date="2025-05-01")]
    assert family_of(households(rows, events=booking), "deborah") == {"deborah"}


def test_groups_and_events_count_only_as_the_declarations_say() -> None:
    """The rules know no agency vocabulary: a declared "lease" group and "DELIVERY" event
    work as tenancy and maternity do, and undeclared ones are ignored."""
    lease = {"group_kind": "lease", "group_ref": "homes:L1", "tenancy_current": True, **HIGH_ST}
    delivery = mention("mum", "2025-10-11", last_name="KING", postcode="NE15 8AA")
    rows = [
        delivery,
        mention("baby", last_name="GREENHAM", dob="2025-10-11", postcode="NE15 8AA"),
        mention("lead", last_name="ONE", **lease),
        mention("lodger", last_name="TWO", **lease),
    ]
    events = [event(delivery, "DELIVERY")]
    declared = HouseholdEvidence(residence_groups=("lease",), birth_events=("DELIVERY",))
    result = households(rows, events=events, evidence=declared, link_co_residents=False)
    assert family_of(result, "mum") == {"mum", "baby"}
    assert family_of(result, "lead") == {"lead", "lodger"}
    assert reasons(result) == {"tenancy", "birth"}
    assert "DELIVERY 2025-10-11, born 2025-10-11" in result.edges["evidence"].tolist()
    nothing = households(rows, events=events, evidence=HouseholdEvidence(), link_co_residents=False)
    assert reasons(nothing) == set()


def test_household_evidence_is_checked() -> None:
    with pytest.raises(ValueError, match="sequence of non-empty names"):
        HouseholdEvidence(birth_events="MATERNITY")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="both residence and incident"):
        HouseholdEvidence(residence_groups=("x",), incident_groups=("x",))


def test_edge_levels_come_from_the_rule_registry() -> None:
    declared = [r.name for rule in EDGE_RULES for r in rule.reasons]
    assert sorted(declared) == sorted(r for level in EDGE_LEVELS for r in level)
    assert len(set(declared)) == len(declared)
    assert {"tenancy", "domestic_incident", "parent_contact", "birth"} <= set(EDGE_LEVELS[0])


def test_a_mother_who_moved_since_the_birth_is_still_joined() -> None:
    delivery = mention("zuzanna", "2025-01-14", last_name="MICHALAK", postcode="NE15 3AG")
    rows = [
        delivery,
        mention("zuzanna", "2025-11-01", last_name="MICHALAK", postcode="NE16 1AA"),
        mention("kacper", "2025-12-01", last_name="MAZUR", dob="2025-01-15", postcode="NE16 1AA"),
    ]
    result = households(rows, events=[event(delivery, "MATERNITY")])
    assert family_of(result, "zuzanna") == {"zuzanna", "kacper"}


PUPIL = {
    "last_name": "BRYANT",
    "dob": "2017-04-06",
    "address": "27 WILLOW CLOSE",
    "postcode": "NE15 0AB",
    "contact_first_name": "PAMELA",
    "contact_last_name": "BRYANT",
}


def pamela(person: str = "pamela", **fields: object) -> dict:
    values = {"first_name": "PAMELA", "last_name": "KELWORTH", "dob": "1985-08-07"}
    return mention(person, **{**values, "postcode": "NE15 0AB", **fields})


def test_a_named_contact_with_a_changed_surname_is_matched_by_first_name_at_the_address() -> None:
    """The school names PAMELA BRYANT; the police know her as PAMELA KELWORTH at the address."""
    rows = [mention("dean", **PUPIL), pamela(address="27 WILLOW CLOSE"), *neighbours("NE15 0AB")]
    result = households(rows, link_co_residents=False)
    assert family_of(result, "dean") == {"dean", "pamela"}
    assert reasons(result) == {"contact_first_name"}
    off = households(rows, link_co_residents=False, contact_first_name="off")
    assert family_of(off, "dean") == {"dean"}
    # a second PAMELA at the address: which one is not known
    rows.append(pamela("other_pamela", last_name="SHAW", address="27 WILLOW CLOSE"))
    assert family_of(households(rows, link_co_residents=False), "dean") == {"dean"}


#: a first name alone at postcode scope, whatever its frequency (chance is not the question)
AT_POSTCODE = {"contact_first_name": "postcode", "contact_first_name_expected": float("inf")}


def test_a_named_contact_known_only_by_postcode_is_matched_by_a_rare_first_name() -> None:
    """Health and DWP know PAMELA KELWORTH by postcode only: matched, PAMELA being rare here."""
    rows = [mention("dean", **PUPIL), pamela(), *neighbours("NE15 0AB"), *area()]
    result = households(rows)
    assert family_of(result, "dean") == {"dean", "pamela"}
    assert reasons(result) == {"contact_first_name"}
    assert family_of(households(rows, contact_first_name="address"), "dean") == {"dean"}
    # a first name one in ten people here share: a namesake at the postcode is likely
    common = [
        {**row, "first_name": "PAMELA"} if i % 10 == 0 else row for i, row in enumerate(area())
    ]
    rows = [mention("dean", **PUPIL), pamela(), *neighbours("NE15 0AB"), *common]
    assert family_of(households(rows), "dean") == {"dean"}


def test_a_first_name_alone_never_picks_among_several_or_unlikely_candidates() -> None:
    pupil = mention("dean", **PUPIL)
    # two women of that first name at the postcode: which one is not known
    two = households([pupil, pamela(), pamela("other_pamela", last_name="SHAW")], **AT_POSTCODE)
    assert family_of(two, "dean") == {"dean"}
    # the neighbour of that first name lives at another address of the postcode
    next_door = pamela(address="29 WILLOW CLOSE")
    assert family_of(households([pupil, next_door], **AT_POSTCODE), "dean") == {"dean"}
    # she is the age of a great-grandmother, or of a sister
    for dob in ("1930-01-01", "2010-01-01"):
        assert family_of(households([pupil, pamela(dob=dob)], **AT_POSTCODE), "dean") == {"dean"}
    # she is another pupil's named contact under her own surname
    her_son = mention(
        "tom",
        last_name="KELWORTH",
        postcode="NE15 0AB",
        contact_first_name="PAMELA",
        contact_last_name="KELWORTH",
    )
    assert family_of(households([pupil, pamela(), her_son], **AT_POSTCODE), "dean") == {"dean"}
    # someone answers the contact by full name: no first-name guess is made
    full = households([pupil, pamela(), pamela("bryant", last_name="BRYANT")], **AT_POSTCODE)
    assert family_of(full, "dean") == {"dean", "bryant"}


def test_a_named_contact_is_found_at_a_postcode_the_family_left() -> None:
    """The school has the family's new postcode; health still has the mother at the old one."""
    moved = {**PUPIL, "address": "4 NEW ROAD", "postcode": "NE16 9ZZ"}
    rows = [
        mention("dean", "2025-01-01", **PUPIL),
        mention("dean", "2025-09-01", **moved),
        pamela(last_name="BRYANT"),  # at NE15 0AB only
        *neighbours("NE15 0AB"),
        *neighbours("NE16 9ZZ"),
    ]
    result = households(rows)
    assert family_of(result, "dean") == {"dean", "pamela"}
    assert reasons(result) == {"parent_contact"}
    # a PAMELA BRYANT at a postcode the pupil was never recorded at is someone else
    rows[2] = pamela(last_name="BRYANT", postcode="NE17 1XX")
    assert family_of(households(rows), "dean") == {"dean"}


def test_people_recorded_at_the_same_two_postcodes_moved_together() -> None:
    """A father (DWP) and a daughter (health), different surnames, both seen before and after a
    move; a neighbour seen at the old postcode only stays apart."""
    rows = [
        mention("dad", "2024-03-01", last_name="HART", postcode="LS1 1AA"),
        mention("dad", "2025-06-01", last_name="HART", postcode="LS2 2BB"),
        mention("kid", "2024-05-01", last_name="OKAFOR", postcode="LS1 1AA"),
        mention("kid", "2025-08-01", last_name="OKAFOR", postcode="LS2 2BB"),
        mention("neighbour", "2024-05-01", last_name="PIKE", postcode="LS1 1AA"),
    ]
    result = households(rows)
    assert family_of(result, "dad") == {"dad", "kid"}
    assert reasons(result) == {"moved_together"}
    assert family_of(result, "neighbour") == {"neighbour"}
    assert family_of(households(rows, moved_together=0), "dad") == {"dad"}


def test_a_mistyped_contact_surname_is_matched() -> None:
    rows = [mention("dean", **PUPIL), pamela(last_name="BRYNAT"), pamela("pam2", last_name="SHAW")]
    result = households(rows, contact_first_name="off")
    assert family_of(result, "dean") == {"dean", "pamela"}
    assert reasons(result) == {"contact_typo"}


def area(n: int = 400) -> list[dict]:
    """Unrelated people elsewhere, one surname each, so that surname shares are an area's."""
    return [mention(f"filler{i}", last_name=f"F{i}", postcode=f"LS9 {i // 5}ZZ") for i in range(n)]


def neighbours(postcode: str, n: int = 4) -> list[dict]:
    return [
        mention(f"{postcode}-{i}", last_name=f"N{postcode}{i}", postcode=postcode) for i in range(n)
    ]


JOHNSONS_ELSEWHERE = [
    mention(f"johnson{i}", last_name="JOHNSON", postcode=f"LS8 {i}YY") for i in range(8)
]


def test_postcode_only_person_joins_a_rare_surname_at_the_postcode() -> None:
    rows = [
        mention("mum", last_name="WHITHOPE", **HIGH_ST),
        mention("son", last_name="WHITHOPE", postcode="LS1 1AA"),  # health: postcode only
        mention("far", last_name="WHITHOPE", postcode="LS5 5EE"),  # another postcode
        *neighbours("LS1 1AA"),
        *area(),
    ]
    result = households(rows)
    assert family_of(result, "son") == {"mum", "son"}
    assert family_of(result, "far") == {"far"}
    assert "surname_postcode" in reasons(result)
    off = households(rows, surname_expected=0, surname_expected_family=0)
    assert family_of(off, "son") == {"son"}


def test_a_common_surname_at_a_postcode_joins_a_child_and_a_parent_not_two_adults() -> None:
    """JAMES JOHNSON and his daughter PATRICIA, both known only by postcode at NE15 6AA;
    two unrelated adult JOHNSONs at NE15 6AB."""
    rows = [
        mention(
            "james", first_name="JAMES", last_name="JOHNSON", dob="1984-02-01", postcode="NE15 6AA"
        ),
        mention(
            "patricia",
            first_name="PATRICIA",
            last_name="JOHNSON",
            dob="2015-06-01",
            postcode="NE15 6AA",
        ),
        mention("adult_a", last_name="JOHNSON", dob="1970-01-01", postcode="NE15 6AB"),
        mention("adult_b", last_name="JOHNSON", dob="1990-01-01", postcode="NE15 6AB"),
        mention("gran", last_name="JOHNSON", dob="1940-01-01", postcode="NE15 6AC"),
        mention("baby", last_name="JOHNSON", dob="2024-01-01", postcode="NE15 6AC"),
        *neighbours("NE15 6AA"),
        *neighbours("NE15 6AB"),
        *neighbours("NE15 6AC"),
        *JOHNSONS_ELSEWHERE,
        *area(),
    ]
    result = households(rows)
    assert family_of(result, "james") == {"james", "patricia"}
    assert family_of(result, "adult_a") == {"adult_a"}
    # over 55 years apart: a great-grandmother at most, no evidence of one household
    assert family_of(result, "gran") == {"gran"}


def test_a_rare_surname_joins_the_family_at_a_postcode_the_person_was_recorded_at() -> None:
    """BRIAN GILSHAW's school has the family's new address; health still places his father and
    grandfather, known by postcode only, at the old postcode, where Brian was recorded too."""
    rows = [
        mention("imran", last_name="GILSHAW", dob="1972-12-06", postcode="NE16 4AJ"),
        mention("christopher", last_name="GILSHAW", dob="1944-08-13", postcode="NE16 4AJ"),
        mention("brian", "2024-09-01", last_name="GILSHAW", dob="2009-08-16", postcode="NE16 4AJ"),
        mention(
            "brian", "2025-12-20", last_name="GILSHAW", address="51 WEAR WAY", postcode="NE16 4AE"
        ),
        mention("other", last_name="GILSHAW", dob="1980-01-01", postcode="NE17 1AA"),
        *neighbours("NE16 4AJ"),
        *neighbours("NE16 4AE"),
        *area(),
    ]
    result = households(rows)
    assert family_of(result, "brian") == {"brian", "imran", "christopher"}
    assert "surname_earlier_postcode" in reasons(result)
    assert family_of(result, "other") == {"other"}  # never recorded at NE16 4AJ
    assert family_of(households(rows, surname_earlier_postcode=False), "brian") == {"brian"}


def test_a_grandparent_fits_a_family_within_surname_family_years() -> None:
    """JULIE JONES (born 1961) and her grandson HARRY (2019), postcode only, a common surname."""
    rows = [
        mention("julie", last_name="JONES", dob="1961-04-20", postcode="DH16 7AQ"),
        mention("harry", last_name="JONES", dob="2019-09-12", postcode="DH16 7AQ"),
        *neighbours("DH16 7AQ"),
        *[mention(f"jones{i}", last_name="JONES", postcode=f"LS8 {i}YY") for i in range(8)],
        *area(),
    ]
    assert family_of(households(rows), "julie") == {"julie", "harry"}
    assert family_of(households(rows, surname_family_years=55), "julie") == {"julie"}
    # a record without a date of birth does not make HARRY older
    rows.append(mention("harry", last_name="JONES", postcode="DH16 7AQ"))
    assert family_of(households(rows), "julie") == {"julie", "harry"}


def test_a_postcode_only_parent_joins_the_children_at_an_address_of_the_postcode() -> None:
    """MATTHEW WILSON at NE15 6AG, his children at 56 Kingfisher Crescent, NE15 6AG."""
    kingfisher = {"address": "56 KINGFISHER CRESCENT", "postcode": "NE15 6AG"}
    rows = [
        mention("matthew", last_name="WILSON", dob="1980-03-01", postcode="NE15 6AG"),
        mention("amy", last_name="WILSON", dob="2012-03-01", **kingfisher),
        mention("ben", last_name="WILSON", dob="2014-03-01", **kingfisher),
        *neighbours("NE15 6AG"),
        *[mention(f"wilson{i}", last_name="WILSON", postcode=f"LS8 {i}YY") for i in range(8)],
        *area(),
    ]
    assert family_of(households(rows), "matthew") == {"matthew", "amy", "ben"}
    # two WILSON addresses at the postcode: which one is his is not known
    other = {"address": "58 KINGFISHER CRESCENT", "postcode": "NE15 6AG"}
    rows.append(mention("cara", last_name="WILSON", dob="2013-03-01", **other))
    assert family_of(households(rows), "matthew") == {"matthew"}


def test_postcode_only_person_is_not_linked_when_two_same_surname_addresses_exist() -> None:
    rows = [
        mention("a", last_name="WHITHOPE", address="1 HIGH STREET", postcode="LS1 1AA"),
        mention("b", last_name="WHITHOPE", address="2 HIGH STREET", postcode="LS1 1AA"),
        mention("c", last_name="WHITHOPE", postcode="LS1 1AA"),
    ]
    anything = {"surname_expected": float("inf"), "surname_expected_family": float("inf")}
    result = households(rows, **anything)
    assert result.members["household_key"].nunique() == 3


def test_a_postcode_link_never_joins_two_households_at_different_addresses() -> None:
    """EMILY EVANS, named by the school of the WENWICK children at 31 Abbey Lane, is not
    joined by her surname to the EVANS family at 41 Abbey Lane (same postcode)."""
    school = {"contact_first_name": "EMILY", "contact_last_name": "EVANS"}
    rows = [
        mention("emily", first_name="EMILY", last_name="EVANS", postcode="NE15 0AH"),  # health
        mention(
            "lesley", last_name="WENWICK", address="31 ABBEY LANE", postcode="NE15 0AH", **school
        ),
        mention("gregory", last_name="EVANS", address="41 ABBEY LANE", postcode="NE15 0AH"),
        mention("alex", last_name="EVANS", address="41 ABBEY LANE", postcode="NE15 0AH"),
    ]
    anything = {"surname_expected": float("inf"), "surname_expected_family": float("inf")}
    result = households(rows, **anything)
    assert family_of(result, "emily") == {"emily", "lesley"}
    assert family_of(result, "gregory") == {"gregory", "alex"}
    # without the school's word she is a postcode-only EVANS like any other
    alone = households([r for r in rows if r["person_id"] != "lesley"], **anything)
    assert family_of(alone, "emily") == {"emily", "gregory", "alex"}


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
