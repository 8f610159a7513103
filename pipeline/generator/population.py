"""The synthetic population: properties, households, people and their latent problems.

Everything is drawn in bulk with numpy so 150,000 households take a second or two. The
population is the truth every agency extract is rendered from: agencies only ever see
noisy views of these people.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.generator import vocabulary as vocab
from pipeline.generator.identifiers import nhs_numbers, ninos, upns

__all__ = [
    "HOUSEHOLD_TYPES",
    "PROBLEMS",
    "ROLES",
    "Population",
    "build_population",
]

YEAR = 365.25
HOUSEHOLD_TYPES = ("single", "couple", "couple_children", "single_parent", "multigenerational", "sharers")
TYPE_SHARES = (0.27, 0.29, 0.24, 0.10, 0.04, 0.06)
ROLES = ("lead", "partner", "grandparent", "sharer", "child")
LEAD, PARTNER, GRANDPARENT, SHARER, CHILD = range(5)
PROBLEMS = ("crime_asb", "education", "children_need_help", "worklessness", "domestic_abuse", "health")
PROBLEM_WEIGHTS = np.array([0.20, 0.18, 0.15, 0.25, 0.12, 0.20])
MOVED_SHARE = 0.08
YOUNG_FROM = 9131  # 1995-01-01: first names of people born since come from the "young" lists


@dataclass
class Population:
    """The true world on ``as_of`` (day number) plus ``history`` days before it.

    ``households``: type, origin, first person and size (persons are contiguous, lead first,
    children last), current and previous property, move day, social tenancy flags.
    ``persons``: household, role, sex, dob, names (``maiden`` = surname before marriage, or
    ''), identifiers. ``properties``: address parts, postcode, UPRN. ``problem_start`` /
    ``problem_end``: (households x 6) active period of each latent problem, -1 when absent.
    """

    as_of: int
    history: int
    households: pd.DataFrame
    persons: pd.DataFrame
    properties: pd.DataFrame
    problem_start: np.ndarray
    problem_end: np.ndarray

    @property
    def span_start(self) -> int:
        return self.as_of - self.history


def _weighted(rng: np.random.Generator, table: dict[str, float], n: int) -> np.ndarray:
    names = np.array(list(table), dtype=object)
    weights = np.array(list(table.values()), dtype=float)
    return names[rng.choice(len(names), size=n, p=weights / weights.sum())]


def _surnames(rng: np.random.Generator, origin: np.ndarray) -> np.ndarray:
    out = np.empty(len(origin), dtype=object)
    for name in vocab.ORIGINS:
        mask = origin == name
        out[mask] = _weighted(rng, vocab.SURNAMES[name], int(mask.sum()))
    return out


def _first_names(rng: np.random.Generator, origin: np.ndarray, sex: np.ndarray, young: np.ndarray) -> np.ndarray:
    out = np.empty(len(origin), dtype=object)
    origin_code = pd.Categorical(origin, categories=list(vocab.ORIGINS)).codes
    group = (origin_code * 2 + (sex == "F")) * 2 + young
    for (name, s, generation), table in vocab.FIRST_NAMES.items():
        code = (list(vocab.ORIGINS).index(name) * 2 + (s == "F")) * 2 + (generation == "young")
        idx = np.flatnonzero(group == code)
        out[idx] = _weighted(rng, table, len(idx))
    return out


def build_properties(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """``n`` properties on streets grouped into towns, postcode districts, sectors and units."""
    lengths = rng.integers(12, 90, size=n // 12 + 10)
    lengths = lengths[: np.searchsorted(np.cumsum(lengths), n) + 1]
    n_streets = len(lengths)
    street = np.repeat(np.arange(n_streets), lengths)[:n]
    number = np.arange(n) - np.repeat(np.cumsum(lengths) - lengths, lengths)[:n] + 1
    n_districts = max(3, n // 8000)
    district = (np.arange(n_streets) * n_districts) // n_streets
    n_towns = min(len(vocab.TOWNS), max(2, n_districts // 2))
    town_of_district = (np.arange(n_districts) * n_towns) // n_districts
    # District codes: each town gets one postcode area, districts numbered from a random start.
    area = np.array(vocab.POSTCODE_AREAS)[town_of_district % len(vocab.POSTCODE_AREAS)]
    district_no = np.zeros(n_districts, dtype=int)
    for a in np.unique(area):
        idx = np.flatnonzero(area == a)
        district_no[idx] = rng.integers(1, 20) + np.arange(len(idx))
    district_code = np.char.add(area, district_no.astype(str))
    # Sectors: streets of a district split into 3..9 sectors; units = runs of ~14 houses.
    n_sectors = rng.integers(3, 10, size=n_districts)
    first_street = np.searchsorted(district, np.arange(n_districts))
    streets_in = np.bincount(district, minlength=n_districts)
    rank = np.arange(n_streets) - first_street[district]
    sector = (rank * n_sectors[district]) // np.maximum(streets_in[district], 1)
    sector_digit = rng.permutation(10)[sector % 10]
    unit_in_street = (number - 1) // 14
    units_per_street = (lengths - 1) // 14 + 1
    sector_key = district * 10 + sector
    order = np.lexsort((np.arange(n_streets), sector_key))
    unit_base = np.zeros(n_streets, dtype=int)
    cum = np.cumsum(units_per_street[order]) - units_per_street[order]
    first_of_sector = np.r_[True, sector_key[order][1:] != sector_key[order][:-1]]
    unit_base[order] = cum - np.maximum.accumulate(np.where(first_of_sector, cum, 0))
    unit = (unit_base[street] + unit_in_street) % 400
    letters = np.array(list(vocab.POSTCODE_UNIT_LETTERS))
    inward = np.char.add(
        np.char.add(sector_digit[street].astype(str), letters[unit // 20]), letters[unit % 20]
    )
    postcode = np.char.add(np.char.add(district_code[district[street]], " "), inward)
    # Street names unique within a town while the stem x suffix combinations last.
    combos = [(stem, suffix) for stem in vocab.STREET_STEMS for suffix in vocab.STREET_SUFFIXES]
    weights = np.array([vocab.STREET_SUFFIXES[suffix] for _, suffix in combos], dtype=float)
    town_of_street = town_of_district[district]
    pick = np.empty(n_streets, dtype=np.int64)
    for town in np.unique(town_of_street):
        idx = np.flatnonzero(town_of_street == town)
        pick[idx] = rng.choice(len(combos), size=len(idx), replace=len(idx) > len(combos), p=weights / weights.sum())
    suffixes = np.array([suffix for _, suffix in combos], dtype=object)[pick]
    street_name = np.array([f"{stem} {suffix}" for stem, suffix in combos], dtype=object)[pick]
    flats = rng.random(n_streets) < 0.12
    building = np.where(flats[street], (number - 1) // 12 + 1, number)
    flat = np.where(flats[street], (number - 1) % 12 + 1, 0)
    uprn = np.where(
        rng.random(n) < 0.7,
        100_000_000_000 + rng.choice(10**9, size=n, replace=False),
        10_000_000_000 + rng.choice(9 * 10**9, size=n, replace=False),
    )
    return pd.DataFrame(
        {
            "flat": flat,
            "number": building,
            "street": street_name[street],
            "street_suffix": suffixes[street],
            "town": np.array(vocab.TOWNS, dtype=object)[town_of_street[street]],
            "district": district_code[district[street]].astype(object),
            "postcode": postcode.astype(object),
            "uprn": uprn.astype(np.int64),
        }
    )


def _household_shape(rng: np.random.Generator, kind: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Member counts per household and role (columns in ROLES order), and adult-child flags."""
    h = len(kind)
    t = {name: kind == i for i, name in enumerate(HOUSEHOLD_TYPES)}
    partner = t["couple"] | t["couple_children"] | (t["multigenerational"] & (rng.random(h) < 0.6))
    children = np.select(
        [t["couple_children"], t["single_parent"], t["multigenerational"]],
        [
            rng.choice([1, 2, 3, 4], h, p=[0.36, 0.4, 0.17, 0.07]),
            rng.choice([1, 2, 3], h, p=[0.5, 0.35, 0.15]),
            rng.choice([1, 2, 3], h, p=[0.45, 0.4, 0.15]),
        ],
        0,
    )
    adult_child = t["couple"] & (rng.random(h) < 0.15)
    counts = np.stack(
        [
            np.ones(h, dtype=int),
            partner.astype(int),
            np.where(t["multigenerational"], rng.choice([1, 2], h, p=[0.6, 0.4]), 0),
            np.where(t["sharers"], rng.choice([1, 2], h, p=[0.7, 0.3]), 0),
            children + adult_child,
        ],
        axis=1,
    )
    return counts, adult_child


def _ages(
    rng: np.random.Generator, kind: np.ndarray, counts: np.ndarray, adult_child: np.ndarray,
    hh: np.ndarray, role: np.ndarray, child_rank: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Age in years on the as-of date, and twin flags (second twin of a pair).

    Children are the youngest's age plus gaps of 1.2-4.5 years; a twin has gap 0, so twins
    share the exact date of birth. Parents are the eldest child's age plus 17-40 years.
    """
    h, n = len(kind), len(hh)
    gaps = np.where(child_rank > 0, rng.uniform(1.2, 4.5, n), 0.0)
    twins = (child_rank == 1) & ~adult_child[hh] & (rng.random(n) < 0.05)
    gaps[twins] = 0.0
    youngest = rng.random(h) * np.maximum(17.9 - np.bincount(hh, weights=gaps, minlength=h), 0.2)
    order = np.lexsort((child_rank, hh))
    cumulative = np.zeros(n)
    cumulative[order] = np.cumsum(gaps[order])
    base = np.full(h, np.inf)
    np.minimum.at(base, hh, np.where(role == CHILD, cumulative, np.inf))
    age = youngest[hh] + cumulative - np.where(role == CHILD, base[hh], 0)
    age = np.where(adult_child[hh] & (role == CHILD), rng.uniform(18, 25.9, n), age)
    eldest = np.zeros(h)
    np.maximum.at(eldest, hh, np.where(role == CHILD, age, 0))
    has_child = (counts[:, CHILD] > 0) & ~adult_child
    single_age = np.select(
        [rng.random(h) < 0.4, rng.random(h) < 0.5],
        [rng.uniform(18, 35, h), rng.uniform(35, 65, h)],
        rng.uniform(65, 95, h),
    )
    lead_age = np.select(
        [has_child, adult_child, kind == HOUSEHOLD_TYPES.index("couple"), kind == HOUSEHOLD_TYPES.index("sharers")],
        [eldest + rng.uniform(17, 40, h), rng.uniform(43, 66, h), rng.uniform(20, 90, h), rng.uniform(18, 40, h)],
        single_age,
    )
    age = np.select(
        [role == LEAD, role == PARTNER, role == GRANDPARENT, role == SHARER],
        [
            lead_age[hh],
            np.clip(lead_age[hh] + rng.normal(-1.5, 3, n), 18, 99),
            np.clip(lead_age[hh] + rng.uniform(20, 32, n), 50, 101),
            rng.uniform(18, 40, n),
        ],
        age,
    )
    return age, twins


def _names(
    rng: np.random.Generator, kind: np.ndarray, counts: np.ndarray, start: np.ndarray,
    hh: np.ndarray, role: np.ndarray, sex: np.ndarray, dob: np.ndarray, age: np.ndarray,
    twins: np.ndarray,
) -> dict[str, np.ndarray]:
    """Origin, first, middle, surname and maiden name per person.

    Married partners share the lead's surname (the woman keeps a maiden name); children of
    unmarried couples take either parent's surname or both, double-barrelled; 40% of single
    parents' children carry the absent parent's surname.
    """
    h, n = len(kind), len(hh)
    origin_names = np.array(list(vocab.ORIGINS), dtype=object)
    origin = origin_names[rng.choice(len(origin_names), size=h, p=list(vocab.ORIGINS.values()))]
    p_origin = origin[hh]
    young = dob >= YOUNG_FROM
    first = _first_names(rng, p_origin, sex, young)
    for _ in range(5):  # twins need different first names
        clash = np.flatnonzero(twins & (first == np.append(first[1:], "")))
        first[clash] = _first_names(rng, p_origin[clash], sex[clash], young[clash])
    middle = np.where(rng.random(n) < 0.55, _first_names(rng, p_origin, sex, young), "")
    middle = np.where(middle == first, "", middle).astype(object)

    base = _surnames(rng, origin)
    base = np.where((origin == "uk") & (rng.random(h) < 0.03), base + "-" + _surnames(rng, origin), base)
    own = _surnames(rng, np.where(rng.random(n) < 0.5, p_origin, "uk"))
    other = _surnames(rng, p_origin)
    married = rng.random(h) < 0.6
    has_partner = counts[:, PARTNER] == 1
    partner_name = own[np.minimum(start + 1, n - 1)]
    u = rng.random(h)
    unmarried = has_partner & ~married
    kids = np.select(
        [unmarried & (u >= 0.9), unmarried & (u >= 0.75), (kind == HOUSEHOLD_TYPES.index("single_parent")) & (u < 0.4)],
        [base + "-" + partner_name, partner_name, other[start]],
        base,
    )
    surname = np.select(
        [np.isin(role, (LEAD, GRANDPARENT)), (role == PARTNER) & married[hh], role == CHILD],
        [base[hh], base[hh], kids[hh]],
        own,
    )
    female = sex == "F"
    maiden_p = np.select(
        [role == PARTNER, role == LEAD, role == GRANDPARENT],
        [married[hh] * 1.0, np.where(kind[hh] == HOUSEHOLD_TYPES.index("single_parent"), 0.3, (age >= 30) * 0.4), 0.8],
        0.0,
    )
    maiden = np.where(female & (rng.random(n) < maiden_p) & (surname == base[hh]), other, "")
    maiden = np.where(maiden == surname, "", maiden).astype(object)
    return {"origin": origin, "first": first, "middle": middle, "last": surname, "maiden": maiden}


def _problems(
    rng: np.random.Generator, has_child: np.ndarray, has_pupil: np.ndarray, as_of: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Active period (start, end day; -1 when absent) of each latent problem per household.

    About 8.5% of households with children are "troubled" (2-5 problems), 28% more have one;
    periods start up to 3 years back (worklessness up to 8) and last 3-30 months, so some
    ended before the 12-month window.
    """
    h = len(has_child)
    troubled = rng.random(h) < np.where(has_child, 0.085, 0.025)
    one = rng.random(h) < np.where(has_child, 0.28, 0.15)
    k = np.where(troubled, rng.choice([2, 3, 4, 5], h, p=[0.45, 0.3, 0.17, 0.08]), one.astype(int))
    allowed = np.ones((h, len(PROBLEMS)), dtype=bool)
    allowed[:, PROBLEMS.index("education")] = has_pupil
    allowed[:, PROBLEMS.index("children_need_help")] = has_child
    keys = np.where(allowed, np.log(PROBLEM_WEIGHTS) + rng.gumbel(size=allowed.shape), -np.inf)
    chosen = ((-keys).argsort(1).argsort(1) < k[:, None]) & allowed
    back = rng.uniform(0.05, 3.0, chosen.shape)
    work = PROBLEMS.index("worklessness")
    back[:, work] = np.where(rng.random(h) < 0.3, rng.uniform(0.05, 8.0, h), back[:, work])
    start = as_of - (back * YEAR).astype(np.int64)
    end = start + (rng.uniform(0.25, 2.5, chosen.shape) * YEAR).astype(np.int64)
    return np.where(chosen, start, -1), np.where(chosen, end, -1)


def build_population(rng: np.random.Generator, households: int, as_of: int, history: int) -> Population:
    """Draw ``households`` households living in the area on ``as_of`` (day number)."""
    h = households
    kind = rng.choice(len(HOUSEHOLD_TYPES), size=h, p=TYPE_SHARES)
    counts, adult_child = _household_shape(rng, kind)
    size = counts.sum(1)
    start = np.cumsum(size) - size
    n = int(size.sum())
    hh = np.repeat(np.arange(h), size)
    slot = np.arange(n) - start[hh]
    role = (slot[:, None] >= np.cumsum(counts, 1)[hh]).sum(1)
    child_rank = np.where(role == CHILD, size[hh] - 1 - slot, -1)  # 0 = youngest (last slot)

    age, twins = _ages(rng, kind, counts, adult_child, hh, role, child_rank)
    dob = as_of - np.floor(age * YEAR).astype(np.int64)
    same_sex = rng.random(h) < 0.05
    lead_female = np.select(
        [kind == HOUSEHOLD_TYPES.index("single_parent"), counts[:, PARTNER] == 1],
        [rng.random(h) < 0.9, same_sex & (rng.random(h) < 0.5)],
        rng.random(h) < 0.5,
    )
    female = np.select(
        [role == LEAD, role == PARTNER],
        [lead_female[hh], np.where(same_sex[hh], lead_female[hh], ~lead_female[hh])],
        rng.random(n) < 0.5,
    )
    sex = np.where(female, "F", "M").astype(object)
    names = _names(rng, kind, counts, start, hh, role, sex, dob, age, twins)

    props = build_properties(rng, h + int(h * MOVED_SHARE * 1.3) + 10)
    perm = rng.permutation(len(props))
    moved = rng.random(h) < MOVED_SHARE
    old_property = np.full(h, -1)
    old_property[moved] = perm[h : h + int(moved.sum())]
    move_day = np.where(moved, rng.integers(as_of - history + 30, as_of - 14, size=h), -1)

    child_age = np.where(role == CHILD, age, -1)
    has_child = np.bincount(hh, weights=(child_age >= 0) & (child_age < 18), minlength=h) > 0
    has_pupil = np.bincount(hh, weights=(child_age >= 5) & (child_age < 16), minlength=h) > 0
    problem_start, problem_end = _problems(rng, has_child, has_pupil, as_of)
    n_problems = (problem_start >= 0).sum(1)
    social = rng.random(h) < np.select([n_problems >= 2, n_problems == 1], [0.5, 0.3], 0.14)

    households = pd.DataFrame(
        {
            "kind": np.array(HOUSEHOLD_TYPES, dtype=object)[kind],
            "origin": names.pop("origin"),
            "start": start,
            "size": size,
            "property": perm[:h],
            "old_property": old_property,
            "move_day": move_day,
            "social": social,
            "social_old": moved & social & (rng.random(h) < 0.7),
            "has_child": has_child,
        }
    )
    persons = pd.DataFrame(
        {
            "household": hh,
            "role": role,
            "sex": sex,
            "dob": dob,
            **names,
            "nhs": nhs_numbers(rng, n),
            "upn": np.where(age < 20, upns(rng, n), ""),
            "nino": np.where(age >= 16, ninos(rng, n), ""),
            "twin": twins | np.r_[False, twins[:-1]],
        }
    )
    return Population(as_of, history, households, persons, props, problem_start, problem_end)
