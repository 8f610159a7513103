"""The surname-at-a-postcode rule for two adults whose ages fit a couple (surname_expected_couple)."""

from __future__ import annotations

from household_fixtures import HIGH_ST, family_of, households, mention
from test_household_rules import area, neighbours

#: a surname about 0.09 of whose holders are expected at LS1 1AA by chance: too common for any
#: two adults (surname_expected 0.05), rare enough for a couple (surname_expected_couple 0.15)
WATERS_ELSEWHERE = [mention(f"waters{i}", last_name="WATERS", postcode=f"LS8 {i}YY") for i in range(4)]


def waters(person: str, dob: str, **fields: object) -> dict:
    return mention(person, last_name="WATERS", dob=dob, **{"postcode": "LS1 1AA", **fields})


def test_two_adults_of_a_surname_whose_ages_fit_a_couple_join_at_a_less_rare_surname() -> None:
    """KIERAN WATERS at an address, MICHELLE WATERS two years older known to health by postcode."""
    rows = [
        waters("kieran", "1966-09-22", **HIGH_ST),
        waters("michelle", "1964-07-11"),
        *neighbours("LS1 1AA"),
        *WATERS_ELSEWHERE,
        *area(),
    ]
    assert family_of(households(rows), "kieran") == {"kieran", "michelle"}
    assert family_of(households(rows, surname_expected_couple=0.05), "kieran") == {"kieran"}
    # twenty-four years apart: not a couple's ages, and not rare enough for any two adults
    rows[1] = waters("michelle", "1990-07-11")
    assert family_of(households(rows), "kieran") == {"kieran"}


def test_a_couple_is_two_and_a_tenancy_lists_the_partner() -> None:
    """Two WATERS of a partner's age for MICHELLE: which one is not known; KIERAN a tenant whose
    current tenancy does not list her: not his partner."""
    base = [waters("michelle", "1964-07-11"), *neighbours("LS1 1AA"), *WATERS_ELSEWHERE, *area()]
    two = [waters("kieran", "1966-09-22", **HIGH_ST), waters("sean", "1962-01-01"), *base]
    result = households(two)
    assert family_of(result, "michelle") == {"michelle"}
    tenant = waters(
        "kieran", "1966-09-22", **HIGH_ST, group_kind="tenancy", group_ref="T1", tenancy_current=True
    )
    assert family_of(households([tenant, *base]), "michelle") == {"michelle"}
