"""Cohort precision and recall against the true households, and why each false family is there.

The whole hub (ingest → link → households → rules) runs on generated data; the programme's
rules are applied to the true households too, and the two are scored as
``tests/test_cohort_truth.py`` scores them (``benchmarks/cohort_truth.py``). Each predicted eligible
family that does not stand for a distinct truly eligible household is listed with its members
(each linked person's true person and household, age as linked and true), the criteria met and
by which member's records, the true criteria of the household it stands for, and a likely cause:

* ``split``: it stands for a truly eligible household another predicted family already stands for;
* ``over-merge``: the household it stands for meets too few criteria on its own records, the
  rest come from persons of other households joined to it;
* ``false person link``: some criteria come from records of another household's person that
  person linkage attached to a member;
* ``date of birth``: its own household's records and members meet the rule, but not with the
  members' true dates of birth (a child read as an adult, a placeholder date);
* ``criterion read``: none of these: its own household's records meet the rule as the hub
  reads them, but not the rule applied to the truth (look for a truth-side artefact).

No cause is a verdict: each false family is printed with the household edges that joined
another household's persons (``linked.household_edges``) so the evidence can be judged.

Run (from the repository root)::

    .venv/bin/python -m benchmarks.cohort_errors --seed 7 1 2 3 --programme tf2015 sf2022 [--list]

Generated data and the ingested warehouse are cached under ``--workdir`` as
``benchmarks.households`` caches them; the link stage is re-run (``--full``) every time, so a
change to person linkage or the household rules is measured.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmarks.cohort_truth import (
    KEY,
    Score,
    World,
    plurality,
    score,
    true_household_of_family,
    truth_frames,
    truth_world,
)
from benchmarks.households import WORKDIR, load
from pipeline.generator.errors import DEFAULT_ERRORS, ERROR_PRESETS
from pipeline.programme.cohort import CohortResult, evaluate, load_programme
from pipeline.warehouse.engine import Warehouse


def true_person_of_person(w: World) -> pd.Series:
    """Linked person_id -> the true person holding most of its records."""
    records = w.events[[*KEY, "person_id"]].merge(w.truth, on=KEY)
    return plurality(records, "person_id", "true_person_id")


def linked_world(households: int, seed: int, workdir: Path, errors: str) -> World:
    """Generate and ingest (cached), run the link stage in full, and read its inputs."""
    from pipeline.linkage.link import link

    data = load(households, seed, workdir, errors)
    wh = Warehouse.connect(f"duckdb:///{data.root / 'warehouse.duckdb'}")
    link(wh, data.as_of, full=True)
    return truth_world(data.root, wh, errors, data.as_of)


@dataclass(frozen=True)
class Diagnosis:
    family: str
    cause: str
    text: str


def _criteria(cohort: pd.DataFrame, family: object) -> str:
    row = cohort.loc[cohort["family_id"] == family, "criteria"]
    return (row.iloc[0] or "none") if len(row) else "not a family (no member seen)"


def own_household_cohort(w: World, programme: str, household_of: pd.Series, true_dob: bool) -> pd.DataFrame:
    """The hub's cohort when each family keeps only the records and members of the true household
    it stands for (and, with ``true_dob``, its members' true dates of birth): what remains of a
    false family once other households' persons and records are taken out."""
    true_person = true_person_of_person(w)
    person = w.persons.set_index("true_person_id")
    events = w.events.merge(w.truth[[*KEY, "true_household_id"]], on=KEY, how="left")
    own = events["true_household_id"] == events["family_id"].map(household_of)
    events = events.assign(family_id=events["family_id"].where(own)).drop(columns="true_household_id")
    members = w.members.assign(true_person_id=w.members["person_id"].map(true_person))
    members = members[members["true_person_id"].map(person["true_household_id"])
                      == members["family_id"].map(household_of)]
    if true_dob:
        members = members.assign(dob=pd.to_datetime(members["true_person_id"].map(person["dob"])))
    return evaluate(load_programme(programme), events, members.drop(columns="true_person_id"),
                    w.as_of, w.referrals).cohort


def describe(w: World, result: CohortResult, true: CohortResult, household_of: pd.Series,
             family: str, cause: str) -> str:
    """A false family: members as linked and as they are, and each criterion's evidence."""
    household = household_of.get(family)
    true_person = true_person_of_person(w)
    persons = w.persons.set_index("true_person_id")
    as_of = pd.Timestamp(w.as_of)
    lines = [f"{family} [{cause}] stands for {household} (true criteria: {_criteria(true.cohort, household)}); "
             f"predicted: {_criteria(result.cohort, family)}"]
    members = w.members[w.members["family_id"] == family].drop_duplicates("person_id")
    for person, dob in members[["person_id", "dob"]].to_numpy():
        tp = true_person.get(person)
        info = persons.loc[tp]
        age = int((as_of - pd.Timestamp(dob)).days // 365.25) if pd.notna(dob) else "?"
        true_age = int((as_of - pd.Timestamp(info["dob"])).days // 365.25)
        lines.append(f"    member {person} = {tp} of {info['true_household_id']} ({info['role']}, "
                     f"{info['first_name']} {info['last_name']}), age {age} (true {true_age})")
    foreign = members.loc[members["person_id"].map(true_person).map(persons["true_household_id"]) != household,
                          "person_id"]
    edges = w.wh.read("select * from linked.household_edges where family_id = :f", {"f": family})
    for row in edges[edges["person_a"].isin(foreign) | edges["person_b"].isin(foreign)].itertuples():
        lines.append(f"    edge {row.person_a} - {row.person_b}: {row.reason} ({row.evidence})")
    evidence = result.evidence[result.evidence["family_id"] == family].merge(w.truth, on=KEY, how="left")
    for row in evidence.itertuples():
        linked = true_person.get(row.person_id)
        wrong = "" if row.true_person_id == linked else f" FALSE LINK (person is {linked})"
        lines.append(f"    {row.criterion}: {row.true_person_id} of {row.true_household_id}{wrong}"
                     f" | {row.agency} {row.record_key} {str(row.event_date)[:10]} {row.detail}")
    return "\n".join(lines)


def run(w: World, programme: str, show: bool) -> tuple[Score, list[Diagnosis]]:
    """Score one programme on one world; find the cause of each extra family.

    ``split``: the household it stands for is truly eligible and found by another family;
    ``over-merge`` / ``false person link``: without other households' records and members it is
    not eligible (``false person link`` when one of those records sits on a member of the
    household, attached by person linkage); ``date of birth``: with them out it still is, but
    not with the members' true dates of birth; ``criterion read``: none of these."""
    prog = load_programme(programme)
    result = evaluate(prog, w.events, w.members, w.as_of, w.referrals)
    true = evaluate(prog, *truth_frames(w), w.as_of)
    household_of = true_household_of_family(w)
    s = score(result.cohort, true.cohort, household_of)
    eligible = set(true.cohort.loc[true.cohort["eligible"], "family_id"])
    own = own_household_cohort(w, programme, household_of, true_dob=False)
    own_dob = own_household_cohort(w, programme, household_of, true_dob=True)
    still = set(own.loc[own["eligible"], "family_id"])
    still_dob = set(own_dob.loc[own_dob["eligible"], "family_id"])
    records = w.events.merge(w.truth, on=KEY)
    records = records[records["family_id"].isin(s.extra)]
    household = w.persons.set_index("true_person_id")["true_household_id"]
    true_person = true_person_of_person(w)
    misattached = set(records.loc[(records["true_person_id"] != records["person_id"].map(true_person))
                                  & (records["true_household_id"] != records["family_id"].map(household_of))
                                  & (records["person_id"].map(true_person).map(household)
                                     == records["family_id"].map(household_of)), "family_id"])
    diagnoses = []
    for family in s.extra:
        if household_of.get(family) in eligible:
            cause = "split"
        elif family not in still:
            cause = "false person link" if family in misattached else "over-merge"
        elif family not in still_dob:
            cause = "date of birth"
        else:
            cause = "criterion read"
        diagnoses.append(Diagnosis(family, cause, describe(w, result, true, household_of, family, cause)))
        if show:
            print(diagnoses[-1].text)
    return s, diagnoses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--seed", type=int, nargs="+", default=[7])
    parser.add_argument("--programme", nargs="+", default=["tf2015", "sf2022", "tf2012"])
    parser.add_argument("--workdir", type=Path, default=WORKDIR)
    parser.add_argument("--errors", choices=sorted(ERROR_PRESETS), default=DEFAULT_ERRORS)
    parser.add_argument("--list", action="store_true", help="print every false family")
    args = parser.parse_args()
    rows = []
    for seed in args.seed:
        w = linked_world(args.households, seed, args.workdir, args.errors)
        for name in args.programme:
            if args.list:
                print(f"== seed {seed} {name}")
            s, diagnoses = run(w, name, args.list)
            causes = pd.Series([d.cause for d in diagnoses], dtype=object).value_counts()
            rows.append({"seed": seed, "programme": name, "precision": s.precision, "recall": s.recall,
                         "predicted": s.predicted, "true": s.true, "extra": len(s.extra),
                         "missed": len(s.missed), "causes": ", ".join(f"{c} {n}" for c, n in causes.items())})
        w.wh.engine.dispose()
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False, floatfmt=".3f"))
    pooled = table.groupby("programme")[["predicted", "true", "extra", "missed"]].sum()
    pooled["precision"] = 1 - pooled["extra"] / pooled["predicted"]
    pooled["recall"] = 1 - pooled["missed"] / pooled["true"]
    print("\npooled\n" + pooled.to_markdown(floatfmt=".4f"))


if __name__ == "__main__":
    main()
