"""Quality gates: the agency's Great Expectations suite, then the row rules GX cannot express.

The gate reads GX's result, not logs: a failed table-level expectation (a missing column)
refuses the file whole; failed column expectations name the rows to hold back, each with
its reason. Rules that need arithmetic (real calendar dates, plausible dates of birth, the
NHS number and UPN check digits) are vectorised here, driven by the same declaration.

When every expectation of a suite judges a row by one value of one column (not null, in a
code list, a pattern...) or looks only at the column names, GX validates each column's
distinct values rather than every row (codes and names repeat on every row of a person; a
column only checked for presence shows one present value and the missing one), and the
verdicts are spread back to the rows: same held rows, same reasons, a fraction of the work.
A suite with any other kind of expectation (uniqueness, row counts, ``mostly``) sees every row.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from expectations import load_suite_dict
from matching import standardise as st
from pipeline.ingest.agencies import Agency, Column
from pipeline.ingest.canonical import parse_dates_as, parse_numbers
from pipeline.settings import settings

__all__ = ["GateResult", "RefusedFile", "check_chunk", "gx_suite", "max_bad_share", "prepare_gate"]

EARLIEST_DOB = pd.Timestamp("1900-01-01")


class RefusedFile(Exception):
    """The whole file is refused; ``reason`` is shown in the quarantine report."""

    def __init__(self, reason: str, details: list[str] | None = None, validation: Any = None):
        super().__init__(reason)
        self.reason = reason
        self.details = details or []
        self.validation = validation  # GX's result when GX refused it (for its Data Docs page)


@dataclass
class GateResult:
    """Outcome of one chunk: which rows fail and why, plus GX's per-expectation summary."""

    reasons: pd.Series  # row position -> "; "-joined reasons ("" when the row passes)
    expectation_summary: list[dict[str, Any]]
    validation: Any = None  # GX's ExpectationSuiteValidationResult (for the file's Data Docs page)
    #: date column -> its values parsed by the row rules (NaT when blank or not a date), by row
    #: position: the load standardises the passing rows' dates from them, not parsing them again
    dates: dict[str, pd.Series] = field(default_factory=dict)

    @property
    def bad(self) -> np.ndarray:
        return (self.reasons != "").to_numpy()

    def passed_dates(self) -> dict[str, pd.Series]:
        """:attr:`dates` of the rows that pass, in row order (as ``frame[~bad]``)."""
        ok = ~self.bad
        return {column: parsed[ok] for column, parsed in self.dates.items()}


def max_bad_share() -> float:
    """The share of bad rows above which a file is refused (``FAMILYHUB_MAX_BAD_SHARE``)."""
    return settings().max_bad_share


#: Expectations whose verdict on a row depends on that row's value in one column only.
PER_VALUE = frozenset({
    "expect_column_values_to_not_be_null", "expect_column_values_to_be_null",
    "expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex",
    "expect_column_values_to_match_regex_list", "expect_column_values_to_not_match_regex_list",
    "expect_column_values_to_match_like_pattern", "expect_column_values_to_not_match_like_pattern",
    "expect_column_value_lengths_to_be_between", "expect_column_value_lengths_to_equal",
    "expect_column_values_to_be_between", "expect_column_values_to_match_strftime_format",
})
#: Of those, the ones that look only at whether the value is there.
PRESENCE = frozenset({"expect_column_values_to_not_be_null", "expect_column_values_to_be_null"})
#: Table expectations that look at the column names only.
COLUMNS_ONLY = frozenset({
    "expect_table_columns_to_match_set", "expect_table_columns_to_match_ordered_list",
    "expect_column_to_exist", "expect_table_column_count_to_equal", "expect_table_column_count_to_be_between",
})


@cache
def _context():
    """One ephemeral GX context per process (building one costs more than validating a file)."""
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="great_expectations")
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    return context


def prepare_gate(agencies: Iterable[str] = ()) -> None:
    """Build the GX context, and the named agencies' suites, now: e.g. before forking workers,
    which then share them (a worker's own cache dies with it: built there, each agency's suite
    cost a tenth of a second or more in every run)."""
    _context()
    for name in agencies:
        _validation(name)


@cache
def _validation(agency_name: str):
    """The agency suite's validation definition, (re)registered in the process's context."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    context = _context()
    spec = load_suite_dict(agency_name)
    suite = gx.ExpectationSuite(name=spec["name"], notes=spec.get("notes"), meta=spec.get("meta", {}))
    for e in spec["expectations"]:
        config = ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"], notes=e.get("notes"))
        suite.add_expectation(config.to_domain_obj())
    suite = context.suites.add_or_update(suite)
    batch = (context.data_sources.add_or_update_pandas(f"{agency_name}_files")
             .add_dataframe_asset(f"{agency_name}_extract")
             .add_batch_definition_whole_dataframe("whole_file"))
    return context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=f"familyhub_ingest_gate_{agency_name}", data=batch, suite=suite))


def _validate(agency_name: str, frame: pd.DataFrame) -> Any:
    """GX's result for ``frame`` under the agency's validation definition, with the meta its
    ``run`` gives it (run id and time, validation id), but not put in the context's result
    store: ``run`` serialises every result to JSON for it (a tenth of a small file's GX time)
    and the process would keep each file's result until it ends; nothing reads them there."""
    from great_expectations.constants import DATAFRAME_REPLACEMENT_STR
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.validator.v1_validator import Validator

    definition = _validation(agency_name)
    result = Validator(definition.batch_definition, batch_parameters={"dataframe": frame}, result_format={
        "result_format": "COMPLETE", "return_unexpected_index_query": False, "partial_unexpected_count": 0},
    ).validate_expectation_suite(definition.suite)
    run_id = RunIdentifier(run_time=datetime.now(UTC))
    result.meta.update(validation_id=definition.id, checkpoint_id=None, run_id=run_id,
                       validation_time=run_id.run_time, batch_parameters={"dataframe": DATAFRAME_REPLACEMENT_STR})
    return result


def _value_columns(suite: dict[str, Any]) -> dict[str, set[str]] | None:
    """Column -> kinds of expectation judging it value by value, when that is all the suite does
    (None when it does more)."""
    columns: dict[str, set[str]] = {}
    for e in suite["expectations"]:
        kw = e["kwargs"]
        if e["type"] in PER_VALUE and kw.get("mostly", 1) == 1 and "row_condition" not in kw:
            columns.setdefault(kw["column"], set()).add(e["type"])
        elif e["type"] not in COLUMNS_ONLY:
            return None
    return columns


@dataclass
class _GxInput:
    """What GX validates for a chunk, and how its row positions map back to the chunk's rows."""

    frame: pd.DataFrame
    codes: dict[str, np.ndarray]  # column -> each chunk row's position among the column's values

    @classmethod
    def of(cls, agency: Agency, frame: pd.DataFrame) -> _GxInput:
        names = [c for c in frame.columns if c != "row_number"]
        judged = _value_columns(load_suite_dict(agency.name))
        if judged is None:
            return cls(frame[names].replace("", None), {})
        # each column's distinct values (for a presence check: a present one and a missing one),
        # repeated cyclically to one length; a column no expectation reads keeps one value (the
        # table expectations only see that it is there)
        codes, values = {}, {}
        for c in names:
            if c not in judged:
                values[c] = frame[c].array[:1]
                continue
            column = frame[c].replace("", None)
            code, _ = pd.factorize(column.notna() if judged[c] <= PRESENCE else column, use_na_sentinel=False)
            first = np.unique(code, return_index=True)[1]  # the first row of each distinct value
            codes[c], values[c] = code, column.array.take(first)
        length = max(len(v) for v in values.values())
        compact = pd.DataFrame({c: v.take(np.arange(length) % len(v)) for c, v in values.items()})
        return cls(compact, codes)

    def rows(self, column: str | None, index: list) -> np.ndarray:
        """The chunk rows behind the positions GX reported for ``column``."""
        positions = np.asarray(index, dtype=np.int64)
        code = self.codes.get(column)
        if code is None:
            return positions
        failed = np.zeros(code.max() + 1, dtype=bool)  # one flag per distinct value
        failed[positions % len(failed)] = True
        return np.flatnonzero(failed[code])


def _describe(e: dict[str, Any]) -> str:
    kind, kw = e["type"], e["kwargs"]
    col = kw.get("column", "")
    if kind == "expect_column_values_to_not_be_null":
        return f"{col}: missing"
    if kind == "expect_column_values_to_be_in_set":
        return f"{col}: unknown code"
    if kind == "expect_column_values_to_match_regex":
        return f"{col}: wrong format"
    return f"{col}: fails {kind}"


def gx_suite(agency_name: str) -> Any:
    """The agency's GX expectation suite as the gate runs it (Data Docs draw its page)."""
    return _validation(agency_name).suite


def _run_gx(agency: Agency, frame: pd.DataFrame, reasons: list[pd.Series]) -> tuple[list[dict[str, Any]], Any]:
    """Run the agency suite; refuse on a table-level failure, collect row reasons otherwise."""
    gx_input = _GxInput.of(agency, frame)
    result = _validate(agency.name, gx_input.frame)
    summary = []
    table_first = sorted(result.results, key=lambda r: not r.expectation_config.type.startswith("expect_table_"))
    for r in table_first:
        cfg = r.expectation_config
        e = {"type": cfg.type, "kwargs": dict(cfg.kwargs), "notes": cfg.notes}
        res = r.result or {}
        col = cfg.kwargs.get("column")
        index = None if r.success else res.get("unexpected_index_list")
        rows = gx_input.rows(col, index) if index is not None else None
        summary.append({"expectation": cfg.type, "column": col, "success": r.success,
                        "unexpected_count": len(rows) if rows is not None else res.get("unexpected_count", 0),
                        "notes": cfg.notes})
        if r.success:
            continue
        if cfg.type.startswith("expect_table_"):
            missing = (res.get("details") or {}).get("mismatched", {}).get("missing") or []
            raise RefusedFile(
                f"required column(s) missing: {', '.join(missing)}" if missing else f"failed {cfg.type}",
                [f"expected columns: {', '.join(agency.column_names)}",
                 f"found columns: {', '.join(c for c in frame.columns if c != 'row_number')}"], result)
        if rows is None:
            message = (r.exception_info or {}).get("exception_message", "expectation could not run")
            raise RefusedFile(f"{col}: {message}", validation=result)
        values = frame[col].to_numpy()[rows] if col in frame else [""] * len(rows)
        text = pd.Series([f"{_describe(e)} ({v!r})" if v else _describe(e) for v in values], index=rows)
        reasons.append(text)
    return summary, result


def _ruled(col: Column) -> bool:
    """Whether a rule of :func:`_semantic_reasons` reads the column; the others are not even
    stripped (a fixed cost a column, whatever the rows)."""
    return col.type in {"date", "datetime", "integer", "decimal", "term"} or (
        col.check in {"nhs_number", "upn"} and col.on_invalid == "hold")


def _semantic_reasons(agency: Agency, frame: pd.DataFrame, extract_date: date,
                      dates: dict[str, pd.Series]) -> list[pd.Series]:
    """Row rules needing arithmetic or parsing: real dates, plausible dates of birth, numbers, terms,
    check digits. The date columns' parsed values are put in ``dates``."""
    out: list[pd.Series] = []
    latest = pd.Timestamp(extract_date)
    for col in filter(_ruled, agency.columns):
        raw = frame[col.name].str.strip()
        present = raw != ""
        fails: list[tuple[pd.Series, str]] = []
        if col.type in {"date", "datetime"}:
            parsed = dates[col.name] = parse_dates_as(raw, col.format or "")
            fails.append((present & parsed.isna(), "not a real date"))
            if col.check == "dob":
                fails.append((parsed.notna() & ((parsed > latest) | (parsed < EARLIEST_DOB)),
                              "impossible date of birth"))
        elif col.type in {"integer", "decimal"}:
            number = parse_numbers(raw.where(present))
            whole = number.notna() & (number >= 0) & (number % 1 == 0) if col.type == "integer" else number.notna()
            fails.append((present & ~whole, "not a whole number" if col.type == "integer" else "not a number"))
        elif col.type == "term":
            fails.append((present & ~raw.str.fullmatch(r"\d{4}-(?:AUT|SPR|SUM)").fillna(False).astype(bool),
                          "not a term such as 2025-AUT"))
        elif col.check == "nhs_number" and col.on_invalid == "hold":
            fails.append((present & ~st.valid_nhs_number(raw), "bad NHS number check digit"))
        elif col.check == "upn" and col.on_invalid == "hold":
            fails.append((present & ~st.valid_upn(raw), "bad UPN check letter"))
        for mask, why in fails:
            mask = mask.to_numpy()
            if mask.any():
                out.append(pd.Series([f"{col.name}: {why} ({v!r})" for v in raw.to_numpy()[mask]],
                                     index=np.flatnonzero(mask)))
    return out


def _duplicate_keys(agency: Agency, frame: pd.DataFrame) -> list[pd.Series]:
    """An event key repeated inside one file: the last row wins, earlier ones are held back."""
    dup = frame.duplicated(subset=list(agency.event_key), keep="last").to_numpy()
    if not dup.any():
        return []
    return [pd.Series("event key repeated later in the same file", index=np.flatnonzero(dup))]


def check_chunk(agency: Agency, frame: pd.DataFrame, extract_date: date) -> GateResult:
    """Gate one chunk (positional index 0..n-1): GX suite first, then the arithmetic rules."""
    frame = frame.reset_index(drop=True)
    repeated = sorted(set(map(str, frame.columns[frame.columns.duplicated()])))
    if repeated:  # which of the two would be the field? the sender must say
        raise RefusedFile(f"column(s) named twice in the header: {', '.join(repeated)}")
    reasons: list[pd.Series] = []
    summary, validation = _run_gx(agency, frame, reasons)
    dates: dict[str, pd.Series] = {}
    reasons += _semantic_reasons(agency, frame, extract_date, dates)
    reasons += _duplicate_keys(agency, frame)
    joined = pd.Series("", index=frame.index)
    if reasons:
        allr = pd.concat(reasons)
        grouped = allr.groupby(level=0).agg("; ".join)
        joined.loc[grouped.index] = grouped
    return GateResult(joined, summary, validation, dates)
