"""Pages of sending a letter: its draft as DOCX, building the fax packet, downloading it. The same
visibility and audit as the letters' PDF downloads (pages/views.py letter_pdf)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from priorauth import selectors
from priorauth.letters import downloads, packet
from priorauth.models import AuditEntry
from priorauth.pages.views import _letter_page, practice_member_required

A = AuditEntry.Action


@practice_member_required
def letter_docx(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    letter = selectors.letter_get(user=request.user, pk=pk)
    return downloads.letter_docx_download(by=request.user, letter=letter, number=number, http_request=request)


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
    return downloads.packet_download(by=request.user, packet_pk=pk, http_request=request)
