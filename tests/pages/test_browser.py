"""The pages in a real browser (Debian's Chromium driven by Playwright): each role signs in, billing
staff fill in a case while the checklist follows and submit it, and an outsider is refused.
Screenshots of the main pages are saved in artifacts/screenshots/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from factories import addressed, entered_case
from policies.models import Criterion, Payer
from policies.services import policy_publish
from priorauth import services
from priorauth.models import AuthorizationRequest, Status

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def criterion(page, key: str):
    return page.locator(f'#checklist li.criterion[data-key="{key}"]')


def test_each_role_signs_in_to_its_start_page(world, page_as, screenshot):
    page = page_as(world.alice)
    expect(page).to_have_url(re.compile(r"/dashboard/$"))
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="New request")).to_be_visible()
    screenshot(page, "billing-dashboard")

    page = page_as(world.bob)
    expect(page).to_have_url(re.compile(r"/letters/$"))
    expect(page.get_by_role("heading", name="Letters to review and sign")).to_be_visible()
    page.get_by_role("link", name="My patients' requests").click()
    expect(page.get_by_role("heading", name="My patients' requests")).to_be_visible()
    screenshot(page, "physician-requests")

    page = page_as(world.adam)
    expect(page).to_have_url(re.compile(r"/policy-changes/$"))
    expect(page.get_by_role("link", name="Policies")).to_be_visible()
    screenshot(page, "admin-policy-changes")


def test_a_wrong_password_is_said_next_to_the_form(world, new_page, screenshot):
    page = new_page()
    page.goto("/accounts/login/")
    screenshot(page, "sign-in")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")


def test_billing_staff_fill_a_case_see_the_checklist_follow_and_submit_it(world, page_as, screenshot):
    page = page_as(world.alice)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="New request").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New prior-authorization request")
    expect(page.locator("#checklist")).to_contain_text("Choose the payer")

    page.get_by_label("Payer (required)").select_option("medicare")
    expect(criterion(page, "ligamentum_flavum")).to_contain_text("Missing")
    # The patient combobox, by keyboard: type, arrow down to the match, Enter.
    patient = page.get_by_role("combobox", name="Patient")
    patient.press_sequentially("Mor")
    expect(page.get_by_role("option", name=re.compile(r"^Moreno, Ada"))).to_be_visible()
    patient.press("ArrowDown")
    expect(patient).to_have_attribute("aria-activedescendant", re.compile(r"_option_0$"))
    patient.press("Enter")
    expect(patient).to_have_value(re.compile(r"^Moreno, Ada"))
    expect(page.get_by_label("First name")).to_be_hidden()  # the record supplies the patient's details
    page.get_by_label("Treating physician").select_option(str(world.bob_provider.pk))

    page.get_by_label("L4-L5").check()
    page.get_by_label("Planned date").fill("2026-12-15")
    page.get_by_label("Setting").select_option("hospital_outpatient")
    page.get_by_label("ICD-10-CM codes").fill("M48.062")
    symptoms = page.get_by_role("group", name="Symptoms")
    symptoms.get_by_label("Pain").check()
    page.get_by_role("group", name="Where").get_by_label("Legs").check()
    page.get_by_role("group", name="Worse when standing or walking?").get_by_label("Yes").check()
    page.get_by_label("Duration (months)").fill("9")
    page.get_by_label("Modality").select_option("MRI")
    page.get_by_label("Imaging date").fill("2026-09-01")

    thickness = page.get_by_label("Ligamentum flavum thickness (mm)")
    thickness.fill("4.1")
    expect(criterion(page, "ligamentum_flavum")).to_contain_text("Met")
    expect(criterion(page, "ligamentum_flavum")).to_contain_text("4.1 mm is at least 2.5 mm")
    thickness.fill("2.0")
    expect(criterion(page, "ligamentum_flavum")).to_contain_text("Not met")
    expect(page.locator("#checklist .checklist-decision")).to_contain_text("Not met")
    thickness.fill("4.1")
    expect(criterion(page, "ligamentum_flavum")).to_contain_text("Met")

    page.get_by_label("Spondylolisthesis grade (Meyerding)").select_option("1")
    page.get_by_label("Treatment, row 1").select_option("physical_therapy")
    page.get_by_label("Weeks, row 1").fill("8")
    page.get_by_label("Outcome, row 1").select_option("failed")
    page.get_by_label("No prior lumbar surgery").check()
    page.get_by_label("Pain rating NPRS (0–10)").fill("7")
    page.get_by_label("Oswestry Disability Index (0–100)").fill("42")
    page.get_by_label("Clinical study (NCT number)").fill("NCT03072927")
    expect(criterion(page, "conservative_care")).to_contain_text("Met")
    expect(criterion(page, "ced_study_enrollment")).to_contain_text("Met")
    expect(page.locator("#checklist .checklist-decision")).to_contain_text("Meets criteria")
    screenshot(page, "billing-new-request-checklist")

    page.get_by_role("button", name="Save and submit").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Request PA-")
    expect(page.get_by_role("status")).to_contain_text("submitted")
    expect(page.locator(".checklist-decision")).to_contain_text("Meets criteria")
    expect(page.get_by_role("heading", name="On the claim")).to_be_visible()
    screenshot(page, "billing-request-determination")
    page.emulate_media(media="print")
    expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
    expect(page.get_by_role("button", name="Record as sent")).to_be_hidden()
    screenshot(page, "billing-request-print")
    page.emulate_media(media="screen")

    saved = AuthorizationRequest.objects.get()
    assert saved.status == Status.SUBMITTED
    assert saved.determination["decision"] == "meets_criteria"
    assert saved.case["clinical"]["imaging"]["ligamentum_flavum_mm"] == 4.1
    assert saved.case["clinical"]["prior_lumbar_surgeries"] == []


def test_the_checklist_puts_an_invalid_entry_next_to_its_field(world, page_as):
    page = page_as(world.alice)
    page.goto("/requests/new/")
    page.get_by_label("Payer (required)").select_option("medicare")
    page.get_by_label("ICD-10-CM codes").fill("M48.06, M48.062")
    error = page.locator("#id_diagnoses_error")
    expect(error).to_contain_text("item 1: 'M48.06' is not a billable ICD-10-CM code")
    expect(page.get_by_label("ICD-10-CM codes")).to_have_attribute("aria-invalid", "true")
    # The rest of the case is still checked, the invalid code left out.
    expect(criterion(page, "lss_diagnosis")).to_contain_text("Met")
    page.get_by_label("ICD-10-CM codes").fill("M48.062")
    expect(error).to_be_empty()
    expect(page.get_by_label("ICD-10-CM codes")).not_to_have_attribute("aria-invalid", "true")


def test_the_server_puts_errors_next_to_their_fields(world, page_as, screenshot):
    page = page_as(world.alice)
    page.goto("/requests/new/")
    page.get_by_label("Payer (required)").select_option("medicare")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("alert").first).to_contain_text("The request was not saved")
    expect(page.locator("#id_provider_error")).to_contain_text("This field is required")
    expect(page.locator("#id_patient__first_name_error")).to_contain_text("Enter the patient's first name")
    expect(page.get_by_label("Treating physician")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "billing-new-request-errors")


def test_a_user_of_another_practice_is_refused(world, page_as, screenshot):
    request = services.request_create(
        practice=world.practice_a,
        patient=world.patient_a,
        payer=Payer.objects.get(code="medicare"),
        treating_physician=world.bob_provider,
        case=entered_case(),
        by=world.alice,
    )
    page = page_as(world.charlie)
    response = page.goto(f"/requests/{request.pk}/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("Moreno")
    screenshot(page, "outsider-refused")

    page = page_as(world.erin)
    assert page.goto(f"/requests/{request.pk}/").status == 404


def test_a_letter_is_asked_for_then_the_physician_edits_signs_and_downloads_it(
    letter_texts, page_as, screenshot, eager_tasks
):
    world = letter_texts
    request = services.request_create(
        practice=world.practice_a,
        patient=world.patient_a,
        payer=Payer.objects.get(code="medicare-advantage"),
        treating_physician=world.bob_provider,
        case=entered_case(),
        by=world.alice,
    )
    # Original Medicare has no prior-authorization letter; a letter is signed only with an addressee (issue 11).
    addressed(services.request_submit(request=request, by=world.alice))

    page = page_as(world.alice)
    page.goto(f"/requests/{request.pk}/")
    page.get_by_role("button", name="Ask for the prior-authorization letter").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Prior-authorization request")
    expect(page.locator(".facts [role=status]")).to_have_text("Draft ready for review", timeout=60_000)
    page.get_by_role("button", name=re.compile("Send to Bob Baker, MD for signature")).click()
    expect(page.locator(".facts [role=status]")).to_have_text("Awaiting the physician's signature")
    screenshot(page, "billing-letter")

    page = page_as(world.bob)
    expect(page).to_have_url(re.compile(r"/letters/$"))
    awaiting = page.get_by_role("table", name="Awaiting your review and signature")
    expect(awaiting).to_contain_text(request.reference)
    screenshot(page, "physician-letters-awaiting")
    awaiting.get_by_role("link", name=re.compile("Prior-authorization request")).click()

    page.get_by_role("link", name="Edit the narrative").click()
    first = page.get_by_label("Sentence 1").first
    first.fill("I am writing on behalf of my patient, who has lumbar spinal stenosis, to ask for the mild procedure.")
    screenshot(page, "physician-letter-edit")
    page.get_by_role("button", name="Save the narrative").click()
    expect(page.get_by_role("status").first).to_contain_text("Saved")
    expect(page.locator(".facts [role=status]")).to_have_text("Draft ready for review", timeout=60_000)
    expect(page.locator(".narrative-view")).to_contain_text("I am writing on behalf of my patient")

    page.get_by_role("button", name="Sign the letter").click()
    expect(page.locator(".facts [role=status]")).to_have_text("Signed", timeout=60_000)
    screenshot(page, "physician-letter-signed")
    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile("Download the signed PDF")).click()
    download = download_info.value
    assert download.suggested_filename == f"{request.reference}-prior_authorization-r1-final.pdf"
    with open(download.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"


def test_the_admin_sees_which_open_requests_a_policy_change_affected(world, page_as, screenshot, eager_tasks):
    request = services.request_create(
        practice=world.practice_a,
        patient=world.patient_a,
        payer=Payer.objects.get(code="medicare"),
        treating_physician=world.bob_provider,
        case=entered_case(),
        by=world.alice,
    )
    criterion = Criterion.objects.get(policy__payer__code="medicare", key="ligamentum_flavum")
    criterion.value = 5
    criterion.save()
    version = policy_publish(policy=criterion.policy, by=world.adam, summary="threshold raised to 5 mm")
    services.requests_recheck(version=version)

    page = page_as(world.adam)
    table = page.get_by_role("table")
    expect(table).to_contain_text(request.reference)
    expect(table).to_contain_text("Meets criteria → Not met")
    screenshot(page, "admin-policy-changes-affected")
    page.get_by_role("link", name="its history").click()
    expect(page).to_have_url(re.compile(rf"/admin/policies/policy/{version.policy_id}/history/$"))
    screenshot(page, "admin-policy-history")


def test_an_unattended_page_signs_itself_out(world, page_as, settings):
    settings.SESSION_IDLE_TIMEOUT = 3
    page = page_as(world.alice)
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    # idle.js reloads the page a little after the server's limit; the server then signs out.
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/dashboard/$"), timeout=15_000)
    expect(page.get_by_role("status")).to_contain_text("signed out after 1 minute without activity")
    expect(page.locator("body")).not_to_contain_text("Lakeside Pain Center")


def test_the_keyboard_reaches_the_content_first_through_the_skip_link(world, page_as):
    page = page_as(world.alice)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#main$"))
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="New request").last).to_be_focused()
