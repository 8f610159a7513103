"""Programme rules engine: every criterion at its boundaries, eligibility, cost, priority,
local discretion and configuration. Frames are built by hand; D is 31 March 2026."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline.programme.cohort import (
    Horizon,
    ProgrammeError,
    compare,
    evaluate,
    event_horizon,
    last_terms,
    list_programmes,
    load_programme,
    parse_programme,
    term_bounds,
)
from pipeline.programme.cohort.config import SHIPPED

D = date(2026, 3, 31)
ADULT, CHILD = "1985-06-01", "2014-02-01"


def days_ago(n: int) -> date:
    return D - timedelta(days=n)


def event(family: str, person: str, agency: str, key: str, event_type: str,
          when: date | str | None = None, **columns: object) -> dict:
    return {"family_id": family, "person_id": person, "agency": agency, "record_key": key,
            "event_type": event_type, "event_date": when, **columns}


def term(family: str, person: str, code: str, possible: int, unauthorised: int = 0,
         **columns: object) -> dict:
    columns = {"sessions_authorised_absent": 0, "suspensions": 0, **columns}
    return event(family, person, "schools", f"U{person}|{code}", "SCHOOL_TERM", term=code,
                 sessions_possible=possible, sessions_unauthorised_absent=unauthorised,
                 **columns)


def household(family: str = "F1", adults: int = 1, children: int = 1,
              postcode: str = "BS23 1AB") -> list[dict]:
    """Members `<family>A1..` (adults) and `<family>C1..` (children)."""
    return [{"family_id": family, "person_id": f"{family}{kind}{i}", "dob": dob,
             "postcode": postcode}
            for kind, n, dob in (("A", adults, ADULT), ("C", children, CHILD))
            for i in range(1, n + 1)]


SHIPPED_PROGRAMMES = {name: load_programme(name) for name in ("tf2015", "tf2012")}


def run(events: list[dict], members: list[dict] | None = None, programme: str = "tf2015",
        as_of: date = D, **kwargs: object):
    return evaluate(SHIPPED_PROGRAMMES.get(programme, programme), pd.DataFrame(events),
                    pd.DataFrame(members or household()), as_of, **kwargs)


def row(result, family: str = "F1") -> pd.Series:
    return result.cohort.set_index("family_id").loc[family]


def criteria(result, family: str = "F1") -> set[str]:
    return set(filter(None, row(result, family)["criteria"].split(",")))


MONTH_AGO, LONG_AGO = days_ago(30), days_ago(600)


def member(family: str, person: str, dob: str) -> dict:
    return {"family_id": family, "person_id": person, "dob": dob, "postcode": "BS23 1AB"}


# Events that meet one tf2015 criterion each, for family F1 (adult F1A1, child F1C1).
def crime(family: str = "F1", key: str = "OC1", when: date = MONTH_AGO) -> dict:
    return event(family, f"{family}A1", "police", f"{key}|N1", "CRIME", when, role="SUSPECT")


def admission(family: str = "F1", key: str = "H1", when: date = MONTH_AGO) -> dict:
    return event(family, f"{family}A1", "health", key, "EMERGENCY_ADMISSION", when)


def incident(family: str = "F1", key: str = "OC9") -> dict:
    return event(family, f"{family}A1", "police", f"{key}|N2", "DOMESTIC_INCIDENT",
                 days_ago(10), role="VICTIM")


def claim(family: str = "F1", key: str = "CL1", start: date = LONG_AGO,
          end: date | None = None) -> dict:
    return event(family, f"{family}A1", "dwp", key, "JSA", start, start_date=start,
                 end_date=end)


# --- school terms -------------------------------------------------------------------------

def test_term_codes_map_to_academic_dates():
    start, end = term_bounds(pd.Series(["2025-AUT", "2025-SPR", "2025-SUM", "bad", None]))
    assert list(start[:3]) == [pd.Timestamp(2025, 9, 1), pd.Timestamp(2026, 1, 1),
                               pd.Timestamp(2026, 5, 1)]
    assert list(end[:3]) == [pd.Timestamp(2025, 12, 31), pd.Timestamp(2026, 4, 30),
                             pd.Timestamp(2026, 8, 31)]
    assert start[3:].isna().all() and end[3:].isna().all()


@pytest.mark.parametrize(("as_of", "expected"), [
    (date(2026, 3, 31), ["2025-AUT", "2024-SUM", "2024-SPR"]),
    (date(2025, 12, 31), ["2025-AUT", "2024-SUM", "2024-SPR"]),  # term ends on D: counts
    (date(2025, 12, 30), ["2024-SUM", "2024-SPR", "2024-AUT"]),
    (date(2026, 4, 30), ["2025-SPR", "2025-AUT", "2024-SUM"]),
])
def test_last_three_terms_ended_on_or_before_d(as_of, expected):
    assert last_terms(as_of, 3) == expected


@pytest.mark.parametrize(("unauthorised", "met"), [(99, False), (100, True)])
def test_absence_boundary_9_9_vs_10_percent(unauthorised, met):
    # 1,000 possible sessions over the last 3 terms; the current (unfinished) term and an
    # older term with heavy absence are outside the last 3 terms and must not count.
    events = [
        term("F1", "F1C1", "2025-AUT", 330, 33),
        term("F1", "F1C1", "2024-SUM", 330, 33),
        term("F1", "F1C1", "2024-SPR", 340, unauthorised - 66),
        term("F1", "F1C1", "2025-SPR", 100, 90),
        term("F1", "F1C1", "2024-AUT", 100, 90),
    ]
    result = run(events)
    assert ("education" in criteria(result)) is met
    if met:
        evidence = result.evidence.query("criterion == 'education'")
        assert sorted(evidence["record_key"]) == ["UF1C1|2024-SPR", "UF1C1|2024-SUM",
                                                  "UF1C1|2025-AUT"]
        assert set(evidence["detail"]) == {"unauthorised absence 10% over 3 terms"}


def test_absence_rate_is_per_pupil_not_per_family():
    events = [term("F1", "F1C1", "2025-AUT", 100, 19), term("F1", "F1C2", "2025-AUT", 100, 0)]
    assert "education" in criteria(run(events, household(children=2)))  # 19% for one child
    events = [term("F1", "F1C1", "2025-AUT", 100, 9), term("F1", "F1C2", "2025-AUT", 100, 9)]
    assert "education" not in criteria(run(events, household(children=2)))


@pytest.mark.parametrize(("suspensions", "met"), [(2, False), (3, True)])
def test_three_suspensions_over_the_last_terms(suspensions, met):
    events = [term("F1", "F1C1", "2025-AUT", 100, suspensions=suspensions - 1),
              term("F1", "F1C1", "2024-SUM", 100, suspensions=1),
              term("F1", "F1C1", "2023-SUM", 100, suspensions=5)]  # too old
    assert ("education" in criteria(run(events))) is met


def test_exclusion_and_high_absence_on_one_term_give_one_evidence_row():
    events = [term("F1", "F1C1", "2025-AUT", 100, 40, permanent_exclusion=True)]
    evidence = run(events).evidence.query("criterion == 'education'")
    assert len(evidence) == 1
    assert evidence["detail"].iloc[0] == (
        "unauthorised absence 40% over 3 terms; permanent exclusion in 2025-AUT")


# --- the 365-day window --------------------------------------------------------------------

@pytest.mark.parametrize(("when", "met"), [
    (days_ago(365), False),  # D - 365 is outside (D - 365, D]
    (days_ago(364), True),
    (D, True),
    (D + timedelta(days=1), False),
])
def test_window_edges(when, met):
    assert ("health" in criteria(run([admission(when=when)]))) is met


def test_event_time_of_day_does_not_push_it_out_of_d():
    events = [event("F1", "F1A1", "health", "H1", "EMERGENCY_ADMISSION",
                    pd.Timestamp(2026, 3, 31, 23, 15))]
    assert "health" in criteria(run(events))


@pytest.mark.parametrize(("start", "end", "met"), [
    (days_ago(800), None, True),  # open across the window start, still open
    (days_ago(800), days_ago(364), True),  # ended on the first day of the window
    (days_ago(800), days_ago(365), False),  # ended the day before the window
    (D, None, True),
    (D + timedelta(days=1), None, False),  # not started yet
])
def test_episode_open_in_window(start, end, met):
    events = [event("F1", "F1C1", "socialcare", "EP1", "CIN", start, start_date=start,
                    end_date=end)]
    assert ("children_need_help" in criteria(run(events))) is met


# --- health, crime, worklessness, domestic abuse ------------------------------------------

@pytest.mark.parametrize(("people", "met"), [
    (["F1A1", "F1A1"], False),
    (["F1A1", "F1A1", "F1A1"], True),
    (["F1A1", "F1A1", "F1C1"], False),  # 3 in the family, but not of the same person
])
def test_ae_attendances_of_the_same_person(people, met):
    events = [event("F1", p, "health", f"AE{i}", "AE_ATTENDANCE", days_ago(10 + i))
              for i, p in enumerate(people)]
    result = run(events)
    assert ("health" in criteria(result)) is met
    if met:
        assert set(result.evidence["detail"]) == {"3 A&E attendances in 365 days"}


@pytest.mark.parametrize(("category", "role", "met"), [
    ("CRIME", "SUSPECT", True),
    ("CRIME", "VICTIM", False),
    ("ASB", "SUBJECT", True),
    ("ASB", "WITNESS", False),
])
def test_police_roles_for_crime_and_asb(category, role, met):
    events = [event("F1", "F1A1", "police", "OC1|N1", category, days_ago(5), role=role)]
    assert ("crime_asb" in criteria(run(events))) is met


def test_housing_asb_complaint_is_dated_by_the_complaint_not_the_tenancy():
    def tenancy(complaint: date) -> dict:
        return event("F1", "F1A1", "housing", "T1|H1", "TENANCY", days_ago(3000),
                     start_date=days_ago(3000), asb_complaint_date=complaint)

    result = run([tenancy(days_ago(100))])
    assert "crime_asb" in criteria(result)
    assert result.evidence["event_date"].iloc[0] == pd.Timestamp(days_ago(100))
    assert "crime_asb" not in criteria(run([tenancy(days_ago(400))]))


@pytest.mark.parametrize(("arrears", "notice", "end", "met"), [
    (499.99, False, None, False),
    (500, False, None, True),
    (0, True, None, True),
    (900, True, days_ago(1), False),  # not a current tenancy
])
def test_worklessness_from_a_current_tenancy(arrears, notice, end, met):
    events = [event("F1", "F1A1", "housing", "T1|H1", "TENANCY", days_ago(900),
                    start_date=days_ago(900), end_date=end, rent_arrears=arrears,
                    notice_seeking_possession=notice)]
    assert ("worklessness" in criteria(run(events))) is met


def test_benefit_claim_counts_for_an_adult_only():
    assert "worklessness" in criteria(run([claim()]))
    child_claim = event("F1", "F1C1", "dwp", "CL2", "JSA", days_ago(30),
                        start_date=days_ago(30))
    assert "worklessness" not in criteria(run([child_claim]))


@pytest.mark.parametrize(("category", "flag", "met"), [
    ("DOMESTIC_INCIDENT", False, True),
    ("CRIME", True, True),
    ("CRIME", False, False),
])
def test_domestic_abuse_any_member_any_role(category, flag, met):
    events = [event("F1", "F1C1", "police", "OC1|N1", category, days_ago(5), role="WITNESS",
                    domestic_abuse=flag)]
    assert ("domestic_abuse" in criteria(run(events))) is met


# --- eligibility ---------------------------------------------------------------------------

def test_two_criteria_make_a_family_eligible_under_tf2015():
    assert not row(run([crime()]))["eligible"]
    result = run([crime(), admission()])
    assert row(result)["eligible"] and row(result)["basis"] == "national"
    assert row(result)["criteria"] == "crime_asb,health" and row(result)["n_criteria"] == 2


def test_household_without_children_is_never_eligible():
    events = [crime(), admission(), incident(), claim()]
    result = run(events, household(adults=2, children=0))
    assert row(result)["n_criteria"] == 4
    assert not row(result)["eligible"] and pd.isna(row(result)["basis"])
    assert pd.isna(row(result)["priority_rank"]) and row(result)["exclusion"] == "no_child"


def test_child_is_under_18_on_d_for_membership():
    members = [*household(adults=1, children=0), member("F1", "F1C1", "2008-04-01")]
    assert row(run([crime(), admission()], members))["eligible"]  # 17 on D
    members[-1]["dob"] = "2008-03-31"  # 18th birthday on D
    assert not row(run([crime(), admission()], members))["eligible"]


@pytest.mark.parametrize(("when", "eligible"), [(days_ago(200), True), (days_ago(400), False)])
def test_maternity_in_the_last_12_months_makes_a_household_a_family(when, eligible):
    events = [crime(), admission(), event("F1", "F1A1", "health", "M1", "MATERNITY", when)]
    assert row(run(events, household(children=0)))["eligible"] == eligible


def test_tf2012_needs_all_three_or_two_plus_the_local_filter():
    child_asb = event("F1", "F1C1", "police", "OC1|N2", "ASB", days_ago(20), role="SUBJECT")
    truant = term("F1", "F1C1", "2025-AUT", 100, 15)
    two = [child_asb, claim()]
    result = run(two, programme="tf2012")
    assert row(result)["criteria"] == "crime_asb,work" and not row(result)["eligible"]

    result = run([*two, incident()], programme="tf2012")
    assert row(result)["eligible"] and row(result)["basis"] == "local_filter"
    assert row(result)["criteria"] == "crime_asb,domestic_abuse,work"

    result = run([*two, truant], programme="tf2012")
    assert row(result)["eligible"] and row(result)["basis"] == "national"

    one_plus_filter = [claim(), incident(), admission()]
    assert not row(run(one_plus_filter, programme="tf2012"))["eligible"]


def test_tf2012_crime_needs_a_child_on_the_event_date():
    # Adult crime does not count for tf2012; the same event counts for tf2015.
    assert "crime_asb" not in criteria(run([crime()], programme="tf2012"))
    assert "crime_asb" in criteria(run([crime()], programme="tf2015"))
    members = [*household(adults=1, children=0), member("F1", "F1Y1", "2008-01-01")]
    yot = event("F1", "F1Y1", "yot", "YO1", "REFERRAL_ORDER", date(2025, 12, 31))  # aged 17
    assert "crime_asb" in criteria(run([yot], members, programme="tf2012"))
    yot["event_date"] = date(2026, 1, 1)  # 18th birthday
    assert "crime_asb" not in criteria(run([yot], members, programme="tf2012"))


def test_evidence_for_every_criterion_of_every_eligible_family():
    members = household("F1") + household("F2", children=2) + household("F3")
    events = [
        crime("F1"), admission("F1"), incident("F1"), claim("F1"),
        term("F2", "F2C1", "2025-AUT", 100, 30), claim("F2", "CL2"),
        event("F2", "F2C2", "socialcare", "EP1", "LAC", days_ago(900),
              start_date=days_ago(900)),
        event("F3", "F3A1", "housing", "T3|H1", "TENANCY", days_ago(900),
              start_date=days_ago(900), rent_arrears=800),
        *[event("F3", "F3C1", "health", f"AE{i}", "AE_ATTENDANCE", days_ago(i))
          for i in range(3)],
    ]
    for programme in ("tf2015", "tf2012"):
        result = run(events, members, programme=programme)
        eligible = result.cohort.query("eligible")
        met = {(f, c) for f, cs in zip(eligible["family_id"], eligible["criteria"], strict=True)
               for c in cs.split(",")}
        evidenced = set(zip(result.evidence["family_id"], result.evidence["criterion"],
                            strict=True))
        assert met and met <= evidenced
        assert not result.evidence.duplicated(["family_id", "criterion", "record_key"]).any()
    assert len(run(events, members).cohort.query("eligible")) == 3


# --- priority and cost ---------------------------------------------------------------------

def test_priority_more_criteria_then_focus_then_cost_then_family_id():
    members = [m for f in ("A", "B", "C", "D", "E") for m in household(f)]
    events = [
        crime("A"), admission("A"), claim("A"),  # 3 criteria, one focus
        incident("B"), admission("B", "H2"),  # 2 criteria, both focus
        crime("C", "OC3"), admission("C", "H3"),  # 2 criteria, one focus, higher cost
        event("C", "CA1", "yot", "YO3", "CUSTODY", days_ago(5)),
        crime("D", "OC4"), admission("D", "H4"),  # 2, one focus; D and E tie on cost
        crime("E", "OC5"), admission("E", "H5"),
        crime("F", "OC6"),  # one criterion (F is not even a member family): unranked
    ]
    cohort = run(events, members).cohort.set_index("family_id")
    ranked = cohort["priority_rank"].dropna().sort_values()
    assert list(ranked.index) == ["A", "B", "C", "D", "E"]
    assert list(ranked) == [1, 2, 3, 4, 5]
    assert pd.isna(cohort.loc["F", "priority_rank"])


def test_cost_sums_unit_costs_with_spans_pro_rata():
    members = household(adults=2, children=2)
    events = [
        # One occurrence with two members involved: priced once, at its highest unit cost.
        event("F1", "F1A1", "police", "OC1|N1", "CRIME", days_ago(10), role="SUSPECT"),
        event("F1", "F1C1", "police", "OC1|N2", "CRIME", days_ago(10), role="WITNESS"),
        event("F1", "F1A2", "police", "OC2|N3", "CRIME", days_ago(10), role="VICTIM"),  # 300
        event("F1", "F1A1", "health", "AE1", "AE_ATTENDANCE", days_ago(3)),  # 130
        event("F1", "F1A1", "health", "AE0", "AE_ATTENDANCE", days_ago(400)),  # too old
        # Adult 1: two overlapping claims, open 183 days of the window between them.
        claim("F1", "CL1", days_ago(182), days_ago(100)),
        claim("F1", "CL2", days_ago(120), None),
        # Adult 2: a claim open before the window and all through it: a full year.
        event("F1", "F1A2", "dwp", "CL3", "ESA", days_ago(900), start_date=days_ago(900)),
        # Notice seeking possession on the tenancy of three members: once.
        *[event("F1", p, "housing", f"T1|{p}", "TENANCY", days_ago(900),
                start_date=days_ago(900), notice_seeking_possession=True)
          for p in ("F1A1", "F1A2", "F1C1")],
    ]
    expected = 1500 + 300 + 130 + 9000 * 183 / 365 + 9000 + 1000
    assert row(run(events, members))["estimated_annual_cost"] == pytest.approx(expected, abs=0.01)


def test_exclusion_cost_per_child_per_year_from_the_terms_in_the_window():
    events = [term("F1", "F1C1", "2025-AUT", 100, permanent_exclusion=True),
              term("F1", "F1C1", "2025-SPR", 100, alternative_provision=True)]
    # 1 Sep 2025 .. D (31 Mar 2026): 212 days of exclusion or alternative provision.
    cost = row(run(events))["estimated_annual_cost"]
    assert cost == pytest.approx(10000 * 212 / 365, abs=0.01)


# --- configuration -------------------------------------------------------------------------

def shipped(name: str) -> dict:
    return yaml.safe_load((SHIPPED / f"{name}.yaml").read_text())


def write(folder: Path, name: str, data: dict) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_threshold_change_in_config_changes_the_result(tmp_path, monkeypatch):
    events = [term("F1", "F1C1", "2025-AUT", 100, 7), admission()]
    assert not row(run(events))["eligible"]

    data = shipped("tf2015")
    data["criteria"]["education"]["any_of"][0]["aggregate"]["at_least"] = 0.05
    write(tmp_path, "local2015", data)
    monkeypatch.setenv("FAMILYHUB_PROGRAMMES", str(tmp_path))
    assert "local2015" in list_programmes()
    result = run(events, programme="local2015")
    assert row(result)["eligible"] and row(result)["programme"] == "local2015"
    assert "unauthorised absence 7% over 3 terms" in set(result.evidence["detail"])


def test_horizon_is_the_longest_window_back_from_d():
    # 2024-AUT ended before the window's first day; 2024-SPR and SUM did not, and are among the last 3
    assert event_horizon(SHIPPED_PROGRAMMES["tf2015"], D) == Horizon(pd.Timestamp(2025, 4, 1), 2025,
                                                                     ("2024-SPR", "2024-SUM"))
    data = shipped("tf2015")
    data["school_terms"] = 9  # back to 2022-SPR
    data["unit_costs"].append({"agency": "dwp", "amount": 1, "per": "year", "window": {"kind": "open", "days": 730}})
    assert event_horizon(parse_programme(data, "longer"), D) == Horizon(
        pd.Timestamp(2024, 4, 1), 2024, ("2022-SPR", "2022-SUM", "2023-AUT", "2023-SPR", "2023-SUM"))


def test_aggregate_per_family_instead_of_per_person(tmp_path):
    data = shipped("tf2015")
    data["criteria"]["health"]["any_of"][1]["aggregate"]["per"] = "family"
    per_family = load_programme(write(tmp_path, "perfamily", data))
    events = [event("F1", p, "health", f"AE{i}", "AE_ATTENDANCE", days_ago(10 + i))
              for i, p in enumerate(["F1A1", "F1A1", "F1C1"])]
    assert "health" not in criteria(run(events))
    assert "health" in criteria(evaluate(per_family, pd.DataFrame(events),
                                         pd.DataFrame(household()), D))


def test_attendance_variant_counts_authorised_absence_too(tmp_path):
    data = shipped("tf2012")
    data["criteria"]["education"]["any_of"][0].update(
        aggregate={"measure": "rate", "of": "sessions_attended", "over": "sessions_possible",
                   "below": 0.85},
        detail="attendance {value} over {terms} terms")
    variant = load_programme(write(tmp_path, "attendance", data))
    events = [term("F1", "F1C1", "2025-AUT", 100, 10, sessions_authorised_absent=6)]
    assert "education" not in criteria(run(events, programme="tf2012"))  # 10% < 15%
    result = evaluate(variant, pd.DataFrame(events), pd.DataFrame(household()), D)
    assert "education" in criteria(result)  # attendance 84% < 85%
    assert set(result.evidence["detail"]) == {"attendance 84% over 3 terms"}


def test_area_phasing_by_postcode_district(tmp_path):
    data = shipped("tf2015") | {"area_phasing": [
        {"from": date(2025, 4, 1), "postcode_districts": ["BS23"]},
        {"from": date(2026, 6, 1), "postcode_districts": ["bs23", "BS24"]},
    ]}
    phased = load_programme(write(tmp_path, "phased", data))
    members = household("F1", postcode="bs231ab") + household("F2", postcode="BS24 9ZZ")
    events = [crime("F1"), admission("F1"), crime("F2", "OC2"), admission("F2", "H2")]
    frames = pd.DataFrame(events), pd.DataFrame(members)

    first = evaluate(phased, *frames, D)
    assert row(first, "F1")["eligible"] and row(first, "F1")["priority_rank"] == 1
    assert not row(first, "F2")["eligible"] and row(first, "F2")["exclusion"] == "out_of_area"
    assert row(first, "F2")["criteria"] == "crime_asb,health"  # criteria are still shown
    second = evaluate(phased, *frames, date(2026, 6, 1))
    assert second.cohort["eligible"].all()
    before = evaluate(phased, *frames, date(2025, 3, 31))
    assert not before.cohort["eligible"].any()


def test_high_cost_families_included_but_not_eligible(tmp_path):
    data = shipped("tf2015") | {"local_inclusion": {"high_cost_above": 40000}}
    programme = load_programme(write(tmp_path, "highcost", data))
    members = household("F1") + household("F2") + household("F3", children=0)
    looked_after = {"event_type": "LAC", "event_date": days_ago(900),
                    "start_date": days_ago(900)}
    events = [
        event("F1", "F1C1", "socialcare", "EP1", **looked_after),  # 50,000, one criterion
        event("F2", "F2C1", "socialcare", "EP2", "CIN", days_ago(900),
              start_date=days_ago(900)),  # 3,000
        event("F3", "F3A1", "socialcare", "EP3", **looked_after),  # no child on D
    ]
    cohort = evaluate(programme, pd.DataFrame(events), pd.DataFrame(members), D).cohort
    cohort = cohort.set_index("family_id")
    assert cohort.loc["F1", "basis"] == "high_cost" and not cohort.loc["F1", "eligible"]
    assert pd.isna(cohort.loc["F1", "priority_rank"])
    assert cohort.loc["F1", "estimated_annual_cost"] == 50000
    assert pd.isna(cohort.loc["F2", "basis"]) and pd.isna(cohort.loc["F3", "basis"])
    assert pd.isna(row(run(events, members), "F1")["basis"])  # off by default


def test_referrals_by_a_named_service_with_a_reason(tmp_path):
    data = shipped("tf2015") | {"local_inclusion": {"referrals": {"services": ["CAMHS"]}}}
    programme = load_programme(write(tmp_path, "referrals", data))
    members = [*household("F1"), *household("F2"), *household("F3"), *household("F4"),
               *household("F5", children=0)]
    referrals = pd.DataFrame({
        "family_id": ["F1", "F2", "F3", "F4", "F5"],
        "service": ["CAMHS", "CAMHS", "LIBRARY", "CAMHS", "CAMHS"],
        "reason": ["self-harm, school refusal", " ", "noise", "old", "pregnant, homeless"],
        "referral_date": [days_ago(10), days_ago(10), days_ago(10), days_ago(400), D],
    })
    result = evaluate(programme, pd.DataFrame([crime("F9")]), pd.DataFrame(members), D,
                      referrals=referrals)
    basis = result.cohort.set_index("family_id")["basis"]
    assert basis["F1"] == "referral" and basis[["F2", "F3", "F4"]].isna().all()
    assert basis["F5"] == "referral"  # a named service's referral needs no child on D
    assert not result.cohort.set_index("family_id").loc["F1", "eligible"]
    evidence = result.evidence.query("criterion == 'referral'")
    assert list(evidence["detail"]) == ["referred by CAMHS: self-harm, school refusal",
                                        "referred by CAMHS: pregnant, homeless"]


def test_shipped_programmes_and_use_references():
    assert {"tf2015", "tf2012"} <= set(list_programmes())
    tf2015, tf2012 = load_programme("tf2015"), load_programme("tf2012")
    assert tf2012.criteria["health"] == tf2015.criteria["health"]
    assert tf2012.unit_costs == tf2015.unit_costs
    assert tf2015.focus_criteria == ["health", "domestic_abuse"]


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["criteria"]["health"]["any_of"][0].update(agency="hospital"),
     "unknown agency 'hospital'"),
    (lambda d: d["criteria"]["health"]["any_of"][1].update(event_types=["AE_ATTENDENCE"]),
     "health has no event_type AE_ATTENDENCE"),
    (lambda d: d["criteria"]["worklessness"]["any_of"][1].update(where={"arrears": 500}),
     "'arrears' is not a column of staging.events"),
    (lambda d: d["criteria"]["health"]["any_of"][0].update(detail="{value} events"),
     "{value} and {n} need an aggregate"),
    (lambda d: d["eligibility"]["national"].update(of=["crime_asb", "truancy"]),
     "no criterion truancy"),
    (lambda d: d["criteria"]["health"]["any_of"][0].update(windw="open"),
     "windw: Extra inputs are not permitted"),
    (lambda d: d["criteria"]["education"]["any_of"][0]["aggregate"].pop("over"),
     "measure rate: needs 'of' (numerator) and 'over' (denominator)"),
    (lambda d: d["unit_costs"][0].update(per="year", window="dated"),
     "per year prices spans"),
])
def test_invalid_programmes_fail_on_load_with_the_key_named(change, message):
    data = shipped("tf2015")
    change(data)
    with pytest.raises(ProgrammeError, match="tf2015") as error:
        parse_programme(data, "tf2015")
    assert message in str(error.value)


def test_unknown_programme_and_circular_use(tmp_path, monkeypatch):
    with pytest.raises(ProgrammeError, match="unknown programme 'tf1999'"):
        load_programme("tf1999")
    monkeypatch.setenv("FAMILYHUB_PROGRAMMES", str(tmp_path))
    write(tmp_path, "loop_a", shipped("tf2015") | {"unit_costs": {"use": "loop_b"}})
    write(tmp_path, "loop_b", shipped("tf2015") | {"unit_costs": {"use": "loop_a"}})
    with pytest.raises(ProgrammeError, match="circular use"):
        load_programme("loop_a")


# --- comparison ----------------------------------------------------------------------------

def test_compare_shows_who_each_programme_admits_and_why():
    members = household("F1") + household("F2")
    child_asb = event("F2", "F2C1", "police", "OC7|N1", "ASB", days_ago(20), role="SUBJECT")
    events = [admission("F1"), incident("F1"),  # tf2015 only: health + domestic abuse
              child_asb, claim("F2"), term("F2", "F2C1", "2025-AUT", 100, 20)]  # both
    a, b = (run(events, members, programme=p) for p in ("tf2015", "tf2012"))
    diff = compare(a, b).set_index("family_id")
    assert diff.loc["F1", "admitted_by"] == "tf2015"
    assert diff.loc["F1", "criteria_tf2012"] == "domestic_abuse,health"
    assert diff.loc["F1", "why"].startswith(
        "tf2012 does not admit: criteria domestic_abuse,health do not meet all of crime_asb")
    assert diff.loc["F2", "admitted_by"] == "both"
    assert diff.loc["F2", "only_tf2015"] == "worklessness"
    assert diff.loc["F2", "only_tf2012"] == "work"

    later = run(events, members, as_of=date(2027, 6, 1))
    assert set(compare(a, later).columns) >= {"basis_tf2015@2026-03-31",
                                              "basis_tf2015@2027-06-01"}


def test_output_columns_follow_the_reporting_contract():
    result = run([crime(), admission()])
    assert list(result.cohort.columns[:9]) == [
        "family_id", "programme", "as_of", "criteria", "n_criteria", "eligible", "basis",
        "priority_rank", "estimated_annual_cost"]
    assert list(result.evidence.columns) == [
        "family_id", "programme", "as_of", "criterion", "person_id", "agency", "record_key",
        "event_date", "detail"]
    assert (result.cohort["as_of"] == pd.Timestamp(D)).all()
