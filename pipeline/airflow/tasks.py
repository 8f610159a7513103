"""Task-level helpers for the Airflow DAGs: every DAG task is one call into this module.

The DAG files in ``dags/`` only wire tasks together; what a task does lives here, on top of
the same library the CLI uses. Settings come from the environment, read when a task runs:
``FAMILYHUB_LANDING`` (landing root, one folder per agency), ``FAMILYHUB_QUARANTINE``
(default: ``quarantine`` beside the landing root), ``FAMILYHUB_WAREHOUSE`` (warehouse
URL) and ``FAMILYHUB_ARCHIVE`` (1: move processed files to ``processed/YYYY/``). Only :func:`warehouse_pool` runs at parse time, and it reads the environment only.

Every task opens its own warehouse connection and closes it before returning, so an
embedded (DuckDB) file is never held open by an idle process. The embedded warehouse has a
single writer, so its tasks share the one-slot Airflow pool ``familyhub_warehouse``; on
PostgreSQL tasks run in parallel.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from pipeline.ingest.agencies import Agency, get_agency
from pipeline.ingest.freshness import notify_overdue, notify_refusals
from pipeline.ingest.ledger import earlier_copy, recorded, sha256_of
from pipeline.ingest.limits import UnsafePath, check_path
from pipeline.ingest.load import FileOutcome, find_files, ingest_file
from pipeline.settings import settings as environment
from pipeline.warehouse.engine import Warehouse, resolve_url
from pipeline.warehouse.schema import SchemaBehind

__all__ = [
    "DEFAULT_POOL",
    "POOL",
    "CheckFailed",
    "FileRefused",
    "NothingLoaded",
    "Settings",
    "as_of_date",
    "check_freshness",
    "evaluate_cohort",
    "extracts_on_time",
    "gate_and_load",
    "link",
    "match_rates_as_usual",
    "pending_files",
    "programmes_to_evaluate",
    "raise_alerts",
    "refresh_reporting",
    "settings",
    "staging_update",
    "warehouse_pool",
]

POOL = "familyhub_warehouse"
DEFAULT_POOL = "default_pool"  # Airflow's own pool: no FamilyHub limit


class FileRefused(AirflowFailException):
    """A landing file failed its quality gate and was quarantined; a retry cannot fix it.

    Subclassing ``AirflowFailException`` makes the task fail at once (no retries), so the
    refused file shows as a red ``gate_and_load`` task in the UI, named by its file.
    """

    def __init__(self, outcome: FileOutcome):
        self.outcome = outcome
        page = f" and Data Docs page {outcome.data_docs}" if outcome.data_docs else ""
        advice = (f"quarantined with report {outcome.report_path}{page}; fix the file or the declaration, "
                  "then `familyhub reprocess`" if outcome.report_path else
                  "not read (unsafe path); remove it from the landing folder")
        super().__init__(f"{outcome.agency} file {outcome.file_name} refused: {outcome.reason} ({advice})")


class CheckFailed(AirflowFailException):
    """A monitoring check found something a person must look at (an overdue extract, a delivery
    that links far worse than usual); retrying cannot change it, so the task fails at once."""


class NothingLoaded(AirflowSkipException):
    """No file of this run was loaded, so the agency's staging asset is not updated."""


@dataclass(frozen=True)
class Settings:
    """Where the landing files are, where refused files go, which warehouse to write, and
    whether processed files are archived."""

    landing: Path
    quarantine: Path
    warehouse_url: str
    archive: bool = False


def settings() -> Settings:
    """The folders and warehouse of a task, from :func:`pipeline.settings.settings` (the same
    variables the CLI reads), with the quarantine defaulted beside the landing root."""
    env = environment()
    return Settings(env.landing, env.quarantine or env.landing.parent / "quarantine", env.warehouse, env.archive)


def warehouse_pool() -> str:
    """Pool for warehouse tasks, chosen at DAG parse time from the URL alone (no connection).

    The embedded DuckDB file allows one process at a time: its tasks queue in the one-slot
    pool ``familyhub_warehouse``. PostgreSQL takes concurrent writers: Airflow's default pool.
    """
    return POOL if resolve_url().startswith("duckdb") else DEFAULT_POOL


@contextmanager
def _warehouse() -> Iterator[Warehouse]:
    """The warehouse for one task, closed afterwards (releases the DuckDB file lock).

    Tasks never change the schema (the deployment upgrades it once, and the loader role may
    not): a warehouse behind this release fails the task at once, without retries, saying so.
    """
    wh = Warehouse.connect(settings().warehouse_url)
    try:
        try:
            wh.require_current()
        except SchemaBehind as exc:
            raise AirflowFailException(str(exc)) from exc
        yield wh
    finally:
        wh.engine.dispose()



def _jsonable(value: Any) -> Any:
    """A library result made safe for XCom (dates, numpy numbers and paths become JSON)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


# -- ingest ----------------------------------------------------------------------------------
def pending_files(agency: str) -> list[str]:
    """Landing files of ``agency`` the ledger has not seen, oldest first.

    Reads the warehouse only when the folder holds files, so an empty folder costs nothing.
    A file the ledger holds under the same name, size and modification time is not hashed
    (one query for the whole folder; a link is judged by its own ``lstat``, never followed);
    any other is hashed and compared by its bytes (the two rules of
    :mod:`pipeline.ingest.ledger`, as ``familyhub ingest`` applies them). A path that is
    unsafe to read (a link, a pipe, ...) is never hashed: it is returned as pending, so its
    ``gate_and_load`` task refuses it loudly until someone removes it.
    """
    files = find_files(settings().landing, agency)
    if not files:
        return []
    declared = get_agency(agency)
    with _warehouse() as wh:
        seen = set(recorded(wh, files)["path"])
        return [str(p) for p in files if str(p) not in seen
                and (not _safe(p, declared) or earlier_copy(wh, sha256_of(p), p.name).empty)]


def _safe(path: Path, agency: Agency) -> bool:
    try:
        check_path(path, agency)
    except UnsafePath:
        return False
    return True


def gate_and_load(agency: str, path: str) -> dict[str, Any]:
    """Gate one file and load it, or quarantine it and raise :class:`FileRefused`.

    A file already in the ledger is not loaded again. A file the ledger holds as refused
    raises again, so a retried or cleared task never turns a refused file green; the same
    bytes under another (correct) name are judged afresh (see ``ingest_file``).
    """
    with _warehouse() as wh:
        outcome = ingest_file(wh, Path(path), get_agency(agency), settings().quarantine, archived=settings().archive)
        if outcome.status == "duplicate":
            earlier = wh.read("select status, reason, report_path from ops.files "
                              "where file_id = :f", {"f": outcome.file_id}).iloc[0]
            if earlier.status == "refused":
                outcome.status, outcome.report_path, outcome.reason = "refused", earlier.report_path, earlier.reason
        if outcome.status == "refused" and outcome.file_id is not None:
            notify_refusals(wh)  # the agency's contact hears once per refused file
    if outcome.status == "refused":
        raise FileRefused(outcome)
    return _jsonable(outcome.as_dict())


def staging_update(agency: str, outcomes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What the staging asset event records: the files loaded in this run and their rows.

    ``outcomes`` holds the results of the run's successful ``gate_and_load`` tasks (refused
    files have none). Raises :class:`NothingLoaded` (the task is skipped, no asset event) when
    no file was loaded.
    """
    # Indexed, not iterated: iterating Airflow's lazy XCom sequence probes one past the end
    # and logs a misleading "XCom not found" error.
    loaded = [o for o in (outcomes[i] for i in range(len(outcomes))) if o["status"] == "loaded"]
    if not loaded:
        raise NothingLoaded(f"no new {agency} file was loaded in this run")
    return {"agency": agency, "files": [o["file_name"] for o in loaded],
            "rows_loaded": sum(o["rows_loaded"] for o in loaded),
            "rows_held": sum(o["rows_held"] for o in loaded)}


# -- link and cohort -------------------------------------------------------------------------
def as_of_date(requested: str | None, run_after: datetime) -> str:
    """The run's as-of date: the one asked for when triggering, else the day the run is for.

    Keyed on the run (not the wall clock), so re-running a run gives the same answer.
    """
    return date.fromisoformat(requested).isoformat() if requested else run_after.date().isoformat()


def programmes_to_evaluate() -> list[dict[str, Any]]:
    """The programmes to evaluate, the first being the active one (the family view shows it).

    From ``FAMILYHUB_ACTIVE_PROGRAMMES`` (comma separated names), else every configured
    programme (shipped, and local ones in ``FAMILYHUB_PROGRAMMES`` folders) with ``tf2015``,
    as in ``familyhub run``, first. Returned as task arguments, so exactly one mapped task
    activates.
    """
    from pipeline.programme.cohort import list_programmes

    names = environment().active_programmes or [
        "tf2015", *(p for p in list_programmes() if p != "tf2015")]  # as `familyhub run`
    return [{"programme": name, "active": i == 0} for i, name in enumerate(names)]


def link(as_of: str) -> dict[str, Any]:
    """Link new records incrementally and rebuild the families (``runner.link``)."""
    from pipeline import runner

    with _warehouse() as wh:
        return _jsonable(runner.link(wh, date.fromisoformat(as_of)))


def evaluate_cohort(programme: str, active: bool, as_of: str) -> dict[str, Any]:
    """Evaluate one programme at the as-of date (``runner.evaluate_cohort``); count the cohort."""
    from pipeline import runner

    with _warehouse() as wh:
        cohort = runner.evaluate_cohort(wh, programme, date.fromisoformat(as_of), active=active).cohort
    return {"programme": programme, "as_of": as_of, "active": active, "families": len(cohort),
            "eligible": int(cohort["eligible"].sum())}


def refresh_reporting() -> dict[str, int]:
    """Refresh what the reporting views join (``runner.refresh_reporting``); returns table row counts."""
    from pipeline import runner

    with _warehouse() as wh:
        runner.refresh_reporting(wh)
        return wh.table_counts()


def raise_alerts() -> dict[str, Any]:
    """Raise key-worker alerts for new qualifying events and e-mail them (``runner.raise_alerts``)."""
    from pipeline import runner

    with _warehouse() as wh:
        return _jsonable(runner.raise_alerts(wh))


def match_rates_as_usual(summary: dict[str, Any]) -> dict[str, Any]:
    """Fail (:class:`CheckFailed`) when the link run flagged a delivery whose match rate or field
    agreement is far below its agency's history (``pipeline.linkage.monitoring``); the flags are
    also in ``familyhub status`` and the report."""
    flags = summary.get("match_rate_flags") or []
    if flags:
        raise CheckFailed("deliveries far below their agency's linkage history:\n" + "\n".join(flags))
    return {"run_id": summary.get("run_id"), "drift": summary.get("drift") or []}


# -- freshness -------------------------------------------------------------------------------
def check_freshness(at: str) -> dict[str, Any]:
    """Each agency's freshness at ``at``: e-mail the data team once per overdue extract
    (``FAMILYHUB_DATA_TEAM_EMAIL``) and each refused file's agency contact once."""
    with _warehouse() as wh:
        overdue = notify_overdue(wh, date.fromisoformat(at))
        refusals = notify_refusals(wh)
    return _jsonable({**overdue, "refusal_notices": refusals})


def extracts_on_time(result: dict[str, Any]) -> list[str]:
    """Fail (:class:`CheckFailed`) while an agency's extract is overdue, naming the agencies."""
    if result["overdue"]:
        raise CheckFailed(f"overdue extracts: {', '.join(result['overdue'])} (see `familyhub status`)")
    return []
