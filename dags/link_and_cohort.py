"""``familyhub_link_and_cohort``: link, rebuild families, evaluate the cohort, refresh reporting.

Scheduled by the agency staging assets (any agency's new data) or daily as a fallback.
Every task is one call into :mod:`pipeline.airflow.tasks`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import (
    AssetAny,
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    Param,
    dag,
    get_current_context,
    task,
)

from pipeline.airflow import tasks as orch
from pipeline.airflow.assets import COHORT, staging_assets

POOL = orch.warehouse_pool()

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "familyhub-data-team",
    "retries": 2,
    "retry_delay": timedelta(minutes=5),
    "execution_timeout": timedelta(hours=1),
    "pool": POOL,
}


@dag(
    dag_id="familyhub_link_and_cohort",
    description="Link records into people and families, evaluate the programmes, refresh reporting",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 6 * * *", timezone="UTC"),
        assets=AssetAny(*staging_assets().values()),
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=4),
    default_args=DEFAULT_ARGS,
    tags=["familyhub", "linkage", "cohort"],
    params={"as_of": Param(None, type=["null", "string"], format="date",
                           description="Evaluate at this date (YYYY-MM-DD); empty: the run's date.")},
)
def link_and_cohort() -> None:
    """### Link and cohort

    Runs when any agency's staging asset is updated (a file was loaded by a
    `familyhub_ingest_<agency>` DAG), and every day at 06:00 UTC as a fallback. The same steps
    as `familyhub run` after ingest:

    1. `as_of_date`: the date to evaluate at (the trigger's `as_of`, else the run's date).
    2. `link`: links new records incrementally and rebuilds people and families
       (`pipeline.runner.link`).
    3. `raise_alerts`: raises key-worker alerts for new qualifying events of attached families
       and e-mails them when `FAMILYHUB_SMTP_HOST` is set (`pipeline.runner.raise_alerts`).
    4. `evaluate_cohort`: one mapped task per programme in `FAMILYHUB_ACTIVE_PROGRAMMES`
       (default: every configured programme, `tf2015` first, e.g. tf2015, sf2022, tf2012)
       at the as-of date; the first listed becomes the active evaluation that
       `reporting.cohort` and the family view show (`pipeline.runner.evaluate_cohort`).
    5. `refresh_reporting`: refreshes the pseudonyms the `reporting` views join and updates the asset
       `familyhub://reporting/cohort`.
    6. `linkage_monitoring`: fails when a delivery links far worse than its agency's earlier
       ones (match rate or field agreement; see `familyhub status`); run drift against the
       previous run of the same mode is in its return value and the `link` log.

    Re-running a run evaluates the same as-of date and gives the same cohort. On the embedded
    warehouse every task that opens it uses the one-slot pool `familyhub_warehouse`.
    """

    @task(execution_timeout=timedelta(minutes=1), pool=orch.DEFAULT_POOL,
          doc_md="The as-of date of this run: the `as_of` param if given, else the run's date.")
    def as_of_date(params: dict[str, Any] | None = None, dag_run: Any = None) -> str:
        return orch.as_of_date((params or {}).get("as_of"), dag_run.run_after)

    @task(doc_md="Link new records incrementally and rebuild people and families (`runner.link`).")
    def link(as_of: str) -> dict[str, Any]:
        return orch.link(as_of)

    @task(doc_md="Raise key-worker alerts for new qualifying events and e-mail them (`runner.raise_alerts`).")
    def raise_alerts() -> dict[str, Any]:
        return orch.raise_alerts()

    @task(execution_timeout=timedelta(minutes=1), pool=orch.DEFAULT_POOL,
          doc_md="The programmes to evaluate (`FAMILYHUB_ACTIVE_PROGRAMMES`, default every "
                 "configured programme, tf2015 first); the first is made active.")
    def programmes() -> list[dict[str, Any]]:
        return orch.programmes_to_evaluate()

    @task(map_index_template="{{ programme }}",
          doc_md="Evaluate one programme's eligibility at the as-of date (`runner.evaluate_cohort`).")
    def evaluate_cohort(programme: str, active: bool, as_of: str) -> dict[str, Any]:
        get_current_context()["programme"] = programme  # type: ignore[typeddict-unknown-key]
        return orch.evaluate_cohort(programme, active, as_of)

    @task(outlets=[COHORT],
          doc_md="Refresh the pseudonyms of the reporting views (`runner.refresh_reporting`); returns table row counts.")
    def refresh_reporting() -> dict[str, int]:
        return orch.refresh_reporting()

    @task(execution_timeout=timedelta(minutes=1), pool=orch.DEFAULT_POOL,
          doc_md="Fails when the link run flagged a delivery whose match rate or field agreement is far "
                 "below its agency's history (`pipeline.linkage.monitoring`): its log names the file and "
                 "why. The cohort still runs; look at the delivery (e.g. day and month swapped in dates).")
    def linkage_monitoring(summary: dict[str, Any]) -> dict[str, Any]:
        return orch.match_rates_as_usual(summary)

    as_of = as_of_date()
    linked = link(as_of)
    linkage_monitoring(linked)
    cohorts = evaluate_cohort.partial(as_of=as_of).expand_kwargs(programmes())
    linked >> [raise_alerts(), cohorts]
    cohorts >> refresh_reporting()


link_and_cohort()
