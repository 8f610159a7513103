"""Point events (police occurrences, youth justice outcomes, health events).

Each builder returns one row per record version with ``person``, ``date`` (the day the
record describes, used for the address and age shown), ``known`` (the day the agency
recorded it, which decides the extract file), ``key`` (the event key before any noise) and
the agency's own fields. Problem households get the events their problem implies; every
household also gets background events, so a problem is never the only source of a signal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.generator import vocabulary as vocab
from pipeline.generator.dates import age_at
from pipeline.generator.population import CHILD, LEAD, PARTNER, PROBLEMS, YEAR, Population

MIN_YOT_OUTCOMES = 4

__all__ = ["World", "choose", "health_events", "numbered", "police_events", "yot_events"]


@dataclass
class World:
    """Arrays every builder needs, derived once from the population."""

    pop: Population
    rng: np.random.Generator

    def __post_init__(self) -> None:
        p, h = self.pop.persons, self.pop.households
        self.hh = p["household"].to_numpy()
        self.role = p["role"].to_numpy()
        self.female = p["sex"].to_numpy() == "F"
        self.dob = p["dob"].to_numpy()
        self.age = age_at(self.dob, np.full(len(p), self.pop.as_of))
        self.n_households = len(h)
        self.lead = h["start"].to_numpy()
        self.partner = np.full(self.n_households, -1)
        self.partner[self.hh[self.role == PARTNER]] = np.flatnonzero(self.role == PARTNER)
        # The mother or main carer: the woman among lead and partner, else the lead.
        partner_female = (self.partner >= 0) & self.female[np.maximum(self.partner, 0)]
        self.carer = np.where(~self.female[self.lead] & partner_female, self.partner, self.lead)
        self.other_adult = np.where(self.carer == self.lead, self.partner, self.lead)

    def uniform_days(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """A uniform day in [lo, hi] for each pair (hi >= lo)."""
        return lo + np.floor(self.rng.random(len(lo)) * (hi - lo + 1)).astype(np.int64)

    def problem(self, code: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Households with the problem and its active period clipped to the history span."""
        col = PROBLEMS.index(code)
        start, end = self.pop.problem_start[:, col], self.pop.problem_end[:, col]
        lo, hi = np.maximum(start, self.pop.span_start), np.minimum(end, self.pop.as_of)
        households = np.flatnonzero((start >= 0) & (hi >= lo))
        return households, lo[households], hi[households]

    def pick(self, mask: np.ndarray) -> np.ndarray:
        """One random person per household among ``mask``; -1 where the household has none."""
        candidates = self.rng.permutation(np.flatnonzero(mask))
        out = np.full(self.n_households, -1)
        households, first = np.unique(self.hh[candidates], return_index=True)
        out[households] = candidates[first]
        return out

    def events_per_person(self, persons: np.ndarray, rate: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Poisson events at ``rate`` per year per person while alive in [lo, hi]."""
        start = np.maximum(self.dob[persons], lo)
        years = np.maximum(hi - start, 0) / YEAR
        counts = self.rng.poisson(rate * years)
        who = np.repeat(persons, counts)
        return who, self.uniform_days(np.repeat(start, counts), np.full(len(who), hi))

    def spread(self, households: np.ndarray, counts: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``counts`` uniform days per household within its [lo, hi]."""
        return np.repeat(households, counts), self.uniform_days(np.repeat(lo, counts), np.repeat(hi, counts))


def choose(rng: np.random.Generator, options: dict[str, float], n: int) -> np.ndarray:
    names = np.array(list(options), dtype=object)
    p = np.array(list(options.values()))
    return names[rng.choice(len(names), size=n, p=p / p.sum())]


def numbered(rng: np.random.Generator, n: int, start: int = 1) -> np.ndarray:
    """Increasing reference numbers with gaps (other people's records sit in between)."""
    return start + np.cumsum(rng.integers(1, 9, size=n))


def _with_key_order(frame: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    return frame.sort_values(order, kind="stable").reset_index(drop=True)


def police_events(w: World) -> pd.DataFrame:
    """One row per person per occurrence: crime/ASB and domestic abuse problems plus background."""
    rng, n = w.rng, len(w.hh)
    occ_day, occ_cat, occ_da = [], [], []
    rows_occ, rows_person, rows_role = [], [], []

    def add(days: np.ndarray, category: np.ndarray, da: np.ndarray) -> np.ndarray:
        first = sum(len(d) for d in occ_day)
        occ_day.append(days)
        occ_cat.append(category)
        occ_da.append(da)
        return first + np.arange(len(days))

    def involve(occ: np.ndarray, persons: np.ndarray, roles: np.ndarray | str) -> None:
        keep = persons >= 0
        rows_occ.append(occ[keep])
        rows_person.append(persons[keep])
        rows_role.append(np.broadcast_to(np.asarray(roles, dtype=object), occ.shape)[keep])

    # Crime and ASB: a teenager (60% when there is one) or an adult of the household offends.
    households, lo, hi = w.problem("crime_asb")
    teen = w.pick((w.role == CHILD) & (w.age >= 12) & (w.age <= 19))
    adult_male = np.where(w.female[w.lead], w.partner, w.lead)
    offender = np.where((teen >= 0) & (rng.random(w.n_households) < 0.6), teen, np.where(adult_male >= 0, adult_male, w.lead))
    hh_rows, days = w.spread(households, 1 + rng.poisson(1.5, len(households)), lo, hi)
    crime = rng.random(len(days)) < 0.5
    occ = add(days, np.where(crime, "CRIME", "ASB"), np.zeros(len(days), bool))
    roles = np.where(
        crime,
        choose(rng, {"SUSPECT": 0.55, "OFFENDER": 0.45}, len(days)),
        choose(rng, {"SUBJECT": 0.4, "SUSPECT": 0.3, "OFFENDER": 0.3}, len(days)),
    )
    involve(occ, offender[hh_rows], roles)
    victim = np.where(rng.random(len(days)) < 0.3, rng.integers(0, n, len(days)), -1)
    victim = np.where(w.age[victim] >= 10, victim, -1)
    involve(occ, victim, np.where(crime, "VICTIM", "WITNESS"))

    # Domestic abuse: the carer is the victim, the other adult the suspect, children witness.
    households, lo, hi = w.problem("domestic_abuse")
    hh_rows, days = w.spread(households, 1 + rng.poisson(1.5, len(households)), lo, hi)
    crime = rng.random(len(days)) < 0.2
    occ = add(days, np.where(crime, "CRIME", "DOMESTIC_INCIDENT"), np.ones(len(days), bool))
    involve(occ, w.carer[hh_rows], "VICTIM")
    involve(occ, w.other_adult[hh_rows], np.where(crime & (rng.random(len(days)) < 0.4), "OFFENDER", "SUSPECT"))
    child = w.pick((w.role == CHILD) & (w.age >= 3) & (w.age < 18))
    involve(occ, np.where(rng.random(len(days)) < 0.3, child[hh_rows], -1), "WITNESS")

    # Background: anyone aged 10+ may be a victim, witness or subject, rarely a suspect.
    eligible = np.flatnonzero(w.age >= 10)
    who, days = w.events_per_person(eligible, 0.035, w.pop.span_start, w.pop.as_of)
    kind = choose(
        rng,
        {"CRIME/VICTIM": 35, "CRIME/WITNESS": 10, "ASB/VICTIM": 12, "ASB/WITNESS": 8,
         "CONCERN_FOR_WELFARE/SUBJECT": 15, "MISSING_PERSON/SUBJECT": 5, "CRIME/SUSPECT": 10,
         "ASB/SUBJECT": 5},
        len(who),
    )
    category, role = np.array([k.split("/") for k in kind], dtype=object).T.reshape(2, -1)
    category = np.where((category == "MISSING_PERSON") & (w.age[who] >= 18), "CONCERN_FOR_WELFARE", category)
    occ = add(days, category, np.zeros(len(days), bool))
    involve(occ, who, role)

    # Children who need help run away: a missing person report for a child aged 11-17 in
    # 35% of those households (the child is the SUBJECT), within the problem's period.
    households, lo, hi = w.problem("children_need_help")
    runaway = w.pick((w.role == CHILD) & (w.age >= 11) & (w.age < 18))
    reported = (runaway[households] >= 0) & (rng.random(len(households)) < 0.35)
    hh_rows, days = w.spread(households[reported], 1 + rng.poisson(0.8, int(reported.sum())),
                             lo[reported], hi[reported])
    occ = add(days, np.full(len(days), "MISSING_PERSON", dtype=object), np.zeros(len(days), bool))
    involve(occ, runaway[hh_rows], "SUBJECT")

    occ_day_a = np.concatenate(occ_day)
    occ_cat_a = np.concatenate(occ_cat).astype(object)
    occ_da_a = np.concatenate(occ_da)
    minute = rng.integers(0, 1440, len(occ_day_a))
    offence = np.where(
        occ_cat_a == "CRIME",
        np.where(occ_da_a, rng.choice(vocab.DOMESTIC_OFFENCES, len(occ_day_a)), rng.choice(list(vocab.OFFENCES), len(occ_day_a))),
        "",
    )
    # References numbered per calendar year in occurrence order.
    order = np.lexsort((minute, occ_day_a))
    seq = np.empty(len(order), dtype=np.int64)
    seq[order] = numbered(rng, len(order))
    year = occ_day_a.astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970
    number = seq - pd.Series(seq).groupby(year).transform("min").to_numpy() + rng.integers(1, 300)
    ref = "OC/" + pd.Series(year).astype(str) + "/" + pd.Series(number).astype(str).str.zfill(6)

    occ_i = np.concatenate(rows_occ)
    rows = pd.DataFrame(
        {
            "occurrence": occ_i,
            "person": np.concatenate(rows_person),
            "role": np.concatenate(rows_role).astype(object),
        }
    ).drop_duplicates(["occurrence", "person"])
    occ_i = rows["occurrence"].to_numpy()
    rows["date"] = occ_day_a[occ_i]
    rows["minute"] = minute[occ_i]
    rows["category"] = occ_cat_a[occ_i]
    rows["offence"] = offence[occ_i]
    rows["domestic_abuse"] = np.where(occ_da_a[occ_i], "Y", "N")
    rows["ref"] = ref.to_numpy()[occ_i]
    rows["known"] = (occ_day_a + rng.integers(0, 15, len(occ_day_a)))[occ_i]  # an occurrence is recorded at once
    return _with_key_order(rows, ["date", "minute", "occurrence"])


def yot_events(w: World, police: pd.DataFrame) -> pd.DataFrame:
    """Proven outcomes for 10-17 year olds suspected of crimes (and some ASB) in police data."""
    rng = w.rng
    suspects = police[police["role"].isin(["SUSPECT", "OFFENDER"])]
    age = age_at(w.dob[suspects["person"].to_numpy()], suspects["date"].to_numpy())
    p = np.where(suspects["category"].to_numpy() == "CRIME", 0.55, 0.12)
    chosen = suspects[(age >= 10) & (age <= 17) & (rng.random(len(suspects)) < p)]
    out = pd.DataFrame(
        {
            "person": chosen["person"].to_numpy(),
            "date": chosen["date"].to_numpy() + rng.integers(21, 150, len(chosen)),
            "offence": chosen["offence"].map(vocab.OFFENCES).fillna("Public order offence").to_numpy(),
        }
    )
    out = out[out["date"] <= w.pop.as_of]
    # Small areas still get a few outcomes (crimes committed elsewhere), so every agency sends data.
    teens = np.flatnonzero((w.age >= 11) & (w.age <= 17))
    extra = rng.choice(teens, size=min(len(teens), max(0, MIN_YOT_OUTCOMES - len(out))), replace=False)
    out = pd.concat(
        [
            out,
            pd.DataFrame(
                {
                    "person": extra,
                    "date": w.pop.as_of - rng.integers(30, w.pop.history, len(extra)),
                    "offence": rng.choice(list(vocab.OFFENCES.values()), len(extra)),
                }
            ),
        ],
        ignore_index=True,
    )
    out["outcome"] = choose(
        rng,
        {"YOUTH_CAUTION": 35, "YOUTH_CONDITIONAL_CAUTION": 25, "REFERRAL_ORDER": 25,
         "YOUTH_REHABILITATION_ORDER": 12, "CUSTODY": 3},
        len(out),
    )
    out["known"] = out["date"] + rng.integers(0, 10, len(out))
    out = _with_key_order(out, ["date", "person"])
    out["ref"] = "YO" + pd.Series(numbered(rng, len(out), 40_000)).astype(str).str.zfill(7)
    return out


def health_events(w: World) -> pd.DataFrame:
    """A&E, admissions, referrals, treatment and maternity events."""
    rng, pop = w.rng, w.pop
    everyone = np.arange(len(w.hh))
    child_or_old = (w.age < 5) | (w.age >= 65)
    parts: list[tuple[np.ndarray, np.ndarray, str]] = []
    for event, rate in (
        ("AE_ATTENDANCE", np.where(child_or_old, 0.5, 0.28)),
        ("EMERGENCY_ADMISSION", np.where(w.age >= 65, 0.14, 0.025)),
        ("MENTAL_HEALTH_REFERRAL", np.where(w.age >= 12, 0.007, 0.0)),
        ("SUBSTANCE_MISUSE_TREATMENT", np.where(w.age >= 16, 0.002, 0.0)),
    ):
        who, days = w.events_per_person(everyone, rate, pop.span_start, pop.as_of)
        parts.append((who, days, event))

    # Health problem: one member, mostly an adult, with referrals, admissions or repeated A&E.
    households, lo, hi = w.problem("health")
    teen = w.pick((w.role == CHILD) & (w.age >= 11) & (w.age < 18))
    patient = np.where((teen >= 0) & (rng.random(w.n_households) < 0.25), teen, np.where(rng.random(w.n_households) < 0.5, w.carer, w.lead))
    kind = choose(rng, {"MENTAL_HEALTH_REFERRAL": 40, "SUBSTANCE_MISUSE_TREATMENT": 20, "EMERGENCY_ADMISSION": 20, "AE_ATTENDANCE": 20}, len(households))
    counts = np.where(kind == "AE_ATTENDANCE", rng.integers(3, 7, len(households)), rng.integers(1, 3, len(households)))
    hh_rows, days = w.spread(households, counts, lo, hi)
    parts.append((patient[hh_rows], days, np.repeat(kind, counts)))

    # Maternity: the mother of every child born in the span (delivery, often a booking visit),
    # plus current pregnancies of women in couples.
    born = np.flatnonzero((w.role == CHILD) & (w.dob >= pop.span_start - 200))
    mother = w.carer[w.hh[born]]
    born, mother = born[w.female[mother]], mother[w.female[mother]]
    delivered = rng.random(len(born)) < 0.9
    parts.append((mother[delivered], w.dob[born][delivered], "MATERNITY"))
    booking = w.dob[born] - rng.integers(150, 200, len(born))
    booked = (rng.random(len(born)) < 0.6) & (booking >= pop.span_start)
    parts.append((mother[booked], booking[booked], "MATERNITY"))
    expecting = np.flatnonzero(w.female & np.isin(w.role, (LEAD, PARTNER)) & (w.age >= 18) & (w.age <= 42) & (w.partner[w.hh] >= 0))
    expecting = expecting[rng.random(len(expecting)) < 0.03]
    parts.append((expecting, pop.as_of - rng.integers(10, 200, len(expecting)), "MATERNITY"))

    out = pd.DataFrame(
        {
            "person": np.concatenate([p[0] for p in parts]),
            "date": np.concatenate([p[1] for p in parts]),
            "event": np.concatenate([np.broadcast_to(np.asarray(p[2], dtype=object), p[0].shape) for p in parts]),
        }
    )
    out = out[(out["date"] >= w.dob[out["person"].to_numpy()]) & (out["date"] <= pop.as_of)]
    out = _with_key_order(out, ["date", "person"])
    out["known"] = out["date"] + rng.integers(1, 40, len(out))
    out["ref"] = "RX" + pd.Series(numbered(rng, len(out), 10_000_000)).astype(str).str.zfill(9)
    return out
