"""Programme configuration: the declarative vocabulary that the one rules engine reads.

A programme is a YAML file: criteria (each any-of conditions over agency events), the
eligibility rule, focus criteria, unit costs and the local discretion settings. It is
validated on load, so a typo in an authority's file fails at once with the file and the key
named, instead of silently matching nothing at evaluation. Vocabulary: docs in
``pipeline/programmes/tf2015.yaml``.
"""

from __future__ import annotations

import os
import re
import string
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from pipeline.ingest.agencies import agency_names, get_agency
from pipeline.programme.cohort.frames import EVENT_COLUMNS
from pipeline.settings import settings

__all__ = [
    "Aggregate",
    "Bound",
    "Condition",
    "CostRule",
    "Criterion",
    "Match",
    "Programme",
    "ProgrammeError",
    "Window",
    "list_programmes",
    "load_programme",
    "parse_programme",
    "programme_folders",
]

SHIPPED = Path(__file__).resolve().parents[2] / "programmes"
_EPS = 1e-9  # a threshold is met at equality despite float noise (summed pounds, rates)
_CODE = re.compile(r"[a-z][a-z0-9_]*")


class ProgrammeError(ValueError):
    """A programme that cannot be used; the message names the file and the key."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bound(_Model):
    """A numeric test; several keys combine into a range (all must hold)."""

    at_least: float | None = None
    more_than: float | None = None
    at_most: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> Bound:
        if all(getattr(self, k) is None for k in ("at_least", "more_than", "at_most", "below")):
            raise ValueError("give at least one of at_least, more_than, at_most, below")
        return self

    def test(self, values: pd.Series) -> pd.Series:
        """True where the value passes every bound; unknown (NaN) values never pass."""
        ok = values.notna()
        if self.at_least is not None:
            ok &= values >= self.at_least - _EPS
        if self.more_than is not None:
            ok &= values > self.more_than + _EPS
        if self.at_most is not None:
            ok &= values <= self.at_most + _EPS
        if self.below is not None:
            ok &= values < self.below - _EPS
        return ok


def _value_kind(value: Any) -> str:
    if isinstance(value, dict | Bound):
        return "range"
    return "list" if isinstance(value, list) else "value"


# A filter value: a scalar, a list (any of), or a range; tagged so errors name one branch.
WhereValue = Annotated[
    Annotated[Bound, Tag("range")]
    | Annotated[list[str | int | float], Tag("list")]
    | Annotated[bool | int | float | str, Tag("value")],
    Discriminator(_value_kind),
]


class Window(_Model):
    """When an event counts, relative to the as-of date D.

    dated: `date` column in (D - days, D]; open: span (start_date..end_date, end blank while
    open) open on any day of that window; current: span open on D; last_terms: school term
    among the last `terms` terms ended on or before D.
    """

    kind: Literal["dated", "open", "current", "last_terms"] = "dated"
    date: str = "event_date"
    days: int | None = Field(None, gt=0)
    terms: int | None = Field(None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"kind": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _consistent(self) -> Window:
        if EVENT_COLUMNS.get(self.date) != "date":
            raise ValueError(f"date '{self.date}' is not a date column of staging.events")
        if self.date != "event_date" and self.kind != "dated":
            raise ValueError("date applies to kind 'dated' only")
        if self.terms is not None and self.kind != "last_terms":
            raise ValueError("terms applies to kind 'last_terms' only")
        if self.days is not None and self.kind in ("current", "last_terms"):
            raise ValueError(f"days does not apply to kind '{self.kind}'")
        return self


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Names = Annotated[list[str], BeforeValidator(_as_list)]  # a single name or a list of names


def _number_columns(columns: list[str], where: str) -> None:
    for column in columns:
        if EVENT_COLUMNS.get(column) != "number":
            raise ValueError(f"{where}: '{column}' is not a numeric column of staging.events")


_MEASURES = {  # measure -> needs 'of', needs 'over', what to write
    "count": (False, False, "takes neither 'of' nor 'over'"),
    "total": (True, False, "needs 'of' (columns summed) and no 'over'"),
    "rate": (True, True, "needs 'of' (numerator) and 'over' (denominator)"),
}


class Aggregate(Bound):
    """A test on events grouped per person (or family): their count, a total or a rate."""

    measure: Literal["count", "total", "rate"]
    of: Names = []
    over: Names = []
    per: Literal["person", "family"] = "person"

    @model_validator(mode="after")
    def _columns(self) -> Aggregate:
        need_of, need_over, usage = _MEASURES[self.measure]
        if bool(self.of) != need_of or bool(self.over) != need_over:
            raise ValueError(f"measure {self.measure}: {usage}")
        _number_columns(self.of + self.over, f"measure {self.measure}")
        return self


def _event_codes(agency: str, field: str) -> set[str] | None:
    """Codes an agency delivers in an event field, from its declaration.

    None when the field is free text; an empty set when the agency does not deliver it.
    """
    declared = get_agency(agency)
    spec = declared.event.get(field)
    if spec is None:
        return set()
    if isinstance(spec, dict) and "value" in spec:
        return {spec["value"]}
    if isinstance(spec, str) and spec in declared.column_names:
        codes = declared.column(spec).codes
        return set(codes) if codes else None
    return None


def _check_where(where: dict[str, Any], key: str) -> None:
    for column, value in where.items():
        kind = EVENT_COLUMNS.get(column)
        if kind is None:
            raise ValueError(f"{key}: '{column}' is not a column of staging.events")
        values = value if isinstance(value, list) else [value]
        ok = {
            "bool": all(isinstance(v, bool) for v in values),
            "text": all(isinstance(v, str) for v in values),
            "number": isinstance(value, Bound)
            or all(isinstance(v, int | float) and not isinstance(v, bool) for v in values),
            "date": False,
        }[kind]
        if not ok:
            hint = "use a window for dates" if kind == "date" else f"a {kind} column"
            raise ValueError(f"{key}.{column}: value {value!r} does not fit ({hint})")


class Match(_Model):
    """Which events: an agency, optional codes and roles, a member age, a window, filters.

    `where` filters must all hold, `where_any` at least one of them (e.g. rent arrears
    >= 500 or a notice seeking possession). Age (`child`/`adult`) is on the event date.
    """

    agency: str
    event_types: Names | None = None
    roles: Names | None = None
    member: Literal["any", "child", "adult"] = "any"
    window: Window = Window()
    where: dict[str, WhereValue] = {}
    where_any: dict[str, WhereValue] = {}

    @field_validator("agency")
    @classmethod
    def _known_agency(cls, agency: str) -> str:
        if agency not in agency_names():
            raise ValueError(f"unknown agency '{agency}' (declared: {', '.join(agency_names())})")
        return agency

    @model_validator(mode="after")
    def _known_codes(self) -> Match:
        for field, values in (("event_type", self.event_types), ("role", self.roles)):
            codes = _event_codes(self.agency, field)
            unknown = sorted(set(values or ()) - codes) if codes is not None else []
            if unknown:
                declared = ", ".join(sorted(codes or ())) or "none"
                raise ValueError(
                    f"{self.agency} has no {field} {', '.join(unknown)} (declared: {declared})"
                )
        _check_where(self.where, "where")
        _check_where(self.where_any, "where_any")
        return self


class Condition(Match):
    """One way to meet a criterion; `detail` is the evidence text, a `{field}` template."""

    aggregate: Aggregate | None = None
    detail: str = "{detail}"

    @model_validator(mode="after")
    def _template(self) -> Condition:
        fields = set(template_fields(self.detail))
        allowed = set(EVENT_COLUMNS) | {"terms", "days"}
        allowed |= {"value", "n"} if self.aggregate else set()
        if fields - allowed:
            raise ValueError(
                f"detail '{self.detail}': unknown field(s) {', '.join(sorted(fields - allowed))}"
                + ("" if self.aggregate else " ({value} and {n} need an aggregate)")
            )
        return self


def template_fields(template: str) -> list[str]:
    """Field names of a `{field}` template; format specs and conversions are refused."""
    parsed = list(string.Formatter().parse(template))
    for _, field, spec, conversion in parsed:
        if field is not None and (spec or conversion or not field.isidentifier()):
            raise ValueError(f"template '{template}': write plain {{field}} names only")
    return [field for _, field, _, _ in parsed if field is not None]


class CostRule(Match):
    """A unit cost. The first rule an event matches prices it.

    per event: each event; per occurrence: once per family per occurrence (the first part
    of the record key: police OccurrenceRef, housing TenancyRef), at its highest price; per
    year: pro rata to the days of the window that the person had a matching span open.
    """

    name: str | None = None
    amount: float = Field(ge=0)
    per: Literal["event", "occurrence", "year"] = "event"

    @model_validator(mode="before")
    @classmethod
    def _span_window(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("per") == "year" and "window" not in data:
            return {**data, "window": "open"}
        return data

    @model_validator(mode="after")
    def _year_on_spans(self) -> CostRule:
        if self.per == "year" and self.window.kind not in ("open", "current"):
            raise ValueError("per year prices spans: window must be 'open' or 'current'")
        return self


class Criterion(_Model):
    """Met when any condition is; with no conditions (``any_of: []``) no extract can meet it and
    only a need recorded under its code (:mod:`pipeline.programme.needs`) does (e.g. early years);
    an open recorded need meets any criterion whose code it names."""

    title: str | None = None
    any_of: list[Condition] = []


class Household(_Model):
    """What makes a household a family: a child on D, or any of these events (pregnancy)."""

    or_any_of: list[Match] = []


class CriteriaCount(_Model):
    of: list[str] = Field(min_length=1)
    min: int = Field(ge=1)

    @model_validator(mode="after")
    def _reachable(self) -> CriteriaCount:
        if self.min > len(self.of):
            raise ValueError(f"min {self.min} is more than the {len(self.of)} criteria listed")
        return self

    def text(self) -> str:
        codes = ", ".join(self.of)
        return f"all of {codes}" if self.min == len(self.of) else f"{self.min} of {codes}"


class LocalFilter(CriteriaCount):
    plus_any_of: list[str] = Field(min_length=1)


class Eligibility(_Model):
    """`national`: basis national; `local_filter`: basis local_filter (checked second)."""

    national: CriteriaCount
    local_filter: LocalFilter | None = None


class Phase(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: date = Field(alias="from")
    postcode_districts: list[str] = Field(min_length=1)

    @field_validator("postcode_districts")
    @classmethod
    def _normalise(cls, districts: list[str]) -> list[str]:
        return [d.upper().replace(" ", "") for d in districts]


class Referrals(_Model):
    services: list[str] = Field(min_length=1)
    within_days: int | None = Field(None, gt=0)


class LocalInclusion(_Model):
    high_cost_above: float | None = Field(None, ge=0)
    referrals: Referrals | None = None


class Programme(_Model):
    """A whole programme, validated; see the shipped YAML files for the vocabulary."""

    name: str
    title: str = ""
    description: str = ""
    window_days: int = Field(365, gt=0)
    school_terms: int = Field(3, gt=0)
    adult_age: int = Field(18, gt=0)
    household: Household = Household()
    criteria: dict[str, Criterion] = Field(min_length=1)
    eligibility: Eligibility
    focus_criteria: list[str] = []
    area_phasing: list[Phase] = []
    local_inclusion: LocalInclusion = LocalInclusion()
    unit_costs: list[CostRule] = []

    @field_validator("criteria")
    @classmethod
    def _codes(cls, criteria: dict[str, Criterion]) -> dict[str, Criterion]:
        bad = [code for code in criteria if not _CODE.fullmatch(code) or code == "referral"]
        if bad:
            raise ValueError(f"criterion codes must be lower_snake_case and not the reserved "
                             f"'referral': {', '.join(bad)}")
        return criteria

    @model_validator(mode="after")
    def _references(self) -> Programme:
        rules = [("eligibility.national.of", self.eligibility.national.of),
                 ("focus_criteria", self.focus_criteria)]
        if self.eligibility.local_filter:
            rules += [("eligibility.local_filter.of", self.eligibility.local_filter.of),
                      ("eligibility.local_filter.plus_any_of",
                       self.eligibility.local_filter.plus_any_of)]
        for key, codes in rules:
            unknown = [c for c in codes if c not in self.criteria]
            if unknown:
                raise ValueError(f"{key}: no criterion {', '.join(unknown)}")
        starts = [phase.from_ for phase in self.area_phasing]
        if starts != sorted(set(starts)):
            raise ValueError("area_phasing: phases must start on distinct dates, in order")
        return self

    def active_districts(self, as_of: date) -> frozenset[str] | None:
        """Postcode districts of the phase in force at `as_of`; None when not phased."""
        if not self.area_phasing:
            return None
        started = [p for p in self.area_phasing if p.from_ <= as_of]
        return frozenset(started[-1].postcode_districts) if started else frozenset()

    @property
    def rule_text(self) -> str:
        """The eligibility rule in words, for comparisons and summaries."""
        text = self.eligibility.national.text()
        local = self.eligibility.local_filter
        if local:
            text += f", or {local.text()} plus any of {', '.join(local.plus_any_of)}"
        return text


def programme_folders() -> list[Path]:
    """Where programmes are looked up: folders in FAMILYHUB_PROGRAMMES first, then shipped."""
    return [*settings().programmes, SHIPPED]


def list_programmes() -> list[str]:
    """Names of every programme found (shipped and local), sorted."""
    return sorted({p.stem for f in programme_folders() if f.is_dir() for p in f.glob("*.yaml")})


def _locate(name: str, first: Path | None = None) -> Path:
    folders = ([first] if first else []) + programme_folders()
    for folder in folders:
        if (folder / f"{name}.yaml").is_file():
            return folder / f"{name}.yaml"
    raise ProgrammeError(f"unknown programme '{name}' (known: {', '.join(list_programmes())})")


def _read(path: Path) -> dict[str, Any]:
    try:
        # libyaml's loader: the pure-Python one took a quarter of a second per evaluation
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise ProgrammeError(f"{path}: cannot read: {exc}") from None
    if not isinstance(raw, dict):
        raise ProgrammeError(f"{path.name}: not a mapping of settings")
    return raw


def _used(value: Any, extra: frozenset[str] = frozenset()) -> str | None:
    """The programme named by a `{use: <programme>}` reference, else None.

    `extra` keys may accompany `use` (for a criterion: `criterion` and `title`).
    """
    if isinstance(value, dict) and "use" in value and set(value) <= {"use", *extra}:
        return str(value["use"])
    return None


_CRITERION_USE = frozenset({"criterion", "title"})


def _resolve(raw: dict[str, Any], folder: Path | None, seen: tuple[Path, ...]) -> dict[str, Any]:
    """Replace `{use: P}` (a top-level setting or a criterion) with programme P's own."""

    def borrowed(name: str, *keys: str) -> Any:
        path = _locate(name, folder)
        if path in seen:
            raise ProgrammeError(f"{' -> '.join(p.stem for p in seen)} -> {name}: circular use")
        value: Any = _resolve(_read(path), path.parent, (*seen, path))
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                raise ProgrammeError(f"use: {name} has no {'.'.join(keys)}")
            value = value[key]
        return value

    def criterion(code: str, value: Any) -> Any:
        """`{use: P}` borrows P's criterion of the same code; `{use: P, criterion: c}` P's
        criterion `c` under this code (e.g. sf2022 `crime` is tf2015 `crime_asb`);
        `title` replaces the borrowed title."""
        if not (used := _used(value, _CRITERION_USE)):
            return value
        try:
            found = borrowed(used, "criteria", str(value.get("criterion", code)))
        except ProgrammeError as exc:
            raise ProgrammeError(f"criteria.{code}: {exc}") from None
        return {**found, "title": value["title"]} if "title" in value else found

    out = {k: borrowed(u, k) if (u := _used(v)) else v for k, v in raw.items()}
    if isinstance(out.get("criteria"), dict):
        out["criteria"] = {code: criterion(code, v) for code, v in out["criteria"].items()}
    return out


def _explain(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'programme'}: {e['msg'].removeprefix('Value error, ')}"
        for e in error.errors()
    )


def parse_programme(data: dict[str, Any], name: str, folder: Path | None = None) -> Programme:
    """Validate a programme given as a mapping (what a YAML file holds) under `name`."""
    if data.get("name", name) != name:
        raise ProgrammeError(f"{name}: 'name' must match the file name ({data['name']!r})")
    seen = (folder / f"{name}.yaml",) if folder else ()
    try:
        resolved = _resolve(data, folder, seen)
    except ProgrammeError as exc:
        raise ProgrammeError(f"{name}: {exc}") from None
    try:
        return Programme.model_validate({**resolved, "name": name})
    except ValidationError as exc:
        raise ProgrammeError(f"{name}: {_explain(exc)}") from None


def load_programme(name_or_path: str | os.PathLike[str]) -> Programme:
    """A programme by name (looked up in `programme_folders()`) or by path to a YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.is_file():
        if not candidate.is_file():
            raise ProgrammeError(f"{candidate}: no such programme file")
        path = candidate.resolve()
    else:
        path = _locate(str(name_or_path))
    return parse_programme(_read(path), path.stem, path.parent)
