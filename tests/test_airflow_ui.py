"""The Airflow UI as the data team sees it, in headless Chromium.

``scripts/airflow-local.sh`` (what ``make airflow`` runs) starts Airflow on a free port with
generated landing data; the test logs in, finds every FamilyHub DAG, triggers one agency's
ingest DAG through the REST API, waits for a successful run, and saves screenshots under
``artifacts/`` (git-ignored; CI keeps them as test artefacts).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from pipeline.ingest.agencies import agency_names
from pipeline.ingest.load import find_files

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "familyhub-ui-test"
DAG_IDS = [*(f"familyhub_ingest_{a}" for a in agency_names()), "familyhub_link_and_cohort"]

pytestmark = [pytest.mark.slow, pytest.mark.airflow, pytest.mark.browser, pytest.mark.xdist_group("airflow")]


@dataclass
class Airflow:
    url: str
    folder: Path
    api: httpx.Client


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, seconds: float, check, proc: subprocess.Popen, log: Path):
    """Poll ``check`` until it returns something truthy; fail early if Airflow died."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"airflow-local.sh exited ({proc.returncode}) while waiting for {what}:\n"
                        f"{log.read_text()[-3000:]}")
        try:
            found = check()
        except (httpx.HTTPError, KeyError, ValueError):
            found = None
        if found:
            return found
        time.sleep(2)
    pytest.fail(f"timed out after {seconds:.0f} s waiting for {what}:\n{log.read_text()[-3000:]}")


@pytest.fixture
def airflow(tmp_path: Path) -> Iterator[Airflow]:
    """Airflow started by the local script, paused DAGs, a fixed admin password; stopped after."""
    folder = tmp_path
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "FAMILYHUB_"))}
    env.update({"FAMILYHUB_AIRFLOW_DIR": str(folder), "AIRFLOW_PORT": str(port), "HOUSEHOLDS": "30",
                "FAMILYHUB_AIRFLOW_PASSWORD": PASSWORD, "FAMILYHUB_POKE_SECONDS": "10",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"})
    log = folder / "airflow-local.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(ROOT / "scripts" / "airflow-local.sh")], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        def healthy() -> bool:
            health = httpx.get(f"{url}/api/v2/monitor/health", timeout=5).json()
            return all(health[c]["status"] == "healthy" for c in ("metadatabase", "scheduler", "dag_processor"))

        _wait("a healthy Airflow", 300, healthy, proc, log)
        token = httpx.post(f"{url}/auth/token", json={"username": "admin", "password": PASSWORD},
                           timeout=10).raise_for_status().json()["access_token"]
        api = httpx.Client(base_url=f"{url}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=30)

        def all_dags() -> bool:
            return {d["dag_id"] for d in api.get("/dags", params={"limit": 100}).json()["dags"]} >= set(DAG_IDS)

        _wait("every FamilyHub DAG to be parsed", 120, all_dags, proc, log)
        yield Airflow(url, folder, api)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)  # nothing to save: the folder is temporary
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_data_team_logs_in_and_sees_every_dag_and_a_successful_run(airflow: Airflow) -> None:
    """One test, so Airflow starts once per run."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)
    landing = airflow.folder / "landing"
    assert all(find_files(landing, a) for a in agency_names())  # the script generated the data
    assert airflow.api.get("/pools/familyhub_warehouse").raise_for_status().json()["slots"] == 1
    assert (airflow.folder / "airflow-home" / "passwords.json").stat().st_mode & 0o077 == 0
    agency = min(agency_names(), key=lambda a: (len(find_files(landing, a)), a))
    dag_id = f"familyhub_ingest_{agency}"
    airflow.api.patch(f"/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
    airflow.api.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": None}).raise_for_status()

    def run_finished() -> str | None:
        states = {r["state"] for r in airflow.api.get(f"/dags/{dag_id}/dagRuns").json()["dag_runs"]}
        return "failed" if "failed" in states else ("success" if "success" in states else None)

    deadline = time.monotonic() + 300
    while not (state := run_finished()) and time.monotonic() < deadline:
        time.sleep(3)
    assert state == "success", f"{dag_id}: no successful run ({state})"

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)  # a busy CI machine renders slowly
            page.goto(f"{airflow.url}/dags")
            page.wait_for_url("**/auth/login**")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/dags**")
            page.click("button[aria-label='Show table view']")
            for dag in DAG_IDS:
                expect(page.locator(f"a[href='/dags/{dag}']")).to_be_visible()
            page.screenshot(path=ARTIFACTS / "airflow-ui.png", full_page=True)

            page.goto(f"{airflow.url}/dags/{dag_id}/runs")
            expect(page.get_by_text("Success").first).to_be_visible()
            page.screenshot(path=ARTIFACTS / "airflow-ui-runs.png")
        finally:
            browser.close()
