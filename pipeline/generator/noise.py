"""Typing noise: how each agency's clerks get people's details slightly wrong.

Two kinds of noise, as in real systems. *Per person within an agency* (stable across that
agency's records): a nickname, a maiden name, one half of a double-barrelled surname, an
accent-stripping system. *Per record*: typos, first/last swaps, day/month swaps, missing
values, case and spacing slips, an old address after a move. Rates are per agency profile
and scaled by a level ("none", "normal", "high").
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, fields, replace

import numpy as np
import pandas as pd

from pipeline.generator import vocabulary as vocab
from pipeline.generator.dates import MISSING, ymd
from pipeline.generator.events import World

__all__ = [
    "LEVELS",
    "PROFILES",
    "NoiseProfile",
    "fold_accents",
    "fold_non_ascii",
    "identities",
    "noisy_case",
    "noisy_postcode",
    "profile_for",
]

LEVELS = {"none": 0.0, "normal": 1.0, "high": 3.0}
_LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"))
_SPECIAL_FOLDS = str.maketrans({"Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "Đ": "D", "đ": "d", "ß": "ss", "Æ": "AE", "æ": "ae"})


@dataclass(frozen=True)
class NoiseProfile:
    """Rates of each kind of noise for one agency (see module docstring for per person/record)."""

    typo: float = 0.025
    nickname: float = 0.03  # share of people with a common nickname whom the agency knows by it
    maiden: float = 0.05  # share of women with a maiden name recorded under it
    hyphen_drop: float = 0.15  # share of double-barrelled surnames cut to one part
    fold: float = 0.3  # share of people whose accents the agency's system drops
    name_swap: float = 0.006
    date_swap: float = 0.006
    missing_dob: float = 0.0
    missing_postcode: float = 0.03
    case: float = 0.02
    postcode_style: float = 0.04
    old_address: float = 0.15  # share of records after a move still showing the old address
    unknown_sex: float = 0.005
    middle_names: float = 0.0  # share of records whose forenames field includes middle names


PROFILES: dict[str, NoiseProfile] = {
    "police": NoiseProfile(typo=0.035, nickname=0.05, maiden=0.1, hyphen_drop=0.3, fold=0.85, name_swap=0.01,
                           date_swap=0.008, missing_dob=0.04, missing_postcode=0.04, case=0.03,
                           postcode_style=0.08, old_address=0.25, unknown_sex=0.01, middle_names=0.5),
    "yot": NoiseProfile(typo=0.02, nickname=0.03, hyphen_drop=0.2, fold=0.5, old_address=0.15),
    "health": NoiseProfile(maiden=0.3, fold=0.3, missing_postcode=0.02, old_address=0.3, unknown_sex=0.01),
    "schools": NoiseProfile(typo=0.015, nickname=0.01, maiden=0.0, hyphen_drop=0.1, fold=0.1, name_swap=0.003,
                            date_swap=0.004, missing_postcode=0.0, old_address=0.1, unknown_sex=0.0),
    "housing": NoiseProfile(typo=0.02, maiden=0.1, fold=0.2, missing_postcode=0.0, old_address=0.0, unknown_sex=0.0),
    "socialcare": NoiseProfile(typo=0.025, nickname=0.02, fold=0.4, old_address=0.2, unknown_sex=0.01),
    "dwp": NoiseProfile(typo=0.02, nickname=0.01, maiden=0.15, hyphen_drop=0.1, fold=1.0, name_swap=0.004,
                        date_swap=0.005, missing_postcode=0.02, old_address=0.35, unknown_sex=0.0, middle_names=0.6),
}


def profile_for(agency: str, level: str) -> NoiseProfile:
    """The agency's profile scaled by ``level``; "none" gives clean data, "high" 3x (capped at 1)."""
    scale = LEVELS[level]
    base = PROFILES[agency]
    return replace(base, **{f.name: min(1.0, getattr(base, f.name) * scale) for f in fields(base)})


def fold_accents(text: str) -> str:
    """Drop diacritics as an ASCII-only system would (Zoë -> Zoe, Łukasz -> Lukasz)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_SPECIAL_FOLDS))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold_non_ascii(values: np.ndarray) -> np.ndarray:
    """``fold_accents`` applied only where needed (most names are plain ASCII)."""
    out = values.astype(object).copy()
    idx = np.flatnonzero(np.fromiter((not v.isascii() for v in out), dtype=bool, count=len(out)))
    out[idx] = [fold_accents(v) for v in out[idx]]
    return out


def _typo(word: str, op: int, where: float, letter: str) -> str:
    if len(word) < 3:
        return word
    i = 1 + int(where * (len(word) - 2))  # never the first letter: clerks rarely get that wrong
    if op == 0:
        return word[:i] + word[i + 1 :]
    if op == 1:
        return word[:i] + letter + word[i:]
    if op == 2:
        return word[:i] + (letter.upper() if word[i].isupper() else letter) + word[i + 1 :]
    return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]


def typos(rng: np.random.Generator, words: np.ndarray, rate: float) -> np.ndarray:
    """One deletion, insertion, substitution or transposition in a ``rate`` share of words."""
    out = words.copy()
    hit = np.flatnonzero(rng.random(len(words)) < rate)
    ops, where, letters = rng.integers(0, 4, len(hit)), rng.random(len(hit)), _LETTERS[rng.integers(0, 26, len(hit))]
    out[hit] = [_typo(str(w), o, p, c) for w, o, p, c in zip(words[hit], ops, where, letters, strict=True)]
    return out


def _agency_views(
    w: World, rng: np.random.Generator, profile: NoiseProfile, people: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First, middle and surname of ``people`` (distinct, sorted) as this agency holds them."""
    p = w.pop.persons
    n = len(people)
    first = p["first"].to_numpy()[people]
    middle = p["middle"].to_numpy()[people]
    last = p["last"].to_numpy()[people]
    nick = np.flatnonzero(pd.Series(first).isin(vocab.NICKNAMES).to_numpy() & (rng.random(n) < profile.nickname))
    pick = rng.random(len(nick))
    first[nick] = [vocab.NICKNAMES[f][int(u * len(vocab.NICKNAMES[f]))] for f, u in zip(first[nick], pick, strict=True)]
    maiden = p["maiden"].to_numpy()[people]
    use_maiden = (maiden != "") & (rng.random(n) < profile.maiden)
    last[use_maiden] = maiden[use_maiden]
    hyphen = np.flatnonzero(pd.Series(last).str.contains("-", regex=False).to_numpy() & (rng.random(n) < profile.hyphen_drop))
    side = rng.integers(0, 2, len(hyphen))
    last[hyphen] = [s.split("-")[k] for s, k in zip(last[hyphen], side, strict=True)]
    fold = rng.random(n) < profile.fold
    for arr in (first, middle, last):
        arr[fold] = fold_non_ascii(arr[fold])
    return first, middle, last


def identities(
    w: World, rng: np.random.Generator, profile: NoiseProfile, persons: np.ndarray, dates: np.ndarray,
) -> pd.DataFrame:
    """Each record's identifying details as typed: names, dob (day number or MISSING), sex,
    property index of the address shown, and whether the postcode was left blank."""
    people, slot = np.unique(persons, return_inverse=True)
    first_v, middle_v, last_v = _agency_views(w, rng, profile, people)
    n = len(persons)
    first, middle, last = first_v[slot], middle_v[slot], last_v[slot]
    which = rng.random(n) < 0.5  # a typo lands in the first name or the surname
    first = np.where(which, typos(rng, first, profile.typo), first)
    last = np.where(which, last, typos(rng, last, profile.typo))
    swap = rng.random(n) < profile.name_swap
    first, last = np.where(swap, last, first), np.where(swap, first, last)
    middle = np.where(rng.random(n) < profile.middle_names, middle, "")

    dob = w.dob[persons].copy()
    y, m, d = ymd(dob)
    swappable = (d <= 12) & (d != m) & (rng.random(n) < profile.date_swap)
    swapped = (
        ((y - 1970) * 12 + d - 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) + m - 1
    )
    dob = np.where(swappable & (swapped <= dates), swapped, dob)  # entry systems refuse future dates
    dob = np.where(rng.random(n) < profile.missing_dob, MISSING, dob)

    sex = w.pop.persons["sex"].to_numpy()[persons]
    sex = np.where(rng.random(n) < profile.unknown_sex, "U", sex)

    households = w.pop.households
    hh = w.hh[persons]
    move = households["move_day"].to_numpy()[hh]
    old = households["old_property"].to_numpy()[hh]
    new = households["property"].to_numpy()[hh]
    before_move = (move >= 0) & (dates < move)
    stale = (move >= 0) & ~before_move & (rng.random(n) < profile.old_address)
    prop = np.where(before_move | stale, old, new)
    return pd.DataFrame(
        {
            "first": first,
            "middle": middle,
            "last": last,
            "dob": dob,
            "sex": sex,
            "property": prop,
            "no_postcode": rng.random(n) < profile.missing_postcode,
        }
    )


def _slip(text: str, kind: int) -> str:
    if kind == 0:
        return text.lower()
    if kind == 1:
        return text.upper()
    if kind == 2:
        return text.replace(" ", "  ", 1) if " " in text else text + " "
    return " " + text


def noisy_case(rng: np.random.Generator, values: np.ndarray, rate: float) -> np.ndarray:
    """Case and spacing slips in a ``rate`` share: lower case, upper case, doubled or stray space."""
    out = values.astype(object).copy()
    hit = np.flatnonzero((rng.random(len(values)) < rate) & (out != ""))
    out[hit] = [_slip(s, k) for s, k in zip(out[hit], rng.integers(0, 4, len(hit)), strict=True)]
    return out


def noisy_postcode(rng: np.random.Generator, postcodes: np.ndarray, rate: float) -> np.ndarray:
    """Postcodes in any case, with or without the space (extracts.md), in a ``rate`` share."""
    out = postcodes.astype(object).copy()
    hit = np.flatnonzero((rng.random(len(out)) < rate) & (out != ""))
    kind = rng.integers(0, 3, len(hit))
    out[hit] = [
        p.replace(" ", "") if k == 0 else p.lower() if k == 1 else p.lower().replace(" ", "")
        for p, k in zip(out[hit], kind, strict=True)
    ]
    return out
