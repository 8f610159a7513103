"""Comparisons declared as data, and the one builder that evaluates them on pairs.

A comparison is an ordered list of levels, as in Splink: level 0 is *null* (implicit),
then exact, then fuzzier levels, and the last level is *else* (no conditions). The first
level whose conditions all hold wins. Each level is a plain dataclass (method, fields,
threshold), so a trained model can be saved as JSON next to the declarations it used.

The builder works on a :class:`FieldTable`: every field is dictionary-encoded once
(``codes`` into ``uniques``), so exact agreement is an integer compare and string
similarities run through rapidfuzz ``process.cpdist`` only for pairs whose values differ.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources

import numpy as np
import pandas as pd
from rapidfuzz import distance, process

__all__ = [
    "DEFAULT_COMPARISONS",
    "ColumnCodes",
    "Comparer",
    "Comparison",
    "Condition",
    "FieldTable",
    "Level",
    "identifier_comparison",
    "load_nicknames",
]


@dataclass(frozen=True)
class Condition:
    """One test on a pair: ``method`` applied to ``fields`` (left vs right) with ``threshold``."""

    method: str
    fields: tuple[str, ...]
    threshold: float | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown comparison method {self.method!r}; known: {sorted(METHODS)}")


@dataclass(frozen=True)
class Level:
    """A comparison level: all ``conditions`` must hold. ``m_prior`` seeds training."""

    label: str
    conditions: tuple[Condition, ...] = ()
    m_prior: float = 0.1


@dataclass(frozen=True)
class Comparison:
    """One comparison: non-null levels in Splink order, the last one being *else*.

    ``null_fields``: the pair is at the null level when any of them is missing on either
    side (default: the fields of the first condition). ``scope``: a field that must be equal
    on both sides for the comparison to apply at all (e.g. agency ids compare only within
    one agency); otherwise the pair is at the null level too.
    """

    name: str
    levels: tuple[Level, ...]
    null_fields: tuple[str, ...] = ()
    scope: str | None = None

    def __post_init__(self) -> None:
        if len(self.levels) < 2 or self.levels[-1].conditions:
            raise ValueError(f"{self.name}: needs at least one level before a final 'else' level")
        if any(not lv.conditions for lv in self.levels[:-1]):
            raise ValueError(f"{self.name}: only the last level may have no conditions")
        if not self.null_fields:
            object.__setattr__(self, "null_fields", self.levels[0].conditions[0].fields)

    @property
    def labels(self) -> tuple[str, ...]:
        """Level labels indexed by level number (0 = null)."""
        return ("null", *(lv.label for lv in self.levels))

    @property
    def fields(self) -> set[str]:
        used = set(self.null_fields) | ({self.scope} if self.scope else set())
        for lv in self.levels:
            for cond in lv.conditions:
                used.update(cond.fields)
        return used


def _c(method: str, *fields: str, threshold: float | None = None) -> Condition:
    return Condition(method, fields, threshold)


def identifier_comparison(name: str, scope: str | None = None) -> Comparison:
    """Exact/else on an identifier: disagreement of two present values is strong evidence against."""
    return Comparison(
        name,
        (Level("exact", (_c("exact", name),), m_prior=0.995), Level("else", m_prior=0.005)),
        scope=scope,
    )


# --------------------------------------------------------------------------------------
# Field table: dictionary-encoded columns


@dataclass
class EncodedField:
    """A column as int32 codes (-1 = missing) into ``uniques``."""

    codes: np.ndarray
    uniques: np.ndarray

    @classmethod
    def from_series(cls, values: pd.Series) -> EncodedField:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        return cls(codes.astype(np.int32), np.asarray(uniques, dtype=object))

    @cached_property
    def strings(self) -> np.ndarray:
        return np.array([str(v) for v in self.uniques], dtype=object)

    @cached_property
    def date_parts(self) -> np.ndarray:
        """(n_uniques, 3) int16 year, month, day for date-like uniques."""
        stamps = pd.to_datetime(pd.Series(self.uniques), errors="coerce")
        return np.stack(
            [stamps.dt.year.fillna(0), stamps.dt.month.fillna(0), stamps.dt.day.fillna(0)], axis=1
        ).astype(np.int16)

    @cached_property
    def tokens(self) -> np.ndarray:
        """(n_uniques, k) int32 codes of the name's tokens (split on space/hyphen), -1 padded."""
        parts = pd.Series(self.strings).str.split(r"[\s\-]+", regex=True).explode()
        parts = parts[parts.str.len() >= 2]
        return _padded_groups(parts.index.to_numpy(), pd.factorize(parts)[0], len(self.uniques))

    @cached_property
    def lengths(self) -> np.ndarray:
        return pd.Series(self.strings, dtype=object).str.len().to_numpy(np.int32)

    @cached_property
    def initials(self) -> np.ndarray:
        return pd.Series(self.strings, dtype=object).str[:1].to_numpy(object)


def _padded_groups(rows: np.ndarray, groups: np.ndarray, n_rows: int) -> np.ndarray:
    """Turn (row, group) memberships into an (n_rows, k) matrix padded with -1."""
    if len(rows) == 0:
        return np.full((n_rows, 1), -1, dtype=np.int32)
    frame = pd.DataFrame({"row": rows, "group": groups}).drop_duplicates()
    slot = frame.groupby("row").cumcount().to_numpy()
    out = np.full((n_rows, int(slot.max()) + 1), -1, dtype=np.int32)
    out[frame["row"].to_numpy(), slot] = frame["group"].to_numpy()
    return out


class ColumnCodes(dict[str, np.ndarray]):
    """A frame's columns as ``pd.factorize`` codes (NA sentinel -1) by name, each factorized on
    first use and once only; seeded with codes already made (the field table's), so the blocker
    and the cannot-link rules do not factorize the same columns of every profile again."""

    def __init__(self, frame: pd.DataFrame, known: Mapping[str, np.ndarray] | None = None) -> None:
        super().__init__(known or {})
        self._frame = frame

    def __missing__(self, name: str) -> np.ndarray:
        codes = self[name] = pd.factorize(self._frame[name], use_na_sentinel=True)[0]
        return codes


class FieldTable:
    """The columns comparisons read, each encoded once. Rows are addressed by position."""

    def __init__(self, frame: pd.DataFrame, fields: Sequence[str]) -> None:
        self.n = len(frame)
        self._fields = {name: EncodedField.from_series(frame[name]) for name in fields}

    def __getitem__(self, name: str) -> EncodedField:
        return self._fields[name]

    def __contains__(self, name: str) -> bool:
        return name in self._fields

    @property
    def codes(self) -> dict[str, np.ndarray]:
        """Each column's codes by name (``pd.factorize`` with the NA sentinel), for the blocker
        and the cannot-link rules to reuse rather than factorize the same columns again."""
        return {name: encoded.codes for name, encoded in self._fields.items()}


def load_nicknames() -> pd.DataFrame:
    """The shipped name/nickname table (``matching/data/nicknames.csv``), upper case."""
    with resources.files("matching").joinpath("data/nicknames.csv").open(encoding="utf-8") as fh:
        table = pd.read_csv(fh, dtype=str)
    return table.apply(lambda col: col.str.strip().str.upper())


# --------------------------------------------------------------------------------------
# Methods: each returns a boolean mask over the pairs in a context


@dataclass
class PairContext:
    """Pairs being compared, with a per-batch cache of codes and similarity scores.

    Methods are evaluated on ``rows`` (positions into the pairs) so that a level is only
    tested on pairs no stricter level has claimed, and string scores computed for one
    level (Jaro-Winkler 0.92) are reused by the next (0.80).
    """

    table: FieldTable
    left: np.ndarray
    right: np.ndarray
    nickname_groups: Callable[[EncodedField], np.ndarray]
    cache: dict = field(default_factory=dict)

    def codes(self, name: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        key = ("codes", name)
        if key not in self.cache:
            codes = self.table[name].codes
            self.cache[key] = (codes[self.left], codes[self.right])
        cl, cr = self.cache[key]
        return cl[rows], cr[rows]

    def similarity(self, scorer: str, a: str, b: str, rows: np.ndarray) -> np.ndarray:
        """Score of left ``a`` vs right ``b`` on ``rows``; each distinct value pair scored once."""
        key = (scorer, a, b)
        if key not in self.cache:
            self.cache[key] = np.full(len(self.left), np.nan, dtype=np.float32)
        out = self.cache[key]
        todo = rows[np.isnan(out[rows])]
        if len(todo):
            fa, fb = self.table[a], self.table[b]
            cl, cr = fa.codes[self.left[todo]], fb.codes[self.right[todo]]
            present = (cl >= 0) & (cr >= 0)
            func = (
                distance.Levenshtein.distance
                if scorer == "levenshtein"
                else distance.JaroWinkler.normalized_similarity
            )
            scores = np.full(len(todo), np.inf if scorer == "levenshtein" else 0.0, np.float32)
            if present.any():
                combined = cl[present].astype(np.int64) * len(fb.uniques) + cr[present]
                inverse, distinct = pd.factorize(combined)
                scores[present] = process.cpdist(
                    fa.strings[distinct // len(fb.uniques)],
                    fb.strings[distinct % len(fb.uniques)],
                    scorer=func,
                    dtype=np.float32,
                    workers=-1,
                )[inverse]
            out[todo] = scores
        return out[rows]


Method = Callable[[PairContext, Condition, np.ndarray], np.ndarray]


def _exact(ctx: PairContext, cond: Condition, rows: np.ndarray) -> np.ndarray:
    cl, cr = ctx.codes(cond.fields[0], rows)
    return (cl == cr) & (cl >= 0)


def _jaro_winkler(ctx: PairContext, cond: Condition, rows: np.ndarray) -> np.ndarray:
    name = cond.fields[0]
    return ctx.similarity("jaro_winkler", name, name, rows) >= cond.threshold


def _levenshtein(ctx: PairContext, cond: Condition, rows: np.ndarray) -> np.ndarray:
    name = cond.fields[0]
    return ctx.similarity("levenshtein", name, name, rows) <= cond.threshold


def _swapped(ctx: PairContext, cond: Condition, rows: np.ndarray) -> np.ndarray:
    """Both names agree once the right record's first and last names are swapped."""
    a, b = cond.fields
    hit = ctx.similarity("jaro_winkler", a, b, rows) >= cond.threshold
    idx = np.flatnonzero(hit)
    hit[idx] = ctx.similarity("jaro_winkler", b, a, rows[idx]) >= cond.threshold
    return hit


def _any_shared(groups: np.ndarray, cl: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """True where the two rows of ``groups`` (-1 padded) share a value; -1 codes never do."""
    gl = np.where((cl >= 0)[:, None], groups[np.maximum(cl, 0)], -1)
    gr = np.where((cr >= 0)[:, None], groups[np.maximum(cr, 0)], -2)
    hit = np.zeros(len(cl), dtype=bool)
    for i in range(groups.shape[1]):
        for j in range(groups.shape[1]):
            hit |= (gl[:, i] == gr[:, j]) & (gl[:, i] >= 0)
    return hit


def _nickname(ctx: PairContext, cond: Condition, rows: np.ndarray) -> np.ndarray:
    enc = ctx.table[cond.fields[0]]
    return _any_shared(ctx.nickname_groups(enc), *ctx.codes(cond.fields[0], rows))


def _token_overlap(ctx: PairContext, cond: Condition, rows: np.ndarray) -> np.ndarray:
    """A hyphenated/double-barrelled name shares a token with the other (SMITH-JONES ~ JONES)."""
    enc = ctx.table[cond.fields[0]]
    return _any_shared(enc.tokens, *ctx.codes(cond.fields[0], rows))


def _initial(ctx: PairContext, cond: Condition, rows: np.ndarray) -> np.ndarray:
    enc = ctx.table[cond.fields[0]]
    cl, cr = ctx.codes(cond.fields[0], rows)
    present = (cl >= 0) & (cr >= 0)
    cl, cr = np.maximum(cl, 0), np.maximum(cr, 0)
    one_short = (enc.lengths[cl] == 1) | (enc.lengths[cr] == 1)
    return present & one_short & (enc.initials[cl] == enc.initials[cr])


def _date_parts(ctx: PairContext, name: str, rows: np.ndarray) -> tuple:
    enc = ctx.table[name]
    cl, cr = ctx.codes(name, rows)
    present = (cl >= 0) & (cr >= 0)
    parts = enc.date_parts
    return present, parts[np.maximum(cl, 0)], parts[np.maximum(cr, 0)]


def _date_dm_swap(ctx: PairContext, cond: Condition, rows: np.ndarray) -> np.ndarray:
    present, pl, pr = _date_parts(ctx, cond.fields[0], rows)
    return (
        present
        & (pl[:, 0] == pr[:, 0])
        & (pl[:, 1] == pr[:, 2])
        & (pl[:, 2] == pr[:, 1])
        & (pl[:, 1] != pl[:, 2])
    )


def _date_year_off_one(ctx: PairContext, cond: Condition, rows: np.ndarray) -> np.ndarray:
    present, pl, pr = _date_parts(ctx, cond.fields[0], rows)
    return (
        present
        & (np.abs(pl[:, 0] - pr[:, 0]) == 1)
        & (pl[:, 1] == pr[:, 1])
        & (pl[:, 2] == pr[:, 2])
    )


def _date_one_field(ctx: PairContext, cond: Condition, rows: np.ndarray) -> np.ndarray:
    """Exactly one of year, month, day differs (a single typo)."""
    present, pl, pr = _date_parts(ctx, cond.fields[0], rows)
    return present & ((pl == pr).sum(axis=1) == 2)


def _date_year_only(ctx: PairContext, cond: Condition, rows: np.ndarray) -> np.ndarray:
    """Same year, one side 1 January: a placeholder for an unknown day and month."""
    present, pl, pr = _date_parts(ctx, cond.fields[0], rows)
    jan1 = ((pl[:, 1] == 1) & (pl[:, 2] == 1)) | ((pr[:, 1] == 1) & (pr[:, 2] == 1))
    return present & (pl[:, 0] == pr[:, 0]) & jan1


METHODS: Mapping[str, Method] = {
    "exact": _exact,
    "jaro_winkler": _jaro_winkler,
    "levenshtein": _levenshtein,
    "swapped": _swapped,
    "nickname": _nickname,
    "token_overlap": _token_overlap,
    "initial": _initial,
    "date_dm_swap": _date_dm_swap,
    "date_year_off_one": _date_year_off_one,
    "date_one_field": _date_one_field,
    "date_year_only": _date_year_only,
}


# --------------------------------------------------------------------------------------
# The builder


class Comparer:
    """Evaluates declared comparisons on index pairs into a (pairs x comparisons) level matrix."""

    def __init__(
        self,
        table: FieldTable,
        comparisons: Sequence[Comparison],
        nicknames: pd.DataFrame | None = None,
    ) -> None:
        missing = set().union(*(c.fields for c in comparisons)) - set(table._fields)
        if missing:
            raise KeyError(f"field table lacks fields used by comparisons: {sorted(missing)}")
        self.table = table
        self.comparisons = tuple(comparisons)
        self.nicknames = load_nicknames() if nicknames is None else nicknames
        self._groups: dict[int, np.ndarray] = {}

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.comparisons]

    @property
    def n_levels(self) -> np.ndarray:
        """Number of levels per comparison, null included."""
        return np.array([len(c.levels) + 1 for c in self.comparisons], dtype=np.int64)

    def _nickname_groups(self, enc: EncodedField) -> np.ndarray:
        """(n_uniques, k) alias-group ids: a name belongs to its own group and its formal names'."""
        key = id(enc)
        if key not in self._groups:
            pairs = self.nicknames
            member = pd.concat(
                [
                    pd.DataFrame({"name": pairs["name"], "group": pairs["name"]}),
                    pd.DataFrame({"name": pairs["nickname"], "group": pairs["name"]}),
                ]
            )
            position = pd.Series(np.arange(len(enc.strings)), index=enc.strings)
            member = member[member["name"].isin(position.index)]
            self._groups[key] = _padded_groups(
                position[member["name"]].to_numpy(),
                pd.factorize(member["group"])[0],
                len(enc.strings),
            )
        return self._groups[key]

    def levels(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Level number (0 = null) of every comparison for each pair (left[i], right[i])."""
        ctx = PairContext(self.table, left, right, self._nickname_groups)
        everything = np.arange(len(left))
        out = np.empty((len(left), len(self.comparisons)), dtype=np.int8)
        for k, comp in enumerate(self.comparisons):
            open_ = np.ones(len(left), dtype=bool)
            for name in comp.null_fields:
                cl, cr = ctx.codes(name, everything)
                open_ &= (cl >= 0) & (cr >= 0)
            if comp.scope:
                sl, sr = ctx.codes(comp.scope, everything)
                open_ &= sl == sr
            level = np.where(open_, len(comp.levels), 0).astype(np.int8)
            # strictest level first; each level only sees pairs no earlier level claimed
            for number, lv in enumerate(comp.levels[:-1], start=1):
                rows = np.flatnonzero(open_)
                for cond in lv.conditions:
                    if not len(rows):
                        break
                    rows = rows[METHODS[cond.method](ctx, cond, rows)]
                level[rows] = number
                open_[rows] = False
            out[:, k] = level
        return out

    def frame(self, left: np.ndarray, right: np.ndarray) -> pd.DataFrame:
        """Levels as a labelled frame (for explanation and debugging, not hot paths)."""
        levels = self.levels(left, right)
        return pd.DataFrame(
            {
                c.name: pd.Categorical.from_codes(levels[:, k], categories=list(c.labels))
                for k, c in enumerate(self.comparisons)
            }
        )


DEFAULT_COMPARISONS: tuple[Comparison, ...] = (
    Comparison(
        "first_name",
        (
            Level("exact", (_c("exact", "first_name"),), 0.85),
            Level("swapped", (_c("swapped", "first_name", "last_name", threshold=0.92),), 0.01),
            Level("nickname", (_c("nickname", "first_name"),), 0.02),
            Level("jw92", (_c("jaro_winkler", "first_name", threshold=0.92),), 0.05),
            Level("initial", (_c("initial", "first_name"),), 0.01),
            Level("jw80", (_c("jaro_winkler", "first_name", threshold=0.80),), 0.03),
            Level("else", m_prior=0.03),
        ),
    ),
    Comparison(
        "last_name",
        (
            Level("exact", (_c("exact", "last_name"),), 0.85),
            Level("swapped", (_c("swapped", "first_name", "last_name", threshold=0.92),), 0.01),
            Level("jw92", (_c("jaro_winkler", "last_name", threshold=0.92),), 0.05),
            Level("token", (_c("token_overlap", "last_name"),), 0.02),
            Level("jw80", (_c("jaro_winkler", "last_name", threshold=0.80),), 0.03),
            Level("else", m_prior=0.04),
        ),
    ),
    Comparison(
        "dob",
        (
            Level("exact", (_c("exact", "dob"),), 0.9),
            Level("dm_swap", (_c("date_dm_swap", "dob"),), 0.02),
            Level("year_off_one", (_c("date_year_off_one", "dob"),), 0.01),
            Level("one_field", (_c("date_one_field", "dob"),), 0.05),
            Level("year_placeholder", (_c("date_year_only", "dob"),), 0.01),
            Level("else", m_prior=0.02),
        ),
    ),
    Comparison(
        "postcode",
        (
            Level("exact", (_c("exact", "postcode"),), 0.8),
            Level("sector", (_c("exact", "postcode_sector"),), 0.04),
            Level("district", (_c("exact", "postcode_district"),), 0.04),
            Level("else", m_prior=0.12),
        ),
    ),
    Comparison(
        "address",
        (
            Level("exact", (_c("exact", "address"),), 0.6),
            Level(
                "number_fuzzy",
                (_c("exact", "address_number"), _c("jaro_winkler", "address", threshold=0.80)),
                0.2,
            ),
            Level("number", (_c("exact", "address_number"),), 0.05),
            Level("else", m_prior=0.15),
        ),
    ),
    Comparison(
        "sex",
        (Level("exact", (_c("exact", "sex"),), 0.97), Level("else", m_prior=0.03)),
    ),
    identifier_comparison("nhs_number"),
    identifier_comparison("upn"),
    identifier_comparison("nino"),
    identifier_comparison("source_person_id", scope="agency"),
)
