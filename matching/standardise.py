"""Vectorised standardisation of identifying details, shared by ingest and linkage.

Every function takes a pandas Series and returns a Series or DataFrame on the same
index. Text results are ``object`` Series whose missing values are ``None``; boolean
checks return plain ``bool`` Series (missing input is invalid). The string functions
work on the distinct values only (``_by_unique``): names, postcodes and codes repeat a
lot, so a 1M-row column is usually a few tens of thousands of regex passes. Distinct values
in printable ASCII (nearly all of them) then run through pyarrow's kernels (RE2, utf8 upper and
trim) instead of Python's ``re`` one value at a time (``_ascii_fast``); the patterns are written
so that both engines give the same result on such text, and everything else keeps Python's
full-Unicode semantics.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "UNKNOWN_CODE",
    "address_number",
    "as_dates",
    "clean_nhs_number",
    "clean_nino",
    "clean_upn",
    "code_map",
    "fold_accents",
    "normalise_postcode",
    "parse_dates",
    "parse_excel_dates",
    "postcode_parts",
    "real_dates",
    "split_forename_surname",
    "split_forenames",
    "split_surname_comma_forenames",
    "standardise_address",
    "standardise_name",
    "unswap_names",
    "valid_nhs_number",
    "valid_nino",
    "valid_upn",
]

UNKNOWN_CODE = "__UNKNOWN__"
"""What `code_map` returns for a non-blank code missing from the mapping."""

_TITLES = ("MR", "MRS", "MS", "MISS", "MX", "DR", "MASTER", "REV", "SIR", "LADY")

# Letters NFKD leaves alone because they are not base letter + combining mark.
_FOLD = str.maketrans(
    {
        "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE",
        "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "œ": "oe", "Œ": "OE", "þ": "th", "Þ": "TH",
        "\u0131": "i", "ħ": "h", "Ħ": "H",
        "\u00b4": "'",  # NFKD would make the acute accent a space
    }
)  # fmt: skip
# Not raw strings: the characters themselves, which both regex engines read (RE2 has no \\u escapes).
_COMBINING = "[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"
_APOSTROPHES = "['`\u2018\u2019\u02bb\u02bc]"
_DASHES = "[\u2010-\u2015\u2212]"
_LOWER = "a-zß-öø-ÿ"  # lower-case letters that mark a token as not upper case
# Leading titles, then the first character of the name, kept by the replacement: a title is
# dropped only when more follows.
_TITLE_PREFIX = rf"(?i)^\s*(?:(?:{'|'.join(_TITLES)})\.?\s+)+(\S)"
_SURNAME_PARTICLES = "van|von|der|den|de|del|della|da|di|du|la|le|st|ap|bin|ibn|al|el"

# BS 7666 postcode: outward A9, A99, AA9, AA99, A9A, AA9A (with the letters each position
# may hold) then inward 9AA, or the Girobank GIR 0AA. Source: govtalk PostCode-2-1 schema.
# GIR is only valid as GIR 0AA (`normalise_postcode` drops any other inward code after it).
_POSTCODE = (
    r"^(?P<outward>GIR|[A-PR-UWYZ](?:[0-9][0-9]?|[A-HK-Y][0-9][0-9]?"
    r"|[0-9][ABCDEFGHJKPSTUW]|[A-HK-Y][0-9][ABEHMNPRVWXY]))"
    r"(?P<inward>[0-9][ABD-HJLNP-UW-Z]{2})$"
)

# HMRC NIM39110: prefix letters exclude D F I Q U V (and O second), and the prefixes
# BG GB KN NK NT TN ZZ are never allocated; suffix A-D.
_NINO = r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]"
_NINO_NEVER = ["BG", "GB", "KN", "NK", "NT", "TN", "ZZ"]

#: UPN check letters as `_codes` gives them (character code less '0')
_UPN_LETTERS = np.frombuffer(b"ABCDEFGHJKLMNPQRTUVWXYZ", dtype=np.uint8).astype(np.int64) - ord("0")

_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {m: f"{i:02d}" for i, m in enumerate(_MONTH_NAMES, 1)}
_MONTH_ABBREVIATION = rf"(?i){'|'.join(_MONTHS)}"

_ADDRESS_ABBREVIATIONS = {
    "RD": "ROAD", "AVE": "AVENUE", "AV": "AVENUE", "CL": "CLOSE", "CRES": "CRESCENT",
    "DR": "DRIVE", "LN": "LANE", "CT": "COURT", "PL": "PLACE", "GDNS": "GARDENS",
    "GRN": "GREEN", "GRV": "GROVE", "SQ": "SQUARE", "TER": "TERRACE", "TERR": "TERRACE",
    "FLT": "FLAT", "APT": "FLAT", "APARTMENT": "FLAT", "UNIT": "FLAT",
    "ST": "SAINT",  # any ST the STREET rule left
}  # fmt: skip
_ADDRESS_ABBREVIATION = rf"\b(?:{'|'.join(_ADDRESS_ABBREVIATIONS)})\b"
# One whole-word pass per expansion; no expansion is itself an abbreviation, so the order is free.
_ADDRESS_EXPANSIONS = [
    (rf"\b(?:{'|'.join(k for k, v in _ADDRESS_ABBREVIATIONS.items() if v == full)})\b", full)
    for full in dict.fromkeys(_ADDRESS_ABBREVIATIONS.values())
]

_Out = TypeVar("_Out", pd.Series, pd.DataFrame)


def _by_unique(func: Callable[..., _Out]) -> Callable[..., _Out]:
    """Run `func` on the distinct values (plus one null) and spread the result back."""

    @functools.wraps(func)
    def wrapper(s: pd.Series, *args: object, **kwargs: object) -> _Out:
        codes, uniques = pd.factorize(s)
        distinct = pd.Series(np.append(np.asarray(uniques, dtype=object), None), dtype=object)
        out = func(distinct, *args, **kwargs).iloc[np.where(codes < 0, len(uniques), codes)]
        out.index = s.index
        return out

    return wrapper


_PRINTABLE_ASCII = r"^[ -~]*$"

#: Text being standardised: a pandas string Series (Python's `re`, full Unicode), or on the fast
#: path a pyarrow string array of printable ASCII only, worked by pyarrow's kernels directly.
_Text = pd.Series | pa.Array


def _ascii_fast(func: Callable[..., _Out]) -> Callable[..., _Out]:
    """Run `func` on the printable-ASCII strings as a pyarrow array, on the rest as it always ran.

    On printable ASCII, RE2 and Python's `re` agree on every pattern of this module (no
    lookarounds, no newlines for `$` to differ on), upper-casing and trimming agree, and accent
    folding is the identity; so the kernels give the same results, 10-50 times faster. They get
    the array itself, not a Series of it: the helpers below call the kernels pandas' ``.str``
    methods would, without a Series round trip per step (which cost more than the kernels).
    """

    @functools.wraps(func)
    def wrapper(s: pd.Series, *args: object, **kwargs: object) -> _Out:
        values = s.to_numpy(dtype=object)
        if pd.api.types.infer_dtype(values, skipna=True) not in {"string", "empty"}:
            return func(s, *args, **kwargs)
        text = pa.array(values, type=pa.string(), from_pandas=True)
        # missing values go with the ASCII: either path gives missing (or False) for them
        fast = pc.fill_null(pc.match_substring_regex(text, _PRINTABLE_ASCII), True).to_numpy(zero_copy_only=False)
        if not fast.any():
            return func(s, *args, **kwargs)
        out = func(text if fast.all() else text.filter(fast), *args, **kwargs)
        out.index = s.index[fast]
        if fast.all():
            return out
        rest = func(s[~fast], *args, **kwargs)
        return pd.concat([out, rest]).loc[s.index]

    return wrapper


def _is_fast(t: _Text) -> bool:
    return not isinstance(t, pd.Series)


def _index(t: _Text) -> pd.Index:
    """Where results go: the Series' index, or positions on the fast path (`_ascii_fast` sets it)."""
    return pd.RangeIndex(len(t)) if _is_fast(t) else t.index


def _text(s: _Text) -> _Text:
    """Values as pandas strings (numbers become their text), missing as NA."""
    return s if _is_fast(s) else s.astype("string")


def _sub(t: _Text, pattern: str, repl: str) -> _Text:
    """Regex replace; `repl` may refer to groups as `\\1` (RE2 and Python's `re` read it alike)."""
    if _is_fast(t):
        return pc.replace_substring_regex(t, pattern, repl)
    return t.str.replace(pattern, repl, regex=True)


def _upper(t: _Text) -> _Text:
    return pc.utf8_upper(t) if _is_fast(t) else t.str.upper()


def _strip(t: _Text) -> _Text:
    return pc.utf8_trim_whitespace(t) if _is_fast(t) else t.str.strip()


def _extract(t: _Text, pattern: str) -> dict[str, _Text]:
    """The named groups of `pattern` (null where it does not match), as ``.str.extract``."""
    if _is_fast(t):
        groups = pc.extract_regex(t, pattern)
        return {field.name: pc.struct_field(groups, [i]) for i, field in enumerate(groups.type)}
    parts = t.str.extract(pattern)
    return {name: parts[name] for name in parts.columns}


def _contains(t: _Text, pattern: str) -> np.ndarray:
    """Whether `pattern` matches somewhere in each value; False for missing."""
    if _is_fast(t):
        return pc.fill_null(pc.match_substring_regex(t, pattern), False).to_numpy(zero_copy_only=False)
    return t.str.contains(pattern, regex=True).fillna(False).astype(bool).to_numpy()


def _fullmatch(t: _Text, pattern: str) -> np.ndarray:
    """Whether each value matches `pattern` whole; False for missing."""
    if _is_fast(t):
        return _contains(t, f"^({pattern})$")
    return t.str.fullmatch(pattern).fillna(False).astype(bool).to_numpy()


def _equals(t: _Text, value: str) -> np.ndarray:
    """Whether each value is `value`; False for missing."""
    if _is_fast(t):
        return pc.fill_null(pc.equal(t, value), False).to_numpy(zero_copy_only=False)
    return (t == value).fillna(False).astype(bool).to_numpy()


def _join(left: _Text, sep: str, right: _Text) -> _Text:
    """`left + sep + right`, missing when either is."""
    return pc.binary_join_element_wise(left, right, sep) if _is_fast(left) else left + sep + right


def _where(t: _Text, keep: np.ndarray) -> _Text:
    """The values where `keep`, missing elsewhere."""
    return pc.if_else(keep, t, pa.scalar(None, t.type)) if _is_fast(t) else t.where(keep)


def _coalesce(t: _Text, other: _Text) -> _Text:
    """`t`, or `other` where `t` is missing."""
    return pc.coalesce(t, other) if _is_fast(t) else t.combine_first(other)


def _on_subset(t: _Text, rows: np.ndarray, func: Callable[[_Text], _Text]) -> _Text:
    """`func` applied to the `rows` only, the others left as they are."""
    if _is_fast(t):
        return pc.replace_with_mask(t, pa.array(rows), func(t.filter(rows)))
    return pd.concat([t[~rows], func(t[rows])]).loc[t.index]


def _to_object(t: _Text, *, empty_is_null: bool = True) -> pd.Series:
    """An object Series with None for missing (and for '' if `empty_is_null`)."""
    if _is_fast(t):
        if empty_is_null:
            t = pc.if_else(pc.equal(t, ""), pa.scalar(None, t.type), t)
        return pd.Series(t.to_numpy(zero_copy_only=False), index=_index(t), dtype=object)
    keep = t.notna() & (t != "") if empty_is_null else t.notna()
    return t.astype(object).where(keep.fillna(False).astype(bool), None)


def _squash(t: _Text) -> _Text:
    return _strip(_sub(t, r"\s+", " "))


def _fold(t: _Text) -> _Text:
    if _is_fast(t):  # ASCII has nothing to fold
        return t
    return t.str.translate(_FOLD).str.normalize("NFKD").str.replace(_COMBINING, "", regex=True)


def _drop_titles(t: _Text) -> _Text:
    """Remove leading title tokens (`Mrs.`, `DR`), but never a name's only token."""
    return _sub(t, _TITLE_PREFIX, r"\1")


@_by_unique
@_ascii_fast
def fold_accents(s: pd.Series) -> pd.Series:
    """Zoë → Zoe, Łukasz → Lukasz, Siobhán → Siobhan: NFKD, drop marks, map ł ø ß æ đ …."""
    return _to_object(_fold(_text(s)), empty_is_null=False)


@_by_unique
@_ascii_fast
def standardise_name(s: pd.Series) -> pd.Series:
    """A name as compared: upper, accents folded, titles and apostrophes dropped.

    Hyphens are kept (`SMITH - JONES` → `SMITH-JONES`); digits and other punctuation
    become spaces; blank results are null.
    """
    t = _upper(_sub(_fold(_text(s)), _APOSTROPHES, ""))
    t = _sub(_sub(t, _DASHES, "-"), r"[^\w\s-]|[\d_]", " ")
    t = _sub(_sub(t, r"\s*-[\s-]*", "-"), r"^-+|-+$", "")
    return _to_object(_drop_titles(_squash(t)))


def _split_first_middle(fore: _Text) -> pd.DataFrame:
    parts = _extract(_drop_titles(_text(fore)), r"^[\s,]*(?P<first>[^\s,]+)[\s,]*(?P<middle>.*?)[\s,]*$")
    return pd.DataFrame(
        {"first": _to_object(parts["first"]), "middle": _to_object(_sub(parts["middle"], r"[\s,]+", " "))}
    )


@_by_unique
@_ascii_fast
def split_forenames(s: pd.Series) -> pd.DataFrame:
    """Forenames → (first, middle): the first token, and the rest or null.

    Leading titles are skipped (`Mr John` → `John`); a lone title stays as the name.
    """
    return _split_first_middle(s)


@_by_unique
@_ascii_fast
def split_surname_comma_forenames(s: pd.Series) -> pd.DataFrame:
    """Police `SURNAME, Forenames` → first_name_raw, middle_names_raw, last_name_raw.

    The surname is what comes before the first comma. Without a comma the upper-case
    tokens at the start (`SMITH John`) or at the end (`John SMITH`) are the surname;
    when case gives no hint, the first token is (the schedule's order, comma lost).
    Parts are stripped but otherwise as delivered.
    """
    return _split_surname_comma_forenames(s)


def _split_surname_comma_forenames(s: _Text) -> pd.DataFrame:
    t = _squash(_text(s))
    upper_token = rf"[^\s{_LOWER}]+"
    mixed_token = rf"[^\s]*[{_LOWER}][^\s]*"
    patterns = [
        r"^(?P<last>[^,]*),(?P<fore>.*)$",
        rf"^(?P<last>{upper_token}(?: {upper_token})*?) (?P<fore>{mixed_token}(?: .*)?)$",
        rf"^(?P<fore>(?:.* )?{mixed_token}) (?P<last>{upper_token}(?: {upper_token})*)$",
        r"^(?P<last>\S+)(?: (?P<fore>.*))?$",
    ]
    split = _extract(t, patterns[0])
    for pattern in patterns[1:]:
        more = _extract(t, pattern)
        split = {name: _coalesce(part, more[name]) for name, part in split.items()}
    names = _split_first_middle(split["fore"])
    return pd.DataFrame(
        {
            "first_name_raw": names["first"],
            "middle_names_raw": names["middle"],
            "last_name_raw": _to_object(_strip(split["last"])),
        },
        index=_index(t),
    )


@_by_unique
@_ascii_fast
def split_forename_surname(s: pd.Series) -> pd.DataFrame:
    """Schools ContactName `Forename Surname` → first_name_raw, last_name_raw.

    The last token is the surname, with any particles before it (`Anna de la Cruz`);
    the first forename is the first name; leading titles are skipped. A single token
    is taken as a surname (`Mrs Smith`). A comma means `Surname, Forenames`.
    """
    t = _drop_titles(_squash(_text(s)))
    natural = _extract(t, rf"^(?:(?P<fore>\S.*?) )?(?P<last>(?:(?i:{_SURNAME_PARTICLES}) )*\S+)$")
    comma = _contains(t, ",")
    names = _split_surname_comma_forenames(_where(t, comma))
    names["first_name_raw"] = names["first_name_raw"].where(
        comma, _split_first_middle(natural["fore"])["first"]
    )
    names["last_name_raw"] = names["last_name_raw"].where(comma, _to_object(natural["last"]))
    return names[["first_name_raw", "last_name_raw"]]


@_by_unique
def parse_dates(s: pd.Series, fmt: str) -> pd.Series:
    """Text dates in strptime `fmt` → datetime64[ns]; NaT when blank, malformed or impossible.

    Read as strptime reads them (1-digit days and months are fine, 31/02 and non-ASCII
    digits are not), on the distinct values: formats of `%d %m %Y %H %M %S` by strptime's
    field patterns in pyarrow's RE2 kernel, the dates assembled with numpy (pandas' strptime
    takes three times as long), anything else by pandas' strptime. `%b` is an
    English month abbreviation in any case, whatever the locale. Formats with adjacent
    fields (`%Y%m%d`) must match their full width, so `2010123` is NaT. Dates outside the
    datetime64[ns] range are NaT.
    """
    text = _text(s).str.strip()
    if re.search(r"%\w%", fmt):
        text = text.where(text.str.len() == len(datetime(2000, 1, 1).strftime(fmt)))
    if "%b" in fmt:  # English whatever the locale: the month becomes its number
        text = text.str.replace(_MONTH_ABBREVIATION, lambda m: _MONTHS[m[0].upper()], regex=True)
        fmt = fmt.replace("%b", "%m")
    values = text.astype(object).where(text.notna(), None)
    pattern = _strptime_pattern(fmt)
    if pattern is None:
        return pd.to_datetime(values, format=fmt, errors="coerce").astype("datetime64[ns]")
    fields = pc.extract_regex(pa.array(values, type=pa.string(), from_pandas=True), pattern)
    shaped = pc.is_valid(fields).to_numpy(zero_copy_only=False)
    parsed = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    if shaped.any():
        parsed[shaped] = _assemble(fields.filter(pa.array(shaped)))
    return parsed


#: strptime's patterns (Python's `_strptime`) for the directives date extracts use, ASCII
#: digits only and no space-padded day; `parse_dates` matches them with RE2 then builds dates.
_STRPTIME_FIELDS = {
    "d": r"3[01]|[12]\d|0[1-9]|[1-9]",
    "m": r"1[0-2]|0[1-9]|[1-9]",
    "Y": r"\d\d\d\d",
    "H": r"2[0-3]|[0-1]\d|\d",
    "M": r"[0-5]\d|\d",
    "S": r"6[0-1]|[0-5]\d|\d",
}
_STRPTIME_DEFAULTS = {"Y": 1900, "m": 1, "d": 1, "H": 0, "M": 0, "S": 0}  # as strptime's
_NS_RANGE = (pd.Timestamp.min.ceil("s").value // 10**9, pd.Timestamp.max.floor("s").value // 10**9)


def _assemble(fields: pa.StructArray) -> np.ndarray:
    """Matched strptime fields → datetime64[ns]; NaT for an impossible day (31/02), a leap
    second, or a date beyond datetime64[ns]."""
    names = fields.type.names

    def number(name: str) -> np.ndarray:
        if name not in names:
            return np.full(len(fields), _STRPTIME_DEFAULTS[name], dtype=np.int64)
        return pc.cast(fields.field(name), pa.int64()).to_numpy()

    month = (number("Y") - 1970) * 12 + number("m") - 1
    first = month.astype("datetime64[M]").astype("datetime64[D]")
    month_days = (month + 1).astype("datetime64[M]").astype("datetime64[D]") - first
    day = number("d") - 1
    seconds = (first.astype(np.int64) + day) * 86_400 + number("H") * 3600 + number("M") * 60
    seconds += number("S")
    ok = (day < month_days.astype(np.int64)) & (number("S") < 60)
    ok &= (seconds >= _NS_RANGE[0]) & (seconds <= _NS_RANGE[1])
    stamps = np.where(ok, seconds, np.iinfo(np.int64).min).astype("datetime64[s]")
    return stamps.astype("datetime64[ns]")


@functools.cache
def _strptime_pattern(fmt: str) -> str | None:
    """`fmt` as an RE2 pattern with a named group per field, as strptime reads it; None when
    it uses a directive outside `_STRPTIME_FIELDS` or one twice (pandas parses those)."""
    pieces = re.split(r"(%.)", fmt)
    directives = [p[1] for p in pieces[1::2]]
    if not set(directives) <= set(_STRPTIME_FIELDS) or len(set(directives)) < len(directives):
        return None
    literal = [re.sub(r"\\\s+", r"\\s+", re.escape(p)) for p in pieces[::2]]
    groups = [f"(?P<{d}>{_STRPTIME_FIELDS[d]})" for d in directives]
    body = "".join(lit + group for lit, group in zip(literal, [*groups, ""], strict=True))
    return f"(?i)^{body}$"


@_by_unique
def parse_excel_dates(s: pd.Series) -> pd.Series:
    """Excel date cells → datetime64[ns]: date/datetime objects, ISO text or serial numbers.

    Serials count days from 1899-12-30 (Excel's 1900 system; dates before March 1900
    are a day out because of Excel's phantom 29/02/1900); serials past 2192-04-08, beyond
    datetime64[ns] arithmetic, are NaT like anything else.
    """
    text = _text(s).str.strip()
    serial = pd.to_numeric(text, errors="coerce").astype("float64")
    serial = serial.where((serial >= 1) & (serial < pd.Timedelta.max.days))
    from_serial = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    ok = serial.notna()
    if ok.any():  # only real serials: an all-NaN conversion can overflow under np.seterr(raise)
        from_serial[ok] = pd.Timestamp("1899-12-30") + pd.to_timedelta(serial[ok], unit="D")
    from_iso = pd.to_datetime(text.where(serial.isna()), format="ISO8601", errors="coerce")
    return from_iso.where(serial.isna(), from_serial).astype("datetime64[ns]")


PLACEHOLDER_BEFORE = pd.Timestamp("1901-01-01")


def unswap_names(
    first: pd.Series, last: pd.Series, ratio: float = 5.0
) -> tuple[pd.Series, pd.Series]:
    """Forename and surname put back where each is, across the whole frame, at least ``ratio``
    times as common in the other field (SUNMORE, POPPY): a record keyed the wrong way round
    then compares, blocks and obeys the twin rule as its other records do. Names common in
    both fields (JAMES, THOMAS) are left alone."""
    # one code per name across both fields: counts by code, not a lookup per record and field
    codes, names = pd.factorize(pd.concat([first, last], ignore_index=True))
    as_first, as_last = codes[: len(first)], codes[len(first) :]
    n_first = np.bincount(as_first[as_first >= 0], minlength=len(names))
    n_last = np.bincount(as_last[as_last >= 0], minlength=len(names))

    def count(code: np.ndarray, table: np.ndarray) -> np.ndarray:
        return np.where(code >= 0, table[np.maximum(code, 0)], 0).astype(np.float64)

    swap = (count(as_first, n_last) >= ratio * count(as_first, n_first)) & (
        count(as_last, n_first) >= ratio * count(as_last, n_last)
    )
    swap &= (as_first >= 0) & (as_last >= 0)
    return first.where(~swap, last), last.where(~swap, first)


def as_dates(values: pd.Series) -> pd.Series:
    """``pd.to_datetime(values, errors="coerce")``, but dates already typed are returned as they
    are: ``pd.to_datetime`` would first probe them one by one to decide on its cache."""
    if isinstance(values.dtype, np.dtype) and values.dtype.kind == "M":
        return values
    return pd.to_datetime(values, errors="coerce")


def real_dates(s: pd.Series) -> pd.Series:
    """Dates with placeholders as null, so two records with an unknown date of birth do not
    agree on it: ``01/01/1900`` ("unknown" in many systems; a day later after Excel's 1900
    leap-year bug) and anything before 1901, when nobody on today's records was born."""
    dates = as_dates(s)
    return dates.where(dates >= PLACEHOLDER_BEFORE)


@_by_unique
@_ascii_fast
def normalise_postcode(s: pd.Series) -> pd.Series:
    """Any case, any spacing → `SW1A 1AA`; null unless it fits the UK postcode pattern."""
    parts = _extract(_sub(_upper(_text(s)), r"[^A-Z0-9]", ""), _POSTCODE)
    valid = ~_equals(parts["outward"], "GIR") | _equals(parts["inward"], "0AA")  # no match: null anyway
    return _to_object(_where(_join(parts["outward"], " ", parts["inward"]), valid))


@_by_unique
def postcode_parts(s: pd.Series) -> pd.DataFrame:
    """Postcode → area (`SW`), district (`SW1A`) and sector (`SW1A 1`); null when invalid."""
    parts = _text(normalise_postcode(s)).str.extract(
        r"^(?P<area>[A-Z]+)(?P<rest>\S*) (?P<digit>[0-9])"
    )
    district = parts["area"] + parts["rest"]
    return pd.DataFrame(
        {"area": parts["area"], "district": district, "sector": district + " " + parts["digit"]}
    ).apply(_to_object)


def _codes(values: np.ndarray) -> np.ndarray:
    """Equal-length ASCII strings → (n, width) int matrix of character codes less '0' (digits' values)."""
    width = len(values[0]) if len(values) else 0
    raw = np.frombuffer("".join(values).encode("ascii"), dtype=np.uint8)  # not item by item
    return raw.reshape(len(values), width).astype(np.int64) - ord("0")


def _check(t: _Text, pattern: str, passes: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """`passes` applied to the values that fully match `pattern` (as a string array); False elsewhere."""
    shaped = _fullmatch(t, pattern)
    ok = np.zeros(len(t), dtype=bool)
    if shaped.any():
        matched = t.filter(shaped).to_numpy(zero_copy_only=False) if _is_fast(t) else t[shaped].to_numpy(dtype=object)
        ok[shaped] = passes(matched)
    return ok


def _nhs_compact(s: _Text) -> _Text:
    return _sub(_text(s), r"[\s-]", "")


def _nhs_passes(values: np.ndarray) -> np.ndarray:
    d = _codes(values)
    check = (11 - (d[:, :9] @ np.arange(10, 1, -1)) % 11) % 11
    repeated = (d == d[:, :1]).all(axis=1)  # 0000000000 passes mod 11 but is a placeholder
    return (check == d[:, 9]) & ~repeated


def _nhs_valid(t: _Text) -> np.ndarray:
    return _check(t, r"[0-9]{10}", _nhs_passes)


@_by_unique
@_ascii_fast
def valid_nhs_number(s: pd.Series) -> pd.Series:
    """10 digits (spaces/hyphens ignored) passing the NHS modulus-11 check.

    Weights 10..2 on the first nine digits; check = 11 - sum mod 11, 11 → 0, 10 never
    valid. Numbers of one repeated digit are placeholders and are invalid.
    """
    return pd.Series(_nhs_valid(_nhs_compact(s)), index=_index(s))


@_by_unique
@_ascii_fast
def clean_nhs_number(s: pd.Series) -> pd.Series:
    """The 10-digit NHS number when valid, else null."""
    t = _nhs_compact(s)
    return _to_object(_where(t, _nhs_valid(t)))


def _upn_compact(s: _Text) -> _Text:
    return _sub(_upper(_text(s)), r"\s", "")


def _upn_passes(values: np.ndarray) -> np.ndarray:
    codes = _codes(values)
    letter, d = codes[:, 0], codes[:, 1:]
    expected = _UPN_LETTERS[(d @ np.arange(2, 14)) % 23]
    repeated = (d == d[:, :1]).all(axis=1)
    return (expected == letter) & ~repeated


def _upn_valid(t: _Text) -> np.ndarray:
    return _check(t, r"[A-Z][0-9]{12}", _upn_passes)


@_by_unique
@_ascii_fast
def valid_upn(s: pd.Series) -> pd.Series:
    """Unique pupil number: check letter then 12 digits, the letter matching the digits.

    DfE algorithm (govtalk UniquePupilNumber-2-0; census error 1510; python-stdnum's
    `B801200005001` example passes): characters 2-13
    times weights 2-13, summed, mod 23, indexed into ABCDEFGHJKLMNPQRTUVWXYZ. Only
    permanent UPNs are accepted (the extract schedule says 12 digits), so temporary
    UPNs ending in a letter are invalid, as are 12 repeated digits (placeholders).
    """
    return pd.Series(_upn_valid(_upn_compact(s)), index=_index(s))


@_by_unique
@_ascii_fast
def clean_upn(s: pd.Series) -> pd.Series:
    """The upper-case 13-character UPN when valid, else null."""
    t = _upn_compact(s)
    return _to_object(_where(t, _upn_valid(t)))


def _nino_compact(s: _Text) -> _Text:
    return _sub(_upper(_text(s)), r"[\s-]", "")


def _nino_valid(t: _Text) -> np.ndarray:
    return _fullmatch(t, _NINO) & ~_contains(t, f"^(?:{'|'.join(_NINO_NEVER)})")


@_by_unique
@_ascii_fast
def valid_nino(s: pd.Series) -> pd.Series:
    """National insurance number format (HMRC NIM39110), spaces ignored.

    Pure rules, no exceptions: HMRC's own example `QQ123456C` uses the unallocated
    letter Q and is invalid, as are the unallocated ZZ/TN/… prefixes.
    """
    return pd.Series(_nino_valid(_nino_compact(s)), index=_index(s))


@_by_unique
@_ascii_fast
def clean_nino(s: pd.Series) -> pd.Series:
    """The 9-character NINO without spaces when valid, else null."""
    t = _nino_compact(s)
    return _to_object(_where(t, _nino_valid(t)))


@_by_unique
@_ascii_fast
def standardise_address(s: pd.Series) -> pd.Series:
    """Address line as compared: upper, folded, no punctuation, abbreviations expanded.

    `ST` becomes STREET only when it ends a comma-separated part and is not its first
    word (`3 HIGH ST, LEEDS`); elsewhere it is SAINT (`ST JOHNS RD` → `SAINT JOHNS ROAD`),
    so the result is stable when standardised again. A house number and a lone
    letter are joined (`14 A` → `14A`).
    """
    t = _upper(_sub(_fold(_text(s)), _APOSTROPHES, ""))
    t = _sub(_sub(t, r"[\r\n;]", ","), r"[^\w\s,]|_", " ")
    t = _sub(_sub(t, r"(\w)\s+ST\s*(,|$)", r"\1 STREET\2"), ",", " ")
    has = _contains(t, _ADDRESS_ABBREVIATION)
    if has.any():
        t = _on_subset(t, has, lambda short: functools.reduce(lambda u, e: _sub(u, *e), _ADDRESS_EXPANSIONS, short))
    t = _sub(t, r"\b(\d+)\s+([A-Z])\b", r"\1\2")  # any spacing: punctuation may have left several
    return _to_object(_squash(t))


@_by_unique
def address_number(s: pd.Series) -> pd.Series:
    """House/flat numbers in order (`FLAT 14A, 3 HIGH ST` → `14A 3`, `FLAT B` → `B`)."""
    tokens = _text(standardise_address(s)).str.findall(r"\b\d+[A-Z]?\b|(?<=\bFLAT )[A-Z]\b")
    return _to_object(tokens.str.join(" "))


def code_map(s: pd.Series, mapping: dict[str, str | None]) -> pd.Series:
    """Source code → our code, after upper-casing and stripping both sides.

    Blank or missing input gives None; a code absent from `mapping` gives
    `UNKNOWN_CODE`, so callers can hold the row back as "unknown code". A mapping
    value of None means a known code that carries no value (e.g. sex `U`).
    """
    keys = {str(k).strip().upper(): v for k, v in mapping.items()}
    t = _text(s).str.strip().str.upper()
    blank = (t.isna() | (t == "")).fillna(True).astype(bool)
    known = t.isin(list(keys)).fillna(False).astype(bool)
    mapped = t.astype(object).map(keys).where(known, UNKNOWN_CODE)
    return mapped.where(~blank & mapped.notna(), None)
