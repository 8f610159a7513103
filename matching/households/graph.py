"""Households as connected components of the edges, with the giant-component guards.

Households are the connected components of the accepted edges. Edge levels are
added strongest first, and a weak level is dropped inside any component it
would grow beyond the size limit; a postcode-only edge never joins two
households already placed at different addresses. What the guards did is
reported, never silent.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = [
    "guarded_components",
    "household_labels",
    "household_table",
    "name_edges",
    "oversized_report",
]


def components(edges: pd.DataFrame, n_nodes: int) -> np.ndarray:
    """Component label of every node, as 64-bit integers: SciPy gives 32-bit labels, and a
    label times the number of addresses (the guards' (component, address) keys) wrapped
    around in 32 bits in an area of 100,000 persons, two pairs then sharing one key."""
    a = edges["a"].to_numpy(dtype=np.int64)
    b = edges["b"].to_numpy(dtype=np.int64)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n_nodes, n_nodes))
    return connected_components(graph, directed=False)[1].astype(np.int64)


def guarded_components(
    edges: pd.DataFrame,
    n_nodes: int,
    max_size: int,
    address: np.ndarray,
    levels: Sequence[Collection[str]],
    postcode_only: Collection[str],
    recorded: pd.DataFrame | None = None,
    loose_only: Collection[str] = (),
    max_groups: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Add edge levels strongest first; drop a weak level inside components it makes too big.

    Dropping a level's edges inside an oversized trial component returns its
    nodes to the previous level's components, which were within the limit,
    so the guard never splits what stronger evidence joined. A postcode-level
    edge (a reason in ``postcode_only``) is not drawn between two households
    already placed at different addresses: a mother named by a pupil's school
    at one address is not also the same-surname family's at the next door, and
    a person known by postcode alone whose two surnames each match a family at
    another address joins neither.
    Unless one of the two households was ever recorded at the other's address
    (``recorded``: every ``node, address`` code a record showed, at any time):
    then the two addresses are one family's old and new home, some members
    placed at the old one by records that lag behind the move. An edge of a
    reason in ``loose_only`` (sharing an address, nothing more) only adds
    persons whom no other rule groups, at any level (a pupil joined to her
    father by their surname at the postcode is a group): it never joins
    two groups of two or more (two families sharing a UPRN in a house of
    flats, a hostel's residents), nor adds anyone where it would bring more
    than ``max_groups`` groups together (a hostel's single residents; every
    person placed at the address counts), nor joins a group at an address that
    is not its home (:func:`_at_home`: a child placed at a separated parent's).
    """
    accepted = edges[edges["reason"].isin(levels[0])]
    dropped = [edges.iloc[:0]]
    for i, level in enumerate(levels[1:], start=1):
        candidates = edges[edges["reason"].isin(level)]
        if set(postcode_only).intersection(level):
            candidates = candidates[
                ~_joins_two_homes(candidates, accepted, address, n_nodes, recorded)
            ]
        if set(loose_only).intersection(level):
            # groups are what every other rule forms, weaker levels too (kin by surname at a
            # postcode): a shared address alone never joins one of them to another
            weaker = [reason for later in levels[i + 1 :] for reason in later]
            kin = edges[edges["reason"].isin(weaker) & ~edges["reason"].isin(loose_only)]
            grouped = pd.concat([accepted, kin])
            candidates = candidates[
                ~_joins_two_groups(candidates, grouped, n_nodes, max_groups, address)
                & _at_home(candidates, grouped, address, n_nodes)
            ]
        labels = components(pd.concat([accepted, candidates]), n_nodes)
        too_big = np.bincount(labels)[labels] > max_size
        refused = too_big[candidates["a"].to_numpy(dtype=np.int64)]
        dropped.append(candidates[refused])
        accepted = pd.concat([accepted, candidates[~refused]])
    labels = components(accepted, n_nodes)
    oversized = np.flatnonzero(np.bincount(labels) > max_size)
    return (
        accepted.reset_index(drop=True),
        pd.concat(dropped, ignore_index=True),
        np.isin(labels, oversized),
    )


def _joins_two_groups(
    candidates: pd.DataFrame,
    accepted: pd.DataFrame,
    n_nodes: int,
    max_groups: int | None,
    address: np.ndarray,
) -> np.ndarray:
    """Per candidate edge: are its ends in two different components of two or more persons,
    or does its place (the address its ends are placed at) hold more than ``max_groups``
    components, counting every person placed there (a resident no rule draws an edge for
    is a group of their own)?"""
    labels = components(accepted, n_nodes)
    size = np.bincount(labels)
    ends = candidates["a"].to_numpy(dtype=np.int64)
    a = labels[ends]
    b = labels[candidates["b"].to_numpy(dtype=np.int64)]
    refused = (a != b) & (size[a] >= 2) & (size[b] >= 2)
    if max_groups is None:
        return refused
    placed = address >= 0
    groups = pd.Series(labels[placed]).groupby(address[placed]).nunique()
    return refused | (groups.reindex(address[ends]).to_numpy() > max_groups)


def _at_home(
    candidates: pd.DataFrame, grouped: pd.DataFrame, address: np.ndarray, n_nodes: int
) -> np.ndarray:
    """Per candidate edge between two persons placed at one address: is it home to both ends'
    groups (no other address holds more of a group's placed members)?

    A child of separated parents placed at the father's flat by half her records is one of
    her mother's group placed there: that address is not her group's home, and its residents
    are not joined to her family by the address alone.
    """
    labels = components(grouped, n_nodes)
    pair, count, n_addresses = _placed_counts(labels, address)
    if not len(pair):
        return np.zeros(len(candidates), dtype=bool)
    label = pair // n_addresses
    starts = np.flatnonzero(np.r_[True, label[1:] != label[:-1]])
    most = np.full(n_nodes, np.iinfo(np.int64).max)  # a group none of whom is placed has no home
    most[label[starts]] = np.maximum.reduceat(count, starts)
    a = candidates["a"].to_numpy(dtype=np.int64)
    here = address[a]
    home = np.ones(len(candidates), dtype=bool)
    for end in (a, candidates["b"].to_numpy(dtype=np.int64)):
        key = labels[end] * n_addresses + here
        at = np.minimum(np.searchsorted(pair, key), len(pair) - 1)
        here_count = np.where((here >= 0) & (pair[at] == key), count[at], 0)
        home &= here_count >= most[labels[end]]
    return home


def _placed_counts(labels: np.ndarray, address: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Placed members per (component ``label``, address) as sorted ``label * n_addresses +
    address`` integers and their counts, and ``n_addresses`` (``address`` -1: placed at a
    postcode only, not counted): a component's home is the address with most of them."""
    n_addresses = int(address.max(initial=-1)) + 1
    placed = address >= 0
    pair, count = np.unique(
        labels[placed] * n_addresses + address[placed], return_counts=True
    )
    return pair, count, n_addresses


def _joins_two_homes(
    candidates: pd.DataFrame,
    accepted: pd.DataFrame,
    address: np.ndarray,
    n_nodes: int,
    recorded: pd.DataFrame | None,
) -> np.ndarray:
    """Per candidate edge: do its ends belong to components at two different home addresses,
    neither ever recorded at the other's, or does a component without a home reach, through
    this level's edges, two such components (then none of its edges: :func:`_bridges`)?

    A component's home is the address most of its placed members are at
    (``address`` holds one code per node, -1 when placed at a postcode only).
    """
    labels = components(accepted, n_nodes)
    pair, count, n_addresses = _placed_counts(labels, address)
    # the home is the address with most placed members, the smallest on a tie
    label, at = np.divmod(pair, n_addresses)
    order = np.lexsort((at, -count, label))
    first = order[np.r_[True, label[order][1:] != label[order][:-1]][: len(order)]]
    home = np.full(n_nodes, -1)
    home[label[first]] = at[first]
    label_a = labels[candidates["a"].to_numpy(dtype=np.int64)]
    label_b = labels[candidates["b"].to_numpy(dtype=np.int64)]
    a, b = home[label_a], home[label_b]
    apart = (a >= 0) & (b >= 0) & (a != b)
    # (component, address) pairs some member was recorded at, as one integer each
    if recorded is None or recorded.empty:
        seen = np.array([], dtype=np.int64)
    else:
        seen = np.unique(
            labels[recorded["node"].to_numpy(dtype=np.int64)] * n_addresses
            + recorded["address"].to_numpy(dtype=np.int64)
        )

    def moved(
        one: np.ndarray, its_home: np.ndarray, other: np.ndarray, home_of_other: np.ndarray
    ) -> np.ndarray:
        """Was either component recorded at the other's home (one family's old and new)?"""
        return _in_sorted(one * n_addresses + np.maximum(home_of_other, 0), seen) | _in_sorted(
            other * n_addresses + np.maximum(its_home, 0), seen
        )

    return (apart & ~moved(label_a, a, label_b, b)) | _bridges(
        label_a, label_b, a, b, moved
    )


def _in_sorted(values: np.ndarray, sorted_unique: np.ndarray) -> np.ndarray:
    """``np.isin`` against sorted distinct values by binary search: ``np.isin`` sorts both
    arrays again on every call."""
    if not len(sorted_unique):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_unique, values), len(sorted_unique) - 1)
    return sorted_unique[at] == values


def _bridges(
    label_a: np.ndarray,
    label_b: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    moved: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """Per candidate edge between a component without a home and one with a home: does the
    homeless one reach, through these edges, two components at different homes that are not
    one family's old and new (``moved``)? Then it would join two families through itself: a
    guess between them (a child of two surnames, each a family's at the postcode), so neither."""
    one_side = (a < 0) != (b < 0)
    reach = pd.DataFrame({
        "loose": np.where(a < 0, label_a, label_b),
        "label": np.where(a < 0, label_b, label_a),
        "home": np.where(a < 0, b, a),
    })[one_side].drop_duplicates()
    pairs = reach.merge(reach, on="loose")
    pairs = pairs[pairs["home_x"] < pairs["home_y"]]
    apart = ~moved(pairs["label_x"].to_numpy(), pairs["home_x"].to_numpy(),
                   pairs["label_y"].to_numpy(), pairs["home_y"].to_numpy())
    return one_side & np.isin(np.where(a < 0, label_a, label_b), pairs.loc[apart, "loose"])


def household_labels(accepted: pd.DataFrame, n_nodes: int) -> np.ndarray:
    """Components numbered in order of their smallest person id (nodes are id-sorted)."""
    return pd.factorize(components(accepted, n_nodes))[0]


def name_edges(edges: pd.DataFrame, person_ids: np.ndarray) -> pd.DataFrame:
    """Edges between nodes as edges between person ids."""
    return pd.DataFrame(
        {
            "person_a": person_ids[edges["a"].to_numpy(dtype=np.int64)],
            "person_b": person_ids[edges["b"].to_numpy(dtype=np.int64)],
            "reason": edges["reason"].to_numpy(),
            "evidence": edges["evidence"].to_numpy(),
        }
    )


def oversized_report(
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


def household_table(members: pd.DataFrame) -> pd.DataFrame:
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
