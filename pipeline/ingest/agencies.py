"""Agency declarations: the one list of partner agencies and how to read their extracts.

Each agency is one YAML file in ``pipeline/declarations/`` (file pattern, encoding,
delimiter or sheet, delivery schedule with its grace period and contact, columns with types, date formats and code lists, the event key, and
the mapping to canonical person mentions and events). Everything downstream (readers,
quality suites, raw tables, DAGs) is driven from here, so an eighth agency is a new
declaration and a new suite, never new code. Extra declaration folders can be added with
``FAMILYHUB_DECLARATIONS`` (``os.pathsep`` separated).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

from pipeline.settings import settings

__all__ = [
    "Agency",
    "AlertRule",
    "Column",
    "DeclarationError",
    "FileName",
    "Schedule",
    "agency_names",
    "get_agency",
    "load_agencies",
    "parse_file_name",
]

DECLARATIONS = Path(__file__).resolve().parents[1] / "declarations"

ColumnType = Literal["text", "date", "datetime", "integer", "decimal", "term"]
Cadence = Literal["daily", "weekly", "monthly", "termly"]
CADENCES = ("daily", "weekly", "monthly", "termly")
CheckKind = Literal["dob", "nhs_number", "upn", "nino"]
COLUMN_TYPES = {"text", "date", "datetime", "integer", "decimal", "term"}
CHECKS = {"dob", "nhs_number", "upn", "nino"}
PERSON_FIELDS = {
    "full_name", "forenames", "surname", "dob", "sex", "address", "postcode", "uprn",
    "nhs_number", "upn", "nino", "source_person_id", "seen_date", "relationship",
    "contact_name", "group", "current_until",
}
EVENT_FIELDS = {
    "event_type", "event_date", "start_date", "end_date", "role", "domestic_abuse", "term",
    "sessions_possible", "sessions_authorised_absent", "sessions_unauthorised_absent",
    "suspensions", "permanent_exclusion", "alternative_provision", "rent_arrears",
    "asb_complaint_date", "notice_seeking_possession", "detail",
}
#: Keys of a declaration's optional ``households`` mapping: which of its group kinds and event
#: types are household evidence (``matching.households.HouseholdEvidence`` has the same fields).
HOUSEHOLD_EVIDENCE = ("residence_groups", "incident_groups", "birth_events")


class DeclarationError(ValueError):
    """A declaration that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Column:
    """One delivered column and the row rules that apply to it."""

    name: str
    type: ColumnType = "text"
    format: str | None = None
    not_null: bool = False
    codes: tuple[str, ...] | None = None
    pattern: str | None = None
    check: CheckKind | None = None
    on_invalid: Literal["hold", "flag"] = "hold"


@dataclass(frozen=True)
class FileSpec:
    """How the agency's files are named and encoded."""

    extension: str
    format: Literal["csv", "xlsx"]
    encoding: str = "utf-8-sig"
    delimiter: str = ","
    sheet: str | None = None


@dataclass(frozen=True)
class AlertRule:
    """Which of the agency's events alert a key worker (``alert:`` in the declaration).

    With ``only_with`` (canonical event column -> reason text, ``{n}`` its value) or
    ``programme_rates`` an event alerts only for a reason: a listed column above zero or true,
    or the active programme's rate thresholds on this agency's events met. ``detail`` is the
    alert's text from canonical event columns and ``{reasons}``.
    """

    kind: str
    label: str
    event_types: tuple[str, ...] | None = None  # None: any
    dated_by: Literal["event_date", "start_date", "end_date"] = "event_date"
    only_with: dict[str, str] = field(default_factory=dict)
    programme_rates: bool = False
    detail: str = "{detail}"

    @property
    def needs_reason(self) -> bool:
        return bool(self.only_with) or self.programme_rates


@dataclass(frozen=True)
class Schedule:
    """When the agency sends a file, how late it may be, and whom to tell about a refused file."""

    every: Cadence
    grace_days: int
    contact: str


@dataclass(frozen=True)
class Agency:
    """A partner agency's extract declaration (see ``shared/spec/extracts.md``)."""

    name: str
    description: str
    file: FileSpec
    columns: tuple[Column, ...]
    event_key: tuple[str, ...]
    person: dict[str, Any]
    event: dict[str, Any]
    schedule: Schedule
    source: Path = field(compare=False)
    trust: int | None = None  # rank of its person details for a person's best values (1 = most trusted)
    alert: AlertRule | None = None
    households: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def file_glob(self) -> str:
        """Glob for the landing folder (name checking proper is :func:`parse_file_name`)."""
        return f"{self.name}_*"


@dataclass(frozen=True)
class FileName:
    """The parts of a scheduled file name: ``<agency>_<YYYYMMDD>[_<n>].<ext>``."""

    agency: str
    extract_date: date
    sequence: int


def _fail(path: Path, message: str) -> DeclarationError:
    return DeclarationError(f"{path.name}: {message}")


def _columns_in(spec: Any) -> list[str]:
    """Column names a mapping entry refers to (a name, a list, a template or a dict)."""
    if spec is None:
        return []
    if isinstance(spec, str):
        found = re.findall(r"\{(\w+)\}", spec)
        return found or [spec]
    if isinstance(spec, list):
        return [c for s in spec for c in _columns_in(s)]
    if isinstance(spec, dict):
        cols = [spec[k] for k in ("column", "ref") if k in spec]
        when = spec.get("when")
        if when:
            cols.append(when["column"])
        return cols
    return []


def _parse(path: Path) -> Agency:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise _fail(path, "not a mapping")
    for key in ("name", "description", "file", "schedule", "columns", "event_key", "person", "event"):
        if key not in raw:
            raise _fail(path, f"missing '{key}'")
    if raw["name"] != path.stem:
        raise _fail(path, f"name '{raw['name']}' does not match the file name")
    columns = []
    for i, c in enumerate(raw["columns"]):
        try:
            col = Column(**{**c, "codes": tuple(c["codes"]) if c.get("codes") else None})
        except TypeError as exc:
            raise _fail(path, f"columns[{i}]: {exc}") from None
        if col.type not in COLUMN_TYPES:
            raise _fail(path, f"column {col.name}: unknown type '{col.type}'")
        if col.check and col.check not in CHECKS:
            raise _fail(path, f"column {col.name}: unknown check '{col.check}'")
        if col.type in {"date", "datetime"} and not col.format:
            raise _fail(path, f"column {col.name}: a {col.type} needs a format")
        columns.append(col)
    names = {c.name for c in columns}
    for section, allowed in (("person", PERSON_FIELDS), ("event", EVENT_FIELDS)):
        for key, spec in raw[section].items():
            if key not in allowed:
                raise _fail(path, f"{section}.{key}: unknown field")
            for col in _columns_in(spec):
                if col not in names:
                    raise _fail(path, f"{section}.{key}: unknown column '{col}'")
    for col in raw["event_key"]:
        if col not in names:
            raise _fail(path, f"event_key: unknown column '{col}'")
    trust = raw.get("trust")
    if trust is not None and (not isinstance(trust, int) or isinstance(trust, bool) or trust < 1):
        raise _fail(path, f"trust: a rank 1, 2, ... expected, not {trust!r}")
    households = _households(path, raw, columns)
    return Agency(
        name=raw["name"],
        description=raw["description"],
        file=FileSpec(**raw["file"]),
        columns=tuple(columns),
        event_key=tuple(raw["event_key"]),
        person=raw["person"],
        event=raw["event"],
        schedule=_schedule(path, raw["schedule"]),
        source=path,
        trust=trust,
        alert=_alert(path, raw.get("alert")),
        households=households,
    )


def _alert(path: Path, raw: Any) -> AlertRule | None:
    """The ``alert:`` block, checked against the canonical event fields."""
    if raw is None:
        return None
    try:
        rule = AlertRule(**{**raw, "event_types": tuple(raw["event_types"]) if raw.get("event_types") else None})
    except TypeError as exc:
        raise _fail(path, f"alert: {exc}") from None
    if rule.dated_by not in ("event_date", "start_date", "end_date"):
        raise _fail(path, f"alert.dated_by: event_date, start_date or end_date, not '{rule.dated_by}'")
    for where, names in (("only_with", list(rule.only_with)), ("detail", re.findall(r"\{(\w+)\}", rule.detail))):
        for name in set(names) - EVENT_FIELDS - {"reasons"}:
            raise _fail(path, f"alert.{where}: unknown event field '{name}'")
    return rule


def _households(path: Path, raw: dict[str, Any], columns: list[Column]) -> dict[str, tuple[str, ...]]:
    """The optional ``households`` key, checked: each group kind must be this declaration's
    ``person.group`` kind, each birth event one of the event types it can deliver."""
    spec = raw.get("households") or {}
    if not isinstance(spec, dict):
        raise _fail(path, "households: not a mapping")
    found: dict[str, tuple[str, ...]] = {}
    for key, values in spec.items():
        if key not in HOUSEHOLD_EVIDENCE:
            raise _fail(path, f"households.{key}: unknown field (known: {', '.join(HOUSEHOLD_EVIDENCE)})")
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
            raise _fail(path, f"households.{key}: a non-empty list of names")
        if key == "birth_events":
            known = _event_types(raw["event"].get("event_type"), columns)
        else:
            known = {(raw["person"].get("group") or {}).get("kind")}
        unknown = [v for v in values if known is not None and v not in known]
        if unknown:
            what = "an event type" if key == "birth_events" else "the person.group kind"
            raise _fail(path, f"households.{key}: '{unknown[0]}' is not {what} of this declaration")
        found[key] = tuple(values)
    return found


def _event_types(spec: Any, columns: list[Column]) -> set[str] | None:
    """Event types an ``event.event_type`` mapping can give (None: any, an uncoded column)."""
    if isinstance(spec, dict) and "value" in spec:
        return {spec["value"]}
    column = next((c for c in columns if c.name == spec), None)
    return set(column.codes) if column is not None and column.codes else None
def _schedule(path: Path, raw: Any) -> Schedule:
    """``schedule: {every: daily|weekly|monthly|termly, grace_days: N, contact: address}``."""
    if not isinstance(raw, dict) or set(raw) != {"every", "grace_days", "contact"}:
        raise _fail(path, "schedule: needs exactly every, grace_days and contact")
    if raw["every"] not in CADENCES:
        raise _fail(path, f"schedule.every: '{raw['every']}' is not one of {', '.join(CADENCES)}")
    if not isinstance(raw["grace_days"], int) or isinstance(raw["grace_days"], bool) or raw["grace_days"] < 0:
        raise _fail(path, f"schedule.grace_days: '{raw['grace_days']}' is not a whole number of days")
    if not isinstance(raw["contact"], str) or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", raw["contact"]):
        raise _fail(path, f"schedule.contact: '{raw['contact']}' is not an e-mail address")
    return Schedule(**raw)


def _folders() -> list[Path]:
    return [DECLARATIONS, *settings().declarations]


@cache
def _load(folders: tuple[Path, ...]) -> dict[str, Agency]:
    agencies: dict[str, Agency] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.yaml")):
            agency = _parse(path)
            agencies[agency.name] = agency
    return agencies


def load_agencies() -> dict[str, Agency]:
    """All declared agencies by name, in alphabetical order."""
    return dict(sorted(_load(tuple(_folders())).items()))


def agency_names() -> list[str]:
    return list(load_agencies())


def get_agency(name: str) -> Agency:
    agencies = load_agencies()
    if name not in agencies:
        raise KeyError(f"unknown agency '{name}' (declared: {', '.join(agencies)})")
    return agencies[name]


_NAME = re.compile(r"^(?P<agency>[a-z0-9]+)_(?P<date>\d{8})(?:_(?P<n>[1-9]\d*))?\.(?P<ext>\w+)$")


def parse_file_name(file_name: str, agency: Agency) -> FileName:
    """Check a file name against the schedule; raise ``ValueError`` saying what is wrong."""
    m = _NAME.match(file_name)
    expected = f"{agency.name}_YYYYMMDD[_n].{agency.file.extension}"
    if not m:
        raise ValueError(f"file name '{file_name}' does not fit the schedule {expected}")
    if m["agency"] != agency.name:
        raise ValueError(f"file name '{file_name}' is for agency '{m['agency']}', not {agency.name}")
    if m["ext"] != agency.file.extension:
        raise ValueError(f"file name '{file_name}' should end .{agency.file.extension}")
    try:
        extract = date(int(m["date"][:4]), int(m["date"][4:6]), int(m["date"][6:]))
    except ValueError:
        raise ValueError(f"file name '{file_name}' has an impossible date {m['date']}") from None
    return FileName(agency.name, extract, int(m["n"] or 1))
