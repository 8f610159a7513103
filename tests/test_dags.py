"""The Airflow DAGs: they import cleanly, explain themselves, and really run (``dag.test()``).

All Airflow tests share one Airflow home (SQLite metadata, migrated once per session) and run
in one xdist worker (group ``airflow``). Airflow reads its configuration when first imported,
so this module imports it only inside fixtures, after :func:`airflow_env` has set it up.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from trust_data import as_login

from pipeline.ingest.agencies import agency_names, get_agency
from pipeline.ingest.load import find_files, ingest_landing
from pipeline.warehouse import schema
from pipeline.warehouse.engine import Warehouse

ROOT = Path(__file__).resolve().parents[1]
DAGS = ROOT / "dags"
LINK_DAG = "familyhub_link_and_cohort"
FRESHNESS_DAG = "familyhub_freshness"
INGEST_TASKS = {"wait_for_new_file", "gate_and_load", "update_staging_asset", "all_files_accepted"}

pytestmark = [pytest.mark.airflow, pytest.mark.xdist_group("airflow")]


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private Airflow home for the session, set before Airflow is first imported."""
    home = tmp_path_factory.mktemp("airflow-home")
    os.environ.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    })
    if "airflow.configuration" in sys.modules:
        from airflow.configuration import AIRFLOW_HOME

        if Path(AIRFLOW_HOME) != home:
            pytest.fail(f"Airflow was imported before the test set AIRFLOW_HOME (it uses {AIRFLOW_HOME})")
    return home


@pytest.fixture(scope="session")
def airflow_db(airflow_env: Path) -> Path:
    """The metadata database, migrated once (what ``airflow db migrate`` does)."""
    from airflow.utils.db import upgradedb

    upgradedb()
    return airflow_env


def _dagbag() -> Any:
    """Parse the DAG folder afresh (parse-time settings such as the pool follow the environment)."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


@pytest.fixture(scope="session")
def dagbag(airflow_env: Path) -> Any:
    return _dagbag()


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Point the tasks at a landing folder and a fresh DuckDB warehouse; returns the warehouse URL."""

    def setup(landing: Path) -> str:
        url = f"duckdb:///{tmp_path / 'familyhub.duckdb'}"
        monkeypatch.setenv("FAMILYHUB_LANDING", str(landing))
        monkeypatch.setenv("FAMILYHUB_QUARANTINE", str(tmp_path / "quarantine"))
        monkeypatch.setenv("FAMILYHUB_WAREHOUSE", url)
        wh = Warehouse.connect(url)
        wh.migrate()  # the deployment's one upgrade: tasks only check the revision
        wh.engine.dispose()
        return url

    return setup


@pytest.fixture(scope="module")
def one_file_landing(generated: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A landing folder holding each agency's smallest generated file: quick to load."""
    landing = tmp_path_factory.mktemp("landing-one-file")
    for agency in agency_names():
        smallest = min(find_files(generated / "landing", agency), key=lambda p: p.stat().st_size)
        (landing / agency).mkdir()
        shutil.copy2(smallest, landing / agency / smallest.name)
    return landing


def _states(run: Any) -> dict[tuple[str, str | None], str]:
    """Task states of a run by (task id, rendered map index: the file or programme)."""
    return {(ti.task_id, ti.rendered_map_index): str(ti.state) for ti in run.get_task_instances()}


def _asset_extras(uri: str, run_id: str) -> list[dict]:
    """Extras of the asset events a run emitted for ``uri`` (read with the ORM: tests may)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = (select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                 .where(AssetModel.uri == uri, AssetEvent.source_run_id == run_id))
        return [event.extra for event in session.scalars(query)]


# -- the DAG files -------------------------------------------------------------------------
def test_dagbag_holds_one_ingest_dag_per_agency_and_the_link_dag(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {f"familyhub_ingest_{a}" for a in agency_names()} | {LINK_DAG, FRESHNESS_DAG}


def test_every_dag_and_task_explains_itself_and_retries(dagbag: Any) -> None:
    for dag in dagbag.dags.values():
        assert "familyhub" in dag.tags and len(dag.tags) >= 2, dag.dag_id
        assert dag.owner == "familyhub-data-team", dag.dag_id
        assert dag.doc_md and len(dag.doc_md) > 200, dag.dag_id
        assert dag.catchup is False and dag.max_active_runs == 1 and dag.dagrun_timeout, dag.dag_id
        for t in dag.tasks:
            where = f"{dag.dag_id}.{t.task_id}"
            assert t.doc_md, where
            assert t.retries >= 1 and t.execution_timeout is not None, where
            assert t.owner == "familyhub-data-team", where


def test_ingest_dags_wait_load_and_update_their_own_asset(dagbag: Any) -> None:
    for agency in agency_names():
        dag = dagbag.dags[f"familyhub_ingest_{agency}"]
        assert {t.task_id for t in dag.tasks} == INGEST_TASKS
        assert agency in dag.tags
        sensor = dag.get_task("wait_for_new_file")
        assert sensor.mode == "reschedule" and sensor.soft_fail and sensor.timeout > 0
        assert [a.uri for a in dag.get_task("update_staging_asset").outlets] == [f"familyhub://staging/{agency}"]
        assert get_agency(agency).description in dag.doc_md
        for doc in (dag.doc_md, dag.get_task("gate_and_load").doc_md):  # where the Data Docs are
            assert "data_docs/index.html" in doc, agency


def test_link_dag_runs_on_any_agency_asset_or_daily(dagbag: Any) -> None:
    from airflow.sdk import AssetAny, AssetOrTimeSchedule

    dag = dagbag.dags[LINK_DAG]
    schedule = dag.timetable
    assert isinstance(schedule, AssetOrTimeSchedule) and isinstance(schedule.asset_condition, AssetAny)
    uris = {a.uri for a in schedule.asset_condition.objects}
    assert uris == {f"familyhub://staging/{a}" for a in agency_names()}
    assert schedule.timetable.expression == "0 6 * * *"
    assert dag.get_task("link").downstream_task_ids == {"raise_alerts", "evaluate_cohort", "linkage_monitoring"}
    assert dag.get_task("evaluate_cohort").downstream_task_ids == {"refresh_reporting"}
    assert [a.uri for a in dag.get_task("refresh_reporting").outlets] == ["familyhub://reporting/cohort"]


def test_warehouse_tasks_share_a_one_writer_pool_only_on_the_embedded_warehouse(
        airflow_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writers = {"wait_for_new_file", "gate_and_load", "link", "evaluate_cohort", "refresh_reporting",
               "raise_alerts"}
    for url, pool in (("duckdb:///familyhub.duckdb", "familyhub_warehouse"),
                      ("postgresql+psycopg://familyhub@db/familyhub", "default_pool")):
        monkeypatch.setenv("FAMILYHUB_WAREHOUSE", url)
        bag = _dagbag()
        pools = {t.pool for d in bag.dags.values() for t in d.tasks if t.task_id in writers}
        assert pools == {pool}, url


# -- the task helpers ------------------------------------------------------------------------
def test_pending_files_are_those_the_ledger_has_not_seen(airflow_env: Path, one_file_landing: Path,
                                                          use: Any) -> None:
    from pipeline.airflow import tasks as orch

    use(one_file_landing)
    (police,) = find_files(one_file_landing, "police")
    assert orch.pending_files("police") == [str(police)]
    outcome = orch.gate_and_load("police", str(police))
    assert outcome["status"] == "loaded" and outcome["rows_loaded"] > 0
    assert orch.pending_files("police") == []
    assert orch.pending_files("yot") == [str(p) for p in find_files(one_file_landing, "yot")]


def test_the_sensor_hashes_only_changed_files_and_archived_files_leave_it(
        airflow_env: Path, one_file_landing: Path, tmp_path: Path, use: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.airflow import tasks as orch

    landing = tmp_path / "landing"
    shutil.copytree(one_file_landing, landing)
    use(landing)
    (police,) = find_files(landing, "police")
    orch.gate_and_load("police", str(police))
    hashed: list[Path] = []
    monkeypatch.setattr(orch, "sha256_of", lambda p: hashed.append(p) or "not in the ledger")
    assert orch.pending_files("police") == [] and hashed == []  # same name, size and mtime: not read
    os.utime(police, ns=(police.stat().st_atime_ns, police.stat().st_mtime_ns + 10**9))
    assert orch.pending_files("police") == [str(police)] and hashed == [police]
    monkeypatch.setenv("FAMILYHUB_ARCHIVE", "1")
    (yot,) = find_files(landing, "yot")
    assert orch.gate_and_load("yot", str(yot))["status"] == "loaded"
    assert not yot.exists() and find_files(landing, "yot") == [] and orch.pending_files("yot") == []
    assert len(list((landing / "yot" / "processed").glob("*/" + yot.name))) == 1


def test_refused_file_fails_again_on_retry_and_loads_when_correctly_named(airflow_env: Path, one_file_landing: Path,
                                                                         tmp_path: Path, use: Any) -> None:
    from pipeline.airflow import tasks as orch

    landing = tmp_path / "landing"
    shutil.copytree(one_file_landing, landing)
    use(landing)
    (good,) = find_files(landing, "police")
    misnamed = landing / "police" / "police_2026-10-03.csv"  # an ISO date: does not fit the schedule
    shutil.copy2(good, misnamed)
    for _ in range(2):  # the task's first try, then a retry
        with pytest.raises(orch.FileRefused, match="does not fit the schedule") as refused:
            orch.gate_and_load("police", str(misnamed))
        assert refused.value.outcome.file_name == misnamed.name
        assert Path(refused.value.outcome.report_path).exists()
    assert orch.pending_files("police") == [str(good)]  # the same bytes, named as the schedule says
    assert orch.gate_and_load("police", str(good))["status"] == "loaded"
    assert orch.pending_files("police") == []


def test_an_unsafe_path_stays_pending_unread_and_is_refused(airflow_env: Path, one_file_landing: Path,
                                                            tmp_path: Path, use: Any) -> None:
    from pipeline.airflow import tasks as orch

    landing = tmp_path / "landing"
    shutil.copytree(one_file_landing, landing)
    use(landing)
    (loaded,) = find_files(landing, "yot")
    orch.gate_and_load("yot", str(loaded))
    link = landing / "yot" / "yot_20261101.csv"
    link.symlink_to(loaded)  # hashed, it would look already loaded: it must not be followed
    assert orch.pending_files("yot") == [str(link)]
    with pytest.raises(orch.FileRefused, match=r"symbolic link.*remove it from the landing folder"):
        orch.gate_and_load("yot", str(link))


def test_staging_update_needs_a_loaded_file_and_as_of_follows_the_run(airflow_env: Path) -> None:
    from pipeline.airflow import tasks as orch

    loaded = {"status": "loaded", "file_name": "yot_20260101.csv", "rows_loaded": 3, "rows_held": 1}
    assert orch.staging_update("yot", [loaded, {**loaded, "status": "duplicate"}]) == {
        "agency": "yot", "files": ["yot_20260101.csv"], "rows_loaded": 3, "rows_held": 1}
    with pytest.raises(orch.NothingLoaded):
        orch.staging_update("yot", [{**loaded, "status": "duplicate"}])
    assert orch.as_of_date(None, datetime(2026, 3, 4, 6)) == "2026-03-04"
    assert orch.as_of_date("2025-12-31", datetime(2026, 3, 4, 6)) == "2025-12-31"


def test_the_first_programme_listed_is_the_active_one(airflow_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.airflow import tasks as orch

    monkeypatch.delenv("FAMILYHUB_ACTIVE_PROGRAMMES", raising=False)
    monkeypatch.setenv("FAMILYHUB_PROGRAMMES", str(airflow_env / "no-local-programmes"))
    assert orch.programmes_to_evaluate() == [{"programme": "tf2015", "active": True},
                                             {"programme": "sf2022", "active": False},
                                             {"programme": "tf2012", "active": False}]
    monkeypatch.setenv("FAMILYHUB_ACTIVE_PROGRAMMES", "tf2012, tf2015")
    assert orch.programmes_to_evaluate() == [{"programme": "tf2012", "active": True},
                                             {"programme": "tf2015", "active": False}]


# -- running the DAGs ----------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("agency", agency_names())
def test_ingest_dag_loads_its_file(agency: str, dagbag: Any, airflow_db: Path, one_file_landing: Path,
                                   use: Any) -> None:
    url = use(one_file_landing)
    (path,) = find_files(one_file_landing, agency)
    run = dagbag.dags[f"familyhub_ingest_{agency}"].test()
    assert _states(run) == {("wait_for_new_file", None): "success", ("gate_and_load", path.name): "success",
                            ("update_staging_asset", None): "success", ("all_files_accepted", None): "success"}
    assert str(run.state) == "success"
    wh = Warehouse.connect(url)
    try:
        ledger = wh.read("select file_name, status, rows_loaded from ops.files")
        loaded = wh.scalar("select count(*) from staging.person_mentions where agency = :a", {"a": agency})
    finally:
        wh.engine.dispose()
    assert ledger[["file_name", "status"]].values.tolist() == [[path.name, "loaded"]]
    assert loaded == int(ledger.rows_loaded[0]) > 0
    (extra,) = _asset_extras(f"familyhub://staging/{agency}", run.run_id)
    assert extra["files"] == [path.name] and extra["rows_loaded"] == loaded


def _bad_file(generated: Path, reason: str) -> tuple[str, Path]:
    """A generated file the hub must refuse, by its refusal reason in the manifest."""
    files = json.loads((generated / "manifest.json").read_text())["files"]
    entry = next(f for f in files if f["kind"] == "bad" and f["refusal"]["reason"] == reason)
    return entry["agency"], generated / entry["path"]


@pytest.mark.slow
@pytest.mark.postgres
def test_dags_run_as_the_loader_on_a_postgres_warehouse(dagbag: Any, airflow_db: Path, one_file_landing: Path,
                                                        use: Any, pg_url: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The deployment: the schema upgraded and granted once, then every ingest DAG and the link
    DAG run as the loader login, a plain member of familyhub_loader (no DDL, no BYPASSRLS)."""
    from pipeline.governance import access

    use(one_file_landing)
    wh = Warehouse.connect(pg_url)
    wh.migrate()
    access.grant_roles(wh)
    access.add_user(wh, "fh_test_pipeline", "loader")
    monkeypatch.setenv("FAMILYHUB_WAREHOUSE", as_login(pg_url, "fh_test_pipeline"))
    try:
        for agency in ("police", "health"):
            run = dagbag.dags[f"familyhub_ingest_{agency}"].test()
            assert str(run.state) == "success", (agency, _states(run))
        run = dagbag.dags[LINK_DAG].test(run_conf={"as_of": "2026-11-01"})
        assert str(run.state) == "success", _states(run)
        assert wh.scalar("select count(*) from ops.files where status = 'loaded'") == 2
        assert wh.scalar("select count(*) from cohort.results") > 0
        assert wh.scalar("select count(*) from reporting.family_view") > 0
    finally:
        wh.engine.dispose()


def test_tasks_refuse_a_warehouse_behind_this_release(airflow_env: Path, one_file_landing: Path, use: Any,
                                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.airflow import tasks as orch

    use(one_file_landing)
    monkeypatch.setenv("FAMILYHUB_WAREHOUSE", f"duckdb:///{tmp_path / 'never-upgraded.duckdb'}")
    with pytest.raises(AirflowFailException, match=rf"this release needs {schema.head()}: run `familyhub db upgrade`"):
        orch.pending_files("police")


@pytest.mark.slow
def test_a_bad_file_fails_its_own_dag_on_a_named_task_and_no_other(
        dagbag: Any, airflow_db: Path, one_file_landing: Path, generated: Path, tmp_path: Path,
        use: Any) -> None:
    agency, bad = _bad_file(generated, "missing_column")
    other = next(a for a in agency_names() if a != agency)
    landing = tmp_path / "landing"
    shutil.copytree(one_file_landing, landing)
    shutil.copy2(bad, landing / agency / bad.name)
    (good,) = find_files(one_file_landing, agency)
    use(landing)

    run = dagbag.dags[f"familyhub_ingest_{agency}"].test()
    states = _states(run)
    assert str(run.state) == "failed"
    assert states[("gate_and_load", bad.name)] == "failed"
    assert states[("all_files_accepted", None)] == "upstream_failed"
    assert states[("gate_and_load", good.name)] == "success"
    assert states[("update_staging_asset", None)] == "success"  # the good file is still published
    assert _asset_extras(f"familyhub://staging/{agency}", run.run_id)[0]["files"] == [good.name]
    (report,) = (tmp_path / "quarantine" / agency).glob(f"*__{bad.name}.report.md")
    assert "missing" in report.read_text()

    assert str(dagbag.dags[f"familyhub_ingest_{other}"].test().state) == "success"


@pytest.mark.slow
def test_link_and_cohort_dag_fills_the_cohort(dagbag: Any, airflow_db: Path, generated: Path,
                                              tmp_path: Path, use: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    url = use(generated / "landing")
    monkeypatch.delenv("FAMILYHUB_ACTIVE_PROGRAMMES", raising=False)  # every configured programme
    monkeypatch.delenv("FAMILYHUB_PROGRAMMES", raising=False)
    wh = Warehouse.connect(url)
    wh.migrate()
    ingest_landing(wh, generated / "landing", tmp_path / "quarantine")
    wh.engine.dispose()

    run = dagbag.dags[LINK_DAG].test(run_conf={"as_of": "2026-11-01"})
    states = _states(run)
    assert str(run.state) == "success", states
    assert set(states.values()) == {"success"}
    assert {index for task, index in states if task == "evaluate_cohort"} == {"tf2015", "tf2012", "sf2022"}
    wh = Warehouse.connect(url)
    try:
        cohort = wh.read("select programme, as_of from reporting.cohort")
        active = wh.read("select programme, as_of from cohort.active")
    finally:
        wh.engine.dispose()
    assert len(cohort) > 0 and set(cohort.programme) == {"tf2015", "tf2012", "sf2022"}
    assert set(pd.to_datetime(cohort.as_of)) == {pd.Timestamp("2026-11-01")}
    assert active.programme.tolist() == ["tf2015"]
    assert pd.to_datetime(active.as_of).tolist() == [pd.Timestamp("2026-11-01")]


def test_monitoring_checks_fail_on_a_flagged_delivery_or_an_overdue_extract(airflow_env: Path) -> None:
    from pipeline.airflow import tasks as orch

    assert orch.match_rates_as_usual({"run_id": "r", "match_rate_flags": [], "drift": []})["run_id"] == "r"
    with pytest.raises(orch.CheckFailed, match=r"police delivery police_20261101\.csv: dob agrees"):
        orch.match_rates_as_usual({"match_rate_flags": ["police delivery police_20261101.csv: dob agrees ..."]})
    assert orch.extracts_on_time({"overdue": []}) == []
    with pytest.raises(orch.CheckFailed, match="overdue extracts: police, yot"):
        orch.extracts_on_time({"overdue": ["police", "yot"]})


@pytest.mark.slow
def test_freshness_dag_flags_overdue_extracts(dagbag: Any, airflow_db: Path, one_file_landing: Path,
                                              use: Any) -> None:
    """Every agency's one file is loaded; judged a year later, every extract is overdue: the check
    task fails and names them (no SMTP here: the notices wait, the run still tells)."""
    from pipeline.airflow import tasks as orch

    use(one_file_landing)
    for agency in agency_names():
        (path,) = find_files(one_file_landing, agency)
        orch.gate_and_load(agency, str(path))
    dag = dagbag.dags[FRESHNESS_DAG]
    assert dag.get_task("check_freshness").downstream_task_ids == {"extracts_on_time"}
    run = dag.test(run_conf={"as_of": "2027-12-01"})
    states = _states(run)
    assert states[("check_freshness", None)] == "success" and states[("extracts_on_time", None)] == "failed"
    assert str(run.state) == "failed"
    result = orch.check_freshness("2027-12-01")
    assert sorted(result["overdue"]) == sorted(agency_names()) and result["waiting"] == 0  # no data team set
