"""Freshness: has each agency sent its extract on schedule? And the notices that follow.

Each declaration states its schedule (``every``: daily, weekly, monthly or termly), a grace
period and a contact address. From the latest *loaded* extract date (a refused file does not
bring the data in) the next extract is due:

* daily, weekly, monthly: one day, week or calendar month after the last extract;
* termly: at the end of the school term following the last extract (terms as in
  ``shared/spec/programme.md``: autumn ends 31 Dec, spring 30 Apr, summer 31 Aug); a file
  sent up to the grace period before a term's end already counts as that term's.

It is **overdue** once the due date plus the grace period has passed. An agency that has
never sent a file is shown as such, not as overdue (there is no date to expect it by).

Notices (e-mailed once each, ``pipeline.notify``): the data team
(``FAMILYHUB_DATA_TEAM_EMAIL``) hears once per overdue extract (agency and expected-by date);
an agency's contact hears once per refused file, with its name, the reason, row numbers and
counts, never a value from the file (:func:`refusal_notice`).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.ingest.agencies import Agency, Schedule, load_agencies
from pipeline.ingest.canonical import term_dates
from pipeline.notify import Notice, send_once
from pipeline.settings import settings
from pipeline.warehouse.engine import Warehouse

__all__ = ["Freshness", "due_after", "freshness", "notify_overdue", "notify_refusals", "refusal_notice"]

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|\([^)]*\)")


@dataclass(frozen=True)
class Freshness:
    """One agency's delivery state at a date."""

    agency: str
    every: str
    grace_days: int
    contact: str
    last_file: str | None
    last_extract: date | None
    due: date | None  # the next extract is expected on this date
    expected_by: date | None  # due + grace: overdue after this
    overdue: bool
    days_overdue: int

    def as_dict(self) -> dict[str, Any]:
        return {k: v.isoformat() if isinstance(v, date) else v for k, v in asdict(self).items()}


def due_after(last: date, schedule: Schedule) -> date:
    """When the extract after one dated ``last`` is due (see the module docstring)."""
    if schedule.every == "daily":
        return last + timedelta(days=1)
    if schedule.every == "weekly":
        return last + timedelta(days=7)
    if schedule.every == "monthly":
        return (pd.Timestamp(last) + pd.DateOffset(months=1)).date()
    terms = pd.Series([f"{y}-{t}" for y in range(last.year - 1, last.year + 2) for t in ("AUT", "SPR", "SUM")])
    ends = term_dates(terms)[1].dt.date
    return min(e for e in ends if e > last + timedelta(days=schedule.grace_days))


def freshness(wh: Warehouse, at: date) -> list[Freshness]:
    """Every declared agency's last loaded extract, when the next is due and whether it is overdue at ``at``."""
    last = wh.read("select agency, file_name, extract_date from ops.files f where status = 'loaded' and "
                   "extract_date = (select max(extract_date) from ops.files g where g.agency = f.agency "
                   "and g.status = 'loaded') order by agency, sequence desc")
    last = last.drop_duplicates("agency").set_index("agency")
    out = []
    for name, agency in load_agencies().items():
        s = agency.schedule
        if name not in last.index:
            out.append(Freshness(name, s.every, s.grace_days, s.contact, None, None, None, None, False, 0))
            continue
        extract = pd.Timestamp(last.at[name, "extract_date"]).date()
        due = due_after(extract, s)
        by = due + timedelta(days=s.grace_days)
        out.append(Freshness(name, s.every, s.grace_days, s.contact, str(last.at[name, "file_name"]), extract, due,
                             by, at > by, max((at - by).days, 0)))
    return out


def notify_overdue(wh: Warehouse, at: date) -> dict[str, Any]:
    """E-mail the data team once per overdue extract; returns the overdue agencies and what was sent."""
    overdue = [f for f in freshness(wh, at) if f.overdue]
    to = settings().data_team_email
    notices = [Notice("overdue", f"{f.agency}:{f.expected_by}", to, f"FamilyHub: {f.agency} extract overdue",
                      f"The {f.every} {f.agency} extract expected by {f.expected_by} has not arrived "
                      f"({f.days_overdue} day(s) overdue).\nLast extract loaded: {f.last_file} "
                      f"({f.last_extract}).\nAgency contact: {f.contact}\n") for f in overdue] if to else []
    sent = send_once(wh, notices) if notices else {"sent": 0, "failed": 0, "waiting": 0}
    return {"overdue": [f.agency for f in overdue], "data_team": to, **sent}


def _plain(text: str) -> str:
    """Text without anything quoted or bracketed (where a message cites a value)."""
    return re.sub(r"\s+", " ", _QUOTED.sub(" ", text)).strip()


def _safe_reason(reason: str, file_name: str, columns: list[str]) -> tuple[str, list[str]]:
    """The refusal reason without what a reader or check quoted from the file (a parser cites the
    row it choked on): its first clause, plus what follows when that is only column names; and the
    row numbers it mentions."""
    text = reason.removeprefix(f"{file_name}: ")
    head, _, rest = text.partition(": ")
    named = [c.strip() for c in rest.split(",")]
    if rest and all(c in columns for c in named):
        head = f"{head}: {', '.join(named)}"
    rows = [m[1] or m[2] for m in re.finditer(r"\brow (\d+)|\bline (\d+)", text)]
    return _plain(head), rows


def refusal_notice(file: Any, facts: dict[str, Any] | None, agency: Agency) -> Notice:
    """The refusal notice for one ledger row (``file``: file_id, agency, file_name, reason, rows_sent)
    and its quarantine report's facts: name, reason, counts and row numbers, never a value from
    the file (quoted or bracketed text, where a message cites one, is left out)."""
    details = (facts or {}).get("details") or []
    reason, rows = _safe_reason(str(file.reason), file.file_name, agency.column_names)
    counts = [_plain(d) for d in details if re.match(r"\d+ × ", d)]
    rows += [m[1] for d in details if (m := re.match(r"row (\d+):", d))]
    failed = [f"{e['column'] or 'file'}: {e['expectation']} ({e['unexpected_count']} rows)"
              for e in (facts or {}).get("failed_expectations") or []]
    lines = [f"The file {file.file_name} sent to the FamilyHub data hub was refused; nothing of it was loaded.", "",
             f"Why: {reason}", f"Rows in the file: {'unknown' if pd.isna(file.rows_sent) else int(file.rows_sent)}"]
    lines += ["", "Rows breaking each rule:", *[f"  {c}" for c in counts]] if counts else []
    lines += ["", f"Rows concerned (first ones): {', '.join(rows)}"] if rows else []
    lines += ["", "Checks that failed:", *[f"  {f}" for f in failed]] if failed else []
    lines += ["", "Please correct the extract and send it again, or reply to the data team.",
              f"Reference: ledger file {file.file_id}."]
    return Notice("refusal", str(file.file_id), agency.schedule.contact, f"FamilyHub: file {file.file_name} refused",
                  "\n".join(lines) + "\n")


def notify_refusals(wh: Warehouse) -> dict[str, int]:
    """E-mail each refused file's agency contact once (files the ledger holds as refused)."""
    agencies = load_agencies()
    refused = wh.read("select file_id, agency, file_name, reason, rows_sent, report_path from ops.files f "
                      "where status = 'refused' and not exists (select 1 from ops.notices n where n.kind = 'refusal' "
                      "and n.status = 'sent' and n.subject_key = cast(f.file_id as text)) order by file_id")
    notices = []
    for f in refused[refused["agency"].isin(agencies)].itertuples():  # one per refused file, not per row
        report = Path(f.report_path).with_suffix(".json") if f.report_path else None
        facts = json.loads(report.read_text()) if report and report.exists() else None
        notices.append(refusal_notice(f, facts, agencies[f.agency]))
    return send_once(wh, notices)
