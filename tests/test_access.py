"""Least privilege on PostgreSQL: each role connects and is shown to read what it may, and no more.

The roles are cluster-wide, so these tests share one xdist group; the logins they make are
``fh_test_*`` and are left for the next run (granting is idempotent).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from trust_data import as_login, build_linked, small_landing

from pipeline import runner
from pipeline.cli import main
from pipeline.governance import access
from pipeline.programme.cases import decide, follow, open_reviews
from pipeline.programme.keyworkers import attach, close
from pipeline.warehouse.engine import Warehouse

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.xdist_group("pg-roles")]

KEY = "test-pseudonym-key-0123456789abcdef"
LOGINS = {"fh_test_loader": "loader", "fh_test_analyst": "analyst", "fh_test_admin": "admin",
          "fh_test_alice": "keyworker", "fh_test_bob": "keyworker", "fh_test_auditor": "auditor"}
IDENTIFIABLE = ("reporting.family_view", "reporting.family_member", "reporting.family_timeline",
                "reporting.family_evidence", "reporting.record_link")
INTERNAL = ("raw.police", "staging.person_mentions", "linked.persons", "ops.pseudonyms", "ops.audit_log",
            "ops.key_worker_logins")
PSEUDONYMISED = ("reporting.pseudonymised_family", "reporting.pseudonymised_member",
                 "reporting.pseudonymised_cohort", "reporting.pseudonymised_timeline",
                 "reporting.pseudonymised_evidence")


class Checks:
    """Counts the role checks proven (printed at the end of the module, with -s)."""

    proven = 0


@pytest.fixture(scope="module")
def granted(pg_admin: sa.Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A linked warehouse, roles granted, Alice attached to two families, Bob to one (closed: none)."""
    name = f"fh_test_{uuid.uuid4().hex[:12]}"
    with pg_admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    url = pg_admin.url.set(database=name).render_as_string(hide_password=False)
    wh = Warehouse.connect(url)
    wh.migrate()
    build_linked(wh, small_landing(tmp_path_factory.mktemp("access")))
    families = wh.read("select family_id from linked.families order by n_members desc, family_id")["family_id"]
    alice, bob, closed = families[:2].tolist(), families[2], families[3]
    for family, worker in [(f, "Alice Key") for f in alice] + [(bob, "Bob Key"), (closed, "Bob Key")]:
        attach(wh, family, worker, date(2026, 6, 1))
    close(wh, closed, date(2026, 9, 1))
    with wh.begin() as conn:
        wh.execute(conn, "insert into cohort.recorded_needs select 'N' || family_id, family_id, 'early_years', "
                         "'2026-05-01', 'speech delay', 'Ann', null, null, 'added', 'Ann', now() from linked.families")
    runner = CliRunner()
    env = {"FAMILYHUB_WAREHOUSE": url, "FAMILYHUB_PSEUDONYM_KEY": KEY}
    result = runner.invoke(main, ["db", "grant", "--as", "dba"], env=env)
    assert result.exit_code == 0, result.output
    for login, role in LOGINS.items():
        args = ["db", "grant", "--user", login, "--role", role, "--as", "dba"]
        if role == "keyworker":
            args += ["--key-worker", "Alice Key" if login == "fh_test_alice" else "Bob Key"]
        assert runner.invoke(main, args, env=env).exit_code == 0
    yield {"url": url, "wh": wh, "alice": alice, "bob": [bob], "closed": closed}
    print(f"\nrole checks proven: {Checks.proven}")
    wh.engine.dispose()
    with pg_admin.connect() as conn:
        conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))


def _engine(granted: dict, login: str) -> sa.Engine:
    return sa.create_engine(as_login(granted["url"], login))


def _can_read(engine: sa.Engine, relation: str) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f"select * from {relation} limit 1")).all()
        return True
    except sa.exc.ProgrammingError as exc:
        assert "permission denied" in str(exc)
        return False


def _families(engine: sa.Engine, relation: str) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.text(f"select distinct family_id from {relation}")).scalars())


def test_analyst_reads_only_pseudonymised_views(granted: dict) -> None:
    analyst = _engine(granted, "fh_test_analyst")
    for view in PSEUDONYMISED:
        assert _can_read(analyst, view), view
        Checks.proven += 1
    for relation in IDENTIFIABLE + INTERNAL:
        assert not _can_read(analyst, relation), relation
        Checks.proven += 1
    with analyst.connect() as conn:
        members = pd_rows(conn, "select * from reporting.pseudonymised_member")
        family = pd_rows(conn, "select * from reporting.pseudonymised_family")
    assert set(members[0]) == {"family_ref", "person_ref", "role", "age_band", "sex", "agencies"}
    assert "postcode_district" in family[0] and "address_line" not in family[0] and "key_worker" not in family[0]
    everyone = granted["wh"].read("select person_id, family_id from linked.person_family")
    assert len(members) == len(everyone)  # all rows, none identifiable
    expected = {hmac.new(KEY.encode(), f"person:{p}".encode(), hashlib.sha256).hexdigest()[:24]
                for p in everyone["person_id"]}
    assert {m["person_ref"] for m in members} == expected
    assert not {m["person_ref"] for m in members} & set(everyone["person_id"])
    assert all(" " not in (f["postcode_district"] or "") for f in family)
    assert {m["age_band"] for m in members} <= {"0-4", "5-10", "11-15", "16-17", "18-24", "25-34", "35-49",
                                                "50-64", "65+", "unknown"}
    Checks.proven += 4
    analyst.dispose()


def pd_rows(conn: sa.Connection, sql: str) -> list[dict]:
    return [dict(r._mapping) for r in conn.execute(sa.text(sql))]


def test_key_workers_see_only_their_attached_families(granted: dict) -> None:
    for login, mine in (("fh_test_alice", set(granted["alice"])), ("fh_test_bob", set(granted["bob"]))):
        kw = _engine(granted, login)
        for view in ("reporting.family_view", "reporting.family_member", "reporting.family_timeline",
                     "reporting.record_link", "reporting.recorded_need"):
            assert _families(kw, view) - {None} == mine, (login, view)
            Checks.proven += 1
        assert granted["closed"] not in _families(kw, "reporting.family_view")  # closed: no longer theirs
        with kw.connect() as conn:
            names = pd_rows(conn, "select first_name, last_name from reporting.family_member")
        members = granted["wh"].read("select family_id from linked.person_family")
        assert len(names) == members["family_id"].isin(mine).sum()  # identifiable, only their members
        assert any(n["first_name"] for n in names)
        for relation in ("raw.police", "staging.person_mentions", "linked.persons", *PSEUDONYMISED):
            assert not _can_read(kw, relation), (login, relation)
            Checks.proven += 1
        kw.dispose()


def test_a_key_worker_sees_every_part_of_a_split_family_until_decided(granted: dict) -> None:
    wh, bob = granted["wh"], granted["bob"][0]
    attached = set(granted["alice"]) | {bob, granted["closed"]}
    part = wh.read("select family_id from linked.families order by family_id")["family_id"]
    part = next(f for f in part if f not in attached)
    with wh.begin() as conn:  # a link run split Bob's family: some of its records are now in `part`
        follow(wh, conn, pd.DataFrame([{"kind": "family", "event": "split", "old_id": bob, "new_id": part,
                                        "n_keys": 2}]), "r-split")
    kw = _engine(granted, "fh_test_bob")
    try:
        assert _families(kw, "reporting.family_view") == {bob, part}
        review = open_reviews(wh)
        assert review["kind"].tolist() == ["split"]
        decide(wh, review["review_id"].iloc[0], "Coordinator", keep=[bob])
        assert _families(kw, "reporting.family_view") == {bob}
    finally:
        kw.dispose()
        with wh.begin() as conn:
            wh.execute(conn, "delete from cohort.case_families where family_id = :f", {"f": part})


def test_loader_writes_and_admin_reads_the_audit_log(granted: dict) -> None:
    loader, admin = _engine(granted, "fh_test_loader"), _engine(granted, "fh_test_admin")
    everyone = _families(_engine(granted, "fh_test_admin"), "reporting.family_view")
    assert _families(loader, "reporting.family_view") == everyone  # the pipeline sees every row
    with loader.begin() as conn:
        conn.execute(sa.text("insert into ops.audit_log (logged_at, actor, db_user, action) "
                             "values (now(), 'loader', current_user, 'export')"))
        conn.execute(sa.text("insert into staging.events (mention_id, agency, record_key, file_id, version, "
                             "event_type) values ('x|1', 'police', '1', 0, 0, 'TEST')"))
        conn.execute(sa.text("delete from staging.events where mention_id = 'x|1'"))
    assert not _can_read(loader, "ops.audit_log")
    assert _can_read(admin, "ops.audit_log")
    for engine in (loader, admin):
        with pytest.raises(sa.exc.DBAPIError), engine.begin() as conn:
            conn.execute(sa.text("delete from ops.audit_log"))
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), loader.begin() as conn:
        conn.execute(sa.text("insert into ops.tombstones values ('police', 'x', 'e', now())"))
    Checks.proven += 6
    loader.dispose()
    admin.dispose()


def test_auditor_reads_the_audit_log_and_nothing_else(granted: dict) -> None:
    auditor = _engine(granted, "fh_test_auditor")
    assert _can_read(auditor, "ops.audit_log")
    for relation in (*IDENTIFIABLE, *PSEUDONYMISED, "raw.police", "linked.persons", "ops.pseudonyms"):
        assert not _can_read(auditor, relation), relation
    with pytest.raises(sa.exc.DBAPIError), auditor.begin() as conn:
        conn.execute(sa.text("delete from ops.audit_log"))
    shown = CliRunner().invoke(main, ["audit", "--json", "--warehouse", as_login(granted["url"], "fh_test_auditor")])
    assert shown.exit_code == 0, shown.output
    Checks.proven += 4
    auditor.dispose()


def test_roles_run_the_cli(granted: dict) -> None:
    """The loader runs the pipeline and a key worker the family view, without owning the schema."""
    runner = CliRunner()
    alice_url = as_login(granted["url"], "fh_test_alice")
    own, other = granted["alice"][0], granted["bob"][0]
    shown = runner.invoke(main, ["family", own, "--reason", "case review", "--as", "alice", "--warehouse", alice_url])
    assert shown.exit_code == 0, shown.output
    hidden = runner.invoke(main, ["family", other, "--reason", "curious", "--as", "alice", "--warehouse", alice_url])
    assert hidden.exit_code != 0 and f"no family {other}" in hidden.output
    log = granted["wh"].read("select actor, db_user, family_id, reason from ops.audit_log "
                             "where action = 'view_family' order by logged_at")
    assert log.tail(2).values.tolist() == [["alice", "fh_test_alice", own, "case review"],
                                            ["alice", "fh_test_alice", other, "curious"]]
    status = runner.invoke(main, ["link", "--as-of", "2026-11-01", "--warehouse",
                                  as_login(granted["url"], "fh_test_loader")])
    assert status.exit_code == 0, status.output
    Checks.proven += 3


def test_grant_refuses_duckdb_and_bad_logins(tmp_path: Path, granted: dict) -> None:
    url = f"duckdb:///{tmp_path / 'x.duckdb'}"
    assert CliRunner().invoke(main, ["db", "upgrade", "--warehouse", url]).exit_code == 0
    result = CliRunner().invoke(main, ["db", "grant", "--warehouse", url])
    assert result.exit_code != 0 and "roles do not apply to the embedded DuckDB" in result.output
    with pytest.raises(ValueError, match="PostgreSQL name"):
        access.add_user(granted["wh"], 'x"; drop table raw.police; --', "analyst")
    with pytest.raises(ValueError, match="--key-worker"):
        access.add_user(granted["wh"], "fh_test_nobody", "keyworker")


def test_pseudonyms_are_stable_and_follow_the_key(granted: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    wh = granted["wh"]
    before = wh.read("select kind, real_id, pseudo_id from ops.pseudonyms order by 1, 2")
    assert access.refresh_pseudonyms(wh, KEY.encode()) == {"added": 0, "removed": 0}
    other = access.refresh_pseudonyms(wh, b"another-key-0123456789abcdef")
    assert other["added"] == len(before)
    after = wh.read("select kind, real_id, pseudo_id from ops.pseudonyms order by 1, 2")
    assert (after["pseudo_id"] != before["pseudo_id"]).all()
    access.refresh_pseudonyms(wh, KEY.encode())
    monkeypatch.setenv("FAMILYHUB_PSEUDONYM_KEY", "short")
    with pytest.raises(ValueError, match="at least 16"):
        access.pseudonym_key()


def test_refreshing_reporting_refreshes_the_pseudonymised_views(warehouse: Warehouse,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    def link_run(families: dict[str, list[str]]) -> None:  # what a link run leaves: persons in families
        with warehouse.begin() as conn:
            for table in ("linked.person_family", "linked.persons", "linked.families"):
                warehouse.execute(conn, f"delete from {table}")
            members = [(p, f) for f, people in families.items() for p in people]
            warehouse.insert(conn, "linked.families", pd.DataFrame({"family_id": list(families), "n_members": 1}))
            warehouse.insert(conn, "linked.persons", pd.DataFrame({"person_id": [p for p, _ in members],
                                                                   "n_mentions": 1}))
            warehouse.insert(conn, "linked.person_family", pd.DataFrame(members, columns=["person_id", "family_id"]))

    def analysts_see() -> tuple[int, int]:
        return (int(warehouse.scalar("select count(*) from reporting.pseudonymised_member")),
                int(warehouse.scalar("select count(*) from reporting.pseudonymised_family")))

    monkeypatch.setenv("FAMILYHUB_PSEUDONYM_KEY", KEY)
    link_run({"F1": ["P1", "P2"]})
    assert runner.refresh_reporting(warehouse) == {"added": 3, "removed": 0}
    assert analysts_see() == (2, 1)
    link_run({"F1": ["P1"], "F2": ["P3", "P4"]})  # P2 retired, a new family
    assert runner.refresh_reporting(warehouse) == {"added": 3, "removed": 1}
    assert analysts_see() == (3, 2)
    monkeypatch.delenv("FAMILYHUB_PSEUDONYM_KEY")
    link_run({"F1": ["P1"], "F2": ["P3", "P4"], "F3": ["P5"]})
    with caplog.at_level(logging.WARNING):
        assert runner.refresh_reporting(warehouse) is None
    assert "pseudonymised reporting views are not refreshed" in caplog.text and KEY not in caplog.text
    assert analysts_see() == (3, 2)


@pytest.fixture
def owned_database(pg_admin: sa.Engine) -> Iterator[str]:
    """A database owned by a plain login, as docker compose makes it (the login runs upgrades)."""
    name = f"fh_test_{uuid.uuid4().hex[:12]}"
    with pg_admin.connect() as conn:
        if not conn.execute(sa.text("select 1 from pg_roles where rolname = 'fh_test_owner'")).first():
            conn.execute(sa.text("create role fh_test_owner login"))
        conn.execute(sa.text(f'create database "{name}" owner fh_test_owner'))
    yield pg_admin.url.set(database=name).render_as_string(hide_password=False)
    with pg_admin.connect() as conn:
        conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))


def test_the_deployment_upgrades_as_owner_and_the_loader_runs_the_pipeline(
        owned_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What compose's init job does (upgrade as the owner login, grant as the superuser), then a
    full `familyhub run` as the loader login: only a member of familyhub_loader, no BYPASSRLS,
    so every bulk load meets row security (COPY FROM refuses it: the engine loads around it)."""
    monkeypatch.setenv("FAMILYHUB_PSEUDONYM_KEY", KEY)
    runner, owner_url = CliRunner(), as_login(owned_database, "fh_test_owner")
    loader_url = as_login(owned_database, "fh_test_pipeline")
    upgraded = runner.invoke(main, ["db", "upgrade", "--warehouse", owner_url])
    assert upgraded.exit_code == 0, upgraded.output
    for args in ([], ["--user", "fh_test_owner", "--role", "owner"], ["--user", "fh_test_pipeline", "--role", "loader"]):
        granted = runner.invoke(main, ["db", "grant", *args, "--as", "dba", "--warehouse", owned_database])
        assert granted.exit_code == 0, granted.output
    wh = Warehouse.connect(owned_database)
    assert wh.scalar("select rolbypassrls from pg_roles where rolname = 'fh_test_pipeline'") is False
    landing = small_landing(tmp_path, households=200, files=2)
    ran = runner.invoke(main, ["run", "--landing", str(landing), "--quarantine", str(tmp_path / "q"), "--as-of",
                               "2026-11-01", "--programme", "tf2015", "--warehouse", loader_url])
    assert ran.exit_code == 0, ran.output
    assert wh.scalar("select count(*) from reporting.family_view") > 50
    assert wh.scalar("select count(*) from ops.pseudonyms") > 0
    assert wh.scalar("select count(*) from linked.persons") == wh.scalar(
        "select count(distinct person_id) from linked.mention_person")

    loader = sa.create_engine(loader_url)
    for statement in ("delete from ops.audit_log", "truncate ops.audit_log", "update ops.audit_log set actor = 'x'",
                      "alter table linked.persons add column x text", "drop table raw.police",
                      "create table raw.extra (x text)", "drop trigger audit_log_append_only on ops.audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match=r"permission denied|must be owner|append-only"), \
                loader.begin() as conn:
            conn.execute(sa.text(statement))
        Checks.proven += 1
    loader.dispose()
    refused = runner.invoke(main, ["db", "upgrade", "--warehouse", loader_url])
    assert refused.exit_code == 1 and "nothing changed" in refused.output  # the loader cannot change the schema
    again = runner.invoke(main, ["db", "upgrade", "--warehouse", owner_url])  # the next deployment's upgrade
    assert again.exit_code == 0 and "already at" in again.output, again.output
    wh.engine.dispose()
