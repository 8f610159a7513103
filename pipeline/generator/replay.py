"""A generated area delivered month by month: a baseline, then one delta per month.

``generate(out, n, seed, extracts=13)`` schedules every record version into the extract that
first sees it (by the date the agency knew it), so the first extract is the baseline of all
history up to a year before the as-of date and each later one is a month of news. This module
groups the landing files into those deliveries and copies a delivery into a landing folder,
so a test or benchmark can run the pipeline once per month, as a council would
(``tests/test_year.py``, ``benchmarks/year.py``), and compare with one run on every file.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from pipeline.generator.dates import add_months

__all__ = ["Delivery", "deliveries", "stage"]


@dataclass(frozen=True)
class Delivery:
    """The files that arrive in one month, and the date the month's run is as of."""

    as_of: date
    files: tuple[str, ...]  # paths relative to the generated folder, landing/<agency>/<name>


def deliveries(out: Path) -> list[Delivery]:
    """The landing files of a generated folder grouped by month: the baseline first.

    A file belongs to the first month end (the as-of day of each of the ``extracts`` months)
    on or after its extract date; months with no file are kept (empty), so there is always
    one delivery per extract month.
    """
    manifest = json.loads((Path(out) / "manifest.json").read_text())
    as_of = date.fromisoformat(manifest["as_of"])
    n = manifest.get("extracts", 4)
    ends = [add_months(as_of, -k) for k in range(n - 1, -1, -1)]
    files = [m for m in manifest["files"] if m["path"].startswith("landing/")]
    month = np.searchsorted(np.array(ends, dtype="datetime64[D]"),
                            np.array([m["extract_date"] for m in files], dtype="datetime64[D]"), side="left")
    if len(files) and month.max() >= n:
        raise ValueError(f"{out}: a landing file is dated after the as-of date {as_of}")
    return [Delivery(end, tuple(sorted(f["path"] for f, m in zip(files, month, strict=True) if m == i)))
            for i, end in enumerate(ends)]


def stage(out: Path, delivery: Delivery, landing: Path) -> list[Path]:
    """Copy one delivery's files into ``landing/<agency>/`` (where ingest finds new files)."""
    copied = []
    for rel in delivery.files:
        source = Path(out) / rel
        target = Path(landing) / source.parent.name / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        copied.append(target)
    return copied
