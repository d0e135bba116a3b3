"""Personas, signed-in clients and a real browser for the page tests.

alice   billing clerk of practice A
bob     physician of practice A, the treating physician of A's requests
adam    admin of practice A
charlie physician of practice B: the outsider who must be refused
erin    billing clerk of practice B

The browser is Debian's Chromium (/usr/bin/chromium, installed by .ci/run) driven by Playwright's
sync API against pytest-django's live_server, at a 1366×768 laptop's size. Screenshots go to
artifacts/screenshots/: the ones a test takes on purpose, and one of the page at any failure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.test import Client

from factories import PASSWORD, PatientFactory, PracticeFactory, ProviderFactory, member
from priorauth.models import Role

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
LAPTOP = {"width": 1366, "height": 768}


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def world(seeded):
    a = PracticeFactory(name="Lakeside Pain Center")
    b = PracticeFactory(name="Hillcrest Spine")
    w = SimpleNamespace(practice_a=a, practice_b=b, password=PASSWORD)
    w.alice = member("alice", a, Role.BILLING)
    w.bob = member("bob", a, Role.PHYSICIAN)
    w.adam = member("adam", a, Role.ADMIN)
    w.charlie = member("charlie", b, Role.PHYSICIAN)
    w.erin = member("erin", b, Role.BILLING)
    w.bob_provider = ProviderFactory(practice=a, name="Bob Baker, MD", user=w.bob)
    w.charlie_provider = ProviderFactory(practice=b, name="Charlie Chen, MD", user=w.charlie)
    w.patient_a = PatientFactory(practice=a, first_name="Ada", last_name="Moreno")
    w.patient_b = PatientFactory(practice=b, first_name="Basil", last_name="Quist")
    return w


@pytest.fixture
def letter_texts(world):
    """The shipped letter texts (evidence claims, coverage and rebuttal paragraphs) letters cite."""
    from policies.services import letters_seed

    letters_seed()
    return world


@pytest.fixture
def client_for(db):
    """client_for(user): a test client signed in as that persona (a fresh client each call)."""

    def sign_in(user) -> Client:
        c = Client()
        c.force_login(user)
        return c

    return sign_in


# ---------------------------------------------------------------------------------------------
# The browser


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:120]


@pytest.fixture(scope="session")
def _stale_failure_screenshots_removed() -> None:
    for stale in SCREENSHOTS.glob("FAILED-*.png"):  # a failure's screenshot is of this run
        stale.unlink()


@pytest.fixture(scope="module")
def browser(_stale_failure_screenshots_removed) -> Iterator[object]:
    """Chromium for one test file (each test gets fresh contexts: new_page). Per file, not per
    session: while Playwright's sync API runs, its event loop counts as running in this thread, and
    Django then refuses synchronous database calls as if they came from async code;
    DJANGO_ALLOW_ASYNC_UNSAFE lifts that for the browser test files only (every test in them drives
    the browser), and other tests run with no loop about. Starting Playwright's driver and Chromium
    takes seconds, more than many of these tests themselves."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def screenshot(request):
    """screenshot(page, name): a full-page PNG in artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{_slug(name)}.png"
        page.evaluate("window.scrollTo(0, 0)")  # from the top, so sticky panels sit where a reader sees them
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def new_page(request, browser, live_server):
    """new_page(): a page in a fresh browser context (its own cookies) on the live server; the
    contexts close after the test, each first saving a screenshot if the test failed."""
    contexts = []

    def open_page():
        context = browser.new_context(base_url=live_server.url, viewport=LAPTOP, accept_downloads=True)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        return page

    page_errors: list[str] = []
    yield open_page
    failed = getattr(request.node, "report_call", None) is not None and request.node.report_call.failed
    for index, context in enumerate(contexts):
        if failed:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            for n, page in enumerate(context.pages):
                page.screenshot(
                    path=str(SCREENSHOTS / f"FAILED-{_slug(request.node.name)}-{index}-{n}.png"), full_page=True
                )
        context.close()
    assert not page_errors, f"JavaScript errors on the pages: {page_errors}"


@pytest.fixture
def page_as(new_page):
    """page_as(user): a new browser page, signed in through the sign-in form as that persona."""

    def open_signed_in(user, password: str = PASSWORD):
        page = new_page()
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state("load")
        return page

    return open_signed_in
