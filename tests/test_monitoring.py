"""Linkage monitoring: run drift against the previous run of the same mode, and each delivery's
match rate and field agreement against its agency's history."""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from pipeline.ingest.agencies import agency_names, get_agency
from pipeline.ingest.load import find_files, ingest_landing
from pipeline.linkage.link import link
from pipeline.linkage.monitoring import MIN_HISTORY, drift, flagged_deliveries, record_match_rates
from pipeline.warehouse.engine import Warehouse

AGENCY, DOB = "police", "DOB"
AS_OF = date(2026, 11, 20)


@pytest.fixture(scope="module")
def deliveries(generated: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[pd.DataFrame]]:
    """Every generated file but the police ones, and the police backfill split into five deliveries:
    three for the history, then two of records whose date of birth has day ≤ 12 (swapped, it is
    still a real date, so the gate lets it through)."""
    landing = tmp_path_factory.mktemp("monitoring") / "landing"
    for agency in agency_names():
        (landing / agency).mkdir(parents=True)
        if agency != AGENCY:
            for path in find_files(generated / "landing", agency):
                shutil.copy2(path, landing / agency / path.name)
    declared = get_agency(AGENCY)
    rows = pd.read_csv(find_files(generated / "landing", AGENCY)[0], dtype=str, keep_default_na=False)
    dob = pd.to_datetime(rows[DOB], format=declared.column(DOB).format, errors="coerce")
    swappable = dob.notna() & (dob.dt.day <= 12) & (dob.dt.day != dob.dt.month)
    late = rows[swappable].sample(frac=1, random_state=1)
    early = rows[~swappable]
    half = len(late) // 2
    return landing, [early.iloc[i::3] for i in range(3)] + [late.iloc[:half], late.iloc[half:]]


def deliver(landing: Path, rows: pd.DataFrame, n: int) -> None:
    day = AS_OF - timedelta(days=10 - n)
    rows.to_csv(landing / AGENCY / f"{AGENCY}_{day:%Y%m%d}.csv", index=False)


def swap_day_and_month(rows: pd.DataFrame) -> pd.DataFrame:
    fmt = get_agency(AGENCY).column(DOB).format
    dob = pd.to_datetime(rows[DOB], format=fmt)
    swapped = pd.to_datetime(pd.DataFrame({"year": dob.dt.year, "month": dob.dt.day, "day": dob.dt.month}))
    return rows.assign(**{DOB: swapped.dt.strftime(fmt)})


def test_a_delivery_with_day_and_month_swapped_is_flagged_an_ordinary_one_is_not(
        deliveries: tuple[Path, list[pd.DataFrame]], tmp_path: Path) -> None:
    landing, parts = deliveries
    wh = Warehouse.connect(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    wh.migrate()
    for n in range(3):
        deliver(landing, parts[n], n)
    ingest_landing(wh, landing, tmp_path / "quarantine")
    assert link(wh, AS_OF)["match_rate_flags"] == []

    deliver(landing, parts[3], 3)  # an ordinary delta
    ingest_landing(wh, landing, tmp_path / "quarantine")
    ordinary = link(wh, AS_OF)
    assert ordinary["mode"] == "incremental" and ordinary["match_rate_flags"] == []

    deliver(landing, swap_day_and_month(parts[4]), 4)
    outcomes = ingest_landing(wh, landing, tmp_path / "quarantine")
    assert [o.status for o in outcomes if o.status != "duplicate"] == ["loaded"]  # the gate cannot tell
    swapped = link(wh, AS_OF)
    (flag,) = swapped["match_rate_flags"]
    assert f"{AGENCY}_{AS_OF - timedelta(days=6):%Y%m%d}.csv" in flag and "dob agrees exactly in 0%" in flag

    rates = wh.read("select r.*, f.file_name from linked.delivery_match_rates r join ops.files f using (file_id) "
                    "where r.agency = :a order by r.file_id", {"a": AGENCY})
    assert rates["flagged"].tolist() == [False] * 4 + [True]
    assert json.loads(rates["agreement_json"].iloc[3])["dob"] > 0.9 > json.loads(rates["agreement_json"].iloc[4])["dob"]
    assert flagged_deliveries(wh)["file_name"].tolist() == [rates["file_name"].iloc[4]]
    runs = wh.read("select mode, stats_json, warnings from linked.runs order by started_at")
    assert runs["mode"].tolist() == ["full", "incremental", "incremental"]
    assert all(json.loads(s)["run"]["share_unlinked"] >= 0 for s in runs["stats_json"])  # every run's statistics
    assert flag in runs["warnings"].iloc[2]
    wh.engine.dispose()


def _run(wh: Warehouse, run_id: str, mode: str, when: datetime, run: dict, new: int | None = None) -> None:
    stats = {"run": {"mentions": 10, **run}}
    with wh.begin() as conn:
        wh.insert(conn, "linked.runs", pd.DataFrame([{"run_id": run_id, "as_of": date(2026, 11, 1), "mode": mode,
                                                      "started_at": when, "n_new_mentions": new,
                                                      "stats_json": json.dumps(stats)}]))


def test_drift_compares_with_the_previous_run_of_the_same_mode(warehouse: Warehouse) -> None:
    """A full run and a delta are not alike: each is compared with its own kind; counts are not
    compared (they follow the size of the delivery), rates are."""
    _run(warehouse, "a", "full", datetime(2026, 11, 1), {"share_unlinked": 0.30, "accepted_links_per_profile": 0.5})
    _run(warehouse, "b", "incremental", datetime(2026, 11, 2), {"share_unlinked": 0.80})
    now = {"share_unlinked": 0.78, "mentions": 1000, "accepted_links_per_profile": 0.5}
    assert drift(warehouse, "incremental", now, 10) == []
    (warning,) = drift(warehouse, "full", now, 1000)
    assert warning.startswith("full run vs the previous full run: share_unlinked moved from 0.3 to 0.78")
    assert drift(warehouse, "unchanged", now, 0) == []  # nothing to compare with


def test_a_delta_is_judged_against_the_latest_delta_per_new_record(warehouse: Warehouse) -> None:
    """Runs of one day, as PostgreSQL's bulk load dates them: the reference is the latest delta,
    not the day's first; and a delta's links count per new record (per profile of the whole
    warehouse they grow with the delivery), so a bigger ordinary month is not drift."""
    day = datetime(2026, 11, 1)
    _run(warehouse, "20261101T080000000000", "full", day, {"profiles": 1000, "accepted_links_per_profile": 0.4})
    _run(warehouse, "20261101T090000000000", "incremental", day,
         {"profiles": 1000, "accepted_links_per_profile": 0.05, "share_unlinked": 0.2}, new=100)  # 0.5 per new
    _run(warehouse, "20261101T100000000000", "incremental", day,
         {"profiles": 1100, "accepted_links_per_profile": 0.20, "share_unlinked": 0.2}, new=200)  # 1.1 per new
    ordinary = {"profiles": 1400, "accepted_links_per_profile": 0.35, "share_unlinked": 0.2}  # 490 links
    assert drift(warehouse, "incremental", ordinary, 420) == []  # 1.17 per new record
    (warning,) = drift(warehouse, "incremental", ordinary | {"accepted_links_per_profile": 0.02}, 420)
    assert "accepted_links_per_new_record moved from 1.1 to 0.06667" in warning


def test_the_rule_needs_history_and_ignores_flagged_deliveries(warehouse: Warehouse) -> None:
    """Too little history never flags; a flagged delivery does not join the history it failed."""
    base = {"agency": "yot", "n_new": 50, "n_links": 0, "agreement": None}
    rates = pd.DataFrame([{**base, "file_id": i, "n_matched": m, "match_rate": m / 50}
                          for i, m in enumerate([30, 32, 31, 5, 6, 31], start=1)])
    with warehouse.begin() as conn:
        first = record_match_rates(warehouse, conn, rates.iloc[:MIN_HISTORY - 1].assign(match_rate=0.1), "r0")
        assert first == []  # below the minimum history nothing is flagged, however low
        warehouse.execute(conn, "delete from linked.delivery_match_rates")
        warnings = record_match_rates(warehouse, conn, rates, "r1")
    assert [w.split(":")[0] for w in warnings] == ["yot delivery 4", "yot delivery 5"]
    stored = warehouse.read("select file_id, flagged, n_history from linked.delivery_match_rates order by file_id")
    assert stored["flagged"].tolist() == [False, False, False, True, True, False]
    assert stored["n_history"].tolist() == [0, 1, 2, 3, 3, 3]


def test_an_ordinary_delta_after_an_ordinary_delta_does_not_drift_a_perturbed_one_does(
        generated: Path, tmp_path: Path) -> None:
    """Real runs: the health backfill's events shuffled into a baseline (with the other agencies')
    and three deltas of one size; the second ordinary delta is judged against the first and passes; a delta whose
    identifying details are scrambled (nobody's name, date of birth or NHS number) links to
    almost nobody, and is flagged as drift."""
    landing = tmp_path / "landing"
    for agency in agency_names():
        (landing / agency).mkdir(parents=True)
        if agency != "health":
            shutil.copy2(find_files(generated / "landing", agency)[0], landing / agency)
    health = find_files(generated / "landing", "health")[0]
    rows = pd.read_csv(health, sep="|", dtype=str, keep_default_na=False).sample(frac=1, random_state=3)
    size = len(rows) // 6
    parts = [rows.iloc[:3 * size], rows.iloc[3 * size:4 * size], rows.iloc[4 * size:5 * size], rows.iloc[5 * size:]]
    scrambled = parts[3].assign(**{c: parts[3][c].sample(frac=1, random_state=4).to_numpy()
                                   for c in ("FamilyName", "BirthDate", "NHSNumber")})
    wh = Warehouse.connect(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    wh.migrate()
    runs = []
    for n, part in enumerate([*parts[:3], scrambled]):
        part.to_csv(landing / "health" / f"health_{AS_OF - timedelta(days=10 - n):%Y%m%d}.txt", sep="|", index=False)
        ingest_landing(wh, landing, tmp_path / "quarantine")
        runs.append(link(wh, AS_OF))
    assert [r["mode"] for r in runs] == ["full"] + ["incremental"] * 3
    assert runs[1]["drift"] == runs[2]["drift"] == []
    assert any("accepted_links_per_new_record moved" in w for w in runs[3]["drift"])
    wh.engine.dispose()
