"""The web front end in headless Chromium (Playwright, Debian's browser as the Airflow UI test
launches it): each role signs in through the form and sees only its pages; a coordinator
attaches a family and its key worker then sees it with its alerts; a review decision changes
the next link; axe-core finds no serious or critical accessibility violation on any page.
Screenshots of each page go to docs/images/web-*.png (the README shows them)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from web_site import ALLOWED, AS_OF, PAGES, PASSWORD, USERS, add_alert, build_apart

from pipeline.linkage.link import link
from pipeline.programme.savings import record_outcomes
from pipeline.warehouse.engine import Warehouse
from pipeline.web.app import create_app
from pipeline.web.settings import WebSettings

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
CHROMIUM = "/usr/bin/chromium"
SERIOUS = {"serious", "critical"}

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@dataclass
class Server:
    url: str
    wh: Warehouse
    families: dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The app under uvicorn in a thread of this process (the embedded warehouse is one process's)."""
    import uvicorn

    folder = tmp_path_factory.mktemp("webui")
    url = f"duckdb:///{folder / 'wh.duckdb'}"
    families = build_apart(folder / "data", url)
    wh = Warehouse.connect(url)
    port = _free_port()
    app = create_app(wh, WebSettings(secure_cookies=False, client_failures=100))
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield Server(f"http://127.0.0.1:{port}", wh, families)
    uv.should_exit = True
    thread.join(timeout=10)
    wh.engine.dispose()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


def signed_in(browser, server: Server, name: str):
    """A fresh page signed in as ``name`` through the sign-in form."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True).new_page()
    page.goto(f"{server.url}/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def axe_violations(page) -> list[str]:
    """Serious and critical axe-core violations of the page (axe from its PyPI package, offline)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v["impact"] in SERIOUS]


def check(page, shot: str | None = None) -> None:
    assert axe_violations(page) == [], page.url
    if shot:
        IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(IMAGES / f"web-{shot}.png"), full_page=True)


@pytest.mark.parametrize("name", sorted(USERS))
def test_each_role_signs_in_and_sees_only_its_pages(browser, server: Server, name: str):
    page = signed_in(browser, server, name)
    role = USERS[name][0]
    links = {a.get_attribute("href") for a in page.locator("nav[aria-label=Main] a").all()}
    assert links == ALLOWED[role]
    for path in PAGES:
        if path == "/":
            continue
        response = page.goto(f"{server.url}{path}")
        assert response.status == (200 if path in ALLOWED[role] else 403), path
    page.context.close()


def test_coordinator_attaches_and_key_worker_sees_it_with_its_alert(browser, server: Server):
    free = server.families["free"]
    page = signed_in(browser, server, "fhw_co_cat")
    page.goto(f"{server.url}/cohort")
    row = page.locator("tr", has=page.locator(f"a[href='/family/{free}']"))
    row.locator("select[name=key_worker]").select_option("Bob Key")
    row.locator("button", has_text="Attach").click()
    page.wait_for_load_state()
    assert f"{free}: attached to Bob Key" in page.locator("[role=status]").inner_text()
    page.context.close()
    add_alert(server.wh, free, "Bob Key")
    bob = signed_in(browser, server, "fhw_kw_bob")
    card = bob.locator(".card", has=bob.locator(f"a[href='/family/{free}']"))
    assert "1 unread alert" in card.inner_text()
    bob.click(f"a[href='/family/{free}']")
    assert "test alert: police call-out" in bob.locator("#alerts").inner_text()
    bob.locator("#alerts button", has_text="Mark as seen").first.click()
    bob.wait_for_load_state()
    assert "seen" in bob.locator("#alerts").inner_text()
    bob.context.close()


def test_key_worker_editing_the_url_to_another_family_gets_404(browser, server: Server):
    page = signed_in(browser, server, "fhw_kw_ann")
    response = page.goto(f"{server.url}/family/{server.families['bob']}")
    assert response.status == 404
    denied = server.wh.scalar("select count(*) from ops.audit_log where action = 'denied' and family_id = :f "
                              "and actor = 'fhw_kw_ann'", {"f": server.families["bob"]})
    assert denied >= 1
    page.context.close()


def test_a_form_sent_without_its_csrf_token_is_refused(browser, server: Server):
    """The attach form on the cohort page, its hidden token removed in the browser: refused, and
    nothing attached."""
    page = signed_in(browser, server, "fhw_co_cat")
    page.goto(f"{server.url}/cohort")
    row = page.locator("tr", has=page.locator("button", has_text="Attach")).first
    family = row.locator("a[href^='/family/']").first.get_attribute("href").rsplit("/", 1)[1]
    before = server.wh.scalar("select count(*) from cohort.attachments where family_id = :f", {"f": family})
    row.locator("input[name=csrf]").evaluate("input => input.remove()")
    with page.expect_response(lambda r: r.request.method == "POST") as sent:
        row.locator("button", has_text="Attach").click()
    assert sent.value.status == 403
    assert server.wh.scalar("select count(*) from cohort.attachments where family_id = :f", {"f": family}) == before
    page.context.close()


def test_a_review_decision_in_the_browser_changes_the_next_link(browser, server: Server):
    page = signed_in(browser, server, "fhw_dt_dee")
    page.goto(f"{server.url}/review")
    page.fill("#reason", "weekly clerical review")
    page.click("button:has-text('Start reviewing')")
    left = page.locator("input[name=left]").get_attribute("value")
    right = page.locator("input[name=right]").get_attribute("value")
    persons = "select person_id from linked.mention_person where mention_id in (:l, :r)"
    same = server.wh.read(persons, {"l": left, "r": right})["person_id"].nunique() == 1
    page.click("button:has-text('Different people')" if same else "button:has-text('Same person')")
    page.wait_for_load_state()
    assert "recorded:" in page.locator("[role=status]").inner_text()
    page.context.close()
    link(server.wh, AS_OF)
    assert (server.wh.read(persons, {"l": left, "r": right})["person_id"].nunique() == 1) is (not same)


def test_every_page_passes_axe_and_is_screenshotted(browser, server: Server):
    anonymous = browser.new_context(bypass_csp=True).new_page()
    anonymous.goto(f"{server.url}/login")
    check(anonymous, "login")
    anonymous.context.close()

    ann = signed_in(browser, server, "fhw_kw_ann")
    check(ann, "my-families")
    ann.click(f"a[href='/family/{server.families['ann']}']")
    check(ann, "family")
    ann.fill("#reason", "case 4711 planning meeting")
    ann.click("button:has-text('Show the evidence and timeline')")
    check(ann, "family-full")
    ann.goto(f"{server.url}/family/{server.families['bob']}")
    check(ann)
    ann.context.close()

    cat = signed_in(browser, server, "fhw_co_cat")
    check(cat, "cohort")
    cat.goto(f"{server.url}/claims?programme=tf2015&window=2026-H2")
    check(cat, "claims")
    cat.context.close()

    max_ = signed_in(browser, server, "fhw_mg_max")
    check(max_, "cohort-manager")
    record_outcomes(server.wh, "tf2015", AS_OF)
    max_.goto(f"{server.url}/savings")
    check(max_, "savings")
    max_.context.close()

    dee = signed_in(browser, server, "fhw_dt_dee")
    check(dee, "feeds")
    dee.goto(f"{server.url}/review")
    check(dee)
    dee.fill("#reason", "weekly clerical review")
    dee.click("button:has-text('Start reviewing')")
    check(dee, "review")
    if dee.locator("button:has-text('Show the match weights')").count():
        dee.click("button:has-text('Show the match weights')")
        check(dee, "review-weights")
    dee.goto(f"{server.url}/family/{server.families['ann']}")
    check(dee)
    dee.context.close()
