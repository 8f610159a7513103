"""Clustering accepted links into persons, under cannot-link constraints.

Connected components (scipy.sparse.csgraph) over accepted links, then every component is
checked against pairwise cannot-link rules:

* two records holding different valid values of the same strong identifier (NHS number,
  UPN, NINO) never share a person, nor two records of one agency holding different agency
  person ids, unless they agree exactly on first name, surname and date of birth (or the
  date is missing on one side): a mistyped number that still passes its check, or a
  duplicate police nominal, is evidence against (the identifier's *else* level), not a
  wall against overwhelming agreement;
* records born a generation apart (unless month and day are equal and the years one digit
  or a century apart, a typo in the year) are different people whatever identifier or
  name they share: a baby's record carrying the mother's NHS number, a son named after his
  father, on his nominal;
* twins stay apart: same surname, same date of birth, different first names (the NHS
  vaccination-service failure in lessons-from-peers; one letter apart counts when both
  names are established, see :class:`TwinRule`), unless they share an identifier (two
  different typos of one name on one NHS number);
* records whose dates of birth differ in two of year, month and day (not a day-month swap,
  not a 1 January placeholder) are different people unless they share an identifier:
  siblings of one name, joined through a record with no date of birth.

All but the generation rule are *soft*: they hold between records, but when two groups of
records both hold one exact (first name, surname, date of birth), the groups are one person
and the rule yields, so one typo of a first name (MAY for AMY, on the school's UPN; a
mistyped name on a duplicate nominal) does not keep a person's records apart.

A component that breaks a rule is rebuilt greedily from its strongest link down, skipping
any link that would join two groups holding a forbidden pair (Kruskal with constraints),
so the weakest offending links are the ones dropped. Dropped links are reported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from matching.comparisons import ColumnCodes, Comparer, Comparison

__all__ = ["ClusterResult", "Constraints", "TwinRule", "cluster"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TwinRule:
    """Pairs at the ``agree`` levels on every listed comparison and at a ``differ`` level on
    the named comparison are different people (twins, or siblings sharing a birthday).

    At a ``similar`` level (names one letter apart) a pair is twins only when both exact
    names are *established*, each held by at least two records: twins named a letter apart
    (LAUREN, LAURET) each recur across agencies, a typo of one name is a one-off.
    """

    agree: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {"last_name": ("exact",), "dob": ("exact",)}
    )
    differ: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: {"first_name": ("else",)})
    similar: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {"first_name": ("jw92", "jw80")}
    )

    def _masks(
        self, comparisons: Sequence[Comparison], differ: Mapping[str, tuple[str, ...]] | None = None
    ) -> list[tuple[int, np.ndarray]]:
        """(comparison position, allowed-level mask) for every comparison the rule names."""
        wanted = {**self.agree, **(self.differ if differ is None else differ)}
        names = [c.name for c in comparisons]
        missing = set(wanted) - set(names)
        if missing:
            raise KeyError(f"twin rule names unknown comparisons: {sorted(missing)}")
        return [
            (k, np.isin(np.array(c.labels), wanted[c.name]))
            for k, c in enumerate(comparisons)
            if c.name in wanted
        ]

    def on_levels(
        self,
        levels: np.ndarray,
        comparisons: Sequence[Comparison],
        differ: Mapping[str, tuple[str, ...]] | None = None,
    ) -> np.ndarray:
        """Which rows of a (pairs x comparisons) level matrix the rule marks as twins
        (at the ``differ`` levels; pass ``self.similar`` for the one-letter-apart ones)."""
        return np.all([ok[levels[:, k]] for k, ok in self._masks(comparisons, differ)], axis=0)

    def predicate(self, comparer: Comparer) -> TwinTest:
        """A vectorised ``(left, right) -> (twins, twins if both names are established)``."""
        named = {**self.agree, **self.differ, **self.similar}
        chosen = [c for c in comparer.comparisons if c.name in named]
        sub = Comparer(comparer.table, chosen, comparer.nicknames)

        def test(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            levels = sub.levels(left, right)
            return self.on_levels(levels, chosen), self.on_levels(levels, chosen, self.similar)

        return test


TwinTest = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


class Constraints:
    """Pairwise cannot-link rules over the rows of a frame.

    Args:
        frame: the clustered rows (profiles), with identifier and scope columns.
        identifiers: columns whose different present values forbid a merge.
        scoped: column -> scope column: different values forbid a merge only within one
            scope (agency person ids within one agency).
        twin_levels: optional :class:`TwinRule` test ``(left, right) -> (twins, similar)``.
        twin_keys: columns a twin pair must share (used to find candidate pairs quickly).
        twin_differ: columns on which a twin pair must differ (the first name).
        identity: columns whose exact agreement lifts an identifier conflict; the last one
            (the date of birth) may instead be missing on either side.
        generation: (date column, years): records whose dates are this far apart never merge,
            and records whose dates differ in two parts merge only on a shared identifier;
            None turns both date rules off.
        codes: columns of ``frame`` already factorized (``pd.factorize`` with the NA
            sentinel), by name: not factorized again (the matcher's field table has them).
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        identifiers: Sequence[str] = (),
        scoped: Mapping[str, str] | None = None,
        twin_levels: TwinTest | None = None,
        twin_keys: Sequence[str] = ("last_name", "dob"),
        twin_differ: Sequence[str] = ("first_name",),
        identity: Sequence[str] = ("first_name", "last_name", "dob"),
        generation: tuple[str, int] | None = ("dob", 12),
        codes: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        scoped = dict(scoped or {})
        factorized = ColumnCodes(frame, codes)
        present = [k for k in identity if k in frame]
        self._identity = None
        self._signature = np.full(len(frame), -1, dtype=np.int64)
        if present:  # one code per column, -1 where missing
            self._identity = np.stack(
                [factorized[k] for k in present], axis=1
            )
            full = (self._identity >= 0).all(axis=1)
            self._signature[full] = _row_codes(self._identity[full])
        self._ymd = None
        if generation is not None and generation[0] in frame:
            dates = pd.to_datetime(frame[generation[0]], errors="coerce")
            parts = [dates.dt.year, dates.dt.month, dates.dt.day]
            self._ymd = np.stack([p.fillna(-1).to_numpy(np.int64) for p in parts], axis=1)
            self._gap = generation[1]
        self._ids = {
            name: (
                factorized[name],
                factorized[scope] if scope else None,
            )
            for name, scope in [*((n, None) for n in identifiers), *scoped.items()]
        }
        self._twin = twin_levels
        self._twin_keys = (
            np.stack([factorized[k] for k in twin_keys], axis=1)
            if twin_levels is not None
            else None
        )
        # a twin's name is established when two records hold it with the date (the last twin
        # key), whatever their surnames (a step-parent's in one agency); a typo is a one-off
        self._established = np.zeros(len(frame), dtype=bool)
        self._twin_differ = None
        if twin_levels is not None:
            held = np.stack([factorized[k] for k in [*twin_differ, twin_keys[-1]]], axis=1)
            known = (held >= 0).all(axis=1)
            together = _row_codes(held[known])
            self._established[known] = np.bincount(together)[together] >= 2
            self._twin_differ = _row_codes(np.stack(
                [pd.factorize(frame[k].astype("string"), use_na_sentinel=False)[0] for k in twin_differ], axis=1))

    def conflicts(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """True for pairs that must never be in one cluster."""
        hard, soft = self.conflict_kinds(left, right)
        return hard | soft

    def signatures(self, nodes: np.ndarray) -> np.ndarray:
        """Code of each node's exact (first name, surname, date of birth); -1 if any is missing."""
        return self._signature[nodes]

    def conflict_kinds(self, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Hard conflicts (a generation apart) and soft ones (identifiers, twins, different
        dates), which yield between groups sharing a signature (see the module docstring)."""
        bad = np.zeros(len(left), dtype=bool)
        soft = np.zeros(len(left), dtype=bool)
        shared = np.zeros(len(left), dtype=bool)
        for codes, scope in self._ids.values():
            cl, cr = codes[left], codes[right]
            same_scope = True if scope is None else scope[left] == scope[right]
            soft |= (cl >= 0) & (cr >= 0) & (cl != cr) & same_scope
            shared |= (cl >= 0) & (cl == cr) & same_scope
        if self._identity is not None:  # names agree, and dates where both are known
            il, ir = self._identity[left], self._identity[right]
            agree = (il == ir) & (il >= 0) | ((il < 0) | (ir < 0))
            agree[:, :-1] &= (il[:, :-1] >= 0) & (ir[:, :-1] >= 0)
            soft &= ~agree.all(axis=1)
        if self._ymd is not None:
            dl, dr = self._ymd[left], self._ymd[right]
            known = (dl[:, 0] >= 0) & (dr[:, 0] >= 0)
            same = dl == dr
            year_typo = same[:, 1] & same[:, 2] & _year_typo(dl[:, 0], dr[:, 0])
            bad |= known & (np.abs(dl[:, 0] - dr[:, 0]) >= self._gap) & ~year_typo
            swap = same[:, 0] & (dl[:, 1] == dr[:, 2]) & (dl[:, 2] == dr[:, 1])
            jan1 = ((dl[:, 1] == 1) & (dl[:, 2] == 1)) | ((dr[:, 1] == 1) & (dr[:, 2] == 1))
            placeholder = same[:, 0] & jan1
            soft |= known & (same.sum(axis=1) <= 1) & ~swap & ~placeholder & ~shared
        if self._twin is not None and len(left):
            keys_l, keys_r = self._twin_keys[left], self._twin_keys[right]
            same = ((keys_l == keys_r) & (keys_l >= 0)).all(axis=1)
            idx = np.flatnonzero(same)
            if len(idx):
                # two typos of one name (NAISY, DASY) on one NHS number are not twins
                twins, similar = self._twin(left[idx], right[idx])
                established = self._established[left[idx]] & self._established[right[idx]]
                soft[idx] |= (twins | similar & established) & ~shared[idx]
        return bad, soft & ~bad

    def candidate_pairs(
        self, members: np.ndarray, component: np.ndarray, distinct: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pairs within one component that could conflict: they share a scope or twin keys
        and differ in value. With ``distinct`` only one node per value is paired, which is
        enough to tell whether a component breaks a rule."""
        frames = []
        base = pd.DataFrame({"node": members, "comp": component})
        for tag, (codes, scope) in enumerate(self._ids.values()):
            sub = base.assign(tag=tag, s=0 if scope is None else scope[members], v=codes[members])
            frames.append(sub[sub["v"] >= 0])
        if self._twin_keys is not None:
            keys = self._twin_keys[members]
            twin_key = _row_codes(keys)
            sub = base.assign(tag=-1, s=twin_key, v=self._twin_differ[members])
            frames.append(sub[(keys >= 0).all(axis=1)])
        if self._ymd is not None:
            ymd = self._ymd[members]
            sub = base.assign(tag=-2, s=0, v=(ymd[:, 0] * 100 + ymd[:, 1]) * 100 + ymd[:, 2])
            frames.append(sub[ymd[:, 0] >= 0])
        if not frames:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        groups = pd.concat(frames, ignore_index=True)
        if distinct:
            groups = groups.drop_duplicates(["comp", "tag", "s", "v"])
        pairs = groups.merge(groups, on=["comp", "tag", "s"])
        pairs = pairs[(pairs["node_x"] < pairs["node_y"]) & (pairs["v_x"] != pairs["v_y"])]
        pairs = pairs.drop_duplicates(["node_x", "node_y"])
        return pairs["node_x"].to_numpy(), pairs["node_y"].to_numpy()


def _year_typo(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Years one digit apart (1986, 1966) or a century apart (2015, 1915): a slip of the pen,
    not a baby born on the mother's birthday."""
    differ = sum(((a // 10**k) % 10 != (b // 10**k) % 10).astype(int) for k in range(4))
    return (differ <= 1) | (a % 100 == b % 100)


def _row_codes(values: np.ndarray) -> np.ndarray:
    """One dense code per distinct row of a 2-D array, numbered in the rows' sorted order (as
    ``np.unique(values, axis=0)``, which sorts the rows as records: several times slower)."""
    if not len(values):
        return np.empty(0, dtype=np.int64)
    order = np.lexsort(values.T[::-1])
    ordered = values[order]
    codes = np.empty(len(values), dtype=np.int64)
    codes[order] = np.cumsum(np.r_[False, (ordered[1:] != ordered[:-1]).any(axis=1)])
    return codes


@dataclass
class ClusterResult:
    """Cluster label per node, and the accepted links dropped to satisfy constraints."""

    labels: np.ndarray
    dropped: pd.DataFrame

    @property
    def n_clusters(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0


def cluster(
    n: int,
    left: np.ndarray,
    right: np.ndarray,
    weight: np.ndarray,
    constraints: Constraints | None = None,
    groups: np.ndarray | None = None,
) -> ClusterResult:
    """Cluster ``n`` nodes joined by weighted links, repairing constraint violations.

    Args:
        n: number of nodes.
        left, right, weight: accepted links.
        constraints: cannot-link rules; None for plain connected components.
        groups: optional int label per node (-1 = none): nodes sharing a label are already
            one cluster (persons from an earlier run) and are never split.

    Returns:
        :class:`ClusterResult` with dense labels 0..k-1 and the dropped links.
    """
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    weight = np.asarray(weight, dtype=np.float64)
    dropped = []
    if constraints is not None and len(left):
        direct = constraints.conflicts(left, right)
        dropped.append(
            pd.DataFrame(
                {
                    "left": left[direct],
                    "right": right[direct],
                    "weight": weight[direct],
                    "reason": "pair_conflict",
                }
            )
        )
        left, right, weight = left[~direct], right[~direct], weight[~direct]
    must_l, must_r = _group_edges(groups)
    graph = coo_matrix(
        (np.ones(len(left) + len(must_l)), (np.r_[left, must_l], np.r_[right, must_r])),
        shape=(n, n),
    )
    _, labels = connected_components(graph, directed=False)
    if constraints is not None:
        # a component no link joins is one earlier person (or one node), which repair keeps
        # whole: only linked components are checked (an incremental run links a few)
        bad = _violating(labels, constraints, np.unique(labels[np.r_[left, right]]))
        if len(bad):
            labels, lost = _repair(labels, bad, left, right, weight, constraints, groups)
            dropped.append(lost)
    _, labels = np.unique(labels, return_inverse=True)
    lost = (
        pd.concat(dropped, ignore_index=True)
        if dropped
        else pd.DataFrame(columns=["left", "right", "weight", "reason"])
    )
    return ClusterResult(labels.astype(np.int64), lost)


def _group_edges(groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """A star of edges joining each group's nodes to its first node."""
    if groups is None:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    nodes = np.flatnonzero(groups >= 0)
    first = pd.Series(nodes).groupby(groups[nodes]).transform("first").to_numpy()
    keep = first != nodes
    return nodes[keep], first[keep]


def _violating(labels: np.ndarray, constraints: Constraints, linked: np.ndarray) -> np.ndarray:
    """Components among ``linked`` containing at least one forbidden pair."""
    sizes = np.bincount(labels)
    members = np.flatnonzero((sizes[labels] > 1) & np.isin(labels, linked))
    if not len(members):
        return np.empty(0, np.int64)
    a, b = constraints.candidate_pairs(members, labels[members], distinct=True)
    clash = constraints.conflicts(a, b)
    return np.unique(labels[a[clash]])


def _conflict_kinds(
    constraints: Constraints, a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Hard and soft conflicts; an object with only ``conflicts`` (review decisions in
    :mod:`pipeline.linkage.link`) has hard ones only."""
    if isinstance(constraints, Constraints):
        return constraints.conflict_kinds(a, b)
    return constraints.conflicts(a, b), np.zeros(len(a), dtype=bool)


def _repair(
    labels: np.ndarray,
    bad: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    weight: np.ndarray,
    constraints: Constraints,
    groups: np.ndarray | None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Rebuild violating components strongest link first, skipping links that join a forbidden pair."""
    in_bad = np.isin(labels, bad)
    nodes = np.flatnonzero(in_bad)
    a, b = constraints.candidate_pairs(nodes, labels[nodes])
    hard, soft = _conflict_kinds(constraints, a, b)
    forbid: dict[int, set[int]] = {}
    forbid_soft: dict[int, set[int]] = {}
    for table, clash in ((forbid, hard), (forbid_soft, soft)):
        for x, y in zip(a[clash].tolist(), b[clash].tolist(), strict=True):
            table.setdefault(x, set()).add(y)
            table.setdefault(y, set()).add(x)
    parent = {int(v): int(v) for v in nodes}
    members = {int(v): {int(v)} for v in nodes}
    banned = {v: set(forbid.get(v, ())) for v in parent}
    banned_soft = {v: set(forbid_soft.get(v, ())) for v in parent}
    codes = (
        constraints.signatures(nodes)
        if isinstance(constraints, Constraints)
        else np.full(len(nodes), -1)
    )
    signature = {int(v): {int(g)} if g >= 0 else set() for v, g in zip(nodes, codes, strict=True)}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(x: int, y: int) -> None:
        if len(members[x]) < len(members[y]):
            x, y = y, x
        parent[y] = x
        members[x] |= members.pop(y)
        banned[x] |= banned.pop(y)
        banned_soft[x] |= banned_soft.pop(y)
        signature[x] |= signature.pop(y)

    if groups is not None:  # earlier persons stay whole
        sub = groups[nodes]
        for g in np.unique(sub[sub >= 0]):
            grp = nodes[sub == g].tolist()
            for other in grp[1:]:
                rx, ry = find(grp[0]), find(other)
                if rx != ry:
                    union(rx, ry)
    edge = np.flatnonzero(in_bad[left])
    edge = edge[np.argsort(-weight[edge], kind="stable")]
    lost = []
    for e in edge.tolist():
        rx, ry = find(int(left[e])), find(int(right[e]))
        if rx == ry:
            continue
        small, big = (rx, ry) if len(members[rx]) < len(members[ry]) else (ry, rx)
        soft_clash = members[small] & banned_soft[big] and not signature[small] & signature[big]
        if members[small] & banned[big] or soft_clash:
            lost.append(e)
            continue
        union(rx, ry)
    out = labels.copy()
    offset = labels.max() + 1
    roots = np.array([find(int(v)) for v in nodes])
    out[nodes] = offset + np.unique(roots, return_inverse=True)[1]
    lost_idx = np.array(lost, dtype=np.int64)
    return out, pd.DataFrame(
        {
            "left": left[lost_idx],
            "right": right[lost_idx],
            "weight": weight[lost_idx],
            "reason": "component_repair",
        }
    )
