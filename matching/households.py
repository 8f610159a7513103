"""Group provisional persons into households (families).

Persons and households are separate stages (see docs/data-model.md and the
peers' lessons): this module never changes person links, it only connects
persons that live together. Every link is an edge with a reason, so a
caseworker can be shown why two people are in one family.

Each person is first *placed* at one current location as of the evaluation
date, by evidence rather than by their latest record (health and DWP rows
often keep an old postcode for months after a move): the postcode first
sighted most recently (``seen_date <= as_of``; a closed span is dated by its
end), unless a stronger record (a tenancy current on that date, a full
address) vouches for another postcode since; then the best full address seen
at that postcode. Edges are then drawn from

* ``tenancy``: members of the same tenancy, current on the evaluation date,
  who are placed at it;
* ``domestic_incident``: persons in the same police domestic incident whose
  current postcodes do not disagree;
* ``parent_contact``: a pupil's named parent or carer, matched on
  standardised first and last name at the pupil's address (else postcode);
  ``contact_typo``: on first name and a surname at most two edits away;
  ``contact_first_name``: on first name alone when no one answers the full
  name (a changed surname), the only adult of that name at the address;
* ``birth``: a mother's ``MATERNITY`` event on a child's date of birth at
  the child's postcode (events needed);
* ``shared_surname``: a shared surname (or part of a double-barrelled one)
  at the same current address;
* ``co_resident``: placed at the same current address;
* ``surname_postcode``: a person known only by postcode (health, DWP, YOT,
  social care send no address) and a same-surname person at that postcode,
  when they live at one address at most and chance is an unlikely
  explanation (a rare surname, or a child with a parent or sibling).

Households are the connected components of those edges. Addresses with more
placed persons than ``max_address_persons`` (hostels, care homes) get no
address-only edges, and each weak edge level (:data:`EDGE_LEVELS`) is
dropped inside any component it would grow beyond ``max_household_size``.
Both guards are reported, never silent. A postcode-level edge never joins two
households already placed at different addresses.

The rules and their defaults are measured by ``benchmarks/households.py``
(family-level pairwise precision and recall on generated data).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype
from rapidfuzz.distance import Levenshtein
from rapidfuzz.process import cpdist
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = [
    "EDGE_LEVELS",
    "HouseholdRules",
    "Households",
    "address_keys",
    "build_households",
]

_REQUIRED = ("mention_id", "person_id", "seen_date")
_EVENT_COLUMNS = ("event_type", "event_date", "end_date")
_NOT_TEXT = frozenset({"dob", "tenancy_current"})
_OPTIONAL = (
    "agency",
    "first_name",
    "last_name",
    "dob",
    "address",
    "postcode",
    "uprn",
    "group_kind",
    "group_ref",
    "tenancy_current",
    "contact_first_name",
    "contact_last_name",
)

# Spelling variants folded before addresses are compared; the target is only
# used as a key, so consistency matters more than postal correctness.
_ADDRESS_WORDS = {
    "RD": "ROAD",
    "ST": "STREET",
    "AVE": "AVENUE",
    "AV": "AVENUE",
    "LN": "LANE",
    "DR": "DRIVE",
    "CL": "CLOSE",
    "CRES": "CRESCENT",
    "CT": "COURT",
    "PL": "PLACE",
    "GDNS": "GARDENS",
    "GRN": "GREEN",
    "GRV": "GROVE",
    "SQ": "SQUARE",
    "TER": "TERRACE",
    "TERR": "TERRACE",
    "APARTMENT": "FLAT",
    "APT": "FLAT",
    "FLT": "FLAT",
    "UNIT": "FLAT",
}
_FILLER_WORDS = frozenset({"FLAT", "THE", "OF", "AND"})
_NAME_WORDS_IN_KEY = 2
_MAX_IDENTIFIERS = 4

#: Edge reasons that need no shared address, only a shared postcode.
_POSTCODE_LEVEL = frozenset({"contact_first_name", "surname_postcode"})

#: Edge levels, strongest first. Level 0 is explicit evidence and is never
#: dropped by the size guard; later levels are dropped inside components
#: they would grow beyond ``HouseholdRules.max_household_size``.
EDGE_LEVELS: tuple[tuple[str, ...], ...] = (
    ("tenancy", "domestic_incident", "parent_contact", "birth", "contact_typo"),
    ("shared_surname",),
    ("co_resident",),
    ("surname_postcode",),
    ("contact_first_name",),
)


@dataclass(frozen=True)
class HouseholdRules:
    """Household rules that an authority may tune.

    Attributes:
        max_address_persons: addresses with more placed persons than this are
            treated as shared accommodation: no ``co_resident`` or
            ``shared_surname`` edges are drawn there.
        max_household_size: a weak edge level is dropped inside any component
            it would grow beyond this size.
        max_group_size: tenancies and incidents with more persons than this
            are not used (a data error or a block-wide record).
        link_co_residents: draw ``co_resident`` edges at all.
        surname_expected: a postcode-only person and a same-surname person at
            their postcode are paired when fewer people of that surname than
            this are expected there by chance (the surname's share of the
            placed persons times the persons placed at the postcode) ...
        surname_expected_family: ... or fewer than this when their ages fit
            a child with a parent or a sibling (both 0: no ``surname_postcode``
            edges).
        contact_first_name: a school's named contact whom no one answers by
            full name may be matched by first name alone to the only such
            adult at the pupil's ``"address"``, or, with ``"postcode"``,
            failing that, at the postcode (finds more mothers known by a
            maiden name to health or DWP, and wrongly joins nearly one in ten
            of those: the contact has no record, a namesake lives there);
            ``"off"`` keeps only surname typos.
        birth_days: a mother's ``MATERNITY`` event at most this many days
            from a child's date of birth, at the child's postcode, makes a
            ``birth`` edge (-1 turns the rule off).
    """

    max_address_persons: int = 15
    max_household_size: int = 20
    max_group_size: int = 15
    link_co_residents: bool = True
    surname_expected: float = 0.05
    surname_expected_family: float = 0.5
    contact_first_name: str = "address"
    birth_days: int = 3

    def __post_init__(self) -> None:
        for name in ("max_address_persons", "max_household_size", "max_group_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"HouseholdRules.{name} must be at least 1")
        if self.contact_first_name not in ("off", "address", "postcode"):
            raise ValueError('HouseholdRules.contact_first_name is "off", "address" or "postcode"')
        if self.birth_days < -1:
            raise ValueError("HouseholdRules.birth_days must be -1 (off) or more")


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


def address_keys(address: pd.Series, postcode: pd.Series) -> pd.Series:
    """Comparable key for a free-text address at a postcode.

    The key is ``postcode|identifiers|first two street words``, where the
    identifiers are every token holding a digit or a single letter (sorted;
    a flat number is marked, so ``FLAT 1, 2 X`` is not ``FLAT 2, 1 X``), so
    ``FLAT 14A`` and ``FLAT 14C`` (or ``FLAT A`` and ``FLAT B``) never share
    a key, while ``12 High St, Leeds`` and ``12 HIGH STREET`` do. Null
    when the address or postcode is missing. Work is done once per distinct
    (address, postcode).
    """
    pairs = pd.DataFrame({"address": address, "postcode": postcode})
    codes = pairs.groupby(["address", "postcode"], sort=False).ngroup()
    first = codes.notna() & ~codes.duplicated()
    unique = pairs[first].set_index(codes[first].astype(np.int64)).sort_index()
    text = (
        unique["address"]
        .str.upper()
        .str.replace(r"[^A-Z0-9]+", " ", regex=True)
        .str.replace(r"(?<=\d) (?=[A-Z]\b)", "", regex=True)
    )
    tokens = text.str.split().explode().dropna()
    tokens = tokens.map(_ADDRESS_WORDS).fillna(tokens)
    tokens = tokens.rename("token").rename_axis("row").reset_index()
    is_identifier = tokens["token"].str.contains(r"\d") | (tokens["token"].str.len() == 1)
    # "FLAT 1, 2 X ST" and "FLAT 2, 1 X ST" differ: a flat's number is marked as such
    after_flat = tokens.groupby("row")["token"].shift(1).eq("FLAT").to_numpy()
    tokens.loc[after_flat & is_identifier, "token"] = "FLAT" + tokens["token"]
    identifiers = _join_tokens(
        tokens[is_identifier].sort_values(["row", "token"]), _MAX_IDENTIFIERS
    )
    words = _join_tokens(
        tokens[~is_identifier & ~tokens["token"].isin(_FILLER_WORDS)], _NAME_WORDS_IN_KEY
    )
    body = pd.DataFrame({"ids": identifiers, "words": words}).reindex(unique.index)
    key = unique["postcode"] + "|" + body["ids"].fillna("") + "|" + body["words"].fillna("")
    key = key.where(body.notna().any(axis=1)).to_numpy(dtype=object)
    known = codes.notna().to_numpy()
    mapped = np.full(len(codes), None, dtype=object)
    mapped[known] = key[codes[known].to_numpy(dtype=np.int64)]
    return pd.Series(mapped, index=address.index, name="address_key")


def _join_tokens(tokens: pd.DataFrame, limit: int) -> pd.Series:
    """Join the first ``limit`` tokens of each row with spaces (vectorised, no per-row Python)."""
    if tokens.empty:
        return pd.Series(dtype=object)
    rank = tokens.groupby("row").cumcount()
    wide = tokens[rank < limit].assign(rank=rank).pivot(index="row", columns="rank", values="token")
    joined = wide[0]
    for column in wide.columns[1:]:
        joined = joined + " " + wide[column].fillna("")
    return joined.str.strip()


def build_households(
    mentions: pd.DataFrame,
    as_of: date | str | pd.Timestamp,
    rules: HouseholdRules | None = None,
    events: pd.DataFrame | None = None,
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
            A closed span dates its address by its end, a tenancy is current
            unless it ended by ``as_of`` (else the extract's
            ``tenancy_current`` is used), and a ``MATERNITY`` event links a
            mother to the child born that day (no ``birth`` edges without).

    Returns:
        :class:`Households`; every input person belongs to exactly one
        household, so every household has at least one member.

    Example:
        >>> result = build_households(mentions, "2026-03-31", events=events)
        >>> result.members[["person_id", "household_key"]]
    """
    rules = rules or HouseholdRules()
    as_of = pd.Timestamp(as_of)
    frame, person_ids = _prepare(mentions, events, as_of)
    n_nodes = len(person_ids)
    place = _place(frame, n_nodes)

    crowded = _crowded_addresses(place, rules)
    edges, large_groups = _edges(frame, place, crowded["key"], rules, as_of)
    address = pd.factorize(place["address_key"])[0]
    accepted, dropped, oversized = _guarded_components(edges, n_nodes, rules, address)
    labels = _household_labels(accepted, n_nodes)

    members = place.assign(person_id=person_ids, household_key=labels)[
        ["person_id", "household_key", "address_key", "address", "postcode", "uprn", "located_on"]
    ]
    edges_out = _name_edges(accepted, person_ids).assign(
        household_key=labels[accepted["a"].to_numpy()]
    )
    guard = pd.concat(
        [
            crowded.assign(kind="crowded_address", action="no co_resident or shared_surname edges"),
            large_groups.assign(kind="large_group", action="group not used"),
            _oversized_report(dropped, labels, oversized),
        ],
        ignore_index=True,
    )[["kind", "key", "n", "action"]]
    return Households(
        members=members,
        households=_household_table(members),
        edges=edges_out,
        guard=guard,
        dropped_edges=_name_edges(dropped, person_ids),
    )


def _prepare(
    mentions: pd.DataFrame, events: pd.DataFrame | None, as_of: pd.Timestamp
) -> tuple[pd.DataFrame, np.ndarray]:
    """Validate, keep mentions seen by ``as_of``, attach events, address keys and sightings.

    Also returns every input person id; a mention's ``node`` is its person's
    position there (ids sorted, so nodes are too).
    """
    missing = [c for c in _REQUIRED if c not in mentions.columns]
    if missing:
        raise ValueError(f"mentions lack required column(s): {', '.join(missing)}")
    if mentions["person_id"].isna().any():
        raise ValueError("every mention needs a provisional person_id")
    frame = mentions.reindex(columns=[*_REQUIRED, *_OPTIONAL])
    frame["node"], person_ids = pd.factorize(mentions["person_id"], sort=True)
    frame["seen_date"] = pd.to_datetime(frame["seen_date"], errors="coerce")
    frame["dob"] = pd.to_datetime(frame["dob"], errors="coerce")
    seen = (frame["seen_date"].isna() | (frame["seen_date"] <= as_of)).to_numpy()
    if not seen.all():  # copying a million rows costs seconds: only when needed
        frame = frame[seen].copy()
    for column in _OPTIONAL:
        if column not in _NOT_TEXT:
            frame[column] = _as_text(frame[column])
    frame = _with_events(frame, events)
    frame["address_key"] = _address_key_with_uprn(frame)
    return _with_sightings(frame, as_of), np.asarray(person_ids)


def _with_events(frame: pd.DataFrame, events: pd.DataFrame | None) -> pd.DataFrame:
    """Each mention's event type and dates (null without an event)."""
    if events is None:
        events = pd.DataFrame(columns=["mention_id", *_EVENT_COLUMNS])
    if "mention_id" not in events.columns:
        raise ValueError("events lack the mention_id column")
    events = events.reindex(columns=["mention_id", *_EVENT_COLUMNS])
    # only ends and maternity events are used: looking up the rest would cost time for nothing
    used = events["end_date"].notna() | events["event_type"].eq("MATERNITY")
    events = events[used.to_numpy()].drop_duplicates("mention_id")
    row = pd.Index(events["mention_id"]).get_indexer(frame["mention_id"])
    frame["has_event"] = row >= 0

    def take(values: np.ndarray, missing: object) -> np.ndarray:
        return np.where(row >= 0, values[np.maximum(row, 0)] if len(values) else missing, missing)

    frame["event_type"] = take(events["event_type"].to_numpy(dtype=object), None)
    for column in ("event_date", "end_date"):
        dates = pd.to_datetime(events[column], errors="coerce").to_numpy(dtype="datetime64[ns]")
        frame[column] = take(dates, np.datetime64("NaT", "ns"))
    return frame


def _with_sightings(frame: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """When each record saw the person at its address, and how much it says about now.

    ``sighted``: a span closed by ``as_of`` (claim, episode, term) was last
    updated at its end, so it shows the address of that day; otherwise
    ``seen_date``. ``current_tenancy``: not ended by ``as_of``. ``tier``: 2
    for a current tenancy (the person lives there now), 1 for a record with a
    full address (schools, police, housing), 0 for a bare postcode (health,
    DWP, YOT, social care keep addresses least up to date). ``last_on``: the
    last day the record vouches for its address (``as_of`` for a current tenancy).
    """
    tenancy = frame["group_kind"].eq("tenancy").to_numpy()
    ended = (frame["end_date"] <= as_of).to_numpy()
    flag = frame["tenancy_current"].astype("boolean").fillna(True).to_numpy(dtype=bool)
    frame["current_tenancy"] = tenancy & np.where(frame["has_event"].to_numpy(), ~ended, flag)
    frame["sighted"] = frame["seen_date"].where(tenancy | ~ended, frame["end_date"])
    frame["tier"] = np.select(
        [frame["current_tenancy"].to_numpy(), frame["address_key"].notna().to_numpy()], [2, 1], 0
    )
    frame["last_on"] = frame["sighted"].where(~frame["current_tenancy"], as_of)
    return frame


def _as_text(values: pd.Series) -> pd.Series:
    """Object strings, None for missing, whatever the delivered dtype (a UPRN may be numeric)."""
    text = values.to_numpy(dtype=object).copy()
    missing = values.isna().to_numpy()
    already_text = values.dtype == object and infer_dtype(values, skipna=True) in (
        "string",
        "empty",
    )
    if not already_text:
        text[~missing] = values[~missing].astype(str).to_numpy(dtype=object)
    text[missing] = None
    return pd.Series(text, index=values.index, dtype=object)


def _address_key_with_uprn(frame: pd.DataFrame) -> pd.Series:
    """UPRN key where known; a text address seen with exactly one UPRN borrows it."""
    text_key = address_keys(frame["address"], frame["postcode"])
    seen_with_uprn = (
        pd.DataFrame({"text": text_key, "uprn": frame["uprn"]}).dropna().drop_duplicates()
    )
    unambiguous = seen_with_uprn.drop_duplicates("text", keep=False).set_index("text")["uprn"]
    uprn = frame["uprn"].to_numpy(dtype=object)
    uprn = np.where(pd.isna(uprn), text_key.map(unambiguous).to_numpy(dtype=object), uprn)
    text = text_key.to_numpy(dtype=object)
    key = np.full(len(frame), None, dtype=object)
    has_uprn, has_text = ~pd.isna(uprn), ~pd.isna(text)
    key[has_text] = "A:" + text[has_text]
    key[has_uprn] = "U:" + uprn[has_uprn]
    return pd.Series(key, index=frame.index, dtype=object)


def _days(values: pd.Series) -> np.ndarray:
    """Dates as int64 nanoseconds; a missing date sorts as the oldest."""
    return values.to_numpy(dtype="datetime64[ns]").view(np.int64)


def _place(frame: pd.DataFrame, n_nodes: int) -> pd.DataFrame:
    """One current location per person node, chosen by evidence rather than by the latest record.

    A location is a postcode. Records lag behind a move (an agency not yet
    told keeps showing the old address) but never lead it, so the location
    first sighted most recently is the current one, unless a stronger kind
    of record (higher ``tier``: a current tenancy, a full address) vouches
    for another location on or after that first sighting. The address is the
    best keyed record at the chosen postcode (tier, then date, then UPRN).
    """
    located = frame[frame["postcode"].notna() | frame["address_key"].notna()]
    if located.empty:
        empty = pd.Series([None] * n_nodes, dtype=object)
        return pd.DataFrame(
            {c: empty for c in ("address_key", "address", "postcode", "uprn")}
        ).assign(located_on=pd.NaT)
    node = located["node"].to_numpy()
    loc = pd.factorize(located["postcode"].fillna(located["address_key"]), sort=True)[0]
    tier = located["tier"].to_numpy()
    sighted = _days(located["sighted"])
    last_on = _days(located["last_on"])
    # per (node, location): first sighting and strongest record
    n_locations = int(loc.max()) + 1
    per = (
        pd.DataFrame(
            {"key": node.astype(np.int64) * n_locations + loc, "first": sighted, "tier": tier}
        )
        .groupby("key", sort=False)
        .agg(first=("first", "min"), tier=("tier", "max"))
    )
    per_node, per_loc = np.divmod(per.index.to_numpy(), n_locations)
    per_first, per_tier = per["first"].to_numpy(), per["tier"].to_numpy()
    newest = _last_per_node(per_node, (per_loc, per_tier, per_first), n_nodes)[node]
    overruled = (
        (loc != per_loc[newest]) & (tier > per_tier[newest]) & (last_on >= per_first[newest])
    )
    stronger = _last_per_node(node, (loc, last_on, tier), n_nodes, np.flatnonzero(overruled))[node]
    chosen = np.where(stronger >= 0, loc[stronger], per_loc[newest])
    at_chosen = np.flatnonzero(loc == chosen)
    keyed = at_chosen[located["address_key"].notna().to_numpy()[at_chosen]]
    tie = pd.util.hash_array(located["mention_id"].to_numpy(dtype=object))
    has_uprn = located["uprn"].notna().to_numpy()
    latest = _last_per_node(node, (tie, sighted), n_nodes, at_chosen)
    address_row = _last_per_node(node, (tie, has_uprn, sighted, tier), n_nodes, keyed)

    def take(column: str, rows: np.ndarray) -> pd.Series:
        values = located[column].to_numpy()[rows]
        return pd.Series(values, dtype=values.dtype).where(rows >= 0)

    key = take("address_key", address_row)
    uprn = key.str.removeprefix("U:").where(key.str.startswith("U:", na=False))
    return pd.DataFrame(
        {
            "address_key": key,
            "address": take("address", address_row),
            "postcode": take("postcode", latest),
            "uprn": uprn,
            "located_on": take("sighted", latest),
        }
    )


def _last_per_node(
    node: np.ndarray, keys: tuple[np.ndarray, ...], n_nodes: int, rows: np.ndarray | None = None
) -> np.ndarray:
    """Per node, its row (among ``rows``) sorting last by ``keys`` (least significant first).

    -1 for a node without rows.
    """
    rows = np.arange(len(node)) if rows is None else rows
    order = rows[np.lexsort((*(key[rows] for key in keys), node[rows]))]
    last = np.full(n_nodes, -1)
    last[node[order]] = order  # later rows of a node overwrite earlier ones
    return last


def _crowded_addresses(place: pd.DataFrame, rules: HouseholdRules) -> pd.DataFrame:
    counts = place["address_key"].value_counts()
    crowded = counts[counts > rules.max_address_persons]
    return pd.DataFrame({"key": crowded.index.astype(str), "n": crowded.to_numpy()})


def _edges(
    frame: pd.DataFrame,
    place: pd.DataFrame,
    crowded: pd.Series,
    rules: HouseholdRules,
    as_of: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All candidate edges between person nodes, plus the groups too large to use."""
    node = frame["node"].to_numpy()
    frame["current_postcode"] = place["postcode"].to_numpy()[node]
    frame["current_address_key"] = place["address_key"].to_numpy()[node]
    groups = frame[
        frame["group_ref"].notna() & frame["group_kind"].isin(["tenancy", "domestic_incident"])
    ]
    sizes = groups.drop_duplicates(["group_ref", "node"]).groupby("group_ref").size()
    large = sizes[sizes > rules.max_group_size]
    groups = groups[~groups["group_ref"].isin(large.index)]

    surnames = _surnames(frame)
    born = frame.groupby("node")["dob"].agg(["min", "median", "max"]).reindex(range(len(place)))
    at_address = place[place["address_key"].notna() & ~place["address_key"].isin(crowded)]
    at_address = at_address.rename_axis("node").reset_index()
    parts = [
        _tenancy_edges(groups[groups["group_kind"] == "tenancy"]),
        _incident_edges(groups[groups["group_kind"] == "domestic_incident"]),
        _contact_edges(frame, born, rules.contact_first_name),
        _birth_edges(frame, rules.birth_days),
        _surname_edges(surnames, at_address),
        _surname_postcode_edges(surnames, place, (as_of - born["median"]).dt.days / 365.25, rules),
    ]
    if rules.link_co_residents:
        parts.append(_star(at_address, ["address_key"], "co_resident", "address_key"))
    edges = pd.concat(parts, ignore_index=True)
    edges = edges.drop_duplicates(["a", "b", "reason"]).reset_index(drop=True)
    large_groups = pd.DataFrame({"key": large.index.astype(str), "n": large.to_numpy()})
    return edges, large_groups


def _star(frame: pd.DataFrame, by: list[str], reason: str, evidence: str) -> pd.DataFrame:
    """Connect every node of a group to the group's smallest node (enough for components)."""
    group = frame.groupby(by, sort=False).ngroup()
    frame = frame[group.notna()].assign(group=group.dropna().astype(np.int64))
    frame = frame.drop_duplicates(["group", "node"])
    hub = frame.groupby("group")["node"].transform("min")
    spoke = (frame["node"] != hub).to_numpy()
    return pd.DataFrame(
        {
            "a": hub.to_numpy()[spoke],
            "b": frame["node"].to_numpy()[spoke],
            "reason": reason,
            "evidence": frame[evidence].to_numpy(dtype=object)[spoke],
        }
    )


def _tenancy_edges(tenancies: pd.DataFrame) -> pd.DataFrame:
    """Members of a tenancy current on the evaluation date who are placed there.

    Placement lets a current tenancy outrank later stale postcodes, so a
    member placed elsewhere has a newer tenancy or a newer full address.
    """
    current = tenancies["current_tenancy"]
    stayed = (
        tenancies["current_postcode"].isna()
        | tenancies["postcode"].isna()
        | (tenancies["current_postcode"] == tenancies["postcode"])
    )
    return _star(tenancies[current & stayed], ["group_ref"], "tenancy", "group_ref")


def _incident_edges(incidents: pd.DataFrame) -> pd.DataFrame:
    """Pairs in one domestic incident whose current postcodes do not disagree."""
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


def _contact_edges(frame: pd.DataFrame, born: pd.DataFrame, scope: str) -> pd.DataFrame:
    """A pupil's named parent or carer, found among the people at the pupil's postcode.

    ``parent_contact``: same first and last name, at the pupil's address if
    anyone of that name lives there, else at the postcode. A contact no one
    answers by full name is matched by :func:`_unanswered_contacts`.
    """
    location = ["current_postcode", "current_address_key"]
    named = frame["contact_first_name"].notna() & frame["contact_last_name"].notna()
    pupils = frame.loc[named, ["node", "contact_first_name", "contact_last_name", *location]]
    pupils = pupils[pupils["current_postcode"].notna()].drop_duplicates(
        ["node", "contact_first_name", "contact_last_name"]
    )
    candidates = frame.loc[
        frame["first_name"].isin(pupils["contact_first_name"].unique()),
        ["node", "first_name", "last_name", *location],
    ]
    candidates = candidates[candidates["current_postcode"].notna()].drop_duplicates(
        ["node", "first_name", "last_name"]
    )
    pairs = pupils.merge(
        candidates,
        left_on=["contact_first_name", "current_postcode"],
        right_on=["first_name", "current_postcode"],
        suffixes=("_pupil", "_contact"),
    )
    pairs = pairs[pairs["node_pupil"] != pairs["node_contact"]]
    pairs = pairs.assign(
        same_address=(pairs["current_address_key_pupil"] == pairs["current_address_key_contact"])
        .fillna(False)
        .to_numpy(dtype=bool)
    )
    full_name = (pairs["last_name"] == pairs["contact_last_name"]).to_numpy()
    contact = ["node_pupil", "contact_first_name", "contact_last_name"]
    by_contact = [pairs[c].to_numpy() for c in contact]
    answered = pd.Series(full_name).groupby(by_contact).transform("any").to_numpy()
    named = pairs[full_name]
    any_same = named["same_address"].groupby([named[c] for c in contact]).transform("any")
    named = named[named["same_address"] | ~any_same]
    return pd.concat(
        [
            _contact_frame(named, "parent_contact"),
            _unanswered_contacts(pairs[~answered], born, named["node_contact"], scope),
        ],
        ignore_index=True,
    )


def _unanswered_contacts(
    pairs: pd.DataFrame, born: pd.DataFrame, named: pd.Series, scope: str
) -> pd.DataFrame:
    """Named contacts no record answers by full name: a typo, or a changed surname.

    Schools hold the parent's current surname; health and DWP often an
    earlier one (a maiden name), and clerks mistype. ``pairs`` are such
    contacts with each person of the same first name at the pupil's
    postcode. The contact is

    * a person whose surname is at most two edits away (``contact_typo``), or
    * (``contact_first_name``, ``scope`` "address" or "postcode") an adult 12
      to 50 years older than the pupil (where both dates of birth are known),
      not already the full-name contact of another pupil (``named``), who is
      the only person of that first name at the pupil's address, or, with
      scope "postcode" and no one of that first name at the address, the only
      one at the postcode (one placed at another address is refused with
      every postcode-level edge, see :func:`_guarded_components`).
    """
    typo = cpdist(
        pairs["contact_last_name"].tolist(),
        pairs["last_name"].tolist(),
        scorer=Levenshtein.distance,
    )
    key = ["node_pupil", "contact_first_name", "contact_last_name"]
    per = (
        pairs.assign(typo=np.asarray(typo) <= 2)
        .groupby([*key, "node_contact"], sort=False)
        .agg(typo=("typo", "any"), same_address=("same_address", "first"))
        .reset_index()
    )
    gap = (
        born["min"].reindex(per["node_pupil"]).to_numpy()
        - born["max"].reindex(per["node_contact"]).to_numpy()
    )
    years = pd.Series(gap).dt.days.to_numpy() / 365.25
    adult = np.isnan(years) | ((years >= 12) & (years <= 50))
    same = per["same_address"].to_numpy(dtype=bool)
    by_contact = [per[c].to_numpy() for c in key]
    at_address = pd.Series(same).groupby(by_contact).transform("sum").to_numpy()
    at_postcode = per["node_contact"].groupby(by_contact).transform("nunique").to_numpy()
    unique = same & (at_address == 1)
    if scope == "postcode":
        unique |= (at_address == 0) & (at_postcode == 1)
    first_name_only = (scope != "off") & unique & adult & ~per["node_contact"].isin(named)
    typos = per["typo"].to_numpy()
    return pd.concat(
        [
            _contact_frame(per[typos], "contact_typo"),
            _contact_frame(per[~typos & first_name_only.to_numpy()], "contact_first_name"),
        ],
        ignore_index=True,
    )


def _contact_frame(pairs: pd.DataFrame, reason: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": pairs["node_pupil"].to_numpy(),
            "b": pairs["node_contact"].to_numpy(),
            "reason": reason,
            "evidence": (
                "contact " + pairs["contact_first_name"] + " " + pairs["contact_last_name"]
            ).to_numpy(dtype=object),
        }
    )


def _birth_edges(frame: pd.DataFrame, days: int) -> pd.DataFrame:
    """A mother's ``MATERNITY`` event on a child's date of birth (± ``days``) at one postcode.

    Health records a delivery as the mother's maternity event dated the day of
    birth, and mother and baby often carry different surnames, so neither the
    surname rules nor a missing address join them. The event's postcode must
    be one the child was recorded at, or both must be placed at one postcode
    (the family may have moved since); a date of birth of any of the child's
    records counts.
    """
    births = frame.loc[
        frame["event_type"].eq("MATERNITY") & frame["event_date"].notna(),
        ["node", "event_date", "postcode", "current_postcode"],
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
                "MATERNITY "
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


def _surname_edges(surnames: pd.DataFrame, at_address: pd.DataFrame) -> pd.DataFrame:
    """Persons at the same current address sharing a surname or part of one."""
    placed = surnames.merge(at_address[["node", "address_key"]], on="node")
    placed["evidence"] = placed["surname"] + " at " + placed["address_key"]
    return _star(placed, ["address_key", "surname"], "shared_surname", "evidence")


def _surname_postcode_edges(
    surnames: pd.DataFrame, place: pd.DataFrame, age: pd.Series, rules: HouseholdRules
) -> pd.DataFrame:
    """Same surname at the same current postcode, for persons known there only by postcode.

    Health, DWP, YOT and social care records carry a postcode but no address.
    Such a person is paired with each same-surname person at their postcode
    when those live at one address at most (two same-surname addresses are
    ambiguous) and chance is an unlikely explanation: the number of people of
    that surname expected at the postcode by chance (the surname's share of
    the placed persons times the persons placed there) is below
    ``rules.surname_expected``, or below ``rules.surname_expected_family``
    when their ages fit a child with a parent or sibling (the younger under
    18, at most 55 years apart). A SMITH shares a postcode with another SMITH
    by chance; a WHITHOPE rarely does, and two adult SMITHs more often than a
    SMITH child and a SMITH thirty years older.
    """
    placed = surnames.merge(
        place[["postcode", "address_key"]]
        .rename_axis("node")
        .reset_index()
        .dropna(subset="postcode"),
        on="node",
    )
    n_placed = max(int(place["postcode"].notna().sum()), 1)
    share = placed.groupby("surname")["node"].transform("nunique") / n_placed
    at_postcode = placed["postcode"].map(place["postcode"].value_counts())
    group = placed.groupby(["postcode", "surname"], sort=False).ngroup()
    placed = placed.assign(expected=share * at_postcode, group=group)
    by_group = placed.groupby("group")
    shared = (by_group["node"].transform("size") > 1) & (
        by_group["address_key"].transform("nunique") <= 1
    )
    placed = placed[shared]
    pairs = placed[placed["address_key"].isna()].merge(
        placed[["group", "node"]], on="group", suffixes=("", "_other")
    )
    pairs = pairs[pairs["node"] != pairs["node_other"]]
    one, other = age.to_numpy()[pairs["node"]], age.to_numpy()[pairs["node_other"]]
    family = (np.fmin(one, other) < 18) & (np.abs(one - other) <= 55)
    expected = pairs["expected"].to_numpy()
    plausible = expected < np.where(family, rules.surname_expected_family, rules.surname_expected)
    pairs = pairs[plausible]
    return pd.DataFrame(
        {
            "a": pairs["node"].to_numpy(),
            "b": pairs["node_other"].to_numpy(),
            "reason": "surname_postcode",
            "evidence": (pairs["surname"] + " at " + pairs["postcode"]).to_numpy(dtype=object),
        }
    )


def _components(edges: pd.DataFrame, n_nodes: int) -> np.ndarray:
    a = edges["a"].to_numpy(dtype=np.int64)
    b = edges["b"].to_numpy(dtype=np.int64)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n_nodes, n_nodes))
    return connected_components(graph, directed=False)[1]


def _guarded_components(
    edges: pd.DataFrame, n_nodes: int, rules: HouseholdRules, address: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Add edge levels strongest first; drop a weak level inside components it makes too big.

    Dropping a level's edges inside an oversized trial component returns its
    nodes to the previous level's components, which were within the limit,
    so the guard never splits what stronger evidence joined. A postcode-level
    edge (:data:`_POSTCODE_LEVEL`) is not drawn between two households
    already placed at different addresses: a mother named by a pupil's school
    at one address is not also the same-surname family's at the next door.
    """
    accepted = edges[edges["reason"].isin(EDGE_LEVELS[0])]
    dropped = [edges.iloc[:0]]
    for level in EDGE_LEVELS[1:]:
        candidates = edges[edges["reason"].isin(level)]
        if _POSTCODE_LEVEL.intersection(level):
            candidates = candidates[~_joins_two_homes(candidates, accepted, address, n_nodes)]
        labels = _components(pd.concat([accepted, candidates]), n_nodes)
        too_big = np.bincount(labels)[labels] > rules.max_household_size
        refused = too_big[candidates["a"].to_numpy(dtype=np.int64)]
        dropped.append(candidates[refused])
        accepted = pd.concat([accepted, candidates[~refused]])
    labels = _components(accepted, n_nodes)
    oversized = np.flatnonzero(np.bincount(labels) > rules.max_household_size)
    return (
        accepted.reset_index(drop=True),
        pd.concat(dropped, ignore_index=True),
        np.isin(labels, oversized),
    )


def _joins_two_homes(
    candidates: pd.DataFrame, accepted: pd.DataFrame, address: np.ndarray, n_nodes: int
) -> np.ndarray:
    """Per candidate edge: do its ends belong to components at two different home addresses?

    A component's home is the address most of its placed members are at
    (``address`` holds one code per node, -1 when placed at a postcode only).
    """
    labels = _components(accepted, n_nodes)
    placed = address >= 0
    counts = pd.DataFrame({"label": labels[placed], "home": address[placed]}).value_counts()
    top = counts.reset_index().sort_values(
        ["label", "count", "home"], ascending=[True, False, True]
    )
    home = np.full(n_nodes, -1)
    first = top.drop_duplicates("label")
    home[first["label"].to_numpy()] = first["home"].to_numpy()
    a = home[labels[candidates["a"].to_numpy(dtype=np.int64)]]
    b = home[labels[candidates["b"].to_numpy(dtype=np.int64)]]
    return (a >= 0) & (b >= 0) & (a != b)


def _household_labels(accepted: pd.DataFrame, n_nodes: int) -> np.ndarray:
    """Components numbered in order of their smallest person id (nodes are id-sorted)."""
    return pd.factorize(_components(accepted, n_nodes))[0]


def _name_edges(edges: pd.DataFrame, person_ids: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "person_a": person_ids[edges["a"].to_numpy(dtype=np.int64)],
            "person_b": person_ids[edges["b"].to_numpy(dtype=np.int64)],
            "reason": edges["reason"].to_numpy(),
            "evidence": edges["evidence"].to_numpy(),
        }
    )


def _oversized_report(
    dropped: pd.DataFrame, labels: np.ndarray, oversized: np.ndarray
) -> pd.DataFrame:
    """Households where the size guard acted, and any still oversized from explicit edges."""
    ends = np.concatenate(
        [dropped["a"].to_numpy(dtype=np.int64), dropped["b"].to_numpy(dtype=np.int64)]
    )
    refused = (
        pd.DataFrame({"key": labels[ends], "reason": np.tile(dropped["reason"].to_numpy(), 2)})
        .groupby("key")["reason"]
        .agg(lambda r: ", ".join(sorted(set(r))))
    )
    sizes = np.bincount(labels)
    guarded = pd.DataFrame(
        {
            "kind": "guarded_household",
            "key": refused.index.astype(str),
            "n": sizes[refused.index.to_numpy(dtype=np.int64)],
            "action": "dropped " + refused.to_numpy(dtype=object) + " edges",
        }
    )
    big = np.unique(labels[oversized])
    still = pd.DataFrame(
        {
            "kind": "oversized_household",
            "key": big.astype(str),
            "n": sizes[big],
            "action": "kept: explicit edges",
        }
    )
    return pd.concat([guarded, still], ignore_index=True)


def _household_table(members: pd.DataFrame) -> pd.DataFrame:
    """One row per household, located at its members' most common current location."""
    household = members["household_key"].to_numpy()
    location = pd.factorize(members["address_key"].fillna("P:" + members["postcode"]))[0]
    pair = pd.factorize(household * (location.max(initial=-1) + 2) + location + 1)[0]
    at_location = np.bincount(pair)[pair] * (location >= 0)
    located_on = members["located_on"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    # Members come sorted by person id, so the last key settles ties deterministically.
    order = np.lexsort((np.arange(len(members)), ~located_on, -at_location, household))
    first = order[np.r_[True, household[order][1:] != household[order][:-1]][: len(order)]]
    table = members.iloc[first][["household_key", "address_key", "address", "postcode", "uprn"]]
    return table.assign(n_members=np.bincount(household)[table["household_key"]]).reset_index(
        drop=True
    )[["household_key", "n_members", "address_key", "address", "postcode", "uprn"]]
