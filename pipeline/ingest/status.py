"""Load status per agency, from the file ledger: what was sent, loaded, held back and refused.

For every agency ``rows_loaded + rows_held + rows_in_refused_files == rows_sent``: nothing is
silently lost.
"""

from __future__ import annotations

from typing import Any

from pipeline.ingest.agencies import agency_names
from pipeline.warehouse.engine import Warehouse

__all__ = ["agency_status"]

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


def agency_status(wh: Warehouse) -> dict[str, dict[str, Any]]:
    """Per declared agency: files loaded/refused and rows sent/loaded/held back/in refused files."""
    frame = wh.read(_SQL).set_index("agency")
    out: dict[str, dict[str, Any]] = {}
    for name in agency_names():
        row = frame.loc[name] if name in frame.index else None
        stats = {col: (0 if row is None else int(row[col])) for col in
                 ("files_loaded", "files_refused", "rows_sent", "rows_loaded", "rows_held",
                  "rows_in_refused_files", "refused_files_rows_unknown")}
        stats["latest_extract"] = None if row is None or row["latest_extract"] is None else str(row["latest_extract"])[:10]
        stats["balanced"] = stats["rows_loaded"] + stats["rows_held"] + stats["rows_in_refused_files"] == stats["rows_sent"]
        out[name] = stats
    return out
