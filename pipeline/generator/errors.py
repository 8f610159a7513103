"""Errors of real records, each a rate, all on in the ``hostile`` preset, the default.

Typing noise (:mod:`pipeline.generator.noise`) is what a careful clerk gets wrong; these are
what council records really hold (issue 13): wrong identifiers that still pass their checks,
police nominal mix-ups, namesakes, first-letter typos, placeholder dates of birth, swapped
name fields, step-parents' surnames, and households that share or split addresses.

The truth is always the real person: a baby's health record carrying the mother's NHS number
is a record of the baby; a son's occurrence on his father's nominal is a record of the son.
Every draw comes from streams of its own, so with every rate at zero (preset ``none``) the
output is byte for byte what it was before these errors existed. ``hostile`` is the default
(issue 13: demo and test data carry every error kind), so linkage is always judged on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date

import numpy as np
import pandas as pd

from pipeline.generator.dates import MISSING, day, ymd
from pipeline.generator.identifiers import nhs_check_digit
from pipeline.generator.population import CHILD, Population

__all__ = ["DEFAULT_ERRORS", "ERROR_PRESETS", "ErrorPlan", "Errors", "plan_errors"]

_LETTERS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
PLACEHOLDER_DOB = day(date(1900, 1, 1))


@dataclass(frozen=True)
class Errors:
    """Rate of each error kind (the unit is in each comment)."""

    relative_nhs: float = 0.0  # health records of under-2s carrying the mother's NHS number
    nhs_valid_typo: float = 0.0  # health records with a mistyped NHS number that passes modulus 11
    nino_digit: float = 0.0  # DWP records with one NINO digit wrong
    duplicate_nominal: float = 0.0  # police-known people with a second nominal on half their records
    shared_nominal: float = 0.0  # junior namesakes recorded by police on their father's nominal
    junior: float = 0.0  # households of a father and son where the eldest son has his father's names
    similar_twins: float = 0.0  # twin pairs whose forenames are one letter apart
    first_letter_typo: float = 0.0  # records with the first letter of a name mistyped
    placeholder_dob: float = 0.0  # records with 1 January of the birth year, or 01/01/1900
    name_swap: float = 0.0  # records with forename and surname in each other's fields
    step_surname: float = 0.0  # children an agency knows under a step-parent's surname
    separated: float = 0.0  # single parents' children also known at the other parent's address
    shared_uprn: float = 0.0  # households sharing their UPRN with another (flats, HMOs)
    communal: float = 0.0  # households at a communal address (hostel, refuge), ~8 per address

    @property
    def any(self) -> bool:
        return any(getattr(self, f.name) > 0 for f in fields(self))


ERROR_PRESETS: dict[str, Errors] = {
    "none": Errors(),
    "hostile": Errors(
        relative_nhs=0.1, nhs_valid_typo=0.005, nino_digit=0.01, duplicate_nominal=0.05,
        shared_nominal=0.5, junior=0.15, similar_twins=0.5, first_letter_typo=0.01,
        placeholder_dob=0.01, name_swap=0.01, step_surname=0.1, separated=0.3,
        shared_uprn=0.04, communal=0.01,
    ),
}
DEFAULT_ERRORS = "hostile"  # the preset of generate(), `familyhub generate` and the benchmarks


@dataclass
class ErrorPlan:
    """Rates plus who the population-level errors touched (person-indexed, -1 when none)."""

    errors: Errors = field(default_factory=Errors)
    father: np.ndarray | None = None  # junior namesake -> father
    second_property: np.ndarray | None = None  # separated parents' child -> other parent's property


def _rename_juniors(rng: np.random.Generator, pop: Population, rate: float) -> np.ndarray:
    """The eldest son of a male lead takes his father's forenames; returns son -> father."""
    p, h = pop.persons, pop.households
    n = len(p)
    father = np.full(n, -1)
    lead = h["start"].to_numpy()[p["household"].to_numpy()]
    son = (p["role"].to_numpy() == CHILD) & (p["sex"].to_numpy() == "M") & (p["sex"].to_numpy()[lead] == "M")
    son &= p["twin"].to_numpy() == False  # noqa: E712 (twins stay distinguishable by name)
    candidates = np.flatnonzero(son)
    eldest = candidates[~pd.Series(p["household"].to_numpy()[candidates]).duplicated().to_numpy()]
    chosen = eldest[rng.random(len(eldest)) < rate]
    for column in ("first", "middle"):
        values = p[column].to_numpy().copy()
        values[chosen] = values[lead[chosen]]
        p[column] = values
    father[chosen] = lead[chosen]
    return father


def _similar_twins(rng: np.random.Generator, pop: Population, rate: float) -> None:
    """The younger twin's forename becomes the elder's with its last letter changed."""
    p = pop.persons
    twin = p["twin"].to_numpy()
    first = p["first"].to_numpy().copy()
    pairs = np.flatnonzero(twin[:-1] & twin[1:] & (p["household"].to_numpy()[:-1] == p["household"].to_numpy()[1:]))
    pairs = pairs[rng.random(len(pairs)) < rate]
    letters = _LETTERS[rng.integers(0, 26, len(pairs))]
    for i, letter in zip(pairs, letters, strict=True):
        base = first[i + 1]
        new = letter.lower() if letter.lower() != base[-1].lower() else "y"
        first[i] = base[:-1] + new
    p["first"] = first


def _share_properties(rng: np.random.Generator, pop: Population, errors: Errors) -> None:
    """Households that never moved join another's property (pairs) or a communal one (~8)."""
    h = pop.households
    prop = h["property"].to_numpy().copy()
    still = np.flatnonzero(h["move_day"].to_numpy() < 0)
    rng.shuffle(still)
    n_shared = int(len(still) * errors.shared_uprn) // 2 * 2
    shared, rest = still[:n_shared], still[n_shared:]
    prop[shared[1::2]] = prop[shared[0::2]]
    kind = h["kind"].to_numpy()[rest]
    eligible = rest[np.isin(kind, ("single", "single_parent"))]
    n_communal = int(len(h) * errors.communal)
    communal = eligible[:n_communal]
    if len(communal):
        homes = prop[communal[:: 8]]
        prop[communal] = homes[np.arange(len(communal)) // 8]
    h["property"] = prop


def _separated(rng: np.random.Generator, pop: Population, rate: float) -> np.ndarray:
    """Children of single parents known also at the other parent's (another household's) address."""
    p, h = pop.persons, pop.households
    n = len(p)
    second = np.full(n, -1)
    hh = p["household"].to_numpy()
    single_parent = h["kind"].to_numpy()[hh] == "single_parent"
    children = np.flatnonzero(single_parent & (p["role"].to_numpy() == CHILD))
    households = np.unique(hh[children])
    chosen = households[rng.random(len(households)) < rate]
    fathers = np.flatnonzero((h["kind"].to_numpy() == "single") & (p["sex"].to_numpy()[h["start"].to_numpy()] == "M"))
    if len(chosen) and len(fathers):
        home = h["property"].to_numpy()[rng.choice(fathers, size=len(chosen))]
        lookup = pd.Series(home, index=chosen)
        known = np.isin(hh[children], chosen)
        second[children[known]] = lookup.reindex(hh[children[known]]).to_numpy()
    return second


def plan_errors(rng: np.random.Generator, pop: Population, errors: Errors) -> ErrorPlan:
    """Apply the population-level errors to ``pop`` (in place) and return the plan for rendering."""
    if not errors.any:
        return ErrorPlan(errors)
    father = _rename_juniors(rng, pop, errors.junior)
    _similar_twins(rng, pop, errors.similar_twins)
    _share_properties(rng, pop, errors)
    return ErrorPlan(errors, father, _separated(rng, pop, errors.separated))


def record_errors(
    rng: np.random.Generator, plan: ErrorPlan, ident: pd.DataFrame, persons: np.ndarray, pop: Population,
) -> pd.DataFrame:
    """Per-record errors on one agency's identities (see :func:`pipeline.generator.noise.identities`).

    A step-parent's surname is that of the next household's lead: someone else's, not the family's.
    """
    e = plan.errors
    if not e.any:
        return ident
    out = ident.copy()
    n = len(out)
    first, last = out["first"].to_numpy().copy(), out["last"].to_numpy().copy()
    p, h = pop.persons, pop.households
    step = (rng.random(len(p)) < e.step_surname)[persons] & (p["role"].to_numpy()[persons] == CHILD)  # per person
    next_lead = h["start"].to_numpy()[(p["household"].to_numpy()[persons] + 1) % len(h)]
    last = np.where(step, p["last"].to_numpy()[next_lead], last)
    hit = np.flatnonzero(rng.random(n) < e.first_letter_typo)
    in_first = rng.random(len(hit)) < 0.5
    letters = _LETTERS[rng.integers(0, 26, len(hit))]
    for i, f, letter in zip(hit, in_first, letters, strict=True):
        target = first if f else last
        word = str(target[i])
        if word:
            target[i] = (letter if letter != word[0].upper() else "Z") + word[1:]
    swap = rng.random(n) < e.name_swap
    out["first"], out["last"] = np.where(swap, last, first), np.where(swap, first, last)

    dob = out["dob"].to_numpy().copy()
    placeholder = (rng.random(n) < e.placeholder_dob) & (dob != MISSING)
    year, _, _ = ymd(np.where(placeholder, dob, 0))
    jan1 = (year - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
    dob[placeholder] = np.where(rng.random(int(placeholder.sum())) < 0.5, jan1[placeholder], PLACEHOLDER_DOB)
    out["dob"] = dob

    if plan.second_property is not None:
        second = plan.second_property[persons]
        elsewhere = (second >= 0) & (rng.random(n) < 0.5)
        out["property"] = np.where(elsewhere, second, out["property"].to_numpy())
    return out


def wrong_nhs(rng: np.random.Generator, plan: ErrorPlan, nhs: np.ndarray, mother_nhs: np.ndarray, baby: np.ndarray) -> np.ndarray:
    """A mother's number on a baby's record; otherwise a mistype that still passes modulus 11."""
    e = plan.errors
    out = nhs.astype(object).copy()
    relative = baby & (rng.random(len(out)) < e.relative_nhs) & (mother_nhs != "")
    out[relative] = mother_nhs[relative]
    typo = np.flatnonzero(~relative & (rng.random(len(out)) < e.nhs_valid_typo) & (out != ""))
    for _ in range(10):  # a base whose check digit would be 10 is not issued: try another slip
        if not len(typo):
            break
        base = np.array([int(v[:9]) for v in out[typo]], dtype=np.int64)
        power = 10 ** rng.integers(0, 9, len(typo)).astype(np.int64)
        digit = (base // power) % 10
        base = base + ((digit + rng.integers(1, 10, len(typo))) % 10 - digit) * power
        check = nhs_check_digit(base)
        ok = (check != 10) & (base >= 100_000_000)
        out[typo[ok]] = [f"{b:09d}{c}" for b, c in zip(base[ok], check[ok], strict=True)]
        typo = typo[~ok]
    return out


def wrong_nino(rng: np.random.Generator, plan: ErrorPlan, nino: np.ndarray) -> np.ndarray:
    """One of the six digits mistyped (a NINO has no check digit to catch it)."""
    out = nino.astype(object).copy()
    hit = np.flatnonzero((rng.random(len(out)) < plan.errors.nino_digit) & (out != ""))
    where = rng.integers(2, 8, len(hit))
    step = rng.integers(1, 10, len(hit))
    out[hit] = [v[:k] + str((int(v[k]) + s) % 10) + v[k + 1 :] for v, k, s in zip(out[hit], where, step, strict=True)]
    return out


def wrong_nominals(
    rng: np.random.Generator, plan: ErrorPlan, ids_of: np.ndarray, persons: np.ndarray, refs: np.ndarray,
) -> np.ndarray:
    """Police nominal per record: ``ids_of`` (person-indexed) with duplicates and shared nominals.

    A duplicate is a second nominal (``id + 3``, never another person's, as ids step by 7) on
    about half of the person's records; a junior namesake may be on his father's nominal,
    except in an occurrence where both appear (the key must stay unique).
    """
    e = plan.errors
    duplicated = rng.random(len(ids_of)) < e.duplicate_nominal
    second = duplicated[persons] & (rng.random(len(persons)) < 0.5)
    out = np.where(second, ids_of[persons] + 3, ids_of[persons])
    if plan.father is not None:
        father = plan.father[persons]
        shares = rng.random(len(ids_of)) < e.shared_nominal
        shared = (father >= 0) & shares[persons]
        out = np.where(shared, ids_of[np.maximum(father, 0)], out)
        clash = pd.DataFrame({"ref": refs, "id": out}).duplicated(keep=False).to_numpy()
        out = np.where(shared & clash, ids_of[persons], out)
    return out
