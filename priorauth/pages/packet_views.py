"""Pages of sending a letter: its draft as DOCX, building the fax packet, downloading it. The same
visibility and audit as the letters' PDF downloads (pages/views.py letter_pdf)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from priorauth import docx_export, packet, selectors
from priorauth.models import AuditEntry
from priorauth.pages.views import _letter_page, audit, practice_member_required

A = AuditEntry.Action


@practice_member_required
def letter_docx(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    letter = selectors.letter_get(user=request.user, pk=pk)
    revision = next((r for r in letter.revisions.all() if r.number == number), None)
    if revision is None or revision.paragraphs is None:
        raise Http404("No draft of that revision yet.")
    content = docx_export.letter_docx(letter, revision)
    audit(request, A.DOWNLOAD, revision, detail=f"letter {letter.pk} r{revision.number} docx")
    response = HttpResponse(content, content_type=docx_export.DOCX_CONTENT_TYPE)
    response["Content-Disposition"] = (
        f'attachment; filename="{letter.request.reference}-{letter.kind}-r{revision.number}-draft.docx"'
    )
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
@practice_member_required
def letter_packet(request: HttpRequest, pk: int) -> HttpResponse:
    letter = selectors.letter_get(user=request.user, pk=pk)
    try:
        ids = [int(x) for x in request.POST.getlist("attachments")]
    except ValueError:
        return _letter_page(
            request, letter, status=400, errors=["attachments: Must be a list of attachment ids of this request."]
        )
    try:
        built = packet.packet_build(letter=letter, attachment_ids=ids, by=request.user, http_request=request)
    except ValidationError as exc:
        letter.refresh_from_db()
        named = (
            [f"{field}: {m}" for field, ms in exc.message_dict.items() for m in ms]
            if hasattr(exc, "error_dict")
            else exc.messages
        )
        return _letter_page(request, letter, status=400, errors=named)
    messages.success(request, f"Fax packet #{built.pk} built: {built.page_count} pages.")
    return redirect("pages:letter-detail", pk=letter.pk)


@practice_member_required
def packet_pdf(request: HttpRequest, pk: int) -> FileResponse:
    found = selectors.packet_get(user=request.user, pk=pk)
    audit(request, A.DOWNLOAD, found, detail=f"letter {found.letter_id} packet")
    response = FileResponse(
        found.file.open("rb"),
        as_attachment=True,
        content_type="application/pdf",
        filename=f"{found.letter.request.reference}-packet-{found.pk}.pdf",
    )
    response["Cache-Control"] = "private, no-store"
    response["X-Content-SHA256"] = found.sha256
    return response
