"""The file ledger's two recognition rules, and the archive of processed files.

A poke of the landing folders must not cost more as years of files pile up, so a file is
recognised in two steps, shared by ``familyhub ingest`` and the Airflow sensor:

1. **Unchanged file** (:func:`recorded`): a file the ledger holds under the same name, size and
   modification time is the file already seen; it is not read or hashed again. One set-based
   query answers for every file of a poke.
2. **Re-send** (:func:`earlier_copy`): any other file is hashed; the same bytes already loaded,
   or refused under this very name, change nothing.

With ``--archive`` (``FAMILYHUB_ARCHIVE=1`` for Airflow), a processed file (loaded, refused and
quarantined, or recognised as a re-send) is moved to ``landing/<agency>/processed/YYYY/``, YYYY
being its extract year (else the year it was processed); :func:`find_files` lists only the
files directly in the agency's folder, so archived files are never read again.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pandas as pd

from pipeline.warehouse.engine import Warehouse

__all__ = ["PROCESSED", "archive", "earlier_copy", "file_stats", "recorded", "sha256_of"]

PROCESSED = "processed"


def sha256_of(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def file_stats(paths: Sequence[Path]) -> pd.DataFrame:
    """Name, size and modification time (ns) of each path, as the ledger records them; the
    link itself for a symbolic link (never followed)."""
    stats = [os.lstat(p) for p in paths]
    return pd.DataFrame({"path": [str(p) for p in paths], "file_name": [p.name for p in paths],
                         "size_bytes": pd.Series([s.st_size for s in stats], dtype="int64"),
                         "mtime_ns": pd.Series([s.st_mtime_ns for s in stats], dtype="int64")})


def recorded(wh: Warehouse, paths: Sequence[Path]) -> pd.DataFrame:
    """Ledger rows (path, file_id, status) of the paths the ledger already holds under the same
    name, size and modification time: these are not hashed again. One query for all paths."""
    if not paths:
        return pd.DataFrame(columns=["path", "file_id", "status"])
    with wh.begin() as conn, wh.staged(conn, "_fh_stat", file_stats(paths)):
        return wh.read("select s.path, min(f.file_id) as file_id, min(f.status) as status from _fh_stat s "
                       "join ops.files f on f.file_name = s.file_name and f.size_bytes = s.size_bytes "
                       "and f.mtime_ns = s.mtime_ns and f.status in ('loaded', 'refused') "
                       "group by s.path", conn=conn)


def earlier_copy(wh: Warehouse, sha: str, name: str) -> pd.DataFrame:
    """Ledger rows (file_id, status) this file re-sends: the same bytes already loaded, or refused
    under this very name. Bytes refused under another name (a misnamed file sent again correctly
    named) are judged afresh."""
    return wh.read("select file_id, status from ops.files where sha256 = :s "
                   "and (status <> 'refused' or file_name = :n) order by file_id", {"s": sha, "n": name})


def archive(path: Path, extract: date | None) -> Path:
    """Move a processed landing file to ``<agency folder>/processed/YYYY/``; a name already there
    (a re-send) gets a ``.N`` suffix, so nothing is overwritten."""
    folder = path.parent / PROCESSED / str((extract or date.today()).year)
    folder.mkdir(parents=True, exist_ok=True)
    target, n = folder / path.name, 1
    while target.exists():
        target, n = folder / f"{path.name}.{n}", n + 1
    return path.replace(target)
