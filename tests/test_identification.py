"""The cohort stage reads only the events an evaluation can count (its horizon): the results and
evidence are those of an evaluation over every event, on both backends and every shipped programme."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from pipeline.ingest.load import ingest_landing
from pipeline.linkage.link import link
from pipeline.programme.cohort import event_horizon, load_programme
from pipeline.programme.identification import evaluate_cohort, load_inputs
from pipeline.warehouse.engine import Warehouse

LINKED_ON = date(2026, 11, 1)  # the generated data's as-of date
_PERSONS = "select person_id from linked.person_family where family_id = :f"


@pytest.fixture
def linked(warehouse: Warehouse, generated: Path, tmp_path: Path) -> Warehouse:
    """The generated area linked, its school terms dated by their codes only, one benefit claim
    dated by a term code in full-width digits (the engine reads any script's digits), and the
    first family's events ended years ago."""
    shutil.copytree(generated / "landing", tmp_path / "landing")
    ingest_landing(warehouse, tmp_path / "landing", tmp_path / "quarantine")
    link(warehouse, LINKED_ON)
    with warehouse.begin() as conn:
        warehouse.execute(conn, "update staging.events set event_date = null, start_date = null, end_date = null "
                                "where term is not null")
        warehouse.execute(conn, "update staging.events set event_date = null, start_date = null, end_date = null, "
                                "term = '\uff12\uff10\uff12\uff16-AUT' where mention_id = "
                                "(select min(mention_id) from staging.events where agency = 'dwp')")
        warehouse.execute(conn, "update staging.events set event_date = date '2015-01-05', start_date = date "
                                "'2015-01-05', end_date = date '2015-02-05', asb_complaint_date = null, term = null "
                                "where mention_id in (select mention_id from linked.mention_person "
                                f"where person_id in ({_PERSONS}))", {"f": _first_family(warehouse)})
    return warehouse


def _first_family(wh: Warehouse) -> str:
    return wh.read("select min(family_id) as f from linked.person_family")["f"].iloc[0]


def _same(wh: Warehouse, programme: str, as_of: date, every: tuple) -> pd.DataFrame:
    read = evaluate_cohort(wh, programme, as_of)
    full = evaluate_cohort(wh, programme, as_of, inputs=every)
    pd.testing.assert_frame_equal(read.cohort, full.cohort)
    pd.testing.assert_frame_equal(read.evidence, full.evidence)
    return read.cohort


@pytest.mark.parametrize("programme", ["tf2015", "tf2012", "sf2022"])
def test_reading_from_the_horizon_evaluates_as_every_event_does(linked: Warehouse, programme: str):
    every = load_inputs(linked, keys=False)
    for as_of in (date(2025, 6, 1), date(2026, 2, 15), LINKED_ON, date(2027, 9, 1)):
        horizon = event_horizon(load_programme(programme), as_of)
        assert len(load_inputs(linked, keys=False, horizon=horizon)[0]) < len(every[0])
        _same(linked, programme, as_of, every)

    # a family whose persons are missing from linked.persons (no members) has a row through its old events
    family = _first_family(linked)
    with linked.begin() as conn:
        linked.execute(conn, f"delete from linked.persons where person_id in ({_PERSONS})", {"f": family})
    assert family in set(_same(linked, programme, LINKED_ON, load_inputs(linked, keys=False))["family_id"])
