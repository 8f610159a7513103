"""Hostile input, refused cheaply before any parsing: unsafe paths, oversized files, xlsx bombs.

A landing file must be a regular file (not a symlink, device or pipe) directly in its
agency's folder, with a plain name. Its size, its number of rows and cells, and for a
workbook its uncompressed size, compression ratio, member count and declared sheet
dimension must stay within configurable limits (environment variables below); a workbook
must not carry a DTD (entity expansion), and every member must inflate cleanly (CRC). Each check raises :class:`ExtractError`, so the
file is refused with the reason in its quarantine report.
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass, fields
from pathlib import Path

from pipeline.ingest.agencies import Agency
from pipeline.ingest.extracts import ExtractError
from pipeline.settings import Settings, settings

__all__ = ["Limits", "UnsafePath", "check_limits", "check_path"]

_BLOCK = 1 << 20
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="[A-Z]+\d+:([A-Z]+)(\d+)"')
_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


class UnsafePath(ExtractError):
    """The path is not a plain file in the agency's landing folder: it is not read at all."""


def _default(limit: str) -> int:
    return Settings.model_fields[f"max_{limit}"].default


@dataclass(frozen=True)
class Limits:
    """Upper bounds for one landing file; each is the setting ``FAMILYHUB_MAX_<FIELD>``
    (defaults and meaning in :class:`pipeline.settings.Settings`)."""

    file_bytes: int = _default("file_bytes")
    rows: int = _default("rows")
    cells: int = _default("cells")
    xlsx_uncompressed_bytes: int = _default("xlsx_uncompressed_bytes")
    xlsx_ratio: int = _default("xlsx_ratio")
    xlsx_members: int = _default("xlsx_members")

    @classmethod
    def from_env(cls) -> Limits:
        env = settings()
        return cls(**{f.name: getattr(env, f"max_{f.name}") for f in fields(cls)})


def check_path(path: Path, agency: Agency) -> None:
    """Refuse a path that could read outside the landing folder or block: traversal, symlinks,
    devices, pipes, control characters; the file must sit in ``<landing>/<agency>/``."""
    name = path.name
    if ".." in path.parts or any(ch in name for ch in "\\/\0") or not name.isprintable() or name.startswith("."):
        raise UnsafePath(f"unsafe file name {name!r}: path traversal or control characters")
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise UnsafePath(f"{name}: cannot be read ({exc.strerror})") from None
    if stat.S_ISLNK(info.st_mode) or path.parent.is_symlink():
        raise UnsafePath(f"{name}: a symbolic link; only files delivered into the landing folder are read")
    if not stat.S_ISREG(info.st_mode):
        raise UnsafePath(f"{name}: not a regular file")
    if path.parent.name != agency.name:
        raise UnsafePath(f"{name}: not in the {agency.name} landing folder")


def _count_lines(path: Path) -> tuple[int, bytes]:
    """(newlines, delimiters in the first line), streaming in 1 MiB blocks."""
    lines, first = 0, b""
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            if not first:
                first = block.split(b"\n", 1)[0]
            lines += block.count(b"\n")
    return lines, first


def _check_text(path: Path, agency: Agency, limits: Limits) -> None:
    newlines, header = _count_lines(path)
    columns = header.count(agency.file.delimiter.encode()) + 1
    rows = max(newlines - 1, 0)
    if rows > limits.rows:
        raise ExtractError(f"{path.name}: about {rows:,} rows, more than the limit of {limits.rows:,} "
                           "(FAMILYHUB_MAX_ROWS)")
    if rows * columns > limits.cells:
        raise ExtractError(f"{path.name}: about {rows * columns:,} cells, more than the limit of "
                           f"{limits.cells:,} (FAMILYHUB_MAX_CELLS)")


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


def _check_xlsx(path: Path, limits: Limits) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
            if len(members) > limits.xlsx_members:
                raise ExtractError(f"{path.name}: {len(members):,} files inside the workbook, more than "
                                   f"the limit of {limits.xlsx_members:,} (FAMILYHUB_MAX_XLSX_MEMBERS)")
            total = sum(m.file_size for m in members)
            if total > limits.xlsx_uncompressed_bytes:
                raise ExtractError(f"{path.name}: {total:,} bytes uncompressed, more than the limit of "
                                   f"{limits.xlsx_uncompressed_bytes:,} (FAMILYHUB_MAX_XLSX_UNCOMPRESSED_BYTES): "
                                   "a zip bomb or an oversized workbook")
            for m in members:
                if m.file_size > 1 << 16 and m.file_size > limits.xlsx_ratio * max(m.compress_size, 1):
                    raise ExtractError(f"{path.name}: {m.filename} inflates {m.file_size // max(m.compress_size, 1):,}"
                                       f"-fold, more than the limit of {limits.xlsx_ratio} "
                                       "(FAMILYHUB_MAX_XLSX_RATIO): a zip bomb")
                with zf.open(m) as fh:  # inflate it all once: corruption is refused here, not mid-parse
                    head = fh.read(_BLOCK // 16)
                    while fh.read(_BLOCK):
                        pass
                if m.filename.endswith((".xml", ".rels")):
                    if _DTD.search(head):
                        raise ExtractError(f"{path.name}: {m.filename} declares a DTD or entities, which "
                                           "workbooks never need (XML entity expansion)")
                    dim = _DIMENSION.search(head) if m.filename.startswith("xl/worksheets/") else None
                    if dim:
                        rows, cols = int(dim[2]), _column_number(dim[1])
                        if rows > limits.rows or rows * cols > limits.cells:
                            raise ExtractError(f"{path.name}: the sheet declares {rows:,} rows × {cols} columns, "
                                               f"more than the limits of {limits.rows:,} rows / {limits.cells:,} "
                                               "cells (FAMILYHUB_MAX_ROWS, FAMILYHUB_MAX_CELLS)")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, ValueError,
            NotImplementedError) as exc:
        if isinstance(exc, ExtractError):
            raise
        raise ExtractError(f"{path.name}: not a readable xlsx workbook (truncated or corrupt): {exc}") from None


def check_limits(path: Path, agency: Agency, limits: Limits | None = None) -> None:
    """Refuse a file beyond the size limits, before it is parsed."""
    limits = limits or Limits.from_env()
    size = path.stat().st_size
    if size > limits.file_bytes:
        raise ExtractError(f"{path.name}: {size:,} bytes, more than the limit of {limits.file_bytes:,} "
                           "(FAMILYHUB_MAX_FILE_BYTES)")
    if agency.file.format == "xlsx":
        _check_xlsx(path, limits)
    else:
        _check_text(path, agency, limits)
