"""Load status per agency, from the file ledger: what was sent, loaded, held back and refused,
whether the agency's extract is on schedule (:mod:`pipeline.ingest.freshness`), and its
deliveries flagged by linkage monitoring (:mod:`pipeline.linkage.monitoring`).

For every agency ``rows_loaded + rows_held + rows_in_refused_files == rows_sent``: nothing is
silently lost.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from pipeline.ingest.agencies import agency_names
from pipeline.ingest.freshness import freshness
from pipeline.linkage.monitoring import flagged_deliveries
from pipeline.warehouse.engine import Warehouse

__all__ = ["agency_status", "feed_table", "freshness_state"]

_SQL = """
select agency,
       sum(case when status = 'loaded' then 1 else 0 end) as files_loaded,
       sum(case when status = 'refused' then 1 else 0 end) as files_refused,
       coalesce(sum(rows_sent), 0) as rows_sent,
       coalesce(sum(case when status = 'loaded' then rows_loaded else 0 end), 0) as rows_loaded,
       coalesce(sum(case when status = 'loaded' then rows_held else 0 end), 0) as rows_held,
       coalesce(sum(case when status = 'refused' then rows_sent else 0 end), 0) as rows_in_refused_files,
       sum(case when status = 'refused' and rows_sent is null then 1 else 0 end) as refused_files_rows_unknown,
       max(extract_date) as latest_extract
from ops.files group by agency
"""


def agency_status(wh: Warehouse, at: date | None = None) -> dict[str, dict[str, Any]]:
    """Per declared agency: files loaded/refused and rows sent/loaded/held back/in refused files,
    its freshness at ``at`` (default today) and its deliveries flagged by linkage monitoring."""
    frame = wh.read(_SQL).set_index("agency")
    fresh = {f.agency: f for f in freshness(wh, at or date.today())}
    flagged = flagged_deliveries(wh)
    out: dict[str, dict[str, Any]] = {}
    for name in agency_names():
        row = frame.loc[name] if name in frame.index else None
        stats = {col: (0 if row is None else int(row[col])) for col in
                 ("files_loaded", "files_refused", "rows_sent", "rows_loaded", "rows_held",
                  "rows_in_refused_files", "refused_files_rows_unknown")}
        stats["latest_extract"] = None if row is None or row["latest_extract"] is None else str(row["latest_extract"])[:10]
        stats["balanced"] = stats["rows_loaded"] + stats["rows_held"] + stats["rows_in_refused_files"] == stats["rows_sent"]
        stats["freshness"] = fresh[name].as_dict()
        stats["flagged_deliveries"] = [{"file_name": r.file_name, "reason": r.reason}
                                       for r in flagged[flagged["agency"] == name].itertuples()]
        out[name] = stats
    return out


def freshness_state(f: dict[str, Any]) -> str:
    """``OVERDUE N day(s)``, ``on time`` or ``no file yet`` (``f``: :meth:`Freshness.as_dict`)."""
    if f["last_extract"] is None:
        return "no file yet"
    return f"OVERDUE {f['days_overdue']} day(s)" if f["overdue"] else "on time"


def feed_table(wh: Warehouse, at: date) -> pd.DataFrame:
    """One row per agency for the report: schedule, last file, expected by, state, flagged deliveries."""
    flagged = flagged_deliveries(wh).groupby("agency")["file_name"].agg(", ".join)
    return pd.DataFrame([{"agency": f.agency, "schedule": f"{f.every} (+{f.grace_days} days)",
                          "last file": f.last_file or "-", "next expected by": f.expected_by or "-",
                          "state": freshness_state(f.as_dict()), "deliveries flagged by linkage": flagged.get(f.agency, "")}
                         for f in freshness(wh, at)])
