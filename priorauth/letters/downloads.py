"""Downloads of a letter's PDFs and DOCX and of its fax packets, for the API and the pages alike:
found through the permission-scoped selectors, allowed by priorauth.permissions, written to the
audit trail, streamed with no-store (priorauth.downloads' helpers)."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, Http404, HttpRequest, HttpResponse

from priorauth import permissions, selectors, services
from priorauth.downloads import DOWNLOAD, file_response, no_store
from priorauth.letters import docx as docx_export
from priorauth.letters.models import Letter, LetterJob, LetterRevision
from priorauth.permissions import User


def _revision(letter: Letter, number: int | None) -> LetterRevision | None:
    """The letter's revision of that number (None: the current one)."""
    if number is None:
        number = letter.current_revision.number if letter.current_revision else None
    return next((r for r in letter.revisions.all() if r.number == number), None)


def letter_pdf_download(
    *, by: User, letter: Letter, number: int | None, stage: str, http_request: HttpRequest
) -> FileResponse:
    """A revision's draft or final PDF (the current revision when `number` is None), with its SHA-256."""
    permissions.require(by, "letter.download", letter)
    revision = _revision(letter, number)
    file = getattr(revision, f"{stage}_pdf", None) if revision is not None and stage in LetterJob.Stage.values else None
    if not file:
        raise Http404(f"No {stage} PDF of that revision yet.")
    services.audit_record(
        user=by,
        action=DOWNLOAD,
        obj=revision,
        request=http_request,
        detail=f"letter {letter.pk} r{revision.number} {stage}",
    )
    return file_response(
        file,
        filename=f"{letter.request.reference}-{letter.kind}-r{revision.number}-{stage}.pdf",
        content_type="application/pdf",
        sha256=getattr(revision, f"{stage}_sha256"),
    )


def letter_docx_download(*, by: User, letter: Letter, number: int | None, http_request: HttpRequest) -> HttpResponse:
    """A revision's draft as DOCX, to edit in a word processor."""
    permissions.require(by, "letter.download", letter)
    revision = _revision(letter, number)
    if revision is None or revision.paragraphs is None:
        raise Http404("No draft of that revision yet.")
    content = docx_export.letter_docx(letter, revision)
    services.audit_record(
        user=by,
        action=DOWNLOAD,
        obj=revision,
        request=http_request,
        detail=f"letter {letter.pk} r{revision.number} docx",
    )
    response = HttpResponse(content, content_type=docx_export.DOCX_CONTENT_TYPE)
    response["Content-Disposition"] = (
        f'attachment; filename="{letter.request.reference}-{letter.kind}-r{revision.number}-draft.docx"'
    )
    return no_store(response)


def packet_download(*, by: User, packet_pk: Any, http_request: HttpRequest) -> FileResponse:
    """A fax packet's PDF, with its SHA-256."""
    found = selectors.packet_get(user=by, pk=packet_pk)
    permissions.require(by, "packet.download", found.letter)
    services.audit_record(
        user=by, action=DOWNLOAD, obj=found, request=http_request, detail=f"letter {found.letter_id} packet"
    )
    return file_response(
        found.file,
        filename=f"{found.letter.request.reference}-packet-{found.pk}.pdf",
        content_type="application/pdf",
        sha256=found.sha256,
    )
