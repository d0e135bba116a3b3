"""Attachments: type (declared and actual) and size checked with a field error, stored through
Django's storage API under a name that holds no PHI, downloadable only by those allowed."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from factories import draft_for
from priorauth.models import Attachment, AuditEntry

PDF = b"%PDF-1.7\n" + b"0" * 2000 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def upload(client, request, name="Moreno_MRI.pdf", content=PDF, content_type="application/pdf", kind="imaging_report"):
    return client.post(
        f"/api/v1/requests/{request.pk}/attachments",
        {"kind": kind, "file": SimpleUploadedFile(name, content, content_type=content_type)},
        format="multipart",
    )


def test_an_upload_is_stored_through_the_storage_api_and_downloaded_intact(world, api):
    request = draft_for(world)
    response = upload(api(world.alice), request)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["size"] == len(PDF)
    assert body["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert body["original_name"] == "Moreno_MRI.pdf"
    attachment = Attachment.objects.get(pk=body["id"])
    assert default_storage.exists(attachment.file.name)
    assert "Moreno" not in attachment.file.name  # the stored name holds no PHI
    assert attachment.file.name.startswith(f"priorauth/{world.practice_a.pk}/{request.pk}/")

    response = api(world.bob).get(f"/api/v1/requests/{request.pk}/attachments/{attachment.pk}")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Cache-Control"] == "private, no-store"


def test_the_treating_physician_uploads_therapy_notes_as_a_png(world, api):
    response = upload(
        api(world.bob), draft_for(world), name="notes.png", content=PNG, content_type="image/png", kind="therapy_note"
    )
    assert response.status_code == 201
    assert response.json()["kind"] == "therapy_note"


@pytest.mark.parametrize(
    ("name", "content", "content_type", "kind", "field", "message"),
    [
        (
            "x.exe",
            b"MZ\x90\x00",
            "application/x-msdownload",
            "imaging_report",
            "file",
            "Type application/x-msdownload is not accepted; send one of: application/pdf, image/jpeg, image/png, image/tiff.",
        ),
        (
            "fake.pdf",
            b"MZ\x90\x00 not a pdf",
            "application/pdf",
            "imaging_report",
            "file",
            "The file's content is not application/pdf.",
        ),
        ("empty.pdf", b"", "application/pdf", "imaging_report", "file", "The submitted file is empty."),
        ("ok.pdf", PDF, "application/pdf", "selfie", "kind", '"selfie" is not a valid choice.'),
    ],
)
def test_a_wrong_type_or_kind_is_refused_naming_the_field(
    world, api, name, content, content_type, kind, field, message
):
    response = upload(
        api(world.alice), draft_for(world), name=name, content=content, content_type=content_type, kind=kind
    )
    assert response.status_code == 400
    assert response.json() == {field: [message]}
    assert not Attachment.objects.exists()


def test_a_file_over_the_size_limit_is_refused(world, api, settings):
    settings.PRIORAUTH_ATTACHMENT_MAX_BYTES = 1000
    response = upload(api(world.alice), draft_for(world))
    assert response.status_code == 400
    assert response.json() == {"file": [f"The file is {len(PDF)} bytes; the limit is 1000 bytes."]}


def test_a_missing_file_is_named(world, api):
    response = api(world.alice).post(
        f"/api/v1/requests/{draft_for(world).pk}/attachments", {"kind": "other"}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json() == {"file": ["No file was submitted."]}


@pytest.mark.parametrize(
    ("persona", "status"), [("alice", 200), ("bob", 200), ("adam", 200), ("dave", 404), ("charlie", 404), ("erin", 404)]
)
def test_only_those_allowed_download(world, api, persona, status):
    request = draft_for(world)
    attachment_id = upload(api(world.alice), request).json()["id"]
    response = api(getattr(world, persona)).get(f"/api/v1/requests/{request.pk}/attachments/{attachment_id}")
    assert response.status_code == status
    downloads = AuditEntry.objects.filter(action="download", object_id=str(attachment_id))
    assert downloads.count() == (1 if status == 200 else 0)


def test_an_attachment_is_not_reachable_through_another_request(world, api):
    mine = draft_for(world)
    theirs = draft_for(world, "b")
    their_attachment = upload(api(world.erin), theirs).json()["id"]
    # Alice names her own request but the other practice's attachment id.
    response = api(world.alice).get(f"/api/v1/requests/{mine.pk}/attachments/{their_attachment}")
    assert response.status_code == 404
