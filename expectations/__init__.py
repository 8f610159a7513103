"""Great Expectations suites, one per agency, stored as JSON in this folder.

A suite is data: ``expectations/<agency>.json`` holds the expectations GX runs on every file
of that agency before it is loaded: the columns of the schedule, required values, code lists
and agreed shapes. Rules that need arithmetic (real dates, check digits, numbers) are applied
right after, by :mod:`pipeline.ingest.quality`, from the same declaration. ``familyhub suites --write`` scaffolds a suite from the
agency declaration (required columns, value sets, formats); the data team may then add
expectations by hand. Each expectation carries in ``notes`` the reason it exists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.ingest.agencies import Agency, Column

__all__ = ["SUITES", "load_suite_dict", "scaffold_suite", "suite_path"]

SUITES = Path(__file__).parent

def _expectation(kind: str, notes: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "meta": {}, "notes": notes}


def _column_expectations(agency: Agency, col: Column) -> list[dict[str, Any]]:
    name = col.name
    out = []
    if col.not_null:
        out.append(_expectation("expect_column_values_to_not_be_null",
                                f"{name} is needed to load the row (event key or core fact).", column=name))
    if col.codes:
        out.append(_expectation("expect_column_values_to_be_in_set",
                                f"{name} must be one of the codes in the data-sharing schedule.",
                                column=name, value_set=list(col.codes)))
    if col.pattern:
        out.append(_expectation("expect_column_values_to_match_regex",
                                f"{name} must have the shape agreed with {agency.name}.",
                                column=name, regex=col.pattern))
    return out


def scaffold_suite(agency: Agency) -> dict[str, Any]:
    """Build the suite for an agency from its declaration, as a GX suite JSON dict."""
    expectations = [
        _expectation("expect_table_columns_to_match_set",
                     "Every column of the schedule must be present; otherwise the file is refused whole.",
                     column_set=agency.column_names, exact_match=False)
    ]
    for col in agency.columns:
        expectations.extend(_column_expectations(agency, col))
    return {"name": f"{agency.name}_raw", "expectations": expectations,
            "meta": {"agency": agency.name, "scaffolded_from": f"pipeline/declarations/{agency.source.name}"},
            "notes": agency.description}


def suite_path(agency: str) -> Path:
    return SUITES / f"{agency}.json"


def load_suite_dict(agency: str) -> dict[str, Any]:
    """The stored suite of an agency; a missing suite is an error naming the file to create."""
    path = suite_path(agency)
    if not path.exists():
        raise FileNotFoundError(f"no expectation suite for '{agency}': create {path} (familyhub suites --write)")
    return json.loads(path.read_text(encoding="utf-8"))
