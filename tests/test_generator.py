"""The synthetic data generator writes what extracts.md specifies, with truth that adds up."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from pipeline.generator import AGENCIES, generate
from pipeline.generator.dates import day
from pipeline.generator.delivery import file_bytes
from pipeline.generator.extracts import FORMATS, cp1252_safe
from pipeline.generator.identifiers import nhs_numbers, ninos, upns
from pipeline.generator.noise import fold_accents
from pipeline.generator.population import PROBLEMS, build_population

AS_OF = date(2026, 11, 1)
# Straight from shared/spec/extracts.md, independent of the generator's own tables.
SPEC = {
    "police": ("csv", ",", ["OccurrenceRef", "NominalId", "FullName", "DOB", "Sex", "Address", "Postcode",
                            "OccurrenceDateTime", "Category", "Role", "OffenceCode", "DomesticAbuse"]),
    "yot": ("csv", ",", ["YotCaseId", "Forename", "Surname", "DateOfBirth", "Gender", "Postcode", "OutcomeRef",
                         "OutcomeDate", "Outcome", "Offence"]),
    "health": ("txt", "|", ["NHSNumber", "FamilyName", "GivenName", "BirthDate", "GenderCode", "Postcode", "EventRef",
                            "EventDate", "EventType"]),
    "schools": ("csv", ",", ["UPN", "LegalSurname", "Forename", "DOB", "Gender", "AddressLine1", "Postcode",
                             "SchoolURN", "Term", "SessionsPossible", "SessionsAuthorisedAbsent",
                             "SessionsUnauthorisedAbsent", "SuspensionCount", "PermanentExclusion",
                             "AlternativeProvision", "ContactName"]),
    "housing": ("xlsx", None, ["TenancyRef", "UPRN", "AddressLine1", "AddressLine2", "Town", "Postcode", "PersonRef",
                               "Title", "Forename", "Surname", "DateOfBirth", "Relationship", "TenancyStart",
                               "TenancyEnd", "RentArrears", "ASBComplaintDate", "NoticeSeekingPossession"]),
    "socialcare": ("csv", ",", ["PersonId", "Forename", "Surname", "DOB", "Gender", "Postcode", "EpisodeRef",
                                "EpisodeType", "StartDate", "EndDate", "Category"]),
    "dwp": ("csv", ",", ["NINO", "Surname", "Forenames", "DOB", "Postcode", "ClaimRef", "Benefit", "ClaimStart",
                         "ClaimEnd"]),
}
KEYS = {"police": ["OccurrenceRef", "NominalId"], "yot": ["OutcomeRef"], "health": ["EventRef"],
        "schools": ["UPN", "Term"], "housing": ["TenancyRef", "PersonRef"], "socialcare": ["EpisodeRef"],
        "dwp": ["ClaimRef"]}
CODES = {
    ("police", "Category"): {"ASB", "CRIME", "DOMESTIC_INCIDENT", "MISSING_PERSON", "CONCERN_FOR_WELFARE"},
    ("police", "Role"): {"SUSPECT", "OFFENDER", "VICTIM", "WITNESS", "SUBJECT"},
    ("police", "Sex"): {"M", "F", "U"},
    ("yot", "Outcome"): {"YOUTH_CAUTION", "YOUTH_CONDITIONAL_CAUTION", "REFERRAL_ORDER",
                         "YOUTH_REHABILITATION_ORDER", "CUSTODY"},
    ("health", "EventType"): {"AE_ATTENDANCE", "EMERGENCY_ADMISSION", "MENTAL_HEALTH_REFERRAL",
                              "SUBSTANCE_MISUSE_TREATMENT", "MATERNITY"},
    ("health", "GenderCode"): {"0", "1", "2", "9"},
    ("schools", "PermanentExclusion"): {"Y", "N"},
    ("housing", "Relationship"): {"LEAD_TENANT", "JOINT_TENANT", "PARTNER", "CHILD", "OTHER"},
    ("socialcare", "EpisodeType"): {"EARLY_HELP", "CIN", "CPP", "LAC"},
    ("dwp", "Benefit"): {"JSA", "ESA", "IS", "IB", "UC_SEARCHING_FOR_WORK", "UC_NO_WORK_REQUIREMENTS"},
}
NAME = re.compile(r"^(?P<agency>[a-z]+)_(?P<date>\d{8})(_(?P<n>\d+))?\.(?P<ext>csv|txt|xlsx)$")
POSTCODE = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$", re.IGNORECASE)


def nhs_ok(value: str) -> bool:
    if not re.fullmatch(r"\d{10}", value):
        return False
    check = 11 - sum(int(d) * w for d, w in zip(value[:9], range(10, 1, -1), strict=True)) % 11
    return check != 10 and (0 if check == 11 else check) == int(value[9])


def upn_ok(value: str) -> bool:
    if not re.fullmatch(r"[A-Z]\d{12}", value):
        return False
    return "ABCDEFGHJKLMNPQRTUVWXYZ"[sum(int(c) * w for c, w in zip(value[1:], range(2, 14), strict=True)) % 23] == value[0]


def read(path: Path, agency: str) -> pd.DataFrame:
    """A landing file as text columns, read the way the spec says it is written."""
    ext, sep, _ = SPEC[agency]
    if ext == "xlsx":
        ws = openpyxl.load_workbook(path, read_only=True)["Extract"]
        rows = list(ws.iter_rows(values_only=True))
        frame = pd.DataFrame(rows[1:], columns=rows[0], dtype=object)
        return frame.map(lambda v: "" if v is None else v.date().isoformat() if hasattr(v, "date") else str(v))
    encoding = "cp1252" if agency == "socialcare" else "utf-8-sig"
    return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding=encoding, encoding_errors="strict")


@pytest.fixture(scope="module")
def area(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("area")
    generate(out, households=300, seed=11, as_of=AS_OF)
    return out


@pytest.fixture(scope="module")
def manifest(area: Path) -> list[dict]:
    return json.loads((area / "manifest.json").read_text())["files"]


@pytest.fixture(scope="module")
def truth(area: Path) -> pd.DataFrame:
    return pd.read_csv(area / "truth.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def landing(area: Path) -> dict[str, pd.DataFrame]:
    """Every landing file of each agency, concatenated in file-name order, with its file name."""
    return {
        agency: pd.concat(
            [read(p, agency).assign(file_name=p.name) for p in sorted((area / "landing" / agency).iterdir())],
            ignore_index=True,
        )
        for agency in AGENCIES
    }


def test_every_agency_delivers_files_named_per_the_schedule(area: Path) -> None:
    assert sorted(p.name for p in (area / "landing").iterdir()) == sorted(SPEC)
    for agency, (ext, _, _) in SPEC.items():
        names = [p.name for p in (area / "landing" / agency).iterdir()]
        assert len(names) >= 2, agency  # a backfill plus at least a delta or a correction
        for name in names:
            m = NAME.match(name)
            assert m and m["agency"] == agency and m["ext"] == ext, name
            assert date(int(m["date"][:4]), int(m["date"][4:6]), int(m["date"][6:])) <= AS_OF


@pytest.mark.parametrize("agency", sorted(SPEC))
def test_files_have_the_specified_columns_and_codes(area: Path, landing: dict[str, pd.DataFrame], truth: pd.DataFrame, agency: str) -> None:
    for path in (area / "landing" / agency).iterdir():
        assert list(read(path, agency).columns) == SPEC[agency][2]
    clean = landing[agency][truth[truth["agency"] == agency]["bad_row_reason"].to_numpy() == ""]
    for (a, column), codes in CODES.items():
        if a == agency:
            assert set(clean[column]) <= codes, column
    postcodes = clean["Postcode"][clean["Postcode"] != ""]
    assert postcodes.str.match(POSTCODE).all()


def test_utf8_csvs_come_with_and_without_bom(area: Path) -> None:
    starts = {
        agency: {p.read_bytes()[:3] == b"\xef\xbb\xbf" for p in (area / "landing" / agency).iterdir()}
        for agency in ("police", "yot", "health", "schools", "dwp")
    }
    assert {True, False} <= set().union(*starts.values())
    for agency in ("yot", "health", "dwp", "police", "schools"):
        for p in (area / "landing" / agency).iterdir():
            p.read_bytes().decode("utf-8")  # strict: raises if not UTF-8


def test_socialcare_is_windows_1252() -> None:
    assert list(cp1252_safe(np.array(["Siobhán", "Łukasz", "Zoë", "O'Brien"], dtype=object))) == ["Siobhán", "Lukasz", "Zoë", "O'Brien"]
    table = pd.DataFrame({c: ["x"] for c in SPEC["socialcare"][2]}).assign(Forename="Siobhán", Surname="Nowak")
    data = file_bytes(FORMATS["socialcare"], table, AS_OF)
    assert "Siobhán" in data.decode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")


def test_housing_dates_are_excel_date_cells(area: Path, truth: pd.DataFrame) -> None:
    bad = set(truth[(truth["agency"] == "housing") & (truth["bad_row_reason"] != "")]["record_key"])
    seen = 0
    for path in (area / "landing" / "housing").iterdir():
        ws = openpyxl.load_workbook(path)["Extract"]
        header = [c.value for c in ws[1]]
        for row in ws.iter_rows(min_row=2):
            if f"{row[0].value}|{row[header.index('PersonRef')].value}" in bad:
                continue
            assert row[header.index("DateOfBirth")].is_date and row[header.index("TenancyStart")].is_date
            end = row[header.index("TenancyEnd")]
            assert end.value is None or end.is_date
            assert isinstance(row[header.index("RentArrears")].value, (int, float))
            seen += 1
    assert seen > 20


def test_clean_rows_carry_valid_nhs_numbers_upns_and_ninos(landing: dict[str, pd.DataFrame], truth: pd.DataFrame) -> None:
    def clean(agency: str) -> pd.DataFrame:
        return landing[agency][truth[truth["agency"] == agency]["bad_row_reason"].to_numpy() == ""]

    nhs = clean("health")["NHSNumber"]
    assert 0.8 < (nhs != "").mean() < 0.97
    assert nhs[nhs != ""].map(nhs_ok).all()
    assert clean("schools")["UPN"].map(upn_ok).all()
    nino = clean("dwp")["NINO"]
    assert 0.88 < (nino != "").mean() <= 1.0
    assert nino[nino != ""].str.fullmatch(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]").all()


def test_truth_has_one_row_per_data_row_with_its_record_key(landing: dict[str, pd.DataFrame], truth: pd.DataFrame, manifest: list[dict]) -> None:
    for agency in AGENCIES:
        rows = landing[agency]
        mine = truth[truth["agency"] == agency].reset_index(drop=True)
        assert len(mine) == len(rows)
        assert (mine["file_name"] == rows["file_name"]).all()
        assert (mine["record_key"] == rows[KEYS[agency]].astype(str).agg("|".join, axis=1)).all()
        # Within one file an event key appears once.
        assert not mine.duplicated(["file_name", "record_key"]).any()
    written = sum(m["rows"] for m in manifest if m["path"].startswith("landing/"))
    assert written == len(truth)
    assert truth["true_person_id"].str.fullmatch(r"P\d{7}").all()
    assert truth["true_household_id"].str.fullmatch(r"H\d{6}").all()


def test_bad_rows_are_counted_and_really_break_a_rule(landing: dict[str, pd.DataFrame], truth: pd.DataFrame, manifest: list[dict]) -> None:
    bad = truth[truth["bad_row_reason"] != ""]
    assert 0 < len(bad) < 0.01 * len(truth)
    assert sum(m["bad_rows"] for m in manifest if m["path"].startswith("landing/")) == len(bad)
    for agency in AGENCIES:
        reasons = truth[truth["agency"] == agency]["bad_row_reason"].to_numpy()
        rows = landing[agency][reasons != ""]
        for (_, row), reason in zip(rows.iterrows(), reasons[reasons != ""], strict=True):
            if reason == "bad_nhs_check_digit":
                assert not nhs_ok(row["NHSNumber"])
            elif reason == "bad_upn_check_letter":
                assert not upn_ok(row["UPN"])
            elif reason == "unknown_code":
                assert any(row[c] not in codes for (a, c), codes in CODES.items() if a == agency)
            else:
                assert reason in {"unparseable_date", "impossible_dob"}


def test_same_seed_gives_the_same_bytes(tmp_path: Path) -> None:
    def files(out: Path) -> dict[str, bytes]:
        return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}

    generate(tmp_path / "a", households=120, seed=5)
    generate(tmp_path / "b", households=120, seed=5)
    generate(tmp_path / "c", households=120, seed=6)
    a, b, c = files(tmp_path / "a"), files(tmp_path / "b"), files(tmp_path / "c")
    assert a == b
    assert a["truth.csv"] != c["truth.csv"]


def test_corrections_resend_an_earlier_key_with_a_changed_field(manifest: list[dict], landing: dict[str, pd.DataFrame], truth: pd.DataFrame) -> None:
    corrections = [m for m in manifest if m["kind"] == "correction"]
    assert {m["agency"] for m in corrections} >= {"police", "health", "schools"}
    for m in corrections:
        agency, name = m["agency"], Path(m["path"]).name
        rows = landing[agency].assign(record_key=truth[truth["agency"] == agency]["record_key"].to_numpy())
        fixed = rows[rows["file_name"] == name]
        earlier = rows[rows["file_name"] < name].drop_duplicates("record_key", keep="last").set_index("record_key")
        for _, row in fixed.iterrows():
            before = earlier.loc[row["record_key"]]
            assert before["file_name"] < name
            assert (before.drop("file_name") != row.drop(["file_name", "record_key"])).any()


def test_resend_is_a_byte_identical_copy_and_second_same_day_files_exist(area: Path, manifest: list[dict]) -> None:
    resends = [m for m in manifest if m["kind"] == "resend"]
    assert {m["agency"] for m in resends} == set(AGENCIES)
    for m in resends:
        assert (area / m["path"]).read_bytes() == (area / m["resends"]).read_bytes()
        assert Path(m["path"]).name == Path(m["resends"]).name
    same_day = [Path(m["path"]).name for m in manifest if m["kind"] == "second_same_day"]
    assert same_day and all(NAME.match(n)["n"] == "2" for n in same_day)
    for n in same_day:
        assert (area / "landing" / n.split("_")[0] / n.replace("_2.", ".")).exists()


def test_bad_files_are_kept_out_of_landing_with_their_reasons(area: Path, manifest: list[dict]) -> None:
    bad = {m["refusal"]["reason"]: area / m["path"] for m in manifest if m["kind"] == "bad"}
    assert set(bad) == {"bad_name", "empty", "undecodable", "header_only", "unparseable", "missing_sheet",
                        "too_many_bad_rows", "missing_column"}
    assert not NAME.match(bad["bad_name"].name)
    assert bad["empty"].stat().st_size == 0
    with pytest.raises(UnicodeDecodeError):
        bad["undecodable"].read_bytes().decode("utf-8")
    assert len(read(bad["header_only"], "schools")) == 0
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(bad["unparseable"].read_bytes()))
    assert openpyxl.load_workbook(bad["missing_sheet"]).sheetnames == ["Sheet1"]
    assert "ClaimRef" not in read(bad["missing_column"], "dwp").columns
    broken = read(bad["too_many_bad_rows"], "socialcare")
    valid_types = CODES["socialcare", "EpisodeType"]
    dmy = r"\d\d-(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-\d{4}"
    broken_rows = ~broken["EpisodeType"].isin(valid_types) | ~broken["StartDate"].str.fullmatch(dmy) | ~broken["DOB"].str.fullmatch(dmy)
    assert broken_rows.mean() > 0.1 or (broken["DOB"].str[:2] == "31").any()
    for path in bad.values():
        assert "landing" not in path.parts


def test_clean_noise_renders_true_identities(tmp_path: Path) -> None:
    # The errors of real records (swapped names, typos, placeholder dates) also change identities.
    generate(tmp_path, households=150, seed=3, noise="none", bad_files=False, errors="none")
    assert not (tmp_path / "bad").exists()
    persons = pd.read_csv(tmp_path / "truth_persons.csv", dtype=str, keep_default_na=False).set_index("true_person_id")
    truth = pd.read_csv(tmp_path / "truth.csv", dtype=str, keep_default_na=False)
    assert (truth["bad_row_reason"] == "").all()
    schools = pd.concat([read(p, "schools") for p in sorted((tmp_path / "landing" / "schools").iterdir())], ignore_index=True)
    who = persons.loc[truth[truth["agency"] == "schools"]["true_person_id"]]
    assert (schools["Forename"].to_numpy() == who["first_name"].to_numpy()).all()
    assert (schools["LegalSurname"].to_numpy() == who["last_name"].to_numpy()).all()
    assert (pd.to_datetime(schools["DOB"], format="%d/%m/%Y").dt.date.astype(str).to_numpy() == who["dob"].to_numpy()).all()


def test_normal_noise_is_present_but_modest(landing: dict[str, pd.DataFrame], truth: pd.DataFrame, area: Path) -> None:
    persons = pd.read_csv(area / "truth_persons.csv", dtype=str, keep_default_na=False).set_index("true_person_id")
    police = landing["police"]
    who = persons.loc[truth[truth["agency"] == "police"]["true_person_id"]]
    surname = police["FullName"].str.split(",").str[0].str.strip().str.upper()
    same = surname.to_numpy() == who["last_name"].map(fold_accents).str.upper().to_numpy()
    assert 0.75 < same.mean() < 0.995
    assert (police["FullName"].str.split(",").str[0].str.strip().str.isupper()).mean() > 0.9


def test_events_span_two_years_so_the_window_matters(landing: dict[str, pd.DataFrame]) -> None:
    health = pd.to_datetime(landing["health"]["EventDate"], format="%Y%m%d", errors="coerce").dropna().dt.date
    assert health.max() <= AS_OF
    assert health.min() < AS_OF - timedelta(days=500)
    assert (health < AS_OF - timedelta(days=365)).mean() > 0.25


def test_moved_households_are_seen_at_their_old_address(area: Path, landing: dict[str, pd.DataFrame], truth: pd.DataFrame) -> None:
    households = pd.read_csv(area / "truth_households.csv", dtype=str, keep_default_na=False).set_index("true_household_id")
    moved = households[households["moved_on"] != ""]
    assert len(moved) > 5
    shown = pd.concat(
        [landing[a]["Postcode"].str.upper().str.replace(" ", "").to_frame().assign(h=truth[truth["agency"] == a]["true_household_id"].to_numpy()) for a in AGENCIES]
    )
    old = shown[shown["h"].isin(moved.index)]
    previous = moved.loc[old["h"], "previous_postcode"].str.replace(" ", "").to_numpy()
    assert (old["Postcode"].to_numpy() == previous).any()


def test_population_is_realistic() -> None:
    pop = build_population(np.random.default_rng(4), 20000, day(AS_OF), 730)
    p = pop.persons
    assert 2.2 < len(p) / 20000 < 2.7
    twins = p[p["twin"]]
    assert len(twins) >= 40
    pairs = twins.groupby(["household", "dob"])
    assert all(len(g) == 2 and g["last"].nunique() == 1 and g["first"].nunique() == 2 for _, g in pairs)
    assert (p["last"] == "Smith").mean() > 0.007
    assert ((p["last"] == "Smith") & (p["first"] == "John")).sum() >= 4
    assert p["first"].map(lambda s: not s.isascii()).sum() > 20
    assert p["last"].str.contains("-").sum() > 20
    assert pop.properties["postcode"].str.match(POSTCODE).all()
    assert pop.properties["district"].nunique() >= 3
    assert pop.properties["uprn"].astype(str).str.len().le(12).all()
    with_children = pop.households["has_child"].to_numpy()
    active = ((pop.problem_start >= 0) & (pop.problem_end > day(AS_OF) - 365)).sum(1)
    assert 0.04 < (active[with_children] >= 2).mean() < 0.12
    assert (active[with_children] == 0).mean() > 0.5
    assert len(PROBLEMS) == 6


def test_identifiers_are_valid_and_distinct() -> None:
    rng = np.random.default_rng(0)
    nhs, upn, nino = nhs_numbers(rng, 5000), upns(rng, 5000), ninos(rng, 5000)
    assert nhs_ok("9434765919") and not nhs_ok("9434765918")
    assert all(map(nhs_ok, nhs)) and len(set(nhs)) == 5000
    assert all(map(upn_ok, upn)) and len(set(upn)) == 5000
    assert len({n[:8] for n in nino}) == 5000


def test_generate_refuses_a_used_landing_folder(area: Path) -> None:
    with pytest.raises(FileExistsError):
        generate(area, households=10, seed=1)


@pytest.fixture(scope="module")
def world_with_cases():
    from pipeline.generator.cases import draw_cases
    from pipeline.generator.events import World

    pop = build_population(np.random.default_rng(8), 5000, day(AS_OF), 730)
    periods = pop.problem_start.copy(), pop.problem_end.copy()
    cases = draw_cases(np.random.default_rng(9), pop)
    assert (pop.problem_start == periods[0]).all() and (pop.problem_end == periods[1]).all()
    return World(pop, np.random.default_rng(10)), cases


def test_cases_are_attached_with_two_needs_and_closed_sustained_or_relapsed(world_with_cases) -> None:
    w, cases = world_with_cases
    pop = w.pop
    closed = cases.closed >= 0
    assert 0 < closed.sum() < len(cases.closed) and (cases.needs.sum(1) >= 2).all()
    assert (cases.attached <= pop.as_of - 30).all() and (cases.closed[closed] > cases.attached[closed]).all()
    assert (cases.closed[closed] <= pop.as_of - 14).all()
    end = np.where(cases.needs, pop.problem_end[cases.household], -1)
    latest_need_end = end.max(1)
    sustained = closed & ~cases.relapsed
    assert sustained.sum() > 0 and cases.relapsed.sum() > 0 and not cases.relapsed[~closed].any()
    assert (latest_need_end[sustained] <= cases.closed[sustained] + 30).all()
    assert (latest_need_end[cases.relapsed] > cases.closed[cases.relapsed] + 30).all()


def test_relapsed_cases_have_events_after_closure(world_with_cases) -> None:
    from pipeline.generator.events import health_events, police_events

    w, cases = world_with_cases
    events = pd.concat([police_events(w)[["person", "date"]], health_events(w)[["person", "date"]]])
    household = w.hh[events["person"].to_numpy()]
    closed = pd.Series(cases.closed, index=cases.household)
    # Cases whose crime, domestic abuse or health need runs on for 90 days after closure.
    cols = [PROBLEMS.index(c) for c in ("crime_asb", "domestic_abuse", "health")]
    runs_on = cases.needs[:, cols] & (w.pop.problem_end[cases.household][:, cols]
                                      > np.minimum(cases.closed + 90, w.pop.as_of)[:, None])
    relapsed = cases.household[cases.relapsed & runs_on.any(1) & (cases.closed + 90 <= w.pop.as_of)]
    after = events["date"].to_numpy() > closed.reindex(household, fill_value=np.iinfo(np.int64).max).to_numpy()
    assert len(relapsed) > 5
    assert np.isin(relapsed, household[after]).mean() > 0.8


def test_missing_children_and_authorised_persistent_absence(world_with_cases) -> None:
    from pipeline.generator.events import police_events
    from pipeline.generator.spans import school_terms

    w, _ = world_with_cases
    police = police_events(w)
    missing = police[police["category"] == "MISSING_PERSON"]
    ages = (missing["date"].to_numpy() - w.dob[missing["person"].to_numpy()]) / 365.25
    assert (missing["role"] == "SUBJECT").all() and (ages < 18).mean() > 0.9 and len(missing) > 30
    need_help = np.flatnonzero(w.pop.problem_start[:, PROBLEMS.index("children_need_help")] >= 0)
    assert np.isin(w.hh[missing["person"].to_numpy()], need_help).mean() > 0.5

    terms = school_terms(w)
    pupil = terms.groupby("person")[["possible", "authorised", "unauthorised"]].sum()
    unauthorised = pupil["unauthorised"] / pupil["possible"]
    any_kind = (pupil["authorised"] + pupil["unauthorised"]) / pupil["possible"]
    persistent_by_leave = (unauthorised < 0.10) & (any_kind >= 0.10)
    assert persistent_by_leave.sum() > 0.02 * len(pupil)
