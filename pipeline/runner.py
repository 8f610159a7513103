"""All steps in order, for `familyhub run` and the Airflow DAGs: ingest → link → alerts → cohort → reporting.

Each step is idempotent, so a re-run with no new files gives identical reporting views.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pipeline.governance.access import KEY_ENV, refresh_pseudonyms
from pipeline.ingest.freshness import notify_refusals
from pipeline.ingest.load import FileOutcome, ingest_landing
from pipeline.linkage import link as linkage
from pipeline.programme.alerts import raise_alerts
from pipeline.programme.cases import follow
from pipeline.programme.identification import evaluate_cohort
from pipeline.settings import settings
from pipeline.warehouse.engine import Warehouse

__all__ = ["RunSummary", "evaluate_cohort", "link", "raise_alerts", "refresh_reporting", "run_all"]

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    files: list[FileOutcome]
    linkage: dict
    cohorts: dict[str, dict] = field(default_factory=dict)
    alerts: dict = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # per step, for benchmarks/year.py


@contextmanager
def _timed(seconds: dict[str, float], step: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    seconds[step] = time.perf_counter() - started


def link(wh: Warehouse, as_of: date, full: bool = False) -> dict:
    """The link stage (:func:`pipeline.linkage.link.link`) with the casework that follows its
    family lineage (:func:`pipeline.programme.cases.follow`) in the run's own transaction: a
    run never commits families that retire an attached family's id without its case moving on."""
    return linkage.link(wh, as_of, full, then=lambda conn, lineage, run_id: follow(wh, conn, lineage, run_id))


def refresh_reporting(wh: Warehouse) -> dict[str, int] | None:
    """Refresh the pseudonyms the analysts' views join.

    The views read the current layers (``familyhub db upgrade`` re-creates them), but
    ``reporting.pseudonymised_*`` show only ids that have a row in ``ops.pseudonyms``, a table,
    so new persons and families would be missing (and retired ids kept) until it is refreshed.
    Without ``FAMILYHUB_PSEUDONYM_KEY`` (e.g. the demo: no analysts) the pseudonyms stay as
    they are, with a warning; a key that is set but too short is an error. Returns the
    pseudonym counts (added, removed), or None when not refreshed.
    """
    if settings().pseudonym_key is None:
        log.warning("%s is not set: the pseudonymised reporting views are not refreshed", KEY_ENV)
        return None
    return refresh_pseudonyms(wh)


def run_all(wh: Warehouse, landing: Path, quarantine: Path, as_of: date, programmes: list[str],
            progress: bool = False, archived: bool = False) -> RunSummary:
    """Ingest every new file (``archived``: then move it to ``processed/YYYY/``), link, alert key
    workers, evaluate each programme (the first is made active)."""
    seconds: dict[str, float] = {}
    with _timed(seconds, "ingest"):
        files = ingest_landing(wh, landing, quarantine, progress=progress, archived=archived)
        if any(f.status == "refused" for f in files):
            notify_refusals(wh)  # each refused file's agency contact hears once (when SMTP is set)
    with _timed(seconds, "link"):
        linkage = link(wh, as_of)
    with _timed(seconds, "alerts"):
        alerts = raise_alerts(wh)
    cohorts = {}
    with _timed(seconds, "cohort"):
        for i, programme in enumerate(reversed(programmes)):  # the first named ends up active
            result = evaluate_cohort(wh, programme, as_of, active=i == len(programmes) - 1)
            cohort = result.cohort
            cohorts[programme] = {"families": len(cohort), "eligible": int(cohort["eligible"].sum())}
    with _timed(seconds, "reporting"):
        refresh_reporting(wh)
    return RunSummary(files, linkage, cohorts, alerts, seconds)
