"""Benchmark: evaluate programmes over N synthetic households (target: 150,000 in < 60 s;
sf2022 within 1.5x the tf2015 time, printed as a ratio).

The frames are built directly with numpy (no extract generator, no linkage): members
(about 3.4 per household) and about 6.6 events per household across the seven agencies,
with dates spread over the three years before the as-of date.

    .venv/bin/python benchmarks/cohort.py --households 150000
"""

from __future__ import annotations

import argparse
import time
from datetime import date

import numpy as np
import pandas as pd

from pipeline.programme.cohort import evaluate, load_programme

AS_OF = pd.Timestamp("2026-03-31")


def _ids(prefix: str, numbers: np.ndarray) -> pd.Series:
    return prefix + pd.Series(numbers).astype(str)


def build_members(households: int, rng: np.random.Generator) -> pd.DataFrame:
    """1-2 adults and 0-4 children per household; postcodes in ten districts."""
    adults = rng.choice([1, 2], households, p=[0.45, 0.55])
    children = rng.choice([0, 1, 2, 3, 4], households, p=[0.15, 0.3, 0.3, 0.15, 0.1])
    family = np.repeat(np.arange(households), adults + children)
    first = np.repeat(np.cumsum(adults + children) - (adults + children), adults + children)
    is_child = (np.arange(len(family)) - first) >= np.repeat(adults, adults + children)
    age_days = np.where(is_child, rng.integers(0, 18 * 365, len(family)),
                        rng.integers(19 * 365, 60 * 365, len(family)))
    district = rng.integers(0, 10, households)[family]
    return pd.DataFrame({
        "family_id": _ids("F", family),
        "person_id": _ids("P", np.arange(len(family))),
        "dob": AS_OF - pd.to_timedelta(age_days, unit="D"),
        "postcode": "BS" + pd.Series(20 + district).astype(str) + " 1AB",
        "is_child": is_child,
    })


def _pick(persons: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    return persons.iloc[rng.integers(0, len(persons), n)].reset_index(drop=True)


def _dated(agency: str, who: pd.DataFrame, types: list[str], p: list[float],
           rng: np.random.Generator, key: pd.Series) -> pd.DataFrame:
    n = len(who)
    return pd.DataFrame({
        "agency": agency,
        "record_key": key,
        "event_type": rng.choice(types, n, p=p),
        "event_date": AS_OF - pd.to_timedelta(rng.integers(0, 3 * 365, n), unit="D"),
        "person_id": who["person_id"],
        "family_id": who["family_id"],
    })


def build_events(members: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Events per agency in rough proportion to a real authority's extracts."""
    h = members["family_id"].nunique()
    adults, children = members[~members["is_child"]], members[members["is_child"]]
    everyone = members

    who = _pick(everyone, int(1.0 * h), rng)
    police = _dated("police", who, ["CRIME", "ASB", "DOMESTIC_INCIDENT", "MISSING_PERSON",
                                    "CONCERN_FOR_WELFARE"], [0.35, 0.3, 0.2, 0.05, 0.1], rng,
                    _ids("OC", rng.integers(0, int(0.9 * h), len(who))) + "|"
                    + who["person_id"])
    police["role"] = rng.choice(["SUSPECT", "OFFENDER", "VICTIM", "WITNESS", "SUBJECT"],
                                len(police))
    police["domestic_abuse"] = rng.random(len(police)) < 0.15
    police["detail"] = police["event_type"].astype(str) + " (" + police["role"] + ")"

    who = _pick(children, int(0.1 * h), rng)
    yot = _dated("yot", who, ["YOUTH_CAUTION", "REFERRAL_ORDER", "CUSTODY"], [0.6, 0.3, 0.1],
                 rng, _ids("YO", np.arange(len(who))))

    who = _pick(everyone, int(1.4 * h), rng)
    health = _dated("health", who, ["AE_ATTENDANCE", "EMERGENCY_ADMISSION",
                                    "MENTAL_HEALTH_REFERRAL", "SUBSTANCE_MISUSE_TREATMENT",
                                    "MATERNITY"], [0.6, 0.1, 0.12, 0.05, 0.13], rng,
                    _ids("HE", np.arange(len(who))))

    pupils = children.sample(frac=0.8, random_state=1)
    terms = ["2024-SUM", "2025-AUT", "2025-SPR"]
    schools = pd.DataFrame({
        "agency": "schools",
        "person_id": np.repeat(pupils["person_id"].to_numpy(), len(terms)),
        "family_id": np.repeat(pupils["family_id"].to_numpy(), len(terms)),
        "term": np.tile(terms, len(pupils)),
        "event_type": "SCHOOL_TERM",
    })
    n = len(schools)
    schools["record_key"] = "U" + schools["person_id"] + "|" + schools["term"]
    schools["sessions_possible"] = rng.integers(100, 130, n)
    schools["sessions_unauthorised_absent"] = rng.binomial(
        schools["sessions_possible"], rng.beta(1, 20, n))
    schools["sessions_authorised_absent"] = rng.binomial(schools["sessions_possible"], 0.04)
    schools["suspensions"] = rng.poisson(0.1, n)
    schools["permanent_exclusion"] = rng.random(n) < 0.003
    schools["alternative_provision"] = rng.random(n) < 0.01

    tenants = members[members["family_id"].isin(
        members["family_id"].drop_duplicates().sample(frac=0.3, random_state=2))]
    housing = pd.DataFrame({
        "agency": "housing",
        "record_key": "T" + tenants["family_id"] + "|" + tenants["person_id"],
        "event_type": "TENANCY",
        "start_date": AS_OF - pd.to_timedelta(rng.integers(100, 4000, len(tenants)), unit="D"),
        "role": np.where(tenants["is_child"], "CHILD", "LEAD_TENANT"),
        "rent_arrears": np.round(rng.exponential(200, len(tenants)), 2),
        "notice_seeking_possession": rng.random(len(tenants)) < 0.03,
        "asb_complaint_date": AS_OF - pd.to_timedelta(rng.integers(0, 3000, len(tenants)),
                                                      unit="D"),
        "person_id": tenants["person_id"].to_numpy(),
        "family_id": tenants["family_id"].to_numpy(),
    })
    housing["event_date"] = housing["start_date"]

    spans = []
    for agency, people, types, share in (
        ("socialcare", children, ["EARLY_HELP", "CIN", "CPP", "LAC"], 0.25),
        ("dwp", adults, ["JSA", "ESA", "UC_SEARCHING_FOR_WORK"], 0.5),
    ):
        who = _pick(people, int(share * h), rng)
        span = _dated(agency, who, types, None, rng, _ids(agency[:2].upper(), np.arange(len(who))))
        span["start_date"] = span["event_date"]
        length = pd.to_timedelta(rng.integers(30, 900, len(span)), unit="D")
        span["end_date"] = (span["start_date"] + length).where(
            (span["start_date"] + length < AS_OF) & (rng.random(len(span)) < 0.7))
        spans.append(span)

    return pd.concat([police, yot, health, schools, housing, *spans], ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=150_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--programme", action="append", default=None,
                        help="programme name or YAML path (repeatable; default tf2015, tf2012, "
                             "sf2022)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    start = time.perf_counter()
    members = build_members(args.households, rng)
    events = build_events(members, rng)
    members = members.drop(columns="is_child")
    print(f"built {args.households:,} households, {len(members):,} members, "
          f"{len(events):,} events in {time.perf_counter() - start:.1f} s")

    times: dict[str, tuple[float, float]] = {}
    for name in args.programme or ["tf2015", "tf2012", "sf2022"]:
        programme = load_programme(name)
        wall, cpu = time.perf_counter(), time.process_time()
        result = evaluate(programme, events, members, date(2026, 3, 31))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        times[programme.name] = wall, cpu
        base = times.get("tf2015")
        ratio = f"; {wall / base[0]:.2f}x tf2015 wall, {cpu / base[1]:.2f}x cpu" if base else ""
        print(f"{programme.name}: evaluated {len(result.cohort):,} families in {wall:.1f} s "
              f"(cpu {cpu:.1f} s; {int(result.cohort['eligible'].sum()):,} eligible, "
              f"{len(result.evidence):,} evidence rows{ratio})")


if __name__ == "__main__":
    main()
