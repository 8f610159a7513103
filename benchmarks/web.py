"""Benchmark: the web pages at scale (target: family page and cohort page, first 50 filtered,
under 300 ms median on PostgreSQL at 150,000 households).

The warehouse is synthesised as benchmarks/cohort.py builds its frames (numpy, no extract
generator, no linkage): one record per event, each record its person's, families as built;
then the real cohort stage evaluates the programme into ``cohort.results``/``evidence``, key
workers are attached to 2,000 families, and the pages are requested in process through
FastAPI's client as a key worker (row-level security on) and as a coordinator.

    .venv/bin/python benchmarks/web.py --households 150000 --warehouse postgresql+psycopg://postgres@127.0.0.1/fh_bench_web
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cohort import AS_OF, build_events, build_members

from pipeline.governance.access import grant_roles
from pipeline.programme.identification import evaluate_cohort
from pipeline.warehouse.engine import Warehouse

PASSWORD = "benchmark password 1"
KEY_WORKERS = 40
ATTACHED = 2_000


def _tables(members: pd.DataFrame, events: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The linked and staging rows the pages read, from the benchmark's frames."""
    n = len(members)
    address = members["family_id"].str[1:] + " Bench Street"
    persons = pd.DataFrame({
        "person_id": members["person_id"], "first_name": "First" + members["person_id"].str[1:],
        "last_name": "Family" + members["family_id"].str[1:], "date_of_birth": members["dob"].dt.date,
        "sex": np.where(np.arange(n) % 2, "F", "M"), "address": address, "postcode": members["postcode"],
        "n_mentions": 1})
    agencies = (events[["person_id", "agency"]].drop_duplicates().sort_values(["person_id", "agency"])
                .groupby("person_id")["agency"].agg(",".join))
    persons["agencies"] = persons["person_id"].map(agencies)
    families = members.groupby("family_id").agg(postcode=("postcode", "first"), n_members=("person_id", "size"))
    families = families.reset_index().assign(address=lambda f: f["family_id"].str[1:] + " Bench Street", uprn=None)
    stage = events.assign(mention_id=events["agency"] + "|" + events["record_key"]).drop_duplicates("mention_id")
    stage = stage.assign(file_id=0, version=1, row_number=np.arange(len(stage)))
    mentions = stage[["mention_id", "agency", "record_key", "file_id", "row_number", "version", "person_id"]].merge(
        persons[["person_id", "first_name", "last_name", "date_of_birth", "address", "postcode"]], on="person_id")
    return {
        "linked.families": families[["family_id", "address", "postcode", "uprn", "n_members"]],
        "linked.persons": persons,
        "linked.person_family": members[["person_id", "family_id", "postcode"]].assign(address=address),
        "linked.mention_person": stage[["mention_id", "person_id"]].assign(run_id="bench"),
        "staging.person_mentions": mentions.rename(columns={"date_of_birth": "dob"}).drop(columns="person_id"),
        "staging.events": stage[[c for c in stage.columns if c in _EVENT_COLUMNS]],
    }


_EVENT_COLUMNS = {"mention_id", "agency", "record_key", "file_id", "version", "event_type", "event_date",
                  "start_date", "end_date", "role", "domestic_abuse", "term", "sessions_possible",
                  "sessions_authorised_absent", "sessions_unauthorised_absent", "suspensions",
                  "permanent_exclusion", "alternative_provision", "rent_arrears", "asb_complaint_date",
                  "notice_seeking_possession", "detail"}


def build(wh: Warehouse, households: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    members = build_members(households, rng)
    members["postcode"] = ("SO" + pd.Series(rng.integers(14, 54, households)).astype(str)
                           + " 1AB").to_numpy()[members["family_id"].str[1:].astype(int)]
    events = build_events(members, rng)
    members = members.drop(columns="is_child")
    wh.migrate()
    with wh.begin() as conn:
        for table, frame in _tables(members, events).items():
            wh.insert(conn, table, frame)
    print(f"loaded {households:,} households, {len(members):,} persons, {len(events):,} events "
          f"in {time.perf_counter() - start:.0f} s", flush=True)
    referrals = pd.DataFrame(columns=["family_id", "service", "reason", "referral_date"])
    result = evaluate_cohort(wh, "tf2015", AS_OF.date(), inputs=(events, members, referrals))
    eligible = result.cohort[result.cohort["eligible"]].sort_values("priority_rank")["family_id"]
    attached = pd.DataFrame({"family_id": eligible.head(ATTACHED).to_numpy()})
    attached = attached.assign(key_worker=[f"Key Worker {i % KEY_WORKERS}" for i in range(len(attached))],
                               attached_on=date(2026, 1, 5), closed_on=None, recorded_at=datetime.now())
    with wh.begin() as conn:
        wh.insert(conn, "cohort.attachments", attached)
        conn.exec_driver_sql("analyze")
    print(f"evaluated and attached in {time.perf_counter() - start:.0f} s total", flush=True)


def _users(wh: Warehouse) -> None:
    from pipeline.web.accounts import add_user, find_user

    if not wh.is_embedded:
        grant_roles(wh)
    for name, role, kw in (("bench_kw", "keyworker", "Key Worker 0"), ("bench_co", "coordinator", None)):
        if not find_user(wh, name):
            add_user(wh, name, role, PASSWORD, kw)


def _client(app, name: str):
    from fastapi.testclient import TestClient

    client = TestClient(app)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"username": name, "password": PASSWORD, "csrf": token})
    return client


def _timings_ms(client, path: str, repeat: int) -> tuple[float, float]:
    """The first request's time (cold: nothing kept yet) and the median of ``repeat`` more."""
    times = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return times[0], statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", required=True, help="an empty warehouse (or one built with --reuse)")
    parser.add_argument("--households", type=int, default=150_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--reuse", action="store_true", help="the warehouse is already built: only measure")
    args = parser.parse_args()
    from pipeline.web.app import create_app
    from pipeline.web.settings import WebSettings

    wh = Warehouse.connect(args.warehouse)
    if not args.reuse:
        build(wh, args.households, args.seed)
    _users(wh)
    app = create_app(wh, WebSettings(secure_cookies=False, client_failures=1000))
    keyworker, coordinator = _client(app, "bench_kw"), _client(app, "bench_co")
    mine = wh.read("select family_id from cohort.attachments where key_worker = 'Key Worker 0' limit 1").iloc[0, 0]
    other = wh.read("select family_id from reporting.cohort where eligible order by priority_rank desc limit 1").iloc[0, 0]
    pages = [
        ("family page, key worker (row-level security)", keyworker, f"/family/{mine}"),
        ("family page, coordinator", coordinator, f"/family/{other}"),
        ("cohort page, first 50", coordinator, "/cohort"),
        ("cohort page, first 50, filtered", coordinator, "/cohort?criterion=crime_asb&attachment=not+attached&area=SO23"),
        ("my families, key worker", keyworker, "/"),
    ]
    print(f"{wh.dialect}, {int(wh.scalar('select count(*) from linked.families')):,} households; "
          f"first request, then the median of {args.repeat} more:")
    for label, client, path in pages:
        first, median = _timings_ms(client, path, args.repeat)
        print(f"  {label:<48} {first:7.0f} ms {median:7.0f} ms   {path}", flush=True)


if __name__ == "__main__":
    main()
