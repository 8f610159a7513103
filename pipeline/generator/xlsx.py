"""Fast, reproducible xlsx writing for the housing extract.

openpyxl writes about 12,000 cells a second, so the housing backfill of a 150,000-household
area (over a million cells) would take minutes. openpyxl still builds the package (styles
with a real date format, workbook, relationships, content types) from a one-row skeleton;
only the rows of ``<sheetData>`` are rendered here, column by column with numpy. Zip entry
times and document dates are fixed, so the same data always gives the same bytes.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, datetime

import numpy as np
import openpyxl
import pandas as pd
from openpyxl.utils import get_column_letter

from pipeline.generator.dates import MISSING

__all__ = ["EXCEL_EPOCH_OFFSET", "xlsx_bytes"]

EXCEL_EPOCH_OFFSET = 25569  # Excel serial of 1970-01-01 (1900 date system)
_SHEET = "xl/worksheets/sheet1.xml"


def _skeleton(columns: list[str], sheet: str, creator: str, when: datetime) -> tuple[bytes, str]:
    """An openpyxl workbook with the header and one date cell; returns (bytes, date style id)."""
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    ws.append(columns)
    ws.append([date(2000, 1, 1)])
    wb.properties.creator = creator
    wb.properties.created = when
    raw = io.BytesIO()
    wb.save(raw)
    with zipfile.ZipFile(raw) as z:
        xml = z.read(_SHEET).decode()
    style = re.search(r'<c r="A2" s="(\d+)"', xml)
    if style is None:
        raise RuntimeError("openpyxl did not give the date cell a date style")
    return raw.getvalue(), style.group(1)


def _escape(values: np.ndarray) -> np.ndarray:
    s = pd.Series(values, dtype=object)
    return s.str.replace("&", "&amp;").str.replace("<", "&lt;").str.replace(">", "&gt;").to_numpy()


def _column_cells(letter: str, values: np.ndarray, is_date: bool, date_style: str, rows: np.ndarray) -> np.ndarray:
    """XML of one column's cells ('' where the cell is empty)."""
    values = np.asarray(values, dtype=object)
    out = np.full(len(values), "", dtype=object)
    ref = '<c r="' + letter + rows
    text = np.array([isinstance(v, str) for v in values], dtype=bool)
    idx = np.flatnonzero(text & (values != ""))
    out[idx] = ref[idx] + '" t="inlineStr"><is><t xml:space="preserve">' + _escape(values[idx]) + "</t></is></c>"
    numeric = np.flatnonzero(~text)
    numbers = pd.to_numeric(pd.Series(values[numeric]), errors="coerce").to_numpy()
    keep = ~np.isnan(numbers) & (numbers != MISSING)
    idx, numbers = numeric[keep], numbers[keep]
    if is_date:
        shown = (numbers.astype(np.int64) + EXCEL_EPOCH_OFFSET).astype(str)
        out[idx] = ref[idx] + '" s="' + date_style + '" t="n"><v>' + shown + "</v></c>"
    else:
        whole = numbers == np.round(numbers)
        shown = np.where(whole, numbers.astype(np.int64).astype(str), np.round(numbers, 2).astype(str))
        out[idx] = ref[idx] + '" t="n"><v>' + shown.astype(object) + "</v></c>"
    return out


def xlsx_bytes(table: pd.DataFrame, date_columns: tuple[str, ...], when: date, sheet: str, creator: str) -> bytes:
    """The workbook: header in row 1, one row per table row; day numbers in ``date_columns``
    become Excel date cells, text stays text (so a bad row can carry a text date)."""
    stamp = datetime.combine(when, datetime.min.time())
    skeleton, date_style = _skeleton(list(table.columns), sheet, creator, stamp)
    rows = (np.arange(len(table)) + 2).astype(str).astype(object)
    body = np.full(len(table), "", dtype=object)
    for i, column in enumerate(table.columns):
        body = body + _column_cells(get_column_letter(i + 1), table[column].to_numpy(), column in date_columns, date_style, rows)
    data = "".join(('<row r="' + rows + '">' + body + "</row>").tolist())
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(skeleton)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == _SHEET:
                xml = content.decode()
                start, end = xml.index("<sheetData>") + len("<sheetData>"), xml.index("</sheetData>")
                header = xml[start : xml.index("</row>") + len("</row>")]
                content = (xml[:start] + header + data + xml[end:]).encode()
            elif info.filename == "docProps/core.xml":
                content = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", iso, content)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6]), content, zipfile.ZIP_DEFLATED)
    return out.getvalue()
