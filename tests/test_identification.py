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


@pytest.fixture
def linked(warehouse: Warehouse, generated: Path, tmp_path: Path) -> Warehouse:
    """The generated area linked, with one family known only from old events (its persons are
    missing from linked.persons, so it has no members, and its events ended years ago), and
    school terms dated by their codes only."""
    shutil.copytree(generated / "landing", tmp_path / "landing")
    ingest_landing(warehouse, tmp_path / "landing", tmp_path / "quarantine")
    link(warehouse, LINKED_ON)
    with warehouse.begin() as conn:
        family = warehouse.read("select min(family_id) as f from linked.person_family", conn=conn)["f"].iloc[0]
        persons = "select person_id from linked.person_family where family_id = :f"
        warehouse.execute(conn, f"delete from linked.persons where person_id in ({persons})", {"f": family})
        warehouse.execute(conn, "update staging.events set event_date = date '2015-01-05', start_date = date "
                                "'2015-01-05', end_date = date '2015-02-05', asb_complaint_date = null, term = null "
                                "where mention_id in (select mention_id from linked.mention_person "
                                f"where person_id in ({persons}))", {"f": family})
        warehouse.execute(conn, "update staging.events set event_date = null, start_date = null, end_date = null "
                                "where term is not null")
    return warehouse


@pytest.mark.parametrize("programme", ["tf2015", "tf2012", "sf2022"])
def test_reading_from_the_horizon_evaluates_as_every_event_does(linked: Warehouse, programme: str):
    every = load_inputs(linked, keys=False)
    orphan = linked.read("select min(family_id) as f from linked.person_family")["f"].iloc[0]
    for as_of in (date(2025, 6, 1), date(2026, 2, 15), LINKED_ON, date(2027, 9, 1)):
        horizon = event_horizon(load_programme(programme), as_of)
        assert len(load_inputs(linked, keys=False, horizon=horizon)[0]) < len(every[0])
        read = evaluate_cohort(linked, programme, as_of)
        full = evaluate_cohort(linked, programme, as_of, inputs=every)
        pd.testing.assert_frame_equal(read.cohort, full.cohort)
        pd.testing.assert_frame_equal(read.evidence, full.evidence)
        assert orphan in set(read.cohort["family_id"])
