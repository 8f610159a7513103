"""Multi-pass blocking that streams candidate pairs block by block.

Each pass is declared as data (:class:`BlockingPass`): records whose key values are equal
form a block, and every pair inside a block is a candidate. An *asymmetric* pass joins one
key list on the left to another on the right (swapped day/month, swapped names). A pair
found by an earlier pass is dropped from later ones by re-checking the earlier keys on the
pair, as Splink does, so no set of seen pairs is ever held in memory.

Skewed blocks ("John Smith", Splink #1946) are measured per pass: a block larger than
``max_block_size`` is split by the pass's ``split_by`` field, and dropped if still too big
(other passes cover it). The worst keys are reported.

Pairs are produced as int32 index arrays in batches of about ``batch_pairs``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import jellyfish
import numpy as np
import pandas as pd

from matching.comparisons import ColumnCodes

__all__ = [
    "DEFAULT_PASSES",
    "Blocker",
    "BlockingPass",
    "PairBatch",
    "add_blocking_keys",
]


@dataclass(frozen=True)
class BlockingPass:
    """Records agreeing on all ``keys`` are candidates.

    With ``other_keys`` the pass is asymmetric: left ``keys`` must equal right ``other_keys``
    (either way round). ``split_by`` refines blocks above the size cap.
    """

    name: str
    keys: tuple[str, ...]
    other_keys: tuple[str, ...] | None = None
    split_by: str | None = None

    def __post_init__(self) -> None:
        if self.other_keys is not None and len(self.other_keys) != len(self.keys):
            raise ValueError(f"{self.name}: keys and other_keys differ in length")

    @property
    def fields(self) -> set[str]:
        return set(self.keys) | set(self.other_keys or ()) | ({self.split_by} - {None})


DEFAULT_PASSES: tuple[BlockingPass, ...] = (
    BlockingPass("nhs_number", ("nhs_number",)),
    BlockingPass("upn", ("upn",)),
    BlockingPass("nino", ("nino",)),
    BlockingPass("source_person_id", ("source_person_id",)),
    BlockingPass(
        "surname_phonetic_yob", ("last_name_phonetic", "dob_year"), split_by="first_initial"
    ),
    BlockingPass("first_name_dob", ("first_name", "dob")),
    BlockingPass("dob_district", ("dob", "postcode_district"), split_by="first_initial"),
    BlockingPass(
        "dob_dm_swapped",
        ("dob_dm_swapped", "first_initial"),
        other_keys=("dob", "first_initial"),
    ),
    BlockingPass(
        "names_swapped", ("first_name", "last_name"), other_keys=("last_name", "first_name")
    ),
    BlockingPass("surname_postcode", ("last_name", "postcode"), split_by="first_initial"),
    BlockingPass(
        "first_name_phonetic_yob_district", ("first_name_phonetic", "dob_year", "postcode_district")
    ),
    # No name in the key: survives a typo in any letter of either name, the first included
    BlockingPass("dob", ("dob",), split_by="first_initial"),
    # No surname or date: a child under a step-parent's surname, a placeholder date of birth
    BlockingPass("first_name_postcode", ("first_name", "postcode")),
)


def _per_distinct(values: pd.Series, func: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """Apply a vectorised ``func`` to the distinct values only and spread the result back."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    out = func(pd.Series(uniques)).to_numpy(dtype=object)
    result = np.where(codes >= 0, out[np.maximum(codes, 0)] if len(out) else None, None)
    return pd.Series(result, index=values.index, dtype=object).where(lambda r: r.notna())


def _nysiis(names: pd.Series) -> pd.Series:
    letters = names.astype("string").str.replace(r"[^A-Z]", "", regex=True)
    return letters.map(lambda v: jellyfish.nysiis(v) if isinstance(v, str) and v else None)


def _date_keys(dates: pd.Series) -> pd.DataFrame:
    """ISO date, year and the day/month-swapped ISO date (null when the swap is impossible).

    The texts are cut from the dates' ISO characters at once: ``strftime`` and assembling
    swapped dates went date by date, twice the time on the distinct dates of a large area."""
    dob = pd.to_datetime(dates, errors="coerce")
    day, month = dob.dt.day.to_numpy(), dob.dt.month.to_numpy()
    known = dob.notna().to_numpy()
    iso = np.datetime_as_string(dob.to_numpy(dtype="datetime64[D]"), unit="D").astype("U10")
    chars = iso.view("U1").reshape(len(iso), 10)
    swapped = np.ascontiguousarray(chars[:, [0, 1, 2, 3, 4, 8, 9, 7, 5, 6]]).view("U10").ravel()  # YYYY-DD-MM
    swappable = known & (day <= 12) & (day != month)  # the day is then a month, the month a day
    return pd.DataFrame(
        {
            "dob": np.where(known, iso.astype(object), np.nan),
            "dob_year": dob.dt.year.astype("Int64").astype("string"),
            "dob_dm_swapped": np.where(swappable, swapped.astype(object), np.nan),
        }
    )


def add_blocking_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """Derived key columns the default passes use (phonetic names, date parts, swaps).

    Each is computed once per distinct source value.
    """
    codes, dates = pd.factorize(pd.to_datetime(frame["dob"], errors="coerce"))
    # one row of keys per distinct date, and a last row of nulls for records without one
    keys = np.vstack([_date_keys(pd.Series(dates)).to_numpy(dtype=object), np.full((1, 3), None, dtype=object)])
    dob = keys[np.where(codes >= 0, codes, len(keys) - 1)]
    return frame.assign(
        last_name_phonetic=_per_distinct(frame["last_name"], _nysiis),
        first_name_phonetic=_per_distinct(frame["first_name"], _nysiis),
        first_initial=_per_distinct(frame["first_name"], lambda s: s.astype("string").str[:1]),
        dob=dob[:, 0],
        dob_year=dob[:, 1],
        dob_dm_swapped=dob[:, 2],
    )


@dataclass
class PairBatch:
    """Candidate pairs from one pass, ``left < right`` positions into the frame."""

    pass_name: str
    left: np.ndarray
    right: np.ndarray

    def __len__(self) -> int:
        return len(self.left)


@dataclass
class _PassCodes:
    spec: BlockingPass
    left: np.ndarray
    right: np.ndarray
    stats: dict = field(default_factory=dict)

    @property
    def symmetric(self) -> bool:
        return self.left is self.right


def _combine(columns: Sequence[np.ndarray]) -> np.ndarray:
    """Dense int64 codes for tuples of int codes; -1 where any part is -1."""
    missing = np.zeros(len(columns[0]), dtype=bool)
    combined = np.zeros(len(columns[0]), dtype=np.int64)
    for col in columns:
        missing |= col < 0
        combined = combined * (int(col.max(initial=0)) + 1) + np.maximum(col, 0)
    codes = np.full(len(combined), -1, dtype=np.int64)
    if (~missing).any():
        codes[~missing] = np.unique(combined[~missing], return_inverse=True)[1]
    return codes


def _factorize_jointly(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, _ = pd.factorize(pd.concat([a, b], ignore_index=True), use_na_sentinel=True)
    return codes[: len(a)], codes[len(a) :]


def _block_index(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Records sorted by block: (order, block starts, block sizes, block codes)."""
    valid = np.flatnonzero(codes >= 0)
    order = valid[np.argsort(codes[valid], kind="stable")]
    ordered = codes[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(order) else order
    sizes = np.diff(np.r_[starts, len(order)])
    return order, starts, sizes, ordered[starts] if len(order) else ordered


def _expand(first: np.ndarray, counts: np.ndarray, partner_start: np.ndarray) -> tuple:
    """For each position ``first[k]`` emit ``counts[k]`` partners from ``partner_start[k]`` on."""
    total = int(counts.sum())
    left = np.repeat(first, counts)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    right = np.repeat(partner_start, counts) + offsets
    return left, right


def _chunks(pairs_per_block: np.ndarray, batch_pairs: int) -> Iterator[tuple[int, int]]:
    """Consecutive block ranges whose pair counts add up to about ``batch_pairs``."""
    cum = np.cumsum(pairs_per_block)
    start = 0
    while start < len(pairs_per_block):
        base = cum[start - 1] if start else 0
        stop = int(np.searchsorted(cum, base + batch_pairs, side="right"))
        stop = max(stop, start + 1)
        yield start, stop
        start = stop


class Blocker:
    """Blocking plan for one frame: per-pass block codes, size report, and pair streaming.

    Args:
        frame: records with the pass fields (see :func:`add_blocking_keys`).
        passes: declared passes, in priority order.
        max_block_size: records per block (or sqrt(2 x pairs) for asymmetric passes)
            above which a block is split, then dropped.
        batch_pairs: target number of pairs per yielded batch.
        codes: columns of ``frame`` already factorized (``pd.factorize`` with the NA
            sentinel), by name: not factorized again.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        passes: Sequence[BlockingPass] = DEFAULT_PASSES,
        max_block_size: int = 400,
        batch_pairs: int = 2_000_000,
        codes: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        missing = set().union(*(p.fields for p in passes)) - set(frame.columns)
        if missing:
            raise KeyError(f"frame lacks blocking fields: {sorted(missing)}")
        self.n = len(frame)
        self.max_block_size = max_block_size
        self.batch_pairs = batch_pairs
        self._columns = ColumnCodes(frame, codes)  # a field shared by several passes is coded once
        self.passes = [self._codes(frame, p) for p in passes]

    # -- plan ------------------------------------------------------------------------

    def _codes(self, frame: pd.DataFrame, spec: BlockingPass) -> _PassCodes:
        if spec.other_keys is None:
            columns = [self._columns[k] for k in spec.keys]
            left = right = _combine(columns)
        else:
            joint = [
                _factorize_jointly(frame[a], frame[b])
                for a, b in zip(spec.keys, spec.other_keys, strict=True)
            ]
            both = _combine([np.r_[lc, rc] for lc, rc in joint])
            left, right = both[: self.n], both[self.n :]
        sizes = self._block_pairs(left, right)
        worst = np.argsort(sizes)[::-1][:5]
        stats = {
            "blocks": int((sizes > 0).sum()),
            "largest_block_pairs": int(sizes.max(initial=0)),
            "worst_keys": [
                self._describe(frame, spec, left, right, int(code))
                for code in worst
                if sizes[code] > 0
            ],
        }
        limit = self.max_block_size * (self.max_block_size - 1) // 2
        split = dropped = 0
        if (sizes > limit).any() and spec.split_by is not None:
            big = sizes > limit
            split = int(big.sum())
            extra = self._columns[spec.split_by]
            left = self._refine(left, big, extra)
            right = left if spec.other_keys is None else self._refine(right, big, extra)
            sizes = self._block_pairs(left, right)
        if (sizes > limit).any():
            big = sizes > limit
            dropped = int(big.sum())
            left = np.where((left >= 0) & big[np.maximum(left, 0)], -1, left)
            right = (
                left
                if spec.other_keys is None
                else np.where((right >= 0) & big[np.maximum(right, 0)], -1, right)
            )
        stats.update(split_blocks=split, dropped_blocks=dropped)
        left32 = left.astype(np.int32)
        right32 = left32 if spec.other_keys is None else right.astype(np.int32)
        return _PassCodes(spec, left32, right32, stats)

    @staticmethod
    def _block_pairs(left: np.ndarray, right: np.ndarray) -> np.ndarray:
        n_codes = int(max(left.max(initial=-1), right.max(initial=-1))) + 1
        nl = np.bincount(left[left >= 0], minlength=n_codes).astype(np.int64)
        if left is right:
            return nl * (nl - 1) // 2
        nr = np.bincount(right[right >= 0], minlength=n_codes).astype(np.int64)
        return nl * nr

    @staticmethod
    def _refine(codes: np.ndarray, big: np.ndarray, extra: np.ndarray) -> np.ndarray:
        """Append ``extra`` to the key of records in ``big`` blocks; others keep their block."""
        in_big = (codes >= 0) & big[np.maximum(codes, 0)]
        part = np.where(in_big, extra, -2) + 2  # 0 for records outside big blocks
        refined = _combine([codes, part])
        return np.where(in_big & (extra < 0), -1, refined)

    @staticmethod
    def _describe(
        frame: pd.DataFrame, spec: BlockingPass, left: np.ndarray, right: np.ndarray, code: int
    ) -> str:
        row = (
            int(np.flatnonzero(left == code)[0])
            if (left == code).any()
            else int(np.flatnonzero(right == code)[0])
        )
        keys = spec.keys if (left == code).any() else spec.other_keys
        return "|".join(str(frame[k].iloc[row]) for k in keys)

    def pass_pairs(self, name: str) -> int:
        """Pairs a pass produces on its own (after capping), before removing earlier passes'."""
        pc = next(p for p in self.passes if p.spec.name == name)
        return int(self._block_pairs(pc.left, pc.right).sum())

    def block_report(self) -> pd.DataFrame:
        """Per pass: number of blocks, largest block (pairs), blocks split/dropped, worst keys."""
        return pd.DataFrame([{"pass": p.spec.name, **p.stats} for p in self.passes]).set_index(
            "pass"
        )

    # -- pairs -----------------------------------------------------------------------

    def pairs(
        self,
        passes: Sequence[str] | None = None,
        focus: np.ndarray | None = None,
        exclude_earlier: bool = True,
    ) -> Iterator[PairBatch]:
        """Stream candidate pairs, pass by pass, batch by batch.

        Args:
            passes: names of the passes to run (default: all, in declared order).
            focus: boolean mask; if given, only pairs with at least one focus record are
                produced (incremental linkage: new-new and new-existing).
            exclude_earlier: drop pairs that an earlier declared pass already produced.

        Yields:
            :class:`PairBatch` with ``left < right``.
        """
        chosen = set(passes) if passes is not None else None
        for k, pc in enumerate(self.passes):
            if chosen is not None and pc.spec.name not in chosen:
                continue
            earlier = self.passes[:k] if exclude_earlier else []
            for left, right in self._pass_pairs(pc, focus):
                keep = np.ones(len(left), dtype=bool)
                for prev in earlier:
                    keep &= ~self._produced_by(prev, left, right)
                if focus is not None:
                    keep &= focus[left] | focus[right]
                if keep.any():
                    yield PairBatch(pc.spec.name, left[keep], right[keep])

    @staticmethod
    def _produced_by(pc: _PassCodes, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        ll, rr = pc.left[left], pc.right[right]
        hit = (ll == rr) & (ll >= 0)
        if not pc.symmetric:
            lr, rl = pc.left[right], pc.right[left]
            hit |= (lr == rl) & (lr >= 0)
        return hit

    def _pass_pairs(
        self, pc: _PassCodes, focus: np.ndarray | None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if pc.symmetric:
            yield from self._symmetric(pc.left, focus)
        else:
            yield from self._asymmetric(pc.left, pc.right, focus)

    def _symmetric(self, codes: np.ndarray, focus: np.ndarray | None) -> Iterator[tuple]:
        order, starts, sizes, _ = _block_index(codes if focus is None else _focus_blocks(focus, codes)[0])
        keep = sizes > 1
        if focus is not None:
            hits = np.add.reduceat(focus[order].astype(np.int64), starts) if len(order) else sizes
            keep &= hits > 0
        starts, sizes = starts[keep], sizes[keep]
        for a, b in _chunks(sizes * (sizes - 1) // 2, self.batch_pairs):
            s, z = starts[a:b], sizes[a:b]
            first = _ranges(s, z)
            ends = np.repeat(s + z, z)
            lp, rp = _expand(first, ends - first - 1, first + 1)
            left, right = order[lp], order[rp]
            yield np.minimum(left, right).astype(np.int32), np.maximum(left, right).astype(np.int32)

    def _asymmetric(
        self, lcodes: np.ndarray, rcodes: np.ndarray, focus: np.ndarray | None
    ) -> Iterator[tuple]:
        lfocus, rfocus = (lcodes, rcodes) if focus is None else _focus_blocks(focus, lcodes, rcodes)
        lorder, lstarts, lsizes, lblocks = _block_index(lfocus)
        rorder, rstarts, rsizes, rblocks = _block_index(rfocus)
        _, li, ri = np.intersect1d(lblocks, rblocks, assume_unique=True, return_indices=True)
        if focus is not None and len(li):
            lhits = np.add.reduceat(focus[lorder].astype(np.int64), lstarts)[li]
            rhits = np.add.reduceat(focus[rorder].astype(np.int64), rstarts)[ri]
        lstarts, lsizes, rstarts, rsizes = lstarts[li], lsizes[li], rstarts[ri], rsizes[ri]
        if focus is not None and len(li):
            keep = (lhits + rhits) > 0
            lstarts, lsizes, rstarts, rsizes = (
                lstarts[keep],
                lsizes[keep],
                rstarts[keep],
                rsizes[keep],
            )
        for a, b in _chunks(lsizes * rsizes, self.batch_pairs):
            first = _ranges(lstarts[a:b], lsizes[a:b])
            lp, rp = _expand(
                first, np.repeat(rsizes[a:b], lsizes[a:b]), np.repeat(rstarts[a:b], lsizes[a:b])
            )
            x, y = lorder[lp], rorder[rp]
            # the same unordered pair may also arise the other way round: keep one copy
            reverse = (lcodes[y] == rcodes[x]) & (lcodes[y] >= 0)
            keep = (x != y) & ((x < y) | ~reverse)
            x, y = x[keep], y[keep]
            yield np.minimum(x, y).astype(np.int32), np.maximum(x, y).astype(np.int32)


def _focus_blocks(focus: np.ndarray, *codes: np.ndarray) -> list[np.ndarray]:
    """The codes without the blocks (-1) that hold no focus record on any side: only the others
    yield pairs, so only their records are sorted into blocks (a delta's new records are in a
    few thousand of a pass's blocks, not in all of them)."""
    marked = np.zeros(max(int(c.max(initial=-1)) for c in codes) + 2, dtype=bool)  # the last: code -1
    for c in codes:
        marked[c[focus]] = True
    return [np.where(marked[c], c, -1) for c in codes]


def _ranges(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(start, start + size)`` for every block, vectorised."""
    total = int(sizes.sum())
    return np.repeat(starts, sizes) + (
        np.arange(total) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    )
