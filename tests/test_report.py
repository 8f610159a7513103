"""Savings of attached families and the HTML report, opened in headless Chromium.

The browser test keeps a screenshot in artifacts/report.png (git-ignored)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from test_claims import crime_and_abuse, load, members, police
from test_linkage_groups import load_linked

from pipeline.cli import main
from pipeline.programme.claims import make_claims
from pipeline.programme.cohort import load_programme
from pipeline.programme.identification import evaluate_cohort
from pipeline.programme.report import write_report
from pipeline.programme.savings import family_outcomes, record_outcomes, totals
from pipeline.warehouse.engine import Warehouse

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
AS_OF = date(2026, 11, 1)


def test_cost_before_attachment_and_in_the_latest_12_months():
    # crime £1,500 and domestic incidents £1,000 each (tf2015 unit costs, per occurrence)
    events = pd.DataFrame([*crime_and_abuse("F1", "2026-08-01"), police("F2", "OC8", "2025-05-01"),
                           police("F2", "OC9", "2025-05-02")])
    attachments = pd.DataFrame({"family_id": ["F1", "F1", "F2", "F3"],
                                "attached_on": pd.to_datetime(["2026-05-01", "2026-10-01", "2026-05-01", "2026-12-01"])})
    out = family_outcomes(load_programme("tf2015"), events, members("F1", "F2", "F3"), attachments, AS_OF)
    assert out[["family_id", "cost_before", "cost_latest"]].values.tolist() == [
        ["F1", 2500.0, 3500.0],  # crime + incident before; crime + 2 incidents in the latest 12 months
        ["F2", 1000.0, 0.0],  # the window up to 1 May 2026 starts on 2 May 2025
    ]  # F3 is attached after the as-of date
    assert totals(out) == {"families": 2, "cost_before": 3500.0, "cost_latest": 3500.0, "saving": 0.0}


def test_family_outcome_view(warehouse: Warehouse):
    load(warehouse, crime_and_abuse("F1", "2026-08-01"), ["F1"])
    record_outcomes(warehouse, "tf2015", AS_OF)
    record_outcomes(warehouse, "tf2015", AS_OF)  # replaces, never adds
    row = warehouse.read("select * from reporting.family_outcome").iloc[0]
    assert (row["family_id"], row["status"], row["key_worker"]) == ("F1", "attached", "Ann")
    assert (float(row["cost_before"]), float(row["cost_latest"]), float(row["saving"])) == (2500, 3500, -1000)
    assert warehouse.scalar("select count(*) from reporting.family_outcome") == 1


@pytest.fixture
def programme_warehouse(tmp_path: Path) -> Warehouse:
    """Hand-built families with a cohort, scored links, claims and savings (DuckDB)."""
    wh = Warehouse.connect(f"duckdb:///{tmp_path / 'report.duckdb'}")
    wh.migrate()
    families = ["F1", "F2", "F<script>"]
    load(wh, [e for f in families for e in crime_and_abuse(f, "2026-04-02")], families)
    evaluate_cohort(wh, "tf2015", AS_OF)
    links = pd.DataFrame({"mention_id_l": [f"a{i}" for i in range(12)], "mention_id_r": [f"b{i}" for i in range(12)],
                          "match_weight": [18.0, 21, 22, 25, 30, 12, 15, 9, 4, 5, -2, 1],
                          "status": ["accepted"] * 7 + ["review"] * 3 + ["dropped"] * 2, "run_id": "r1"})
    with wh.begin() as conn:
        wh.insert(conn, "linked.record_links", links)
    make_claims(wh, "tf2015", "2026-H2")
    return wh


def test_report_is_one_escaped_file_with_charts(programme_warehouse: Warehouse, tmp_path: Path):
    html = write_report(programme_warehouse, tmp_path / "report.html").read_text(encoding="utf-8")
    assert len(re.findall(r'<img alt="[^"]+" src="data:image/png;base64,', html)) == 6
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing to fetch
    assert "<script" not in html and "F&lt;script&gt;" in html
    assert re.search(r"<div class=value>3</div><div class=label>clerical review queue", html)
    assert "£5,400" in html  # three attachment fees and three results payments
    feeds = html[html.index("Partner feeds"):]  # every agency's freshness; none has sent a file here
    assert feeds.count("no file yet") == 7 and "termly (+21 days)" in feeds


def test_report_shows_records_linked_to_another_agency_by_age_band(programme_warehouse: Warehouse,
                                                                    tmp_path: Path):
    load_linked(programme_warehouse)  # health: 0-4 and 45-64 linked; police: 45-64 linked, one unknown age alone
    html = write_report(programme_warehouse, tmp_path / "report.html").read_text(encoding="utf-8")
    table = html[html.index("Records linked to another agency"):html.index("Payment-by-results")]
    assert "<th>agency</th><th>0-4</th><th>11-15</th><th>45-64</th><th>unknown</th>" in table
    assert "<td>police</td><td></td><td></td><td>100.0% of 2</td><td>0.0% of 1</td>" in table


def test_cli_report(programme_warehouse: Warehouse, tmp_path: Path):
    url = str(programme_warehouse.engine.url)
    programme_warehouse.engine.dispose()
    out = tmp_path / "out" / "report.html"
    result = CliRunner().invoke(main, ["report", str(out), "--warehouse", url])
    assert result.exit_code == 0, result.output
    assert out.is_file() and f"wrote {out}" in result.output
    missing = CliRunner().invoke(main, ["report", str(out), "--programme", "tf2012", "--warehouse", url])
    assert missing.exit_code == 1 and "no cohort evaluated for tf2012" in missing.output


@pytest.mark.browser
def test_report_renders_offline_in_chromium(programme_warehouse: Warehouse, tmp_path: Path):
    from playwright.sync_api import sync_playwright

    path = write_report(programme_warehouse, tmp_path / "report.html")
    ARTIFACTS.mkdir(exist_ok=True)
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--no-sandbox", "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
        headings = page.eval_on_selector_all("h2", "hs => hs.map(h => h.textContent)")
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        browser.close()
    assert len(widths) == 6 and min(widths) > 100  # every chart decoded
    assert headings[:5] == ["Cohort", "Estimated annual cost", "Linkage", "Payment-by-results claims",
                            "Savings of attached families"]
    assert all(u.startswith(("file:", "data:")) for u in requests)
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000


def test_report_shows_sf2022_claims_beside_tf2015(programme_warehouse: Warehouse, tmp_path: Path):
    sf = {"claim_id": "sf2022:2026-H2:F1:results", "programme": "sf2022", "claim_window": "2026-H2",
          "claim_date": "2026-12-31", "family_id": "F1", "payment": "results", "result": "sustained_outcomes",
          "programme_year": 4, "attached_on": "2026-05-01", "amount": 800, "evidence": "case closed",
          "made_at": "2027-01-02 09:00:00", "case_id": "CF1"}
    with programme_warehouse.begin() as conn:
        programme_warehouse.insert(conn, "cohort.claims", pd.DataFrame([sf]))
    html = write_report(programme_warehouse, tmp_path / "report.html").read_text(encoding="utf-8")
    cells = re.findall(r"<td>([^<]*)</td><td>2026-H2</td><td>(attachment|results)</td><td>(\d+)</td>", html)
    assert cells == [("sf2022", "results", "1"), ("tf2015", "attachment", "3"), ("tf2015", "results", "3")]
    assert "£6,200" in html  # £5,400 of tf2015 and £800 of sf2022
