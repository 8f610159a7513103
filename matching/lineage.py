"""Stable ids across runs: carry ids forward by largest overlap, record every merge and split.

Clustering gives each run *provisional* clusters whose labels mean nothing
from one run to the next. Callers need ids that a caseworker can keep using
(``reporting.md``: "the same real person keeps their person_id"), so each
run's clusters are matched to the previous run's ids by how many keys they
share, and the changes are written down as events instead of happening
silently. Splink's "smallest member id" (issue #1720) is exactly what this
avoids: ids here are minted, opaque, and never derived from one member.

The module is generic: keys are mention ids and ids are person ids for the
person stage; keys are person ids and ids are family ids for households.

Matching is greedy on overlap (largest first, ties broken by the old id and
then by cluster content), computed as rounds of mutually best pairs so that
no Python loop runs over clusters. New ids are ``prefix`` plus 10 hex digits
of a hash of the cluster's member keys, so a rerun on the same input mints
the same ids; collisions with any id already in use or reserved are
re-hashed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["EVENT_COLUMNS", "Lineage", "carry_forward"]

#: Columns of :attr:`Lineage.events`.
EVENT_COLUMNS = ["run_id", "event", "old_id", "new_id", "n_keys", "reason"]

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_ID_DIGITS = 10


@dataclass(frozen=True)
class Lineage:
    """Result of :func:`carry_forward`.

    Attributes:
        ids: stable id per key (index: the keys of ``current``).
        clusters: stable id per provisional cluster label.
        events: what changed, one row per flow of keys between ids, columns
            :data:`EVENT_COLUMNS`. ``event`` is ``created`` (a cluster of new
            keys only), ``merged`` (an old id lost all its keys; ``new_id``
            received ``n_keys`` of them), ``split`` (an old id kept going but
            ``n_keys`` of its keys are now under ``new_id``) or ``retired``
            (an old id's keys are all gone from this run).
    """

    ids: pd.Series
    clusters: pd.Series
    events: pd.DataFrame


def carry_forward(
    current: pd.Series,
    previous: pd.Series | None,
    *,
    prefix: str,
    run_id: str,
    reserved: Iterable[str] | Callable[[np.ndarray], Collection[str]] = (),
    reasons: Mapping[Hashable, str] | pd.Series | None = None,
) -> Lineage:
    """Give this run's provisional clusters stable ids.

    Args:
        current: provisional cluster label per key (index: keys, unique).
        previous: the previous run's stable id per key; None or empty on a
            first run. Keys absent from ``current`` simply stop counting.
        prefix: prefix of minted ids, e.g. ``"P"`` for persons, ``"F"`` for
            families.
        run_id: written on every event.
        reserved: ids that must never be minted (every id ever issued, from
            the event history), so a retired id is never reused; or a function
            giving those of the ids it is passed that are (a long history is
            then asked about the few ids minted, not read whole every run).
        reasons: optional reason per provisional cluster label (e.g. the
            link that joined two persons), prefixed to the event reasons.

    Returns:
        :class:`Lineage`. Same inputs give the same ids and events.

    Example:
        >>> run2 = carry_forward(clusters.set_index("mention_id")["cluster"],
        ...                      run1.ids, prefix="P", run_id="2026-04-01")
        >>> run2.events.query("event != 'created'")
    """
    _check(current, "current")
    previous = pd.Series(dtype=object) if previous is None else previous
    _check(previous, "previous")
    if not prefix or not prefix.isascii():
        raise ValueError("prefix must be a non-empty ASCII string")

    cluster, labels = pd.factorize(current, sort=False)
    signature, size = _signatures(current.index, cluster, len(labels))
    old_code, old_ids = pd.factorize(previous, sort=False)
    old_ids = np.asarray(old_ids, dtype=object)
    old = pd.Series(old_code, index=previous.index).reindex(current.index, fill_value=-1)
    flows = _flows(cluster, old.to_numpy(), signature, _hash(old_ids))
    matched = _greedy_match(flows, len(labels), len(old_ids))

    holder = np.full(len(labels), -1)
    holder[flows["cluster"][matched]] = flows["old"][matched]
    stable = np.empty(len(labels), dtype=object)
    stable[holder >= 0] = old_ids[holder[holder >= 0]]
    fresh = np.flatnonzero(holder < 0)
    of_reserved = reserved if callable(reserved) else _among(pd.Index(list(reserved), dtype=object))
    stable[fresh] = _mint(signature[fresh], prefix, pd.Index(old_ids), of_reserved)

    events = _events(flows, holder, stable, old_ids, size, old_code, old.to_numpy())
    if reasons is not None:
        given = pd.Series(reasons).reindex(labels).to_numpy(dtype=object)
        cluster_of = events.pop("cluster").to_numpy()
        note = np.where(cluster_of >= 0, given[np.maximum(cluster_of, 0)], None)
        has = ~pd.isna(note)
        events.loc[has, "reason"] = note[has] + ": " + events.loc[has, "reason"]
    return Lineage(
        ids=pd.Series(stable[cluster], index=current.index, name="id"),
        clusters=pd.Series(stable, index=pd.Index(labels, name="cluster"), name="id"),
        events=events.assign(run_id=run_id).reindex(columns=EVENT_COLUMNS),
    )


def _check(series: pd.Series, name: str) -> None:
    if not series.index.is_unique:
        raise ValueError(f"{name}: keys (the index) must be unique")
    if series.isna().any():
        raise ValueError(f"{name}: every key needs a value")


def _hash(values: pd.Index | np.ndarray) -> np.ndarray:
    """Deterministic 64-bit hash of each value's text (same across processes and runs)."""
    text = np.asarray(pd.Index(values).astype(str), dtype=object)
    return pd.util.hash_array(text, categorize=False)


def _signatures(keys: pd.Index, code: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Order-free content hash and size of each cluster (sum of member-key hashes)."""
    signature = np.zeros(n, dtype=np.uint64)
    np.add.at(signature, code, _hash(keys))  # wraps modulo 2**64: fine for a hash
    return signature, np.bincount(code, minlength=n)


def _flows(
    cluster: np.ndarray, old: np.ndarray, signature: np.ndarray, old_hash: np.ndarray
) -> dict[str, np.ndarray]:
    """Keys shared by each (cluster, old id), in greedy order.

    Order: most shared keys, then old id (by hash), then cluster content, so
    the order depends only on the data, not on labels or row order.
    """
    known = old >= 0
    n_old = max(len(old_hash), 1)
    pair, n_keys = np.unique(cluster[known] * n_old + old[known], return_counts=True)
    flow_cluster, flow_old = pair // n_old, pair % n_old
    order = np.lexsort((signature[flow_cluster], old_hash[flow_old], -n_keys))
    return {"cluster": flow_cluster[order], "old": flow_old[order], "n_keys": n_keys[order]}


def _greedy_match(flows: dict[str, np.ndarray], n_clusters: int, n_old: int) -> np.ndarray:
    """Greedy one-to-one matching of clusters and old ids on overlap (mask over flows).

    A flow that is the first remaining one (in greedy order) for both its
    cluster and its old id is exactly what the sequential greedy algorithm
    would pick, so each round accepts all such flows at once; rounds repeat
    on what is left, usually two or three.
    """
    cluster, old = flows["cluster"], flows["old"]
    matched = np.zeros(len(cluster), dtype=bool)
    cluster_done = np.zeros(n_clusters, dtype=bool)
    old_done = np.zeros(n_old, dtype=bool)
    alive = np.flatnonzero(~cluster_done[cluster] & ~old_done[old])
    while len(alive):
        first_for_cluster = np.zeros(len(cluster), dtype=bool)
        first_for_cluster[alive[np.unique(cluster[alive], return_index=True)[1]]] = True
        first_for_old = np.zeros(len(cluster), dtype=bool)
        first_for_old[alive[np.unique(old[alive], return_index=True)[1]]] = True
        mutual = np.flatnonzero(first_for_cluster & first_for_old)
        matched[mutual] = True
        cluster_done[cluster[mutual]] = True
        old_done[old[mutual]] = True
        alive = alive[~cluster_done[cluster[alive]] & ~old_done[old[alive]]]
    return matched


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads a 64-bit seed over all bits (vectorised)."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _hex_ids(prefix: str, values: np.ndarray) -> np.ndarray:
    """``prefix`` + the top 40 bits of each value as 10 lower-case hex digits."""
    shifts = np.arange(60, 60 - 4 * _ID_DIGITS, -4, dtype=np.uint64)
    digits = _HEX[((values[:, None] >> shifts) & np.uint64(15)).astype(np.intp)]
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    chars = np.hstack([np.broadcast_to(head, (len(values), len(head))), digits])
    text = np.ascontiguousarray(chars).view(f"S{chars.shape[1]}").ravel()
    return pd.Series(text).str.decode("ascii").to_numpy(dtype=object)


def _among(ids: pd.Index) -> Callable[[np.ndarray], pd.Index]:
    """``reserved`` given as every reserved id: the same ids whatever the candidates."""
    return lambda candidates: ids


def _mint(
    signature: np.ndarray,
    prefix: str,
    taken: pd.Index,
    reserved: Callable[[np.ndarray], Collection[str]],
) -> np.ndarray:
    """New ids seeded by cluster content; a clash with ``taken``, a ``reserved`` one or a
    sibling re-hashes."""
    salt = _hash(np.array([prefix], dtype=object))[0]
    ids = np.empty(len(signature), dtype=object)
    pending = np.argsort(signature, kind="stable")
    attempt = 0
    while len(pending):
        seed = _mix(signature[pending] ^ salt ^ _mix(np.full(len(pending), attempt, np.uint64)))
        candidate = _hex_ids(prefix, seed)
        minted = pd.Index(candidate)
        clash = minted.isin(taken) | minted.isin(reserved(candidate)) | minted.duplicated()
        ids[pending[~clash]] = candidate[~clash]
        taken = taken.append(pd.Index(candidate[~clash]))
        pending = pending[clash]
        attempt += 1
    return ids


def _events(
    flows: dict[str, np.ndarray],
    holder: np.ndarray,
    stable: np.ndarray,
    old_ids: np.ndarray,
    size: np.ndarray,
    old_code: np.ndarray,
    current_old: np.ndarray,
) -> pd.DataFrame:
    """One event per flow of keys between different ids, plus created and retired ids.

    Rows come in a data-determined order: flows in greedy order, then created
    clusters, then retired ids.
    """
    survived = np.zeros(len(old_ids), dtype=bool)
    survived[holder[holder >= 0]] = True
    moved = holder[flows["cluster"]] != flows["old"]
    cluster, old, n_keys = (flows[k][moved] for k in ("cluster", "old", "n_keys"))
    kept = survived[old]
    count = pd.Series(n_keys).astype(str).to_numpy(dtype=object)
    moves = pd.DataFrame(
        {
            "cluster": cluster,
            "event": np.where(kept, "split", "merged"),
            "old_id": old_ids[old],
            "new_id": stable[cluster],
            "n_keys": n_keys,
            "reason": count
            + " keys of "
            + old_ids[old].astype(str)
            + np.where(kept, " now under ", " joined ")
            + stable[cluster],
        }
    )
    has_flow = np.zeros(len(stable), dtype=bool)
    has_flow[flows["cluster"]] = True
    new_only = np.flatnonzero(~has_flow)
    created = pd.DataFrame(
        {
            "cluster": new_only,
            "event": "created",
            "old_id": None,
            "new_id": stable[new_only],
            "n_keys": size[new_only],
            "reason": pd.Series(size[new_only]).astype(str).to_numpy(dtype=object) + " new keys",
        }
    )
    present = np.zeros(len(old_ids), dtype=bool)
    present[current_old[current_old >= 0]] = True
    gone = np.flatnonzero(~present)
    lost = np.bincount(old_code, minlength=len(old_ids))[gone]
    retired = pd.DataFrame(
        {
            "cluster": -1,
            "event": "retired",
            "old_id": old_ids[gone],
            "new_id": None,
            "n_keys": lost,
            "reason": "all " + pd.Series(lost).astype(str).to_numpy(dtype=object) + " keys gone",
        }
    )
    parts = [frame for frame in (moves, created, retired) if len(frame)]
    return pd.concat(parts, ignore_index=True) if parts else created
