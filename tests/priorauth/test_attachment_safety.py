"""Stored attachments (issue 10, item 10): a random name with the extension of the checked type
(never the uploader's), PDFs carrying JavaScript, /OpenAction, /Launch or embedded files refused
with a 400 naming the file, and no file left in storage when the upload's transaction rolls back."""

from __future__ import annotations

import io
import re
from pathlib import Path
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError, transaction
from pypdf import PdfWriter
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    TextStringObject,
)

from factories import draft_for
from priorauth import services, stored_files
from priorauth.models import Attachment
from priorauth.pdf_safety import pdf_active_content


def clean_pdf() -> PdfWriter:
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    return writer


def as_bytes(writer: PdfWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def with_javascript() -> bytes:
    writer = clean_pdf()
    writer.add_js("app.alert('hi');")
    return as_bytes(writer)


def with_open_action() -> bytes:
    writer = clean_pdf()
    writer._root_object[NameObject("/OpenAction")] = ArrayObject(
        [writer.pages[0].indirect_reference, NameObject("/Fit")]
    )
    return as_bytes(writer)


def with_launch() -> bytes:
    writer = clean_pdf()
    action = DictionaryObject({NameObject("/S"): NameObject("/Launch"), NameObject("/F"): TextStringObject("calc.exe")})
    link = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/Link"),
            NameObject("/Rect"): ArrayObject([NumberObject(0), NumberObject(0), NumberObject(100), NumberObject(100)]),
            NameObject("/A"): action,
        }
    )
    writer.pages[0][NameObject("/Annots")] = ArrayObject([writer._add_object(link)])
    return as_bytes(writer)


def with_embedded_file() -> bytes:
    writer = clean_pdf()
    writer.add_attachment("payload.exe", b"MZ\x90\x00")
    return as_bytes(writer)


# A file pypdf cannot read, with the name spelt with an escape: a viewer would repair and run it.
DAMAGED_WITH_ESCAPED_JS = b"%PDF-1.4\n1 0 obj << /Type /Action /S /J#61vaScript /JS (app.alert(1)) >> endobj\n%%EOF\n"


def upload(client, request, content: bytes, name: str = "Moreno_MRI.pdf", content_type: str = "application/pdf"):
    return client.post(
        f"/api/v1/requests/{request.pk}/attachments",
        {"kind": "imaging_report", "file": SimpleUploadedFile(name, content, content_type=content_type)},
        format="multipart",
    )


def stored_files_under(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (with_javascript, "JavaScript"),
        (with_open_action, "/OpenAction"),
        (with_launch, "/Launch"),
        (with_embedded_file, "embedded files"),
        (lambda: DAMAGED_WITH_ESCAPED_JS, "JavaScript"),
    ],
)
def test_a_pdf_with_active_content_is_a_400_naming_the_file(world, api, settings, content, found):
    request = draft_for(world)
    response = upload(api(world.alice), request, content(), name="Moreno_MRI.pdf")
    assert response.status_code == 400, response.content
    [message] = response.json()["file"]
    assert "'Moreno_MRI.pdf'" in message and found in message
    assert not Attachment.objects.exists()
    assert stored_files_under(settings) == []


def test_a_plain_pdf_is_accepted(world, api):
    assert pdf_active_content(as_bytes(clean_pdf())) is None
    response = upload(api(world.alice), draft_for(world), as_bytes(clean_pdf()))
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("name", "content_type", "content", "suffix"),
    [
        ("Moreno_MRI.pdf.html", "application/pdf", b"%PDF-1.4\n%%EOF\n", ".pdf"),
        ("scan.svg", "image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 16, ".png"),
        ("notes", "image/jpeg", b"\xff\xd8\xff" + b"\x00" * 16, ".jpg"),
    ],
)
def test_a_stored_file_gets_a_random_name_and_the_extension_of_its_checked_type(
    world, api, name, content_type, content, suffix
):
    request = draft_for(world)
    response = upload(api(world.alice), request, content, name=name, content_type=content_type)
    assert response.status_code == 201, response.content
    attachment = Attachment.objects.get(pk=response.json()["id"])
    assert re.fullmatch(
        rf"priorauth/{request.practice_id}/{request.pk}/[0-9a-f]{{32}}{re.escape(suffix)}", attachment.file.name
    )
    assert attachment.original_name == name  # kept for the download's file name only


def test_an_upload_whose_transaction_rolls_back_leaves_no_file(world, api, settings):
    request = draft_for(world)
    with mock.patch("priorauth.services.audit_change", side_effect=OperationalError("server closed the connection")):
        response = upload(api(world.alice), request, as_bytes(clean_pdf()))
    assert response.status_code == 503
    assert not Attachment.objects.exists()
    assert stored_files_under(settings) == []


def test_a_file_written_in_a_savepoint_goes_when_the_enclosing_block_rolls_back(world, settings):
    request = draft_for(world)
    upload_file = SimpleUploadedFile("a.pdf", as_bytes(clean_pdf()), content_type="application/pdf")
    with pytest.raises(RuntimeError), stored_files.deleted_on_rollback():
        with stored_files.deleted_on_rollback():
            services.attachment_add(request=request, kind="imaging_report", upload=upload_file, by=world.alice)
        assert len(stored_files_under(settings)) == 1
        raise RuntimeError("the request failed after the upload")
    assert stored_files_under(settings) == []
    assert not Attachment.objects.exists()


def test_the_service_alone_cleans_up_when_its_own_transaction_fails(world, settings):
    request = draft_for(world)
    upload_file = SimpleUploadedFile("a.pdf", as_bytes(clean_pdf()), content_type="application/pdf")
    with (
        mock.patch.object(Attachment, "save", side_effect=OperationalError("gone")),
        pytest.raises(OperationalError),
        transaction.atomic(),
    ):
        services.attachment_add(request=request, kind="imaging_report", upload=upload_file, by=world.alice)
    assert stored_files_under(settings) == []


def test_the_pages_upload_leaves_no_file_when_its_post_rolls_back(world, client, settings):
    request = draft_for(world)
    client.force_login(world.alice)
    upload_file = SimpleUploadedFile("a.pdf", as_bytes(clean_pdf()), content_type="application/pdf")
    with mock.patch("priorauth.services.audit_change", side_effect=OperationalError("gone")):
        response = client.post(f"/requests/{request.pk}/attachments/", {"kind": "imaging_report", "file": upload_file})
    assert response.status_code == 503
    assert stored_files_under(settings) == []
