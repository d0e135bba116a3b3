"""Sending a letter (issue 11, item 7): the fax packet of the signed letter — cover sheet, letter,
enclosure index, attachments — its SHA-256, who may build and download it, and the send step
that records how, when and which packet."""

from __future__ import annotations

import hashlib
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image
from pypdf import PdfReader

from config.celery import app
from factories import addressed, advance, draft_for
from letter_helpers import flat, install_letter_texts
from priorauth import services
from priorauth.letters import packet, pdf
from priorauth.letters import services as letter_services
from priorauth.letters.models import FaxPacket
from priorauth.models import AuditEntry, Sending, Status


@pytest.fixture(autouse=True)
def _tasks_in_process():
    eager = app.conf.CELERY_TASK_ALWAYS_EAGER
    app.conf.CELERY_TASK_ALWAYS_EAGER = True
    yield
    app.conf.CELERY_TASK_ALWAYS_EAGER = eager


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    def run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return run


@pytest.fixture
def letter_world(world):
    install_letter_texts()
    return world


@pytest.fixture
def drafted(letter_world, run_on_commit):
    request = addressed(
        advance(draft_for(letter_world, payer="medicare-advantage"), Status.SUBMITTED, letter_world.alice)
    )
    letter, _ = run_on_commit(
        letter_services.letter_request_draft, request=request, kind="prior_authorization", by=letter_world.alice
    )
    letter.refresh_from_db()
    return letter


@pytest.fixture
def signed(letter_world, drafted, run_on_commit):
    run_on_commit(letter_services.letter_sign, letter=drafted, by=letter_world.bob, acknowledge_unverified=True)
    drafted.refresh_from_db()
    assert drafted.status == "signed" and drafted.current_revision.final_pdf
    return drafted


def marker_pdf(marker: str, pages: int) -> bytes:
    html = "".join(f'<p style="break-after: page">{marker} page {n}</p>' for n in range(1, pages + 1))
    return pdf.html_pdf(f'<html lang="en"><body>{html}</body></html>')


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1200, 1600), (240, 240, 240)).save(out, "PNG", dpi=(150, 150))
    return out.getvalue()


def attach(request, user, name: str, content: bytes, content_type: str, kind: str = "imaging_report"):
    return services.attachment_add(
        request=request, kind=kind, upload=SimpleUploadedFile(name, content, content_type), by=user
    )


@pytest.fixture
def three_attachments(letter_world, signed):
    request, alice = signed.request, letter_world.alice
    return [
        attach(request, alice, "mri.pdf", marker_pdf("ENCLOSURE-ALPHA", 2), "application/pdf"),
        attach(
            request, alice, "pt-notes.pdf", marker_pdf("ENCLOSURE-BRAVO", 1), "application/pdf", kind="therapy_note"
        ),
        attach(request, alice, "scan.png", png_bytes(), "image/png", kind="clinical_note"),
    ]


def pages_text(content: bytes) -> list[str]:
    return [flat(page.extract_text() or "") for page in PdfReader(io.BytesIO(content)).pages]


def build(api, user, letter, attachments) -> object:
    return api(user).post(
        f"/api/v1/letters/{letter.pk}/packets", {"attachments": [a.pk for a in attachments]}, format="json"
    )


# ---------------------------------------------------------------------------------------------
# The packet


def test_it_builds_a_packet_whose_index_matches_the_merged_pages(letter_world, signed, three_attachments, api):
    response = build(api, letter_world.alice, signed, three_attachments)
    assert response.status_code == 201, response.content
    body = response.json()
    packet_row = FaxPacket.objects.get(pk=body["id"])
    content = packet_row.file.open("rb").read()
    texts = pages_text(content)
    letter_pages = len(PdfReader(packet_row.revision.final_pdf.open("rb")).pages)

    # 1 cover + the letter + 1 index page + 2 + 1 + 1 enclosure pages, as the cover sheet says.
    assert body["page_count"] == len(texts) == 1 + letter_pages + 1 + 4
    assert f"Pages {len(texts)}, including this cover sheet" in texts[0]
    assert "Confidential" in texts[0] and signed.request.reference in texts[0]
    # No clinical detail (nor the patient's name) on the cover sheet.
    assert "Ada" not in texts[0] and "Moreno" not in texts[0] and "M48" not in texts[0]

    # The signed letter follows the cover, page for page.
    final_texts = pages_text(packet_row.revision.final_pdf.open("rb").read())
    assert texts[1 : 1 + letter_pages] == final_texts

    # The index lists each enclosure with the pages the merge put it on, and those pages hold it.
    index = texts[1 + letter_pages]
    assert "Enclosures" in index
    enclosures = body["enclosures"]
    assert [e["attachment"] for e in enclosures] == [a.pk for a in three_attachments]
    assert [e["pages"] for e in enclosures] == [2, 1, 1]
    for number, e in enumerate(enclosures, start=1):
        where = f"{e['first_page']}–{e['last_page']}" if e["last_page"] != e["first_page"] else str(e["first_page"])
        assert re.search(rf"{number} {re.escape(e['title'])} {e['pages']} {where}", index), (index, e)
    assert enclosures[0]["first_page"] == letter_pages + 3
    for e, marker in zip(enclosures[:2], ("ENCLOSURE-ALPHA", "ENCLOSURE-BRAVO")):
        for n, page_number in enumerate(range(e["first_page"], e["last_page"] + 1), start=1):
            assert f"{marker} page {n}" in texts[page_number - 1]
    assert enclosures[-1]["last_page"] == len(texts)
    image_page = PdfReader(io.BytesIO(content)).pages[enclosures[2]["first_page"] - 1]
    assert image_page.images and float(image_page.mediabox.width) == packet.LETTER_WIDTH


def test_it_stores_the_sha256_of_the_file_it_stored_and_serves_it(letter_world, signed, three_attachments, api):
    body = build(api, letter_world.alice, signed, three_attachments[:1]).json()
    row = FaxPacket.objects.get(pk=body["id"])
    stored = row.file.open("rb").read()
    assert hashlib.sha256(stored).hexdigest() == row.sha256 == body["sha256"]
    download = api(letter_world.alice).get(f"/api/v1/packets/{row.pk}/pdf")
    assert download.status_code == 200
    served = b"".join(download.streaming_content)
    assert served == stored and download["X-Content-SHA256"] == row.sha256
    assert AuditEntry.objects.filter(
        action="download", object_type="priorauth.faxpacket", object_id=str(row.pk), user=letter_world.alice
    ).exists()


def test_it_builds_a_packet_without_attachments_with_no_index(letter_world, signed, api):
    body = build(api, letter_world.alice, signed, []).json()
    letter_pages = len(PdfReader(signed.current_revision.final_pdf.open("rb")).pages)
    assert body["page_count"] == 1 + letter_pages and body["enclosures"] == []


def test_a_draft_letter_cannot_be_packeted(letter_world, drafted, api):
    response = api(letter_world.alice).post(f"/api/v1/letters/{drafted.pk}/packets", {"attachments": []}, format="json")
    assert response.status_code == 400 and "letter" in response.json()
    assert not FaxPacket.objects.exists()


def test_a_letter_edited_after_signing_cannot_be_packeted_until_signed_again(letter_world, signed, run_on_commit, api):
    paragraphs = signed.current_revision.paragraphs
    run_on_commit(letter_services.letter_edit, letter=signed, by=letter_world.bob, paragraphs=paragraphs)
    response = api(letter_world.alice).post(f"/api/v1/letters/{signed.pk}/packets", {}, format="json")
    assert response.status_code == 400 and "letter" in response.json()


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"attachments": "1"}, "attachments"),
        ({"attachments": ["x"]}, "attachments[0]"),
        ({"attachments": [999999]}, "attachments"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(letter_world, signed, api, payload, field):
    response = api(letter_world.alice).post(f"/api/v1/letters/{signed.pk}/packets", payload, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert not FaxPacket.objects.exists()


def test_an_attachment_listed_twice_or_of_another_request_is_refused(letter_world, signed, three_attachments, api):
    twice = api(letter_world.alice).post(
        f"/api/v1/letters/{signed.pk}/packets", {"attachments": [three_attachments[0].pk] * 2}, format="json"
    )
    assert twice.status_code == 400 and "attachments" in twice.json()
    other = draft_for(letter_world)
    foreign = attach(other, letter_world.alice, "x.pdf", marker_pdf("OTHER", 1), "application/pdf")
    response = api(letter_world.alice).post(
        f"/api/v1/letters/{signed.pk}/packets", {"attachments": [foreign.pk]}, format="json"
    )
    assert response.status_code == 400 and "attachments" in response.json()


def test_an_unreadable_pdf_attachment_is_a_400_naming_it(letter_world, signed, api):
    broken = attach(signed.request, letter_world.alice, "broken.pdf", b"%PDF-1.7\nnot really a pdf", "application/pdf")
    response = api(letter_world.alice).post(
        f"/api/v1/letters/{signed.pk}/packets", {"attachments": [broken.pk]}, format="json"
    )
    assert response.status_code == 400 and "attachments[0]" in response.json(), response.content
    assert not FaxPacket.objects.exists()


# ---------------------------------------------------------------------------------------------
# Who may


def test_billing_builds_and_the_treating_physician_downloads(letter_world, signed, api):
    assert api(letter_world.bob).post(f"/api/v1/letters/{signed.pk}/packets", {}, format="json").status_code == 403
    row = FaxPacket.objects.get(pk=build(api, letter_world.alice, signed, []).json()["id"])
    assert AuditEntry.objects.filter(
        action="create", object_type="priorauth.faxpacket", object_id=str(row.pk), user=letter_world.alice
    ).exists()
    bob = api(letter_world.bob)
    assert bob.get(f"/api/v1/packets/{row.pk}/pdf").status_code == 200
    assert bob.get(f"/api/v1/packets/{row.pk}").status_code == 200
    assert bob.get(f"/api/v1/letters/{signed.pk}/packets").json()[0]["id"] == row.pk
    assert AuditEntry.objects.filter(
        action="download", object_type="priorauth.faxpacket", user=letter_world.bob
    ).exists()


@pytest.mark.parametrize("persona", ["erin", "charlie", "dave", "adam"])
def test_anyone_else_gets_404(letter_world, signed, api, persona):
    row = FaxPacket.objects.get(pk=build(api, letter_world.alice, signed, []).json()["id"])
    client = api(getattr(letter_world, persona))
    assert client.post(f"/api/v1/letters/{signed.pk}/packets", {}, format="json").status_code == 404
    assert client.get(f"/api/v1/letters/{signed.pk}/packets").status_code == 404
    assert client.get(f"/api/v1/packets/{row.pk}").status_code == 404
    assert client.get(f"/api/v1/packets/{row.pk}/pdf").status_code == 404
    assert FaxPacket.objects.count() == 1


# ---------------------------------------------------------------------------------------------
# The send step


def test_the_send_step_records_how_when_and_the_packets_sha256(letter_world, signed, three_attachments, api):
    request = signed.request
    row = FaxPacket.objects.get(pk=build(api, letter_world.alice, signed, three_attachments).json()["id"])
    sent_at = timezone.now().replace(second=0, microsecond=0)  # after the submission (dates run in order)
    response = api(letter_world.alice).post(
        f"/api/v1/requests/{request.pk}/send",
        {"method": "fax", "packet": row.pk, "sent_at": sent_at.isoformat()},
        format="json",
    )
    assert response.status_code == 200, response.content
    sending = Sending.objects.get(request=request)
    assert (sending.method, sending.packet_id) == ("fax", row.pk)
    assert sending.packet_sha256 == hashlib.sha256(row.file.open("rb").read()).hexdigest()
    assert sending.sent_at == sent_at
    assert response.json()["sendings"][0]["packet_sha256"] == sending.packet_sha256
    assert response.json()["status"] == Status.SENT


def test_sending_without_a_packet_records_the_method(letter_world, signed, api):
    response = api(letter_world.alice).post(
        f"/api/v1/requests/{signed.request.pk}/send", {"method": "portal"}, format="json"
    )
    assert response.status_code == 200
    sending = Sending.objects.get()
    assert (sending.method, sending.packet, sending.packet_sha256) == ("portal", None, "")


@pytest.mark.parametrize(
    "payload, field", [({"method": "pigeon"}, "method"), ({"packet": 999999}, "packet"), ({"packet": "x"}, "packet")]
)
def test_bad_send_input_is_a_400_naming_the_field(letter_world, signed, api, payload, field):
    response = api(letter_world.alice).post(f"/api/v1/requests/{signed.request.pk}/send", payload, format="json")
    assert response.status_code == 400 and field in response.json()
    signed.request.refresh_from_db()
    assert signed.request.status == Status.SUBMITTED and not Sending.objects.exists()


def test_a_packet_of_a_superseded_revision_or_a_changed_file_is_not_recorded_as_sent(
    letter_world, signed, run_on_commit, api
):
    row = FaxPacket.objects.get(pk=build(api, letter_world.alice, signed, []).json()["id"])
    with row.file.storage.open(row.file.name, "wb") as f:
        f.write(b"%PDF-1.7 tampered")
    response = api(letter_world.alice).post(
        f"/api/v1/requests/{signed.request.pk}/send", {"method": "fax", "packet": row.pk}, format="json"
    )
    assert response.status_code == 400 and "SHA-256" in str(response.json()["packet"])

    run_on_commit(
        letter_services.letter_edit, letter=signed, by=letter_world.bob, paragraphs=signed.current_revision.paragraphs
    )
    response = api(letter_world.alice).post(
        f"/api/v1/requests/{signed.request.pk}/send", {"method": "fax", "packet": row.pk}, format="json"
    )
    assert response.status_code == 400 and "edited" in str(response.json()["packet"])
    assert not Sending.objects.exists()


def test_each_page_of_a_tiff_becomes_a_letter_page_and_a_broken_image_is_named(letter_world, signed, api):
    frames = [Image.new("1", (1700, 2200), 1), Image.new("1", (2200, 1700), 0)]
    out = io.BytesIO()
    frames[0].save(out, "TIFF", save_all=True, append_images=frames[1:], dpi=(200, 200))
    tiff = attach(signed.request, letter_world.alice, "fax.tif", out.getvalue(), "image/tiff")
    body = build(api, letter_world.alice, signed, [tiff]).json()
    assert body["enclosures"][0]["pages"] == 2
    pages = PdfReader(FaxPacket.objects.get(pk=body["id"]).file.open("rb")).pages
    assert all(
        float(p.mediabox.width) == packet.LETTER_WIDTH and float(p.mediabox.height) == packet.LETTER_HEIGHT
        for p in pages[-2:]
    )

    broken = attach(signed.request, letter_world.alice, "cut.png", png_bytes()[:200], "image/png")
    response = api(letter_world.alice).post(
        f"/api/v1/letters/{signed.pk}/packets", {"attachments": [tiff.pk, broken.pk]}, format="json"
    )
    assert response.status_code == 400 and "attachments[1]" in response.json(), response.content


def test_an_appeals_packet_is_recorded_as_sent_against_the_appeal(letter_world, signed, run_on_commit, api):
    import datetime as dt

    alice, request = letter_world.alice, signed.request
    at = timezone.now() - dt.timedelta(days=2)
    services.request_send(request=request, by=alice, sent_at=at)
    services.decision_record(
        request=request,
        by=alice,
        decision="denied",
        received_at=at + dt.timedelta(hours=1),
        stated_reason="Not medically necessary.",
        reason_category="criteria_not_met",
    )
    appeal = services.appeal_start(request=request, by=alice, filed_at=at + dt.timedelta(hours=2))
    letter, _ = run_on_commit(
        letter_services.letter_request_draft, request=request, kind="appeal", appeal=appeal, by=alice
    )
    letter.refresh_from_db()
    run_on_commit(letter_services.letter_sign, letter=letter, by=letter_world.bob, acknowledge_unverified=True)
    letter.refresh_from_db()
    first_packet = build(api, alice, signed, []).json()["id"]
    appeal_packet = FaxPacket.objects.get(pk=build(api, alice, letter, []).json()["id"])
    url = f"/api/v1/requests/{request.pk}/send"

    refused = api(alice).post(url, {"method": "fax", "packet": first_packet}, format="json")
    assert refused.status_code == 400 and "packet" in refused.json()  # the first letter's packet, not the appeal's
    early = api(alice).post(url, {"method": "fax", "sent_at": (at + dt.timedelta(hours=1)).isoformat()}, format="json")
    assert early.status_code == 400 and "sent_at" in early.json()  # before the appeal was filed
    assert not Sending.objects.filter(appeal=appeal).exists()

    response = api(alice).post(url, {"method": "fax", "packet": appeal_packet.pk}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == Status.APPEAL_IN_PROGRESS  # sending an appeal changes no status
    sending = Sending.objects.get(appeal=appeal)
    assert (sending.method, sending.packet_id) == ("fax", appeal_packet.pk)
    assert sending.packet_sha256 == hashlib.sha256(appeal_packet.file.open("rb").read()).hexdigest()
