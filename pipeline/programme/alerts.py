"""The intelligence hub: alert a key worker when something happens to a family they work with.

After every load and link, :func:`raise_alerts` looks at the events that are new since the
previous pass and raises one alert per qualifying event of a member of an attached (not
closed) family, dated on or after the attachment (:func:`alert_rules`, from the agency declarations). Then, when SMTP is
configured, :func:`deliver_alerts` e-mails each alert once to its key worker.

What "new" means. ``cohort.alert_seen`` holds the version of every event the passes have
looked at; an event is new when its mention is absent there or arrives in a later version.
On PostgreSQL a pass compares only the events loaded since the last pass (a trigger queues
each loaded version in ``cohort.alert_queue``), not every event of the area; DuckDB, which has
no triggers, compares every event.
A re-sent file changes nothing (the ingest ledger drops it), and an alert is keyed by the
event (``mention_id``), so the same event never alerts twice, even when a re-delivery bumps
its version. A correction (a later version of the same event key) does not re-alert an
event that has already alerted; ``reporting.alert.corrected`` shows that it changed. A
correction that makes an event qualify for the first time (e.g. a term re-sent with more
unauthorised absence) raises its alert then, because the key worker has not heard of it.
On a warehouse's first pass every event is new.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import date, datetime
from email.message import EmailMessage
from typing import Any

import numpy as np
import pandas as pd

from pipeline.ingest.agencies import AlertRule, load_agencies
from pipeline.notify import SmtpSettings, deliver
from pipeline.programme.cohort import Programme, ProgrammeError, load_programme
from pipeline.programme.cohort.config import Aggregate
from pipeline.programme.cohort.frames import prepare_events
from pipeline.programme.keyworkers import EPISODES
from pipeline.warehouse.engine import Warehouse

__all__ = [
    "SmtpSettings",
    "alert_rules",
    "deliver_alerts",
    "list_alerts",
    "raise_alerts",
    "rate_thresholds",
]

log = logging.getLogger(__name__)


def alert_rules() -> dict[str, AlertRule]:
    """The agencies whose events alert and how (the ``alert:`` block of each declaration): an
    event is dated by its ``dated_by`` column (a term by its end, an episode or a claim by its
    start: a *new* one) and, with ``only_with`` or ``programme_rates``, alerts only for a reason."""
    return {name: agency.alert for name, agency in load_agencies().items() if agency.alert}


_OPEN_ATTACHMENTS = f"""
select family_id, key_worker, attached_on from (
  select e.*, row_number() over (partition by case_id, family_id order by attached_on desc) as latest
  from ({EPISODES}) e
) c where latest = 1 and closed_on is null
"""
#: PostgreSQL: the mentions of the event versions loaded since the last pass, taken off the queue
#: (the rows this statement deletes: a load committing meanwhile stays queued for the next pass).
#: Keyed, so the planner knows how many there are: a few index probes for a small delivery, a
#: hash join for a large one.
_TAKE_QUEUED = ("create temporary table _fh_queued (mention_id text collate \"C\" primary key) on commit drop",
                "with taken as (delete from cohort.alert_queue returning mention_id) "
                "insert into _fh_queued select distinct mention_id from taken")
#: The pass's new events, found once (each look over every event costs as much as the rest of a
#: monthly pass): the candidates, the count and the seen-ledger all read this. Whole rows, so
#: the candidates need not join every event again to find them (a monthly pass's slowest join).
#: ``{queued}`` narrows it to the queued events (PostgreSQL) or is empty (every event: DuckDB).
_NEW = """
create temporary table _fh_new_events as
select e.* from staging.events e {queued}
where not exists (select 1 from cohort.alert_seen s where s.mention_id = e.mention_id and s.version >= e.version)
"""
#: The new events of members of attached families. The members, and then their mentions, are
#: found by the by-family and by-person indexes (``= any(array(...))``, which needs no nested
#: loop): joined whole, the area's every mention and person were read each pass.
_CANDIDATES = f"""
with a as ({_OPEN_ATTACHMENTS}),
members as (
  select f.person_id, f.family_id, a.key_worker, a.attached_on from linked.person_family f
  join a on a.family_id = f.family_id
  where f.family_id = any(array(select family_id from a))
)
select e.*, m.person_id, m.family_id, m.key_worker, m.attached_on
from _fh_new_events e
join linked.mention_person p on p.mention_id = e.mention_id
join members m on m.person_id = p.person_id
where e.agency in ({{agencies}})
  and p.person_id = any(array(select person_id from members))
  and not exists (select 1 from cohort.alerts x where x.mention_id = e.mention_id)
"""
_ALERT_COLUMNS = ["alert_id", "mention_id", "version", "pass_id", "raised_at", "key_worker", "family_id",
                  "person_id", "kind", "agency", "record_key", "event_type", "event_date", "detail"]


def rate_thresholds(programme: Programme, agency: str) -> list[Aggregate]:
    """The programme's rate conditions on the agency's events (e.g. school absence thresholds)."""
    return [c.aggregate for criterion in programme.criteria.values() for c in criterion.any_of
            if c.agency == agency and c.aggregate is not None and c.aggregate.measure == "rate"]


def _reasons(ev: pd.DataFrame, rule: AlertRule, rates: list[Aggregate]) -> pd.Series:
    """Why each event alerts under a rule that needs a reason ('' when none holds), vectorised."""
    reasons = pd.Series("", index=ev.index, dtype=object)
    for column, says in rule.only_with.items():
        value = ev[column].astype("Float64").fillna(0)
        text = _fill(says.replace("{n}", "{_n}"), ev.assign(_n=value.astype(int)))
        reasons += np.where(value > 0, text + "; ", "")
    for test in rates:
        over = ev[test.over].sum(axis=1)
        rate = ev[test.of].sum(axis=1) / over.where(over > 0)
        text = "+".join(test.of).replace("_", " ") + " " + (rate * 100).round(1).astype(str) + "%; "
        reasons += np.where(test.test(rate), text, "")
    return reasons.str.removesuffix("; ")


def _fill(template: str, ev: pd.DataFrame) -> pd.Series:
    """``{field}`` placeholders filled from each event's columns (a blank field blanks the text)."""
    out = pd.Series("", index=ev.index, dtype=object)
    for i, piece in enumerate(re.split(r"\{(\w+)\}", template)):
        out = out + (ev[piece].astype(str).where(ev[piece].notna(), None) if i % 2 else piece)
    return out


def _classify(candidates: pd.DataFrame, programme: Programme) -> pd.DataFrame:
    """The candidates that alert, with kind, detail and the date that placed them (vectorised)."""
    members = candidates[["family_id", "person_id"]].assign(dob=pd.NaT)
    ev = prepare_events(candidates, members)  # typed columns, term dates, derived sessions
    agency = ev["agency"].astype(object)
    ok = pd.Series(False, index=ev.index)
    dated = pd.Series(pd.NaT, index=ev.index, dtype="datetime64[ns]")
    kind = pd.Series(None, index=ev.index, dtype=object)
    label, detail = kind.copy(), kind.copy()
    for name, rule in alert_rules().items():
        mine = agency == name
        if rule.event_types is not None:
            mine &= ev["event_type"].isin(rule.event_types)
        if not mine.any():
            continue
        reasons = (_reasons(ev, rule, rate_thresholds(programme, name) if rule.programme_rates else [])
                   if rule.needs_reason else pd.Series("", index=ev.index, dtype=object))
        ok |= mine & (reasons != "" if rule.needs_reason else True)
        dated = dated.mask(mine, ev[rule.dated_by].fillna(ev["event_date"]))
        kind, label = kind.mask(mine, rule.kind), label.mask(mine, rule.label)
        detail = detail.mask(mine, _fill(rule.detail, ev.assign(reasons=reasons)))
    ok &= dated >= pd.to_datetime(candidates["attached_on"]).to_numpy()
    keep = ok.to_numpy()
    return candidates.loc[keep].assign(kind=kind[keep].to_numpy(),
                                       detail=(label + ": " + detail)[keep].to_numpy(),
                                       event_date=dated[keep].to_numpy())


def _programme(wh: Warehouse, name: str | None) -> Programme:
    """The named programme, else the active one (whose view key workers see), else tf2015.

    An active programme evaluated from a file outside the programme folders cannot be found
    by name again: its pass says so in the log and uses tf2015's thresholds.
    """
    if name:
        return load_programme(name)
    active = wh.scalar("select programme from cohort.active limit 1") or "tf2015"
    try:
        return load_programme(active)
    except ProgrammeError as exc:
        log.warning("alerts use tf2015's absence threshold: %s", exc)
        return load_programme("tf2015")


def raise_alerts(wh: Warehouse, programme: str | None = None, deliver: bool = True,
                 now: datetime | None = None) -> dict[str, Any]:
    """One alert pass: raise alerts for new qualifying events, then e-mail pending alerts.

    Called after linking by ``familyhub run`` and the Airflow DAG. Raising is one
    transaction (alerts and the seen-ledger together), so a failed pass can simply be re-run.
    E-mail is sent only when ``FAMILYHUB_SMTP_HOST`` is set; undelivered alerts wait.
    """
    prog = _programme(wh, programme)
    now = now or datetime.now()
    pass_id = now.strftime("%Y%m%dT%H%M%S%f")
    with wh.begin() as conn:
        queued = ""
        if not wh.is_embedded:
            for statement in _TAKE_QUEUED:
                wh.execute(conn, statement)
            queued = "join _fh_queued q on q.mention_id = e.mention_id"
        wh.execute(conn, _NEW.replace("{queued}", queued))
        n_new = wh.read("select count(*) as n from _fh_new_events", conn=conn)["n"].iloc[0]
        if not wh.is_embedded:
            # Tables rewritten by this run's ingest and link have no statistics until autovacuum
            # analyses them: PostgreSQL then takes the events for a handful of rows and, with a
            # few hundred attached families, re-scans them once per family (minutes at 20,000
            # households). Hash joins read each table once whatever the estimates.
            wh.execute(conn, "set local enable_nestloop = off")
        listed = ", ".join("'" + a.replace("'", "''") + "'" for a in alert_rules()) or "null"
        candidates = wh.read(_CANDIDATES.replace("{agencies}", listed), conn=conn)
        alerts = _classify(candidates, prog) if len(candidates) else candidates.iloc[0:0]
        # a family two cases cover (a merge awaiting the coordinator): one alert, to the first attached
        alerts = alerts.sort_values(["attached_on", "key_worker"], kind="stable").drop_duplicates("mention_id")
        if len(alerts):
            alerts = alerts.assign(pass_id=pass_id, raised_at=now.isoformat(sep=" "),
                                   alert_id=pass_id + ":" + alerts["mention_id"])
            wh.insert(conn, "cohort.alerts", alerts[_ALERT_COLUMNS])
        # a new event is unseen or seen in an earlier version: its seen row is replaced (in place:
        # deleting them first read the whole seen-ledger)
        wh.execute(conn, "insert into cohort.alert_seen (mention_id, version, seen_at) "
                         "select mention_id, version, :t from _fh_new_events on conflict (mention_id) "
                         "do update set version = excluded.version, seen_at = excluded.seen_at", {"t": now})
        wh.execute(conn, "drop table _fh_new_events")
        wh.execute(conn, "insert into cohort.alert_passes (pass_id, started_at, programme, n_new_events, n_alerts) "
                         "values (:p, :t, :g, :n, :a)",
                   {"p": pass_id, "t": now, "g": prog.name, "n": int(n_new), "a": len(alerts)})
    summary: dict[str, Any] = {"pass_id": pass_id, "programme": prog.name, "new_events": int(n_new),
                               "alerts": len(alerts),
                               "by_kind": alerts["kind"].value_counts().to_dict() if len(alerts) else {}}
    settings = SmtpSettings.from_env()
    if deliver and settings is not None:
        summary["email"] = deliver_alerts(wh, settings)
    log.info("alert pass %s: %d new events, %d alerts", pass_id, n_new, len(alerts))
    return summary


# -- e-mail ---------------------------------------------------------------------------------
def _message(alert: Any, recipient: str, sender: str) -> EmailMessage:
    """The e-mail for one alert: ids, kind, date and detail; no names or dates of birth.

    It ends with the command that opens the family view, ready to run: the view needs a
    reason, and "<kind> alert of <date>" is one (no record key, which would outlive an erasure
    in the audit log)."""
    msg = EmailMessage()
    msg["From"], msg["To"] = sender, recipient
    msg["Subject"] = f"FamilyHub alert: {alert.kind.replace('_', ' ')} in family {alert.family_id}"
    digest = hashlib.sha256(alert.alert_id.encode()).hexdigest()[:24]
    msg["Message-ID"] = f"<alert-{digest}@familyhub>"
    when = pd.Timestamp(alert.event_date).date() if pd.notna(alert.event_date) else "date unknown"
    msg.set_content(
        f"{alert.detail}\n\n"
        f"Family:  {alert.family_id} (attached to {alert.key_worker})\n"
        f"Person:  {alert.person_id}\n"
        f"Event:   {alert.agency} {alert.event_type} on {when}\n\n"
        f"Open the family view (say why: the read is audited):\n"
        f"  familyhub family {alert.family_id} --reason \"{alert.kind.replace('_', ' ')} alert of {when}\"\n\n"
        f"Alert {alert.alert_id}\n")
    return msg


def _record_delivery(wh: Warehouse, alert_id: str, recipient: str, status: str, error: str | None) -> None:
    with wh.begin() as conn:  # one transaction per message: a crash cannot forget a sent e-mail
        wh.execute(conn, "insert into cohort.alert_deliveries (alert_id, channel, recipient, status, "
                         "attempted_at, error) values (:a, 'email', :r, :s, :t, :e)",
                   {"a": alert_id, "r": recipient, "s": status, "t": datetime.now(), "e": error})


def deliver_alerts(wh: Warehouse, settings: SmtpSettings | None = None) -> dict[str, int]:
    """E-mail every alert not yet sent to its key worker's address (``cohort.key_workers``).

    Each sent message is recorded at once, so an alert is e-mailed once; failures are
    recorded and retried by the next pass. Alerts whose key worker has no address wait.
    """
    settings = settings or SmtpSettings.from_env()
    if settings is None:
        raise ValueError("e-mail is not configured: set FAMILYHUB_SMTP_HOST and FAMILYHUB_SMTP_FROM")
    pending = wh.read(
        "select a.*, k.email from cohort.alerts a left join cohort.key_workers k on k.key_worker = a.key_worker "
        "where not exists (select 1 from cohort.alert_deliveries d where d.alert_id = a.alert_id "
        "and d.channel = 'email' and d.status = 'sent') order by a.raised_at, a.alert_id")
    addressed = pending[pending["email"].notna()]
    counts = {"sent": 0, "failed": 0, "no_address": int(len(pending) - len(addressed))}
    messages = [(a, _message(a, a.email, settings.sender)) for a in addressed.itertuples()]
    return counts | deliver(settings, messages, lambda a, status, error: _record_delivery(
        wh, a.alert_id, a.email, status, error))


def list_alerts(wh: Warehouse, key_worker: str | None = None, since: date | None = None) -> pd.DataFrame:
    """Alerts from ``reporting.alert``, newest first, optionally for one key worker / since a date."""
    where, params = [], {}
    if key_worker:
        where.append("key_worker = :k")
        params["k"] = key_worker
    if since:
        where.append("raised_at >= :s")
        params["s"] = datetime.combine(since, datetime.min.time())
    clause = f" where {' and '.join(where)}" if where else ""
    return wh.read(f"select * from reporting.alert{clause} order by raised_at desc, event_date desc", params)
