"""The billing office's journeys in Chromium over a practice with more than 200 requests: search,
filter and page the worklist; amend a pended request and send it back; follow a reminder to the
letter; and the worklist at 390 px wide without sideways scrolling."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from factories import PatientFactory, advance, draft_for, entered_case
from policies.models import Payer
from priorauth import services
from priorauth.letters import services as letter_services
from priorauth.letters.models import Letter, LetterStatus
from priorauth.models import AuthorizationRequest, Status

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def busy(world):
    """210 drafts of Ada Moreno's and one sent request of Hugo Lindqvist's."""
    requests = [
        AuthorizationRequest(
            practice=world.practice_a,
            patient=world.patient_a,
            payer=Payer.objects.get(code="medicare"),
            treating_physician=world.bob_provider,
            case={},
            status=Status.DRAFT,
        )
        for _ in range(210)
    ]
    AuthorizationRequest.objects.bulk_create(requests)
    hugo = PatientFactory(practice=world.practice_a, first_name="Hugo", last_name="Lindqvist")
    sent = advance(
        draft_for(world, payer="medicare-advantage", patient=hugo),
        Status.SENT,
        world.alice,
    )
    return sent


def test_billing_staff_search_filter_and_page_the_worklist(world, busy, page_as, screenshot):
    page = page_as(world.alice)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Requests").click()
    expect(page.locator("#result-count")).to_contain_text("211 requests")
    expect(page.get_by_role("navigation", name="Pages")).to_contain_text("Page 1 of 5")
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Next").click()
    expect(page.get_by_role("navigation", name="Pages")).to_contain_text("Page 2 of 5")
    expect(page.locator("#result-count")).to_contain_text("showing 51–100")

    page.get_by_role("searchbox", name="Search").fill("lindq")
    page.get_by_role("button", name="Show requests").click()
    expect(page.locator("#result-count")).to_contain_text("1 request match")
    expect(page.get_by_role("link", name=busy.reference)).to_be_visible()

    page.get_by_role("searchbox", name="Search").fill("")
    page.get_by_label("Status").select_option("draft")
    page.get_by_role("button", name="Show requests").click()
    expect(page.locator("#result-count")).to_contain_text("210 requests match")
    expect(page.get_by_role("link", name=busy.reference)).to_have_count(0)
    screenshot(page, "billing-worklist-filtered")

    # 390 px: the table becomes stacked cards; nothing pushes the page sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/requests/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # Each row a card: its cells stacked, each labelled by its column (a CSS ::before from data-label).
    assert page.evaluate("getComputedStyle(document.querySelector('table.list.stack td')).display") == "block"
    assert (
        page.evaluate("getComputedStyle(document.querySelector('table.list.stack td'), '::before').content")
        == '"Reference: "'
    )
    screenshot(page, "billing-worklist-390px")
    page.goto("/dashboard/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_billing_staff_amend_a_pended_request_and_send_it_back(world, page_as):
    request = advance(draft_for(world, payer="medicare-advantage"), Status.PENDED, world.alice)
    page = page_as(world.alice)
    page.goto("/dashboard/")
    page.locator("#queue-pended").get_by_role("link", name=request.reference).click()
    page.get_by_role("link", name="Correct or add information").click()
    page.get_by_label("Why it is corrected").fill("The payer asked for the MRI measurement")
    page.get_by_label("Ligamentum flavum thickness (mm)").fill("3,4")
    expect(page.locator("#id_clinical__imaging__ligamentum_flavum_mm_readas")).to_have_text("Read as 3.4 mm.")
    page.get_by_label("Send it back to the payer now, with what was added").check()
    page.get_by_role("button", name="Save the correction").click()
    expect(page.get_by_role("status")).to_contain_text("Correction saved and sent back to the payer")
    expect(page.get_by_role("region", name="Corrections")).to_contain_text("3.4")
    request.refresh_from_db()
    assert request.status == Status.SENT and request.case["clinical"]["imaging"]["ligamentum_flavum_mm"] == 3.4


def test_the_physician_follows_a_reminder_to_the_letter(letter_texts, page_as, eager_tasks):
    world = letter_texts
    request = services.request_submit(
        request=services.request_create(
            practice=world.practice_a,
            patient=world.patient_a,
            payer=Payer.objects.get(code="medicare-advantage"),
            treating_physician=world.bob_provider,
            case=entered_case(),
            by=world.alice,
        ),
        by=world.alice,
    )
    letter, _ = letter_services.letter_request_draft(request=request, kind="prior_authorization", by=world.alice)
    letter.refresh_from_db()
    assert letter.status == LetterStatus.DRAFT_READY
    letter_services.letter_request_signature(letter=letter, by=world.alice)
    page = page_as(world.bob)
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name=re.compile(r"Notifications \(1 new\)")).click()
    page.get_by_role(
        "button",
        name=re.compile(f"A letter for request {request.reference} waits for your signature"),
    ).click()
    expect(page).to_have_url(re.compile(rf"/letters/{letter.pk}/$"))
    assert Letter.objects.get(pk=letter.pk).status == LetterStatus.AWAITING_SIGNATURE


def test_the_pages_fit_390_px_without_sideways_scrolling(world, page_as, screenshot):
    request = advance(draft_for(world, payer="medicare-advantage"), Status.DENIED, world.alice)
    page = page_as(world.alice)
    page.set_viewport_size({"width": 390, "height": 844})
    for path in (
        "/dashboard/",
        "/requests/",
        f"/requests/{request.pk}/",
        "/requests/new/",
        "/letters/",
        "/policy-changes/",
        "/metrics/",
        "/notifications/",
    ):
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide"
    screenshot(page, "billing-request-390px")
