"""Alerts for key workers: what raises one, once per event, and e-mail through a local SMTP
server (aiosmtpd) started by the test."""

from __future__ import annotations

import email
import logging
import shlex
import shutil
import socket
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.programme.alerts import SmtpSettings, deliver_alerts, raise_alerts, rate_thresholds
from pipeline.programme.cohort import load_programme
from pipeline.programme.keyworkers import attach, close, set_email
from pipeline.runner import run_all
from pipeline.warehouse.engine import Warehouse

#: For tests whose SQL is covered on both backends elsewhere: DuckDB only, to keep the suite quick.
duckdb_only = pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)


class Inbox:
    """An aiosmtpd handler that keeps what it receives, or refuses everything."""

    def __init__(self) -> None:
        self.messages: list = []
        self.refuse = False

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.refuse:
            return "550 mailbox unavailable"
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """A plain SMTP server on a free local port, and the FAMILYHUB_SMTP_* settings for it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    for key, value in {"HOST": "127.0.0.1", "PORT": str(port), "FROM": "familyhub@council.example",
                       "SECURITY": "none"}.items():
        monkeypatch.setenv(f"FAMILYHUB_SMTP_{key}", value)
    yield inbox
    controller.stop()


# -- the issue's test: a new police file for an attached family ---------------------------------
HEADER = ("OccurrenceRef,NominalId,FullName,DOB,Sex,Address,Postcode,OccurrenceDateTime,Category,Role,"
          "OffenceCode,DomesticAbuse\n")
FAMILY = [  # a household of three, and a neighbour
    'OC/2026/000100,N1,"LEVINE, Maria",02/03/1982,F,25 Woodland Close,DH9 4AB,27/07/2026 01:24,DOMESTIC_INCIDENT,VICTIM,,Y',
    'OC/2026/000100,N2,"LEVINE, Tom",05/06/1980,M,25 Woodland Close,DH9 4AB,27/07/2026 01:24,DOMESTIC_INCIDENT,SUSPECT,,Y',
    'OC/2026/000100,N3,"LEVINE, Amy",09/09/2014,F,25 Woodland Close,DH9 4AB,27/07/2026 01:24,DOMESTIC_INCIDENT,WITNESS,,Y',
    'OC/2026/000101,N4,"SMITH, John",01/01/1970,M,3 Robin Way,NE3 4AA,28/07/2026 11:00,ASB,SUSPECT,,N',
]
INCIDENT = 'OC/2026/000200,N3,"LEVINE, Amy",09/09/2014,F,25 Woodland Close,DH9 4AB,20/09/2026 22:10,ASB,SUSPECT,,N'
OTHER = 'OC/2026/000201,N4,"SMITH, John",01/01/1970,M,3 Robin Way,NE3 4AA,21/09/2026 10:00,CONCERN_FOR_WELFARE,SUBJECT,,N'


def drop(landing: Path, name: str, rows: list[str]) -> Path:
    path = landing / "police" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_new_police_file_alerts_once_and_emails_once(warehouse_url: str, tmp_path: Path, smtp: Inbox):
    wh = Warehouse.connect(warehouse_url)
    wh.migrate()
    landing, quarantine = tmp_path / "landing", tmp_path / "quarantine"
    drop(landing, "police_20260901.csv", FAMILY)
    first = run_all(wh, landing, quarantine, date(2026, 9, 1), ["tf2015"])
    assert first.alerts["alerts"] == 0  # nobody is attached yet
    family = wh.read("select family_id from reporting.record_link where record_key = 'OC/2026/000100|N1'")
    family_id = family["family_id"].iloc[0]
    attach(wh, family_id, "Ann Key", date(2026, 9, 1))
    set_email(wh, "Ann Key", "ann.key@council.example")

    sent = drop(landing, "police_20261001.csv", [INCIDENT])
    second = run_all(wh, landing, quarantine, date(2026, 10, 1), ["tf2015"])
    assert (second.alerts["alerts"], second.alerts["email"]["sent"]) == (1, 1)
    alert = wh.read("select * from reporting.alert").iloc[0]
    assert (alert["family_id"], alert["record_key"], alert["kind"]) == (family_id, "OC/2026/000200|N3", "police")
    assert alert["emailed_to"] == "ann.key@council.example"
    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message.rcpt_tos == ["ann.key@council.example"]
    body = message.content.decode()
    assert family_id in body and "police call-out: ASB (SUSPECT)" in body
    assert "LEVINE" not in body and "Amy" not in body  # ids only, no names in e-mail

    shutil.copy(sent, landing / "police" / "police_20261002.csv")  # the same file re-sent
    third = run_all(wh, landing, quarantine, date(2026, 10, 2), ["tf2015"])
    assert [f.status for f in third.files if f.file_name == "police_20261002.csv"] == ["duplicate"]
    drop(landing, "police_20261003.csv", [INCIDENT, OTHER])  # re-delivered with another row: a new version
    fourth = run_all(wh, landing, quarantine, date(2026, 10, 3), ["tf2015"])
    assert third.alerts["alerts"] == fourth.alerts["alerts"] == 0
    assert len(smtp.messages) == 1
    assert wh.scalar("select count(*) from cohort.alert_deliveries") == 1


# -- what raises an alert, on hand-built rows ---------------------------------------------------
D = "2026-05-01"


def event(key: str, person: str, agency: str, event_type: str, when: str | None, **columns: object) -> dict:
    return {"mention_id": f"{agency}|{key}", "agency": agency, "record_key": key, "person_id": person,
            "event_type": event_type, "event_date": when, **columns}


def school(key: str, term: str, start: str, end: str, possible: int, unauthorised: int, **columns: object) -> dict:
    return event(key, "P1C", "schools", "SCHOOL_TERM", start, term=term, start_date=start, end_date=end,
                 sessions_possible=possible, sessions_authorised_absent=0,
                 sessions_unauthorised_absent=unauthorised, **columns)


EVENTS = {  # mention -> alerts?
    "police|OC1|N1": (event("OC1|N1", "P1A", "police", "CRIME", "2026-06-01", role="WITNESS"), True),
    "police|OC0|N1": (event("OC0|N1", "P1A", "police", "CRIME", "2026-04-30", role="SUSPECT"), False),
    "health|H1": (event("H1", "P1C", "health", "AE_ATTENDANCE", D), True),
    "health|H2": (event("H2", "P1A", "health", "EMERGENCY_ADMISSION", "2026-07-01"), True),
    "health|H3": (event("H3", "P1A", "health", "MENTAL_HEALTH_REFERRAL", "2026-07-01"), False),
    "schools|U1|2025-SUM": (school("U1|2025-SUM", "2025-SUM", "2026-05-01", "2026-08-31", 1000, 99), False),
    "schools|U1|2026-AUT": (school("U1|2026-AUT", "2026-AUT", "2026-09-01", "2026-12-31", 100, 10), True),
    "schools|U2|2026-AUT": (school("U2|2026-AUT", "2026-AUT", "2026-09-01", "2026-12-31", 100, 0,
                                   suspensions=1), True),
    "schools|U1|2025-SPR": (school("U1|2025-SPR", "2025-SPR", "2026-01-01", "2026-04-30", 100, 50,
                                   permanent_exclusion=True), False),
    "socialcare|EP1": (event("EP1", "P1C", "socialcare", "CIN", "2026-06-01", start_date="2026-06-01"), True),
    "socialcare|EP0": (event("EP0", "P1C", "socialcare", "CIN", "2026-01-01", start_date="2026-01-01"), False),
    "dwp|CL1": (event("CL1", "P1A", "dwp", "JSA", "2026-07-01", start_date="2026-07-01"), True),
    "housing|T1|H1": (event("T1|H1", "P1A", "housing", "TENANCY", "2026-06-01", start_date="2026-06-01",
                            notice_seeking_possession=True), False),
    "yot|YO1": (event("YO1", "P1C", "yot", "YOUTH_CAUTION", "2026-06-01"), False),
    "police|OC2|N2": (event("OC2|N2", "P2A", "police", "ASB", "2026-06-01", role="SUSPECT"), False),  # closed
    "police|OC3|N3": (event("OC3|N3", "P3A", "police", "ASB", "2026-06-01", role="SUSPECT"), False),  # not attached
}


def load(wh: Warehouse, events: list[dict], version: int = 1) -> None:
    frame = pd.DataFrame(events)
    staged = frame.drop(columns=["person_id"]).assign(file_id=version, version=version)
    for col in staged.columns.intersection(["event_date", "start_date", "end_date"]):
        staged[col] = pd.to_datetime(staged[col])
    for col in staged.columns.intersection(["sessions_possible", "sessions_authorised_absent",
                                            "sessions_unauthorised_absent", "suspensions"]):
        staged[col] = staged[col].astype("Int64")
    with wh.begin() as conn:
        for table in ("staging.events", "linked.mention_person"):  # a later version replaces the row
            wh.execute(conn, f"delete from {table} where mention_id = :m", [{"m": m} for m in frame["mention_id"]])
        wh.insert(conn, "staging.events", staged)
        wh.insert(conn, "linked.mention_person", frame[["mention_id", "person_id"]].assign(run_id="r"))


@pytest.fixture
def attached(warehouse: Warehouse) -> Warehouse:
    """F1 attached to Ann on 1 May 2026, F2 attached then closed, F3 never attached."""
    persons = pd.DataFrame({"person_id": ["P1A", "P1C", "P2A", "P3A"], "family_id": ["F1", "F1", "F2", "F3"]})
    with warehouse.begin() as conn:
        warehouse.insert(conn, "linked.person_family", persons)
        warehouse.insert(conn, "linked.families", pd.DataFrame({"family_id": ["F1", "F2", "F3"], "n_members": 1}))
    attach(warehouse, "F1", "Ann", date(2026, 5, 1))
    attach(warehouse, "F2", "Bob", date(2026, 5, 1))
    close(warehouse, "F2", date(2026, 5, 20))
    return warehouse


def test_each_kind_of_event_alerts_only_when_the_issue_says(attached: Warehouse):
    load(attached, [e for e, _ in EVENTS.values()])
    summary = raise_alerts(attached, programme="tf2015", deliver=False)
    alerts = attached.read("select * from reporting.alert")
    assert set(alerts["agency"] + "|" + alerts["record_key"]) == {m for m, (_, yes) in EVENTS.items() if yes}
    assert (alerts["key_worker"] == "Ann").all()
    assert summary["new_events"] == len(EVENTS)
    assert summary["by_kind"] == {"police": 1, "hospital": 2, "school": 2, "social_care": 1, "out_of_work": 1}
    details = dict(zip(alerts["record_key"], alerts["detail"], strict=True))
    assert details["U2|2026-AUT"] == "school term with exclusions or absence: term 2026-AUT: 1 suspension(s)"
    assert "sessions unauthorised absent 10.0%" in details["U1|2026-AUT"]
    assert raise_alerts(attached, programme="tf2015", deliver=False)["alerts"] == 0  # nothing new


def test_corrections_alert_only_when_the_event_qualifies_for_the_first_time(attached: Warehouse):
    load(attached, [e for e, _ in EVENTS.values()])
    raise_alerts(attached, programme="tf2015", deliver=False)
    police, _ = EVENTS["police|OC1|N1"]
    term, _ = EVENTS["schools|U1|2025-SUM"]
    load(attached, [{**police, "detail": "CRIME (WITNESS) corrected"},
                    {**term, "sessions_unauthorised_absent": 120}], version=2)
    again = raise_alerts(attached, programme="tf2015", deliver=False)
    assert (again["new_events"], again["alerts"]) == (2, 1)
    alerts = attached.read("select record_key, corrected from reporting.alert").set_index("record_key")
    assert bool(alerts.loc["U1|2025-SUM", "corrected"]) is False  # alerted on this version
    assert bool(alerts.loc["OC1|N1", "corrected"]) is True  # alerted earlier, changed since


def test_a_pass_takes_the_events_loaded_since_the_last_off_the_queue(attached: Warehouse):
    """PostgreSQL queues every event version loaded (a trigger); DuckDB compares every event."""
    load(attached, [e for e, _ in EVENTS.values()])
    queued = "select count(*) from cohort.alert_queue"
    assert attached.scalar(queued) == (0 if attached.is_embedded else len(EVENTS))
    assert raise_alerts(attached, programme="tf2015", deliver=False)["new_events"] == len(EVENTS)
    assert attached.scalar(queued) == 0
    police, _ = EVENTS["police|OC1|N1"]
    load(attached, [police])  # the same version again: seen, so not new
    assert raise_alerts(attached, programme="tf2015", deliver=False)["new_events"] == 0
    assert attached.scalar(queued) == 0


@duckdb_only
def test_absence_threshold_is_the_programmes(attached: Warehouse):
    assert [t.at_least for t in rate_thresholds(load_programme("tf2015"), "schools")] == [0.10]
    assert [t.at_least for t in rate_thresholds(load_programme("tf2012"), "schools")] == [0.15]
    load(attached, [school("U1|2026-AUT", "2026-AUT", "2026-09-01", "2026-12-31", 100, 14),
                    school("U3|2026-AUT", "2026-AUT", "2026-09-01", "2026-12-31", 100, 15)])
    raise_alerts(attached, programme="tf2012", deliver=False)
    assert attached.read("select record_key from reporting.alert")["record_key"].tolist() == ["U3|2026-AUT"]


def test_which_agencies_alert_is_declared_not_coded(attached: Warehouse, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch):
    """A youth offending outcome alerts once yot's declaration says so; health alerts stop."""
    from pipeline.ingest.agencies import DECLARATIONS
    yot = (DECLARATIONS / "yot.yaml").read_text(encoding="utf-8")
    (tmp_path / "yot.yaml").write_text(yot + "alert: {kind: youth_justice, label: youth justice outcome}\n")
    health = (DECLARATIONS / "health.yaml").read_text(encoding="utf-8")
    (tmp_path / "health.yaml").write_text(health[:health.index("alert:")])
    monkeypatch.setenv("FAMILYHUB_DECLARATIONS", str(tmp_path))
    load(attached, [EVENTS["yot|YO1"][0], EVENTS["health|H1"][0]])
    raise_alerts(attached, programme="tf2015", deliver=False)
    alerts = attached.read("select kind, detail from reporting.alert")
    assert alerts.values.tolist() == [["youth_justice", "youth justice outcome: YOUTH_CAUTION"]]


@pytest.mark.parametrize(("block", "words"), [
    ("alert: {kind: k, label: l, dated_by: claim_date}", "alert.dated_by"),
    ("alert: {kind: k, label: l, only_with: {arrests: n}}", "alert.only_with: unknown event field 'arrests'"),
    ("alert: {kind: k, label: l, detail: '{Offence}'}", "alert.detail: unknown event field 'Offence'"),
    ("alert: {kind: k}", "alert: .*label"),
    ("trust: first", "trust: a rank"),
])
def test_a_bad_alert_or_trust_declaration_is_refused_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              block: str, words: str):
    from pipeline.ingest.agencies import DECLARATIONS, DeclarationError, load_agencies
    yot = (DECLARATIONS / "yot.yaml").read_text(encoding="utf-8").replace("trust: ", "# trust: ")
    (tmp_path / "yot.yaml").write_text(yot + block + "\n")
    monkeypatch.setenv("FAMILYHUB_DECLARATIONS", str(tmp_path))
    with pytest.raises(DeclarationError, match=f"yot.yaml: {words}"):
        load_agencies()


# -- e-mail -------------------------------------------------------------------------------------
@duckdb_only
def test_email_waits_for_an_address_and_is_sent_once(attached: Warehouse, smtp: Inbox):
    load(attached, [EVENTS["police|OC1|N1"][0]])
    first = raise_alerts(attached)
    assert first["email"] == {"sent": 0, "failed": 0, "no_address": 1}
    set_email(attached, "Ann", "ann@council.example")
    assert deliver_alerts(attached) == {"sent": 1, "failed": 0, "no_address": 0}
    assert deliver_alerts(attached) == {"sent": 0, "failed": 0, "no_address": 0}
    assert len(smtp.messages) == 1
    assert "Subject: FamilyHub alert: police in family F1" in smtp.messages[0].content.decode()


@duckdb_only
def test_the_email_gives_a_family_view_command_that_runs_and_is_audited(attached: Warehouse, warehouse_url: str,
                                                                       smtp: Inbox):
    set_email(attached, "Ann", "ann@council.example")
    load(attached, [EVENTS["health|H2"][0]])
    raise_alerts(attached)
    body = email.message_from_bytes(smtp.messages[0].content).get_payload(decode=True).decode()
    line = next(line for line in body.splitlines() if "familyhub family" in line)
    command = shlex.split(line[line.index("familyhub family"):])
    assert command[:3] == ["familyhub", "family", "F1"]
    shown = CliRunner().invoke(main, [*command[1:], "--warehouse", warehouse_url, "--as", "Ann"])
    assert shown.exit_code == 0, shown.output
    assert "Family F1" in shown.output
    log = attached.read("select actor, action, family_id, reason from ops.audit_log")
    assert log.values.tolist() == [["Ann", "view_family", "F1", "hospital alert of 2026-07-01"]]


@duckdb_only
def test_refused_email_is_recorded_and_retried(attached: Warehouse, smtp: Inbox):
    set_email(attached, "Ann", "ann@council.example")
    load(attached, [EVENTS["police|OC1|N1"][0]])
    smtp.refuse = True
    assert raise_alerts(attached)["email"]["failed"] == 1
    smtp.refuse = False
    assert deliver_alerts(attached)["sent"] == 1
    status = attached.read("select status from cohort.alert_deliveries order by attempted_at")["status"].tolist()
    assert status == ["failed", "sent"]


@duckdb_only
def test_credentials_come_from_the_environment_and_never_show(attached: Warehouse, smtp: Inbox,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            caplog: pytest.LogCaptureFixture):
    monkeypatch.setenv("FAMILYHUB_SMTP_USER", "hub")
    monkeypatch.setenv("FAMILYHUB_SMTP_PASSWORD", "s3cret-Pa55")
    monkeypatch.delenv("FAMILYHUB_SMTP_SECURITY")  # default: STARTTLS, which this server lacks
    settings = SmtpSettings.from_env()
    assert (settings.security, settings.user) == ("starttls", "hub")
    assert "s3cret" not in repr(settings)
    set_email(attached, "Ann", "ann@council.example")
    load(attached, [EVENTS["police|OC1|N1"][0]])
    with caplog.at_level(logging.DEBUG):
        result = raise_alerts(attached)
    assert result["email"]["failed"] == 1 and not smtp.messages  # no credentials over plain text
    errors = " ".join(attached.read("select error from cohort.alert_deliveries")["error"])
    assert "s3cret" not in errors + caplog.text
    monkeypatch.delenv("FAMILYHUB_SMTP_FROM")
    with pytest.raises(ValueError, match="FAMILYHUB_SMTP_FROM"):
        SmtpSettings.from_env()


@duckdb_only
def test_cli_lists_a_key_workers_alerts(attached: Warehouse, warehouse_url: str):
    load(attached, [EVENTS["police|OC1|N1"][0], EVENTS["health|H1"][0]])
    runner = CliRunner()
    out = runner.invoke(main, ["alerts", "--raise", "--key-worker", "Ann", "--warehouse", warehouse_url])
    assert out.exit_code == 0, out.output
    assert "alert pass: 2 new events, 2 alerts" in out.output
    assert "police call-out: CRIME" in out.output and "not e-mailed" in out.output
    since = datetime.now().date().isoformat()
    out = runner.invoke(main, ["alerts", "--key-worker", "Bob", "--since", since, "--warehouse", warehouse_url])
    assert out.exit_code == 0 and "no alerts" in out.output
