"""The evidence ceiling of the household stage: what the extracts could place without guessing.

For each true household, its members (true persons, every record given its true person as
``benchmarks.households`` does) are joined by any evidence a household rule could
legitimately use, generously, at any time up to the as-of date:

* ``address``: a shared address (the stage's address key: a UPRN, or the keyed text);
* ``group``: a shared group reference of any kind (a tenancy, an incident);
* ``surname``: a surname (or part of a double-barrelled one) shared at a postcode both were
  ever recorded at, or one a typo away there (one edit, four letters or more, first letter
  kept);
* ``contact``: a pupil's named contact answered by full name anywhere, by first name at a
  postcode both were ever recorded at, or by surname there (a contact unknown to the
  agencies whose surname another member carries);
* ``birth``: a declared birth event within ``HouseholdRules.birth_days`` of a member's date
  of birth, anywhere;
* ``moved together``: two or more postcodes in common;
* ``identifier``: one NHS number, UPN, NINO or agency person id on two members' records (the
  mother's NHS number on a baby's record, a son's occurrences on his father's nominal).

A shared postcode alone (about twenty people) is not evidence. The *ceiling partition*
splits each true household into the connected components of that evidence: a member no
evidence reaches is its own family. Its pairwise family precision is 1 and its recall is
the most any rule could reach without guessing. The programmes' rules
(``benchmarks.cohort_truth``, as ``tests/test_cohort_truth.py`` scores the pipeline) are
applied to the truth, to the ceiling partition and to the households the stage builds on
true persons (``stage``); with ``--pipeline`` also to the real link stage's families
(``pipeline``: person linkage included).

Run (from the repository root)::

    PYTHONPATH=$PWD .venv/bin/python -m benchmarks.ceiling --seed 1 2 3 [--errors none] [--pipeline]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
from rapidfuzz.distance import Levenshtein
from rapidfuzz.process import cpdist

from benchmarks.cohort_truth import cohort_frames, household_of_family, score
from benchmarks.household_splits import families
from benchmarks.households import WORKDIR, Dataset, load, run_pipeline, scores, with_true_persons
from matching.households import HouseholdRules
from matching.households.graph import components
from matching.households.placement import prepare
from matching.households.rules import _surnames
from pipeline.generator.errors import DEFAULT_ERRORS, ERROR_PRESETS
from pipeline.linkage.link import household_evidence
from pipeline.programme.cohort import evaluate, load_programme
from pipeline.programme.identification import load_inputs
from pipeline.warehouse.engine import Warehouse

PROGRAMMES = ("tf2015", "sf2022")
T = TypeVar("T")


def _pairs(rows: pd.DataFrame, on: list[str], kind: str) -> pd.DataFrame:
    """Distinct node pairs of one true household agreeing on ``on``."""
    rows = rows.dropna().drop_duplicates()
    pairs = rows.merge(rows, on=["household", *on], suffixes=("_a", "_b"))
    return _links(pairs, kind)


def _links(pairs: pd.DataFrame, kind: str) -> pd.DataFrame:
    pairs = pairs[pairs["node_a"] != pairs["node_b"]]
    return pd.DataFrame({"a": pairs["node_a"], "b": pairs["node_b"], "kind": kind})


IDENTIFIERS = ["nhs_number", "upn", "nino", "source_person_id"]


def evidence_links(frame: pd.DataFrame, household: np.ndarray, birth_days: int,
                   birth_events: tuple[str, ...]) -> pd.DataFrame:
    """Every pair of members of one true household joined by evidence (see the module docstring).

    ``frame``: the stage's prepared mentions (:func:`matching.households.placement.prepare`);
    ``household``: the true household of each node; ``frame`` also carries the mentions'
    :data:`IDENTIFIERS`.
    """
    frame = frame.assign(household=household[frame["node"].to_numpy()])
    ids = frame.melt(["node", "household", "agency"], IDENTIFIERS).dropna()
    scope = ids["agency"].where(ids["variable"] == "source_person_id", "")  # an agency's own id
    ids["value"] = ids["variable"] + scope + ":" + ids["value"].astype(str)
    seen = frame[["node", "household", "postcode"]].dropna().drop_duplicates()
    surnames = _surnames(frame).merge(seen, on="node")
    shared = seen.merge(seen, on=["household", "postcode"], suffixes=("_a", "_b"))
    shared = shared[shared["node_a"] != shared["node_b"]]
    together = shared.groupby(["node_a", "node_b"]).size().rename("n").reset_index()
    near = surnames.merge(surnames, on=["household", "postcode"], suffixes=("_a", "_b"))
    near = near[
        (near["surname_a"] != near["surname_b"])
        & (near["surname_a"].str[0] == near["surname_b"].str[0])
        & (near[["surname_a", "surname_b"]].apply(lambda s: s.str.len()).min(axis=1) >= 4)
    ]
    typo = np.asarray(cpdist(near["surname_a"].tolist(), near["surname_b"].tolist(),
                             scorer=Levenshtein.distance)) == 1
    pupils = frame[["node", "household", "contact_first_name", "contact_last_name"]].dropna()
    named = frame[["node", "household", "first_name", "last_name"]].dropna().drop_duplicates()
    by_first = pupils.merge(named, left_on=["household", "contact_first_name"],
                            right_on=["household", "first_name"], suffixes=("_a", "_b"))
    by_surname = pupils.merge(surnames, left_on=["household", "contact_last_name"],
                              right_on=["household", "surname"], suffixes=("_a", "_b"))
    at_shared = together[["node_a", "node_b"]]
    births = frame.loc[frame["event_type"].isin(birth_events), ["node", "household", "event_date"]]
    born = frame[["node", "household", "dob"]].dropna().drop_duplicates()
    birth = births.merge(born, on="household", suffixes=("_a", "_b"))
    birth = birth[(birth["dob"] - birth["event_date"]).abs() <= pd.Timedelta(days=birth_days)]
    return pd.concat([
        _pairs(frame[["node", "household", "address_key"]], ["address_key"], "address"),
        _pairs(frame[["node", "household", "group_ref"]], ["group_ref"], "group"),
        _pairs(surnames, ["postcode", "surname"], "surname"),
        _links(near[typo], "surname"),
        _links(by_first[by_first["last_name"] == by_first["contact_last_name"]], "contact"),
        _links(by_first.merge(at_shared), "contact"),
        _links(by_surname.merge(at_shared), "contact"),
        _links(birth, "birth"),
        _links(together[together["n"] >= 2], "moved together"),
        _pairs(ids[["node", "household", "value"]], ["value"], "identifier"),
    ], ignore_index=True)


def ceiling_partition(data: Dataset, rules: HouseholdRules) -> pd.Series:
    """True person -> its family in the ceiling partition (an evidence component of its
    true household)."""
    evidence = household_evidence()
    mentions = with_true_persons(data)
    frame, person_ids = prepare(mentions, data.events, pd.Timestamp(data.as_of), evidence)
    frame[IDENTIFIERS] = mentions.loc[frame.index, IDENTIFIERS]
    household = data.mentions.drop_duplicates("true_person_id").set_index("true_person_id")
    links = evidence_links(frame, household["true_household_id"].reindex(person_ids).to_numpy(),
                           rules.birth_days, evidence.birth_events)
    labels = components(links, len(person_ids))
    return pd.Series(labels, index=person_ids).map("C{}".format)


def _read(data: Dataset, read: Callable[[Warehouse], T]) -> T:
    """``read`` on the dataset's embedded warehouse, closed afterwards."""
    wh = Warehouse.connect(f"duckdb:///{data.root / 'warehouse.duckdb'}")
    try:
        return read(wh)
    finally:
        wh.engine.dispose()


def _with_true_person(data: Dataset, events: pd.DataFrame) -> pd.DataFrame:
    return events.assign(true_person_id=events["mention_id"].map(
        data.mentions.set_index("mention_id")["true_person_id"]))


def _events(data: Dataset) -> pd.DataFrame:
    """staging.events with each record's true person, typed as ``load_inputs`` types them."""
    events = _read(data, lambda wh: wh.read("select * from staging.events"))
    for column in ("event_date", "start_date", "end_date", "asb_complaint_date"):
        events[column] = pd.to_datetime(events[column])
    events["rent_arrears"] = pd.to_numeric(events["rent_arrears"])
    return _with_true_person(data, events)


def _linked(data: Dataset) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The real link stage's events and members (``load_inputs``), after ``run_pipeline``."""
    events, members, referrals = _read(data, load_inputs)
    return _with_true_person(data, events), members, referrals


def measure(data: Dataset, rules: HouseholdRules, pipeline: bool) -> list[dict[str, object]]:
    """Family and cohort figures of the truth, the ceiling, the stage (and the pipeline)."""
    mentions = with_true_persons(data)
    persons = pd.read_csv(data.root / "truth_persons.csv", dtype=str, keep_default_na=False)
    households = pd.read_csv(data.root / "truth_households.csv", dtype=str, keep_default_na=False)
    events = _events(data)
    _, placed = families(data, rules)
    partitions = {
        "truth": mentions.drop_duplicates("person_id").set_index("person_id")["true_household_id"],
        "ceiling": ceiling_partition(data, rules),
        "stage": placed["household_key"].map("S{}".format),
    }
    inputs = {name: (*cohort_frames(events, persons, households, family), None)
              for name, family in partitions.items()}
    found = {name: scores(mentions, family) for name, family in partitions.items()}
    if pipeline:
        found["pipeline"] = run_pipeline(data)
        inputs["pipeline"] = _linked(data)
    truth = partitions["truth"]
    true = {p: evaluate(load_programme(p), *inputs["truth"][:2], data.as_of).cohort
            for p in PROGRAMMES}
    rows = []
    for name, (ev, members, referrals) in inputs.items():
        split = members.groupby(members["person_id"].map(truth))["family_id"].nunique()
        row = {
            "partition": name,
            "families P / R / F1": " / ".join(
                f"{found[name][f'mention_{k}']:.4f}" for k in ("precision", "recall", "f1")),
            "split households": int((split > 1).sum()) if len(split) else None,
        }
        records = ev if "true_person_id" in ev else ev.assign(true_person_id=ev["person_id"])
        household_of = household_of_family(records, members, persons)
        for programme in PROGRAMMES:
            cohort = evaluate(load_programme(programme), ev, members, data.as_of, referrals).cohort
            s = score(cohort, true[programme], household_of)
            hits = round(s.precision * s.predicted)
            row[f"{programme} P / R"] = (f"{s.precision:.3f} / {s.recall:.3f} "
                                         f"({hits}/{s.predicted}, {len(s.missed)} missed of {s.true})")
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--seed", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--workdir", type=Path, default=WORKDIR)
    parser.add_argument("--errors", choices=sorted(ERROR_PRESETS), default=DEFAULT_ERRORS)
    parser.add_argument("--pipeline", action="store_true",
                        help="also the real link stage (person linkage included)")
    args = parser.parse_args()
    rows = []
    for seed in args.seed:
        data = load(args.households, seed, args.workdir, args.errors)
        rows += [{"seed": seed, "errors": args.errors, **row}
                 for row in measure(data, HouseholdRules(), args.pipeline)]
    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
