"""Letter pages: billing staff ask for a letter and hand it over; the treating physician reviews,
edits the narrative, signs and downloads the PDFs. Nobody else sees it."""

from __future__ import annotations

import html as html_module
import re

import pytest

from factories import addressed, entered_case
from policies.models import Payer
from priorauth import services
from priorauth.letters.models import Letter, LetterStatus
from priorauth.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _renders_in_process(eager_tasks):
    """Renders run in the test's process, with or without a Redis broker (CI sets one)."""


@pytest.fixture
def submitted(letter_texts):
    world = letter_texts
    # Original Medicare has no prior-authorization letter (issue 11): Medicare Advantage has one.
    request = services.request_create(
        practice=world.practice_a,
        patient=world.patient_a,
        payer=Payer.objects.get(code="medicare-advantage"),
        treating_physician=world.bob_provider,
        case=entered_case(),
        by=world.alice,
    )
    return addressed(services.request_submit(request=request, by=world.alice))


@pytest.fixture
def letter(submitted, client_for, django_capture_on_commit_callbacks, world):
    """A prior-authorization letter asked for by alice, its draft rendered (in-process)."""
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(world.alice).post(f"/requests/{submitted.pk}/letters/", {"kind": "prior_authorization"})
    assert response.status_code == 302
    letter = Letter.objects.get()
    assert response["Location"] == f"/letters/{letter.pk}/"
    assert letter.status == LetterStatus.DRAFT_READY
    return letter


def error_of(html: str, field_id: str) -> str:
    match = re.search(rf'<div class="field-error" id="{field_id}_error">(.*?)</div>', html, re.DOTALL)
    assert match, f"no error element for {field_id}"
    return html_module.unescape(re.sub(r"<[^>]+>", " ", match.group(1)).strip())


def test_a_letter_needs_a_submitted_request(client_for, letter_texts):
    world = letter_texts
    request = services.request_create(
        practice=world.practice_a,
        patient=world.patient_a,
        payer=Payer.objects.get(code="medicare"),
        treating_physician=world.bob_provider,
        case=entered_case(),
        by=world.alice,
    )
    client = client_for(world.alice)
    assert "submit the request first" in client.get(f"/requests/{request.pk}/").content.decode()
    response = client.post(f"/requests/{request.pk}/letters/", {"kind": "prior_authorization"})
    assert response.status_code == 400
    assert "Submit the request first" in html_module.unescape(response.content.decode())
    assert not Letter.objects.exists()


def test_billing_staff_see_the_letter_and_its_state(client_for, world, letter):
    client = client_for(world.alice)
    html = client.get("/letters/").content.decode()
    assert "Draft ready for review" in html and letter.request.reference in html
    html = client.get(f"/letters/{letter.pk}/").content.decode()
    assert "Download the draft PDF" in html
    assert "Edit the narrative" not in html and "Sign the letter" not in html
    client.post(f"/letters/{letter.pk}/hand-over/")
    letter.refresh_from_db()
    assert letter.status == LetterStatus.AWAITING_SIGNATURE


def test_the_physician_finds_the_letters_awaiting_them(client_for, world, letter):
    html = client_for(world.bob).get("/letters/").content.decode()
    awaiting = html.split("Awaiting your review and signature</caption>")[1].split("</table>")[0]
    assert letter.request.reference in awaiting


def test_the_physician_edits_the_narrative(client_for, world, letter, django_capture_on_commit_callbacks):
    client = client_for(world.bob)
    html = client.get(f"/letters/{letter.pk}/edit/").content.decode()
    assert 'name="p0_s0"' in html and "<legend>Paragraph 1</legend>" in html
    revision = letter.current_revision
    data = {"enclosures": "MRI report of 09/01/2026"}
    for i, paragraph in enumerate(revision.paragraphs):
        data[f"p{i}_heading"] = paragraph["heading"]
        for j, sentence in enumerate(paragraph["sentences"]):
            data[f"p{i}_s{j}"] = sentence["text"]
    data["p0_s0"] = "I write for my patient, who needs the mild procedure."
    data["p0_new"] = "I have treated this patient for two years."
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/letters/{letter.pk}/edit/", data)
    assert response.status_code == 302
    revision.refresh_from_db()
    assert revision.paragraphs[0]["sentences"][0]["text"] == "I write for my patient, who needs the mild procedure."
    assert revision.paragraphs[0]["sentences"][-1] == {
        "text": "I have treated this patient for two years.",
        "citations": [],
        "note": "",
    }
    assert revision.enclosures == ["MRI report of 09/01/2026"]
    assert revision.draft_pdf
    assert AuditEntry.objects.filter(user=world.bob, action="update", object_type="priorauth.letter").exists()


def test_a_too_long_sentence_is_refused_next_to_it(client_for, world, letter):
    response = client_for(world.bob).post(f"/letters/{letter.pk}/edit/", {"p0_s0": "x" * 2001})
    assert response.status_code == 400
    assert (
        error_of(response.content.decode(), "id_p0_s0")
        == "Ensure this value has at most 2000 characters (it has 2001)."
    )


def test_only_the_treating_physician_edits_and_signs(client_for, world, letter):
    client = client_for(world.alice)
    assert client.get(f"/letters/{letter.pk}/edit/").status_code == 403
    assert client.post(f"/letters/{letter.pk}/sign/").status_code == 403
    letter.refresh_from_db()
    assert letter.status == LetterStatus.DRAFT_READY


def test_the_physician_signs_and_downloads_both_pdfs(client_for, world, letter, django_capture_on_commit_callbacks):
    client = client_for(world.bob)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/letters/{letter.pk}/sign/", {"acknowledge_unverified": "on"}).status_code == 302
    letter.refresh_from_db()
    assert letter.status == LetterStatus.SIGNED
    html = client.get(f"/letters/{letter.pk}/").content.decode()
    assert "Download the signed PDF" in html
    for stage in ("draft", "final"):
        response = client.get(f"/letters/{letter.pk}/r1/{stage}.pdf")
        assert response.status_code == 200
        assert b"".join(response.streaming_content).startswith(b"%PDF-")
        assert (
            response["Content-Disposition"]
            == f'attachment; filename="{letter.request.reference}-prior_authorization-r1-{stage}.pdf"'
        )
    assert (
        AuditEntry.objects.filter(user=world.bob, action="download", object_type="priorauth.letterrevision").count()
        == 2
    )
    assert client.get(f"/letters/{letter.pk}/r2/final.pdf").status_code == 404
    assert client.get(f"/letters/{letter.pk}/r1/other.pdf").status_code == 404


def test_signing_twice_is_refused_with_the_reason(client_for, world, letter, django_capture_on_commit_callbacks):
    client = client_for(world.bob)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/letters/{letter.pk}/sign/", {"acknowledge_unverified": "on"})
    response = client.post(f"/letters/{letter.pk}/sign/", {"acknowledge_unverified": "on"})
    assert response.status_code == 400
    assert "Only a ready draft can be signed" in response.content.decode()


def test_a_page_being_made_reloads_itself_a_bounded_number_of_times(client_for, world, submitted):
    client = client_for(world.alice)
    client.post(f"/requests/{submitted.pk}/letters/", {"kind": "prior_authorization"})  # no commit: still drafting
    letter = Letter.objects.get()
    assert letter.status == LetterStatus.DRAFTING
    html = client.get(f"/letters/{letter.pk}/").content.decode()
    assert f'<meta http-equiv="refresh" content="3;url=/letters/{letter.pk}/?waited=1">' in html
    html = client.get(f"/letters/{letter.pk}/?waited=40").content.decode()
    assert 'http-equiv="refresh"' not in html and "reload" in html


LETTER_PATHS = [
    ("get", "/letters/{pk}/"),
    ("get", "/letters/{pk}/edit/"),
    ("post", "/letters/{pk}/sign/"),
    ("post", "/letters/{pk}/hand-over/"),
    ("post", "/letters/{pk}/retry/"),
    ("get", "/letters/{pk}/r1/draft.pdf"),
]


@pytest.mark.parametrize("outsider", ["charlie", "erin"])
def test_another_practice_finds_no_letter(client_for, world, letter, outsider):
    client = client_for(getattr(world, outsider))
    for method, path in LETTER_PATHS:
        response = getattr(client, method)(path.format(pk=letter.pk))
        assert response.status_code == 404, path
    assert letter.request.reference not in client.get("/letters/").content.decode()
    letter.refresh_from_db()
    assert letter.status == LetterStatus.DRAFT_READY


def test_admins_see_no_letters(client_for, world, letter):
    assert client_for(world.adam).get("/letters/").status_code == 403
    assert client_for(world.adam).get(f"/letters/{letter.pk}/").status_code == 404


def test_the_draft_page_shows_the_staff_findings_and_the_sign_form_asks_for_what_the_gate_needs(
    client_for, world, letter, django_capture_on_commit_callbacks
):
    # Issue 11: unverified sources are listed for the physician, and signing without acknowledging
    # them is refused with the reason; the payer's PDF never shows them.
    request = services.request_create(
        practice=world.practice_a,
        patient=world.patient_a,
        payer=Payer.objects.get(code="tricare"),
        treating_physician=world.bob_provider,
        case=entered_case(),
        by=world.alice,
    )
    request = addressed(services.request_submit(request=request, by=world.alice))
    with django_capture_on_commit_callbacks(execute=True):
        client_for(world.alice).post(f"/requests/{request.pk}/letters/", {"kind": "prior_authorization"})
    letter = Letter.objects.get(request=request)
    client = client_for(world.bob)
    html = client.get(f"/letters/{letter.pk}/").content.decode()
    assert "Before signing" in html and "Statements resting on unverified sources" in html
    assert 'name="acknowledge_unverified"' in html
    response = client.post(f"/letters/{letter.pk}/sign/")
    assert response.status_code == 400 and "unverified sources" in response.content.decode()
    letter.refresh_from_db()
    assert letter.status == LetterStatus.DRAFT_READY


def test_a_required_criterion_not_met_needs_an_override_reason_which_the_audit_trail_keeps(
    client_for, world, letter_texts, django_capture_on_commit_callbacks
):
    request = services.request_create(
        practice=world.practice_a,
        patient=world.patient_a,
        payer=Payer.objects.get(code="commercial"),
        treating_physician=world.bob_provider,
        case=entered_case("commercial-investigational"),
        by=world.alice,
    )
    request = addressed(services.request_submit(request=request, by=world.alice))
    with django_capture_on_commit_callbacks(execute=True):
        client_for(world.alice).post(f"/requests/{request.pk}/letters/", {"kind": "prior_authorization"})
    letter = Letter.objects.get(request=request)
    client = client_for(world.bob)
    html = client.get(f"/letters/{letter.pk}/").content.decode()
    assert "Required criteria not met or not documented" in html and 'name="override_reason"' in html
    refused = client.post(f"/letters/{letter.pk}/sign/", {"acknowledge_unverified": "on"})
    assert refused.status_code == 400 and "Required criteria not met or not documented" in refused.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        signed = client.post(
            f"/letters/{letter.pk}/sign/",
            {"acknowledge_unverified": "on", "override_reason": "The appeal rebuts the investigational label."},
        )
    assert signed.status_code == 302
    revision = letter.revisions.get()
    assert revision.sign_override_reason == "The appeal rebuts the investigational label." and revision.sign_overridden
    entry = AuditEntry.objects.filter(
        user=world.bob, object_type="priorauth.letter", detail__startswith="sign revision 1"
    ).get()
    assert "override of" in entry.detail and "rebuts the investigational label" in entry.detail


def test_a_letter_is_not_signed_without_a_named_addressee(client_for, world, letter):
    request = letter.request
    request.payer_contact = None
    request.save(update_fields=["payer_contact"])
    response = client_for(world.bob).post(f"/letters/{letter.pk}/sign/", {"acknowledge_unverified": "on"})
    assert response.status_code == 400 and "named addressee" in response.content.decode()


def test_billing_staff_choose_the_addressee_among_the_payers_desks(client_for, world, submitted, letter_texts):
    from policies.models import PayerContact
    from policies.services import contacts_seed

    contacts_seed()
    desk = PayerContact.objects.get(key="ma-plan-reconsideration")
    other = PayerContact.objects.get(key="commercial-appeals")
    client = client_for(world.alice)
    assert "Addressee of the letters" in client.get(f"/requests/{submitted.pk}/").content.decode()
    assert client.post(f"/requests/{submitted.pk}/payer-contact/", {"payer_contact": other.pk}).status_code == 400
    assert client.post(f"/requests/{submitted.pk}/payer-contact/", {"payer_contact": desk.pk}).status_code == 302
    submitted.refresh_from_db()
    assert submitted.payer_contact == desk
    assert (
        "Still to fill in" in client.get(f"/requests/{submitted.pk}/").content.decode()
    )  # no name, address, fax seeded
    assert (
        client_for(world.bob).post(f"/requests/{submitted.pk}/payer-contact/", {"payer_contact": desk.pk}).status_code
        == 403
    )


def test_a_download_of_a_pdf_missing_from_storage_is_a_clear_410_page(client_for, world, letter):
    revision = letter.current_revision
    revision.draft_pdf.storage.delete(revision.draft_pdf.name)
    client = client_for(world.bob)
    client.raise_request_exception = False
    response = client.get(f"/letters/{letter.pk}/r{revision.number}/draft.pdf")
    assert response.status_code == 410
    assert "no longer stored" in response.content.decode()
