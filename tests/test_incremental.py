"""A delta run rewrites only what changed, and what it leaves equals a full recompute.

A small generated area is delivered in parts (a baseline and monthly deltas) and linked after
each, on both backends. After every delivery the linked layer must hold exactly what a full
recompute from that run's persons gives: every person's best values (a delta recomputes only
the touched persons') and the households the rules form over all persons (a delta writes only
the rows that differ, :meth:`Warehouse.sync`).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from matching.households import build_households
from pipeline.generator import generate
from pipeline.generator.replay import deliveries, stage
from pipeline.ingest.load import ingest_landing
from pipeline.linkage.link import _best_person_values, household_evidence
from pipeline.runner import link
from pipeline.warehouse.engine import Warehouse


@pytest.fixture(scope="module")
def area(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("incremental") / "generated"
    generate(out, 120, 5, extracts=4, bad_files=False)
    return out


def _current(wh: Warehouse) -> pd.DataFrame:
    mentions = wh.read("select s.*, m.person_id from staging.person_mentions s "
                       "join linked.mention_person m on m.mention_id = s.mention_id order by s.mention_id")
    for col in ("dob", "seen_date"):
        mentions[col] = pd.to_datetime(mentions[col])
    return mentions


def _same_persons(wh: Warehouse, mentions: pd.DataFrame) -> None:
    stored = wh.read("select * from linked.persons order by person_id").reset_index(drop=True)
    expected = _best_person_values(mentions).reset_index(drop=True)
    for frame in (stored, expected):
        frame["date_of_birth"] = pd.to_datetime(frame["date_of_birth"])
        frame["n_mentions"] = frame["n_mentions"].astype(int)
    pd.testing.assert_frame_equal(stored[expected.columns], expected, check_dtype=False)


def _same_households(wh: Warehouse, mentions: pd.DataFrame, as_of: date) -> None:
    events = wh.read("select mention_id, event_type, event_date, end_date from staging.events")
    households = build_households(mentions, as_of, events=events, evidence=household_evidence())
    stored = wh.read("select person_id, family_id from linked.person_family")
    both = households.members.merge(stored, on="person_id", how="outer", indicator=True)
    assert (both["_merge"] == "both").all()
    assert (both.groupby("household_key")["family_id"].nunique() == 1).all()  # the same partition
    assert (both.groupby("family_id")["household_key"].nunique() == 1).all()
    families = wh.read("select family_id, n_members from linked.families").set_index("family_id")["n_members"]
    assert families.sort_index().astype(int).to_dict() == stored["family_id"].value_counts().sort_index().to_dict()
    edges = wh.read("select person_a, person_b, reason from linked.household_edges")
    key = ["person_a", "person_b", "reason"]
    assert sorted(map(tuple, edges[key].to_numpy())) == sorted(map(tuple, households.edges[key].to_numpy()))


def test_every_delta_leaves_what_a_full_recompute_gives(warehouse: Warehouse, area: Path, tmp_path: Path):
    modes = []
    for delivery in deliveries(area):
        stage(area, delivery, tmp_path / "landing")
        ingest_landing(warehouse, tmp_path / "landing", tmp_path / "quarantine")
        modes.append(link(warehouse, delivery.as_of)["mode"])
        mentions = _current(warehouse)
        _same_persons(warehouse, mentions)
        _same_households(warehouse, mentions, delivery.as_of)
    assert modes[0] == "full" and "incremental" in modes[1:]


@pytest.mark.parametrize("unique", [False, True])  # True: compared by a join on the primary key
def test_sync_writes_only_the_rows_that_differ(warehouse: Warehouse, unique: bool):
    table = "linked.person_family"
    before = pd.DataFrame({"person_id": ["P1", "P2", "P3"], "family_id": ["F1", "F1", "F2"],
                           "address": ["1 A St", None, "2 B St"], "postcode": ["AA1 1AA", None, "BB1 1BB"],
                           "located_on": pd.to_datetime(["2026-01-01", None, "2026-02-01"])})
    with warehouse.begin() as conn:
        assert warehouse.sync(conn, table, before, key=["person_id"], unique=unique) == 3
    after = before.drop(index=0).assign(family_id=["F1", "F3"])  # P1 gone, P3 moves, P2 as it was
    after = pd.concat([after, before.iloc[[0]].assign(person_id="P4")], ignore_index=True)
    with warehouse.begin() as conn:
        assert warehouse.sync(conn, table, before, key=["person_id"], unique=unique) == 0  # read back, nothing differs
        assert warehouse.sync(conn, table, after, key=["person_id"], unique=unique) == 3  # P1, P3, P4
    moved = after.assign(postcode=["CC1 1CC", "BB1 1BB", "AA1 1AA"])  # P2's postcode changes
    with warehouse.begin() as conn:  # ``within``: only these keys' rows are compared; P3 and P4 stay
        assert warehouse.sync(conn, table, moved.iloc[[0]], key=["person_id"],
                              within=pd.DataFrame({"person_id": ["P2", "P9"]}), unique=unique) == 1
    stored = warehouse.read(f"select * from {table} order by person_id")
    stored["located_on"] = pd.to_datetime(stored["located_on"])
    expected = pd.concat([moved.iloc[[0]], after.iloc[1:]]).sort_values("person_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(stored, expected, check_dtype=False)


def test_bulk_read_gives_what_read_gives(warehouse: Warehouse):
    """``read_bulk`` (PostgreSQL: COPY parsed by Arrow) returns the same values, types and nulls
    as ``read``: empty text stays empty, text that looks like a null, a boolean or a number stays
    text, and quotes, commas and line breaks survive."""
    rows = pd.DataFrame({
        "mention_id": ["a|1", "a|2", "a|3"], "agency": ["a", "a", "a"], "record_key": ["1", "2", "3"],
        "file_id": [1, 1, 2], "row_number": [1, 2, 3], "version": [10, 10, 20],
        "first_name": ["", None, 'O"NEIL, JO'], "last_name": ["NULL", "t", "line\nbreak"],
        "uprn": ["00123", None, "1e3"], "dob": pd.to_datetime(["2001-02-03", None, "1999-12-31"]),
        "tenancy_current": [True, None, False]})
    with warehouse.begin() as conn:
        warehouse.insert(conn, "staging.person_mentions", rows)
    sql = ("select mention_id, file_id, row_number, first_name, last_name, uprn, dob, tenancy_current "
           "from staging.person_mentions order by mention_id")
    expected, bulk = warehouse.read(sql), warehouse.read_bulk(sql)
    pd.testing.assert_frame_equal(bulk, expected, check_dtype=False)
    for column in expected.columns:
        assert list(map(type, bulk[column])) == list(map(type, expected[column])), column
    assert bulk["first_name"].tolist()[:2] == ["", None] and bulk["last_name"].tolist()[2] == "line\nbreak"
    empty = warehouse.read_bulk("select mention_id, dob from staging.person_mentions where file_id < 0")
    assert list(empty.columns) == ["mention_id", "dob"] and empty.empty


def test_insert_keeps_a_timestamps_time_and_a_dates_day(warehouse: Warehouse):
    """A bulk insert writes date-times to the microsecond: a ``timestamp`` column keeps the time
    (two runs of one day stay ordered by their start), a ``date`` column takes the day."""
    runs = pd.DataFrame({"run_id": ["r1", "r2"], "as_of": pd.to_datetime(["2026-01-31", "2026-01-31"]),
                         "mode": ["incremental"] * 2,
                         "started_at": pd.to_datetime(["2026-02-01 09:15:00.250000", "2026-02-01 17:45:30"],
                                                     format="ISO8601")})
    with warehouse.begin() as conn:
        warehouse.insert(conn, "linked.runs", runs)
    stored = warehouse.read("select run_id, as_of, started_at from linked.runs order by started_at desc")
    assert stored["run_id"].tolist() == ["r2", "r1"]
    assert pd.Timestamp(stored["started_at"].iloc[1]) == pd.Timestamp("2026-02-01 09:15:00.250000")
    assert str(stored["as_of"].iloc[0])[:10] == "2026-01-31"
