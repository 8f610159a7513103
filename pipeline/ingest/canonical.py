"""Turn an agency's gated rows into canonical person mentions and events.

Driven entirely by the ``person`` and ``event`` mappings of the agency declaration, so the
code never names an agency. Vectorised over the chunk; see docs/data-model.md for columns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from matching import standardise as st
from pipeline.ingest.agencies import Agency

__all__ = ["EVENT_COLUMNS", "MENTION_COLUMNS", "canonical_frames", "parse_dates_as", "parse_numbers", "record_keys",
           "term_dates"]

MENTION_COLUMNS = [
    "mention_id", "agency", "record_key", "file_id", "row_number", "version", "source_person_id",
    "first_name_raw", "last_name_raw", "first_name", "middle_names", "last_name", "dob", "sex",
    "address", "postcode", "uprn", "nhs_number", "upn", "nino", "flags", "seen_date", "group_kind",
    "group_ref", "relationship", "contact_first_name", "contact_last_name", "tenancy_current",
]
EVENT_COLUMNS = [
    "mention_id", "agency", "record_key", "file_id", "version", "event_type", "event_date",
    "start_date", "end_date", "role", "domestic_abuse", "term", "sessions_possible",
    "sessions_authorised_absent", "sessions_unauthorised_absent", "suspensions",
    "permanent_exclusion", "alternative_provision", "rent_arrears", "asb_complaint_date",
    "notice_seeking_possession", "detail",
]
_INTEGER_FIELDS = {"sessions_possible", "sessions_authorised_absent", "sessions_unauthorised_absent", "suspensions"}
_FLAG_FIELDS = {"domestic_abuse", "permanent_exclusion", "alternative_provision", "notice_seeking_possession"}
_DATE_FIELDS = {"event_date", "start_date", "end_date", "asb_complaint_date"}
_TERM_START = {"AUT": (0, 9, 1), "SPR": (1, 1, 1), "SUM": (1, 5, 1)}
_TERM_END = {"AUT": (0, 12, 31), "SPR": (1, 4, 30), "SUM": (1, 8, 31)}


def record_keys(agency: Agency, frame: pd.DataFrame) -> pd.Series:
    """The reporting contract's record key: event key values joined by ``|`` in declared order."""
    parts = [frame[c].str.strip() for c in agency.event_key]
    key = parts[0]
    for p in parts[1:]:
        key = key + "|" + p
    return key


def parse_numbers(text: pd.Series) -> pd.Series:
    """``pd.to_numeric(text, errors="coerce")``, parsed once per distinct value (counts repeat)."""
    codes, uniques = pd.factorize(text)
    numbers = pd.to_numeric(pd.Series(uniques), errors="coerce")
    return pd.Series(numbers.array.take(codes, allow_fill=True), index=text.index)


def term_dates(term: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Start and end dates of school terms (``2025-SPR`` runs 1 Jan – 30 Apr 2026), worked out once
    per distinct term (a file holds a handful)."""
    codes, uniques = pd.factorize(term)
    distinct = pd.Series(uniques, dtype=object)
    year = parse_numbers(distinct.str[:4])
    part = distinct.str[5:]

    def build(table: dict[str, tuple[int, int, int]]) -> pd.Series:
        off = part.map({k: v[0] for k, v in table.items()})
        frame = pd.DataFrame({"year": year + off, "month": part.map({k: v[1] for k, v in table.items()}),
                              "day": part.map({k: v[2] for k, v in table.items()})})
        dates = pd.to_datetime(frame, errors="coerce").astype("datetime64[ns]")
        return pd.Series(dates.array.take(codes, allow_fill=True), index=term.index)

    return build(_TERM_START), build(_TERM_END)


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    s = frame[column].str.strip()
    return s.where(s != "", None)


def parse_dates_as(raw: pd.Series, fmt: str) -> pd.Series:
    """A stripped date column parsed by its declared format (``excel``: serial day numbers)."""
    return st.parse_excel_dates(raw) if fmt == "excel" else st.parse_dates(raw, fmt)


def _dates(agency: Agency, frame: pd.DataFrame, column: str, parsed: pd.Series | None) -> pd.Series:
    """The column's dates (a term's start); ``parsed``: the column as the gate parsed it, if it did."""
    col = agency.column(column)
    if col.type == "term":
        return term_dates(frame[column].str.strip())[0]
    if parsed is None:
        parsed = parse_dates_as(frame[column].str.strip(), col.format or "")
    return parsed.dt.normalize()


def _names(names: dict[str, pd.Series]) -> dict[str, pd.Series]:
    """:func:`matching.standardise.standardise_name` of several columns in one call: it reads each
    value on its own, and a call has a fixed cost (a few ms, more than a small file's rows)."""
    values = st.standardise_name(pd.concat(names.values(), ignore_index=True)).to_numpy()
    ends = np.cumsum([len(s) for s in names.values()])
    return {name: pd.Series(part, index=s.index) for (name, s), part
            in zip(names.items(), np.split(values, ends[:-1]), strict=True)}


def _template(frame: pd.DataFrame, template: str) -> pd.Series:
    """Fill ``{Column}`` placeholders from the row, vectorised; tidy spaces after blanks."""
    out = pd.Series("", index=frame.index, dtype=object)
    for i, piece in enumerate(re.split(r"\{(\w+)\}", template)):
        out = out + (frame[piece].str.strip() if i % 2 else piece)
    return out.str.replace(r"\s+", " ", regex=True).str.strip()


def _flag(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column].str.strip().str.upper().map({"Y": True, "N": False}).astype("boolean")


def _framed(base: pd.DataFrame, out: dict[str, Any], columns: list[str]) -> pd.DataFrame:
    """``base`` with the ``out`` columns (Series on its index, arrays or scalars), framed in one go:
    set one by one into a frame, two dozen columns cost a small file more than working them out."""
    return pd.DataFrame({**{c: base[c] for c in base.columns}, **out}, index=base.index)[columns]


def _mentions(agency: Agency, frame: pd.DataFrame, base: pd.DataFrame, extract: date,
              dates: dict[str, pd.Series]) -> pd.DataFrame:
    p = agency.person
    out: dict[str, Any] = {}
    if "full_name" in p:
        names = st.split_surname_comma_forenames(frame[p["full_name"]])
        first_raw, middle_raw, last_raw = names["first_name_raw"], names["middle_names_raw"], names["last_name_raw"]
    else:
        forenames = st.split_forenames(frame[p["forenames"]]) if "forenames" in p else None
        first_raw = forenames["first"] if forenames is not None else pd.Series(None, index=frame.index)
        middle_raw = forenames["middle"] if forenames is not None else pd.Series(None, index=frame.index)
        last_raw = frame[p["surname"]].str.strip()
    out["first_name_raw"] = first_raw.where(first_raw.fillna("") != "", None)
    out["last_name_raw"] = last_raw.where(last_raw.fillna("") != "", None)
    raw_names = {"first_name": first_raw, "middle_names": middle_raw, "last_name": last_raw}
    if "contact_name" in p:
        contact = st.split_forename_surname(frame[p["contact_name"]])
        raw_names |= {"contact_first_name": contact["first_name_raw"], "contact_last_name": contact["last_name_raw"]}
    else:
        out["contact_first_name"], out["contact_last_name"] = None, None
    for column, standard in _names(raw_names).items():
        out[column] = standard
    out["dob"] = dates[p["dob"]] if "dob" in p else pd.NaT
    if "sex" in p:
        out["sex"] = frame[p["sex"]["column"]].str.strip().map(p["sex"]["map"])
    else:
        out["sex"] = None
    if "address" in p:
        parts = [frame[c].str.strip() for c in p["address"]]
        joined = parts[0]
        for part in parts[1:]:
            joined = joined + ", " + part
        out["address"] = st.standardise_address(joined.str.strip(", "))
    else:
        out["address"] = None
    out["postcode"] = st.normalise_postcode(frame[p["postcode"]]) if "postcode" in p else None
    out["uprn"] = _text(frame, p["uprn"]) if "uprn" in p else None
    flags = np.zeros(len(frame), dtype=np.int64)  # bit i: the i-th identifier is given but invalid
    names = []
    for field, clean in (("nhs_number", st.clean_nhs_number), ("upn", st.clean_upn), ("nino", st.clean_nino)):
        if field not in p:
            out[field] = None
            continue
        raw = _text(frame, p[field])
        out[field] = clean(raw.fillna(""))
        flags |= (raw.notna() & out[field].isna()).to_numpy(dtype=bool) << len(names)
        names.append(f"{field}_invalid")
    labels = np.array([",".join(n for i, n in enumerate(names) if bits >> i & 1) or None
                       for bits in range(1 << len(names))], dtype=object)
    out["flags"] = labels[flags]
    out["source_person_id"] = (agency.name + ":" + _text(frame, p["source_person_id"])
                               if "source_person_id" in p else None)
    out["seen_date"] = dates[p["seen_date"]] if "seen_date" in p else pd.NaT
    out["group_kind"], out["group_ref"] = None, None
    if "group" in p:
        g = p["group"]
        applies = pd.Series(True, index=frame.index)
        if "when" in g:
            applies = frame[g["when"]["column"]].str.strip().isin(g["when"]["in"])
        ref = agency.name + ":" + _text(frame, g["ref"])
        out["group_kind"] = np.where(applies & ref.notna(), g["kind"], None)
        out["group_ref"] = ref.where(applies, None)
    out["relationship"] = _text(frame, p["relationship"]) if "relationship" in p else None
    if "current_until" in p:
        until = dates[p["current_until"]]
        out["tenancy_current"] = (until.isna() | (until > pd.Timestamp(extract))).astype("boolean")
    else:
        out["tenancy_current"] = pd.array([pd.NA] * len(frame), dtype="boolean")
    return _framed(base, out, MENTION_COLUMNS)


def _events(agency: Agency, frame: pd.DataFrame, base: pd.DataFrame, dates: dict[str, pd.Series]) -> pd.DataFrame:
    e = agency.event
    out: dict[str, Any] = {}
    for field in EVENT_COLUMNS[5:]:
        spec = e.get(field)
        if spec is None:
            out[field] = pd.NaT if field in _DATE_FIELDS else None
        elif isinstance(spec, dict):
            out[field] = spec["value"]
        elif field == "detail":
            out[field] = _template(frame, spec)
        elif field in _DATE_FIELDS:
            out[field] = dates[spec]
        elif field in _INTEGER_FIELDS:
            out[field] = parse_numbers(frame[spec].str.strip()).astype("Int64")
        elif field in _FLAG_FIELDS:
            out[field] = _flag(frame, spec)
        elif field == "rent_arrears":
            out[field] = parse_numbers(frame[spec].str.strip())
        else:
            out[field] = _text(frame, spec)
    if "term" in e:
        start, end = term_dates(frame[e["term"]].str.strip())
        out["event_date"], out["start_date"], out["end_date"] = start, start, end
    return _framed(base, out, EVENT_COLUMNS)


def canonical_frames(agency: Agency, frame: pd.DataFrame, file_id: int, version: int, extract: date,
                     parsed: Mapping[str, pd.Series] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (person mentions, events) frames for gated rows of one file. ``parsed``: date columns
    the gate parsed already (:attr:`GateResult.dates`), row by row as ``frame``: a parse has a
    fixed cost of a millisecond or more, and a file's date columns were parsed twice."""
    parsed = parsed or {}
    frame = frame.reset_index(drop=True)
    key = record_keys(agency, frame)
    base = pd.DataFrame({"mention_id": agency.name + "|" + key, "agency": agency.name, "record_key": key,
                         "file_id": file_id, "row_number": frame["row_number"].astype("int64"),
                         "version": version})
    # in mention id order: the warehouse's primary-key indexes then take each chunk's keys in order,
    # touching each index page once (about a third less COPY time on PostgreSQL)
    order = base["mention_id"].argsort(kind="stable").to_numpy()
    frame, base = frame.take(order).reset_index(drop=True), base.take(order).reset_index(drop=True)
    # each date column parsed once, though several fields may take it (a tenancy's start is
    # its seen, event and start date): a parse has a fixed cost of a millisecond or more
    fields = [agency.person.get(f) for f in ("dob", "seen_date", "current_until")]
    fields += [agency.event.get(f) for f in sorted(_DATE_FIELDS)]
    dates = {c: _dates(agency, frame, c, parsed[c].take(order).reset_index(drop=True) if c in parsed else None)
             for c in dict.fromkeys(fields) if isinstance(c, str)}
    return _mentions(agency, frame, base, extract, dates), _events(agency, frame, base, dates)
