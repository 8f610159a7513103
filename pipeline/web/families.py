"""Key workers' pages: *My families* and the *Family* page (Family Context's model: who is
involved by default; criteria, evidence and the timeline after a stated reason)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from pipeline.governance import audit
from pipeline.programme.keyworkers import EPISODES
from pipeline.web.access import REASON_FIRST, acting
from pipeline.web.accounts import Actor
from pipeline.web.common import SignedIn, check_csrf, frame_rows, reason_of, render, require, web_of

__all__ = ["router"]

router = APIRouter()
LATEST_EVENTS = 3

#: The key worker's open attachments, read by family (indexes) rather than through the whole
#: family view, whose aggregates would run over every row the key worker may see.
_MINE = f"""
with mine as (
  select e.family_id from ({EPISODES}) e
  where e.key_worker = :k and e.closed_on is null
    and not exists (select 1 from cohort.attachments b where b.family_id = e.family_id and b.attached_on > e.attached_on)
),
members as (  -- per family (lateral): an index lookup each, not the whole view
  select mine.family_id, n.n_members, n.n_children from mine cross join lateral (
    select count(*) as n_members, sum(case when x.role = 'child' then 1 else 0 end) as n_children
    from reporting.family_member x where x.family_id = mine.family_id) n
),
criteria as (
  select r.family_id, r.criteria from reporting.cohort r
  join cohort.active a on r.programme = a.programme and r.as_of = a.as_of
  join mine on mine.family_id = r.family_id
),
unread as (
  select a.family_id, count(*) as unread, max(a.raised_at) as last_alert from reporting.alert a
  where a.key_worker = :k
    and not exists (select 1 from ops.web_alert_reads r where r.alert_id = a.alert_id and r.reader = :me)
  group by a.family_id
)
select f.family_id, f.address as address_line, f.postcode, coalesce(n.n_members, 0) as n_members,
       coalesce(n.n_children, 0) as n_children, c.criteria, coalesce(u.unread, 0) as unread, u.last_alert
from mine m join linked.families f on f.family_id = m.family_id
left join members n on n.family_id = m.family_id
left join criteria c on c.family_id = m.family_id
left join unread u on u.family_id = m.family_id
order by coalesce(u.unread, 0) > 0 desc, u.last_alert desc, f.family_id
"""
_LATEST = """
select m.family_id, t.event_date, t.agency, t.event_type
from _fh_mine m cross join lateral (
  select e.event_date, e.agency, e.event_type from reporting.family_timeline e
  where e.family_id = m.family_id order by e.event_date desc, e.agency limit :n
) t
"""
_INVOLVED = """
select person_id, agency, min(event_date) as first_seen, max(event_date) as last_seen, count(*) as n_events
from reporting.family_timeline where family_id = :f group by person_id, agency order by person_id, agency
"""
_ALERTS = """
select a.alert_id, a.raised_at, a.person_id, a.kind, a.agency, a.event_type, a.event_date, a.detail,
       a.corrected, r.read_at
from reporting.alert a left join ops.web_alert_reads r on r.alert_id = a.alert_id and r.reader = :me
where a.family_id = :f order by r.read_at is not null, a.raised_at desc
"""


@router.get("/")
def home(request: Request, actor: SignedIn) -> Response:
    """Each role lands on its first page."""
    if actor.role != "keyworker":
        from pipeline.web.access import pages_for

        return RedirectResponse(pages_for(actor)[0][0], status_code=303)
    return my_families(request, actor)


def my_families(request: Request, actor: Actor) -> Response:
    require(request, actor, "my_families")
    wh = web_of(request).wh
    params = {"k": actor.key_worker, "me": actor.name, "n": LATEST_EVENTS}
    with acting(actor):
        families = wh.read(_MINE, params)
        audit.record(wh, "view_family", who=actor.name, reason="my families: the attached key worker",
                     subjects=families[["family_id"]], detail=f"my families: {len(families)} families")
        with wh.begin() as conn, wh.staged(conn, "_fh_mine", families[["family_id"]]):
            latest = wh.read(_LATEST, params, conn)
    events = {f: frame_rows(g.sort_values("event_date", ascending=False)) for f, g in latest.groupby("family_id")}
    return render(request, "my_families.html", actor, families=frame_rows(families), events=events)


def _family(request: Request, actor: Actor, family_id: str, reason: str | None, full: bool) -> Response:
    require(request, actor, "family", family_id)
    wh = web_of(request).wh
    params = {"f": family_id, "me": actor.name}
    if actor.role in REASON_FIRST and not reason:
        return render(request, "family.html", actor, family_id=family_id, view=None, full=False)
    with acting(actor):
        audit.record(wh, "view_records" if full else "view_family", who=actor.name,
                     reason=reason or f"family summary ({actor.role})", family_id=family_id,
                     detail="family page: full" if full else "family page: summary")
        view = wh.read("select * from reporting.family_view where family_id = :f", params)
        if view.empty:
            raise HTTPException(404, "no such family")
        members = wh.read("select * from reporting.family_member where family_id = :f "
                          "order by role, date_of_birth", params)
        involved = wh.read(_INVOLVED, params)
        history = wh.read("select key_worker, attached_on, closed_on, recorded_at from cohort.attachments "
                          "where family_id = :f order by attached_on, recorded_at", params)
        alerts = wh.read(_ALERTS, params)
        evidence = timeline = None
        if full:
            evidence = wh.read("select v.* from reporting.family_evidence v join cohort.active a "
                               "on v.programme = a.programme and v.as_of = a.as_of where v.family_id = :f "
                               "order by criterion, event_date", params)
            timeline = wh.read("select * from reporting.family_timeline where family_id = :f "
                               "order by event_date desc, agency, record_key", params)
    return render(request, "family.html", actor, family_id=family_id, view=frame_rows(view)[0],
                  members=frame_rows(members), involved=frame_rows(involved), history=frame_rows(history),
                  alerts=frame_rows(alerts), full=full, reason=reason,
                  evidence=frame_rows(evidence) if full else [], timeline=frame_rows(timeline) if full else [])


@router.get("/family/{family_id}")
def family_page(request: Request, family_id: str, actor: SignedIn) -> Response:
    return _family(request, actor, family_id, None, full=False)


@router.post("/family/{family_id}")
async def family_with_reason(request: Request, family_id: str, actor: SignedIn) -> Response:
    """The full view (criteria, evidence, timeline): a stated reason first, audited."""
    form = await request.form()
    check_csrf(actor, form)
    reason = reason_of(form)
    if reason is None:
        raise HTTPException(400, "say why you need the full record (a case reference or a few words)")
    return _family(request, actor, family_id, reason, full=True)


@router.post("/family/{family_id}/alerts/seen")
async def alerts_seen(request: Request, family_id: str, actor: SignedIn) -> Response:
    """Mark one alert (or all of the family's) as seen by this user."""
    form = await request.form()
    check_csrf(actor, form)
    require(request, actor, "alerts_seen", family_id)
    wh = web_of(request).wh
    alert_id = str(form.get("alert_id") or "")
    with acting(actor), wh.begin() as conn:
        wh.execute(conn, "insert into ops.web_alert_reads (alert_id, reader, read_at) "
                         "select a.alert_id, :me, :t from reporting.alert a where a.family_id = :f "
                         "and (a.alert_id = :a or :a = '') and not exists (select 1 from ops.web_alert_reads r "
                         "where r.alert_id = a.alert_id and r.reader = :me)",
                   {"me": actor.name, "t": datetime.now(), "f": family_id, "a": alert_id})
    return RedirectResponse(f"/family/{family_id}#alerts", status_code=303)
