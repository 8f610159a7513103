"""The household edge rules (matching/households/rules.py): for each, who joins and who does not."""

from __future__ import annotations

import pytest
from household_fixtures import HIGH_ST, event, family_of, households, mention, reasons

from matching.households import (
    EDGE_LEVELS,
    EDGE_RULES,
    HouseholdEvidence,
)


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


def test_a_named_contact_placed_nowhere_is_matched_by_a_full_name_no_one_else_has() -> None:
    """The police know PAMELA BRYANT with no postcode: nothing places her anywhere else."""
    rows = [mention("dean", **PUPIL), pamela(last_name="BRYANT", postcode=None), *area()]
    result = households(rows)
    assert family_of(result, "dean") == {"dean", "pamela"}
    assert reasons(result) == {"contact_unplaced"}
    # among two people, PAMELA and BRYANT are common names: a namesake is likely
    assert family_of(households(rows[:2]), "dean") == {"dean"}
    # a second PAMELA BRYANT in the area: which one is not known
    rows.append(pamela("other", last_name="BRYANT", postcode="NE17 1XX"))
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


def test_a_surname_one_child_alone_carries_at_the_address_is_no_grandparents() -> None:
    """COLIN is DAVIS at school (a step-parent's surname) among the LANGCOMBEs; MAX DAVIS, 53
    years older, is known by postcode alone there: chance, not his grandfather. A DAVIS of a
    father's age still joins, and a grandparent of the family's own surname too."""
    home = {"address": "6 ALDER WAY", "postcode": "NE3 3AQ"}
    rows = [
        mention("joanne", first_name="JOANNE", last_name="LANGCOMBE", dob="1989-01-12", **home),
        mention("riley", last_name="LANGCOMBE", dob="2017-07-22", **home),
        mention("colin", last_name="DAVIS", dob="2020-10-17", contact_first_name="JOANNE",
                contact_last_name="LANGCOMBE", **home),
        mention("max", last_name="DAVIS", dob="1967-10-06", postcode="NE3 3AQ"),
        *neighbours("NE3 3AQ"),
        *area(),
    ]
    assert family_of(households(rows), "max") == {"max"}
    assert family_of(households(rows, surname_lone_years=70), "max") == {
        "max", "joanne", "riley", "colin"}
    father = {**rows[3], "dob": "1990-01-01"}
    assert family_of(households([*rows[:3], father, *rows[4:]]), "max") == {
        "max", "joanne", "riley", "colin"}
    gran = {**rows[3], "last_name": "LANGCOMBE"}
    assert family_of(households([*rows[:3], gran, *rows[4:]]), "max") == {
        "max", "joanne", "riley", "colin"}


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


ORMCOMBE = {"last_name": "ORMCOMBE"}


def test_a_postcode_only_person_reaching_two_homes_joins_neither() -> None:
    """HENRY, known by postcode alone, is TODSHAW to health and GREEN to social care (a
    step-parent's surname); the TODSHAWs and the GREENs live at two addresses of his postcode.
    Through him the surname rule would join the two families: which one is his is a guess."""
    street = "LS1 1AA"
    rows = [
        mention("maisie", last_name="TODSHAW", dob="2019-01-01", address="23 LIME TERRACE", postcode=street),
        mention("mason", last_name="TODSHAW", dob="2015-01-01", address="23 LIME TERRACE", postcode=street),
        mention("timothy", last_name="GREEN", dob="1975-01-01", address="9 LIME TERRACE", postcode=street),
        mention("mia", last_name="GREEN", dob="2016-01-01", address="9 LIME TERRACE", postcode=street),
        mention("henry", last_name="TODSHAW", dob="2021-01-01", postcode=street),
        *neighbours(street),
        *area(),
    ]
    assert family_of(households(rows), "maisie") == {"maisie", "mason", "henry"}
    rows.append(mention("henry", last_name="GREEN", dob="2021-01-01", postcode=street))
    result = households(rows)
    assert [family_of(result, p) for p in ("henry", "maisie")] == [{"henry"}, {"maisie", "mason"}]
    # two homes of one family (DANIEL's school has him at the new one) are not two families
    old, new = {"address": "24 CHAUCER AVENUE", "postcode": "NE3 1AG"}, {"address": "11 WEST CLOSE"}
    pearces = [
        mention("megan", last_name="PEARCE", dob="2013-01-01", **old),
        mention("janet", last_name="PEARCE", dob="2016-01-01", **old),
        mention("daniel", seen="2025-01-01", last_name="PEARCE", dob="2020-01-01", **old),
        mention("daniel", seen="2025-09-01", last_name="PEARCE", dob="2020-01-01", postcode="DH3 1AX", **new),
        mention("jeremy", last_name="PEARCE", dob="2023-01-01", postcode="NE3 1AG"),
        *neighbours("NE3 1AG"),
        *area(),
    ]
    assert family_of(households(pearces), "jeremy") == {"megan", "janet", "daniel", "jeremy"}


def test_a_postcode_link_joins_two_addresses_when_one_household_lived_at_the_other() -> None:
    """The ORMCOMBE children's school has their new address; the police still place their
    father at the old one, where the children's earlier school records put them too."""
    old, new = {"postcode": "NE18 9HY"}, {"address": "74 FORGE TERRACE", "postcode": "NE19 0EE"}

    def family(earlier_address: str) -> list[dict]:
        return [
            mention("charlie", "2026-01-07", address="12 STEPHENSON CLOSE", **old, **ORMCOMBE),
            mention("archie", "2024-09-01", address=earlier_address, **old, **ORMCOMBE),
            mention("archie", "2025-09-01", **new, **ORMCOMBE),
            mention("logan", "2025-09-01", **new, **ORMCOMBE),
            *neighbours("NE18 9HY"),
            *neighbours("NE19 0EE"),
            *area(),
        ]

    moved = households(family("12 STEPHENSON CLOSE"))
    assert family_of(moved, "charlie") == {"charlie", "archie", "logan"}
    assert "surname_earlier_postcode" in reasons(moved)
    # the children lived at another address of that postcode: two homes, two households
    next_door = households(family("10 STEPHENSON CLOSE"))
    assert family_of(next_door, "charlie") == {"charlie"}


def test_a_one_off_surname_one_slip_from_a_neighbours_is_read_as_theirs() -> None:
    """DWP has STEPHEN DIXUN at NE13 0EF, where the DIXON children live: a typo on his only
    record. A KIXON, or a DIXONS with a namesake elsewhere, is someone else."""
    hazel = {"address": "11 HAZEL CLOSE", "postcode": "NE13 0EF"}
    rows = [
        mention("stephen", last_name="DIXUN", dob="1980-04-29", postcode="NE13 0EF"),
        mention("william", last_name="DIXON", dob="2013-09-09", **hazel),
        mention("julie", last_name="DIXON", dob="1986-01-08", postcode="NE13 0EF"),
        mention("keith", last_name="KIXON", dob="1979-01-01", postcode="NE13 0EF"),
        mention("dora", last_name="DIXONS", dob="1981-01-01", postcode="NE13 0EF"),
        mention("dora_elsewhere", last_name="DIXONS", postcode="LS8 1YY"),
        *neighbours("NE13 0EF"),
        *[mention(f"dixon{i}", last_name="DIXON", postcode=f"LS8 {i}YY") for i in range(8)],
        *area(),
    ]
    result = households(rows)
    assert family_of(result, "stephen") == {"stephen", "william", "julie"}
    assert "DIXON (typed DIXUN) at NE13 0EF" in result.edges["evidence"].tolist()
    assert family_of(result, "keith") == {"keith"}  # the first letter differs
    assert family_of(result, "dora") == {"dora"}  # DIXONS is a real surname here
    assert family_of(households(rows, surname_typos=False), "stephen") == {"stephen"}
    # a DIXEN at the postcode too: a slip from either, which one is not known
    rows.append(mention("dixen", last_name="DIXEN", dob="1981-01-01", postcode="NE13 0EF"))
    assert family_of(households(rows), "stephen") == {"stephen"}


@pytest.mark.parametrize("others", [399, 400, 407])
def test_a_mistyped_surname_is_read_whatever_the_number_of_persons_placed(others: int) -> None:
    """A surname one person holds is counted as one, not as its share times the persons placed:
    with 417 or 425 placed (others + 18), (1 / n) * n is not 1.0 in floating point and the typo
    rule used to fall silent for the whole area."""
    rows = [
        mention("stephen", last_name="DIXUN", dob="1980-04-29", postcode="NE13 0EF"),
        mention("william", last_name="DIXON", dob="2013-09-09", address="11 HAZEL CLOSE", postcode="NE13 0EF"),
        mention("julie", last_name="DIXON", dob="1986-01-08", postcode="NE13 0EF"),
        *neighbours("NE13 0EF"),
        *[mention(f"dixon{i}", last_name="DIXON", postcode=f"LS8 {i}YY") for i in range(8)],
        *area(others + 3),
    ]
    assert family_of(households(rows), "stephen") == {"stephen", "william", "julie"}


def test_a_named_contact_living_next_door_is_a_namesake() -> None:
    """The MAZUR children at 20 Carnegie Road name AGNIESZKA MAZUR; the Agnieszka health knows
    by that (maiden) name lives at 21 with the WOJCIK children, whose school names her
    AGNIESZKA WOJCIK. The MAZUR children's mother has no record of her own."""
    carnegie = {"postcode": "NE19 9GQ", "dob": "2016-08-24"}
    mazur = {"contact_first_name": "AGNIESZKA", "contact_last_name": "MAZUR"}
    wojcik = {"contact_first_name": "AGNIESZKA", "contact_last_name": "WOJCIK"}
    rows = [
        mention("zofia", last_name="MAZUR", address="20 CARNEGIE ROAD", **carnegie, **mazur),
        mention("kacper", last_name="WOJCIK", address="21 CARNEGIE ROAD", **carnegie, **wojcik),
        mention(
            "agnieszka",
            first_name="AGNIESZKA",
            last_name="WOJCIK",
            dob="1977-01-25",
            address="21 CARNEGIE ROAD",
            postcode="NE19 9GQ",
        ),
        mention("agnieszka", first_name="AGNIESZKA", last_name="MAZUR", postcode="NE19 9GQ"),
    ]
    result = households(rows, link_co_residents=False)
    assert family_of(result, "agnieszka") == {"agnieszka", "kacper"}
    assert family_of(result, "zofia") == {"zofia"}
    # known by postcode alone, she may well be the MAZUR children's mother
    rows = [rows[0], mention("ag", first_name="AGNIESZKA", last_name="MAZUR", postcode="NE19 9GQ")]
    assert family_of(households(rows), "zofia") == {"zofia", "ag"}


def test_two_namesakes_of_a_named_contact_away_from_the_pupils_address_are_two_guesses() -> None:
    """Two ELIZABETH SMITHs known by postcode only where the pupil lives: which one is not known;
    one at the pupil's address is."""
    pupil = {"postcode": "NE8 4AU", "contact_first_name": "ELIZABETH", "contact_last_name": "SMITH"}
    liz = {"first_name": "ELIZABETH", "last_name": "SMITH", "postcode": "NE8 4AU"}
    rows = [
        mention("lucy", last_name="RICHARDSON", address="1 LINDISFARNE ROAD", **pupil),
        mention("liz_1", **liz),
        mention("liz_2", **liz),
    ]
    result = households(rows)
    assert family_of(result, "lucy") == {"lucy"}
    assert family_of(households(rows[:2]), "lucy") == {"lucy", "liz_1"}
    rows[2]["address"] = "1 LINDISFARNE ROAD"
    assert family_of(households(rows, link_co_residents=False), "lucy") == {"lucy", "liz_2"}


def test_sharing_an_address_adds_loose_persons_but_never_joins_two_families() -> None:
    """Two families in one house of flats share its UPRN: the PATELs and the NOWAKs, each
    joined by a surname, stay two (with a lodger too: three groups, nothing joins)."""
    house = {"uprn": "100012345678", "postcode": "LS1 1AA"}
    rows = [
        mention("mum", last_name="PATEL", dob="1985-01-01", **house),
        mention("son", last_name="PATEL", dob="2015-01-01", **house),
        mention("dad", last_name="NOWAK", dob="1980-01-01", **house),
        mention("girl", last_name="NOWAK", dob="2012-01-01", **house),
    ]
    result = households(rows)
    assert family_of(result, "mum") == {"mum", "son"}
    assert family_of(result, "dad") == {"dad", "girl"}
    # a partner of another surname, known by nothing else, joins a family as before
    lodger = mention("lodger", last_name="REES", dob="1990-01-01", **house)
    assert family_of(households([*rows[:2], lodger]), "mum") == {"mum", "son", "lodger"}
    assert family_of(households([*rows, lodger]), "lodger") == {"lodger"}


def test_a_shared_address_never_joins_a_family_that_weaker_kin_evidence_formed() -> None:
    """The MORGAN pupil shares a UPRN with the PATELs; her father, known by postcode alone,
    joins her by their rare surname (a weaker level than the address): she is his family's,
    and the address alone does not join that family to the PATELs."""
    house = {"uprn": "100012345678", "postcode": "LS1 1AA"}
    rows = [
        mention("mum", last_name="PATEL", dob="1985-01-01", **house),
        mention("son", last_name="PATEL", dob="2015-01-01", **house),
        mention("girl", last_name="WHITHOPE", dob="2020-01-01", **house),
        mention("dad", last_name="WHITHOPE", dob="1994-01-01", postcode="LS1 1AA"),
        *neighbours("LS1 1AA"),
        *area(),
    ]
    result = households(rows)
    assert family_of(result, "girl") == {"girl", "dad"}
    assert family_of(result, "mum") == {"mum", "son"}
    # without the father the pupil is a loose person at the address, and joins as before
    assert family_of(households([r for r in rows if r["person_id"] != "dad"]), "girl") == {
        "mum", "son", "girl"}


def test_a_shared_address_joins_a_family_only_at_its_home() -> None:
    """MIA, whose school has her at her separated father's flat half the time, is placed there;
    her mother and brother, who name the same home, are placed at theirs: the father is not
    joined to their family by the flat."""
    home = {"address": "5 DISRAELI ROAD", "postcode": "LS1 1AA"}
    flat = {"address": "8 STATION STREET", "postcode": "LS2 2BB"}
    contact = {"last_name": "CROSSLEY", "contact_first_name": "NICOLA", "contact_last_name": "WHITE"}
    rows = [
        mention("nicola", first_name="NICOLA", last_name="WHITE", dob="1992-02-07", **home),
        mention("mip", dob="2014-08-23", **contact, **home),
        mention("mia", seen="2024-09-01", dob="2014-08-23", **contact, **home),
        mention("mia", seen="2025-01-01", dob="2014-08-23", **contact, **flat),
        mention("mia", seen="2025-05-01", dob="2014-08-23", **contact, **home),
        mention("gary", first_name="GARY", last_name="BURNS", dob="1961-12-08", **flat),
    ]
    result = households(rows)
    assert family_of(result, "mia") == {"nicola", "mip", "mia"}
    # the flat is the home of a pupil known there alone (no parent named): the man there is her family
    alone = [{k: v for k, v in row.items() if not k.startswith("contact")}
             for row in rows if row["person_id"] in ("mia", "gary")]
    assert family_of(households(alone), "mia") == {"mia", "gary"}


def test_a_pupil_whose_names_no_one_at_the_address_holds_is_another_familys() -> None:
    """FILIP WROBEL's school names ANNA NOWAK, whom no agency sent; the LOWEs share his UPRN
    (one house of flats): neither name is theirs, so the address does not join them. A pupil
    naming the same mother as a half-sibling there still joins, and so does a pupil whose named
    parent is known."""
    house = {"uprn": "100012345678", "postcode": "LS1 1AA"}
    lowes = [
        mention("susan", first_name="SUSAN", last_name="LOWE", dob="1974-01-01", postcode="LS1 1AA"),
        mention("amelia", last_name="TAYLOR", dob="2014-05-06", contact_first_name="SUSAN",
                contact_last_name="LOWE", **house),
        mention("nigel", last_name="LOWE", dob="2018-07-11", contact_first_name="SUSAN",
                contact_last_name="LOWE", **house),
    ]
    filip = mention("filip", last_name="WROBEL", dob="2019-12-29", contact_first_name="ANNA",
                    contact_last_name="NOWAK", **house)
    assert family_of(households([*lowes, filip]), "filip") == {"filip"}
    # a half-sibling of another surname names the same mother: one family
    kai = mention("kai", last_name="BELL", dob="2016-01-01", contact_first_name="ANNA",
                  contact_last_name="NOWAK", **house)
    assert family_of(households([kai, filip]), "filip") == {"filip", "kai"}
    # with his mother known, the lodger there is taken for her partner, as before
    anna = mention("anna", first_name="ANNA", last_name="NOWAK", dob="1990-01-01", postcode="LS1 1AA")
    lodger = mention("lodger", last_name="REES", dob="1991-01-01", **house)
    assert family_of(households([filip, anna, lodger]), "filip") == {"filip", "anna", "lodger"}


def test_a_shared_address_never_joins_a_tenancy_to_a_non_member() -> None:
    """A current tenancy lists who lives there: a pupil also recorded at a separated father's
    flat, or the tenant of another flat under the same UPRN, is not joined to its members by
    the address alone; a non-member is still joined by stronger evidence (a shared surname),
    so is a child whose named carer has a tenant's surname, and two non-members at one address
    still join each other."""
    flat = {"uprn": "100012345678", "postcode": "LS1 1AA", "address": "1 MILL LANE"}
    tenancy = {"group_kind": "tenancy", "group_ref": "housing:T1", "tenancy_current": True, **flat}
    rows = [
        mention("tenant", last_name="MAYNARD", dob="1990-01-01", **tenancy),
        mention("pupil", last_name="BROMBY", dob="2012-01-01", **flat),
    ]
    assert family_of(households(rows), "pupil") == {"pupil"}
    other = {"group_kind": "tenancy", "group_ref": "housing:T2", "tenancy_current": True, **flat}
    neighbour = mention("neighbour", last_name="SHARP", dob="1948-01-01", **other)
    assert family_of(households([rows[0], neighbour]), "neighbour") == {"neighbour"}
    son = mention("son", last_name="MAYNARD", dob="2015-01-01", **flat)
    assert family_of(households([*rows, son]), "son") == {"tenant", "son"}
    partner = mention("partner", last_name="REES", dob="1991-01-01", **flat)
    assert family_of(households([rows[1], partner]), "pupil") == {"pupil", "partner"}
    # a child the tenancy does not list, whose named carer is of the tenant's surname
    child = mention("child", last_name="BULLOCK", dob="2016-01-01", contact_first_name="LIZ",
                    contact_last_name="MAYNARD", **flat)
    assert family_of(households([rows[0], child]), "child") == {"tenant", "child"}
    assert family_of(households(rows, co_resident_tenancy=False), "pupil") == {"tenant", "pupil"}


def test_residents_of_a_hostel_are_not_one_household() -> None:
    """Three single residents of a hostel share its UPRN and nothing else: three households;
    two people sharing a flat and nothing else are one."""
    hostel = {"uprn": "100099999999", "postcode": "LS1 1AA"}
    rows = [mention(name, last_name=name.upper(), **hostel) for name in ("ash", "bo", "cy")]
    result = households(rows)
    assert [family_of(result, name) for name in ("ash", "bo", "cy")] == [{"ash"}, {"bo"}, {"cy"}]
    assert family_of(households(rows[:2]), "ash") == {"ash", "bo"}
    assert family_of(households(rows, max_address_groups=3), "ash") == {"ash", "bo", "cy"}
    # a pupil no rule joins to anyone there still counts as a group of the hostel
    mum = mention("mum", first_name="SUSAN", last_name="CLARKE", **hostel)
    girl = mention("girl", last_name="NORHOPE", dob="2009-03-24", contact_first_name="SUSAN",
                   contact_last_name="CLARKE", **hostel)
    boy = mention("boy", last_name="TODCROFT", dob="2016-12-07", contact_first_name="LIZ",
                  contact_last_name="GOLDDALE", **hostel)
    assert family_of(households([mum, girl, rows[0]]), "ash") == {"ash", "mum", "girl"}
    assert family_of(households([mum, girl, rows[0], boy]), "ash") == {"ash"}


def test_a_first_name_answering_two_families_contacts_is_neither_ones() -> None:
    """KELLY BARRY, known by postcode alone, answers both the NAVARRO children's KELLY NAVARRO
    and the ROBERTS children's KELLY ROBERTS by first name: she is at most one of them."""
    kelly_navarro = {"contact_first_name": "KELLY", "contact_last_name": "NAVARRO"}
    rows = [
        mention("riley", **{**PUPIL, "last_name": "NAVARRO", **kelly_navarro}),
        mention("kelly", first_name="KELLY", last_name="BARRY", postcode="NE15 0AB"),
        *neighbours("NE15 0AB"),
        *area(),
    ]
    assert family_of(households(rows), "kelly") == {"kelly", "riley"}
    kelly_roberts = {"contact_first_name": "KELLY", "contact_last_name": "ROBERTS"}
    ella = {**PUPIL, "last_name": "ROBERTS", "address": "8 WILLOW CLOSE", **kelly_roberts}
    result = households([*rows, mention("ella", **ella)])
    assert family_of(result, "kelly") == {"kelly"}
