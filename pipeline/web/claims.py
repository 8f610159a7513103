"""The *Claims* page: a window's payment-by-results claims with their evidence, the attachment
cap remaining, and the CSV return (a stated reason, audited first). Coordinators see the claims
worked out now (:func:`pipeline.programme.claims.make_claims`, not recorded until the return is
made); managers see the recorded claims pseudonymised."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from pipeline.governance import audit
from pipeline.programme.claims import cap_status, make_claims, write_return
from pipeline.programme.cohort import load_programme
from pipeline.programme.payments import ClaimWindow, load_payments
from pipeline.web.access import acting, allowed
from pipeline.web.accounts import Actor
from pipeline.web.common import SignedIn, check_csrf, frame_rows, reason_of, render, require, web_of

__all__ = ["router"]

router = APIRouter()
PROGRAMMES = ("tf2015", "tf2012")


def _window_now() -> str:
    today = date.today()
    return f"{today.year}-H{1 if today.month <= 6 else 2}"


def _chosen(query: Any) -> tuple[str, str]:
    programme = str(query.get("programme") or PROGRAMMES[0])
    window = str(query.get("window") or _window_now()).strip().upper()
    if programme not in PROGRAMMES:
        raise HTTPException(400, f"unknown programme '{programme}'")
    try:
        ClaimWindow.parse(window)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc
    return programme, window


def _claims_context(request: Request, actor: Actor, programme: str, window: str) -> dict[str, Any]:
    wh = web_of(request).wh
    with acting(actor):
        if allowed(wh, actor, "claims_identifiable"):
            result = make_claims(wh, programme, window, record=False)
            claims, cap = result.claims, result.cap
            audit.record(wh, "view_records", who=actor.name, reason=f"claims page: {programme} {window}",
                         subjects=claims[["family_id"]], detail=f"claims with evidence: {len(claims)} claims")
            not_claimed = result.not_claimed.groupby(["payment", "reason"]).size().reset_index(name="families") \
                if len(result.not_claimed) else result.not_claimed
            identifiable = True
        else:
            claims = wh.read("select * from reporting.pseudonymised_claim where programme = :p and claim_window = :w "
                             "order by payment, family_ref", {"p": programme, "w": window})
            attachment_years = wh.read("select programme_year from reporting.pseudonymised_claim "
                                       "where programme = :p and payment = 'attachment'", {"p": programme})
            cap = cap_status(load_payments(load_programme(programme)),
                             attachment_years["programme_year"].astype("int64"))
            not_claimed, identifiable = None, False
    totals = claims.groupby("payment")["amount"].agg(["count", "sum"]).reset_index() if len(claims) else None
    return {"programme": programme, "window": window, "programmes": PROGRAMMES, "identifiable": identifiable,
            "claims": frame_rows(claims), "cap": frame_rows(cap),
            "not_claimed": frame_rows(not_claimed) if not_claimed is not None and len(not_claimed) else [],
            "totals": frame_rows(totals) if totals is not None else [],
            "total": float(claims["amount"].sum()) if len(claims) else 0.0}


@router.get("/claims")
def claims_page(request: Request, actor: SignedIn) -> Response:
    require(request, actor, "claims")
    programme, window = _chosen(request.query_params)
    try:
        context = _claims_context(request, actor, programme, window)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc
    return render(request, "claims.html", actor, **context)


def _return_csv(request: Request, actor: Actor, programme: str, window: str, reason: str) -> bytes:
    wh = web_of(request).wh
    with acting(actor), tempfile.TemporaryDirectory() as folder:
        made = make_claims(wh, programme, window).claims
        path = write_return(wh, made, Path(folder) / f"claims-{programme}-{window}.csv", who=actor.name,
                            reason=reason)
        return path.read_bytes()


@router.post("/claims/return")
async def claims_return(request: Request, actor: SignedIn) -> Response:
    """Record the window's claims and download the return; audited (one row per family) first."""
    form = await request.form()
    check_csrf(actor, form)
    require(request, actor, "claims_identifiable")
    programme, window = _chosen(form)
    reason = reason_of(form)
    if reason is None:
        raise HTTPException(400, "say why the return is made (e.g. '2026-H2 return to DLUHC')")
    body = await run_in_threadpool(_return_csv, request, actor, programme, window, reason)
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="claims-{programme}-{window}.csv"'})
