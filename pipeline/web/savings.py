"""The *Savings* page, for managers and coordinators: what attached families cost in the 12
months before attachment and in the latest 12 months, and the estimated saving, per programme
and per claim window of attachment; the savings calculator's figures
(:mod:`pipeline.programme.savings`, recorded when the programme report is made).

Aggregates only, read from ``reporting.pseudonymised_savings`` (no family id or ref in it), so a
manager's database role (``familyhub_analyst``, pseudonymised views only) backs the rule.
"""

from __future__ import annotations

import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import Response

from pipeline.web.access import acting
from pipeline.web.common import SignedIn, frame_rows, render, require, web_of

__all__ = ["router"]

router = APIRouter()
FIGURES = ["families", "cost_before", "cost_latest", "saving"]


@router.get("/savings")
def savings_page(request: Request, actor: SignedIn) -> Response:
    require(request, actor, "savings")
    wh = web_of(request).wh
    with acting(actor):
        rows = wh.read("select * from reporting.pseudonymised_savings order by programme, attached_window")
    rows = rows.astype({"families": "int64", **{c: float for c in FIGURES[1:]}})
    latest = rows[pd.to_datetime(rows["as_of"]) == pd.to_datetime(rows["as_of"]).groupby(rows["programme"])
                  .transform("max")]  # each programme's latest calculation
    summary = latest.groupby(["programme", "as_of"], as_index=False).agg(
        {**dict.fromkeys(FIGURES, "sum"), "computed_at": "max"})
    return render(request, "savings.html", actor, summary=frame_rows(summary), windows=frame_rows(latest))
