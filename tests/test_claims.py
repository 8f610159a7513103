"""Payment-by-results claims: each rule at its boundary on hand-built families, the tf2012
split, the attachment-fee cap, no double claim across windows, and the CSV return.

Families are attached on 1 May 2026 (programme year 1 from 1 April 2026) unless said, and
claimed in window 2026-H2, whose claim date is 31 December 2026: its 6 months are
1 July - 31 December 2026 and 26 weeks before it is 2 July 2026.
"""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.programme.cases import follow
from pipeline.programme.claims import assess, make_claims
from pipeline.programme.cohort import load_programme, parse_programme
from pipeline.programme.payments import ClaimWindow, Payments, load_payments
from pipeline.warehouse.engine import Warehouse

#: For tests whose SQL is covered on both backends elsewhere: DuckDB only, to keep the suite quick.
duckdb_only = pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)

TF2015, TF2012 = load_programme("tf2015"), load_programme("tf2012")
PAY2015, PAY2012 = load_payments(TF2015), load_payments(TF2012)
H2 = ClaimWindow.parse("2026-H2")
ATTACHED = "2026-05-01"
ADULT_DOB, CHILD_DOB = "1985-06-01", "2012-02-01"


def members(*families: str) -> pd.DataFrame:
    """Each family has an adult `<F>A` and a child `<F>C`."""
    return pd.DataFrame([{"family_id": f, "person_id": f + role, "dob": dob, "postcode": "BS23 1AB"}
                         for f in families for role, dob in (("A", ADULT_DOB), ("C", CHILD_DOB))])


def ev(family: str, who: str, agency: str, key: str, event_type: str, when: str | None = None,
       **columns: object) -> dict:
    return {"family_id": family, "person_id": family + who, "agency": agency, "record_key": f"{family}/{key}",
            "event_type": event_type, "event_date": when, **columns}


def police(family: str, key: str, when: str, category: str = "DOMESTIC_INCIDENT", role: str = "VICTIM",
           who: str = "A") -> dict:
    return ev(family, who, "police", f"{key}|N{family}{who}", category, when, role=role,
              domestic_abuse=category == "DOMESTIC_INCIDENT")


def claim(family: str, key: str, start: str, end: str | None) -> dict:
    return ev(family, "A", "dwp", key, "JSA", start, start_date=start, end_date=end)


def term(family: str, code: str, unauthorised: int, suspensions: int = 0) -> dict:
    return ev(family, "C", "schools", code, "SCHOOL_TERM", term=code, sessions_possible=100,
              sessions_authorised_absent=0, sessions_unauthorised_absent=unauthorised, suspensions=suspensions)


def run(programme, payments, events: list[dict], families: list[str], attached: dict[str, str] | None = None,
        window: ClaimWindow = H2, claimed: pd.DataFrame | None = None, claim_date: date | None = None):
    attachments = pd.DataFrame([{"family_id": f, "attached_on": pd.Timestamp((attached or {}).get(f, ATTACHED))}
                                for f in families])
    return assess(programme, payments, pd.DataFrame(events), members(*families), attachments, window,
                  claim_date, claimed)


def paid(result, payment: str = "results") -> dict[str, str | None]:
    rows = result.claims[result.claims["payment"] == payment]
    return dict(zip(rows["family_id"], rows["result"], strict=True))


# -- tf2015 -----------------------------------------------------------------------------------
def crime_and_abuse(family: str, last_abuse: str) -> list[dict]:
    """Crime and domestic abuse before attachment, and one more incident on `last_abuse`."""
    return [police(family, "OC1", "2026-03-01", "CRIME", "SUSPECT"), police(family, "OC2", "2026-04-01"),
            police(family, "OC3", last_abuse)]


def test_tf2015_sustained_progress_needs_6_clear_months_before_the_claim_date():
    events = crime_and_abuse("F1", "2026-06-30") + crime_and_abuse("F2", "2026-07-01")
    result = run(TF2015, PAY2015, events, ["F1", "F2"])
    assert paid(result) == {"F1": "sustained_progress"}
    assert set(paid(result, "attachment")) == {"F1", "F2"}
    evidence = result.evidence[result.evidence["claim_id"] == "tf2015:2026-H2:F1:results"]
    assert {"crime_asb", "domestic_abuse"} <= set(evidence["item"])
    assert "domestic_abuse: not met from 2026-07-01 to 2026-12-31" in " ".join(evidence["detail"])
    assert evidence["record_key"].notna().any()  # the events met at attachment are listed


@pytest.mark.parametrize(("attached", "due"), [("2026-06-30", True), ("2026-07-01", False)])
def test_tf2015_results_need_6_months_since_attachment(attached, due):
    events = [police("F1", "OC1", "2026-01-10", "CRIME", "SUSPECT"), police("F1", "OC2", "2026-01-11")]
    result = run(TF2015, PAY2015, events, ["F1"], {"F1": attached})
    assert paid(result) == ({"F1": "sustained_progress"} if due else {})
    assert list(paid(result, "attachment")) == ["F1"]


@pytest.mark.parametrize(("end", "pays"), [("2026-07-02", True), ("2026-07-03", False)])
def test_tf2015_continuous_employment_26_weeks(end, pays):
    events = [claim("F1", "CL1", "2025-06-01", end), police("F1", "OC1", "2026-04-01")]
    result = run(TF2015, PAY2015, events, ["F1"])
    assert paid(result) == ({"F1": "continuous_employment"} if pays else {})
    if pays:
        row = result.evidence[result.evidence["item"] == "employment"].iloc[0]
        assert (row["agency"], row["record_key"]) == ("dwp", "F1/CL1")
        assert "ended 2026-07-02" in result.claims.loc[result.claims["payment"] == "results", "evidence"].iloc[0]


def test_tf2015_employment_needs_no_new_claim_and_an_end_after_attachment():
    events = [claim("F1", "CL1", "2025-06-01", "2026-06-01"), claim("F1", "CL2", "2026-10-01", None),
              police("F1", "OC1", "2026-04-01"),
              claim("F2", "CL1", "2025-01-01", "2026-04-15"), police("F2", "OC1", "2026-04-01"),
              police("F2", "OC2", "2026-11-01")]
    result = run(TF2015, PAY2015, events, ["F1", "F2"])
    assert paid(result) == {}
    assert set(paid(result, "attachment")) == {"F1", "F2"}


def test_not_eligible_at_attachment_is_never_claimed():
    events = [police("F1", "OC1", "2026-04-01")]  # one criterion only
    result = run(TF2015, PAY2015, events, ["F1"])
    assert result.claims.empty
    reasons = set(result.not_claimed["reason"])
    assert any(r.startswith("not eligible under tf2015") for r in reasons)


# -- tf2012 -----------------------------------------------------------------------------------
def tf2012_family(f: str, yot_after: int = 2, asb_after: int = 2, spring: int = 0, summer: int = 20,
                  autumn: int = 24, suspensions: int = 0) -> list[dict]:
    """All three criteria at attachment: 3 YOT outcomes and 5 ASB occurrences of the child in
    the 6 months before, an out-of-work adult, 20% absence over the last 3 terms. Afterwards:
    `yot_after` outcomes and `asb_after` ASB occurrences in the latest 6 months, and the terms
    since (2025-SPR, 2025-SUM, 2026-AUT) with the given unauthorised sessions out of 100."""
    child = [ev(f, "C", "yot", f"YO{i}", "YOUTH_CAUTION", f"2026-0{i + 1}-15") for i in range(1, 4)]
    child += [police(f, f"ASB{i}", f"2026-0{i}-20", "ASB", "SUSPECT", who="C") for i in range(1, 5)]
    child += [police(f, "ASB5", "2025-11-20", "ASB", "SUSPECT", who="C")]
    child += [ev(f, "C", "yot", f"YO9{i}", "YOUTH_CAUTION", f"2026-{8 + i:02d}-10") for i in range(yot_after)]
    child += [police(f, f"ASB9{i}", f"2026-{7 + i:02d}-05", "ASB", "SUBJECT", who="C") for i in range(asb_after)]
    terms = [term(f, "2024-SUM", 30), term(f, "2025-AUT", 30), term(f, "2025-SPR", spring),
             term(f, "2025-SUM", summer), term(f, "2026-AUT", autumn, suspensions)]
    return [*child, *terms, claim(f, "CL1", "2025-01-01", None)]


@pytest.mark.parametrize(("change", "pays"), [
    ({}, True),                                       # youth offending 3 -> 2 (33%), ASB 5 -> 2 (60%)
    ({"yot_after": 3}, False),                        # no fall in youth offending
    ({"asb_after": 3}, False),                        # ASB 5 -> 3 is a 40% fall
    ({"autumn": 25}, False),                          # 45/300 = 15% unauthorised absence
    ({"suspensions": 2}, True),
    ({"suspensions": 3}, False),
])
def test_tf2012_crime_asb_and_education_boundaries(change, pays):
    result = run(TF2012, PAY2012, tf2012_family("F1", **change), ["F1"])
    assert paid(result) == ({"F1": "crime_asb_education"} if pays else {})
    assert list(paid(result, "attachment")) == ["F1"]


def test_tf2012_evidence_shows_the_falls():
    result = run(TF2012, PAY2012, tf2012_family("F1"), ["F1"])
    summary = result.claims.set_index("payment").loc["results", "evidence"]
    assert "youth_offending: 3 in the 6 months to attachment, 2 in the latest 6 months (fall 33%" in summary
    assert "anti_social_behaviour: 5 in the 6 months to attachment, 2 in the latest 6 months (fall 60%" in summary
    counted = result.evidence[(result.evidence["item"] == "youth_offending") & result.evidence["record_key"].notna()]
    assert len(counted) == 5


@pytest.mark.parametrize(("attached", "window", "fee", "results"), [
    ("2026-05-01", "2026-H2", 3200, 800), ("2027-05-01", "2027-H2", 2400, 1600),
    ("2028-05-01", "2028-H2", 1600, 2400)])
def test_tf2012_split_of_4000_by_year_of_attachment(attached, window, fee, results):
    # the same family shifted so that it is attached in year 1, 2 or 3
    shift = pd.DateOffset(years=int(attached[:4]) - 2026)
    events = pd.DataFrame(tf2012_family("F1"))
    for col in ("event_date", "start_date"):
        events[col] = pd.to_datetime(events[col]) + shift
    events["term"] = events["term"].map(lambda t: f"{int(t[:4]) + shift.years}{t[4:]}" if isinstance(t, str) else t)
    result = run(TF2012, PAY2012, events.to_dict("records"), ["F1"], {"F1": attached}, ClaimWindow.parse(window))
    amounts = result.claims.set_index("payment")["amount"]
    assert (amounts["attachment"], amounts["results"]) == (fee, results)
    assert amounts.sum() == 4000


def test_attachment_outside_the_programme_years_is_not_claimed():
    result = run(TF2015, PAY2015, crime_and_abuse("F1", "2026-01-01"), ["F1"], {"F1": "2026-03-31"},
                 claim_date=date(2026, 12, 31))
    assert result.claims.empty
    assert "attached outside the programme years configured" in set(result.not_claimed["reason"])


# -- cap and windows ---------------------------------------------------------------------------
def small_commitment(families: int) -> Payments:
    years = [y.model_copy(update={"families": families}) for y in PAY2015.years]
    return PAY2015.model_copy(update={"years": years})


def test_attachment_fees_capped_at_five_sixths_of_the_families_committed():
    families = [f"F{i}" for i in range(1, 8)]
    events = [e for f in families for e in crime_and_abuse(f, "2026-04-02")]
    attached = {f: "2026-05-02" if f in ("F1", "F2") else "2026-05-01" for f in families}
    result = run(TF2015, small_commitment(6), events, families, attached)
    assert sorted(paid(result, "attachment")) == families[2:]  # attached first, first paid
    assert set(result.not_claimed.loc[result.not_claimed["reason"].str.contains("cap"), "family_id"]) == {"F1", "F2"}
    year1 = result.cap.set_index("programme_year").loc[1]
    assert (year1["families"], year1["cap"], year1["claimed"], year1["remaining"]) == (6, 5, 5, 0)

    claimed = result.claims.loc[result.claims["payment"] == "attachment", ["family_id", "payment", "programme_year"]]
    later = run(TF2015, small_commitment(6), events, families, attached, ClaimWindow.parse("2027-H1"), claimed)
    assert paid(later, "attachment") == {}
    assert later.cap.set_index("programme_year").loc[1, "remaining"] == 0


def test_payments_file_errors_name_the_problem():
    with pytest.raises(ValueError, match="per_family needs an attachment_share"):
        Payments.model_validate({"programme": "x", "per_family": 4000,
                                 "years": [{"from": "2026-04-01", "families": 10}],
                                 "results": {"r": {"employment": {"weeks": 26, "agency": "dwp"}}}})
    with pytest.raises(ValueError, match="not a share"):
        Payments.model_validate({"programme": "x", "attachment_fee": 1, "results_payment": 1,
                                 "attachment_cap": "five sixths",
                                 "years": [{"from": "2026-04-01", "families": 10}],
                                 "results": {"r": {"employment": {"weeks": 26, "agency": "dwp"}}}})
    with pytest.raises(ValueError, match="YYYY-H1 or YYYY-H2"):
        ClaimWindow.parse("2026-Q3")


# -- the warehouse: recording, no double claim, CSV -------------------------------------------
def load(wh: Warehouse, events: list[dict], families: list[str], attached: str = ATTACHED) -> None:
    """Hand-built staging and linked rows for `events`, and the families attached."""
    frame = pd.DataFrame(events)
    frame["mention_id"] = frame["agency"] + "|" + frame["record_key"]
    mem = members(*families)
    with wh.begin() as conn:
        staging = frame.drop(columns=["family_id", "person_id"]).assign(file_id=1, version=1)
        for col in ("event_date", "start_date", "end_date"):
            if col in staging:
                staging[col] = pd.to_datetime(staging[col])
        wh.insert(conn, "staging.events", staging)
        wh.insert(conn, "linked.mention_person", frame[["mention_id", "person_id"]].assign(run_id="r1"))
        wh.insert(conn, "linked.persons", mem[["person_id"]].assign(
            date_of_birth=pd.to_datetime(mem["dob"]), postcode=mem["postcode"], n_mentions=1))
        wh.insert(conn, "linked.person_family", mem[["person_id", "family_id", "postcode"]])
        wh.insert(conn, "linked.families", pd.DataFrame({"family_id": families, "n_members": 2}))
        wh.insert(conn, "cohort.attachments", pd.DataFrame({
            "family_id": families, "key_worker": "Ann", "attached_on": pd.Timestamp(attached),
            "recorded_at": pd.Timestamp("2026-05-01 09:00"), "case_id": families}))  # one case per family
        wh.insert(conn, "cohort.case_families", pd.DataFrame({"case_id": families, "family_id": families}))


def test_claims_recorded_once_across_windows(warehouse: Warehouse):
    load(warehouse, crime_and_abuse("F1", "2026-04-02") + crime_and_abuse("F2", "2026-08-01"), ["F1", "F2"])
    first = make_claims(warehouse, "tf2015", "2026-H2")
    assert set(first.claims["claim_id"]) == {"tf2015:2026-H2:F1:attachment", "tf2015:2026-H2:F2:attachment",
                                             "tf2015:2026-H2:F1:results"}
    again = make_claims(warehouse, "tf2015", "2026-H2")  # re-running a window replaces it
    assert set(again.claims["claim_id"]) == set(first.claims["claim_id"])
    later = make_claims(warehouse, "tf2015", "2027-H2")  # F2's incidents are now long past
    assert set(later.claims["claim_id"]) == {"tf2015:2027-H2:F2:results"}
    view = warehouse.read("select * from reporting.claim order by claim_id")
    assert len(view) == 4
    assert not view.duplicated(["programme", "family_id", "payment"]).any()
    assert float(view["amount"].astype(float).sum()) == 1000 * 2 + 800 * 2
    evidence = warehouse.read("select * from cohort.claim_evidence where claim_id = 'tf2015:2026-H2:F1:results'")
    assert {"crime_asb", "domestic_abuse"} <= set(evidence["item"])


def test_the_table_refuses_a_second_claim(warehouse: Warehouse):
    load(warehouse, crime_and_abuse("F1", "2026-04-02"), ["F1"])
    result = make_claims(warehouse, "tf2015", "2026-H2")
    duplicate = result.claims.head(1).assign(claim_id="other", claim_window="2027-H1", made_at="2027-01-01 00:00:00")
    with pytest.raises(Exception, match=r"(?i)constraint|duplicate|unique"), warehouse.begin() as conn:
        warehouse.insert(conn, "cohort.claims", duplicate)


@duckdb_only
def test_cli_claims_writes_a_formula_safe_audited_return(warehouse_url: str, tmp_path: Path):
    wh = Warehouse.connect(warehouse_url)
    wh.migrate()
    load(wh, crime_and_abuse("=HYPERLINK(1)", "2026-04-02") + crime_and_abuse("F2", "2026-04-02"),
         ["=HYPERLINK(1)", "F2"])
    out = tmp_path / "return.csv"
    args = ["claims", "--programme", "tf2015", "--window", "2026-H2", "--warehouse", warehouse_url, "--csv", str(out)]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 2 and "--reason" in refused.output
    assert not out.exists() and wh.read("select * from ops.audit_log").empty
    result = CliRunner().invoke(main, [*args, "--reason", "2026-H2 government return", "--as", "finance"])
    assert result.exit_code == 0, result.output
    assert "attachment fees: 2 (£2,000)" in result.output
    assert "claims remaining under the cap" in result.output
    rows = list(csv.DictReader(out.open()))
    assert {r["family_id"] for r in rows} == {"'=HYPERLINK(1)", "F2"}
    assert sorted(r["amount"] for r in rows) == ["1000.00", "1000.00", "800.00", "800.00"]
    log = wh.read("select actor, action, family_id, person_id, reason, detail from ops.audit_log order by family_id")
    assert log[["actor", "action", "family_id", "reason"]].values.tolist() == [
        ["finance", "export", "=HYPERLINK(1)", "2026-H2 government return"],
        ["finance", "export", "F2", "2026-H2 government return"]]  # one row per family, the real id
    assert log["person_id"].isna().all() and log["detail"].str.startswith("claims return (tf2015 2026-H2)").all()
    dry = CliRunner().invoke(main, ["claims", "--programme", "tf2015", "--window", "2026-H2", "--dry-run",
                                    "--warehouse", warehouse_url])
    assert dry.exit_code == 0, dry.output  # no file, no reason needed


# -- sf2022: outcomes sustained after closure ------------------------------------------------------
#: sf2022-like criteria (the real rules are pipeline/programmes/sf2022.yaml): eligible with 3 of
#: them; early_years is met by a recorded need only. Case closed on 30 June 2026, so 6 months
#: after closure is 30 December 2026.
SF_RULES = {
    "criteria": {"crime_asb": {"use": "tf2015"}, "domestic_abuse": {"use": "tf2015"},
                 "education": {"use": "tf2015"}, "worklessness": {"use": "tf2015"}, "early_years": {"any_of": []}},
    "eligibility": {"national": {"of": ["crime_asb", "domestic_abuse", "education", "worklessness", "early_years"],
                                 "min": 3}},
}
SF2022 = parse_programme(SF_RULES, "sf2022")
PAYSF = load_payments(SF2022)
CLOSED = "2026-06-30"


def sf_need(need_id: str, identified: str = "2026-04-15", outcome: str | None = "achieved",
            closed: str | None = CLOSED, family: str = "F1", headline: str = "early_years") -> dict:
    return {"need_id": need_id, "family_id": family, "headline": headline, "identified_on": pd.Timestamp(identified),
            "evidence": "speech delay", "recorded_by": "Ann", "outcome": outcome if closed else None,
            "closed_on": pd.Timestamp(closed) if closed else pd.NaT}


def sf_family(family: str = "F1") -> list[dict]:
    """Crime and domestic abuse before attachment (with the recorded early_years need: 3 needs)."""
    return [police(family, "OC1", "2026-03-01", "CRIME", "SUSPECT"), police(family, "OC2", "2026-04-01")]


def run_sf(events: list[dict], needs: list[dict], closed: str | None = CLOSED, claim_date: date | None = None,
           families: tuple[str, ...] = ("F1",), window: ClaimWindow = H2, claimed: pd.DataFrame | None = None,
           episodes: list[dict] | None = None):
    attachments = pd.DataFrame(episodes or [{"family_id": f, "attached_on": pd.Timestamp(ATTACHED),
                                             "closed_on": pd.Timestamp(closed) if closed else pd.NaT}
                                            for f in families])
    return assess(SF2022, PAYSF, pd.DataFrame(events), members(*families), attachments, window, claim_date,
                  claimed, needs=pd.DataFrame(needs))


def test_sf2022_pays_once_per_family_with_evidence_per_need_and_no_attachment_fee():
    result = run_sf(sf_family(), [sf_need("N1")])
    assert result.claims[["family_id", "payment", "result", "amount"]].values.tolist() == [
        ["F1", "results", "sustained_outcomes", 800.0]]
    assert result.claims["amount"].iloc[0] == Decimal("800")  # money is Decimal, never float
    assert isinstance(result.claims["amount"].iloc[0], Decimal)
    assert result.cap.empty and set(result.not_claimed["payment"]) <= {"results"}
    evidence = result.evidence
    assert {"closure", "crime_asb", "domestic_abuse", "early_years"} <= set(evidence["item"])
    recorded = evidence[evidence["agency"] == "recorded"]
    assert set(recorded["record_key"]) == {"N1"}
    summary = result.claims["evidence"].iloc[0]
    assert "case closed on 2026-06-30, 6 months or more before the claim date 2026-12-31" in summary
    assert "domestic_abuse: no qualifying event from 2026-06-30 to 2026-12-31 (met at attachment)" in summary
    assert "early_years: recorded need N1 closed achieved on 2026-06-30, no new need since" in summary
    claimed = result.claims[["family_id", "payment", "programme_year"]]
    again = run_sf(sf_family(), [sf_need("N1")], window=ClaimWindow.parse("2027-H1"), claimed=claimed)
    assert again.claims.empty  # a family is never claimed twice
    assert "already claimed in an earlier window" in set(again.not_claimed["reason"])


@pytest.mark.parametrize(("claim_date", "pays"), [(date(2026, 12, 30), True), (date(2026, 12, 29), False)])
def test_sf2022_needs_6_months_since_closure(claim_date, pays):
    result = run_sf(sf_family(), [sf_need("N1")], claim_date=claim_date)
    assert paid(result) == ({"F1": "sustained_outcomes"} if pays else {})


@pytest.mark.parametrize(("incident", "pays"), [
    ("2026-06-29", True),    # before closure: not a relapse
    ("2026-06-30", False),   # on the closure date
    ("2026-11-29", False),   # a relapse in month 5
    ("2026-12-31", False),   # on the claim date
])
def test_sf2022_a_qualifying_event_after_closure_blocks(incident, pays):
    result = run_sf([*sf_family(), police("F1", "OC9", incident)], [sf_need("N1")])
    assert paid(result) == ({"F1": "sustained_outcomes"} if pays else {})


@pytest.mark.parametrize(("needs", "pays"), [
    ([sf_need("N1", outcome="not_achieved")], False),
    ([sf_need("N1", closed=None)], False),                                     # still open
    ([sf_need("N1", closed="2027-01-05")], False),                             # closed after the claim date
    ([sf_need("N1"), sf_need("N2", identified="2026-09-01", closed=None)], False),  # a new need since
    ([sf_need("N1"), sf_need("N2", identified="2026-09-01", closed=None, headline="family_relationships")], True),
    ([sf_need("N1"), sf_need("N0", identified="2025-01-01", closed="2026-01-01")], True),  # closed before
])
def test_sf2022_recorded_needs_must_be_achieved_and_stay_so(needs, pays):
    result = run_sf(sf_family(), needs)
    assert paid(result) == ({"F1": "sustained_outcomes"} if pays else {})


@pytest.mark.parametrize("after", ["incident", "claim"])
def test_sf2022_each_family_judged_from_its_own_closure_date(after):
    # both families: an incident on 1 June, or an out-of-work claim ending 15 June 2026 (open at
    # attachment); for F1 (closed 30 June) it is before closure, for F2 (closed 1 June) a relapse
    def events(f: str) -> list[dict]:
        late = police(f, "OC8", "2026-06-01") if after == "incident" else claim(f, "CL1", "2026-01-01", "2026-06-15")
        return [*sf_family(f), late]

    episodes = [{"family_id": f, "attached_on": pd.Timestamp(ATTACHED), "closed_on": pd.Timestamp(c)}
                for f, c in (("F1", "2026-06-30"), ("F2", "2026-06-01"))]
    needs = [sf_need("N1", family="F1"), sf_need("N2", family="F2", closed="2026-06-01")]
    result = run_sf(events("F1") + events("F2"), needs, families=("F1", "F2"), episodes=episodes)
    assert paid(result) == {"F1": "sustained_outcomes"}


def test_sf2022_a_need_recorded_after_closure_under_a_data_driven_headline_blocks():
    result = run_sf(sf_family(), [sf_need("N1"), sf_need("N2", identified="2026-10-01", closed=None,
                                                         headline="domestic_abuse")])
    assert paid(result) == {}


@pytest.mark.parametrize(("autumn", "pays"), [(0, True), (19, True), (20, False)])
def test_sf2022_education_judged_on_terms_ending_after_closure(autumn, pays):
    # 30/300 unauthorised over the 3 terms to 2025-SPR (ended 30 April 2026) met education at
    # attachment; 2025-SPR is among the last 3 terms at the claim date but ended before closure,
    # so only 2025-SUM and 2026-AUT (200 sessions) count: 20 absences are 10%
    events = [police("F1", "OC2", "2026-04-01"), term("F1", "2024-SUM", 0), term("F1", "2025-AUT", 0),
              term("F1", "2025-SPR", 30), term("F1", "2025-SUM", 0), term("F1", "2026-AUT", autumn)]
    result = run_sf(events, [sf_need("N1")])
    assert paid(result) == ({"F1": "sustained_outcomes"} if pays else {})
    if pays:
        assert "education: no qualifying event from 2026-06-30" in result.claims["evidence"].iloc[0]


def test_sf2022_case_must_be_closed_and_not_reopened():
    assert paid(run_sf(sf_family(), [sf_need("N1")], closed=None)) == {}
    reopened = [{"family_id": "F1", "attached_on": pd.Timestamp(ATTACHED), "closed_on": pd.Timestamp(CLOSED)},
                {"family_id": "F1", "attached_on": pd.Timestamp("2026-09-01"), "closed_on": pd.NaT}]
    assert paid(run_sf(sf_family(), [sf_need("N1")], episodes=reopened)) == {}


def test_sf2022_not_eligible_at_attachment_without_the_recorded_need():
    result = run_sf(sf_family(), [sf_need("N1", identified="2026-05-02")])  # recorded after attachment
    assert result.claims.empty
    assert any(r.startswith("not eligible under sf2022") for r in result.not_claimed["reason"])


def test_sf2022_claims_recorded_once_beside_tf2015(warehouse: Warehouse, warehouse_url: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch):
    from pipeline.programme.keyworkers import close
    from pipeline.programme.needs import add_need, close_need

    folder = tmp_path / "programmes"
    folder.mkdir()
    (folder / "sf2022.yaml").write_text(yaml.safe_dump(SF_RULES))
    monkeypatch.setenv("FAMILYHUB_PROGRAMMES", str(folder))
    load(warehouse, crime_and_abuse("F1", "2026-04-02"), ["F1"])
    made = add_need(warehouse, "F1", "early_years", date(2026, 4, 15), "speech delay", "Ann")
    close(warehouse, "F1", date(2026, 6, 30))
    close_need(warehouse, made.need_id, "achieved", date(2026, 6, 30), by="Ann")
    out = tmp_path / "return.csv"
    ran = CliRunner().invoke(main, ["claims", "--programme", "tf2015", "--programme", "sf2022", "--window", "2026-H2",
                                    "--warehouse", warehouse_url, "--csv", str(out), "--reason", "2026-H2 return"])
    assert ran.exit_code == 0, ran.output
    sf_part = ran.output[ran.output.index("sf2022 claims"):]
    assert "results: 1 (£800): sustained_outcomes" in sf_part
    assert "attachment fees" not in sf_part and "under the cap" not in sf_part
    rows = [(r["programme"], r["payment"], r["amount"]) for r in csv.DictReader(out.open())]
    assert sorted(rows) == [("sf2022", "results", "800.00"), ("tf2015", "attachment", "1000.00"),
                            ("tf2015", "results", "800.00")]
    assert make_claims(warehouse, "sf2022", "2027-H1").claims.empty  # never claimed twice
    view = warehouse.read("select programme, payment, amount from reporting.claim order by programme, payment")
    assert [(p, k, float(a)) for p, k, a in view.values.tolist()] == [
        ("sf2022", "results", 800.0), ("tf2015", "attachment", 1000.0), ("tf2015", "results", 800.0)]
    evidence = warehouse.read("select * from cohort.claim_evidence where claim_id = 'sf2022:2026-H2:F1:results'")
    assert made.need_id in set(evidence["record_key"])
def test_money_is_decimal_rounded_to_the_penny_per_claim():
    pay = Payments.model_validate({"programme": "x", "per_family": 1000,
                                   "years": [{"from": "2026-04-01", "families": 6, "attachment_share": "1/3"}],
                                   "results": {"work": {"employment": {"weeks": 26, "agency": "dwp"}}}})
    assert (pay.fee(1), pay.results_amount(1)) == (Decimal("333.33"), Decimal("666.67"))
    assert isinstance(pay.fee(1), Decimal) and pay.fee(1) + pay.results_amount(1) == 1000


def test_a_family_two_cases_cover_is_claimed_through_one_case(warehouse: Warehouse):
    load(warehouse, crime_and_abuse("F1", "2026-04-02") + crime_and_abuse("F2", "2026-04-02"), ["F1", "F2"])
    lineage = pd.DataFrame([{"kind": "family", "event": "merged", "old_id": "F2", "new_id": "F1", "n_keys": 2}])
    with warehouse.begin() as conn:  # F2 merged into F1: both cases now cover F1, the coordinator has not decided
        follow(warehouse, conn, lineage, "r2")
    result = make_claims(warehouse, "tf2015", "2026-H2")
    assert set(result.claims["case_id"]) == {"F1"} and set(result.claims["family_id"]) == {"F1"}
    left_out = result.not_claimed[result.not_claimed["case_id"] == "F2"]
    assert len(left_out) == 2 and left_out["reason"].str.contains("also covered by case F1").all()
    assert result.claims["amount"].map(type).eq(Decimal).all()
