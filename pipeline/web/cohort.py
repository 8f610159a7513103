"""The coordinator's *Cohort* page: filter, sort by priority, attach from the list, compare
programmes, and the area map. Managers get the same page pseudonymised (opaque family refs,
no key workers, no attaching), read through the ``reporting.pseudonymised_*`` views."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from pipeline.programme import keyworkers
from pipeline.web.access import acting, allowed
from pipeline.web.accounts import Actor
from pipeline.web.areamap import tiles
from pipeline.web.common import SignedIn, check_csrf, frame_rows, render, require, web_of

__all__ = ["router"]

router = APIRouter()
PAGE_SIZE = 50
ATTACHMENT = ("attached", "not attached", "closed")

#: One row per family per programme evaluation, the same columns from either source.
IDENTIFIABLE = """
select r.family_id as ref, r.programme, r.as_of, split_part(f.postcode, ' ', 1) as district,
       regexp_replace(split_part(f.postcode, ' ', 1), '[0-9].*$', '') as area, r.criteria,
       r.n_criteria, r.eligible, r.basis, r.priority_rank, r.estimated_annual_cost,
       case when a.closed_on is not null then 'closed' when a.family_id is not null then 'attached'
            else 'not attached' end as attachment, a.key_worker
from cohort.results r
join linked.families f on f.family_id = r.family_id
left join lateral (select x.family_id, x.key_worker, x.closed_on from cohort.attachments x
                   where x.family_id = r.family_id order by x.attached_on desc, x.recorded_at desc limit 1) a on true
"""
PSEUDONYMISED = """
select c.family_ref as ref, c.programme, c.as_of, pf.postcode_district as district,
       regexp_replace(pf.postcode_district, '[0-9].*$', '') as area, c.criteria, c.n_criteria,
       c.eligible, c.basis, c.priority_rank, c.estimated_annual_cost,
       case when pf.status in ('attached', 'closed') then pf.status else 'not attached' end as attachment,
       cast(null as text) as key_worker
from reporting.pseudonymised_cohort c left join reporting.pseudonymised_family pf on pf.family_ref = c.family_ref
"""
_KEY_WORKERS = """
select key_worker from ops.web_users where role = 'keyworker' and not disabled
union select key_worker from cohort.key_workers union select key_worker from cohort.attachments order by 1
"""


#: The table each source's programme-level facts (evaluations, bases, criteria) come from.
RESULTS = {IDENTIFIABLE: "cohort.results", PSEUDONYMISED: "reporting.pseudonymised_cohort"}


def _source(actor: Actor, request: Request) -> str:
    return IDENTIFIABLE if allowed(web_of(request).wh, actor, "cohort_identifiable") else PSEUDONYMISED


def _evaluations(request: Request, source: str) -> list[dict[str, Any]]:
    """Programmes evaluated, each at its latest as-of date, the active one first."""
    wh = web_of(request).wh
    frame = wh.read(f"select programme, max(as_of) as as_of from {RESULTS[source]} group by programme order by 1")
    active = wh.read("select programme from cohort.active") if source is IDENTIFIABLE else None
    rows = frame_rows(frame)
    if active is not None and len(active):
        rows.sort(key=lambda r: r["programme"] != active.iloc[0]["programme"])
    return rows


def _filters(query: Any, programme: str, as_of: Any) -> tuple[list[str], dict[str, Any], dict[str, str]]:
    """SQL conditions, parameters and the filters echoed back to the form."""
    where, params = ["programme = :p", "as_of = :d"], {"p": programme, "d": as_of}
    chosen = {k: str(query.get(k) or "").strip() for k in ("criterion", "basis", "area", "attachment", "all")}
    if not chosen["all"]:
        where.append("eligible")
    if chosen["criterion"]:  # one code of the comma-separated list, spelled so the planner can
        code = chosen["criterion"]  # estimate it from the column's statistics (and walk by priority)
        where.append("(criteria = :c or criteria like :c1 or criteria like :c2 or criteria like :c3)")
        params.update(c=code, c1=f"{code},%", c2=f"%,{code}", c3=f"%,{code},%")
    if chosen["basis"]:
        where.append("basis = :b")
        params["b"] = chosen["basis"]
    area = chosen["area"].upper()
    if area:  # a postcode area (SO: SO14, SO16, not S1) or one district
        where.append("area = :a" if area.isalpha() else "district = :a")
        params["a"] = area
    if chosen["attachment"] in ATTACHMENT:
        where.append("attachment = :t")
        params["t"] = chosen["attachment"]
    return where, params, chosen


def _compare(request: Request, source: str, evaluations: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Families admitted by the first two programmes evaluated: both, only one, only the other."""
    if len(evaluations) < 2:
        return None
    a, b = evaluations[:2]
    row = web_of(request).wh.read(
        f"with s as ({source}), a as (select ref from s where programme = :pa and as_of = :da and eligible), "
        "b as (select ref from s where programme = :pb and as_of = :db and eligible) "
        "select (select count(*) from a where ref in (select ref from b)) as both_, "
        "(select count(*) from a where ref not in (select ref from b)) as only_a, "
        "(select count(*) from b where ref not in (select ref from a)) as only_b",
        {"pa": a["programme"], "da": a["as_of"], "pb": b["programme"], "db": b["as_of"]})
    return {"a": a["programme"], "b": b["programme"], **frame_rows(row)[0]}


def _facets(request: Request, source: str, evaluation: dict[str, Any]) -> dict[str, Any]:
    """Whole-evaluation summaries: eligible families by district, bases and criteria seen."""
    wh = web_of(request).wh
    params = {"p": evaluation["programme"], "d": evaluation["as_of"]}
    districts = wh.read(f"select district, count(*) as families from ({source}) s "
                        "where programme = :p and as_of = :d and eligible group by district", params)
    bases = wh.read(f"select distinct basis from {RESULTS[source]} where programme = :p and as_of = :d "
                    "and basis is not null order by 1", params)["basis"].tolist()
    criteria = wh.read(f"select distinct criteria from {RESULTS[source]} where programme = :p and as_of = :d "
                       "and criteria is not null", params)["criteria"].str.split(",").explode()
    return {"districts": districts, "bases": bases, "criteria": sorted(set(criteria.dropna()))}


def cohort_view(request: Request, actor: Actor) -> Response:
    require(request, actor, "cohort")
    web = web_of(request)
    wh = web.wh
    query = request.query_params
    page = int(query["page"]) if str(query.get("page") or "").isdigit() and int(query["page"]) > 0 else 1
    with acting(actor):
        source = _source(actor, request)
        evaluations = web.facet((source, "evaluations"), lambda: _evaluations(request, source))
        if not evaluations:
            return render(request, "cohort.html", actor, evaluations=[], identifiable=source is IDENTIFIABLE,
                          message=None)
        chosen_programme = query.get("programme") or evaluations[0]["programme"]
        evaluation = next((e for e in evaluations if e["programme"] == chosen_programme), evaluations[0])
        where, params, chosen = _filters(query, evaluation["programme"], evaluation["as_of"])
        families = wh.read(f"select * from ({source}) s where {' and '.join(where)} "
                           f"order by priority_rank nulls last, ref limit {PAGE_SIZE + 1} "
                           f"offset {(page - 1) * PAGE_SIZE}", params)
        facets = web.facet((source, evaluation["programme"], str(evaluation["as_of"])),
                           lambda: _facets(request, source, evaluation))
        comparison = web.facet((source, "compare"), lambda: _compare(request, source, evaluations))
    # the accounts table is the server's own (read as itself), not the user's
    key_workers = wh.read(_KEY_WORKERS)["key_worker"].dropna().tolist() if allowed(wh, actor, "attach") else []
    grid, areas, width, height = tiles(facets["districts"])
    keep = {k: v for k, v in {"programme": evaluation["programme"], **chosen}.items() if v}
    first = (page - 1) * PAGE_SIZE + 1
    return render(request, "cohort.html", actor, evaluations=evaluations, programme=evaluation["programme"],
                  as_of=evaluation["as_of"], families=frame_rows(families.head(PAGE_SIZE)), page=page,
                  first=first, last=first + min(len(families), PAGE_SIZE) - 1, more=len(families) > PAGE_SIZE,
                  chosen=chosen, bases=facets["bases"], criteria=facets["criteria"], attachments=ATTACHMENT,
                  key_workers=key_workers, comparison=comparison, tiles=grid, areas=areas, map_width=width,
                  map_height=height, query_of=lambda **extra: urlencode({**keep, **extra}),
                  identifiable=source is IDENTIFIABLE, message=query.get("message"))


@router.get("/cohort")
def cohort_page(request: Request, actor: SignedIn) -> Response:
    return cohort_view(request, actor)


def _change(request: Request, actor: Actor, form: Any) -> str:
    """Attach, reassign or close a family; returns the message to show."""
    family_id, op = str(form.get("family_id") or ""), str(form.get("op") or "attach")
    key_worker = str(form.get("key_worker") or "").strip()
    wh = web_of(request).wh
    with acting(actor):
        try:
            if op == "close":
                state = keyworkers.close(wh, family_id, date.today())
                return f"{family_id}: closed on {state.closed_on}"
            state = keyworkers.attach(wh, family_id, key_worker, date.today(), reassign=op == "reassign")
        except ValueError as exc:
            return str(exc)
    return f"{family_id}: attached to {state.key_worker} since {state.attached_on}"


@router.post("/attach")
async def attach(request: Request, actor: SignedIn) -> Response:
    """Attach (or reassign, or close) from the cohort list or the family page."""
    form = await request.form()
    check_csrf(actor, form)
    require(request, actor, "attach")
    if str(form.get("op") or "attach") not in ("attach", "reassign", "close"):
        raise HTTPException(400, "unknown change")
    message = await run_in_threadpool(_change, request, actor, form)
    back = str(form.get("back") or "/cohort")
    back = back if back.startswith("/") and not back.startswith("//") else "/cohort"
    separator = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{separator}{urlencode({'message': message})}", status_code=303)
