"""Household edge rules declared as data, like :mod:`matching.comparisons`.

Each :class:`EdgeRule` names the edge reasons it draws, the guard level of
each (:data:`EDGE_LEVELS`: level 0 is explicit evidence and is never dropped;
weaker levels are dropped inside components they would grow too big) and its
builder, which reads one :class:`EdgeContext` and returns edges ``a, b,
reason, evidence`` between person nodes. The rules, in :data:`EDGE_RULES` order:

* ``tenancy``: members of the same residence group (a tenancy), current on
  the evaluation date, who are placed at it;
* ``domestic_incident``: persons in the same incident group whose current
  postcodes do not disagree;
* ``parent_contact``: a pupil's named parent or carer, matched on
  standardised first and last name at the pupil's address (else current
  postcode, else a postcode both were ever recorded at);
  ``contact_typo``: on first name and a surname at most two edits away;
  ``contact_first_name``: on first name alone when no one answers the full
  name (a changed surname), the only adult of that name at the address, or
  the only one sharing a postcode with the pupil, known there by postcode
  alone, when the first name is rare enough there; ``contact_unplaced``: on
  full name anywhere, when the only person of that (uncommon) name has no
  postcode or address on any record;
* ``birth``: a mother's birth event on a child's date of birth at the
  child's postcode (events needed);
* ``shared_surname``: a shared surname (or part of a double-barrelled one)
  at the same current address;
* ``surname_postcode``: a person known only by postcode (health, DWP, YOT,
  social care send no address) and a same-surname person at that postcode,
  when they live at one address at most and chance is an unlikely
  explanation (a rare surname, or a child with a parent or sibling);
* ``co_resident``: placed at the same current address, adding only persons
  no other rule grouped (two families sharing a UPRN stay two), only at
  the home of the group it joins (not a separated parent's flat where a child
  is placed), never a person a current tenancy there does not list to its members,
  nor a pupil whose names (own surname, named parent's) no one else there holds;
* ``moved_together``: recorded at the same two (or more) postcodes.

Which group kinds and event types count (:class:`HouseholdEvidence`) comes
from the agency declarations, not from this code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rapidfuzz.distance import Levenshtein
from rapidfuzz.process import cpdist

from matching.households.contacts import contact_edges
from matching.households.model import EdgeContext, HouseholdEvidence, HouseholdRules
from matching.households.placement import join_tokens

__all__ = [
    "EDGE_LEVELS",
    "EDGE_RULES",
    "LOOSE_ONLY",
    "POSTCODE_LEVEL",
    "EdgeContext",
    "EdgeRule",
    "Reason",
    "candidate_edges",
]


@dataclass(frozen=True)
class Reason:
    """An edge reason: its guard level, and whether a shared postcode is all it needs.

    A postcode-only edge never joins two households already placed at
    different addresses, and a loose-only edge never joins two groups that
    stronger evidence formed (see :func:`matching.households.graph.guarded_components`).
    """

    name: str
    level: int
    postcode_only: bool = False
    loose_only: bool = False


@dataclass(frozen=True)
class EdgeRule:
    """One household rule: its name, the reasons it draws, and its builder."""

    name: str
    build: Callable[[EdgeContext], pd.DataFrame]
    reasons: tuple[Reason, ...]


def candidate_edges(
    frame: pd.DataFrame,
    place: pd.DataFrame,
    crowded: pd.Series,
    rules: HouseholdRules,
    evidence: HouseholdEvidence,
    as_of: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All candidate edges of :data:`EDGE_RULES` between person nodes, plus the groups
    too large to use."""
    node = frame["node"].to_numpy()
    frame["current_postcode"] = place["postcode"].to_numpy()[node]
    frame["current_address_key"] = place["address_key"].to_numpy()[node]
    kinds = [*evidence.residence_groups, *evidence.incident_groups]
    groups = frame[frame["group_ref"].notna() & frame["group_kind"].isin(kinds)]
    sizes = groups.drop_duplicates(["group_ref", "node"]).groupby("group_ref").size()
    large = sizes[sizes > rules.max_group_size]
    groups = groups[~groups["group_ref"].isin(large.index)]

    surnames = _surnames(frame)
    # records without a date of birth are left out first: a grouped median counts NaT as the
    # earliest date pandas can hold (pandas 2.3), which made such a person 180 years old
    dated = frame.loc[frame["dob"].notna(), ["node", "dob"]]
    born = dated.groupby("node")["dob"].agg(["min", "median", "max"]).reindex(range(len(place)))
    at_address = place[place["address_key"].notna() & ~place["address_key"].isin(crowded)]
    at_address = at_address.rename_axis("node").reset_index()
    age = (as_of - born["median"]).dt.days / 365.25
    contact = ["contact_first_name", "contact_last_name"]
    contacts = frame.loc[
        frame[contact].notna().all(axis=1) & frame["postcode"].notna(), ["node", *contact, "postcode"]
    ].drop_duplicates()
    namesakes = frame.loc[
        frame["first_name"].isin(contacts["contact_first_name"].unique()) & frame["postcode"].notna(),
        ["node", "first_name", "last_name", "postcode"],
    ].drop_duplicates()
    tenancies = _current_tenancies(groups, evidence.residence_groups)
    context = EdgeContext(
        frame, place, groups, tenancies, contacts, namesakes, at_address, surnames, born, age, rules,
        evidence,
    )
    edges = pd.concat([rule.build(context) for rule in EDGE_RULES], ignore_index=True)
    undeclared = set(edges["reason"].unique()).difference(r.name for r in _REASONS)
    if undeclared:
        raise RuntimeError(f"edge rules drew undeclared reasons: {sorted(undeclared)}")
    edges = edges.drop_duplicates(["a", "b", "reason"]).reset_index(drop=True)
    large_groups = pd.DataFrame({"key": large.index.astype(str), "n": large.to_numpy()})
    return edges, large_groups


def _star(frame: pd.DataFrame, by: list[str], reason: str, evidence: str) -> pd.DataFrame:
    """Connect every node of a group to the group's smallest node (enough for components).

    On arrays: the frame is not copied, nor grouped a second time for the hubs."""
    group = frame.groupby(by, sort=False).ngroup().to_numpy()  # NaN: a null key, no group
    rows = np.flatnonzero(~np.isnan(group)) if group.dtype.kind == "f" else np.arange(len(group))
    group, node = group[rows].astype(np.int64), frame["node"].to_numpy()[rows]
    first = ~pd.DataFrame({"group": group, "node": node}).duplicated().to_numpy()
    rows, group, node = rows[first], group[first], node[first]
    hub = np.full(int(group.max(initial=-1)) + 1, np.iinfo(np.int64).max)
    np.minimum.at(hub, group, node)
    spoke = node != hub[group]
    return pd.DataFrame(
        {
            "a": hub[group][spoke],
            "b": node[spoke],
            "reason": reason,
            "evidence": frame[evidence].to_numpy(dtype=object)[rows[spoke]],
        }
    )


def _current_tenancies(groups: pd.DataFrame, residence_groups: tuple[str, ...]) -> pd.DataFrame:
    """Mentions of residence groups (tenancies) current on the evaluation date whose member is
    placed there.

    Placement lets a current tenancy outrank later stale postcodes, so a
    member placed elsewhere has a newer tenancy or a newer full address.
    """
    tenancies = groups[groups["group_kind"].isin(residence_groups)]
    stayed = (
        tenancies["current_postcode"].isna()
        | tenancies["postcode"].isna()
        | (tenancies["current_postcode"] == tenancies["postcode"])
    )
    return tenancies[tenancies["current_tenancy"] & stayed]


def _tenancy_edges(ctx: EdgeContext) -> pd.DataFrame:
    """Members of a residence group (a tenancy) current on the evaluation date placed there."""
    return _star(ctx.tenancies, ["group_ref"], "tenancy", "group_ref")


def _incident_edges(ctx: EdgeContext) -> pd.DataFrame:
    """Pairs in one incident group whose current postcodes do not disagree."""
    incidents = ctx.groups[ctx.groups["group_kind"].isin(ctx.evidence.incident_groups)]
    people = incidents.drop_duplicates(["group_ref", "node"])[
        ["group_ref", "node", "current_postcode"]
    ]
    pairs = people.merge(people, on="group_ref", suffixes=("_a", "_b"))
    pairs = pairs[pairs["node_a"] < pairs["node_b"]]
    agree = (
        pairs["current_postcode_a"].isna()
        | pairs["current_postcode_b"].isna()
        | (pairs["current_postcode_a"] == pairs["current_postcode_b"])
    )
    pairs = pairs[agree]
    return pd.DataFrame(
        {
            "a": pairs["node_a"].to_numpy(),
            "b": pairs["node_b"].to_numpy(),
            "reason": "domestic_incident",
            "evidence": pairs["group_ref"].astype(str).to_numpy(),
        }
    )


def _birth_edges(ctx: EdgeContext) -> pd.DataFrame:
    """A mother's birth event on a child's date of birth (± ``rules.birth_days``) at one postcode.

    Health records a delivery as the mother's maternity event dated the day of
    birth (a declared birth event), and mother and baby often carry
    different surnames, so neither the surname rules nor a missing address
    join them. The event's postcode must
    be one the child was recorded at, or both must be placed at one postcode
    (the family may have moved since); a date of birth of any of the child's
    records counts.
    """
    frame, days = ctx.frame, ctx.rules.birth_days
    births = frame.loc[
        frame["event_type"].isin(ctx.evidence.birth_events) & frame["event_date"].notna(),
        ["node", "event_type", "event_date", "postcode", "current_postcode"],
    ]
    if days < 0 or births.empty:
        return _no_edges()
    offsets = np.repeat(np.arange(-days, days + 1), len(births))
    births = pd.concat([births] * (2 * days + 1), ignore_index=True)
    births["dob"] = births["event_date"] + pd.to_timedelta(offsets, unit="D")
    born = frame.loc[
        frame["dob"].isin(births["dob"]), ["node", "dob", "postcode", "current_postcode"]
    ]
    pairs = pd.concat(
        [
            births.dropna(subset=[place]).merge(
                born.dropna(subset=[place]), on=["dob", place], suffixes=("_mother", "_child")
            )
            for place in ("postcode", "current_postcode")
        ],
        ignore_index=True,
    )
    pairs = pairs[pairs["node_mother"] != pairs["node_child"]]
    # near misses lose to a birth on the day: the mother's to her own baby, the baby's to its mother
    gap = (pairs["dob"] - pairs["event_date"]).abs()
    closest = (gap == gap.groupby([pairs["node_mother"], pairs["event_date"]]).transform("min")) & (
        gap == gap.groupby(pairs["node_child"]).transform("min")
    )
    pairs = pairs[closest].drop_duplicates(["node_mother", "node_child"])
    return pd.DataFrame(
        {
            "a": pairs["node_mother"].to_numpy(),
            "b": pairs["node_child"].to_numpy(),
            "reason": "birth",
            "evidence": (
                pairs["event_type"]
                + " "
                + pairs["event_date"].dt.strftime("%Y-%m-%d")
                + ", born "
                + pairs["dob"].dt.strftime("%Y-%m-%d")
            ).to_numpy(dtype=object),
        }
    )


def _no_edges() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": np.array([], dtype=np.int64),
            "b": np.array([], dtype=np.int64),
            "reason": pd.Series(dtype=object),
            "evidence": pd.Series(dtype=object),
        }
    )


def _surnames(frame: pd.DataFrame) -> pd.DataFrame:
    """Every surname, and every part of a double-barrelled one, a person node was recorded with."""
    surnames = frame[["node", "last_name"]].dropna().drop_duplicates()
    unique = pd.Series(surnames["last_name"].unique())
    split = unique.str.split(r"[- ]+").explode()
    split = split[split.str.len() > 1]
    parts = surnames.merge(
        pd.DataFrame({"last_name": unique[split.index].to_numpy(), "surname": split.to_numpy()}),
        on="last_name",
    )
    return parts[["node", "surname"]].drop_duplicates()


def _surname_edges(ctx: EdgeContext) -> pd.DataFrame:
    """Persons at the same current address sharing a surname or part of one."""
    placed = ctx.surnames.merge(ctx.at_address[["node", "address_key"]], on="node")
    placed["evidence"] = placed["surname"] + " at " + placed["address_key"]
    return _star(placed, ["address_key", "surname"], "shared_surname", "evidence")


def _surname_postcode_edges(ctx: EdgeContext) -> pd.DataFrame:
    """Same surname at the same current postcode, for persons known there only by postcode.

    Health, DWP, YOT and social care records carry a postcode but no address.
    Such a person is paired with each same-surname person at their postcode
    when those live at one address at most (two same-surname addresses are
    ambiguous) and chance is an unlikely explanation: the number of people of
    that surname expected at the postcode by chance (the surname's share of
    the placed persons times the persons placed there) is below
    ``rules.surname_expected``, or below ``rules.surname_expected_family``
    when their ages fit a child with a parent or sibling (the younger under
    18, at most ``rules.surname_family_years`` apart), or below
    ``rules.surname_expected_couple`` when they fit a couple (both adults, at
    most ``rules.surname_couple_years`` apart, and the only one of a partner's
    age there for the person known by postcode). A SMITH shares a postcode with
    another SMITH by chance; a WHITHOPE rarely does, and two adult SMITHs more
    often than a SMITH child and a SMITH thirty years older, or two SMITHs of
    an age. A surname its holder alone carries among those placed at their
    address (a child known by a step-parent's surname among the LANGCOMBEs)
    pairs with no one more than ``rules.surname_lone_years`` apart.
    """
    surnames, place, age, rules = ctx.surnames, ctx.place, ctx.age, ctx.rules
    current = (
        place[["postcode", "address_key"]]
        .rename_axis("node")
        .reset_index()
        .dropna(subset="postcode")
    )
    placed = surnames.merge(current, on="node").assign(earlier=False, typed=None)
    n_placed = max(int(place["postcode"].notna().sum()), 1)
    holders = placed.groupby("surname", sort=False)["node"].nunique()
    share = holders / n_placed
    parts = [placed]
    if rules.surname_typos:  # by the count itself: share * n_placed is not 1.0 for 49, 98, 103 ... placed
        parts.append(_mistyped_surnames(placed, holders))
    if rules.surname_earlier_postcode:
        seen = ctx.frame[["node", "postcode", "current_postcode"]].dropna(subset="postcode")
        seen = seen.loc[seen["postcode"] != seen["current_postcode"], ["node", "postcode"]]
        earlier = surnames.merge(seen.drop_duplicates(), on="node")
        parts.append(earlier.assign(address_key=None, earlier=True, typed=None))
    placed = _stack(parts)
    at_postcode = placed["postcode"].map(place["postcode"].value_counts()).fillna(0)
    group = placed.groupby(["postcode", "surname"], sort=False).ngroup()
    placed = placed.assign(
        expected=placed["surname"].map(share).fillna(0) * at_postcode, group=group
    )
    by_group = placed.groupby("group")
    shared = (by_group["node"].transform("nunique") > 1) & (
        by_group["address_key"].transform("nunique") <= 1
    )
    placed = placed[shared]
    pairs = placed[placed["address_key"].isna()].merge(
        placed[["group", "node", "earlier", "typed"]], on="group", suffixes=("", "_other")
    )
    pairs = pairs[
        (pairs["node"] != pairs["node_other"]) & ~(pairs["earlier"] & pairs["earlier_other"])
    ]
    one, other = age.to_numpy()[pairs["node"]], age.to_numpy()[pairs["node_other"]]
    adults, gap = np.fmin(one, other) >= 18, np.abs(one - other)
    family = (np.fmin(one, other) < 18) & (gap <= rules.surname_family_years)
    # a current tenancy lists its tenant's partner: one it does not list is not theirs
    tenants = ctx.tenancies["node"].unique()
    listed = np.isin(pairs["node"], tenants) | np.isin(pairs["node_other"], tenants)
    couple = adults & (gap <= rules.surname_couple_years) & ~listed
    # a couple is two: with two or more of a partner's age there, which one is not known
    partners = pd.Series(pairs["node_other"].to_numpy()[couple])
    candidates = partners.groupby([pairs["node"].to_numpy()[couple], pairs["group"].to_numpy()[couple]])
    couple[couple] = candidates.transform("nunique").to_numpy() == 1
    limit = np.select(
        [family, couple],
        [rules.surname_expected_family, rules.surname_expected_couple],
        rules.surname_expected,
    )
    plausible = pairs["expected"].to_numpy() < limit
    # a surname one person alone carries among the others placed at their address (a
    # step-parent's, an absent father's), shared by someone a grandparent's age apart: chance
    lone = _lone_surname(ctx, pairs["node_other"].to_numpy(), pairs["surname"].to_numpy())
    pairs = pairs[plausible & ~((gap > rules.surname_lone_years) & lone)]
    then = (pairs["earlier"] | pairs["earlier_other"]).to_numpy()
    return pd.DataFrame(
        {
            "a": pairs["node"].to_numpy(),
            "b": pairs["node_other"].to_numpy(),
            "reason": np.where(then, "surname_earlier_postcode", "surname_postcode"),
            "evidence": (
                pairs["surname"]
                + _typed_as(pairs["typed"])
                + _typed_as(pairs["typed_other"])
                + " at "
                + pairs["postcode"]
                + np.where(then, " (earlier)", "")
            ).to_numpy(dtype=object),
        }
    )


def _stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The rows of frames with the same columns, one after another (a new range index):
    ``pd.concat`` probes each value of an all-null text column (``typed``) in Python."""
    return pd.DataFrame(
        {c: np.concatenate([frame[c].to_numpy() for frame in frames]) for c in frames[0].columns}
    )


def _lone_surname(ctx: EdgeContext, nodes: np.ndarray, surnames: np.ndarray) -> np.ndarray:
    """Per (node, surname): is the node placed at an address with others, none of whom holds
    the surname (``rules.surname_lone_years``)?"""
    if ctx.at_address.empty:
        return np.zeros(len(nodes), dtype=bool)
    # addresses and surnames as codes, an (address, surname) pair as one integer
    address = np.full(len(ctx.place), -1)
    address[ctx.at_address["node"].to_numpy()] = pd.factorize(ctx.at_address["address_key"])[0]
    holders = ctx.surnames[address[ctx.surnames["node"].to_numpy()] >= 0]
    code, names = pd.factorize(np.concatenate([holders["surname"].to_numpy(dtype=object), surnames]))
    held = pd.Series(address[holders["node"].to_numpy()] * len(names) + code[: len(holders)]).value_counts()
    here = address[nodes]
    with_others = (here >= 0) & (np.bincount(address[address >= 0])[here] >= 2)
    return with_others & (held.reindex(here * len(names) + code[len(holders) :], fill_value=0).to_numpy() <= 1)


def _typed_as(typed: pd.Series) -> pd.Series:
    return (" (typed " + typed + ")").fillna("")


def _mistyped_surnames(placed: pd.DataFrame, persons: pd.Series) -> pd.DataFrame:
    """Surnames held by one placed person only, read as the surname one edit away at their postcode.

    A typo on a person's only record makes a surname no one else has; a
    genuinely rare surname one slip from a neighbour's is rarer still. The
    first letter is kept (clerks rarely mistype it) and short names are left
    alone (one edit from many others), and so is a surname one edit from two
    at the postcode. Returns ``placed`` rows with the corrected ``surname``
    and the ``typed`` one.
    """
    # surnames as codes: a surname's length and first letter are read once, not once per pair
    code, names = pd.factorize(placed["surname"])
    names = pd.Series(names, dtype=object)
    length = names.str.len().to_numpy()
    initial = pd.factorize(names.str[0])[0]
    alone = (persons.reindex(names).to_numpy() == 1) & (length >= 4)
    rows = placed[["node", "postcode", "address_key"]].assign(surname=code)
    pairs = rows[alone[code]].merge(
        rows[["postcode", "surname"]].drop_duplicates(), on="postcode", suffixes=("", "_near")
    )
    typed, near = pairs["surname"].to_numpy(), pairs["surname_near"].to_numpy()
    close = (typed != near) & (initial[typed] == initial[near]) & (np.abs(length[typed] - length[near]) <= 1)
    pairs, typed, near = pairs[close], names.to_numpy()[typed[close]], names.to_numpy()[near[close]]
    one_edit = np.asarray(cpdist(typed.tolist(), near.tolist(), scorer=Levenshtein.distance)) == 1
    pairs, typed, near = pairs[one_edit], typed[one_edit], near[one_edit]
    reading = ~pairs.duplicated(["node", "surname", "postcode"], keep=False).to_numpy()  # one
    return pd.DataFrame(
        {
            "node": pairs["node"].to_numpy()[reading],
            "surname": near[reading],
            "postcode": pairs["postcode"].to_numpy()[reading],
            "address_key": pairs["address_key"].to_numpy()[reading],
            "earlier": False,
            "typed": typed[reading],
        }
    )


def _moved_together_edges(ctx: EdgeContext) -> pd.DataFrame:
    """Persons recorded at the same ``rules.moved_together`` (or more) distinct postcodes.

    A family that moves is seen at the old postcode and then at the new one
    by every agency in its own time (health and DWP lag), so its members end
    up placed apart, whatever their surnames. Two unrelated people are rarely
    both recorded at the same two postcodes (neighbours moving to the same
    new street together). A postcode-level edge: never between two
    households placed at different addresses.
    """
    need = ctx.rules.moved_together
    if need < 2:
        return _no_edges()
    seen = ctx.frame[["node", "postcode"]].dropna().drop_duplicates()
    seen = seen[seen.groupby("node")["node"].transform("size").to_numpy() >= need]
    pairs = seen.merge(seen, on="postcode", suffixes=("_a", "_b"))
    pairs = pairs[pairs["node_a"] < pairs["node_b"]]
    # a pair of nodes as one integer, ordered as the pair is
    n_nodes = len(ctx.place)
    pair = pairs["node_a"].to_numpy(dtype=np.int64) * n_nodes + pairs["node_b"].to_numpy(dtype=np.int64)
    _, of_pair, size = np.unique(pair, return_inverse=True, return_counts=True)
    qualify = size[of_pair] >= need
    postcodes = pd.DataFrame(
        {"row": pair[qualify], "token": pairs["postcode"].to_numpy(dtype=object)[qualify]}
    ).sort_values(["row", "token"])
    shared = join_tokens(postcodes, int(size.max(initial=0)))
    a, b = np.divmod(shared.index.to_numpy(dtype=np.int64), n_nodes)
    return pd.DataFrame(
        {
            "a": a,
            "b": b,
            "reason": "moved_together",
            "evidence": ("postcodes " + shared).to_numpy(dtype=object),
        }
    )


def _co_resident_edges(ctx: EdgeContext) -> pd.DataFrame:
    """Persons placed at the same current address (unless ``rules.link_co_residents`` is off).

    With ``rules.co_resident_tenancy``, a current tenancy's members are the
    household at its address: a shared address alone never joins a member to a
    non-member (a child also known at a separated parent's flat, another
    tenancy under one UPRN). Stronger evidence, such as a shared surname or a
    named parent, still does.
    """
    if not ctx.rules.link_co_residents:
        return _no_edges()
    placed = ctx.at_address.assign(tenancy="")
    if ctx.rules.co_resident_tenancy:
        placed["tenancy"] = _tenancy_of_address(ctx, placed)
    stranger = _stranger_pupils(ctx, placed)
    placed["tenancy"] = placed["tenancy"].where(~stranger, "pupil " + placed["node"].astype(str))
    return _star(placed, ["address_key", "tenancy"], "co_resident", "address_key")


def _stranger_pupils(ctx: EdgeContext, placed: pd.DataFrame) -> pd.Series:
    """Per placed node: a pupil whose school names a parent or carer no one answers by full
    name at a postcode the pupil was recorded at, and who shares neither their own surname nor
    that contact's with anyone else placed at the address (as a surname or as a named
    contact: half-siblings name one mother).

    The named parent lives with the pupil, and a family carries the parent's or the pupil's
    surname; a pupil whose names no one at the address holds is another family's under the
    same UPRN (a house of flats), whose parent no agency has sent.
    """
    contacts = ctx.contacts
    named = ["contact_first_name", "contact_last_name"]
    found = contacts.merge(ctx.namesakes, left_on=[*named, "postcode"],
                           right_on=["first_name", "last_name", "postcode"])
    unanswered = contacts.loc[~contacts["node"].isin(found["node_x"]), ["node", "contact_last_name"]]
    named_kin = contacts[["node", "contact_last_name"]].set_axis(["node", "surname"], axis=1)
    kin = pd.concat([ctx.surnames, named_kin]).drop_duplicates()
    at = placed[["node", "address_key"]]
    pupils = at.merge(kin[kin["node"].isin(unanswered["node"])], on="node")
    others = at[at["address_key"].isin(pupils["address_key"])].merge(kin, on="node")  # pupils' neighbours
    shared = pupils.merge(others, on=["address_key", "surname"], suffixes=("", "_other"))
    shared = shared[shared["node"] != shared["node_other"]]
    alone = ~placed["address_key"].duplicated(keep=False)
    return placed["node"].isin(pupils["node"]) & ~placed["node"].isin(shared["node"]) & ~alone


def _tenancy_of_address(ctx: EdgeContext, placed: pd.DataFrame) -> pd.Series:
    """Per placed node, the current tenancy at its address it belongs to, or ``""``.

    A member belongs to its tenancy; so does a non-member who shares a member's
    surname there, or whose named parent or carer has it (a child born since the
    tenancy began, or the tenant's partner's child, is not listed).
    """
    tenancy = placed["node"].map(_smallest(ctx.tenancies, "node", "group_ref"))
    at = placed[["node", "address_key"]].assign(tenancy=tenancy.to_numpy())
    members = at.dropna(subset="tenancy").merge(ctx.surnames, on="node")
    # non-members placed where a member is: the only ones who may join a tenancy
    others = at[tenancy.isna().to_numpy() & at["address_key"].isin(members["address_key"]).to_numpy()]
    surnames = ctx.surnames[ctx.surnames["node"].isin(others["node"])]
    contacts = ctx.frame[["node", "contact_last_name"]]
    contacts = contacts[contacts["node"].isin(others["node"])].dropna().drop_duplicates()
    named = pd.concat([surnames, contacts.set_axis(["node", "surname"], axis=1)])
    others = others.drop(columns="tenancy").merge(named, on="node")
    kin = members.drop(columns="node").merge(others, on=["address_key", "surname"])
    return tenancy.fillna(placed["node"].map(_smallest(kin, "node", "tenancy"))).fillna("")


def _smallest(frame: pd.DataFrame, by: str, column: str) -> pd.Series:
    """Per ``by`` value, the smallest text of ``column``: a grouped ``min`` of strings falls
    back to Python once per group (about a second a month on a large area), a sort does not."""
    first = frame[[by, column]].dropna().sort_values(column, kind="stable").drop_duplicates(by)
    return first.set_index(by)[column]


#: The household rules, in the order their edges are drawn.
EDGE_RULES: tuple[EdgeRule, ...] = (
    EdgeRule("tenancy", _tenancy_edges, (Reason("tenancy", 0),)),
    EdgeRule("domestic_incident", _incident_edges, (Reason("domestic_incident", 0),)),
    EdgeRule(
        "contact",
        contact_edges,
        (
            Reason("parent_contact", 0),
            Reason("contact_typo", 0),
            Reason("contact_first_name", 4, postcode_only=True),
            Reason("contact_unplaced", 0),
        ),
    ),
    EdgeRule("birth", _birth_edges, (Reason("birth", 0),)),
    EdgeRule("shared_surname", _surname_edges, (Reason("shared_surname", 1),)),
    EdgeRule(
        "surname_postcode",
        _surname_postcode_edges,
        (
            Reason("surname_postcode", 3, postcode_only=True),
            Reason("surname_earlier_postcode", 3, postcode_only=True),
        ),
    ),
    EdgeRule("co_resident", _co_resident_edges, (Reason("co_resident", 2, loose_only=True),)),
    EdgeRule(
        "moved_together",
        _moved_together_edges,
        (Reason("moved_together", 3, postcode_only=True),),
    ),
)
_REASONS = tuple(reason for rule in EDGE_RULES for reason in rule.reasons)

#: Edge reasons by guard level, strongest first. Level 0 is explicit evidence and is never
#: dropped by the size guard; later levels are dropped inside components they would grow
#: beyond ``HouseholdRules.max_household_size``.
EDGE_LEVELS: tuple[tuple[str, ...], ...] = tuple(
    tuple(r.name for r in _REASONS if r.level == level)
    for level in sorted({r.level for r in _REASONS})
)

#: Edge reasons that need no shared address, only a shared postcode.
POSTCODE_LEVEL = frozenset(r.name for r in _REASONS if r.postcode_only)

#: Edge reasons that only add persons no other rule has grouped.
LOOSE_ONLY = frozenset(r.name for r in _REASONS if r.loose_only)
