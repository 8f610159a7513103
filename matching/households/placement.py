"""Where each person lives now: input preparation, address keys and placement.

Each person is *placed* at one current location as of the evaluation date, by
evidence rather than by their latest record (health and DWP rows often keep an
old postcode for months after a move): the postcode first sighted most recently
(``seen_date <= as_of``; a closed span is dated by its end), unless a stronger
record (a residence group current on that date, a full address) vouches for
another postcode since; then the best full address seen at that postcode.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from matching.households.model import HouseholdEvidence, HouseholdRules
from matching.standardise import as_dates, standardise_address

__all__ = ["address_keys", "crowded_addresses", "join_tokens", "place", "prepare"]

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

_FILLER_WORDS = frozenset({"FLAT", "THE", "OF", "AND"})

_NAME_WORDS_IN_KEY = 2

_MAX_IDENTIFIERS = 4



def address_keys(address: pd.Series, postcode: pd.Series) -> pd.Series:
    """Comparable key for a free-text address at a postcode.

    The key is ``postcode|identifiers|first two street words``, where the
    identifiers are every token holding a digit or a single letter (sorted;
    a flat number is marked, so ``FLAT 1, 2 X`` is not ``FLAT 2, 1 X``), so
    ``FLAT 14A`` and ``FLAT 14C`` (or ``FLAT A`` and ``FLAT B``) never share
    a key, while ``12 High St, Leeds`` and ``12 HIGH STREET`` do: the text is
    first read by :func:`matching.standardise.standardise_address`, the one
    address normaliser, so the key of a raw address is the key of its
    standardised form. Null when the address or postcode is missing. Work is
    done once per distinct (address, postcode).
    """
    pairs = pd.DataFrame({"address": address, "postcode": postcode})
    codes = pairs.groupby(["address", "postcode"], sort=False).ngroup()
    first = codes.notna() & ~codes.duplicated()
    unique = pairs[first].set_index(codes[first].astype(np.int64)).sort_index()
    tokens = standardise_address(unique["address"]).str.split().explode().dropna()
    tokens = tokens.rename("token").rename_axis("row").reset_index()
    # tokens repeat a lot (house numbers, street words): each distinct one is read once
    token_codes, distinct = pd.factorize(tokens["token"])
    distinct = pd.Series(distinct, dtype=object)
    is_identifier = (distinct.str.contains(r"\d") | (distinct.str.len() == 1)).to_numpy()
    is_identifier = is_identifier[token_codes]
    # "FLAT 1, 2 X ST" and "FLAT 2, 1 X ST" differ: a flat's number is marked as such (a
    # row's tokens come together, in order: a token's predecessor in its row is the one before)
    rows, words = tokens["row"].to_numpy(), tokens["token"].to_numpy(dtype=object)
    after_flat = np.r_[False, (rows[1:] == rows[:-1]) & (words[:-1] == "FLAT")][: len(rows)]
    flat = after_flat & is_identifier
    tokens.loc[flat, "token"] = "FLAT" + tokens.loc[flat, "token"]
    identifiers = join_tokens(
        tokens[is_identifier].sort_values(["row", "token"]), _MAX_IDENTIFIERS
    )
    words = join_tokens(
        tokens[~is_identifier & ~tokens["token"].isin(_FILLER_WORDS)], _NAME_WORDS_IN_KEY
    )
    body = pd.DataFrame({"ids": identifiers, "words": words}).reindex(unique.index)
    key = unique["postcode"] + "|" + body["ids"].fillna("") + "|" + body["words"].fillna("")
    key = key.where(body.notna().any(axis=1)).to_numpy(dtype=object)
    known = codes.notna().to_numpy()
    mapped = np.full(len(codes), None, dtype=object)
    mapped[known] = key[codes[known].to_numpy(dtype=np.int64)]
    return pd.Series(mapped, index=address.index, name="address_key")


def join_tokens(tokens: pd.DataFrame, limit: int) -> pd.Series:
    """Join the first ``limit`` tokens of each row with spaces; a row's tokens come together, in
    order. Vectorised by token position (no per-row Python, no pivot to a wide frame)."""
    if tokens.empty:
        return pd.Series(dtype=object)
    rows = tokens["row"].to_numpy()
    words = tokens["token"].to_numpy(dtype=object)
    first = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    joined = words[first]
    for offset in range(1, limit):
        at = first + offset
        same = at < len(rows)
        same[same] = rows[at[same]] == rows[first[same]]
        joined[same] = joined[same] + " " + words[at[same]]
    return pd.Series(joined, index=rows[first])


def prepare(
    mentions: pd.DataFrame,
    events: pd.DataFrame | None,
    as_of: pd.Timestamp,
    evidence: HouseholdEvidence,
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
    frame["seen_date"] = as_dates(frame["seen_date"])
    frame["dob"] = as_dates(frame["dob"])
    seen = (frame["seen_date"].isna() | (frame["seen_date"] <= as_of)).to_numpy()
    if not seen.all():  # copying a million rows costs seconds: only when needed (take: one copy)
        frame = frame.take(np.flatnonzero(seen))
    for column in _OPTIONAL:
        if column not in _NOT_TEXT:
            frame[column] = _as_text(frame[column])
    frame = _with_events(frame, events, evidence.birth_events)
    frame["address_key"] = _address_key_with_uprn(frame)
    return _with_sightings(frame, as_of, evidence.residence_groups), np.asarray(person_ids)


def _with_events(
    frame: pd.DataFrame, events: pd.DataFrame | None, birth_events: tuple[str, ...]
) -> pd.DataFrame:
    """Each mention's event type and dates (null without an event)."""
    if events is None:
        events = pd.DataFrame(columns=["mention_id", *_EVENT_COLUMNS])
    if "mention_id" not in events.columns:
        raise ValueError("events lack the mention_id column")
    events = events.reindex(columns=["mention_id", *_EVENT_COLUMNS])
    # only ends and birth events are used: looking up the rest would cost time for nothing
    used = events["end_date"].notna() | events["event_type"].isin(birth_events)
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


def _with_sightings(
    frame: pd.DataFrame, as_of: pd.Timestamp, residence_groups: tuple[str, ...]
) -> pd.DataFrame:
    """When each record saw the person at its address, and how much it says about now.

    ``sighted``: a span closed by ``as_of`` (claim, episode, term) was last
    updated at its end, so it shows the address of that day; otherwise
    ``seen_date``. ``current_tenancy``: a residence group (a tenancy) not
    ended by ``as_of``. ``tier``: 2 for a current tenancy (the person lives
    there now), 1 for a record with a full address (schools, police,
    housing), 0 for a bare postcode (health, DWP, YOT, social care keep
    addresses least up to date). ``last_on``: the last day the record vouches
    for its address (``as_of`` for a current tenancy).
    """
    tenancy = frame["group_kind"].isin(residence_groups).to_numpy()
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
    text = address_keys(frame["address"], frame["postcode"]).to_numpy(dtype=object)
    uprn = frame["uprn"].to_numpy(dtype=object).copy()
    has_text, has_uprn = ~pd.isna(text), ~pd.isna(uprn)
    both = has_text & has_uprn
    seen_with_uprn = pd.DataFrame({"text": text[both], "uprn": uprn[both]}).drop_duplicates()
    unambiguous = seen_with_uprn.drop_duplicates("text", keep=False).set_index("text")["uprn"]
    borrows = has_text & ~has_uprn
    uprn[borrows] = pd.Series(text[borrows]).map(unambiguous).to_numpy(dtype=object)
    has_uprn = ~pd.isna(uprn)
    key = np.full(len(frame), None, dtype=object)
    key[has_text] = "A:" + text[has_text]
    key[has_uprn] = "U:" + uprn[has_uprn]
    return pd.Series(key, index=frame.index, dtype=object)


def _days(values: pd.Series) -> np.ndarray:
    """Dates as int64 nanoseconds; a missing date sorts as the oldest."""
    return values.to_numpy(dtype="datetime64[ns]").view(np.int64)


def place(frame: pd.DataFrame, n_nodes: int) -> pd.DataFrame:
    """One current location per person node, chosen by evidence rather than by the latest record.

    A location is a postcode. Records lag behind a move (an agency not yet
    told keeps showing the old address) but never lead it, so the location
    first sighted most recently is the current one, unless a stronger kind
    of record (higher ``tier``: a current tenancy, a full address) vouches
    for another location on or after that first sighting. The address is the
    best keyed record at the chosen postcode (tier, then date, then UPRN).
    """
    located = frame.loc[
        frame["postcode"].notna() | frame["address_key"].notna(),
        ["node", "mention_id", "postcode", "address_key", "address", "uprn", "tier", "sighted",
         "last_on"],
    ]
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
    # mention ids are distinct: hashed as they are, not factorized first (a null hashes as
    # factorizing would hash it)
    mention_ids = located["mention_id"].to_numpy(dtype=object)
    tie = pd.util.hash_array(mention_ids, categorize=False)
    tie[pd.isna(mention_ids)] = np.iinfo(np.uint64).max
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
    # most significant key first, keep each node's rows holding its largest value (a grouped
    # maximum per key costs a fraction of a lexsort of every key)
    for key in reversed(keys):
        if not len(rows):
            break
        values = key[rows]
        best = np.full(n_nodes, values.min())
        np.maximum.at(best, node[rows], values)
        rows = rows[values == best[node[rows]]]
    last = np.full(n_nodes, -1)
    last[node[rows]] = rows  # rows tied on every key: the last given wins, as a stable sort's
    return last


def crowded_addresses(place: pd.DataFrame, rules: HouseholdRules) -> pd.DataFrame:
    """Addresses with more placed persons than ``rules.max_address_persons`` (hostels)."""
    counts = place["address_key"].value_counts()
    crowded = counts[counts > rules.max_address_persons]
    return pd.DataFrame({"key": crowded.index.astype(str), "n": crowded.to_numpy()})
