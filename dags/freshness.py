"""``familyhub_freshness``: is every agency's extract on schedule? E-mail the data team if not.

Parsing reads only the environment. Every task is one call into :mod:`pipeline.airflow.tasks`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from pipeline.airflow import tasks as orch

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "familyhub-data-team",
    "retries": 2,
    "retry_delay": timedelta(minutes=5),
    "execution_timeout": timedelta(minutes=10),
    "pool": orch.warehouse_pool(),
}


@dag(
    dag_id="familyhub_freshness",
    description="Flag overdue partner extracts; e-mail the data team and refused files' agency contacts",
    schedule="0 7 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    default_args=DEFAULT_ARGS,
    tags=["familyhub", "freshness"],
    params={"as_of": Param(None, type=["null", "string"], format="date",
                           description="Judge freshness at this date (YYYY-MM-DD); empty: the run's date.")},
)
def freshness() -> None:
    """### Freshness of partner extracts

    Every day at 07:00 UTC, for each agency: its last loaded extract, when the next is due by its
    declared schedule (`schedule:` in `pipeline/declarations/<agency>.yaml`: daily, weekly,
    monthly or termly, with a grace period and a contact address) and whether it is overdue,
    as `familyhub status` shows.

    1. `check_freshness`: e-mails the data team (`FAMILYHUB_DATA_TEAM_EMAIL`, over the
       `FAMILYHUB_SMTP_*` server) once per overdue extract, and each refused file's agency
       contact once (file name, reason, row numbers and counts; never a value from the file).
       Sent notices are kept in `ops.notices`; without SMTP settings they wait.
    2. `extracts_on_time`: **fails while an extract is overdue**, naming the agencies; the run
       turns green again once their files arrive.
    """

    @task(execution_timeout=timedelta(minutes=1), pool=orch.DEFAULT_POOL,
          doc_md="The date to judge at: the `as_of` param if given, else the run's date.")
    def as_of_date(params: dict[str, Any] | None = None, dag_run: Any = None) -> str:
        return orch.as_of_date((params or {}).get("as_of"), dag_run.run_after)

    @task(doc_md="Freshness per agency; e-mail the data team once per overdue extract and each refused "
                 "file's agency contact once (`pipeline.ingest.freshness`).")
    def check_freshness(at: str) -> dict[str, Any]:
        return orch.check_freshness(at)

    @task(execution_timeout=timedelta(minutes=1), pool=orch.DEFAULT_POOL,
          doc_md="Fails while an agency's extract is overdue; its log names the agencies.")
    def extracts_on_time(result: dict[str, Any]) -> list[str]:
        return orch.extracts_on_time(result)

    extracts_on_time(check_freshness(as_of_date()))


freshness()
