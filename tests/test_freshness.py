"""Freshness of partner extracts, and the notices that follow: the data team once per overdue
extract, an agency's contact once per refused file (never a value from the file)."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_alerts import Inbox, smtp  # noqa: F401  (the local SMTP server fixture)

from pipeline.cli import main
from pipeline.ingest.agencies import DeclarationError, Schedule, _parse, get_agency
from pipeline.ingest.freshness import due_after, freshness, notify_overdue, notify_refusals
from pipeline.ingest.load import ingest_landing
from pipeline.ingest.status import feed_table
from pipeline.warehouse.engine import Warehouse

HEADER = ("OccurrenceRef,NominalId,FullName,DOB,Sex,Address,Postcode,OccurrenceDateTime,Category,Role,"
          "OffenceCode,DomesticAbuse")


def row(i: int, category: str = "CRIME") -> str:
    return (f'OC/2026/{i:06d},NX{i}77,"QUILLFEATHER, Perpetua",14/03/1981,F,"{i} Marrowbone Lane",ZZ9 9ZZ,'
            f"01/08/2026 13:45,{category},SUSPECT,105/01,N")


def drop(landing: Path, name: str, rows: list[str], agency: str = "police") -> Path:
    folder = landing / agency
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


@pytest.fixture
def inbox(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Inbox:
    """The alerts tests' local SMTP server (fixture ``smtp``), and a data team address."""
    monkeypatch.setenv("FAMILYHUB_DATA_TEAM_EMAIL", "data.team@council.example")
    return request.getfixturevalue("smtp")


def mails(inbox: Inbox) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(m.content, policy=email.policy.default)  # type: ignore[misc]
            for m in inbox.messages]


@pytest.mark.parametrize(("every", "last", "due"), [
    ("daily", date(2026, 11, 30), date(2026, 12, 1)),
    ("weekly", date(2026, 12, 28), date(2027, 1, 4)),
    ("monthly", date(2026, 1, 31), date(2026, 2, 28)),
    ("termly", date(2027, 1, 5), date(2027, 4, 30)),   # autumn's file, sent after the term: spring next
    ("termly", date(2026, 12, 20), date(2027, 4, 30)),  # within the grace before its end: autumn's file
    ("termly", date(2026, 11, 2), date(2026, 12, 31)),  # mid-term: the term's end is still to come
    ("termly", date(2026, 5, 10), date(2026, 8, 31)),
])
def test_due_dates_follow_the_schedule(every: str, last: date, due: date) -> None:
    assert due_after(last, Schedule(every, 21, "x@y.example")) == due  # type: ignore[arg-type]


def test_every_declaration_states_a_valid_schedule(tmp_path: Path) -> None:
    assert get_agency("schools").schedule.every == "termly" and "@" in get_agency("police").schedule.contact
    source = get_agency("yot").source.read_text()
    for bad, words in (("every: fortnightly", "schedule.every: 'fortnightly'"),
                       ("grace_days: -1", "schedule.grace_days"), ("contact: nobody", "schedule.contact")):
        key = bad.split(":")[0]
        line = next(ln for ln in source.splitlines() if ln.startswith("schedule:"))
        old = next(p.strip(" {}") for p in line.removeprefix("schedule:").split(",") if p.strip(" {}").startswith(key))
        path = tmp_path / "yot.yaml"
        path.write_text(source.replace(old, bad))
        with pytest.raises(DeclarationError, match=rf"yot.yaml: {words}"):
            _parse(path)


def test_overdue_is_flagged_in_status_and_the_report_table(warehouse_url: str, tmp_path: Path) -> None:
    wh = Warehouse.connect(warehouse_url)
    wh.migrate()
    landing = tmp_path / "landing"
    drop(landing, "police_20261101.csv", [row(1)])
    ingest_landing(wh, landing, tmp_path / "quarantine")
    on_time = {f.agency: f for f in freshness(wh, date(2026, 11, 4))}
    assert (on_time["police"].last_file, on_time["police"].expected_by, on_time["police"].overdue) == (
        "police_20261101.csv", date(2026, 11, 4), False)  # daily, 2 days' grace
    assert on_time["yot"].last_file is None and not on_time["yot"].overdue  # never sent: nothing to expect
    late = CliRunner().invoke(main, ["status", "--warehouse", warehouse_url, "--at", "2026-11-07"])
    assert late.exit_code == 0, late.output
    police = next(ln for ln in late.output.splitlines() if ln.startswith("police"))
    assert "2026-11-04" in police and "OVERDUE 3 day(s)" in police
    as_json = json.loads(CliRunner().invoke(main, ["status", "--json", "--warehouse", warehouse_url,
                                                   "--at", "2026-11-07"]).output)
    assert as_json["police"]["freshness"]["overdue"] and as_json["police"]["freshness"]["days_overdue"] == 3
    assert as_json["yot"]["freshness"]["last_file"] is None and as_json["police"]["flagged_deliveries"] == []
    table = feed_table(wh, date(2026, 11, 7)).set_index("agency")
    assert table.at["police", "state"] == "OVERDUE 3 day(s)" and table.at["yot", "state"] == "no file yet"
    wh.engine.dispose()


def test_the_data_team_hears_once_per_overdue_extract(warehouse: Warehouse, tmp_path: Path, inbox: Inbox) -> None:
    landing = tmp_path / "landing"
    drop(landing, "police_20261101.csv", [row(1)])
    ingest_landing(warehouse, landing, tmp_path / "quarantine")
    assert notify_overdue(warehouse, date(2026, 11, 4))["overdue"] == [] and inbox.messages == []
    for day in (5, 6):  # overdue on both days: one e-mail
        result = notify_overdue(warehouse, date(2026, 11, day))
        assert result["overdue"] == ["police"]
    (message,) = mails(inbox)
    assert message["To"] == "data.team@council.example" and "police extract overdue" in message["Subject"]
    assert "expected by 2026-11-04" in message.get_content() and "data.sharing@police.example" in message.get_content()
    drop(landing, "police_20261105.csv", [row(2)])  # it arrives, then is late again: a new overdue extract
    ingest_landing(warehouse, landing, tmp_path / "quarantine")
    assert notify_overdue(warehouse, date(2026, 11, 6))["overdue"] == []
    notify_overdue(warehouse, date(2026, 11, 20))
    assert len(inbox.messages) == 2 and "expected by 2026-11-08" in mails(inbox)[1].get_content()


def test_a_refused_file_sends_its_agency_a_notice_once_without_personal_data(
        warehouse: Warehouse, tmp_path: Path, inbox: Inbox) -> None:
    landing = tmp_path / "landing"
    rows = [row(i) for i in range(1, 7)] + [row(i, category="ZEBRAFISH") for i in range(7, 11)]
    drop(landing, "police_20261101.csv", rows)
    (outcome,) = ingest_landing(warehouse, landing, tmp_path / "quarantine")
    assert outcome.status == "refused"
    assert notify_refusals(warehouse)["sent"] == 1
    assert notify_refusals(warehouse)["sent"] == 0  # once per refused file
    (message,) = mails(inbox)
    body = message.get_content()
    assert message["To"] == "data.sharing@police.example" and "police_20261101.csv" in message["Subject"]
    assert "4 of 10 rows" in body and "4 × Category: unknown code" in body
    assert "Rows concerned (first ones): 7, 8, 9, 10" in body
    values = {v.strip('"') for r in rows for v in r.split(",")} - {"CRIME", "SUSPECT", "N", "F", "105/01"}
    assert not [v for v in values if v and v in body], "a value from the file's rows is in the notice"


def test_cli_ingest_sends_refusal_notices(warehouse: Warehouse, tmp_path: Path, inbox: Inbox) -> None:
    landing = tmp_path / "landing"
    (landing / "police").mkdir(parents=True)
    (landing / "police" / "police_20261101.csv").write_text(HEADER + "\n" + row(1) + ',"extra","fields"\n')
    result = CliRunner().invoke(main, ["ingest", "--landing", str(landing), "--warehouse", warehouse.url, "--json"])
    assert result.exit_code == 0 and json.loads(result.output)[0]["status"] == "refused"
    (message,) = mails(inbox)
    body = message.get_content()
    assert "Why: cannot be parsed as" in body and "QUILLFEATHER" not in body and "Marrowbone" not in body
