"""Scoring a predicted cohort against the programme's rules applied to the true households.

Shared by ``tests/test_cohort_truth.py`` (the whole pipeline) and ``benchmarks/ceiling.py``
(households built from true persons, and the evidence ceiling), so both count alike: a truly
eligible household is found when a predicted eligible family stands for it; recall = found /
truly eligible; precision = predicted eligible families standing for a distinct truly
eligible household / predicted eligible families (a household split into two eligible
families counts once, the other is a false positive).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from pipeline.warehouse.engine import Warehouse

__all__ = ["KEY", "Score", "World", "cohort_frames", "household_of_family", "plurality", "score",
           "true_household_of_family", "truth_frames", "truth_world"]

KEY = ["agency", "record_key"]


def plurality(frame: pd.DataFrame, group: str, value: str) -> pd.Series:
    """Per `group`, the `value` it holds most often (ties: the smallest value)."""
    counts = frame.groupby([group, value]).size().rename("n").reset_index()
    top = counts.sort_values([group, "n", value], ascending=[True, False, True]).drop_duplicates(group)
    return top.set_index(group)[value]


def household_of_family(
    records: pd.DataFrame, members: pd.DataFrame, persons: pd.DataFrame
) -> pd.Series:
    """Predicted family_id -> the true household holding most of its persons.

    ``records``: ``person_id`` and ``true_person_id`` per record (a predicted person stands for
    the true person holding most of its records); ``members``: ``person_id, family_id``;
    ``persons``: truth_persons.csv.
    """
    true_person = plurality(records, "person_id", "true_person_id")
    household = persons.set_index("true_person_id")["true_household_id"]
    linked = members[["person_id", "family_id"]].drop_duplicates("person_id")
    linked = linked.assign(true_household_id=linked["person_id"].map(true_person).map(household))
    return plurality(linked.dropna(subset=["true_household_id"]), "family_id", "true_household_id")


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    predicted: int
    true: int
    missed: list[str]  # truly eligible households no predicted eligible family stands for
    extra: list[str]  # predicted eligible families not standing for a distinct eligible household


def score(predicted: pd.DataFrame, true: pd.DataFrame, household_of: pd.Series) -> Score:
    """``predicted`` and ``true`` cohorts (``family_id``, ``eligible``); ``household_of`` maps
    a predicted family to the true household it stands for."""
    families = predicted.loc[predicted["eligible"], "family_id"]
    eligible = set(true.loc[true["eligible"], "family_id"])
    stands_for = families.map(household_of)
    hits = stands_for.isin(eligible) & ~stands_for.duplicated()
    found = set(stands_for[hits])
    return Score(
        precision=hits.sum() / len(families) if len(families) else 1.0,
        recall=len(found) / len(eligible) if eligible else 1.0,
        predicted=len(families), true=len(eligible),
        missed=sorted(eligible - found), extra=sorted(families[~hits]),
    )


def cohort_frames(
    events: pd.DataFrame,
    persons: pd.DataFrame,
    households: pd.DataFrame,
    family_of_person: pd.Series | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events and members as the rules engine takes them, grouped by a partition of true persons.

    ``events``: staging.events rows with each record's ``true_person_id``; ``persons`` and
    ``households``: the generator's truth_persons.csv and truth_households.csv. Each person is in
    the family ``family_of_person`` names (default: their true household). The members are the
    true persons with at least one event, with their true date of birth and their household's
    postcode on the as-of date, so only the partition differs from the truth.
    """
    truth = persons.set_index("true_person_id")
    family = truth["true_household_id"] if family_of_person is None else family_of_person
    person = events["true_person_id"]
    events = events.drop(columns=["true_person_id", "true_household_id"], errors="ignore")
    events = events.assign(person_id=person, family_id=person.map(family))
    seen = persons[persons["true_person_id"].isin(person)]
    postcode = households.set_index("true_household_id")["postcode"]
    members = pd.DataFrame({
        "family_id": seen["true_person_id"].map(family),
        "person_id": seen["true_person_id"],
        "dob": pd.to_datetime(seen["dob"]),
        "postcode": seen["true_household_id"].map(postcode),
    })
    return events, members


@dataclass(frozen=True)
class World:
    """The hub's inputs and linkage on a generated set, with that set's truth."""

    errors: str  # the generator's errors preset
    as_of: date
    wh: Warehouse
    events: pd.DataFrame
    members: pd.DataFrame
    referrals: pd.DataFrame
    truth: pd.DataFrame  # one row per (agency, record_key): true_person_id, true_household_id
    persons: pd.DataFrame  # truth_persons.csv
    households: pd.DataFrame  # truth_households.csv


def truth_world(root: Path, wh: Warehouse, errors: str, as_of: date) -> World:
    """The linked warehouse's inputs with the truth of the generated set under ``root``."""
    from pipeline.programme.identification import load_inputs

    def csv(name: str) -> pd.DataFrame:
        return pd.read_csv(root / name, dtype=str, keep_default_na=False)

    truth = csv("truth.csv").drop_duplicates(KEY)[[*KEY, "true_person_id", "true_household_id"]]
    return World(errors, as_of, wh, *load_inputs(wh), truth, csv("truth_persons.csv"),
                 csv("truth_households.csv"))


def truth_frames(w: World) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The loaded events and their persons, as they really are: each event under its true
    person and household (:func:`cohort_frames`)."""
    events = w.events.drop(columns=["person_id", "family_id"]).merge(w.truth, on=KEY, how="left", validate="m:1")
    assert events["true_person_id"].notna().all(), "every loaded record is in truth.csv"
    return cohort_frames(events, w.persons, w.households)


def true_household_of_family(w: World) -> pd.Series:
    """Linked family_id -> the true household holding most of its persons."""
    records = w.events[[*KEY, "person_id", "family_id"]].merge(w.truth, on=KEY)
    return household_of_family(records, w.members, w.persons)
