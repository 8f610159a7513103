"""Synthetic partner extracts with known truth: ``generate(out, households, seed)``.

Writes, under ``out``:

- ``landing/<agency>/<agency>_YYYYMMDD[_n].<ext>``: every agency's files exactly as
  ``shared/spec/extracts.md`` describes (a backfill, monthly deltas, a correction file,
  sometimes a second file on the same day), with typing noise and ~0.2% bad rows.
- ``resend/<agency>/``: a byte-for-byte copy of one landing file under the same name;
  dropping it into ``landing/`` again must change nothing.
- ``bad/<agency>/``: files the hub must refuse (see ``manifest.json`` for each reason);
  they are kept out of ``landing/`` so that folder loads cleanly.
- ``truth.csv``: one row per data row written to ``landing/`` (agency, file_name,
  record_key, true_person_id, true_household_id, bad_row_reason).
- ``truth_households.csv``: household id, member ids, type, address on the as-of date,
  previous address and move date, latent problems (all, and active in the last 12 months).
- ``truth_persons.csv``: the true details of every person.
- ``truth_cases.csv``: key-worker cases of troubled households: attached and closed dates,
  outcome after closure (``open``, ``sustained``, ``relapsed``) and the needs at
  attachment (see :mod:`pipeline.generator.cases`).
- ``manifest.json``: every file written (path, agency, extract_date, kind, rows,
  bad_rows, encoding, refusal).
"""

from __future__ import annotations

import json
import zlib
from datetime import date
from pathlib import Path
from time import perf_counter

import numpy as np
import pandas as pd

from pipeline.generator.cases import Cases, draw_cases, truth_cases
from pipeline.generator.dates import day, format_days
from pipeline.generator.delivery import deliver
from pipeline.generator.errors import DEFAULT_ERRORS, ERROR_PRESETS, Errors, plan_errors
from pipeline.generator.events import World, health_events, police_events, yot_events
from pipeline.generator.extracts import FORMATS
from pipeline.generator.noise import LEVELS, profile_for
from pipeline.generator.population import PROBLEMS, ROLES, Population, build_population
from pipeline.generator.spans import (
    dwp_claims,
    housing_tenancies,
    school_terms,
    socialcare_episodes,
)

__all__ = ["AGENCIES", "HISTORY_DAYS", "generate"]

AGENCIES = tuple(FORMATS)
HISTORY_DAYS = 730  # events are generated for two years before the as-of date (spans reach further)


def _rng(seed: int, name: str) -> np.random.Generator:
    """An independent stream per component, so adding one never shifts another."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _address(pop: Population, prop: np.ndarray) -> pd.DataFrame:
    p = pop.properties.iloc[np.maximum(prop, 0)].reset_index(drop=True)
    line = p["number"].astype(str) + " " + p["street"]
    line = line.where(p["flat"] == 0, "Flat " + p["flat"].astype(str) + ", " + line)
    frame = pd.DataFrame({"address": line, "town": p["town"], "postcode": p["postcode"], "uprn": p["uprn"].astype(str)})
    return frame.where(pd.Series(prop >= 0), "")


def _write_truth_tables(out: Path, pop: Population, cases: Cases) -> dict:
    persons, households = pop.persons, pop.households
    person_id = "P" + pd.Series(np.arange(len(persons)) + 1).astype(str).str.zfill(7)
    household_id = "H" + pd.Series(np.arange(len(households)) + 1).astype(str).str.zfill(6)
    pd.DataFrame(
        {
            "true_person_id": person_id,
            "true_household_id": household_id.to_numpy()[persons["household"]],
            "role": np.array(ROLES, dtype=object)[persons["role"]],
            "first_name": persons["first"], "middle_names": persons["middle"], "last_name": persons["last"],
            "maiden_name": persons["maiden"], "sex": persons["sex"],
            "dob": format_days(persons["dob"].to_numpy(), date.isoformat),
            "nhs_number": persons["nhs"], "upn": persons["upn"], "nino": persons["nino"],
            "twin": persons["twin"].map({True: "Y", False: "N"}),
        }
    ).to_csv(out / "truth_persons.csv", index=False)

    active = (pop.problem_start >= 0) & (pop.problem_end > pop.as_of - 365) & (pop.problem_start <= pop.as_of)
    names = np.array(PROBLEMS, dtype=object)
    ids = person_id.tolist()
    current = _address(pop, households["property"].to_numpy())
    previous = _address(pop, households["old_property"].to_numpy())
    move = households["move_day"].to_numpy()
    pd.DataFrame(
        {
            "true_household_id": household_id,
            "person_ids": [" ".join(ids[a : a + n]) for a, n in zip(households["start"], households["size"], strict=True)],
            "household_type": households["kind"],
            **current,
            "previous_address": previous["address"], "previous_postcode": previous["postcode"],
            "moved_on": format_days(np.where(move >= 0, move, -(2**30)), date.isoformat),
            "social_tenant": households["social"].map({True: "Y", False: "N"}),
            "problems": [";".join(names[row]) for row in pop.problem_start >= 0],
            "problems_last_12_months": [";".join(names[row]) for row in active],
        }
    ).to_csv(out / "truth_households.csv", index=False)
    cases_table = truth_cases(cases, household_id)
    cases_table.to_csv(out / "truth_cases.csv", index=False)
    with_children = households["has_child"].to_numpy()
    n_active = active.sum(1)
    return {
        "households_with_children": int(with_children.sum()),
        "families_with_2plus_active_problems": int((with_children & (n_active >= 2)).sum()),
        "cases": cases_table["outcome"].value_counts().reindex(
            ["open", "sustained", "relapsed"], fill_value=0).to_dict(),
    }


def generate(
    out: Path, households: int, seed: int, as_of: date = date(2026, 11, 1), bad_files: bool = True,
    noise: str = "normal", extracts: int = 4, errors: str | Errors = DEFAULT_ERRORS,
) -> dict:
    """Write a synthetic area's partner extracts and their truth under ``out``; return a summary.

    ``noise`` is "none" (clean identities), "normal" or "high". ``bad_files`` adds the refused
    files under ``bad/`` and ~0.2% bad rows in the landing files. ``extracts`` is the number of
    monthly extracts per agency (the first a backfill; 13 gives a baseline and a year of monthly
    deltas, see :mod:`pipeline.generator.replay`). ``errors`` adds the errors of real records
    (:mod:`pipeline.generator.errors`): a preset name ("hostile", the default, or "none" for
    the clean data of before issue 13) or an ``Errors``. The same arguments always give the
    same bytes.
    """
    if noise not in LEVELS:
        raise ValueError(f"noise must be one of {sorted(LEVELS)}, not {noise!r}")
    if isinstance(errors, str):
        if errors not in ERROR_PRESETS:
            raise ValueError(f"errors must be one of {sorted(ERROR_PRESETS)}, not {errors!r}")
        errors = ERROR_PRESETS[errors]
    if households < 1:
        raise ValueError("households must be at least 1")
    out = Path(out)
    if (out / "landing").exists() and any((out / "landing").iterdir()):
        raise FileExistsError(f"{out / 'landing'} is not empty; generate into a new folder")
    started = perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    pop = build_population(_rng(seed, "population"), households, day(as_of), HISTORY_DAYS)
    plan = plan_errors(_rng(seed, "errors"), pop, errors)
    cases = draw_cases(_rng(seed, "cases"), pop)
    w = World(pop, _rng(seed, "events"))

    def built(agency: str, builder, *args) -> pd.DataFrame:
        w.rng = _rng(seed, f"events/{agency}")
        return builder(w, *args)

    police = built("police", police_events)
    events = {
        "police": police,
        "yot": built("yot", yot_events, police),
        "health": built("health", health_events),
        "schools": built("schools", school_terms),
        "housing": built("housing", housing_tenancies),
        "socialcare": built("socialcare", socialcare_episodes),
        "dwp": built("dwp", dwp_claims),
    }
    manifest, truths = [], []
    for agency in AGENCIES:
        delivery = deliver(
            w, agency, events.pop(agency), out, as_of, profile_for(agency, noise),
            _rng(seed, f"deliver/{agency}"), zlib.crc32(f"{seed}/{agency}".encode()), bad_files, extracts, plan,
        )
        manifest.extend(delivery.manifest)
        truths.append(delivery.truth)
    truth = pd.concat(truths, ignore_index=True)
    person = truth.pop("person").to_numpy()
    truth.insert(3, "true_person_id", "P" + pd.Series(person + 1).astype(str).str.zfill(7))
    truth.insert(4, "true_household_id", "H" + pd.Series(pop.persons["household"].to_numpy()[person] + 1).astype(str).str.zfill(6))
    truth.to_csv(out / "truth.csv", index=False)
    summary = _write_truth_tables(out, pop, cases)
    (out / "manifest.json").write_text(
        json.dumps({"seed": seed, "households": households, "as_of": as_of.isoformat(), "noise": noise,
                    "extracts": extracts, **({"errors": vars(errors)} if errors.any else {}), "files": manifest},
                   indent=1)
    )
    landing = [m for m in manifest if m["path"].startswith("landing/")]
    return {
        "households": households,
        "persons": len(pop.persons),
        "records": len(truth),
        "records_per_household": round(len(truth) / households, 2),
        "by_agency": truth["agency"].value_counts().reindex(list(AGENCIES), fill_value=0).to_dict(),
        "landing_files": len(landing),
        "bad_rows": int((truth["bad_row_reason"] != "").sum()),
        "bad_files": sum(m["kind"] == "bad" for m in manifest),
        **summary,
        "seconds": round(perf_counter() - started, 1),
    }
