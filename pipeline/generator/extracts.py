"""Each agency's file format (extracts.md) and how a record version is rendered into it.

This is deliberately written from the specification, not from the hub's declarations in
``pipeline/declarations/``: the generator plays the partner agencies, so a mistake in a
declaration shows up as a failed load instead of being copied into the test data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from types import SimpleNamespace

import numpy as np
import pandas as pd

from pipeline.generator import vocabulary as vocab
from pipeline.generator.dates import MISSING, MONTHS, format_days
from pipeline.generator.errors import (
    ErrorPlan,
    record_errors,
    wrong_nhs,
    wrong_nino,
    wrong_nominals,
)
from pipeline.generator.events import World
from pipeline.generator.identifiers import UPN_LETTERS, nhs_check_digit
from pipeline.generator.noise import (
    NoiseProfile,
    fold_accents,
    identities,
    noisy_case,
    noisy_postcode,
)
from pipeline.generator.population import CHILD

__all__ = ["FORMATS", "AgencyFormat", "Render", "corrupt_rows", "cp1252_safe"]

DMY = lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}"  # noqa: E731
ISO = lambda d: f"{d.year}-{d.month:02d}-{d.day:02d}"  # noqa: E731
COMPACT = lambda d: f"{d.year}{d.month:02d}{d.day:02d}"  # noqa: E731
DMONY = lambda d: f"{d.day:02d}-{MONTHS[d.month - 1]}-{d.year}"  # noqa: E731


@dataclass
class Render:
    """One agency's rows with their noisy identities, ready to be turned into columns."""

    w: World
    rng: np.random.Generator
    profile: NoiseProfile
    rows: pd.DataFrame
    agency_seed: int
    plan: ErrorPlan = field(default_factory=ErrorPlan)

    def __post_init__(self) -> None:
        self.ident = identities(self.w, self.rng, self.profile, self.rows["person"].to_numpy(), self.rows["date"].to_numpy())
        self.props = self.w.pop.properties
        # Errors of real records draw from their own stream: with none, the output is unchanged.
        self.err_rng = np.random.default_rng([self.agency_seed, 13])
        if self.plan.errors.any:
            self.ident = record_errors(self.err_rng, self.plan, self.ident, self.col("person"), self.w.pop)

    def col(self, name: str) -> np.ndarray:
        return self.rows[name].to_numpy()

    def person_ids(self, prefix: str, width: int, start: int) -> np.ndarray:
        """The agency's own person id: stable per person, unrelated to other agencies' ids."""
        ids = self.id_of_person(start)[self.col("person")]
        return prefix + pd.Series(ids).astype(str).str.zfill(width).to_numpy()

    def id_of_person(self, start: int) -> np.ndarray:
        """Person-indexed agency ids, 7 apart (so ``id + 3`` is never another person's)."""
        return np.random.default_rng(self.agency_seed).permutation(len(self.w.hh)) * 7 + start

    def names(self, upper_surname: bool = False, upper_forenames: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(forenames, surname) as typed, with case and spacing slips."""
        first = pd.Series(self.ident["first"].to_numpy())
        middle = self.ident["middle"].to_numpy()
        forenames = (first + np.where(middle != "", " " + middle, "")).to_numpy()
        last = self.ident["last"].to_numpy()
        if upper_surname:
            last = pd.Series(last).str.upper().to_numpy()
        if upper_forenames:
            forenames = pd.Series(forenames).str.upper().to_numpy()
        return noisy_case(self.rng, forenames, self.profile.case), noisy_case(self.rng, last, self.profile.case)

    def dob(self, fmt: Callable[[date], str]) -> np.ndarray:
        return format_days(self.ident["dob"].to_numpy(), fmt)

    def dates(self, column: str, fmt: Callable[[date], str]) -> np.ndarray:
        values = self.col(column)
        return format_days(np.where(values < 0, MISSING, values), fmt)

    def sex(self, codes: dict[str, str]) -> np.ndarray:
        return pd.Series(self.ident["sex"].to_numpy()).map(codes).to_numpy()

    def postcode(self) -> np.ndarray:
        postcode = self.props["postcode"].to_numpy()[self.ident["property"].to_numpy()]
        postcode = np.where(self.ident["no_postcode"].to_numpy(), "", postcode)
        return noisy_postcode(self.rng, postcode, self.profile.postcode_style)

    def street_line(self, prop: np.ndarray | None = None) -> np.ndarray:
        """'12 Oak Road' or 'Flat 3, 12 Oak Road'."""
        p = self.props.iloc[self.ident["property"].to_numpy() if prop is None else prop]
        line = p["number"].astype(str) + " " + p["street"]
        return np.where(p["flat"] > 0, "Flat " + p["flat"].astype(str) + ", " + line, line)


def _police(r: Render) -> pd.DataFrame:
    forenames, surname = r.names(upper_surname=True)
    p = r.props.iloc[r.ident["property"].to_numpy()]
    suffix = p["street_suffix"]
    abbreviated = p["street"].str.rsplit(" ", n=1).str[0] + " " + suffix.map(vocab.STREET_ABBREVIATIONS).fillna(suffix)
    street = np.where(r.rng.random(len(p)) < 0.5, abbreviated.to_numpy(), p["street"].to_numpy())
    number = np.where(p["flat"] > 0, "Flat " + p["flat"].astype(str) + ", " + p["number"].astype(str), p["number"].astype(str))
    address = number + " " + street + np.where(r.rng.random(len(p)) < 0.7, ", " + p["town"].to_numpy(), "")
    address = np.where(r.rng.random(len(p)) < 0.3, pd.Series(address).str.upper().to_numpy(), address)
    minute = r.col("minute")
    clock = pd.Series(minute // 60).astype(str).str.zfill(2) + ":" + pd.Series(minute % 60).astype(str).str.zfill(2)
    return pd.DataFrame(
        {
            "OccurrenceRef": r.col("ref"),
            "NominalId": _nominals(r),
            "FullName": surname + ", " + forenames,
            "DOB": r.dob(DMY),
            "Sex": r.ident["sex"].to_numpy(),
            "Address": noisy_case(r.rng, address, r.profile.case),
            "Postcode": r.postcode(),
            "OccurrenceDateTime": r.dates("date", DMY) + " " + clock.to_numpy(),
            "Category": r.col("category"),
            "Role": r.col("role"),
            "OffenceCode": r.col("offence"),
            "DomesticAbuse": r.col("domestic_abuse"),
        }
    )


def _nominals(r: Render) -> np.ndarray:
    if not r.plan.errors.any:
        return r.person_ids("N", 7, 1_000_000)
    ids = wrong_nominals(r.err_rng, r.plan, r.id_of_person(1_000_000), r.col("person"), r.col("ref"))
    return "N" + pd.Series(ids).astype(str).str.zfill(7).to_numpy()


def _yot(r: Render) -> pd.DataFrame:
    forenames, surname = r.names()
    return pd.DataFrame(
        {
            "YotCaseId": r.person_ids("YC", 6, 10_000),
            "Forename": forenames,
            "Surname": surname,
            "DateOfBirth": r.dob(ISO),
            "Gender": r.sex({"M": "Male", "F": "Female", "U": "Unknown"}),
            "Postcode": r.postcode(),
            "OutcomeRef": r.col("ref"),
            "OutcomeDate": r.dates("date", ISO),
            "Outcome": r.col("outcome"),
            "Offence": r.col("offence"),
        }
    )


def _health(r: Render) -> pd.DataFrame:
    forenames, surname = r.names(upper_surname=True)
    person = r.col("person")
    all_nhs = r.w.pop.persons["nhs"].to_numpy()
    nhs = all_nhs[person]
    if r.plan.errors.any:
        mother = r.w.carer[r.w.hh[person]]
        baby = (r.w.role[person] == CHILD) & (r.col("date") - r.w.dob[person] < 730) & (mother != person)
        nhs = wrong_nhs(r.err_rng, r.plan, nhs, all_nhs[mother], baby)
    unknown = np.where(r.rng.random(len(nhs)) < 0.5, "0", "9")
    return pd.DataFrame(
        {
            "NHSNumber": np.where(r.rng.random(len(nhs)) < 0.9, nhs, ""),
            "FamilyName": surname,
            "GivenName": forenames,
            "BirthDate": r.dob(COMPACT),
            "GenderCode": np.where(r.ident["sex"].to_numpy() == "U", unknown, r.sex({"M": "1", "F": "2", "U": "0"})),
            "Postcode": r.postcode(),
            "EventRef": r.col("ref"),
            "EventDate": r.dates("date", COMPACT),
            "EventType": r.col("event"),
        }
    )


def _schools(r: Render) -> pd.DataFrame:
    forenames, surname = r.names()
    contact = identities(r.w, r.rng, r.profile, r.col("contact"), r.col("date"))
    contact_name = noisy_case(r.rng, (contact["first"] + " " + contact["last"]).to_numpy(), r.profile.case)
    return pd.DataFrame(
        {
            "UPN": r.w.pop.persons["upn"].to_numpy()[r.col("person")],
            "LegalSurname": surname,
            "Forename": forenames,
            "DOB": r.dob(DMY),
            "Gender": r.ident["sex"].to_numpy(),
            "AddressLine1": noisy_case(r.rng, r.street_line(), r.profile.case),
            "Postcode": r.postcode(),
            "SchoolURN": r.col("school").astype(str),
            "Term": r.col("term"),
            "SessionsPossible": r.col("possible").astype(str),
            "SessionsAuthorisedAbsent": r.col("authorised").astype(str),
            "SessionsUnauthorisedAbsent": r.col("unauthorised").astype(str),
            "SuspensionCount": r.col("suspensions").astype(str),
            "PermanentExclusion": r.col("exclusion"),
            "AlternativeProvision": r.col("provision"),
            "ContactName": contact_name,
        }
    )


def _housing(r: Render) -> pd.DataFrame:
    """Typed values (day numbers for dates, floats, ints); the xlsx writer makes the cells."""
    forenames, surname = r.names()
    prop = r.col("property")
    p = r.props.iloc[prop]
    flat = p["flat"].to_numpy() > 0
    line = (p["number"].astype(str) + " " + p["street"]).to_numpy()
    persons = r.w.pop.persons
    person = r.col("person")
    adult = (r.col("date") - r.w.dob[person]) >= 18 * 365.25
    female = persons["sex"].to_numpy()[person] == "F"
    married = persons["maiden"].to_numpy()[person] != ""
    u = r.rng.random(len(person))
    title = np.select(
        [~adult | (u < 0.15), u < 0.16, ~female, married],
        ["", "Mx", "Mr", "Mrs"],
        np.where(u < 0.6, "Ms", "Miss"),
    )
    return pd.DataFrame(
        {
            "TenancyRef": r.col("ref"),
            "UPRN": p["uprn"].to_numpy(),
            "AddressLine1": np.where(flat, "Flat " + p["flat"].astype(str).to_numpy(), line),
            "AddressLine2": np.where(flat, line, ""),
            "Town": p["town"].to_numpy(),
            "Postcode": noisy_postcode(r.rng, p["postcode"].to_numpy(), r.profile.postcode_style),
            "PersonRef": r.person_ids("HP", 7, 3_000_000),
            "Title": title,
            "Forename": forenames,
            "Surname": surname,
            "DateOfBirth": r.ident["dob"].to_numpy(),
            "Relationship": r.col("relationship"),
            "TenancyStart": r.col("start"),
            "TenancyEnd": np.where(r.col("end") < 0, MISSING, r.col("end")),
            "RentArrears": r.col("arrears"),
            "ASBComplaintDate": np.where(r.col("asb") < 0, MISSING, r.col("asb")),
            "NoticeSeekingPossession": r.col("nsp"),
        }
    )


def cp1252_safe(values: np.ndarray) -> np.ndarray:
    """Legacy systems store what Windows-1252 can hold: other letters lose their accents."""
    out = values.astype(object).copy()
    idx = np.flatnonzero(np.fromiter((not v.isascii() for v in out), dtype=bool, count=len(out)))
    out[idx] = [v if v.encode("cp1252", errors="replace").decode("cp1252") == v else fold_accents(v) for v in out[idx]]
    return out


def _socialcare(r: Render) -> pd.DataFrame:
    forenames, surname = r.names()
    return pd.DataFrame(
        {
            "PersonId": r.person_ids("", 7, 4_000_000),
            "Forename": cp1252_safe(forenames),
            "Surname": cp1252_safe(surname),
            "DOB": r.dob(DMONY),
            "Gender": r.sex({"M": "Male", "F": "Female", "U": "Unknown"}),
            "Postcode": r.postcode(),
            "EpisodeRef": r.col("ref"),
            "EpisodeType": r.col("type"),
            "StartDate": r.dates("start", DMONY),
            "EndDate": r.dates("end", DMONY),
            "Category": r.col("category"),
        }
    )


def _dwp(r: Render) -> pd.DataFrame:
    forenames, surname = r.names(upper_surname=True, upper_forenames=True)
    nino = r.w.pop.persons["nino"].to_numpy()[r.col("person")]
    if r.plan.errors.any:
        nino = wrong_nino(r.err_rng, r.plan, nino)
    return pd.DataFrame(
        {
            "NINO": np.where(r.rng.random(len(nino)) < 0.95, nino, ""),
            "Surname": surname,
            "Forenames": forenames,
            "DOB": r.dob(ISO),
            "Postcode": r.postcode(),
            "ClaimRef": r.col("ref"),
            "Benefit": r.col("benefit"),
            "ClaimStart": r.dates("start", ISO),
            "ClaimEnd": r.dates("end", ISO),
        }
    )


@dataclass(frozen=True)
class AgencyFormat:
    """How one agency's files look: name, encoding, delimiter, columns, event key."""

    name: str
    extension: str
    encoding: str  # "" for xlsx
    delimiter: str
    line_terminator: str
    key: tuple[str, ...]
    render: Callable[[Render], pd.DataFrame]
    date_format: Callable[[date], str] | None  # of the DOB column (None: Excel date cells)
    bad_rows: tuple[tuple[str, str], ...]  # (reason, column) the agency's bad rows break

    def file_name(self, extract: date, n: int = 1) -> str:
        suffix = "" if n == 1 else f"_{n}"
        return f"{self.name}_{extract:%Y%m%d}{suffix}.{self.extension}"


FORMATS: dict[str, AgencyFormat] = {
    f.name: f
    for f in (
        AgencyFormat("police", "csv", "utf-8-sig", ",", "\r\n", ("OccurrenceRef", "NominalId"), _police, DMY,
                     (("unparseable_date", "OccurrenceDateTime"), ("impossible_dob", "DOB"), ("unknown_code", "Category"))),
        AgencyFormat("yot", "csv", "utf-8", ",", "\n", ("OutcomeRef",), _yot, ISO,
                     (("unparseable_date", "OutcomeDate"), ("impossible_dob", "DateOfBirth"), ("unknown_code", "Outcome"))),
        AgencyFormat("health", "txt", "utf-8", "|", "\n", ("EventRef",), _health, COMPACT,
                     (("unparseable_date", "EventDate"), ("impossible_dob", "BirthDate"),
                      ("bad_nhs_check_digit", "NHSNumber"), ("unknown_code", "EventType"))),
        AgencyFormat("schools", "csv", "utf-8-sig", ",", "\r\n", ("UPN", "Term"), _schools, DMY,
                     (("unparseable_date", "DOB"), ("impossible_dob", "DOB"), ("bad_upn_check_letter", "UPN"),
                      ("unknown_code", "PermanentExclusion"))),
        AgencyFormat("housing", "xlsx", "", "", "", ("TenancyRef", "PersonRef"), _housing, None,
                     (("unparseable_date", "TenancyStart"), ("impossible_dob", "DateOfBirth"), ("unknown_code", "Relationship"))),
        AgencyFormat("socialcare", "csv", "cp1252", ",", "\r\n", ("EpisodeRef",), _socialcare, DMONY,
                     (("unparseable_date", "StartDate"), ("impossible_dob", "DOB"), ("unknown_code", "EpisodeType"))),
        AgencyFormat("dwp", "csv", "utf-8", ",", "\n", ("ClaimRef",), _dwp, ISO,
                     (("unparseable_date", "ClaimStart"), ("impossible_dob", "DOB"), ("unknown_code", "Benefit"))),
    )
}

_UNKNOWN_CODES = {
    "Category": "BURGLARY", "Outcome": "FINE", "EventType": "OUTPATIENT", "PermanentExclusion": "X",
    "Relationship": "LODGER", "EpisodeType": "CP", "Benefit": "PIP",
}


def corrupt_rows(fmt: AgencyFormat, table: pd.DataFrame, rows: np.ndarray, rng: np.random.Generator, as_of: int) -> np.ndarray:
    """Break ``rows`` of ``table`` in place with one of the agency's row-rule faults; returns reasons."""
    choice = rng.integers(0, len(fmt.bad_rows), len(rows))
    reasons = np.empty(len(rows), dtype=object)
    for i, (reason, column) in enumerate(fmt.bad_rows):
        idx = rows[choice == i]
        reasons[choice == i] = reason
        if not len(idx):
            continue
        current = table[column].to_numpy()[idx]
        if reason == "unparseable_date":
            new = rng.choice(["N/K", "unknown", "TBC", "99/99/9999", "0"], len(idx)).astype(object)
        elif reason == "impossible_dob" and fmt.date_format is None:  # housing: a date cell in the future
            new = as_of + rng.integers(30, 900, len(idx))
        elif reason == "impossible_dob":
            future = format_days(as_of + rng.integers(30, 900, len(idx)), fmt.date_format)
            feb31 = np.array([fmt.date_format(SimpleNamespace(year=y, month=2, day=31)) for y in rng.integers(2005, 2020, len(idx))], dtype=object)
            new = np.where(rng.random(len(idx)) < 0.5, future, feb31)
        elif reason == "bad_nhs_check_digit":
            base = np.array([v if v else "999000000" for v in current], dtype=object)
            good = nhs_check_digit(pd.Series(base).str.slice(0, 9).astype(np.int64).to_numpy())
            wrong = (np.where(good == 10, 0, good) + rng.integers(1, 10, len(idx))) % 10
            wrong = np.where(wrong == good, (wrong + 1) % 10, wrong)
            new = pd.Series(base).str.slice(0, 9).to_numpy() + wrong.astype(str)
        elif reason == "bad_upn_check_letter":
            letters = np.array(list(UPN_LETTERS))
            offset = rng.integers(1, len(letters), len(idx))
            position = np.array([UPN_LETTERS.index(v[0]) for v in current])
            new = letters[(position + offset) % len(letters)].astype(object) + pd.Series(current).str.slice(1).to_numpy()
        else:
            new = np.full(len(idx), _UNKNOWN_CODES[column], dtype=object)
        if table[column].dtype != object:
            table[column] = table[column].astype(object)
        table.iloc[idx, table.columns.get_loc(column)] = new
    return reasons
