"""The data team's *Feeds* page: per agency what was sent, loaded, held back and refused, its
freshness (schedule, last file loaded, next expected by, overdue); each agency's recent deliveries
with their match rate and field agreement, flagged ones marked; refused files with their
quarantine report and Data Docs page; held-back rows by reason; the review queue.

The per-agency table is built from :data:`AGENCY_FACTS`, functions that each return some
columns indexed by agency: a new measure (recorded needs, say) is one more
function in that list, and the template shows whatever columns they return.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from pipeline.ingest.status import agency_status, feed_table
from pipeline.linkage.monitoring import recent_deliveries
from pipeline.linkage.review_queue import open_queue
from pipeline.warehouse.engine import Warehouse
from pipeline.web.access import acting
from pipeline.web.common import SignedIn, frame_rows, render, require, web_of

__all__ = ["AGENCY_FACTS", "router"]

router = APIRouter()

_HELD = """
select agency, reasons, count(*) as rows_held from ops.held_rows where status = 'held'
group by agency, reasons order by agency, rows_held desc
"""


def _ledger(wh: Warehouse) -> pd.DataFrame:
    """Files and rows per agency, from the ledger (every declared agency, even if silent)."""
    status = pd.DataFrame.from_dict(agency_status(wh), orient="index")
    return status[["files_loaded", "files_refused", "rows_sent", "rows_loaded", "rows_held",
                   "rows_in_refused_files", "balanced"]]


def _freshness(wh: Warehouse) -> pd.DataFrame:
    """Schedule, last file loaded, when the next is expected and whether it is overdue: the table
    ``familyhub status`` and the report show (:func:`pipeline.ingest.status.feed_table`)."""
    return feed_table(wh, date.today()).set_index("agency")


def _deliveries(wh: Warehouse) -> pd.DataFrame:
    """Each agency's recent deliveries with their match rate and field agreement, in words."""
    rates = recent_deliveries(wh, RECENT_DELIVERIES)
    agreement = [", ".join(f"{k} {v:.0%}" for k, v in json.loads(a).items() if pd.notna(v)) if a else ""
                 for a in rates.pop("agreement_json")]  # NaN: the field was missing in every link
    return rates.assign(agreement=agreement, match_rate=rates["match_rate"].map("{:.0%}".format))


#: Per-agency facts, each a frame indexed by agency; columns appear in this order.
AGENCY_FACTS: list[Callable[[Warehouse], pd.DataFrame]] = [_ledger, _freshness]
RECENT_DELIVERIES = 5  # per agency, in the match-rate table
LABELS = {"files_loaded": "Files loaded", "files_refused": "Files refused", "rows_sent": "Rows sent",
          "rows_loaded": "Rows loaded", "rows_held": "Rows held back", "rows_in_refused_files": "Rows in refused files",
          "balanced": "Rows add up", "last file": "Last file loaded"}


@router.get("/feeds")
def feeds_page(request: Request, actor: SignedIn) -> Response:
    require(request, actor, "feeds")
    wh = web_of(request).wh
    with acting(actor):
        table = pd.concat([fact(wh) for fact in AGENCY_FACTS], axis=1)
        table.index.name = "agency"
        refused = wh.read("select file_id, agency, file_name, extract_date, received_at, reason, report_path "
                          "from ops.files where status = 'refused' order by received_at desc")
        held = wh.read(_HELD)
        queue = len(open_queue(wh))
        deliveries = _deliveries(wh)
    refused["has_docs"] = refused["file_id"].map(lambda i: _docs_page(request, int(i)) is not None)
    columns = [(c, LABELS.get(c, c.replace("_", " ").capitalize())) for c in table.columns]
    return render(request, "feeds.html", actor, agencies=frame_rows(table.reset_index()), columns=columns,
                  refused=frame_rows(refused), held=frame_rows(held), queue=queue,
                  deliveries=frame_rows(deliveries), recent=RECENT_DELIVERIES)


def _refused(request: Request, file_id: int) -> dict:
    rows = web_of(request).wh.read("select * from ops.files where file_id = :i and status = 'refused'", {"i": file_id})
    if rows.empty:
        raise HTTPException(404, "no such refused file")
    return rows.iloc[0].to_dict()


def _docs_page(request: Request, file_id: int) -> Path | None:
    """The file's Data Docs page (GX's validation page), if the gate drew one."""
    site = web_of(request).settings.data_docs
    if site is None or not site.is_dir():
        return None
    pages = sorted((site / "validations").glob(f"*/{file_id}__*/*/*.html"))
    return pages[-1] if pages else None


@router.get("/feeds/report/{file_id}")
def quarantine_report(request: Request, file_id: int, actor: SignedIn) -> Response:
    """A refused file's quarantine report, as the gate wrote it."""
    require(request, actor, "feeds")
    with acting(actor):
        path = _refused(request, file_id).get("report_path")
    if not path or not Path(path).is_file():
        raise HTTPException(404, "the quarantine report is not on this server")
    return PlainTextResponse(Path(path).read_text(encoding="utf-8", errors="replace"))


@router.get("/feeds/docs/{file_id}")
def data_docs_page(request: Request, file_id: int, actor: SignedIn) -> Response:
    """A file's Great Expectations Data Docs page (its CDN styles stay blocked: plain but complete)."""
    require(request, actor, "feeds")
    page = _docs_page(request, file_id)
    if page is None:
        raise HTTPException(404, "no Data Docs page for this file (refused before validation?)")
    return HTMLResponse(page.read_text(encoding="utf-8"),
                        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})
