"""Sending pages (issue 11, item 7): billing staff build the signed letter's fax packet on the
letter page, the treating physician downloads it, and the send form records how and which packet."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from factories import addressed, entered_case
from policies.models import Payer
from priorauth import services
from priorauth.letters import pdf
from priorauth.letters import services as letter_services
from priorauth.letters.models import FaxPacket, Letter
from priorauth.models import Sending, Status

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _renders_in_process(eager_tasks):
    """Renders run in the test's process, with or without a Redis broker (CI sets one)."""


@pytest.fixture
def signed(letter_texts, django_capture_on_commit_callbacks):
    world = letter_texts
    request = services.request_create(
        practice=world.practice_a,
        patient=world.patient_a,
        payer=Payer.objects.get(code="medicare-advantage"),
        treating_physician=world.bob_provider,
        case=entered_case(),
        by=world.alice,
    )
    request = addressed(services.request_submit(request=request, by=world.alice))
    with django_capture_on_commit_callbacks(execute=True):
        letter, _ = letter_services.letter_request_draft(request=request, kind="prior_authorization", by=world.alice)
    letter.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        letter_services.letter_sign(letter=letter, by=world.bob, acknowledge_unverified=True)
    letter.refresh_from_db()
    assert letter.status == "signed"
    content = pdf.html_pdf('<html lang="en"><body><p>Therapy notes</p></body></html>')
    services.attachment_add(
        request=request,
        kind="therapy_note",
        upload=SimpleUploadedFile("pt.pdf", content, "application/pdf"),
        by=world.alice,
    )
    return letter


def test_billing_builds_the_packet_on_the_letter_page(letter_texts, signed, client_for):
    world, attachment = letter_texts, signed.request.attachments.get()
    client = client_for(world.alice)
    page = client.get(f"/letters/{signed.pk}/").content.decode()
    assert "Build the fax packet" in page and f'value="{attachment.pk}"' in page
    response = client.post(f"/letters/{signed.pk}/packets/", {"attachments": [attachment.pk]})
    assert response.status_code == 302
    built = FaxPacket.objects.get()
    assert [e["attachment"] for e in built.enclosures] == [attachment.pk]
    page = client.get(f"/letters/{signed.pk}/").content.decode()
    assert built.sha256 in page and f"/packets/{built.pk}.pdf" in page

    download = client_for(world.bob).get(f"/packets/{built.pk}.pdf")
    assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
    assert hashlib.sha256(b"".join(download.streaming_content)).hexdigest() == built.sha256


def test_the_physician_may_not_build_and_outsiders_find_nothing(letter_texts, signed, client_for):
    world = letter_texts
    assert client_for(world.bob).post(f"/letters/{signed.pk}/packets/", {}).status_code == 403
    for outsider in (world.charlie, world.erin, world.adam):
        assert client_for(outsider).post(f"/letters/{signed.pk}/packets/", {}).status_code == 404
    assert not FaxPacket.objects.exists()
    client_for(world.alice).post(f"/letters/{signed.pk}/packets/", {})
    built = FaxPacket.objects.get()
    for outsider in (world.charlie, world.erin, world.adam):
        assert client_for(outsider).get(f"/packets/{built.pk}.pdf").status_code == 404


def test_a_bad_attachment_choice_is_shown_on_the_page(letter_texts, signed, client_for):
    response = client_for(letter_texts.alice).post(f"/letters/{signed.pk}/packets/", {"attachments": ["999999"]})
    assert response.status_code == 400 and "attachments: No such attachment" in response.content.decode()
    response = client_for(letter_texts.alice).post(f"/letters/{signed.pk}/packets/", {"attachments": ["x"]})
    assert response.status_code == 400 and "attachments:" in response.content.decode()
    assert not FaxPacket.objects.exists()


def test_the_send_form_records_the_method_and_the_packet(letter_texts, signed, client_for):
    world = letter_texts
    client = client_for(world.alice)
    client.post(f"/letters/{signed.pk}/packets/", {})
    built = FaxPacket.objects.get()
    request = signed.request
    assert f"Packet #{built.pk}" in client.get(f"/requests/{request.pk}/").content.decode()
    response = client.post(
        f"/requests/{request.pk}/send/", {"sent_at": "", "note": "", "method": "fax", "packet": built.pk}, follow=True
    )
    assert response.status_code == 200
    sending = Sending.objects.get()
    assert (sending.method, sending.packet, sending.packet_sha256) == ("fax", built, built.sha256)
    request.refresh_from_db()
    assert request.status == Status.SENT
    assert built.sha256 in response.content.decode()


def test_an_unknown_method_is_refused_by_name(letter_texts, signed, client_for):
    response = client_for(letter_texts.alice).post(
        f"/requests/{signed.request.pk}/send/", {"sent_at": "", "method": "pigeon"}
    )
    assert response.status_code == 400 and "pigeon" in response.content.decode()
    assert not Sending.objects.exists() and Letter.objects.get().request.status == Status.SUBMITTED
