"""Billing staff's pages: the dashboard, the request list, the new-request form and the request page
with its status actions, payer answer, appeal and attachments; each permission-scoped."""

from __future__ import annotations

import datetime as dt
import html as html_module
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from factories import PatientFactory, entered_case
from policies.models import Payer
from priorauth import services
from priorauth.models import AuditEntry, AuthorizationRequest, Patient, Status

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def draft(world, *, payer: str = "medicare", **case) -> AuthorizationRequest:
    return services.request_create(
        practice=world.practice_a,
        patient=world.patient_a,
        payer=Payer.objects.get(code=payer),
        treating_physician=world.bob_provider,
        case=entered_case(**case),
        by=world.alice,
    )


def submitted(world, **kwargs) -> AuthorizationRequest:
    return services.request_submit(request=draft(world, **kwargs), by=world.alice)


def sent(world, *, at: dt.datetime | None = None) -> AuthorizationRequest:
    at = at or timezone.now() - dt.timedelta(days=1)
    request = services.request_submit(request=draft(world, payer="medicare-advantage"), by=world.alice, submitted_at=at)
    return services.request_send(request=request, by=world.alice, sent_at=at)


def denied(world, *, days_ago: int = 2) -> AuthorizationRequest:
    """Denied by Medicare Advantage `days_ago` days ago (its first appeal level: 65 days to file)."""
    request = sent(world, at=timezone.now() - dt.timedelta(days=days_ago + 1))
    services.decision_record(
        request=request,
        by=world.alice,
        decision="denied",
        received_at=timezone.now() - dt.timedelta(days=days_ago),
        stated_reason="Experimental/investigational",
        reason_category="investigational",
    )
    request.refresh_from_db()
    return request


def form_data(world, **overrides) -> dict[str, str]:
    """A new-request form filled as billing staff would, for an existing patient."""
    data = {
        "payer": "medicare",
        "patient": str(world.patient_a.pk),
        "provider": str(world.bob_provider.pk),
        "procedure__cpt": "0275T",
        "procedure__levels": ["L4-L5"],
        "procedure__planned_date": "2026-12-15",
        "procedure__setting": "hospital_outpatient",
        "diagnoses": "M48.062",
        "clinical__symptoms__types": ["pain", "heaviness"],
        "clinical__symptoms__locations": ["legs", "buttocks"],
        "clinical__symptoms__with_standing_or_walking": "yes",
        "clinical__symptoms__duration_months": "9",
        "clinical__imaging__modality": "MRI",
        "clinical__imaging__date": "2026-09-01",
        "clinical__imaging__ligamentum_flavum_mm": "4.1",
        "clinical__spondylolisthesis_grade": "1",
        "clinical__prior_lumbar_surgeries__none": "on",
        "clinical__pain__vas_leg": "70",
        "clinical__pain__nprs": "7",
        "clinical__pain__odi": "42",
        "administrative__clinical_study_nct": "NCT03072927",
        "care-TOTAL_FORMS": "3",
        "care-INITIAL_FORMS": "0",
        "care-MIN_NUM_FORMS": "0",
        "care-MAX_NUM_FORMS": "20",
        "care-0-type": "physical_therapy",
        "care-0-weeks": "8",
        "care-0-outcome": "failed",
        "care-1-type": "oral_analgesics",
        "care-1-weeks": "24",
        "care-1-outcome": "partial",
        "surgery-TOTAL_FORMS": "2",
        "surgery-INITIAL_FORMS": "0",
        "surgery-MIN_NUM_FORMS": "0",
        "surgery-MAX_NUM_FORMS": "10",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def error_of(html: str, field_id: str) -> str:
    """The text of the error element right below an input (its aria-describedby target)."""
    match = re.search(rf'<div class="field-error" id="{field_id}_error">(.*?)</div>', html, re.DOTALL)
    assert match, f"no error element for {field_id}"
    return html_module.unescape(re.sub(r"<[^>]+>", " ", match.group(1)).strip())


# ---------------------------------------------------------------------------------------------
# The new-request form


def test_it_shows_the_case_fields_grouped_with_a_label_for_each(client_for, world):
    html = client_for(world.alice).get("/requests/new/").content.decode()
    for legend in (
        "Payer, patient and physician",
        "Planned procedure",
        "Diagnoses",
        "Symptoms",
        "Imaging",
        "Spinal stability",
        "Conservative care",
        "Prior lumbar surgery",
        "Pain and function",
        "Administrative and payer-specific",
    ):
        assert f"<legend>{legend}</legend>" in html
    for tag, field_id in re.findall(r'<((?:input|select|textarea)[^>]*) id="(id_[^"]+)"', html):
        if "__prefix__" in field_id or 'type="hidden"' in tag:
            continue
        assert f'for="{field_id}"' in html, f"{field_id} has no label"
    assert '<script src="/static/priorauth/checklist.js" defer></script>' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline scripts are refused by the CSP"
    assert 'data-path="clinical.imaging.ligamentum_flavum_mm"' in html
    assert 'aria-live="polite"' in html


def test_it_offers_only_the_practice_patients_and_physicians(client_for, world):
    client = client_for(world.alice)
    html = client.get("/requests/new/").content.decode()
    # Patients are searched as staff type (the combobox), never all sent with the page.
    assert "Moreno" not in html and 'role="combobox"' in html
    assert "Bob Baker, MD" in html and "Charlie Chen" not in html
    found = client.get("/requests/patients/?q=Mor").json()["results"]
    assert [p["id"] for p in found] == [world.patient_a.pk] and found[0]["label"].startswith("Moreno, Ada")
    assert client.get("/requests/patients/?q=Quist").json()["results"] == []
    assert AuditEntry.objects.filter(
        user=world.alice,
        action="list",
        object_type="priorauth.patient",
        detail=f"patient search ids={world.patient_a.pk}",
    ).exists()


def test_it_saves_a_draft_and_shows_its_checklist(client_for, world):
    response = client_for(world.alice).post("/requests/new/", form_data(world, save="1"), follow=True)
    request = AuthorizationRequest.objects.get()
    assert response.redirect_chain[-1][0] == f"/requests/{request.pk}/"
    assert request.status == Status.DRAFT
    assert request.case["clinical"]["conservative_care"] == [
        {"type": "physical_therapy", "weeks": 8, "outcome": "failed"},
        {"type": "oral_analgesics", "weeks": 24, "outcome": "partial"},
    ]
    assert request.case["clinical"]["prior_lumbar_surgeries"] == []
    assert request.case["clinical"]["symptoms"]["with_standing_or_walking"] is True
    html = response.content.decode()
    assert "saved as a draft" in html
    assert "this is what the checker says now" in html
    assert "Overall: Meets criteria" in html


def test_it_submits_and_records_the_determination(client_for, world):
    response = client_for(world.alice).post("/requests/new/", form_data(world, submit="1"), follow=True)
    request = AuthorizationRequest.objects.get()
    assert request.status == Status.SUBMITTED
    assert request.determination["decision"] == "meets_criteria"
    html = response.content.decode()
    assert "Submitted" in html and "Modifier Q0" in html
    assert AuditEntry.objects.filter(
        user=world.alice, action="update", object_id=str(request.pk), detail="submit"
    ).exists()


def test_it_creates_a_new_patient_from_the_form(client_for, world):
    data = form_data(
        world,
        patient="",
        patient__first_name="Iris",
        patient__last_name="Okafor",
        patient__birth_date="1950-05-06",
        patient__sex="F",
        patient__member_id="9XY1",
        save="1",
    )
    client_for(world.alice).post("/requests/new/", data)
    patient = Patient.objects.get(last_name="Okafor")
    assert patient.practice == world.practice_a
    assert AuthorizationRequest.objects.get().patient == patient


def test_it_puts_each_error_next_to_its_field(client_for, world):
    data = form_data(
        world,
        patient="",
        provider="",
        save="1",
        clinical__imaging__ligamentum_flavum_mm="31",
        diagnoses="M48.06, M48.062",
        **{"care-0-weeks": "-2"},
    )
    response = client_for(world.alice).post("/requests/new/", data)
    html = response.content.decode()
    assert response.status_code == 200
    assert AuthorizationRequest.objects.count() == 0
    assert "The request was not saved" in html
    assert error_of(html, "id_provider") == "This field is required."
    assert error_of(html, "id_patient__first_name") == "Enter the patient's first name, or choose a patient above."
    assert re.search(r'<select name="provider"[^>]*aria-invalid="true"', html)


def test_it_puts_the_contract_errors_next_to_their_fields(client_for, world):
    data = form_data(
        world,
        clinical__imaging__ligamentum_flavum_mm="31",
        diagnoses="M48.06, M48.062",
        save="1",
        **{"care-1-weeks": "-2"},
    )
    html = client_for(world.alice).post("/requests/new/", data).content.decode()
    assert AuthorizationRequest.objects.count() == 0
    assert error_of(html, "id_clinical__imaging__ligamentum_flavum_mm") == "must be between 0 and 30"
    assert error_of(html, "id_diagnoses") == "item 1: 'M48.06' is not a billable ICD-10-CM code"
    assert error_of(html, "id_care-1-weeks") == "must be between 0 and 5200"
    assert re.search(r'<input[^>]*name="clinical__imaging__ligamentum_flavum_mm"[^>]*aria-invalid="true"', html)


def test_it_refuses_the_form_to_physicians_and_admins(client_for, world):
    assert client_for(world.bob).get("/requests/new/").status_code == 403
    assert client_for(world.adam).post("/requests/new/", form_data(world)).status_code == 403
    assert AuthorizationRequest.objects.count() == 0


def test_it_refuses_another_practice_patient_or_physician(client_for, world):
    data = form_data(world, patient=str(world.patient_b.pk), provider=str(world.charlie_provider.pk), save="1")
    html = client_for(world.alice).post("/requests/new/", data).content.decode()
    assert AuthorizationRequest.objects.count() == 0
    assert (
        error_of(html, "id_patient") == "Choose the patient from the list of matches, or leave empty for a new patient."
    )
    assert "Select a valid choice" in error_of(html, "id_provider")


def test_it_edits_a_draft_only(client_for, world):
    request = draft(world)
    client = client_for(world.alice)
    html = client.get(f"/requests/{request.pk}/edit/").content.decode()
    assert 'value="4.1"' in html  # the stored case fills the form
    client.post(
        f"/requests/{request.pk}/edit/", form_data(world, clinical__imaging__ligamentum_flavum_mm="2.0", save="1")
    )
    request.refresh_from_db()
    assert request.case["clinical"]["imaging"]["ligamentum_flavum_mm"] == 2
    assert request.decision == "not_met"

    services.request_submit(request=request, by=world.alice)
    response = client.get(f"/requests/{request.pk}/edit/", follow=True)
    assert "Only a draft can be edited" in response.content.decode()


# ---------------------------------------------------------------------------------------------
# The request page


def test_it_shows_the_request_with_determination_missing_items_and_claim_requirements(client_for, world):
    request = submitted(world, **{k: v for k, v in entered_case("imaging-missing").items()})
    html = client_for(world.alice).get(f"/requests/{request.pk}/").content.decode()
    assert f"Request {request.reference}" in html
    assert "Moreno, Ada" in html
    assert "Still missing" in html and "Ligamentum flavum thickness (MRI or CT report) is not documented" in html
    assert "On the claim" in html and "Secondary diagnosis Z00.6" in html
    assert "Send to the payer" in html
    entry = AuditEntry.objects.get(user=world.alice, action="read", object_type="priorauth.authorizationrequest")
    assert entry.object_id == str(request.pk)


@pytest.mark.parametrize("outsider", ["charlie", "erin"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/requests/{pk}/"),
        ("get", "/requests/{pk}/edit/"),
        ("post", "/requests/{pk}/submit/"),
        ("post", "/requests/{pk}/send/"),
        ("post", "/requests/{pk}/withdraw/"),
        ("post", "/requests/{pk}/decision/"),
        ("post", "/requests/{pk}/appeal/"),
        ("post", "/requests/{pk}/attachments/"),
        ("post", "/requests/{pk}/letters/"),
        ("get", "/requests/{pk}/attachments/1/"),
    ],
)
def test_it_answers_404_for_another_practice_request(client_for, world, outsider, method, path):
    request = draft(world)
    response = getattr(client_for(getattr(world, outsider)), method)(path.format(pk=request.pk))
    assert response.status_code == 404
    assert "Moreno" not in response.content.decode()
    request.refresh_from_db()
    assert request.status == Status.DRAFT


def test_it_lets_the_treating_physician_read_but_not_act(client_for, world):
    request = submitted(world)
    client = client_for(world.bob)
    html = client.get(f"/requests/{request.pk}/").content.decode()
    assert "Overall: Meets criteria" in html
    assert "Send to the payer" not in html and "The payer&#x27;s answer" not in html
    assert client.post(f"/requests/{request.pk}/send/", {}).status_code == 403
    request.refresh_from_db()
    assert request.status == Status.SUBMITTED


def test_it_records_sending_and_the_payer_answer(client_for, world):
    # Submitted two hours ago (dates run submitted ≤ sent ≤ decided).
    request = services.request_submit(
        request=draft(world, payer="medicare-advantage"),
        by=world.alice,
        submitted_at=timezone.now() - dt.timedelta(hours=2),
    )
    client = client_for(world.alice)
    too_early = (timezone.localtime() - dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    refused = client.post(f"/requests/{request.pk}/send/", {"sent_at": too_early, "note": ""})
    assert refused.status_code == 400
    assert "is before the request was submitted" in error_of(refused.content.decode(), "id_sent_at")
    an_hour_ago = (timezone.localtime() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(f"/requests/{request.pk}/send/", {"sent_at": an_hour_ago, "note": ""}, follow=True)
    assert "Recorded as sent" in response.content.decode()
    request.refresh_from_db()
    assert request.status == Status.SENT and request.decision_due_at is not None

    # A denial needs the payer's reason: said next to the field.
    now = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
    response = client.post(f"/requests/{request.pk}/decision/", {"decision": "denied", "received_at": now})
    assert response.status_code == 400
    html = response.content.decode()
    assert error_of(html, "id_stated_reason") == "Give the payer's stated reason for the denial."
    assert error_of(html, "id_reason_category").startswith("Must be one of: investigational, criteria_not_met")

    # Issue 11: the notice's code and the deficiencies it names (criteria and its own words).
    client.post(
        f"/requests/{request.pk}/decision/",
        {
            "decision": "denied",
            "received_at": now,
            "stated_reason": "Investigational",
            "reason_category": "investigational",
            "denial_code": "CO-50",
            "deficient_criteria": ["conservative_care"],
            "deficiency_texts": "No PT notes received\n",
        },
    )
    request.refresh_from_db()
    assert request.status == Status.DENIED
    denial = request.decisions.get()
    assert denial.denial_code == "CO-50"
    assert denial.deficiencies == [
        {"criterion": "conservative_care", "text": ""},
        {"criterion": "", "text": "No PT notes received"},
    ]
    html = client.get(f"/requests/{request.pk}/").content.decode()
    assert "(code CO-50)" in html and "No PT notes received" in html
    assert "Appeal:" in html and "Start the appeal" in html

    response = client.post(f"/requests/{request.pk}/appeal/", {"filed_at": "", "note": ""}, follow=True)
    request.refresh_from_db()
    assert request.status == Status.APPEAL_IN_PROGRESS
    assert "Appeal started" in response.content.decode()


def test_it_refuses_a_future_send_date_next_to_the_field(client_for, world):
    request = submitted(world)
    future = (timezone.localtime() + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    html = client_for(world.alice).post(f"/requests/{request.pk}/send/", {"sent_at": future}).content.decode()
    assert error_of(html, "id_sent_at") == "Must not be in the future."


def test_it_withdraws_a_request(client_for, world):
    request = draft(world)
    client_for(world.alice).post(f"/requests/{request.pk}/withdraw/", {"withdraw-note": "patient moved"})
    request.refresh_from_db()
    assert request.status == Status.WITHDRAWN
    assert request.transitions.last().note == "patient moved"


def test_it_attaches_a_file_and_serves_it_back(client_for, world):
    request = submitted(world)
    client = client_for(world.alice)
    upload = SimpleUploadedFile("Moreno MRI.pdf", PDF, content_type="application/pdf")
    response = client.post(
        f"/requests/{request.pk}/attachments/", {"kind": "imaging_report", "file": upload}, follow=True
    )
    assert "The file is attached" in response.content.decode()
    attachment = request.attachments.get()
    response = client.get(f"/requests/{request.pk}/attachments/{attachment.pk}/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Disposition"].startswith("attachment")
    assert AuditEntry.objects.filter(
        action="download", object_type="priorauth.attachment", object_id=str(attachment.pk)
    ).exists()
    # Another request's attachment number under this request is not found.
    other = draft(world)
    assert client.get(f"/requests/{other.pk}/attachments/{attachment.pk}/").status_code == 404


def test_it_says_why_a_file_was_refused_next_to_the_file_input(client_for, world):
    request = submitted(world)
    upload = SimpleUploadedFile("notes.pdf", b"MZ not a pdf", content_type="application/pdf")
    response = client_for(world.alice).post(
        f"/requests/{request.pk}/attachments/", {"kind": "clinical_note", "file": upload}
    )
    assert response.status_code == 400
    assert error_of(response.content.decode(), "id_file") == "The file's content is not application/pdf."
    assert request.attachments.count() == 0


# ---------------------------------------------------------------------------------------------
# Dashboard and list


def test_the_dashboard_counts_requests_by_status_and_shows_deadlines(client_for, world):
    draft(world)
    overdue = sent(world, at=timezone.now() - dt.timedelta(days=30))
    appeal_due = denied(world, days_ago=60)
    services.request_create(
        practice=world.practice_b,
        patient=world.patient_b,
        payer=Payer.objects.get(code="medicare"),
        treating_physician=world.charlie_provider,
        case=entered_case(),
        by=world.erin,
    )
    html = client_for(world.alice).get("/dashboard/").content.decode()
    assert "(3 in all)" in html
    # Each status in its words and its own colour class (app.css .st-*).
    assert re.search(r'<span class="n">1</span> <span class="badge st st-draft">Draft', html)
    assert re.search(r'<span class="n">1</span> <span class="badge st st-sent">Sent to payer', html)
    assert re.search(r'<span class="n">1</span> <span class="badge st st-denied">Denied', html)
    overdue_table = html.split("<caption>Overdue</caption>")[1].split("</table>")[0]
    assert overdue.reference in overdue_table and "Overdue since" in overdue_table
    assert 4 <= (appeal_due.appeal_file_by - timezone.localdate()).days <= 6  # 65 days after the denial
    appeals = html.split("Last day to file the next appeal level</caption>")[1].split("</table>")[0]
    assert appeal_due.reference in appeals and "Last day to file the appeal" in appeals
    assert "Quist" not in html


def test_the_request_list_filters_by_status_and_stays_in_the_practice(client_for, world):
    one, two = draft(world), submitted(world)
    html = client_for(world.alice).get("/requests/?status=submitted").content.decode()
    assert two.reference in html and one.reference not in html
    assert one.reference not in client_for(world.erin).get("/requests/").content.decode()


def test_the_physician_sees_only_their_patients_requests(client_for, world):
    from factories import ProviderFactory, member
    from priorauth.models import Role

    mine = draft(world)
    dave = member("dave", world.practice_a, Role.PHYSICIAN)
    dave_provider = ProviderFactory(practice=world.practice_a, name="Dave Diaz, MD", user=dave)
    theirs = services.request_create(
        practice=world.practice_a,
        patient=world.patient_a,
        payer=Payer.objects.get(code="medicare"),
        treating_physician=dave_provider,
        case=entered_case(),
        by=world.alice,
    )
    html = client_for(world.bob).get("/physician/").content.decode()
    assert mine.reference in html and theirs.reference not in html
    assert client_for(world.bob).get(f"/requests/{theirs.pk}/").status_code == 404


def test_the_form_holds_no_patient_of_a_large_practice_but_the_chosen_one(client_for, world):
    # Issue 12: the page once carried every patient of the practice, twice, as JSON.
    others = [PatientFactory(practice=world.practice_a, last_name=f"Quaglia{i:03d}") for i in range(120)]
    chosen = others[57]
    client = client_for(world.alice)
    html = client.get("/requests/new/").content.decode()
    assert "Quaglia" not in html and "Moreno" not in html and 'role="combobox"' in html

    # Re-shown with an error, and when its draft is edited: the chosen patient alone.
    response = client.post("/requests/new/", form_data(world, patient=str(chosen.pk), provider="", save="1"))
    html = response.content.decode()
    assert response.status_code == 200 and 'role="combobox"' in html  # the form again, with its error
    assert re.findall(r"Quaglia\d+", html) and set(re.findall(r"Quaglia\d+", html)) == {"Quaglia057"}
    assert "Moreno" not in html
    response = client.post("/requests/new/", form_data(world, patient=str(chosen.pk), save="1"))
    assert response.status_code == 302
    html = client.get(f"{response['Location']}edit/").content.decode()
    assert set(re.findall(r"Quaglia\d+", html)) == {"Quaglia057"} and "Moreno" not in html


def test_the_request_page_takes_as_many_queries_with_many_attachments_letters_and_appeals_as_with_one(
    client_for, world, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from request_history import grow

    from factories import addressed, advance

    request = addressed(advance(draft(world, payer="medicare-advantage"), Status.APPEAL_DENIED, world.alice))
    grow(request, world.alice, n=1)
    for who in (world.alice, world.bob):
        client = client_for(who)
        with CaptureQueriesContext(connection) as few:
            assert client.get(f"/requests/{request.pk}/").status_code == 200
        grow(request, who, n=6)
        with django_assert_max_num_queries(len(few)):
            response = client.get(f"/requests/{request.pk}/")
        assert response.status_code == 200 and "report-5.pdf" in response.content.decode()
