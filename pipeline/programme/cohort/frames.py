"""Input frames of the cohort engine: the canonical columns, school terms, ages, districts.

Everything here is vectorised and shared by the rules and the costs, so that both read the
same prepared events (dates parsed, terms mapped to dates, age at the event known).
"""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd

from matching.standardise import as_dates

__all__ = [
    "EVENT_COLUMNS",
    "last_terms",
    "postcode_district",
    "prepare_events",
    "prepare_members",
    "take_rows",
    "term_bounds",
    "terms_ending_from",
]

# Columns of staging.events (docs/data-model.md) by kind, plus the derived session counts.
# A programme may filter on any of these; the kind decides which values a filter accepts.
EVENT_COLUMNS: dict[str, str] = {
    "agency": "text",
    "record_key": "text",
    "event_type": "text",
    "role": "text",
    "term": "text",
    "detail": "text",
    "event_date": "date",
    "start_date": "date",
    "end_date": "date",
    "asb_complaint_date": "date",
    "domestic_abuse": "bool",
    "permanent_exclusion": "bool",
    "alternative_provision": "bool",
    "notice_seeking_possession": "bool",
    "sessions_possible": "number",
    "sessions_authorised_absent": "number",
    "sessions_unauthorised_absent": "number",
    "suspensions": "number",
    "rent_arrears": "number",
    "sessions_absent": "number",  # derived: authorised + unauthorised
    "sessions_attended": "number",  # derived: possible - absent
}
REQUIRED_EVENT_COLUMNS = ("agency", "record_key", "event_type", "person_id", "family_id")
MEMBER_COLUMNS = ("family_id", "person_id", "dob")
_DERIVED = ("sessions_absent", "sessions_attended")
_CATEGORICAL = ("agency", "event_type", "role", "term")

# Term code suffix -> (start month, end month, end day, years after the code's year).
_TERMS = {"AUT": (9, 12, 31, 0), "SPR": (1, 4, 30, 1), "SUM": (5, 8, 31, 1)}
_TERM_CODE = re.compile(r"(\d{4})-(AUT|SPR|SUM)")


def _missing(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} frame lacks column(s): {', '.join(missing)}")


def _term_dates(code: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    match = _TERM_CODE.fullmatch(code)
    if match is None:
        return None
    start_month, end_month, end_day, offset = _TERMS[match[2]]
    year = int(match[1]) + offset
    return pd.Timestamp(year, start_month, 1), pd.Timestamp(year, end_month, end_day)


def term_bounds(terms: pd.Series) -> tuple[pd.Series, pd.Series]:
    """First and last day of each term code (`YYYY-AUT|SPR|SUM`); NaT when not a term code.

    `YYYY` is the academic year of the autumn term, so `2025-SPR` is January-April 2026.
    Codes are mapped once per distinct value, then broadcast.
    """
    codes, distinct = pd.factorize(terms)
    bounds = [_term_dates(str(code)) or (pd.NaT, pd.NaT) for code in distinct]

    def spread(side: int) -> pd.Series:
        days = pd.DatetimeIndex([b[side] for b in bounds] + [pd.NaT]).as_unit("ns").to_numpy()
        return pd.Series(days[codes], index=terms.index, name=terms.name)  # code -1: NaT

    return spread(0), spread(1)


def last_terms(as_of: date | pd.Timestamp, n: int) -> list[str]:
    """The `n` most recent term codes that ended on or before `as_of`, latest first."""
    as_of = pd.Timestamp(as_of)
    ends = {
        code: bounds[1]
        for year in range(as_of.year - n // 3 - 2, as_of.year + 1)
        for season in _TERMS
        if (bounds := _term_dates(code := f"{year}-{season}"))
    }
    return sorted((c for c, end in ends.items() if end <= as_of), key=ends.get, reverse=True)[:n]


def terms_ending_from(day: date | pd.Timestamp) -> tuple[int, list[str]]:
    """School terms ending on or after `day`: every term of the returned academic year (the
    `YYYY` of term codes) and later ones, and the listed codes of earlier years."""
    day = pd.Timestamp(day)
    first = day.year - max(offset for *_, offset in _TERMS.values())  # a year's terms end by year + offset
    ends = {f"{year}-{season}": _term_dates(f"{year}-{season}")[1]
            for year in range(first, day.year + 1) for season in _TERMS}
    whole = next(year for year in range(first, day.year + 1)
                 if all(ends[f"{year}-{season}"] >= day for season in _TERMS))
    return whole, [code for code, end in ends.items() if end >= day and int(code[:4]) < whole]


def _day_number(dates: pd.Series) -> pd.Series:
    """YYYYMMDD as a float (NaN when unknown): whole years between two are a floor division."""
    return dates.dt.year * 10000.0 + dates.dt.month * 100.0 + dates.dt.day


def _age(dob_number: pd.Series, on: pd.Series | pd.Timestamp) -> pd.Series:
    """Age in whole years on a date (birthday reached on the day; 29 Feb turns on 1 Mar)."""
    on_number = (
        on.year * 10000.0 + on.month * 100.0 + on.day
        if isinstance(on, pd.Timestamp)
        else _day_number(on)
    )
    return np.floor((on_number - dob_number) / 10000.0)


def postcode_district(postcodes: pd.Series) -> pd.Series:
    """Outward code (`BS23 1AB` -> `BS23`), whatever the case and spacing."""
    codes, uniques = pd.factorize(postcodes)
    compact = pd.Series(uniques, dtype=object).str.upper().str.replace(" ", "")
    district = compact.str[:-3].where(compact.str.len() > 3)
    return pd.Series(district.reindex(codes).to_numpy(), index=postcodes.index)


def prepare_members(members: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Members with parsed `dob`, their age on `as_of` and their postcode district."""
    _missing(members, MEMBER_COLUMNS, "members")
    out = members.loc[members["family_id"].notna()].copy()
    out["dob"] = as_dates(out["dob"])
    out["age"] = _age(_day_number(out["dob"]), as_of)
    postcode = out["postcode"] if "postcode" in out.columns else pd.Series(None, index=out.index)
    out["district"] = postcode_district(postcode)
    return out


def take_rows(frame: pd.DataFrame, mask: pd.Series | np.ndarray, columns: list[str]) -> pd.DataFrame:
    """Rows of some columns, taken column by column: `frame.loc[mask, columns]` copies whole
    consolidated blocks first, which costs seconds on a million events."""
    rows = np.flatnonzero(np.asarray(mask))
    return pd.DataFrame({c: frame[c].iloc[rows] for c in columns})


def _typed(values: pd.Series, kind: str) -> pd.Series:
    if kind == "date":
        return as_dates(values).dt.normalize()
    if kind == "bool":
        return values.astype("boolean").fillna(False).astype(bool)
    if kind == "number":
        return pd.to_numeric(values, errors="coerce").astype(float)
    if values.name in _CATEGORICAL:
        return values.astype("category")
    return values


def prepare_events(events: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """Linked events in canonical types, with term dates, age at the event and session sums.

    Columns of staging.events that the frame lacks are taken as empty, so a caller passes
    only what it has. Events without a person and family cannot count and are dropped.
    School rows take their span from the term code; spans without an event date take their
    start. Dates lose any time of day. The frame is assembled once (no column-by-column
    inserts) because consolidating a million-row frame repeatedly dominates the run time.
    """
    _missing(events, REQUIRED_EVENT_COLUMNS, "events")
    keep = np.flatnonzero((events["family_id"].notna() & events["person_id"].notna()).to_numpy())
    index = pd.RangeIndex(len(keep))

    def column(name: str) -> pd.Series:
        if name not in events.columns:
            return pd.Series(None, index=index, dtype=object, name=name)
        return pd.Series(events[name].to_numpy()[keep], index=index, name=name)

    ev = {name: _typed(column(name), kind)
          for name, kind in EVENT_COLUMNS.items() if name not in _DERIVED}
    term_start, term_end = term_bounds(ev["term"])
    is_term = term_start.notna()
    ev["start_date"] = ev["start_date"].mask(is_term, term_start)
    ev["end_date"] = ev["end_date"].mask(is_term, term_end)
    ev["event_date"] = ev["event_date"].fillna(ev["start_date"])
    absent = ev["sessions_authorised_absent"].fillna(0) + ev["sessions_unauthorised_absent"].fillna(0)
    ev["sessions_absent"] = absent.where(ev["sessions_possible"].notna())
    ev["sessions_attended"] = ev["sessions_possible"] - ev["sessions_absent"]
    ev["detail"] = ev["detail"].fillna(ev["event_type"].astype(object))
    ev["person_id"], ev["family_id"] = column("person_id"), column("family_id")
    codes, persons = pd.factorize(ev["person_id"])
    dob = members.drop_duplicates("person_id").set_index("person_id")["dob"]
    dob_number = _day_number(dob.reindex(persons)).to_numpy()[codes]
    ev["person_code"] = codes
    ev["age"] = _age(pd.Series(dob_number, index=index), ev["event_date"])
    return pd.DataFrame(ev)
