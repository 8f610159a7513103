"""Records that span time: school terms, tenancies, social care episodes, benefit claims.

A span is sent when it opens and again when it changes (closes, arrears move, a complaint
or notice arrives): each change is a new version of the same event key, as real deltas
are. Columns follow :mod:`pipeline.generator.events` (``person``, ``date``, ``known``,
``key`` plus the agency's fields); open ends are -1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.generator.dates import age_at, day, term_bounds
from pipeline.generator.events import World, choose, numbered
from pipeline.generator.population import CHILD, LEAD, PARTNER, PROBLEMS, YEAR

__all__ = ["dwp_claims", "housing_tenancies", "school_terms", "socialcare_episodes"]

UC_FROM = day(pd.Timestamp("2018-01-01").date())
TERM_CODES = np.array(["AUT", "SPR", "SUM"], dtype=object)


def _versions(frame: pd.DataFrame, rng: np.random.Generator, lag: tuple[int, int], as_of: int) -> pd.DataFrame:
    """Open version at start, closed version at end (when it ended by ``as_of``)."""
    opened = frame.assign(date=frame["start"], end_shown=-1)
    closed = frame[(frame["end"] >= 0) & (frame["end"] <= as_of)].assign(date=lambda f: f["end"], end_shown=lambda f: f["end"])
    out = pd.concat([opened, closed], ignore_index=True)
    out["known"] = out["date"] + rng.integers(lag[0], lag[1], len(out))
    return out.drop(columns="end").rename(columns={"end_shown": "end"})


def school_terms(w: World) -> pd.DataFrame:
    """One row per pupil per term for every child of school age; education problems raise absence."""
    rng, pop = w.rng, w.pop
    first_year = int(str(np.datetime64(pop.span_start, "D"))[:4]) - 1
    last_year = int(str(np.datetime64(pop.as_of, "D"))[:4])
    years = np.repeat(np.arange(first_year, last_year + 1), 3)
    terms = np.tile(np.arange(3), len(years) // 3)
    t_start, t_end = term_bounds(years, terms)
    keep = (t_end >= pop.span_start) & (t_end < pop.as_of)
    years, terms, t_start, t_end = years[keep], terms[keep], t_start[keep], t_end[keep]

    pupils = np.flatnonzero(pop.persons["upn"].to_numpy() != "")
    p = np.repeat(pupils, len(years))
    ti = np.tile(np.arange(len(years)), len(pupils))
    sept1 = term_bounds(years, np.zeros(len(years), dtype=int))[0]
    age = age_at(w.dob[p], sept1[ti])
    p, ti, age = p[(age >= 4) & (age <= 15)], ti[(age >= 4) & (age <= 15)], age[(age >= 4) & (age <= 15)]

    # Schools: each district has primaries and a secondary; siblings share schools.
    district = pop.properties["district"].to_numpy()[pop.households["property"].to_numpy()]
    codes, district_i = np.unique(district, return_inverse=True)
    n_primary = 3
    urns = rng.choice(np.arange(100_000, 150_000), size=len(codes) * (n_primary + 1), replace=False)
    pick = rng.integers(0, n_primary, w.n_households)
    hh = w.hh[p]
    school = np.where(age <= 10, district_i[hh] * (n_primary + 1) + pick[hh], district_i[hh] * (n_primary + 1) + n_primary)
    base = np.array([143, 119, 115])[terms] - rng.integers(0, 6, (len(urns), len(years)))
    possible = base[school, ti] - np.where(rng.random(len(p)) < 0.04, rng.integers(10, 60, len(p)), 0)

    # Absence: most pupils rarely miss school; a few persistent absentees in any family.
    persistent = rng.random(len(pupils)) < 0.02
    rate_u = np.where(rng.random(len(p)) < 0.8, rng.beta(0.3, 150, len(p)), rng.beta(1.5, 40, len(p)))
    rate_u = np.where(persistent[np.searchsorted(pupils, p)], rng.beta(3, 20, len(p)), rate_u)
    rate_a = rng.beta(2, 45, len(p))
    suspensions = rng.poisson(0.01, len(p))
    exclusion = np.zeros(len(p), dtype=bool)
    provision = np.zeros(len(p), dtype=bool)
    households, lo, hi = w.problem("education")
    lo_h = np.full(w.n_households, -1)
    hi_h = np.full(w.n_households, -2)
    lo_h[households], hi_h[households] = lo, hi
    affected_child = rng.random(len(w.hh)) < 0.75
    hit = (t_start[ti] <= hi_h[hh]) & (t_end[ti] >= lo_h[hh]) & affected_child[p] & (age >= 5)
    rate_u = np.where(hit, rng.uniform(0.1, 0.35, len(p)), rate_u)
    suspensions = np.where(hit, rng.poisson(1.0, len(p)), suspensions)
    exclusion = hit & (rng.random(len(p)) < 0.03)
    provision = hit & (rng.random(len(p)) < 0.06)
    unauthorised = rng.binomial(possible, np.clip(rate_u, 0, 0.9))
    authorised = np.minimum(rng.binomial(possible, rate_a), possible - unauthorised)

    out = pd.DataFrame(
        {
            "person": p,
            "date": t_start[ti],
            "term": pd.Series(years[ti]).astype(str).to_numpy() + "-" + TERM_CODES[terms[ti]],
            "school": urns[school],
            "possible": possible,
            "authorised": authorised,
            "unauthorised": unauthorised,
            "suspensions": suspensions,
            "exclusion": np.where(exclusion, "Y", "N"),
            "provision": np.where(provision, "Y", "N"),
            "contact": w.carer[hh],
        }
    )
    out["known"] = t_end[ti] + rng.integers(7, 35, len(out))
    # Long illness: 3% of pupils miss a fifth of sessions with leave, persistent absence of
    # any kind though their unauthorised absence is low (drawn last: nothing else shifts).
    ill = (rng.random(len(pupils)) < 0.03)[np.searchsorted(pupils, p)]
    leave = np.minimum(rng.binomial(possible, rng.beta(6, 24, len(p))), possible - unauthorised)
    out["authorised"] = np.where(ill, leave, authorised)
    return out.sort_values(["known", "school", "person"], kind="stable").reset_index(drop=True)


def housing_tenancies(w: World) -> pd.DataFrame:
    """One row per member per tenancy per change (start, arrears, ASB complaint, notice, end)."""
    rng, pop = w.rng, w.pop
    hh_frame = pop.households
    social = np.flatnonzero(hh_frame["social"].to_numpy())
    moved = hh_frame["move_day"].to_numpy()
    # Tenancies start after the lead's 18th birthday (or on the move to the current home).
    adult_from = w.dob[w.lead] + int(18 * YEAR)
    start = np.where(moved[social] >= 0, moved[social], pop.as_of - (rng.uniform(0.3, 20, len(social)) * YEAR).astype(int))
    start = np.maximum(start, adult_from[social] + rng.integers(0, 700, len(social)))
    old = np.flatnonzero(hh_frame["social_old"].to_numpy())
    old_start = moved[old] - (rng.uniform(1, 15, len(old)) * YEAR).astype(int)
    old_start = np.minimum(np.maximum(old_start, adult_from[old]), moved[old] - 60)
    ten = pd.DataFrame(
        {
            "household": np.r_[social, old],
            "property": np.r_[hh_frame["property"].to_numpy()[social], hh_frame["old_property"].to_numpy()[old]],
            "start": np.r_[start, old_start],
            "end": np.r_[np.full(len(social), -1), moved[old]],
        }
    )
    n = len(ten)
    ten["ref"] = "TEN" + pd.Series(rng.choice(900_000, n, replace=False) + 100_000).astype(str)
    ten["joint"] = rng.random(n) < 0.6
    ten["base_arrears"] = np.where(rng.random(n) < 0.25, rng.uniform(0, 350, n), 0.0)
    ten["base_arrears"] = np.where(rng.random(n) < 0.04, rng.uniform(500, 1500, n), ten["base_arrears"])

    # Worklessness: arrears grow ~£150 a month during the problem, a notice may follow.
    arrears_from = np.full(w.n_households, -1)
    arrears_to = np.full(w.n_households, -1)
    households, lo, hi = w.problem("worklessness")
    arrears_from[households], arrears_to[households] = lo, hi
    ten["arrears_from"] = np.maximum(arrears_from[ten["household"]], ten["start"])
    ten["arrears_to"] = np.where(ten["end"] >= 0, np.minimum(arrears_to[ten["household"]], ten["end"]), arrears_to[ten["household"]])
    growing = (arrears_from[ten["household"]] >= 0) & (ten["arrears_to"] > ten["arrears_from"]) & (rng.random(n) < 0.6)
    ten["slope"] = np.where(growing, rng.uniform(80, 220, n) / 30.4, 0.0)
    crossing = ten["arrears_from"] + (1500 - ten["base_arrears"]) / np.maximum(ten["slope"], 1e-9)
    ten["notice"] = np.where(growing & (crossing < ten["arrears_to"]) & (rng.random(n) < 0.5), crossing.astype(np.int64), -1)
    households, lo, hi = w.problem("crime_asb")
    complaint = np.full(w.n_households, -1)
    complaint[households] = np.where(rng.random(len(households)) < 0.6, w.uniform_days(lo, hi), -1)
    ten["complaint"] = np.where(ten["end"] < 0, complaint[ten["household"]], -1)

    # Change days per tenancy: start, monthly while arrears grow, complaint, notice, end.
    changes = [ten[["ref", "start"]].rename(columns={"start": "day"})]
    months = np.where(growing, ((ten["arrears_to"] - ten["arrears_from"]) // 30).clip(0, 40), 0)
    rep = np.repeat(np.arange(n), months)
    step = np.arange(len(rep)) - np.repeat(np.cumsum(months) - months, months) + 1
    changes.append(pd.DataFrame({"ref": ten["ref"].to_numpy()[rep], "day": ten["arrears_from"].to_numpy()[rep] + 30 * step}))
    for col in ("complaint", "notice", "end"):
        has = ten[col] >= 0
        changes.append(pd.DataFrame({"ref": ten.loc[has, "ref"], "day": ten.loc[has, col]}))
    versions = pd.concat(changes, ignore_index=True)
    versions = versions[versions["day"] <= pop.as_of].drop_duplicates().merge(ten, on="ref")
    t = versions["day"].to_numpy()
    grown = np.clip(t - versions["arrears_from"].to_numpy(), 0, np.maximum(versions["arrears_to"] - versions["arrears_from"], 0)) * versions["slope"]
    versions["arrears"] = np.round(versions["base_arrears"] + grown, 2)
    versions["asb"] = np.where((versions["complaint"] >= 0) & (versions["complaint"] <= t), versions["complaint"], -1)
    versions["nsp"] = np.where((versions["notice"] >= 0) & (versions["notice"] <= t), "Y", "N")
    versions["end"] = np.where((versions["end"] >= 0) & (versions["end"] <= t), versions["end"], -1)

    # Members: everyone in the household born by the version day.
    size = hh_frame["size"].to_numpy()[versions["household"]]
    v = np.repeat(np.arange(len(versions)), size)
    person = hh_frame["start"].to_numpy()[versions["household"]][v] + (np.arange(len(v)) - np.repeat(np.cumsum(size) - size, size))
    out = versions.iloc[v].reset_index(drop=True)
    out["person"] = person
    out = out[w.dob[person] <= out["day"].to_numpy()].reset_index(drop=True)
    # A baby born mid-tenancy first appears when born.
    out["date"] = np.maximum(out["day"], w.dob[out["person"]])
    role = w.role[out["person"]]
    out["relationship"] = np.select(
        [role == LEAD, (role == PARTNER) & out["joint"].to_numpy(), role == PARTNER, role == CHILD],
        ["LEAD_TENANT", "JOINT_TENANT", "PARTNER", "CHILD"],
        "OTHER",
    )
    out["known"] = out["date"] + rng.integers(1, 20, len(out))
    out = out.sort_values(["ref", "day", "person"], kind="stable").reset_index(drop=True)
    return out[["person", "date", "known", "ref", "property", "start", "end", "arrears", "asb", "nsp", "relationship"]]


def socialcare_episodes(w: World) -> pd.DataFrame:
    """Children's episodes: siblings in a problem household share an episode type."""
    rng, pop = w.rng, w.pop
    households, lo, hi = w.problem("children_need_help")
    episode_type = choose(rng, {"EARLY_HELP": 45, "CIN": 30, "CPP": 18, "LAC": 7}, len(households))
    kind_h = np.full(w.n_households, "", dtype=object)
    lo_h = np.full(w.n_households, -1)
    hi_h = np.full(w.n_households, -1)
    kind_h[households], lo_h[households], hi_h[households] = episode_type, lo, hi
    child = np.flatnonzero((w.role == CHILD) & (kind_h[w.hh] != "") & (w.age < 18) & (rng.random(len(w.hh)) < 0.85))
    start = np.maximum(lo_h[w.hh[child]] + rng.integers(0, 60, len(child)), w.dob[child])
    end = pop.problem_end[w.hh[child], PROBLEMS.index("children_need_help")] + rng.integers(-30, 30, len(child))
    keep = (start <= pop.as_of) & (start + 14 <= end)  # children born after the problem get none
    parts = [pd.DataFrame({"person": child[keep], "type": kind_h[w.hh[child]][keep], "start": start[keep], "end": np.where(end[keep] > pop.as_of, -1, end[keep])})]
    first = parts[0][parts[0]["type"].isin(["CIN", "CPP"]) & (rng.random(len(parts[0])) < 0.35)]
    early = first.assign(type="EARLY_HELP", end=first["start"] - 1, start=first["start"] - rng.integers(60, 300, len(first)))
    parts.append(early[early["start"] >= w.dob[early["person"]]])
    # Background early help, about 1.5% of children a year, lasting 2-9 months.
    children = np.flatnonzero((w.role == CHILD) & (w.age < 18))
    who, days = w.events_per_person(children, np.full(len(children), 0.015), pop.span_start, pop.as_of)
    end = days + rng.integers(60, 270, len(who))
    parts.append(pd.DataFrame({"person": who, "type": "EARLY_HELP", "start": days, "end": np.where(end > pop.as_of, -1, end)}))
    episodes = pd.concat(parts, ignore_index=True)
    episodes = episodes[(episodes["end"] < 0) | (episodes["end"] >= pop.span_start)]
    episodes = episodes.sort_values(["start", "person"], kind="stable").reset_index(drop=True)
    episodes["ref"] = "EP" + pd.Series(numbered(rng, len(episodes), 200_000)).astype(str).str.zfill(7)
    category = choose(rng, {"NEGLECT": 45, "EMOTIONAL": 25, "PHYSICAL": 12, "SEXUAL": 5, "MULTIPLE": 13}, len(episodes))
    blank = (episodes["type"] == "EARLY_HELP") | ((episodes["type"] != "CPP") & (rng.random(len(episodes)) < 0.3))
    episodes["category"] = np.where(blank, "", category)
    return _versions(episodes, rng, (1, 21), pop.as_of)


def dwp_claims(w: World) -> pd.DataFrame:
    """Out-of-work benefit claims: worklessness problems, long-term claimants and short spells."""
    rng, pop = w.rng, w.pop
    households, _, _ = w.problem("worklessness")
    partner = w.partner[households]
    claimant = np.r_[w.lead[households], partner[(partner >= 0) & (rng.random(len(households)) < 0.4)]]
    work = PROBLEMS.index("worklessness")
    start = pop.problem_start[w.hh[claimant], work] + rng.integers(0, 30, len(claimant))
    parts = [pd.DataFrame({"person": claimant, "start": start, "end": pop.problem_end[w.hh[claimant], work], "long": False})]
    adults = np.flatnonzero((w.age >= 18) & (w.age < 66))
    long_term = adults[rng.random(len(adults)) < 0.04]
    start = pop.as_of - (rng.uniform(1, 12, len(long_term)) * YEAR).astype(int)
    end = np.where(rng.random(len(long_term)) < 0.25, w.uniform_days(np.full(len(long_term), pop.span_start), np.full(len(long_term), pop.as_of)), -1)
    parts.append(pd.DataFrame({"person": long_term, "start": start, "end": end, "long": True}))
    young_adults = np.flatnonzero((w.age >= 18) & (w.age < 60))
    who, days = w.events_per_person(young_adults, np.full(len(young_adults), 0.05), pop.span_start, pop.as_of)
    parts.append(pd.DataFrame({"person": who, "start": days, "end": days + rng.integers(30, 270, len(who)), "long": False}))
    claims = pd.concat(parts, ignore_index=True)
    claims = claims[(claims["start"] >= w.dob[claims["person"]] + int(18 * YEAR)) & (claims["start"] <= pop.as_of)]
    claims["end"] = np.where(claims["end"] > pop.as_of, -1, claims["end"])
    claims = claims[(claims["end"] < 0) | (claims["end"] >= pop.span_start)]
    legacy = claims["start"].to_numpy() < UC_FROM
    n = len(claims)
    claims["benefit"] = np.select(
        [legacy & claims["long"].to_numpy(), legacy, claims["long"].to_numpy()],
        [
            choose(rng, {"ESA": 50, "IB": 20, "IS": 30}, n),
            choose(rng, {"ESA": 35, "JSA": 25, "IS": 25, "IB": 15}, n),
            choose(rng, {"UC_NO_WORK_REQUIREMENTS": 70, "ESA": 30}, n),
        ],
        choose(rng, {"UC_SEARCHING_FOR_WORK": 75, "UC_NO_WORK_REQUIREMENTS": 15, "JSA": 5, "ESA": 5}, n),
    )
    claims = claims.drop(columns="long").sort_values(["start", "person"], kind="stable").reset_index(drop=True)
    claims["ref"] = "CL" + pd.Series(numbered(rng, len(claims), 5_000_000)).astype(str).str.zfill(8)
    return _versions(claims, rng, (1, 30), pop.as_of)

