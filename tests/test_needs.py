"""Recorded needs: counted while open (boundaries), by every programme naming the headline,
kept with history, audited, shown in the family evidence and view, removed by erasure and
retention.

The test programme `needs_test` (written to a folder in FAMILYHUB_PROGRAMMES) has two
criteria met by recorded needs only, as sf2022's early_years and family_relationships are.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from test_claims import load, members, police

from pipeline.cli import main
from pipeline.governance.erasure import apply_retention, erase_person
from pipeline.programme.cohort import evaluate, load_programme, parse_programme
from pipeline.programme.identification import evaluate_cohort
from pipeline.programme.needs import add_need, change_need, close_need, list_needs
from pipeline.warehouse.engine import Warehouse

PROGRAMME = {
    "title": "Recorded needs test",
    "criteria": {
        "domestic_abuse": {"use": "tf2015"},
        "crime_asb": {"use": "tf2015"},
        "early_years": {"title": "Good early years development", "any_of": []},
        "family_relationships": {"any_of": []},
    },
    "eligibility": {"national": {"of": ["domestic_abuse", "crime_asb", "early_years", "family_relationships"],
                                 "min": 3}},
}
TEST = parse_programme(PROGRAMME, "needs_test")
NO_EVENTS = pd.DataFrame(columns=["family_id", "person_id", "agency", "record_key", "event_type", "event_date"])


@pytest.fixture
def programmes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "programmes"
    folder.mkdir()
    (folder / "needs_test.yaml").write_text(yaml.safe_dump(PROGRAMME))
    monkeypatch.setenv("FAMILYHUB_PROGRAMMES", str(folder))
    return folder


def need(need_id: str, headline: str, identified: str, closed: str | None = None, family: str = "F1",
         outcome: str | None = None) -> dict:
    return {"need_id": need_id, "family_id": family, "headline": headline, "identified_on": pd.Timestamp(identified),
            "evidence": f"assessment found {headline}", "recorded_by": "Ann", "outcome": outcome,
            "closed_on": pd.Timestamp(closed) if closed else pd.NaT}


# -- the engine ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("as_of", "counts"), [
    ("2026-02-28", False),  # the day before it was identified
    ("2026-03-01", True),   # the day it was identified
    ("2026-06-30", True),   # its closing day
    ("2026-07-01", False),  # the day after closing
])
def test_a_recorded_need_counts_while_open(as_of, counts):
    recorded = pd.DataFrame([need("N1", "early_years", "2026-03-01", "2026-06-30", outcome="achieved")])
    result = evaluate(TEST, NO_EVENTS, members("F1"), as_of, recorded=recorded)
    assert result.cohort.set_index("family_id").at["F1", "criteria"] == ("early_years" if counts else "")
    rows = result.evidence[result.evidence["agency"] == "recorded"]
    assert rows[["criterion", "record_key"]].values.tolist() == ([["early_years", "N1"]] if counts else [])
    if counts:
        assert rows["detail"].iloc[0] == "recorded need (by Ann): assessment found early_years"
        assert rows["event_date"].iloc[0] == pd.Timestamp("2026-03-01")


def test_recorded_needs_count_towards_eligibility_like_data_driven_ones():
    events = pd.DataFrame([police("F1", "OC1", "2026-02-01")])  # domestic abuse
    recorded = pd.DataFrame([need("N1", "early_years", "2026-01-01"), need("N2", "family_relationships", "2026-01-05"),
                             need("N3", "early_years", "2026-01-01", family="F2")])
    result = evaluate(TEST, events, members("F1", "F2"), "2026-03-31", recorded=recorded).cohort.set_index("family_id")
    assert result.at["F1", "criteria"] == "domestic_abuse,early_years,family_relationships"
    assert bool(result.at["F1", "eligible"]) and result.at["F1", "basis"] == "national"
    assert result.at["F2", "n_criteria"] == 1 and not result.at["F2", "eligible"]


def test_a_need_counts_only_in_programmes_naming_its_headline():
    recorded = pd.DataFrame([need("N1", "early_years", "2026-01-01"), need("N2", "health", "2026-01-01")])
    tf2015 = evaluate(load_programme("tf2015"), NO_EVENTS, members("F1"), "2026-03-31", recorded=recorded)
    assert tf2015.cohort["criteria"].tolist() == ["health"]
    assert tf2015.evidence["record_key"].tolist() == ["N2"]
    mine = evaluate(TEST, NO_EVENTS, members("F1"), "2026-03-31", recorded=recorded)
    assert mine.cohort["criteria"].tolist() == ["early_years"]


def test_a_need_of_a_family_the_linkage_does_not_know_is_ignored():
    recorded = pd.DataFrame([need("N1", "early_years", "2026-01-01", family="GONE")])
    result = evaluate(TEST, NO_EVENTS, members("F1"), "2026-03-31", recorded=recorded)
    assert result.evidence.empty and result.cohort["family_id"].tolist() == ["F1"]


# -- the warehouse -------------------------------------------------------------------------------
def test_add_change_close_keep_history_audit_and_show_in_the_evidence(warehouse: Warehouse, programmes: Path):
    load(warehouse, [police("F1", "OC1", "2026-02-01"), police("F1", "OC2", "2026-02-10", "CRIME", "SUSPECT")],
         ["F1"])
    first = add_need(warehouse, "F1", "early_years", date(2026, 3, 5), "  speech delay at the 2-year check ", "Ann")
    assert first.evidence == "speech delay at the 2-year check" and first.is_open
    changed = change_need(warehouse, first.need_id, on=date(2026, 3, 1), by="Bea")
    assert changed.identified_on == date(2026, 3, 1) and changed.recorded_by == "Ann"
    result = evaluate_cohort(warehouse, "needs_test", date(2026, 3, 31))
    assert result.cohort.set_index("family_id").at["F1", "eligible"]
    shown = warehouse.read("select * from reporting.family_evidence where agency = 'recorded'")
    assert shown[["family_id", "programme", "criterion", "record_key"]].values.tolist() == [
        ["F1", "needs_test", "early_years", first.need_id]]
    assert str(shown["event_date"].iloc[0])[:10] == "2026-03-01"

    closed = close_need(warehouse, first.need_id, "achieved", date(2026, 6, 30), by="Bea")
    assert (closed.outcome, closed.closed_on) == ("achieved", date(2026, 6, 30))
    history = warehouse.read("select change, changed_by, identified_on, outcome from cohort.recorded_needs "
                             "order by recorded_at")
    assert history[["change", "changed_by"]].values.tolist() == [["added", "Ann"], ["changed", "Bea"],
                                                                 ["closed", "Bea"]]
    current = warehouse.read("select * from reporting.recorded_need")
    assert len(current) == 1 and current["outcome"].iloc[0] == "achieved"
    log = warehouse.read("select actor, action, family_id, detail from ops.audit_log order by logged_at")
    assert log[["actor", "action", "family_id"]].values.tolist() == [
        ["Ann", "add_need", "F1"], ["Bea", "change_need", "F1"], ["Bea", "close_need", "F1"]]
    assert json.loads(log["detail"].iloc[2])["outcome"] == "achieved"
    assert list_needs(warehouse, "F1", open_only=True).empty
    later = evaluate_cohort(warehouse, "needs_test", date(2026, 7, 1))
    assert not later.cohort.set_index("family_id").at["F1", "eligible"]


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_bad_requests_say_what_is_wrong(warehouse: Warehouse, programmes: Path):
    load(warehouse, [police("F1", "OC1", "2026-02-01")], ["F1"])
    with pytest.raises(ValueError, match="no programme has a criterion 'early_year'"):
        add_need(warehouse, "F1", "early_year", date(2026, 3, 1), "speech delay", "Ann")
    with pytest.raises(ValueError, match="no family F9"):
        add_need(warehouse, "F9", "early_years", date(2026, 3, 1), "speech delay", "Ann")
    with pytest.raises(ValueError, match="evidence"):
        add_need(warehouse, "F1", "early_years", date(2026, 3, 1), " ", "Ann")
    made = add_need(warehouse, "F1", "early_years", date(2026, 3, 1), "speech delay", "Ann")
    with pytest.raises(ValueError, match="cannot close before"):
        close_need(warehouse, made.need_id, "achieved", date(2026, 2, 28))
    with pytest.raises(ValueError, match="achieved or not_achieved"):
        close_need(warehouse, made.need_id, "done", date(2026, 4, 1))
    close_need(warehouse, made.need_id, "not_achieved", date(2026, 4, 1))
    with pytest.raises(ValueError, match="already closed"):
        close_need(warehouse, made.need_id, "achieved", date(2026, 4, 2))
    with pytest.raises(ValueError, match="record a new need"):
        change_need(warehouse, made.need_id, evidence="more detail")
    with pytest.raises(ValueError, match="no recorded need N0"):
        close_need(warehouse, "N0", "achieved", date(2026, 4, 2))


def test_erasure_and_retention_remove_needs(warehouse: Warehouse, programmes: Path):
    load(warehouse, [police("F1", "OC1", "2026-02-01"), police("F1", "OC2", "2026-02-01", who="C"),
                     police("F2", "OC1", "2026-02-01")], ["F1", "F2"])  # each F1 member has a record
    add_need(warehouse, "F1", "early_years", date(2026, 3, 1), "speech delay", "Ann")
    old = add_need(warehouse, "F2", "early_years", date(2018, 3, 1), "speech delay", "Ann")
    close_need(warehouse, old.need_id, "achieved", date(2019, 1, 1))
    kept = add_need(warehouse, "F2", "family_relationships", date(2018, 3, 1), "conflict at home", "Ann")

    erase_person(warehouse, "F1A", who="dpo", reason="erasure request 17")
    assert set(list_needs(warehouse)["family_id"]) == {"F1", "F2"}  # one member left: about the family
    erase_person(warehouse, "F1C", who="dpo", reason="erasure request 17")
    assert set(list_needs(warehouse)["family_id"]) == {"F2"}  # the family is gone, and its needs

    dry = apply_retention(warehouse, who="dpo", days=7 * 365, as_of=date(2026, 1, 2), dry_run=True)
    assert dry["recorded_needs"] == 1
    done = apply_retention(warehouse, who="dpo", days=7 * 365, as_of=date(2026, 1, 2))
    assert done["removed"]["cohort.recorded_needs"] == 2  # both history rows of the closed need
    assert list_needs(warehouse)["need_id"].tolist() == [kept.need_id]  # still open: kept


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_cli_need_commands_and_the_family_view(warehouse_url: str, programmes: Path):
    wh = Warehouse.connect(warehouse_url)
    wh.migrate()
    load(wh, [police("F1", "OC1", "2026-02-01")], ["F1"])
    cli = CliRunner()
    base = ["--warehouse", warehouse_url]
    added = cli.invoke(main, ["need", "add", "F1", "--headline", "family_relationships", "--date", "2026-03-01",
                              "--evidence", "parental conflict", "--by", "Ann", *base])
    assert added.exit_code == 0, added.output
    need_id = added.output.split()[1]
    assert "family_relationships  identified 2026-03-01  open" in added.output
    refused = cli.invoke(main, ["need", "list", "F1", *base])
    assert refused.exit_code == 2 and "--reason" in refused.output
    listed = cli.invoke(main, ["need", "list", "F1", "--reason", "case 12 review", "--as", "Bea", *base])
    assert listed.exit_code == 0 and need_id in listed.output and "Ann: parental conflict" in listed.output
    closed = cli.invoke(main, ["need", "close", need_id, "--outcome", "not_achieved", "--date", "2026-09-01",
                               *base])
    assert closed.exit_code == 0 and "closed not_achieved on 2026-09-01" in closed.output
    bad = cli.invoke(main, ["need", "add", "F1", "--headline", "nope", "--date", "2026-03-01", "--evidence",
                            "whatever", *base])
    assert bad.exit_code == 1 and "no programme has a criterion 'nope'" in bad.output
    evaluate_cohort(wh, "needs_test", date(2026, 3, 31))
    view = cli.invoke(main, ["family", "F1", "--reason", "case 12 review", "--json", *base])
    assert view.exit_code == 0, view.output
    out = json.loads(view.output)
    assert [n["need_id"] for n in out["recorded_needs"]] == [need_id]
    assert [e["agency"] for e in out["evidence"] if e["criterion"] == "family_relationships"] == ["recorded"]
    text = cli.invoke(main, ["family", "F1", "--reason", "case 12 review", *base])
    assert "Recorded needs: 1" in text.output and "not_achieved 2026-09-01" in text.output
    actions = wh.read("select action from ops.audit_log")["action"].value_counts().to_dict()
    assert actions == {"add_need": 1, "close_need": 1, "view_family": 3}
