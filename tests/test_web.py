"""The web front end in process (FastAPI's TestClient), on both backends: each role's pages,
the audit log, CSRF, the 404 for another worker's family, sign-in lockout, sessions, single
sign-on, claims return and review; on PostgreSQL the same rules with hand-written SQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from web_site import (
    ALLOWED,
    AS_OF,
    PAGES,
    PASSWORD,
    USERS,
    add_alert,
    build_apart,
    csrf_of,
    sign_in,
)

from pipeline.cli import main
from pipeline.ingest.freshness import freshness
from pipeline.linkage.link import link
from pipeline.programme.savings import record_outcomes, totals
from pipeline.warehouse.engine import Warehouse
from pipeline.web.access import acting
from pipeline.web.accounts import Actor
from pipeline.web.app import create_app
from pipeline.web.settings import WebSettings

SETTINGS = WebSettings(secure_cookies=False, max_failures=3, client_failures=50, sso_header="X-Forwarded-User",
                       sso_proxies=("testclient",))


@dataclass
class Site:
    wh: Warehouse
    app: object
    families: dict[str, str]
    url: str


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("web")
    url = f"duckdb:///{folder / 'wh.duckdb'}" if request.param == "duckdb" else request.getfixturevalue("pg_module_url")
    families = build_apart(folder / "data", url)
    wh = Warehouse.connect(url)
    yield Site(wh, create_app(wh, SETTINGS), families, url)
    wh.engine.dispose()


def audit_rows(site: Site, action: str, family_id: str) -> int:
    return int(site.wh.scalar("select count(*) from ops.audit_log where action = :a and family_id = :f",
                              {"a": action, "f": family_id}))


@pytest.mark.parametrize("name", sorted(USERS))
def test_each_role_sees_only_its_pages(site: Site, name: str):
    client = sign_in(site.app, name)
    role = USERS[name][0]
    for path in PAGES:
        response = client.get(path, follow_redirects=False)
        if path in ALLOWED[role]:
            assert response.status_code == 200, (path, response.text[-500:])
            assert f'href="{path}" aria-current="page"' in response.text
        elif path != "/":
            assert response.status_code == 403, path
    navigation = {p for p in PAGES if f'<li><a href="{p}"' in client.get(sorted(ALLOWED[role])[0]).text}
    assert navigation == ALLOWED[role]


def test_signed_out_visitors_are_sent_to_sign_in(site: Site):
    from fastapi.testclient import TestClient

    response = TestClient(site.app).get("/cohort", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/cohort"


def test_key_worker_sees_own_family_with_unread_alert_first_and_marks_it_seen(site: Site):
    ann = site.families["ann"]
    client = sign_in(site.app, "fhw_kw_ann")
    home = client.get("/").text
    assert ann in home and "1 unread alert" in home and site.families["bob"] not in home
    before = audit_rows(site, "view_family", ann)
    page = client.get(f"/family/{ann}")
    assert page.status_code == 200 and "Who is involved" in page.text and "test alert: police call-out" in page.text
    assert "Timeline" not in page.text  # the timeline needs a reason
    assert audit_rows(site, "view_family", ann) == before + 1
    client.post(f"/family/{ann}/alerts/seen", data={"csrf": csrf_of(page.text), "alert_id": ""})
    assert "1 unread alert" not in client.get("/").text
    assert "Mark as seen" not in client.get(f"/family/{ann}").text


def test_full_view_needs_a_reason_and_is_audited_with_it(site: Site):
    ann = site.families["ann"]
    client = sign_in(site.app, "fhw_kw_ann")
    token = csrf_of(client.get(f"/family/{ann}").text)
    assert client.post(f"/family/{ann}", data={"csrf": token, "reason": ""}).status_code == 400
    full = client.post(f"/family/{ann}", data={"csrf": token, "reason": "case 4711 planning"})
    assert full.status_code == 200 and "Timeline" in full.text and "case 4711 planning" in full.text
    reasons = site.wh.read("select reason from ops.audit_log where action = 'view_records' and family_id = :f",
                           {"f": ann})["reason"].tolist()
    assert "case 4711 planning" in reasons


def test_another_workers_family_is_404_and_the_attempt_is_audited(site: Site):
    bob = site.families["bob"]
    client = sign_in(site.app, "fhw_kw_ann")
    before = audit_rows(site, "denied", bob)
    assert client.get(f"/family/{bob}").status_code == 404
    token = csrf_of(client.get("/").text)
    assert client.post(f"/family/{bob}", data={"csrf": token, "reason": "curious"}).status_code == 404
    assert audit_rows(site, "denied", bob) == before + 2
    actors = site.wh.read("select actor from ops.audit_log where action = 'denied' and family_id = :f", {"f": bob})
    assert set(actors["actor"]) == {"fhw_kw_ann"}
    seen_by_ann = site.wh.scalar("select count(*) from ops.audit_log where action in ('view_family', 'view_records') "
                                 "and family_id = :f and actor = 'fhw_kw_ann'", {"f": bob})
    assert seen_by_ann == 0


def test_a_form_without_its_csrf_token_is_refused(site: Site):
    free = site.families["free"]
    client = sign_in(site.app, "fhw_co_cat")
    for data in ({}, {"csrf": "forged"}):
        response = client.post("/attach", data={"family_id": free, "key_worker": "Ann Key", **data})
        assert response.status_code == 403
    assert not site.wh.scalar("select count(*) from cohort.attachments where family_id = :f", {"f": free})
    from fastapi.testclient import TestClient

    cross_site = TestClient(site.app).post("/login", data={"username": "fhw_co_cat", "password": PASSWORD,
                                                           "csrf": "x"})  # without the form's cookie
    assert cross_site.status_code == 403


def test_coordinator_attaches_and_the_key_worker_then_sees_the_family_and_its_alerts(site: Site):
    free = site.families["free"]
    coordinator = sign_in(site.app, "fhw_co_cat")
    cohort = coordinator.get("/cohort")
    assert free in cohort.text and "<svg" in cohort.text and "Programmes compared" in cohort.text
    done = coordinator.post("/attach", data={"csrf": csrf_of(cohort.text), "family_id": free,
                                             "key_worker": "Bob Key", "back": "/cohort"})
    assert done.status_code == 200 and f"{free}: attached to Bob Key" in done.text
    add_alert(site.wh, free, "Bob Key")  # the next alert pass, on the family's next event
    bob = sign_in(site.app, "fhw_kw_bob")
    assert free in bob.get("/").text
    assert "test alert: police call-out" in bob.get(f"/family/{free}").text
    assert sign_in(site.app, "fhw_kw_ann").get(f"/family/{free}").status_code == 404


def test_cohort_filters_and_the_manager_sees_no_family_ids(site: Site):
    client = sign_in(site.app, "fhw_co_cat")
    unattached = client.get("/cohort", params={"attachment": "not attached"}).text
    assert site.families["ann"] not in unattached
    attached = client.get("/cohort", params={"attachment": "attached"}).text
    assert site.families["ann"] in attached
    district = site.wh.read("select split_part(postcode, ' ', 1) as d from linked.families where family_id = :f",
                            {"f": site.families["ann"]})["d"].iloc[0]
    assert site.families["ann"] in client.get("/cohort", params={"area": district}).text
    manager = sign_in(site.app, "fhw_mg_max").get("/cohort").text
    assert site.families["ann"] not in manager and "pseudonymised" in manager and "/attach" not in manager


def test_messages_are_escaped(site: Site):
    page = sign_in(site.app, "fhw_co_cat").get("/cohort", params={"message": "<script>alert(1)</script>"}).text
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


def test_lockout_after_failures_holds_even_with_the_right_password_until_reset(site: Site):
    from fastapi.testclient import TestClient

    client = TestClient(site.app)
    for _ in range(SETTINGS.max_failures):
        token = csrf_of(client.get("/login").text)
        wrong = client.post("/login", data={"username": "fhw_mg_max", "password": "wrong password!", "csrf": token})
        assert wrong.status_code == 401
    token = csrf_of(client.get("/login").text)
    locked = client.post("/login", data={"username": "fhw_mg_max", "password": PASSWORD, "csrf": token})
    assert locked.status_code == 423 and "locked" in locked.text
    runner = CliRunner()
    result = runner.invoke(main, ["user", "reset-password", "fhw_mg_max", "--warehouse", site.url, "--password-stdin"],
                           input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    sign_in(site.app, "fhw_mg_max")


def test_sign_out_and_idle_timeout_end_the_session(site: Site):
    client = sign_in(site.app, "fhw_dt_dee")
    token = csrf_of(client.get("/feeds").text)
    client.post("/logout", data={"csrf": token})
    assert client.get("/feeds", follow_redirects=False).status_code == 303
    idle = sign_in(site.app, "fhw_dt_dee")
    with site.wh.begin() as conn:
        site.wh.execute(conn, "update ops.web_sessions set last_seen = :t where user_name = 'fhw_dt_dee' "
                              "and ended_at is null", {"t": datetime.now() - timedelta(minutes=31)})
    assert idle.get("/feeds", follow_redirects=False).status_code == 303


def test_single_sign_on_header_is_trusted_only_for_known_accounts(site: Site):
    from fastapi.testclient import TestClient

    client = TestClient(site.app)
    assert client.get("/feeds", headers={"X-Forwarded-User": "fhw_dt_dee@council.example"}).status_code == 200
    assert client.get("/feeds", headers={"X-Forwarded-User": "nobody@council.example"}).status_code == 403
    untrusted = create_app(site.wh, WebSettings(secure_cookies=False, sso_header="X-Forwarded-User",
                                                sso_proxies=("10.0.0.1",)))
    response = TestClient(untrusted).get("/feeds", headers={"X-Forwarded-User": "fhw_dt_dee"}, follow_redirects=False)
    assert response.status_code == 303


def test_claims_return_needs_a_reason_and_audits_each_family(site: Site):
    client = sign_in(site.app, "fhw_co_cat")
    page = client.get("/claims", params={"programme": "tf2015", "window": "2026-H2"})
    assert page.status_code == 200 and "remaining under the cap" in page.text
    shown = site.wh.scalar("select count(*) from ops.audit_log where action = 'view_records' "
                           "and reason = 'claims page: tf2015 2026-H2'")
    assert shown >= 1  # the claims' evidence names records: audited before it is shown
    data = {"csrf": csrf_of(page.text), "programme": "tf2015", "window": "2026-H2"}
    assert client.post("/claims/return", data=data).status_code == 400
    before = int(site.wh.scalar("select count(*) from ops.audit_log where action = 'export'"))
    csv = client.post("/claims/return", data={**data, "reason": "2026-H2 return"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.startswith("programme,claim_window")
    families = {line.split(",")[3] for line in csv.text.strip().splitlines()[1:]}
    after = int(site.wh.scalar("select count(*) from ops.audit_log where action = 'export'"))
    assert after - before == max(len(families), 1)


def test_feeds_show_every_agency_and_the_review_queue(site: Site):
    page = sign_in(site.app, "fhw_dt_dee").get("/feeds").text
    for agency in ("police", "health", "schools"):
        assert f'<th scope="row">{agency}</th>' in page
    assert "waiting for clerical review" in page and "Refused files" in page


def test_feeds_show_an_overdue_agency_and_a_flagged_delivery_in_words(site: Site):
    overdue = [f.agency for f in freshness(site.wh, date.today()) if f.overdue]
    assert overdue  # the test data's extracts are dated around AS_OF, long past
    with site.wh.begin() as conn:
        file_id = site.wh.execute(conn, "update linked.delivery_match_rates set flagged = true, reason = 'test: far "
                                        "below' where file_id = (select max(file_id) from linked.delivery_match_rates) "
                                        "returning file_id").scalar()
    name = site.wh.scalar("select file_name from ops.files where file_id = :i", {"i": file_id})
    page = sign_in(site.app, "fhw_dt_dee").get("/feeds").text
    row = page.split(f'<th scope="row">{overdue[0]}</th>')[1].split("</tr>")[0]
    assert "<strong>OVERDUE" in row
    delivery = page.split("Match rate per delivery")[2].split(f">{name}</td>")[1].split("</tr>")[0]
    assert "<strong>FLAGGED</strong>: test: far below" in delivery and "%" in delivery
    assert "nan" not in page.split("Match rate per delivery")[2].split("</table>")[0]


def test_manager_sees_savings_figures_and_no_family_id(site: Site):
    outcomes = record_outcomes(site.wh, "tf2015", AS_OF)
    expected = totals(outcomes)
    assert expected["families"] >= 2  # ann's and bob's, attached in the build
    page = sign_in(site.app, "fhw_mg_max").get("/savings")
    assert page.status_code == 200
    assert f"<dd>{expected['families']}</dd>" in page.text
    for figure in ("cost_before", "cost_latest", "saving"):
        assert f"£{expected[figure]:,.0f}" in page.text, figure
    assert "2026-H2" in page.text  # per window of first attachment
    assert not any(family in page.text for family in outcomes["family_id"])


def test_a_key_worker_is_refused_the_savings_and_feeds_pages(site: Site):
    client = sign_in(site.app, "fhw_kw_ann")
    for path in ("/savings", "/feeds"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 403 and "£" not in response.text, path


def test_a_review_decision_binds_the_next_link(site: Site):
    client = sign_in(site.app, "fhw_dt_dee")
    token = csrf_of(client.get("/review").text)
    assert client.post("/review", data={"csrf": token}).status_code == 400
    page = client.post("/review", data={"csrf": token, "reason": "weekly review"})
    assert page.status_code == 200 and "Are these the same person?" in page.text
    assert "Stored weight" not in page.text and "step by step" not in page.text  # blind by default
    left = page.text.split('name="left" value="')[1].split('"')[0].replace("&#124;", "|")
    right = page.text.split('name="right" value="')[1].split('"')[0].replace("&#124;", "|")
    weights = client.post("/review", data={"csrf": token, "reason": "weekly review", "weights": "1"})
    assert "Match weight, step by step" in weights.text
    persons = "select mention_id, person_id from linked.mention_person where mention_id in (:l, :r)"
    same = site.wh.read(persons, {"l": left, "r": right})["person_id"].nunique() == 1
    answer = "non-match" if same else "match"
    done = client.post("/review/decide", data={"csrf": token, "reason": "weekly review", "left": left,
                                               "right": right, "decision": answer})
    assert done.status_code == 200 and f"recorded: {answer}" in done.text
    link(site.wh, AS_OF)
    after = site.wh.read(persons, {"l": left, "r": right})["person_id"].nunique() == 1
    assert after is (not same)


def test_user_commands_add_disable_and_refuse_bad_input(site: Site, tmp_path: Path):
    runner = CliRunner()
    base = ["--warehouse", site.url]
    bad = runner.invoke(main, ["user", "add", "Bad Name", "--role", "manager", *base, "--password-stdin"],
                        input=PASSWORD + "\n")
    assert bad.exit_code != 0 and "lower-case" in bad.output
    short = runner.invoke(main, ["user", "add", "fhw_short", "--role", "manager", *base, "--password-stdin"],
                          input="short\n")
    assert short.exit_code != 0 and "12 characters" in short.output
    client = sign_in(site.app, "fhw_dt_dee")
    assert runner.invoke(main, ["user", "disable", "fhw_dt_dee", *base]).exit_code == 0
    assert client.get("/feeds", follow_redirects=False).status_code == 303
    assert runner.invoke(main, ["user", "disable", "fhw_dt_dee", "--enable", *base]).exit_code == 0
    hashes = site.wh.read("select password_hash from ops.web_users")["password_hash"].dropna()
    assert len(hashes) and hashes.str.startswith("$argon2id$").all()


@pytest.mark.postgres
@pytest.mark.parametrize("site", ["postgres"], indirect=True)
def test_a_key_workers_role_cannot_read_another_family_even_with_sql(site: Site):
    engine = sa.create_engine(sa.make_url(site.url).set(username="fhw_kw_ann"))  # her own login (trust auth)
    ann, bob = site.families["ann"], site.families["bob"]

    def as_ann(sql: str, **params: str) -> list[tuple]:
        with engine.connect() as conn:
            return list(conn.exec_driver_sql(sql, params).all())

    seen = {r[0] for r in as_ann("select family_id from reporting.family_view")}
    assert ann in seen and bob not in seen
    for view in ("family_view", "family_member", "family_timeline", "alert"):
        assert as_ann(f"select count(*) from reporting.{view} where family_id = %(f)s", f=bob) == [(0,)], view
    assert as_ann("select count(*) from ops.fh_families_of('fhw_kw_bob')") == [(0,)]
    assert {r[0] for r in as_ann("select family_id from cohort.attachments")} <= seen
    with acting(Actor("fhw_kw_ann", "keyworker", "Ann Key")):  # what the web server runs as, per request
        assert set(site.wh.read("select family_id from reporting.family_view")["family_id"]) == seen
    assert {r[0] for r in as_ann("select family_id from linked.families")} == seen
    for table in ("staging.person_mentions", "ops.web_users"):
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            as_ann(f"select count(*) from {table}")
    engine.dispose()
