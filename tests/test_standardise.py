"""Behaviour of matching.standardise: names, dates, postcodes, identifiers, addresses."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.standardise import (
    UNKNOWN_CODE,
    address_number,
    clean_nhs_number,
    clean_nino,
    clean_upn,
    code_map,
    fold_accents,
    normalise_postcode,
    parse_dates,
    parse_excel_dates,
    postcode_parts,
    split_forename_surname,
    split_forenames,
    split_surname_comma_forenames,
    standardise_address,
    standardise_name,
    unswap_names,
    valid_nhs_number,
    valid_nino,
    valid_upn,
)


def series(*values: object) -> pd.Series:
    return pd.Series(list(values), dtype=object)


def one(func, value, *args):
    return func(series(value), *args).iloc[0]


def rows(frame: pd.DataFrame) -> list[tuple]:
    return [tuple(None if pd.isna(v) else v for v in row) for row in frame.itertuples(index=False)]


# Realistic typed text: Latin-1 and Latin Extended-A letters, digits, punctuation, spaces.
typed_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x17F, exclude_categories=("Cc",)),
    max_size=30,
)


# --- accents and names ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Zoë", "Zoe"),
        ("Łukasz", "Lukasz"),
        ("Siobhán", "Siobhan"),
        ("Straße", "Strasse"),
        ("Bjørn", "Bjorn"),
        ("Æsa", "AEsa"),
        ("Đorđe", "Dorde"),
        ("", ""),
    ],
)
def test_fold_accents(raw: str, folded: str) -> None:
    assert one(fold_accents, raw) == folded


def test_fold_accents_keeps_null_and_index() -> None:
    out = fold_accents(pd.Series(["Zoë", None, "Zoë"], index=[7, 8, 9]))
    assert out.index.tolist() == [7, 8, 9]
    assert out.tolist() == ["Zoe", None, "Zoe"]


@pytest.mark.parametrize(
    ("raw", "standard"),
    [
        ("Zoë", "ZOE"),
        ("Łukasz", "LUKASZ"),
        ("Siobhán", "SIOBHAN"),
        ("O'Brien", "OBRIEN"),
        ("O\u2019Neill", "ONEILL"),
        ("O\u00b4Brien", "OBRIEN"),
        ("smith - jones", "SMITH-JONES"),
        ("Smith\u2013Jones", "SMITH-JONES"),
        ("-Smith-", "SMITH"),
        ("  mary   ann ", "MARY ANN"),
        ("Mrs. Zoë O'Brien", "ZOE OBRIEN"),
        ("DR  john", "JOHN"),
        ("Mr Mrs Smith", "SMITH"),
        ("Rev. Sir Ian", "IAN"),
        ("Masterson", "MASTERSON"),  # a title only as a separate token
        ("Miss", "MISS"),  # a lone title is the name
        ("St.John", "ST JOHN"),
        ("Anne2", "ANNE"),
        ("Иван", "ИВАН"),  # other scripts are kept, not erased
    ],
)
def test_standardise_name(raw: str, standard: str) -> None:
    assert one(standardise_name, raw) == standard


@pytest.mark.parametrize("blank", ["", "   ", "--", "'", ".", None, np.nan])
def test_standardise_name_blank_is_null(blank: object) -> None:
    assert one(standardise_name, blank) is None


@settings(max_examples=40, deadline=None)
@given(st.lists(typed_text, max_size=50))
def test_standardise_name_is_stable(texts: list[str]) -> None:
    once = standardise_name(series(*texts))
    assert standardise_name(once).tolist() == once.tolist()


# --- splitting names -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "parts"),
    [
        ("SMITH-JONES, Mary Ann", ("Mary", "Ann", "SMITH-JONES")),
        ("O'BRIEN,  Siobhán ", ("Siobhán", None, "O'BRIEN")),
        ("SMITH, John Paul George", ("John", "Paul George", "SMITH")),
        ("SMITH,", (None, None, "SMITH")),
        (", John", ("John", None, None)),
        ("SMITH John", ("John", None, "SMITH")),  # comma lost: case marks the surname
        ("VAN DER BERG Jan Piet", ("Jan", "Piet", "VAN DER BERG")),
        ("John SMITH", ("John", None, "SMITH")),
        ("SMITH JOHN", ("JOHN", None, "SMITH")),  # no hint: schedule order
        ("Smith", (None, None, "Smith")),
        (None, (None, None, None)),
    ],
)
def test_split_surname_comma_forenames(raw: str | None, parts: tuple) -> None:
    out = split_surname_comma_forenames(series(raw))
    assert list(out.columns) == ["first_name_raw", "middle_names_raw", "last_name_raw"]
    assert rows(out) == [parts]


@pytest.mark.parametrize(
    ("raw", "parts"),
    [
        ("Jane Smith", ("Jane", "Smith")),
        ("Mary Ann Smith-Jones", ("Mary", "Smith-Jones")),
        ("Mrs Jane Smith", ("Jane", "Smith")),
        ("Mrs Smith", (None, "Smith")),
        ("Anna de la Cruz", ("Anna", "de la Cruz")),
        ("Di Smith", ("Di", "Smith")),
        ("Smith, Jane", ("Jane", "Smith")),
        ("Smith", (None, "Smith")),
        ("", (None, None)),
    ],
)
def test_split_forename_surname(raw: str, parts: tuple) -> None:
    out = split_forename_surname(series(raw))
    assert list(out.columns) == ["first_name_raw", "last_name_raw"]
    assert rows(out) == [parts]


@pytest.mark.parametrize(
    ("raw", "parts"),
    [
        ("Mary Ann Louise", ("Mary", "Ann Louise")),
        ("  Mary   Ann ", ("Mary", "Ann")),
        ("Mary-Ann", ("Mary-Ann", None)),
        ("Mr John", ("John", None)),
        (None, (None, None)),
    ],
)
def test_split_forenames(raw: str | None, parts: tuple) -> None:
    out = split_forenames(series(raw))
    assert list(out.columns) == ["first", "middle"]
    assert rows(out) == [parts]


def test_splits_keep_index_with_repeated_values() -> None:
    s = pd.Series(["SMITH, Jo", "BROWN, Al", "SMITH, Jo"], index=["a", "b", "c"])
    out = split_surname_comma_forenames(s)
    assert out.index.tolist() == ["a", "b", "c"]
    assert out["last_name_raw"].tolist() == ["SMITH", "BROWN", "SMITH"]


# --- dates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "raw", "expected"),
    [
        ("%d/%m/%Y", "04/03/2015", "2015-03-04"),
        ("%d/%m/%Y", "4/3/2015", "2015-03-04"),
        ("%d/%m/%Y", " 04/03/2015 ", "2015-03-04"),
        ("%d/%m/%Y", "29/02/2012", "2012-02-29"),
        ("%d/%m/%Y", "31/02/2010", None),
        ("%d/%m/%Y", "29/02/2011", None),
        ("%d/%m/%Y", "04/03/15", None),
        ("%d/%m/%Y", "2015-03-04", None),
        ("%d/%m/%Y", "", None),
        ("%d/%m/%Y", None, None),
        ("%Y-%m-%d", "2015-03-04", "2015-03-04"),
        ("%Y-%m-%d", "2015-13-04", None),
        ("%Y%m%d", "20150304", "2015-03-04"),
        ("%Y%m%d", "20100231", None),
        ("%Y%m%d", "2015034", None),  # adjacent fields: full width only
        ("%d-%b-%Y", "04-Mar-2015", "2015-03-04"),
        ("%d-%b-%Y", "04-MAR-2015", "2015-03-04"),
        ("%d-%b-%Y", "4-sep-2015", "2015-09-04"),
        ("%d-%b-%Y", "04-Sept-2015", None),
        ("%d/%m/%Y %H:%M", "04/03/2015 13:45", "2015-03-04 13:45"),
        ("%d/%m/%Y %H:%M", "04/03/2015 25:00", None),
        ("%d/%m/%Y %H:%M", "04/03/2015", None),
        ("%d/%m/%Y %H:%M:%S", "04/03/2015 13:45:60", None),  # no leap seconds
        ("%d/%m/%Y", "٠٤/٠٣/٢٠١٥", None),  # ASCII digits only
        ("%d/%m/%Y", "01/01/1600", None),  # before datetime64[ns]
        ("%d/%m/%Y", "11/04/2262", "2262-04-11"),
        ("%d/%m/%Y", "12/04/2262", None),  # after it
        ("%m/%Y", "3/2015", "2015-03-01"),  # strptime's default day
        ("%d.%m.%Y", "04.03.2015", "2015-03-04"),
        ("%d.%m.%Y", "04x03x2015", None),  # literals are literal, not regex
        ("%d/%m/%y", "04/03/15", "2015-03-04"),  # other directives: pandas' strptime
        ("%d %B %Y", "4 March 2015", "2015-03-04"),
    ],
)
def test_parse_dates(fmt: str, raw: str | None, expected: str | None) -> None:
    out = parse_dates(series(raw), fmt)
    assert out.dtype == "datetime64[ns]"
    assert (pd.isna(out.iloc[0]) and expected is None) or out.iloc[0] == pd.Timestamp(expected)


def test_parse_dates_keeps_index_and_takes_numbers() -> None:
    out = parse_dates(pd.Series([20150304, None], index=[5, 6], dtype=object), "%Y%m%d")
    assert out.index.tolist() == [5, 6]
    assert out.iloc[0] == pd.Timestamp("2015-03-04")
    assert pd.isna(out.iloc[1])


def test_parse_excel_dates() -> None:
    out = parse_excel_dates(
        series(
            dt.date(2015, 3, 4),
            dt.datetime(2015, 3, 4, 10, 30),
            pd.Timestamp("2015-03-04"),
            "2015-03-04",
            "2015-03-04 00:00:00",
            42067,  # Excel serial of 2015-03-04
            42067.5,
            "42067",
            None,
            "soon",
        )
    )
    assert out.dtype == "datetime64[ns]"
    day = pd.Timestamp("2015-03-04")
    assert out.tolist()[:8] == [
        day,
        day + pd.Timedelta("10h30min"),
        day,
        day,
        day,
        day,
        day + pd.Timedelta("12h"),
        day,
    ]
    assert out.iloc[8:].isna().all()


# --- postcodes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "postcode"),
    [
        ("sw1a1aa", "SW1A 1AA"),
        (" SW1A 1AA ", "SW1A 1AA"),
        ("EC1A 1BB", "EC1A 1BB"),
        ("W1A 0AX", "W1A 0AX"),
        ("M1 1AE", "M1 1AE"),
        ("B33 8TH", "B33 8TH"),
        ("CR2 6XH", "CR2 6XH"),
        ("DN55 1PT", "DN55 1PT"),
        ("dn55-1pt", "DN55 1PT"),
        ("GIR 0AA", "GIR 0AA"),
    ],
)
def test_normalise_postcode_valid(raw: str, postcode: str) -> None:
    assert one(normalise_postcode, raw) == postcode


@pytest.mark.parametrize(
    "raw",
    [
        "SW1A 1AAA",  # inward too long
        "SW1A",  # outward only
        "1AA 1AA",  # outward must start with a letter
        "QA1 1AA",  # Q never starts a postcode
        "AI1 1AA",  # I never second
        "SW1A 1CA",  # C never in the inward code
        "M1 AAE",  # inward starts with a digit
        "GIR 1AA",
        "",
        None,
    ],
)
def test_normalise_postcode_invalid(raw: str | None) -> None:
    assert one(normalise_postcode, raw) is None


def test_postcode_parts() -> None:
    out = postcode_parts(series("sw1a1aa", "M1 1AE", "DN55 1PT", "not one", None))
    assert rows(out) == [
        ("SW", "SW1A", "SW1A 1"),
        ("M", "M1", "M1 1"),
        ("DN", "DN55", "DN55 1"),
        (None, None, None),
        (None, None, None),
    ]


# --- identifiers ---------------------------------------------------------------------


def nhs_reference(number: str) -> bool:
    """Scalar modulus-11 check, written independently of the vectorised one."""
    if len(number) != 10 or not number.isdigit() or len(set(number)) == 1:
        return False
    remainder = sum(int(d) * w for d, w in zip(number[:9], range(10, 1, -1), strict=True)) % 11
    check = 11 - remainder
    if check == 11:
        check = 0
    return check != 10 and check == int(number[9])


@pytest.mark.parametrize("raw", ["9434765919", "943 476 5919", "943-476-5919", " 9434765919 "])
def test_valid_nhs_number(raw: str) -> None:
    assert one(valid_nhs_number, raw)
    assert one(clean_nhs_number, raw) == "9434765919"


@pytest.mark.parametrize(
    "raw",
    ["9434765918", "9434765929", "943476591", "94347659190", "943476591X", "0000000000", "", None],
)
def test_invalid_nhs_number(raw: str | None) -> None:
    assert not one(valid_nhs_number, raw)
    assert one(clean_nhs_number, raw) is None


def test_nhs_number_every_single_digit_error_is_caught() -> None:
    good = "9434765919"
    typos = [good[:i] + d + good[i + 1 :] for i in range(10) for d in "0123456789" if d != good[i]]
    assert not valid_nhs_number(pd.Series(typos)).any()


def test_nhs_number_check_of_ten_is_invalid() -> None:
    # 000000006x: weighted sum 12, remainder 1, so the check digit would be 10.
    assert not valid_nhs_number(pd.Series([f"000000006{d}" for d in range(10)])).any()


def test_nhs_number_matches_reference() -> None:
    rng = np.random.default_rng(11)
    numbers = [f"{n:010d}" for n in rng.integers(0, 10**10, 3000)]
    numbers += [n[:9] + str(d) for n in numbers[:300] for d in range(10)]  # ~10% valid
    got = valid_nhs_number(pd.Series(numbers)).tolist()
    assert got == [nhs_reference(n) for n in numbers]
    assert 0 < sum(got) < len(got)


UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"


def upn_with_check(digits: str) -> str:
    """Check letter computed the long way: weights 2..13, mod 23."""
    total = sum(int(d) * w for d, w in zip(digits, range(2, 14), strict=True))
    return UPN_LETTERS[total % 23] + digits


def test_valid_upn_published_example() -> None:
    # python-stdnum's documented examples for stdnum.gb.upn
    assert valid_upn(series("B801200005001", "A801200005001")).tolist() == [True, False]


def test_valid_upn_constructed() -> None:
    rng = np.random.default_rng(5)
    good = [upn_with_check(f"{n:012d}") for n in rng.integers(10**9, 10**12, 500)]
    assert valid_upn(pd.Series(good)).all()
    wrong_letter = [next(c for c in UPN_LETTERS if c != u[0]) + u[1:] for u in good]
    assert not valid_upn(pd.Series(wrong_letter)).any()


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("B801200005001", "B801200005001"),
        (" b801200005001", "B801200005001"),
        ("B80120000500", None),  # 11 digits
        ("B8012000050011", None),  # 13 digits
        ("B80120000500A", None),  # temporary UPN: not in the schedule
        ("A000000000000", None),  # placeholder
        ("UN1", None),
        ("", None),
        (None, None),
    ],
)
def test_clean_upn(raw: str | None, clean: str | None) -> None:
    assert one(clean_upn, raw) == clean
    assert one(valid_upn, raw) == (clean is not None)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("AB123456C", "AB123456C"),
        ("ab 12 34 56 c", "AB123456C"),
        ("OA123456D", "OA123456D"),
        ("QQ123456C", None),  # HMRC's documented example: Q is never allocated
        ("BG123456A", None),
        ("GB123456A", None),
        ("NK123456A", None),
        ("KN123456A", None),
        ("TN123456A", None),
        ("NT123456A", None),
        ("ZZ123456A", None),
        ("DA123456A", None),
        ("AO123456A", None),  # O never second
        ("AB123456E", None),
        ("AB12345C", None),
        ("AB1234567C", None),
        ("", None),
        (None, None),
    ],
)
def test_nino(raw: str | None, clean: str | None) -> None:
    assert one(valid_nino, raw) == (clean is not None)
    assert one(clean_nino, raw) == clean


def test_identifier_checks_return_plain_bools() -> None:
    for check in (valid_nhs_number, valid_upn, valid_nino):
        out = check(pd.Series([None, "x"], index=[3, 4]))
        assert out.dtype == bool
        assert out.index.tolist() == [3, 4]


# --- addresses -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "standard"),
    [
        ("Flat 14a, 3 High St", "FLAT 14A 3 HIGH STREET"),
        ("3 High St., Leeds", "3 HIGH STREET LEEDS"),
        ("3 St John's Rd", "3 SAINT JOHNS ROAD"),
        ("Flt 2, St Mary's Ct", "FLAT 2 SAINT MARYS COURT"),
        ("14 A Acacia Ave.", "14A ACACIA AVENUE"),
        ("9 Elm Cl", "9 ELM CLOSE"),
        ("1 Bay Cres", "1 BAY CRESCENT"),
        ("2 Oak Dr", "2 OAK DRIVE"),
        ("3 Mill Ln", "3 MILL LANE"),
        ("4 Kings Pl", "4 KINGS PLACE"),
        ("5 Rose Gdns", "5 ROSE GARDENS"),
        ("6 Park Ter", "6 PARK TERRACE"),
        ("7 Park Terr", "7 PARK TERRACE"),
        ("1 Main St\nLeeds", "1 MAIN STREET LEEDS"),
        ("Château Rd", "CHATEAU ROAD"),
        ("  ", None),
        (None, None),
    ],
)
def test_standardise_address(raw: str | None, standard: str | None) -> None:
    assert one(standardise_address, raw) == standard


@settings(max_examples=40, deadline=None)
@given(st.lists(typed_text, max_size=50))
def test_standardise_address_is_stable(texts: list[str]) -> None:
    once = standardise_address(series(*texts))
    assert standardise_address(once).tolist() == once.tolist()


@pytest.mark.parametrize(
    ("raw", "numbers"),
    [
        ("FLAT 14A, 3 HIGH ST", "14A 3"),
        ("Flat 14 C, 3 High St", "14C 3"),
        ("Flat B, 12 Rose Terr", "B 12"),
        ("Rose Cottage, Mill Lane", None),
        ("1st Floor, 22 Bay Rd", "22"),
        (None, None),
    ],
)
def test_address_number(raw: str | None, numbers: str | None) -> None:
    assert one(address_number, raw) == numbers


# --- codes ---------------------------------------------------------------------------


def test_code_map_tells_unknown_from_blank() -> None:
    sex = {"M": "M", "f": "F", "U": None}
    out = code_map(pd.Series([" m", "F", "u", "X", "", None], index=list("abcdef")), sex)
    assert out.index.tolist() == list("abcdef")
    assert out.tolist() == ["M", "F", None, UNKNOWN_CODE, None, None]


def test_unswap_names_puts_back_only_names_clearly_keyed_the_wrong_way() -> None:
    first = pd.Series(["POPPY"] * 5 + ["SUNMORE", "JAMES", "THOMAS", "JAMES", None])
    last = pd.Series(["SUNMORE"] * 5 + ["POPPY", "THOMAS", "JAMES", "THOMAS", "SUNMORE"])
    fixed_first, fixed_last = unswap_names(first, last)
    assert (fixed_first[:6] == "POPPY").all() and (fixed_last[:6] == "SUNMORE").all()
    # names common in both fields stay as keyed; a missing name is never moved
    assert fixed_first[6:9].tolist() == ["JAMES", "THOMAS", "JAMES"]
    assert fixed_first.isna().iloc[9] and fixed_last.iloc[9] == "SUNMORE"
