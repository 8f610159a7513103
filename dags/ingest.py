"""One ingest DAG per agency, generated from the agency registry: ``familyhub_ingest_<agency>``.

Parsing reads only the local declarations and the environment (no warehouse, no network).
Every task is one call into :mod:`pipeline.airflow.tasks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, PokeReturnValue, TriggerRule, dag, get_current_context, task

from pipeline.airflow import tasks as orch
from pipeline.airflow.assets import staging_asset
from pipeline.ingest.agencies import Agency, load_agencies
from pipeline.ingest.data_docs import folder as data_docs_folder
from pipeline.settings import settings

POOL = orch.warehouse_pool()
DATA_DOCS = data_docs_folder(orch.settings().quarantine)  # from the environment only, as the tasks read it
POKE_SECONDS = settings().poke_seconds

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "familyhub-data-team",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "execution_timeout": timedelta(minutes=30),
}

DAG_DOC = """\
### Ingest: {description}

Waits for a new file in `$FAMILYHUB_LANDING/{name}/` (a file the ledger `ops.files` has not
seen: one it holds under the same name, size and modification time is not even hashed; any
other is compared by its sha256), runs it through the Great Expectations suite `{name}_raw` and loads it,
or refuses it into `$FAMILYHUB_QUARANTINE/{name}/` with a report. After a load it updates the
asset `familyhub://staging/{name}`, which schedules `familyhub_link_and_cohort`.

- **Refused file:** the `gate_and_load` task for that file fails with `FileRefused`; its log
  names the reason and the quarantine report (`<file_id>__<file>.report.md`). Fix the file
  or the declaration, then run `familyhub reprocess`. Other agencies' DAGs are unaffected.
- **Data Docs:** every file the gate validated, loaded or refused, has Great Expectations' own
  page of its validation in `{data_docs}` (`$FAMILYHUB_DATA_DOCS`, default `data_docs` beside the
  quarantine folder). Open `{data_docs}/index.html` in a browser: it lists every file, newest
  first. A refused file's report links its page; `gate_and_load` returns it as `data_docs`.
- **Archive:** with `FAMILYHUB_ARCHIVE=1` each processed file (loaded, refused, or a re-send) is
  moved to `processed/YYYY/` inside the agency's folder, out of the sensor's way.
- **No new file:** the sensor gives up after {timeout} minutes and the run is *skipped*, not failed.
- **Embedded warehouse:** warehouse tasks share the one-slot pool `familyhub_warehouse`
  (DuckDB has one writer); on PostgreSQL they run in parallel.
"""

WAIT_DOC = """\
Pokes every {poke} s (reschedule mode: no worker slot is held between pokes) for files in the
agency's landing folder the ledger has not seen: unchanged files (same name, size and
modification time) in one query, without reading them; others by their sha256. Returns their paths, oldest extract
first. Times out after {timeout} minutes and is then skipped (soft fail).
"""

LOAD_DOC = """\
One mapped task per new file (the map index shows the file name). Gates the file with the
agency's Great Expectations suite and the row rules, loads it in one transaction (bad rows held
back with reasons) or refuses it whole into quarantine. **A refused file fails this task with
`FileRefused`** and is not retried: retrying cannot fix the file.

Either way GX's rendering of the file's validation is written to the Data Docs folder
`{data_docs}` (index: `{data_docs}/index.html`); the page's path is in the task's return value
(`data_docs`), in the `FileRefused` message and in the quarantine report.
"""

ASSET_DOC = """\
Updates the agency's staging asset when at least one file of this run was loaded (also when
another file of the same run was refused); the asset event's extra lists the files and row
counts. Skipped when nothing was loaded.
"""

ACCEPTED_DOC = """\
Marks whether every new file of this run was accepted. It is *upstream failed*, and so the run
*failed*, when a `gate_and_load` task refused its file: look there for the file and the reason.
"""


def build_ingest_dag(agency: Agency) -> DAG:
    """The ingest DAG for one agency: wait for a file, gate and load it, update the asset."""
    asset = staging_asset(agency.name)
    sensor_timeout = timedelta(minutes=50)

    @dag(
        dag_id=f"familyhub_ingest_{agency.name}",
        description=f"Ingest {agency.name}: {agency.description}",
        schedule="@hourly",
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timedelta(hours=2),
        default_args=DEFAULT_ARGS,
        tags=["familyhub", "ingest", agency.name],
        doc_md=DAG_DOC.format(name=agency.name, description=agency.description, data_docs=DATA_DOCS,
                              timeout=int(sensor_timeout.total_seconds() // 60)),
    )
    def ingest() -> None:
        @task.sensor(
            task_id="wait_for_new_file", mode="reschedule", poke_interval=POKE_SECONDS,
            timeout=sensor_timeout.total_seconds(), soft_fail=True, pool=POOL,
            execution_timeout=timedelta(minutes=5),
            doc_md=WAIT_DOC.format(poke=POKE_SECONDS, timeout=int(sensor_timeout.total_seconds() // 60)),
        )
        def wait_for_new_file() -> PokeReturnValue:
            files = orch.pending_files(agency.name)
            return PokeReturnValue(is_done=bool(files), xcom_value=files)

        @task(pool=POOL, max_active_tis_per_dagrun=1, map_index_template="{{ file_name }}",
              doc_md=LOAD_DOC.format(data_docs=DATA_DOCS))
        def gate_and_load(path: str) -> dict[str, Any]:
            get_current_context()["file_name"] = Path(path).name  # type: ignore[typeddict-unknown-key]
            return orch.gate_and_load(agency.name, path)

        @task(outlets=[asset], trigger_rule=TriggerRule.ALL_DONE_MIN_ONE_SUCCESS,
              execution_timeout=timedelta(minutes=5), doc_md=ASSET_DOC)
        def update_staging_asset(outcomes: Sequence[dict[str, Any]]) -> dict[str, Any]:
            summary = orch.staging_update(agency.name, outcomes)
            get_current_context()["outlet_events"][asset].extra = summary
            return summary

        loads = gate_and_load.expand(path=wait_for_new_file())
        update_staging_asset(loads)
        loads >> EmptyOperator(task_id="all_files_accepted", doc_md=ACCEPTED_DOC)

    return ingest()


for _agency in load_agencies().values():
    build_ingest_dag(_agency)
