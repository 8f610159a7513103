"""Cohort precision and recall against the truth (issue 5): on a generated set with a few dozen
eligible families, the cohort the hub finds (ingest → link → households → rules) is compared with
the same programme's rules applied to the true households.

Method, chosen so that only the hub's own errors count:

* Truth frames. The events are the very rows the hub evaluated (``load_inputs``), each given
  its true person and household through truth.csv's (agency, record_key). The members are the
  true persons with at least one loaded record, with their true date of birth
  (truth_persons.csv) and their household's postcode on the as-of date
  (truth_households.csv). A person no agency ever sent cannot be found by any linkage, so
  counting them would measure the generator rather than the hub.
* Matching families. Each linked person stands for the true person holding most of its
  records; each linked family for the true household holding most of its persons.
* Scores. A truly eligible household is found when a predicted eligible family stands for
  it. Recall = found / truly eligible households. Precision = predicted eligible families
  that stand for a distinct truly eligible household / predicted eligible families (a
  household split into two eligible families counts once; the other is a false positive).

The scoring is ``benchmarks/cohort_truth.py``'s (``benchmarks/cohort_errors.py`` lists why each
extra family is there). The figures are reported as a warning (visible in any pytest run) and as junit properties.
Reproduce with ``.venv/bin/pytest tests/test_cohort_truth.py -q``; other generated sets with
``COHORT_TRUTH_SEED=11 .venv/bin/pytest tests/test_cohort_truth.py -q`` (seed 7 is the one
the rules and the linkage were tuned on).
"""

from __future__ import annotations

import json
import os
import warnings
from datetime import date

import pandas as pd
import pytest

from benchmarks.cohort_truth import (
    KEY,
    World,
    score,
    true_household_of_family,
    truth_frames,
    truth_world,
)
from pipeline.programme.cohort import evaluate, load_programme
from pipeline.programme.cohort.frames import prepare_events, prepare_members
from pipeline.programme.cohort.rules import Context, condition_hits
from pipeline.runner import run_all
from pipeline.warehouse.engine import Warehouse

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cohort-truth")]

HOUSEHOLDS, SEED = 2000, int(os.environ.get("COHORT_TRUTH_SEED", "7"))
PROGRAMMES = ("tf2015", "tf2012", "sf2022")
# Precision and recall each programme must reach on each errors preset of the generator. On clean
# data ("none") sf2022 holds issue 16's figures. With every error kind on (the default) these are
# regression guards at seed 7 (measured: tf2015 1.000 / 0.990, sf2022 1.000 / 1.000; before the
# co_resident and postcode-bridge rules of README "Households" sf2022 had one extra family of 33);
# the issues' targets are judged pooled over held-out seeds (README).
TARGETS = {
    "none": {"tf2015": (0.98, 0.98), "tf2012": (0.98, 0.98), "sf2022": (0.995, 0.99)},
    "hostile": {"tf2015": (0.98, 0.98), "tf2012": (0.98, 0.98), "sf2022": (0.95, 0.99)},
}


@pytest.fixture(scope="module", params=sorted(TARGETS))
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> World:
    from pipeline.generator import generate

    out = tmp_path_factory.mktemp("cohort-truth")
    generate(out, households=HOUSEHOLDS, seed=SEED, errors=request.param)
    as_of = date.fromisoformat(json.loads((out / "manifest.json").read_text())["as_of"])
    wh = Warehouse.connect(f"duckdb:///{out / 'wh.duckdb'}")
    wh.migrate()
    run_all(wh, out / "landing", out / "quarantine", as_of, list(PROGRAMMES))
    return truth_world(out, wh, request.param, as_of)


def explain(w: World, household: str, true_cohort: pd.DataFrame, predicted: pd.DataFrame) -> str:
    """A missed household: its true criteria, and the linked families its records went to."""
    records = w.events[[*KEY, "person_id", "family_id"]].merge(w.truth[w.truth["true_household_id"] == household],
                                                                on=KEY)
    fams = predicted.set_index("family_id").reindex(records["family_id"].unique())
    members = w.persons.loc[w.persons["true_household_id"] == household, "true_person_id"]
    unseen = sorted(set(members) - set(records["true_person_id"]))
    return (f"{household} (true criteria {true_cohort.set_index('family_id').at[household, 'criteria']}; "
            f"persons without any record: {unseen or 'none'}) -> "
            + "; ".join(f"{f} [{r.criteria or 'no criteria'}{', ' + r.exclusion if r.exclusion else ''}]"
                        for f, r in fams.iterrows()))


@pytest.mark.parametrize("programme", PROGRAMMES)
def test_cohort_precision_and_recall_against_the_true_households(
    world: World, programme: str, record_property: pytest.RecordProperty
) -> None:
    prog = load_programme(programme)
    predicted = evaluate(prog, world.events, world.members, world.as_of, world.referrals).cohort
    stored = world.wh.read("select family_id, eligible from reporting.cohort where programme = :p",
                           {"p": programme})
    assert set(stored.loc[stored["eligible"].astype(bool), "family_id"]) == set(
        predicted.loc[predicted["eligible"], "family_id"]), "the warehouse holds the same evaluation"
    true = evaluate(prog, *truth_frames(world), world.as_of).cohort
    s = score(predicted, true, true_household_of_family(world))

    figures = (f"cohort {programme} on {HOUSEHOLDS} generated households (seed {SEED}, errors {world.errors}): "
               f"precision {s.precision:.3f}, recall {s.recall:.3f} "
               f"({s.predicted} predicted eligible, {s.true} truly eligible)")
    record_property(f"{programme}_{world.errors}_precision", round(float(s.precision), 4))
    record_property(f"{programme}_{world.errors}_recall", round(float(s.recall), 4))
    warnings.warn(figures, stacklevel=1)
    if programme == PROGRAMMES[0]:
        assert s.true >= 24, "a few dozen truly eligible families, or the figures mean little"
    details = "\n  missed: ".join(["", *(explain(world, h, true, predicted) for h in s.missed[:10])])
    precision, recall = TARGETS[world.errors][programme]
    assert s.precision >= precision and s.recall >= recall, f"{figures}; extra: {s.extra[:10]}{details}"


def test_generated_data_exercises_every_sf2022_rule(world: World) -> None:
    """Every data-driven condition of every sf2022 headline is met by some true household."""
    programme = load_programme("sf2022")
    events, members = truth_frames(world)
    as_of = pd.Timestamp(world.as_of)
    ev = prepare_events(events, prepare_members(members, as_of))
    ctx = Context.of(programme, as_of)
    unmet = [f"{code} condition {i + 1}"
             for code, criterion in programme.criteria.items()
             for i, condition in enumerate(criterion.any_of)
             if condition_hits(condition, ev, ctx).empty]
    assert unmet == []
