"""Payment-by-results settings: a programme's payments file and its claim windows.

``pipeline/programmes/payments/<programme>.yaml`` (also looked up in ``payments/`` of the
folders in ``FAMILYHUB_PROGRAMMES``) holds the amounts, routes, thresholds and the authority's
yearly commitments; :func:`load_payments` validates it against the programme, so a claim run
never starts on a file it cannot pay from. :mod:`pipeline.programme.claims` applies it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pipeline.ingest.agencies import agency_names
from pipeline.programme.cohort import Programme, load_programme, programme_folders
from pipeline.programme.cohort.config import Match
from pipeline.programme.sustained import Sustained

__all__ = ["PENNY", "ClaimWindow", "Employment", "Falls", "Measure", "NotMet", "Payments", "Route", "Year",
           "load_payments"]

PENNY = Decimal("0.01")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True,
                              populate_by_name=True)


def _fraction(value: Any) -> Fraction:
    try:
        share = Fraction(str(value).replace(" ", ""))
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"'{value}' is not a share (write e.g. 5/6 or 0.8)") from None
    if not 0 <= share <= 1:
        raise ValueError(f"{value} is not between 0 and 1")
    return share


Share = Annotated[Fraction, BeforeValidator(_fraction)]


class Year(_Model):
    from_: date = Field(alias="from")
    families: int = Field(ge=0)
    attachment_share: Share | None = None


class NotMet(_Model):
    criteria: Literal["at_attachment"] | list[str]
    months: int = Field(6, gt=0)


class Measure(_Model):
    at_least: Share
    events: list[Match] = Field(min_length=1)


class Falls(_Model):
    months: int = Field(6, gt=0)
    measures: dict[str, Measure] = Field(min_length=1)


class Employment(_Model):
    weeks: int = Field(26, gt=0)
    agency: str  # whose events are out-of-work claims

    @field_validator("agency")
    @classmethod
    def _declared(cls, name: str) -> str:
        if name not in agency_names():
            raise ValueError(f"unknown agency '{name}' (declared: {', '.join(agency_names())})")
        return name


class Route(_Model):
    """A way to a results payment: every test given must pass."""

    not_met: NotMet | None = None
    falls: Falls | None = None
    employment: Employment | None = None
    sustained: Sustained | None = None

    @model_validator(mode="after")
    def _some_test(self) -> Route:
        if not (self.not_met or self.falls or self.employment or self.sustained):
            raise ValueError("give at least one of not_met, falls, employment, sustained")
        return self

    @property
    def months(self) -> int:
        """How long after attachment the claim date must be (0: any time)."""
        return max(self.not_met.months if self.not_met else 0, self.falls.months if self.falls else 0)


class Payments(_Model):
    """A programme's payment-by-results settings (see payments/tf2015.yaml)."""

    programme: str
    attachment_fee: Decimal | None = Field(None, ge=0)
    results_payment: Decimal | None = Field(None, ge=0)
    per_family: Decimal | None = Field(None, ge=0)
    attachment_cap: Share = Fraction(1)
    years: list[Year] = Field(min_length=1)
    results: dict[str, Route] = Field(min_length=1)

    @model_validator(mode="after")
    def _amounts(self) -> Payments:
        shares = [y.attachment_share is not None for y in self.years]
        if self.per_family is not None:
            if self.attachment_fee is not None or self.results_payment is not None:
                raise ValueError("give either per_family with yearly attachment shares, or "
                                 "results_payment (and attachment_fee, if any)")
            if not all(shares):
                raise ValueError("per_family needs an attachment_share for every year")
        elif self.results_payment is None or any(shares):
            raise ValueError("give results_payment and any attachment_fee (or per_family with yearly shares)")
        starts = [y.from_ for y in self.years]
        if starts != sorted(set(starts)):
            raise ValueError("years must start on distinct dates, in order")
        return self

    def year_of(self, dates: pd.Series) -> pd.Series:
        """Programme year (1, 2, ...) of each date; 0 when outside every configured year."""
        starts = pd.to_datetime(pd.Series([y.from_ for y in self.years]))
        end = starts.iloc[-1] + pd.DateOffset(years=1)
        year = np.searchsorted(starts.to_numpy(), pd.to_datetime(dates).to_numpy(), side="right")
        return pd.Series(np.where(pd.to_datetime(dates).to_numpy() < end.to_datetime64(), year, 0),
                         index=dates.index, dtype=int)

    @property
    def pays_attachment(self) -> bool:
        """False for a programme without attachment fees (sf2022)."""
        return self.per_family is not None or self.attachment_fee is not None

    def _share_of(self, share: Fraction) -> Decimal:
        assert self.per_family is not None
        return self.per_family * share.numerator / share.denominator

    def fee(self, year: int) -> Decimal | None:
        """The attachment fee of a year, to the penny (half up); None without attachment fees."""
        y = self.years[year - 1]
        fee = self.attachment_fee if self.per_family is None else self._share_of(y.attachment_share)
        return None if fee is None else fee.quantize(PENNY, ROUND_HALF_UP)

    def results_amount(self, year: int) -> Decimal:
        """The results payment of a year, to the penny (half up)."""
        y = self.years[year - 1]
        amount = self.results_payment if self.per_family is None else self._share_of(1 - y.attachment_share)
        return amount.quantize(PENNY, ROUND_HALF_UP)

    def cap(self, year: int) -> int:
        return math.floor(self.years[year - 1].families * self.attachment_cap)


def load_payments(programme: Programme | str) -> Payments:
    """The payments file of a programme, validated (criterion codes checked against it)."""
    prog = load_programme(programme) if isinstance(programme, str) else programme
    for folder in programme_folders():
        path = folder / "payments" / f"{prog.name}.yaml"
        if path.is_file():
            break
    else:
        raise ValueError(f"no payments file for programme {prog.name} (payments/{prog.name}.yaml "
                         "beside the programme files)")
    try:
        payments = Payments.model_validate({**yaml.safe_load(path.read_text(encoding="utf-8")),
                                            "programme": prog.name})
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{path}: {where}") from None
    for name, route in payments.results.items():
        listed = route.not_met.criteria if route.not_met and route.not_met.criteria != "at_attachment" else []
        unknown = sorted(set(listed) - set(prog.criteria))
        if unknown:
            raise ValueError(f"{path}: results.{name}.not_met: {prog.name} has no criterion {', '.join(unknown)}")
    return payments


@dataclass(frozen=True)
class ClaimWindow:
    """A six-monthly claim window: ``YYYY-H1`` (January-June) or ``YYYY-H2`` (July-December)."""

    name: str
    start: date
    end: date

    @classmethod
    def parse(cls, name: str) -> ClaimWindow:
        match = re.fullmatch(r"(\d{4})-H([12])", name.strip().upper())
        if match is None:
            raise ValueError(f"claim window '{name}': write YYYY-H1 or YYYY-H2, e.g. 2026-H2")
        year, half = int(match[1]), int(match[2])
        start = date(year, 1 if half == 1 else 7, 1)
        end = date(year, 6, 30) if half == 1 else date(year, 12, 31)
        return cls(f"{year}-H{half}", start, end)
