"""Erasure and retention: a person's rows and everything derived go, stay gone, and are audited."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from trust_data import AS_OF, build_linked, small_landing

from pipeline.cli import main
from pipeline.governance.access import refresh_pseudonyms
from pipeline.governance.erasure import apply_retention, erase_person, key_hashes
from pipeline.ingest.agencies import get_agency
from pipeline.ingest.canonical import record_keys
from pipeline.ingest.load import ingest_landing
from pipeline.programme.alerts import raise_alerts
from pipeline.programme.keyworkers import attach
from pipeline.programme.savings import record_outcomes
from pipeline.runner import link
from pipeline.warehouse.engine import Warehouse
from pipeline.warehouse.integrity import problems

#: Tables that name an erased person's id by design: the audit log (who was erased, when, why)
#: and the id lineage (so the id is never given to anyone else); opaque ids, never record keys.
KEPT = {"ops.audit_log", "linked.lineage_events"}

pytestmark = pytest.mark.slow  # each backend's linked warehouse takes ~20 s to build (then copied per test)


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def golden(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One linked warehouse per backend, built once; each test works on a copy of it."""
    folder = tmp_path_factory.mktemp(f"erasure-{request.param}")
    landing = small_landing(folder)
    if request.param == "duckdb":
        url = f"duckdb:///{folder / 'golden.duckdb'}"
    else:
        admin = request.getfixturevalue("pg_admin")
        name = f"fh_test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'create database "{name}"'))
        url = admin.url.set(database=name).render_as_string(hide_password=False)
    wh = Warehouse.connect(url)
    wh.migrate()
    build_linked(wh, landing)
    wh.engine.dispose()
    yield {"backend": request.param, "url": url, "landing": landing, "folder": folder}
    if request.param == "postgres":
        with admin.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))


@pytest.fixture
def linked(golden: dict, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Warehouse, Path]]:
    """A copy of the golden warehouse (a file copy, or a PostgreSQL template) and of its landing folder."""
    landing = tmp_path / "landing"
    shutil.copytree(golden["landing"], landing)
    admin = name = None
    if golden["backend"] == "duckdb":
        shutil.copy(sa.make_url(golden["url"]).database, tmp_path / "wh.duckdb")
        url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    else:
        admin, name = request.getfixturevalue("pg_admin"), f"fh_test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'create database "{name}" template "{sa.make_url(golden["url"]).database}"'))
        url = admin.url.set(database=name).render_as_string(hide_password=False)
    wh = Warehouse.connect(url)
    yield wh, landing
    wh.engine.dispose()
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))


def _raw_keys(wh: Warehouse, agency: str) -> pd.Series:
    a = get_agency(agency)
    raw = wh.read(f"select * from raw.{agency}")
    return record_keys(a, raw[list(a.event_key)].fillna("").astype(str)) if len(raw) else pd.Series(dtype=str)


def _pick_person(wh: Warehouse) -> tuple[str, str, pd.DataFrame, int]:
    """The person with records at most agencies (then in the largest family): their family, records
    and family size."""
    records = wh.read("select p.person_id, m.agency, m.record_key, f.family_id from linked.mention_person p "
                      "join staging.person_mentions m on m.mention_id = p.mention_id "
                      "join linked.person_family f on f.person_id = p.person_id")
    sizes = records.groupby("family_id")["person_id"].nunique()
    rank = records.groupby("person_id").agg(agencies=("agency", "nunique"), family=("family_id", "first"))
    rank["size"] = rank["family"].map(sizes)
    person = rank.sort_values(["agencies", "size"], ascending=False).index[0]
    mine = records[records["person_id"] == person]
    return person, mine["family_id"].iloc[0], mine[["agency", "record_key"]], int(rank.loc[person, "size"])


def _traces(wh: Warehouse, person: str, records: pd.DataFrame) -> dict[str, int]:
    keys = set(zip(records["agency"], records["record_key"], strict=True))
    mentions = {f"{a}|{k}" for a, k in keys}
    found = {
        "raw": sum(_raw_keys(wh, a).isin([k for b, k in keys if b == a]).sum() for a in set(records["agency"])),
        "held": wh.read("select agency, record_key from ops.held_rows").apply(tuple, axis=1).isin(keys).sum(),
        "mentions": wh.read("select mention_id from staging.person_mentions")["mention_id"].isin(mentions).sum(),
        "events": wh.read("select mention_id from staging.events")["mention_id"].isin(mentions).sum(),
        "links": wh.read("select mention_id from linked.mention_person")["mention_id"].isin(mentions).sum(),
        "evidence": wh.read("select agency, record_key from cohort.evidence").apply(tuple, axis=1).isin(keys).sum(),
        "reviews": wh.read("select agency_l, record_key_l from linked.review_decisions")
        .apply(tuple, axis=1).isin(keys).sum(),
    }
    for table, column in (("linked.persons", "person_id"), ("linked.person_family", "person_id"),
                          ("linked.household_edges", "person_a"), ("cohort.evidence", "person_id")):
        found[table] = int(wh.scalar(f"select count(*) from {table} where {column} = :p", {"p": person}))
    return {k: int(v) for k, v in found.items()}


def _derive_everything(wh: Warehouse, family: str, records: pd.DataFrame) -> None:
    """What the pipeline builds on a family a key worker works with: alerts (one e-mailed), savings,
    a claim with evidence from the person's records, and pseudonyms for analysts."""
    attach(wh, family, "Ann Key", date(2000, 1, 1))  # before every event: each qualifying one alerts
    raise_alerts(wh, programme="tf2015", deliver=False)
    record_outcomes(wh, "tf2015", AS_OF)
    claim_id = f"tf2015:2026-H2:{family}:attachment"
    with wh.begin() as conn:
        wh.execute(conn, "insert into cohort.alert_deliveries select alert_id, 'email', 'ann@council.example', "
                         "'sent', raised_at, null from cohort.alerts")
        wh.execute(conn, "insert into cohort.claims values (:c, 'tf2015', '2026-H2', '2026-12-31', :f, 'attachment', "
                         "null, 1, '2000-01-01', 1000, 'attached', '2026-12-31', :f)", {"c": claim_id, "f": family})
        wh.insert(conn, "cohort.claim_evidence", records.assign(
            claim_id=claim_id, item="crime_asb", detail="before: " + records["agency"] + " " + records["record_key"]))
    refresh_pseudonyms(wh, b"erasure-test-key-0123456789")


def _everywhere(wh: Warehouse, person: str, records: pd.DataFrame) -> dict[str, int]:
    """Per table (raw tables aside: see _traces), the cells naming the person or one of their
    records: the id, a record key, an agency|record_key mention id, or text containing one."""
    mentions = set(records["agency"] + "|" + records["record_key"])
    exact = {person, *mentions, *records["record_key"]}
    inside = "|".join(map(re.escape, sorted(mentions, key=len, reverse=True)))
    found = {}
    for table in wh.table_counts():
        if table.startswith("raw.") or table in KEPT:
            continue
        text = wh.read(f"select * from {table}").select_dtypes(object).astype(str)
        hits = text.isin(exact) | text.apply(lambda column: column.str.contains(inside))
        if hits.to_numpy().any():
            found[table] = int(hits.to_numpy().sum())
    return found


def test_erase_removes_the_person_and_what_derives_from_them(linked: tuple[Warehouse, Path]) -> None:
    wh, landing = linked
    person, family, records, size = _pick_person(wh)
    assert records["agency"].nunique() >= 2
    first = records.iloc[0]
    with wh.begin() as conn:  # a clerical decision naming one of their records
        wh.execute(conn, "insert into linked.review_decisions values (:a, :k, :a, 'other', 'match', 'rev', "
                         "'2026-10-01', null)", {"a": first["agency"], "k": first["record_key"]})
    _derive_everything(wh, family, records)
    assert sum(_traces(wh, person, records).values()) > 0
    before = _everywhere(wh, person, records)
    assert {"cohort.alerts", "cohort.alert_seen", "cohort.alert_deliveries", "cohort.claim_evidence",
            "ops.pseudonyms", "linked.persons", "staging.events", "cohort.evidence"} <= set(before), before
    assert wh.scalar("select count(*) from cohort.family_outcomes where family_id = :f", {"f": family}) == 1
    result = CliRunner().invoke(main, ["erase", "--person", person, "--reason", "SAR-2026-031",
                                                  "--as", "dpo", "--yes", "--warehouse", wh_url(wh)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["records"] >= len(records) and summary["removed"]["ops.tombstones"] == summary["records"]
    assert _traces(wh, person, records) == dict.fromkeys(_traces(wh, person, records), 0)
    assert _everywhere(wh, person, records) == {}
    assert wh.scalar("select count(*) from cohort.family_outcomes where family_id = :f", {"f": family}) == 0
    assert wh.scalar("select count(*) from cohort.claims") == 1  # the payment record stays, with its family id
    assert problems(wh) == {}
    left = wh.scalar("select count(*) from linked.families where family_id = :f", {"f": family})
    assert left == (1 if size > 1 else 0)  # the family stays with its other members, or goes with them
    log = wh.read("select actor, action, person_id, family_id, reason from ops.audit_log")
    assert log.values.tolist() == [["dpo", "erase", person, family, "SAR-2026-031"]]

    # The agency re-sends the same rows in a new file, with one row of someone else: only theirs stay out.
    for agency in sorted(set(records["agency"])):
        original = sorted((landing / agency).iterdir())[0]
        lines = [line.rstrip(b"\r\n") + b"\n" for line in original.read_bytes().splitlines()]
        resend = landing / agency / original.name.replace(original.stem.split("_")[1], "20261215")
        resend.write_bytes(lines[0] + b"".join(reversed(lines[1:])) + b"\n")  # same rows, new bytes
    outcomes = ingest_landing(wh, landing, landing.parent / "quarantine")
    resent = [o for o in outcomes if "20261215" in o.file_name]
    assert resent and all(o.status == "loaded" for o in resent)
    skipped = wh.read("select agency, count(*) as n from ops.removed_rows where cause = 'tombstoned' group by 1")
    assert skipped["n"].sum() > 0 and set(skipped["agency"]) <= set(records["agency"])
    link(wh, AS_OF)
    assert _traces(wh, person, records) == dict.fromkeys(_traces(wh, person, records), 0)
    assert problems(wh) == {}


def test_erasing_every_member_removes_what_was_about_the_family(linked: tuple[Warehouse, Path]) -> None:
    wh, _ = linked
    records = wh.read("select p.person_id, m.agency, m.record_key, f.family_id from linked.mention_person p "
                      "join staging.person_mentions m on m.mention_id = p.mention_id "
                      "join linked.person_family f on f.person_id = p.person_id")
    with_evidence = set(wh.read("select family_id from cohort.evidence")["family_id"])
    sizes = records[records["family_id"].isin(with_evidence)].groupby("family_id")["person_id"].nunique()
    family = sizes.sort_values(kind="stable").index[0]
    mine = records[records["family_id"] == family]
    _derive_everything(wh, family, mine[["person_id", "agency", "record_key"]])
    with wh.begin() as conn:
        wh.execute(conn, "insert into cohort.referrals values (:f, 'early help', 'worried about the children', "
                         "'2026-06-01')", {"f": family})
    about = ("cohort.results", "cohort.evidence", "cohort.family_outcomes", "cohort.referrals", "linked.families",
             "linked.person_family", "ops.pseudonyms")
    count = "select count(*) from {t} where {c} = :f"
    assert all(wh.scalar(count.format(t=t, c="real_id" if t.startswith("ops") else "family_id"), {"f": family})
               for t in about)
    for person in mine["person_id"].unique():
        erase_person(wh, person, who="dpo", reason="SAR-7 whole household")
    assert {t: wh.scalar(count.format(t=t, c="real_id" if t.startswith("ops") else "family_id"), {"f": family})
            for t in about} == dict.fromkeys(about, 0)
    for person in mine["person_id"].unique():
        assert _everywhere(wh, person, mine[mine["person_id"] == person]) == {}
    kept = {t: wh.scalar(count.format(t=t, c="family_id"), {"f": family}) for t in ("cohort.attachments",
                                                                                    "cohort.claims")}
    assert kept == {"cohort.attachments": 1, "cohort.claims": 1}  # the authority's own records: ids, dates, money
    assert problems(wh) == {}


def test_erasure_refusals(linked: tuple[Warehouse, Path]) -> None:
    wh, _ = linked
    runner = CliRunner()
    missing = runner.invoke(main, ["erase", "--person", "Pnobody", "--reason", "SAR-1", "--yes",
                                              "--warehouse", wh_url(wh)])
    assert missing.exit_code == 1 and "no person Pnobody" in missing.output
    no_reason = runner.invoke(main, ["erase", "--person", "Pnobody", "--yes", "--warehouse", wh_url(wh)])
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output
    with pytest.raises(ValueError, match="say why"):
        erase_person(wh, "Pnobody", who="x", reason=" ")
    assert wh.read("select * from ops.audit_log").empty and wh.read("select * from ops.tombstones").empty


def test_erasing_a_merged_persons_old_id_names_where_their_records_went(linked: tuple[Warehouse, Path]) -> None:
    wh, _ = linked
    survivor = wh.read("select person_id from linked.persons order by person_id limit 1")["person_id"].iloc[0]
    with wh.begin() as conn:
        wh.insert(conn, "linked.lineage_events", pd.DataFrame([
            {"run_id": "r0", "kind": "person", "event": "merged", "old_id": "Pold", "new_id": "Pmid", "n_keys": 1},
            {"run_id": "r1", "kind": "person", "event": "merged", "old_id": "Pmid", "new_id": survivor, "n_keys": 2}]))
    with pytest.raises(ValueError, match=f"now under {survivor}"):
        erase_person(wh, "Pold", who="x", reason="SAR-2")


def test_retention_removes_old_records_and_keeps_open_ones(linked: tuple[Warehouse, Path]) -> None:
    wh, _ = linked
    days = 70
    cutoff = pd.Timestamp(AS_OF) - pd.Timedelta(days=days)
    for family in wh.read("select family_id from linked.families")["family_id"]:
        attach(wh, family, "Ann Key", date(2000, 1, 1))
    raise_alerts(wh, programme="tf2015", deliver=False)
    before = wh.table_counts()
    dry = apply_retention(wh, who="dpo", days=days, as_of=AS_OF, dry_run=True)
    assert dry["records"] > 0 and wh.table_counts() == before
    events = wh.read("select agency, record_key, event_date, end_date from staging.events")
    old_open = events[(pd.to_datetime(events["event_date"]) < cutoff) & events["end_date"].isna()
                      & (events["agency"] == "socialcare")]
    done = apply_retention(wh, who="dpo", days=days, as_of=AS_OF)
    assert done["records"] == dry["records"] and done["removed"]["staging.events"] == dry["records"]
    left = wh.read("select agency, record_key, event_date, end_date, asb_complaint_date from staging.events")
    last = left[["event_date", "end_date", "asb_complaint_date"]].apply(pd.to_datetime).max(axis=1)
    expired = (last < cutoff) & ~(left["end_date"].isna() & left["agency"].isin(["socialcare", "dwp", "housing"]))
    assert not expired.any()
    assert set(old_open["record_key"]) <= set(left["record_key"])  # open episodes stay while open
    assert len(left) == len(events) - done["records"]
    assert done["removed"]["cohort.alerts"] > 0 and done["removed"]["cohort.alert_seen"] >= dry["records"]
    for table in ("cohort.alerts", "cohort.alert_seen"):  # no alert outlives its record
        assert wh.scalar(f"select count(*) from {table} a where not exists "
                         "(select 1 from staging.events e where e.mention_id = a.mention_id)") == 0
    assert problems(wh) == {}
    assert wh.read("select action, actor from ops.audit_log").values.tolist() == [["retention", "dpo"]]
    assert wh.read("select * from ops.tombstones").empty  # retention does not block a re-send


def test_tombstones_are_hashes(linked: tuple[Warehouse, Path]) -> None:
    wh, _ = linked
    person, _, records, _ = _pick_person(wh)
    erase_person(wh, person, who="dpo", reason="SAR-2")
    stored = wh.read("select agency, key_hash from ops.tombstones")
    expected = {(a, h) for a, g in records.groupby("agency") for h in key_hashes(a, g["record_key"])}
    assert expected <= set(stored.itertuples(index=False, name=None))
    assert not any(k in h for h in stored["key_hash"] for k in records["record_key"])


def wh_url(wh: Warehouse) -> str:
    return wh.engine.url.render_as_string(hide_password=False)
