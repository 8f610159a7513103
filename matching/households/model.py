"""What the household stage is given and what it returns: its rules, its evidence, its result."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

__all__ = ["EdgeContext", "HouseholdEvidence", "HouseholdRules", "Households"]


@dataclass(frozen=True)
class HouseholdRules:
    """Household rules that an authority may tune.

    Attributes:
        max_address_persons: addresses with more placed persons than this are
            treated as shared accommodation: no ``co_resident`` or
            ``shared_surname`` edges are drawn there.
        max_address_groups: no ``co_resident`` edges at an address where they
            would bring together more than this many groups that stronger
            rules left apart (a hostel or refuge of single people and small
            families); a family and one loose person, or two loose persons,
            still join.
        max_household_size: a weak edge level is dropped inside any component
            it would grow beyond this size.
        max_group_size: tenancies and incidents with more persons than this
            are not used (a data error or a block-wide record).
        link_co_residents: draw ``co_resident`` edges at all.
        co_resident_tenancy: a shared address alone never joins a member of a
            current residence group (a tenancy) to a non-member: the tenancy
            lists who lives there (a child also recorded at a separated
            parent's tenancy, two tenancies under one UPRN); a person sharing a
            member's surname there, or whose named parent or carer does, still joins.
        surname_expected: a postcode-only person and a same-surname person at
            their postcode are paired when fewer people of that surname than
            this are expected there by chance (the surname's share of the
            placed persons times the persons placed at the postcode) ...
        surname_expected_family: ... or fewer than this when their ages fit
            a child with a parent or a sibling (both 0: no ``surname_postcode``
            edges).
        surname_family_years: the most years between a child (under 18) and
            an older person whose ages fit a family for ``surname_expected_family``
            (55: a parent or sibling; about 80 also admits a grandparent).
        surname_expected_couple: ... or fewer than this when both are adults at
            most ``surname_couple_years`` apart, as a couple's ages are (two
            unrelated adults of a surname are any ages), and the person known by
            postcode has no other such partner there, nor is either one a member
            of a current tenancy (it would list the partner).
        surname_couple_years: the most years between two adults whose ages
            fit a couple for ``surname_expected_couple``.
        surname_lone_years: ... but never when they are more than this many years apart
            and the surname is one person's alone among those placed at their address (a
            child known by a step-parent's or an absent father's surname, a partner's maiden
            name): a same-surname person a grandparent's age apart is then chance.
        surname_earlier_postcode: also pair, on the same terms, a person once
            recorded at the postcode (since moved, or placed by a newer
            record) with the same-surname persons placed there now.
        surname_typos: read a surname no one else placed in the area has, and
            one edit (at least four letters, first letter kept) from a surname
            at the person's postcode, as that surname for ``surname_postcode``
            (a clerk's slip on a person's only record: DIXUN among DIXONs).
        contact_first_name: a school's named contact whom no one answers by
            full name may be matched by first name alone to the only such
            adult at the pupil's ``"address"``, or, with ``"postcode"``,
            failing that, at the postcode (finds more mothers known by a
            maiden name to health or DWP, and wrongly joins nearly one in ten
            of those: the contact has no record, a namesake lives there);
            ``"off"`` keeps only surname typos.
        contact_first_name_expected: at ``"postcode"`` scope, only when fewer
            persons of that first name than this are expected at the pupil's
            postcode by chance (the first name's share of the placed persons
            times the persons placed there), and only a person known there by
            postcode alone.
        contact_unplaced_expected: a school's named contact is matched by
            full name anywhere to the only person of that name, when no record
            places that person (no postcode, no address), if fewer persons of
            that full name than this are expected in the area by chance (the
            first name's share times the surname's share times the persons); 0
            turns it off.
        birth_days: a mother's birth event (:class:`HouseholdEvidence`) at
            most this many days from a child's date of birth, at the child's
            postcode, makes a ``birth`` edge (-1 turns the rule off).
        moved_together: persons both recorded at this many distinct
            postcodes or more get a ``moved_together`` edge (a family seen
            before and after a move; below 2 turns the rule off).
    """

    max_address_persons: int = 15
    max_address_groups: int = 2
    max_household_size: int = 20
    max_group_size: int = 15
    link_co_residents: bool = True
    co_resident_tenancy: bool = True
    surname_expected: float = 0.05
    surname_expected_family: float = 0.5
    surname_family_years: float = 70
    surname_expected_couple: float = 0.15
    surname_couple_years: float = 6
    surname_lone_years: float = 45
    surname_earlier_postcode: bool = True
    surname_typos: bool = True
    contact_first_name: str = "postcode"
    contact_first_name_expected: float = 0.3
    contact_unplaced_expected: float = 0.1
    birth_days: int = 3
    moved_together: int = 2

    def __post_init__(self) -> None:
        for name in (
            "max_address_persons",
            "max_address_groups",
            "max_household_size",
            "max_group_size",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"HouseholdRules.{name} must be at least 1")
        if self.contact_first_name not in ("off", "address", "postcode"):
            raise ValueError('HouseholdRules.contact_first_name is "off", "address" or "postcode"')
        if self.birth_days < -1:
            raise ValueError("HouseholdRules.birth_days must be -1 (off) or more")


@dataclass(frozen=True)
class HouseholdEvidence:
    """Which declared groups and event types are household evidence.

    The agency declarations name them (the pipeline builds this from their
    ``households`` keys), so this library knows no agency's vocabulary; with
    the defaults no groups or events are used.

    Attributes:
        residence_groups: group kinds whose members live together at the
            group's address while the group is current (a tenancy): such a
            record places a person more firmly than any other, and members
            placed there get ``tenancy`` edges.
        incident_groups: group kinds whose members were involved in one
            domestic incident: ``domestic_incident`` edges.
        birth_events: event types recorded on a mother on the day she gives
            birth (a maternity event): ``birth`` edges.
    """

    residence_groups: tuple[str, ...] = ()
    incident_groups: tuple[str, ...] = ()
    birth_events: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("residence_groups", "incident_groups", "birth_events"):
            values = getattr(self, name)
            if isinstance(values, str) or not all(isinstance(v, str) and v for v in values):
                raise ValueError(f"HouseholdEvidence.{name} is a sequence of non-empty names")
            object.__setattr__(self, name, tuple(values))
        both = set(self.residence_groups) & set(self.incident_groups)
        if both:
            raise ValueError(f"group kinds both residence and incident: {sorted(both)}")


@dataclass(frozen=True)
class Households:
    """Result of :func:`build_households`.

    Attributes:
        members: one row per input person: ``person_id, household_key,
            address_key, address, postcode, uprn, located_on``.
        households: one row per household: ``household_key, n_members,
            address_key, address, postcode, uprn``.
        edges: the accepted edges that formed the households: ``person_a,
            person_b, reason, evidence, household_key``.
        guard: what the giant-component guards did: ``kind, key, n, action``.
        dropped_edges: the weak edges the size guard refused: ``person_a,
            person_b, reason, evidence``.
    """

    members: pd.DataFrame
    households: pd.DataFrame
    edges: pd.DataFrame
    guard: pd.DataFrame
    dropped_edges: pd.DataFrame


@dataclass(frozen=True)
class EdgeContext:
    """What every edge builder may read.

    Attributes:
        frame: mentions seen by the evaluation date, one row each, with their
            person ``node`` and its ``current_postcode`` and ``current_address_key``.
        place: one row per node, where it is placed (:func:`placement.place`).
        groups: mentions of usable groups (declared kinds, not too large).
        tenancies: the mentions of ``groups`` that are residence groups (tenancies) current
            on the evaluation date, of members placed there (several rules read them).
        contacts: every distinct ``node, contact_first_name, contact_last_name, postcode``
            of a record naming a parent or carer at a postcode (read by two rules).
        namesakes: every distinct ``node, first_name, last_name, postcode`` of a record at a
            postcode whose first name some contact has (who may answer one; two rules).
        at_address: placed nodes at addresses that are not crowded.
        surnames: every ``node, surname`` (parts of double-barrelled ones too).
        born: per node the ``min``, ``median`` and ``max`` date of birth recorded.
        age: per node, age in years on the evaluation date (median date of birth).
        rules: the tunable limits.
        evidence: which group kinds and event types count.
    """

    frame: pd.DataFrame
    place: pd.DataFrame
    groups: pd.DataFrame
    tenancies: pd.DataFrame
    contacts: pd.DataFrame
    namesakes: pd.DataFrame
    at_address: pd.DataFrame
    surnames: pd.DataFrame
    born: pd.DataFrame
    age: pd.Series
    rules: HouseholdRules
    evidence: HouseholdEvidence
