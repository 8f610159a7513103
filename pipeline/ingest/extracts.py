"""Read one partner extract, exactly as delivered, in chunks of text columns.

Every value stays text as received (xlsx date cells become ISO text), so the raw layer
is lossless and the quality gate sees what the agency sent. Reading streams in chunks
so a million-row file never sits in memory at once. Delimited text is parsed by pyarrow's
CSV reader straight into Arrow strings (no Python object per cell); the few files it reads
differently from pandas' C reader (rows with fewer fields than the header, which pandas pads
with blanks, and repeated header names) are read by pandas as before.
"""

from __future__ import annotations

import codecs
import csv
import functools
import warnings
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pipeline.ingest.agencies import Agency

__all__ = ["ExtractError", "read_extract"]

CHUNK_ROWS = 200_000
#: Arrow-backed strings: vectorised string functions in C++, a fraction of object memory.
TEXT = "string[pyarrow]"
_ARROW_TEXT = {pa.string(): pd.StringDtype("pyarrow")}.get
#: The characters ``str.strip()`` strips (every ``c`` with ``c.isspace()``), for Arrow's trim.
_WHITESPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


class _PandasReads(Exception):
    """pyarrow would read this file differently from pandas: read it with pandas."""


class ExtractError(ValueError):
    """The file cannot be read at all: it is refused whole. The message says why and where."""


def read_extract(path: Path, agency: Agency, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Yield chunks of the file's rows as text frames with a ``row_number`` column (1 = first data row).

    Raises :class:`ExtractError` for an empty file, a file with a header and no rows, bytes that do
    not decode, rows that do not parse, or a missing sheet: the caller refuses the file.
    """
    if path.stat().st_size == 0:
        raise ExtractError(f"{path.name}: the file is empty (0 bytes)")
    reader = _read_xlsx if agency.file.format == "xlsx" else _read_csv
    rows = 0
    for chunk in reader(path, agency, chunk_rows):
        if chunk.empty:
            continue
        chunk.insert(0, "row_number", range(rows + 1, rows + 1 + len(chunk)))
        rows += len(chunk)
        yield chunk
    if rows == 0:
        raise ExtractError(f"{path.name}: the file has a header row but no data rows")


def _read_csv(path: Path, agency: Agency, chunk_rows: int) -> Iterator[pd.DataFrame]:
    spec = agency.file
    try:
        with warnings.catch_warnings():  # a row longer than the header must refuse, not truncate
            warnings.simplefilter("error", pd.errors.ParserWarning)
            yield from _csv_chunks(path, agency, chunk_rows)
    except UnicodeDecodeError:
        raise _undecodable(path, spec.encoding) from None
    except pd.errors.EmptyDataError:
        raise ExtractError(f"{path.name}: no header row") from None
    except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        raise ExtractError(f"{path.name}: cannot be parsed as {spec.delimiter!r}-delimited text: {exc}") from None


def _undecodable(path: Path, encoding: str) -> ExtractError:
    return ExtractError(f"{path.name}: cannot be decoded as {encoding}: {_first_bad_bytes(path, encoding)}")


def _first_bad_bytes(path: Path, encoding: str) -> str:
    """Locate the first undecodable bytes by line, for the refusal report (only runs on failure)."""
    for number, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        try:
            line.decode(encoding)
        except UnicodeDecodeError as exc:
            where = "the header" if number == 1 else f"data row {number - 1}"
            return f"byte 0x{line[exc.start]:02x} in {where} (line {number}, column {exc.start + 1})"
    return "undecodable bytes"


def _csv_chunks(path: Path, agency: Agency, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """pyarrow's reader; from the first row it would read differently on, pandas' reader."""
    done = 0
    try:
        for chunk in _arrow_chunks(path, agency, chunk_rows):
            done += len(chunk)
            yield chunk
    except _PandasReads:
        for chunk in _pandas_chunks(path, agency, chunk_rows):
            skip, done = min(done, len(chunk)), done - min(done, len(chunk))
            yield chunk.iloc[skip:].reset_index(drop=True)


def _header(path: Path, agency: Agency) -> list[str]:
    with path.open(encoding=agency.file.encoding, newline="") as fh:
        header = next(csv.reader(fh, delimiter=agency.file.delimiter), None)
    if not header:
        raise pd.errors.EmptyDataError
    if len(set(header)) < len(header):
        raise _PandasReads  # pandas renames repeated names (X, X.1)
    return header


def _arrow_chunks(path: Path, agency: Agency, chunk_rows: int) -> Iterator[pd.DataFrame]:
    spec = agency.file
    header = _header(path, agency)
    utf8 = codecs.lookup(spec.encoding).name in {"utf-8", "utf-8-sig"}
    invalid: list[pacsv.InvalidRow] = []

    def invalid_row(row: pacsv.InvalidRow) -> str:
        invalid.append(row)
        return "error"

    names = [c.strip() for c in header]
    batches: list[pa.RecordBatch] = []
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(encoding="utf8" if utf8 else spec.encoding, column_names=header,
                                           skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=spec.delimiter, newlines_in_values=True,
                                             invalid_row_handler=invalid_row),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()),
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
        for batch in reader:
            batches.append(batch)
            if sum(len(b) for b in batches) >= chunk_rows:
                yield _frame(batches, names)
                batches = []
    except pa.ArrowInvalid as exc:
        if "invalid UTF8" in str(exc):
            raise _undecodable(path, spec.encoding) from None
        if invalid and invalid[0].actual_columns < invalid[0].expected_columns:
            raise _PandasReads from None  # pandas pads short rows with blanks
        why = (f"a row has {invalid[0].actual_columns} fields where the header has {invalid[0].expected_columns}"
               if invalid else str(exc))
        raise ExtractError(f"{path.name}: cannot be parsed as {spec.delimiter!r}-delimited text: {why}") from None
    if batches:
        yield _frame(batches, names)


def _frame(batches: list[pa.RecordBatch], names: list[str]) -> pd.DataFrame:
    frame = pa.Table.from_batches(batches).to_pandas(types_mapper=_ARROW_TEXT)
    frame.columns = names
    return frame


def _pandas_chunks(path: Path, agency: Agency, chunk_rows: int) -> Iterator[pd.DataFrame]:
    spec = agency.file
    reader = pd.read_csv(
        path, sep=spec.delimiter, encoding=spec.encoding, dtype=str, keep_default_na=False, na_filter=False,
        chunksize=chunk_rows, quoting=csv.QUOTE_MINIMAL, engine="c", index_col=False,
    )
    for chunk in reader:
        chunk.columns = [str(c).strip() for c in chunk.columns]
        yield chunk.fillna("").astype(TEXT)


def _cell_text(value: object) -> str:
    """Render an Excel cell as text: dates as ISO, whole numbers without '.0'."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _read_xlsx(path: Path, agency: Agency, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The declared sheet through calamine (Rust; ten times openpyxl's speed, same cell values).
    calamine holds the sheet's cells while it is read; the size limits refuse huge workbooks first."""
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        wb = CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError) as exc:
        raise ExtractError(f"{path.name}: not a readable xlsx workbook (truncated or corrupt): {exc}") from None
    sheet = agency.file.sheet
    if sheet not in wb.sheet_names:
        raise ExtractError(f"{path.name}: no sheet named '{sheet}' (sheets: {', '.join(wb.sheet_names)})")
    try:
        rows = iter(wb.get_sheet_by_name(sheet).iter_rows())
    except CalamineError as exc:
        raise ExtractError(f"{path.name}: the workbook is truncated or corrupt: {exc}") from None
    try:
        header = [_cell_text(v) for v in next(rows)]
    except StopIteration:
        raise ExtractError(f"{path.name}: sheet '{sheet}' is empty") from None
    while header and header[-1] == "":
        header.pop()
    width = len(header)
    buffer: list[list] = []
    for values in rows:
        buffer.append(values[:width])
        if len(buffer) >= chunk_rows:
            yield _sheet_frame(buffer, header)
            buffer = []
    if buffer:
        yield _sheet_frame(buffer, header)


def _sheet_frame(rows: list[list], header: list[str]) -> pd.DataFrame:
    """Cells as text (:func:`_cell_text`) column by column, blank rows dropped. A column of text
    cells only (most of them) is stripped by Arrow of exactly what ``str.strip`` strips; the
    others are rendered cell by cell."""
    cells = pd.DataFrame(rows, dtype=object).reindex(columns=range(len(header)))
    text = [pc.utf8_trim(pc.fill_null(pa.array(cells[i], type=pa.string(), from_pandas=True), ""), _WHITESPACE)
            if pd.api.types.infer_dtype(cells[i]) in {"string", "empty"}
            else pa.array(cells[i].map(_cell_text, na_action="ignore").fillna(""), type=pa.string())
            for i in cells.columns]
    table = pa.table(text, names=[str(i) for i in range(len(text))])
    filled = [pc.not_equal(column, "") for column in text]
    frame = table.filter(functools.reduce(pc.or_, filled)).to_pandas(types_mapper=_ARROW_TEXT)
    frame.columns = header
    return frame
