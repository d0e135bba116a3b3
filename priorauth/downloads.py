"""Every download of PHI, for the API and the pages alike (a request's attachments here; letters'
PDFs, DOCX and packets in priorauth.letters.downloads, on the same helpers): the object found through the
permission-scoped selectors (another practice's is 404), allowed by priorauth.permissions, written
to the audit trail, and streamed as an attachment that no cache keeps."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, HttpRequest, HttpResponse

from priorauth import permissions, selectors, services
from priorauth.models import AuditEntry
from priorauth.permissions import User

DOWNLOAD = AuditEntry.Action.DOWNLOAD


def no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "private, no-store"
    return response


def file_response(file: Any, *, filename: str, content_type: str, sha256: str = "") -> FileResponse:
    response = FileResponse(file.open("rb"), as_attachment=True, filename=filename, content_type=content_type)
    if sha256:
        response["X-Content-SHA256"] = sha256
    return no_store(response)


def attachment_download(*, by: User, request_pk: Any, attachment_id: Any, http_request: HttpRequest) -> FileResponse:
    """An attachment of a request, served as the type it was uploaded as."""
    obj = selectors.request_get(user=by, pk=request_pk)
    attachment = selectors.get_visible(obj.attachments.all(), attachment_id)
    permissions.require(by, "attachment.download", attachment)
    services.audit_record(user=by, action=DOWNLOAD, obj=attachment, request=http_request, detail=f"request {obj.pk}")
    return file_response(attachment.file, filename=attachment.original_name, content_type=attachment.content_type)
