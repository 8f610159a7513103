"""Household test data: mentions, events and a call of the household stage with the declared evidence."""

from __future__ import annotations

import itertools

import pandas as pd

from matching.households import (
    HouseholdEvidence,
    HouseholdRules,
    build_households,
)

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
