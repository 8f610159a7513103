"""A small FamilyHub warehouse with one web account per role, for the web tests (in process
and in the browser): generated data run through the whole pipeline, one family attached to
each of two key workers, and an alert on the first."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from pipeline.generator import generate
from pipeline.governance.access import grant_roles
from pipeline.programme.keyworkers import attach
from pipeline.runner import run_all
from pipeline.warehouse.engine import Warehouse
from pipeline.web.accounts import add_user

PASSWORD = "correct horse battery staple"
AS_OF = date(2026, 11, 1)
#: name -> (role, key-worker name); names are cluster-wide PostgreSQL logins, so kept distinctive.
USERS = {"fhw_kw_ann": ("keyworker", "Ann Key"), "fhw_kw_bob": ("keyworker", "Bob Key"),
         "fhw_co_cat": ("coordinator", None), "fhw_mg_max": ("manager", None), "fhw_dt_dee": ("datateam", None)}
PAGES = {"/": "my_families", "/cohort": "cohort", "/claims": "claims", "/savings": "savings", "/feeds": "feeds", "/review": "review"}
ALLOWED = {"keyworker": {"/"}, "coordinator": {"/cohort", "/claims", "/savings"},
           "manager": {"/cohort", "/claims", "/savings"},
           "datateam": {"/feeds", "/review"}}


def build_apart(folder: Path, url: str) -> dict[str, str]:
    """:func:`build` in a fresh process: ingest forks workers, which must not inherit the
    threads earlier tests left in this one (a fork copies a held lock, never its release)."""
    here = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here.parent), str(here)])}
    done = subprocess.run([sys.executable, str(Path(__file__)), str(folder), url], env=env, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def build(folder: Path, url: str, households: int = 150) -> dict[str, str]:
    """Generate, run, attach and add the accounts; returns the families by role in the tests."""
    generate(folder, households=households, seed=11)
    wh = Warehouse.connect(url)
    wh.migrate()
    run_all(wh, folder / "landing", folder / "quarantine", AS_OF, ["tf2015", "tf2012"])
    if not wh.is_embedded:
        grant_roles(wh)
    for name, (role, key_worker) in USERS.items():
        add_user(wh, name, role, PASSWORD, key_worker)
    eligible = wh.read("select family_id from reporting.family_view where eligible "
                       "order by priority_rank limit 3")["family_id"].tolist()
    attach(wh, eligible[0], "Ann Key", date(2026, 10, 1))
    attach(wh, eligible[1], "Bob Key", date(2026, 10, 1))
    add_alert(wh, eligible[0], "Ann Key")
    wh.engine.dispose()
    return {"ann": eligible[0], "bob": eligible[1], "free": eligible[2]}


def add_alert(wh: Warehouse, family_id: str, key_worker: str) -> str:
    """An alert on one of the family's events, as an alert pass would raise it."""
    event = wh.read("select e.mention_id, e.agency, e.record_key, e.event_type, e.event_date, p.person_id "
                    "from staging.events e join linked.mention_person p on p.mention_id = e.mention_id "
                    "join linked.person_family f on f.person_id = p.person_id where f.family_id = :f "
                    "order by e.event_date desc limit 1", {"f": family_id}).iloc[0]
    alert_id = f"test:{event['mention_id']}"
    with wh.begin() as conn:
        wh.execute(conn, "insert into cohort.alerts (alert_id, mention_id, version, pass_id, raised_at, key_worker, "
                         "family_id, person_id, kind, agency, record_key, event_type, event_date, detail) values "
                         "(:a, :m, 1, 'test', :t, :k, :f, :p, 'police', :g, :r, :e, :d, 'test alert: police call-out')",
                   {"a": alert_id, "m": event["mention_id"], "t": datetime.now(), "k": key_worker, "f": family_id,
                    "p": event["person_id"], "g": event["agency"], "r": event["record_key"],
                    "e": event["event_type"], "d": event["event_date"]})
    return alert_id


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(app, name: str, password: str = PASSWORD) -> TestClient:
    """A client signed in as ``name`` (the sign-in form's own CSRF token included)."""
    client = TestClient(app)
    form = client.get("/login")
    response = client.post("/login", data={"username": name, "password": password, "csrf": csrf_of(form.text),
                                           "next": "/"}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return client


if __name__ == "__main__":
    print(json.dumps(build(Path(sys.argv[1]), sys.argv[2])))
