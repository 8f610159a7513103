"""Valid, unique national identifiers, generated in bulk.

NHS numbers come from the 999 test range (never a real patient) while it lasts, UPNs carry
the DfE check letter, NINOs use only prefixes HMRC allocates. Uniqueness is by sampling
without replacement, never by hoping for no collisions.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "UPN_LETTERS",
    "nhs_check_digit",
    "nhs_numbers",
    "ninos",
    "upn_check_letter",
    "upns",
]

UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
_NINO_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
_NINO_SECOND = "ABCEGHJKLMNPRSTWXYZ"
_NINO_BANNED = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) int array of the decimal digits of each value, most significant first."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values.astype(np.int64)[:, None] // powers) % 10


def nhs_check_digit(first9: np.ndarray) -> np.ndarray:
    """Modulus-11 check digit of 9-digit bases; 10 means the base cannot be used."""
    weights = np.arange(10, 1, -1)
    check = 11 - (_digits(first9, 9) * weights).sum(axis=1) % 11
    return np.where(check == 11, 0, check)


def nhs_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct valid NHS numbers as 10-character strings (test range 999 first)."""
    for low, high in ((999_000_000, 1_000_000_000), (400_000_000, 800_000_000)):
        take = min(high - low, int(n * 1.2) + 1000)
        bases = low + rng.choice(high - low, size=take, replace=False).astype(np.int64)
        check = nhs_check_digit(bases)
        valid = np.flatnonzero(check != 10)[:n]
        if len(valid) == n:
            return np.char.add(bases[valid].astype(str), check[valid].astype(str)).astype(object)
    raise ValueError(f"cannot make {n} distinct NHS numbers")


def upn_check_letter(body: np.ndarray) -> np.ndarray:
    """DfE check letter for 12-digit UPN bodies: weights 2..13, sum mod 23."""
    weights = np.arange(2, 14)
    return np.array(list(UPN_LETTERS))[(_digits(body, 12) * weights).sum(axis=1) % 23]


def upns(rng: np.random.Generator, n: int, la_codes: tuple[int, ...] = (390, 391, 392)) -> np.ndarray:
    """``n`` distinct UPNs: check letter, 3-digit LA code, 4-digit school, 2-digit year, serial."""
    serial = rng.choice(10**9, size=n, replace=False).astype(np.int64)
    body = rng.choice(np.array(la_codes, dtype=np.int64), size=n) * 10**9 + serial
    return np.char.add(upn_check_letter(body), np.char.zfill(body.astype(str), 12)).astype(object)


def ninos(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct NINOs in valid format (allocated prefix, 6 digits, suffix A-D)."""
    prefixes = np.array(
        [a + b for a in _NINO_FIRST for b in _NINO_SECOND if a + b not in _NINO_BANNED]
    )
    code = rng.choice(len(prefixes) * 10**6, size=n, replace=False)
    digits = np.char.zfill((code % 10**6).astype(str), 6)
    suffix = np.array(list("ABCD"))[rng.integers(0, 4, size=n)]
    return np.char.add(np.char.add(prefixes[code // 10**6], digits), suffix).astype(object)
