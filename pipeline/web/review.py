"""The data team's *Review* page: one uncertain pair at a time, side by side, blind (no scores)
unless the reviewer asks for the match-weight waterfall; match, non-match or unsure. Names are
shown only after a stated reason, carried by every form of the review sitting and audited for
each pair shown. A decision binds the next ``familyhub link``."""

from __future__ import annotations

from typing import Any

import pandas as pd
from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from pipeline.governance import audit
from pipeline.linkage.review_queue import (
    explain_pair,
    mention_details,
    open_queue,
    record_decision,
    subjects_of,
)
from pipeline.web.access import acting
from pipeline.web.accounts import Actor
from pipeline.web.common import SignedIn, check_csrf, frame_rows, reason_of, render, require, web_of

__all__ = ["router"]

router = APIRouter()
ANSWERS = (("match", "Same person"), ("non-match", "Different people"), ("unsure", "Unsure"))


def _side_by_side(details: pd.DataFrame, left: str, right: str) -> list[dict[str, Any]]:
    """Field, left value, right value, whether they agree; fields empty on both sides left out."""
    rows = details.set_index("mention_id").reindex([left, right]).T.fillna("").astype(str)
    rows = rows[(rows != "").any(axis=1)]
    return [{"field": field, "left": a, "right": b, "same": a == b and a != ""}
            for field, (a, b) in rows.iterrows()]


def _pair_page(request: Request, actor: Actor, reason: str, weights: bool, message: str | None) -> Response:
    wh = web_of(request).wh
    with acting(actor):
        queue = open_queue(wh)
        if queue.empty:
            return render(request, "review.html", actor, reason=reason, pair=None, waiting=0, message=message)
        pair = queue.iloc[0]
        left, right = pair["mention_id_l"], pair["mention_id_r"]
        audit.record(wh, "view_records", who=actor.name, reason=reason, subjects=subjects_of(wh, [left, right]),
                     detail="web review: one pair" + (" with match weights" if weights else ""))
        details = mention_details(wh, [left, right])
        waterfall = explain_pair(wh, left, right).waterfall if weights else None
    return render(request, "review.html", actor, reason=reason, waiting=len(queue), message=message,
                  pair={"left": left, "right": right, "fields": _side_by_side(details, left, right),
                        "weight": float(pair["match_weight"]), "probability": float(pair["match_probability"])},
                  weights=weights, waterfall=frame_rows(waterfall) if waterfall is not None else [],
                  answers=ANSWERS)


@router.get("/review")
def review_start(request: Request, actor: SignedIn) -> Response:
    """How many pairs wait, and the reason form (names only after a stated reason)."""
    require(request, actor, "review")
    with acting(actor):
        waiting = len(open_queue(web_of(request).wh))
    return render(request, "review.html", actor, reason=None, pair=None, waiting=waiting, message=None)


async def _sitting(request: Request, actor: Actor) -> tuple[Any, str]:
    """A review form, checked: its CSRF token, the role, and the reason the sitting states."""
    form = await request.form()
    check_csrf(actor, form)
    require(request, actor, "review")
    reason = reason_of(form)
    if reason is None:
        raise HTTPException(400, "say why you are reviewing (e.g. 'weekly clerical review')")
    return form, reason


@router.post("/review")
async def review_pair(request: Request, actor: SignedIn) -> Response:
    """The next pair (with ``weights``: its waterfall too), for the reason stated."""
    form, reason = await _sitting(request, actor)
    return await run_in_threadpool(_pair_page, request, actor, reason, bool(form.get("weights")), None)


def _decide(request: Request, actor: Actor, form: Any, reason: str) -> Response:
    decision = str(form.get("decision") or "")
    left, right = str(form.get("left") or ""), str(form.get("right") or "")
    with acting(actor):
        try:
            outcome = record_decision(web_of(request).wh, left, right, decision, by=actor.name,
                                      note=str(form.get("note") or ""))
        except (ValueError, KeyError) as exc:
            raise HTTPException(400, str(exc)) from exc
    message = f"recorded: {decision}" if outcome.added else "that answer was already recorded"
    return _pair_page(request, actor, reason, False, message + " (it binds from the next link run)")


@router.post("/review/decide")
async def review_decide(request: Request, actor: SignedIn) -> Response:
    """Record the answer on the pair shown, then show the next one."""
    form, reason = await _sitting(request, actor)
    return await run_in_threadpool(_decide, request, actor, form, reason)
