"""Errors of real records (issue 13): each kind occurs at about its rate, and the truth stays right."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.generator import generate
from pipeline.generator.errors import (
    ERROR_PRESETS,
    ErrorPlan,
    Errors,
    wrong_nhs,
    wrong_nino,
    wrong_nominals,
)
from pipeline.generator.identifiers import nhs_numbers, ninos

HOSTILE = ERROR_PRESETS["hostile"]


def nhs_ok(value: str) -> bool:
    if not re.fullmatch(r"\d{10}", value):
        return False
    check = 11 - sum(int(d) * w for d, w in zip(value[:9], range(10, 1, -1), strict=True)) % 11
    return check != 10 and (0 if check == 11 else check) == int(value[9])


def landing(root: Path, agency: str, sep: str = ",") -> pd.DataFrame:
    """Every landing file of a csv/txt agency, with the true person of each row."""
    files = sorted((root / "landing" / agency).iterdir())
    frame = pd.concat([pd.read_csv(p, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig") for p in files],
                      ignore_index=True)
    truth = pd.read_csv(root / "truth.csv", dtype=str, keep_default_na=False)
    return frame.assign(true_person_id=truth[truth["agency"] == agency]["true_person_id"].to_numpy())


@pytest.fixture(scope="module")
def area(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hostile")
    generate(out, households=500, seed=4, errors="hostile")
    return out


@pytest.fixture(scope="module")
def persons(area: Path) -> pd.DataFrame:
    return pd.read_csv(area / "truth_persons.csv", dtype=str, keep_default_na=False)


def test_unknown_preset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="hostile"):
        generate(tmp_path, households=5, seed=1, errors="brutal")


def test_every_error_kind_is_on_by_default_and_none_gives_clean_data(tmp_path: Path) -> None:
    """Issue 13: demo and test data carry every error kind; `--errors none` is the old clean data."""
    runner = CliRunner()
    for folder, extra in (("default", []), ("none", ["--errors", "none"])):
        result = runner.invoke(main, ["generate", str(tmp_path / folder), "--households", "20", *extra])
        assert result.exit_code == 0, result.output
    errors = json.loads((tmp_path / "default" / "manifest.json").read_text())["errors"]
    assert errors == vars(HOSTILE) and all(rate > 0 for rate in errors.values())
    assert "errors" not in json.loads((tmp_path / "none" / "manifest.json").read_text())
    generate(tmp_path / "api", households=20, seed=1)
    assert (tmp_path / "api" / "truth.csv").read_bytes() == (tmp_path / "default" / "truth.csv").read_bytes()


def test_mistyped_nhs_numbers_still_pass_modulus_11_at_their_rate() -> None:
    rng = np.random.default_rng(1)
    nhs = nhs_numbers(rng, 20_000)
    out = wrong_nhs(rng, ErrorPlan(Errors(nhs_valid_typo=0.05)), nhs, np.full(len(nhs), ""), np.zeros(len(nhs), bool))
    changed = out != nhs
    assert 0.04 < changed.mean() < 0.06
    assert all(nhs_ok(v) for v in out[changed])
    differing = [sum(a != b for a, b in zip(x, y, strict=True)) for x, y in zip(out[changed], nhs[changed], strict=True)]
    assert min(differing) >= 1 and max(differing) <= 2  # one digit slipped, the check digit follows


def test_babies_carry_the_mothers_nhs_number_only_when_babies() -> None:
    rng = np.random.default_rng(2)
    nhs, mother = nhs_numbers(rng, 10_000), nhs_numbers(rng, 10_000)
    baby = np.arange(10_000) < 5_000
    out = wrong_nhs(rng, ErrorPlan(Errors(relative_nhs=0.1)), nhs, mother, baby)
    assert 0.08 < (out[baby] == mother[baby]).mean() < 0.12
    assert (out[~baby] == nhs[~baby]).all()


def test_nino_with_one_digit_wrong() -> None:
    rng = np.random.default_rng(3)
    nino = ninos(rng, 10_000)
    out = wrong_nino(rng, ErrorPlan(Errors(nino_digit=0.05)), nino)
    changed = out != nino
    assert 0.04 < changed.mean() < 0.06
    for a, b in zip(out[changed], nino[changed], strict=True):
        diff = [i for i in range(9) if a[i] != b[i]]
        assert len(diff) == 1 and 2 <= diff[0] <= 7 and a[diff[0]].isdigit()


def test_duplicate_and_shared_nominals() -> None:
    rng = np.random.default_rng(4)
    ids_of = np.arange(1000) * 7 + 1_000_000
    father = np.full(1000, -1)
    father[1::2] = np.arange(0, 1000, 2)  # every odd person is the son of the one before
    persons = np.repeat(np.arange(1000), 10)
    refs = np.arange(len(persons)).astype(str)
    plan = ErrorPlan(Errors(duplicate_nominal=0.2, shared_nominal=0.5), father=father)
    out = wrong_nominals(rng, plan, ids_of, persons, refs)
    per_person = pd.DataFrame({"p": persons, "id": out}).groupby("p")["id"].nunique()
    sons_on_father = (out == ids_of[np.maximum(father[persons], 0)]) & (father[persons] >= 0)
    assert 0.4 < pd.Series(sons_on_father).groupby(persons).any()[1::2].mean() < 0.6
    assert (per_person[::2] > 1).mean() == pytest.approx(0.2, abs=0.06)  # fathers: duplicates only
    assert not np.isin(out[out % 7 == 3], ids_of).any()  # a duplicate is nobody else's nominal
    # Father and son in one occurrence never share the nominal: the record key stays unique.
    same_ref = wrong_nominals(rng, plan, ids_of, np.array([0, 1]), np.array(["R1", "R1"]))
    assert same_ref[0] != same_ref[1]


def test_juniors_and_similar_twins_in_the_population(persons: pd.DataFrame) -> None:
    by_household = persons.groupby("true_household_id")
    lead = by_household["first_name"].transform("first")
    lead_sex = by_household["sex"].transform("first")
    sons = persons[(persons["role"] == "child") & (persons["sex"] == "M") & (lead_sex == "M")]
    juniors = (sons["first_name"] == lead[sons.index]).groupby(sons["true_household_id"]).any()
    assert 0.05 < juniors.mean() < 0.3
    twins = persons[persons["twin"] == "Y"]
    pairs = twins.groupby("true_household_id")["first_name"].agg(list)
    similar = [a != b and a[:-1] == b[:-1] for a, b in (p[:2] for p in pairs if len(p) >= 2)]
    assert any(similar)
    assert all(a != b for a, b in (p[:2] for p in pairs if len(p) >= 2))  # twins never share a name


def test_households_share_uprns_and_communal_addresses(area: Path) -> None:
    households = pd.read_csv(area / "truth_households.csv", dtype=str, keep_default_na=False)
    per_uprn = households.groupby("uprn")["true_household_id"].nunique()
    assert (per_uprn == 2).sum() >= 0.5 * HOSTILE.shared_uprn * len(households) / 2
    assert per_uprn.max() >= min(8, int(HOSTILE.communal * len(households)))  # a hostel or refuge


def test_names_dates_and_identifiers_go_wrong_but_truth_stays(area: Path, persons: pd.DataFrame) -> None:
    police = landing(area, "police").merge(persons, on="true_person_id")
    parts = police["FullName"].str.split(", ", n=1, expand=True)
    surname, forenames = parts[0], parts[1]
    first = forenames.str.split(" ").str[0]
    true_first, true_last = police["first_name"].str.upper(), police["last_name"].str.upper()
    swapped = (first.str.upper() == true_last) & (surname.str.upper() == true_first) & (true_first != true_last)
    assert 0 < swapped.mean() < 0.05
    placeholder = police["DOB"].str.startswith("01/01/") & (police["dob"].str[5:] != "01-01")
    assert 0 < placeholder.mean() < 0.05
    schools = landing(area, "schools")
    assert ((police["DOB"] == "01/01/1900").sum() + (schools["DOB"] == "01/01/1900").sum()) > 0
    wrong_initial = (surname.str[0].str.upper() != true_last.str[0]) & ~swapped & (surname.str.upper() != police["maiden_name"].str.upper())
    assert wrong_initial.any()
    shared = police.groupby("NominalId").filter(lambda g: g["true_person_id"].nunique() > 1)
    # Only a father and his namesake son ever share a nominal (rates: the unit test above).
    assert (shared.groupby("NominalId")["first_name"].nunique() == 1).all()
    assert (shared.groupby("NominalId")["true_household_id"].nunique() == 1).all()
    assert (police.groupby("true_person_id")["NominalId"].nunique() > 1).any()  # duplicate nominals

    health = landing(area, "health", sep="|").merge(persons, on="true_person_id")
    given = health[health["NHSNumber"] != ""]
    wrong = given[given["NHSNumber"] != given["nhs_number"]]
    assert len(wrong) and all(nhs_ok(v) for v in wrong["NHSNumber"])
    owner = persons.set_index("nhs_number")["true_household_id"]
    relative = wrong[wrong["NHSNumber"].isin(owner.index)]
    assert len(relative) and (owner[relative["NHSNumber"]].to_numpy() == relative["true_household_id"]).all()

    dwp = landing(area, "dwp").merge(persons, on="true_person_id")
    given = dwp[dwp["NINO"] != ""]
    wrong = given[given["NINO"] != given["nino"]]  # too few DWP rows here to expect one: rates above
    assert len(wrong) < 0.05 * len(given)
    assert all(sum(a != b for a, b in zip(x, y, strict=True)) == 1 for x, y in zip(wrong["NINO"], wrong["nino"], strict=True))
