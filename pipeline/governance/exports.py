"""Exports that are safe to open in a spreadsheet: no cell is ever run as a formula.

A value starting with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return, which some
spreadsheets skip before looking) is prefixed with a single quote, OWASP's advice against
CSV/formula injection: names and addresses typed at source reach these files, and
``=HYPERLINK(...)`` in a surname must stay text. Numbers stay numbers (a negative amount is
not text). Every command that writes CSV or xlsx for people to open uses these helpers, and
every export of identifiable data goes through :func:`export_identifiable`: it needs a reason
and writes one audit row per family or person in the file before the file is written.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import pandas as pd

from pipeline.governance import audit
from pipeline.warehouse.engine import Warehouse

__all__ = ["FORMULA_STARTS", "export_identifiable", "neutralise", "safe_cell", "write_csv", "write_xlsx"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_TEXTUAL = {"string", "mixed", "mixed-integer", "mixed-integer-float"}


def safe_cell(value: Any) -> Any:
    """The value, made inert if it is text a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells (and column names) are all inert, column by column."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.infer_dtype(out[col], skipna=True) not in _TEXTUAL:
            continue
        text = out[col].astype(object)
        try:
            starts = text.str.startswith(FORMULA_STARTS).eq(True)  # not text: NaN, so False
        except AttributeError:  # a mixed column without any text
            continue
        out[col] = text.mask(starts, "'" + text[starts].astype(str))
    out.columns = [safe_cell(str(c)) for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path_or_buf: str | Path | IO[str] | None = None) -> str | None:
    """Write ``frame`` as RFC 4180 CSV with inert cells (a CR or LF in a value is quoted too);
    None returns the text."""
    return neutralise(frame).to_csv(path_or_buf, index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")


def write_xlsx(frame: pd.DataFrame, path: str | Path, sheet: str = "Export") -> None:
    """Write ``frame`` as a one-sheet workbook whose text cells are strings, never formulas."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    ws.append(list(neutralise(frame.head(0)).columns))
    for row in _rows(neutralise(frame)):
        ws.append(row)
    wb.save(path)


def export_identifiable(wh: Warehouse, frame: pd.DataFrame, path: str | Path, *, who: str, reason: str | None,
                        what: str, subjects: pd.DataFrame | None = None) -> Path:
    """Write identifiable rows to ``path`` (``.xlsx``: a workbook, else CSV), audited first.

    ``subjects`` (``family_id`` and/or ``person_id`` columns) name whom the file is about,
    by default the frame's own such columns; each gets an ``export`` row in the audit log
    with who, why, ``what`` and where, so the file cannot be written without its audit.
    """
    path = Path(path)
    reason = audit.require_reason(reason)
    if subjects is None:
        subjects = frame[[c for c in ("family_id", "person_id") if c in frame.columns]]
    audit.record(wh, "export", who=who, reason=reason, subjects=subjects,
                 detail=f"{what}: {len(frame)} rows to {path.resolve()}")
    if path.suffix.lower() == ".xlsx":
        write_xlsx(frame, path)
    else:
        write_csv(frame, path)
    return path


def _rows(frame: pd.DataFrame) -> Iterable[list[Any]]:
    """Rows as Python values (numpy scalars and NA made plain), for openpyxl."""
    values = frame.astype(object).where(frame.notna(), None)
    return values.itertuples(index=False, name=None)
