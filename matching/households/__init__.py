"""Group provisional persons into households (families).

Persons and households are separate stages (see docs/data-model.md and the
peers' lessons): this package never changes person links, it only connects
persons that live together. Every link is an edge with a reason, so a
caseworker can be shown why two people are in one family.

Each person is first placed at one current location as of the evaluation
date (:mod:`~matching.households.placement`); edges are then drawn by the
household rules, declared as data (:mod:`~matching.households.rules`), from
the evidence the agency declarations name (:class:`HouseholdEvidence`: which
groups are residences or incidents, which events mark a birth). Households
are the connected components of those edges
(:mod:`~matching.households.graph`). Addresses with more placed persons than
``max_address_persons`` (hostels, care homes) get no address-only edges, and
each weak edge level (:data:`EDGE_LEVELS`) is dropped inside any component
it would grow beyond ``max_household_size``. Both guards are reported, never
silent. A postcode-level edge never joins two households already placed at
different addresses, unless one was recorded at the other's (a family that
moved); a shared address alone (``co_resident``) never joins two groups that
any other rule formed, nor more than ``max_address_groups`` groups.

The rules and their defaults are measured by ``benchmarks/households.py``
(family-level pairwise precision and recall on generated data).
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from matching.households.graph import (
    guarded_components,
    household_labels,
    household_table,
    name_edges,
    oversized_report,
)
from matching.households.model import HouseholdEvidence, HouseholdRules, Households
from matching.households.placement import address_keys, crowded_addresses, place, prepare
from matching.households.rules import (
    EDGE_LEVELS,
    EDGE_RULES,
    LOOSE_ONLY,
    POSTCODE_LEVEL,
    candidate_edges,
)

__all__ = [
    "EDGE_LEVELS",
    "EDGE_RULES",
    "HouseholdEvidence",
    "HouseholdRules",
    "Households",
    "address_keys",
    "build_households",
]


def build_households(
    mentions: pd.DataFrame,
    as_of: date | str | pd.Timestamp,
    rules: HouseholdRules | None = None,
    events: pd.DataFrame | None = None,
    evidence: HouseholdEvidence | None = None,
) -> Households:
    """Group the persons of a mention frame into provisional households.

    Args:
        mentions: the person-mention frame of docs/data-model.md with a
            provisional ``person_id`` column. ``mention_id``, ``person_id``
            and ``seen_date`` are required; the other columns the rules use
            (see module docstring) are treated as null when absent.
        as_of: evaluation date; mentions seen after it are ignored, so
            re-running a past date gives the past households.
        rules: tunable limits, defaults from :class:`HouseholdRules`.
        events: optional ``staging.events`` rows of the same mentions
            (``mention_id``, ``event_type``, ``event_date``, ``end_date``).
            A closed span dates its address by its end, a residence group is
            current unless it ended by ``as_of`` (else the extract's
            ``tenancy_current`` is used), and a birth event links a mother to
            the child born that day (no ``birth`` edges without).
        evidence: which group kinds and event types are household evidence;
            the pipeline builds it from the agency declarations. Without it
            no group or event is used.

    Returns:
        :class:`Households`; every input person belongs to exactly one
        household, so every household has at least one member.

    Example:
        >>> result = build_households(mentions, "2026-03-31", events=events, evidence=evidence)
        >>> result.members[["person_id", "household_key"]]
    """
    rules = rules or HouseholdRules()
    evidence = evidence or HouseholdEvidence()
    as_of = pd.Timestamp(as_of)
    frame, person_ids = prepare(mentions, events, as_of, evidence)
    n_nodes = len(person_ids)
    placed = place(frame, n_nodes)

    crowded = crowded_addresses(placed, rules)
    edges, large_groups = candidate_edges(frame, placed, crowded["key"], rules, evidence, as_of)
    homes = pd.Index(placed["address_key"].dropna().unique())
    address = homes.get_indexer(placed["address_key"])
    recorded = frame[["node", "address_key"]].dropna().drop_duplicates()
    recorded = pd.DataFrame(
        {"node": recorded["node"], "address": homes.get_indexer(recorded["address_key"])}
    )
    accepted, dropped, oversized = guarded_components(
        edges,
        n_nodes,
        rules.max_household_size,
        address,
        EDGE_LEVELS,
        POSTCODE_LEVEL,
        recorded[recorded["address"] >= 0],
        LOOSE_ONLY,
        rules.max_address_groups,
    )
    labels = household_labels(accepted, n_nodes)

    members = placed.assign(person_id=person_ids, household_key=labels)[
        ["person_id", "household_key", "address_key", "address", "postcode", "uprn", "located_on"]
    ]
    edges_out = name_edges(accepted, person_ids).assign(
        household_key=labels[accepted["a"].to_numpy()]
    )
    guard = pd.concat(
        [
            crowded.assign(kind="crowded_address", action="no co_resident or shared_surname edges"),
            large_groups.assign(kind="large_group", action="group not used"),
            oversized_report(dropped, labels, oversized),
        ],
        ignore_index=True,
    )[["kind", "key", "n", "action"]]
    return Households(
        members=members,
        households=household_table(members),
        edges=edges_out,
        guard=guard,
        dropped_edges=name_edges(dropped, person_ids),
    )
