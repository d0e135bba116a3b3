"""One API exception handler: a Django ValidationError from a service becomes a 400 naming the field,
and a lost database connection a 503 saying that nothing was saved. Pages get the same 503 from
DatabaseUnavailableMiddleware. A body that cannot be parsed is a 400 of the same shape as the others,
and a URL under /api/ that names no operation a JSON 404. A download whose stored file is missing
answers 410 saying so (API and pages alike). Nobody sees a traceback."""

import logging
import os

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError, connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.defaults import page_not_found
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)

# The connection dropped, the server went away or refused us: the transaction it was in is gone on
# the server, so nothing of it was saved. (Errors in what was asked, such as IntegrityError, are not
# these.)
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
DATABASE_UNAVAILABLE_MESSAGE = "The database is unavailable; nothing was saved. Try again."
RETRY_AFTER_SECONDS = "5"
STORED_FILE_MISSING_MESSAGE = "This file is no longer stored, so it cannot be downloaded."


def missing_stored_file(exc: BaseException) -> str | None:
    """The storage name of the stored file (attachment, letter PDF, packet) whose absence raised
    exc, or None when exc is anything else. Only files under MEDIA_ROOT count: a missing file of
    the code itself stays the bug it is."""
    if not isinstance(exc, FileNotFoundError) or not isinstance(exc.filename, str):
        return None
    root, path = os.path.realpath(settings.MEDIA_ROOT), os.path.realpath(exc.filename)
    return os.path.relpath(path, root) if path.startswith(root + os.sep) else None


def _stored_file_missing(name: str, where: str) -> None:
    # The storage name only: stored files have random names that hold no PHI (models.attachment_path).
    logger.error("stored file missing in %s: %s", where, name)


def _database_unavailable(exc: BaseException, where: str) -> None:
    """Log it (the driver's first line names the connection problem, never the data; no SQL, no
    traceback) and close the broken connections, so that what still runs in this request (saving
    the session) and the next request of this process connect afresh."""
    first_line = (str(exc).strip().splitlines() or [""])[0]
    logger.error("database unavailable in %s: %s: %s", where, type(exc).__name__, first_line)
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and not connection.is_usable():
            connection.close()


def _flat_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF nests the errors of list items and nested serializers ({"attachments": {"0": [...]}});
    every 400 here names each field by one path with a list of messages ("attachments[0]")."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            key = str(key)
            path = f"{prefix}[{key}]" if prefix and key.isdigit() else f"{prefix}.{key}" if prefix else key
            out.update(_flat_errors(value, path))
        return out
    if isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        out = {}
        for i, item in enumerate(detail):
            if item not in ({}, []):  # a list serializer's valid items
                out.update(_flat_errors(item, f"{prefix}[{i}]"))
        return out
    return {prefix or "non_field_errors": [str(m) for m in (detail if isinstance(detail, list) else [detail])]}


def api_exception_handler(exc, context) -> Response | None:
    if (name := missing_stored_file(exc)) is not None:
        view = context.get("view")
        _stored_file_missing(name, type(view).__name__ if view is not None else "the API")
        return Response({"detail": STORED_FILE_MISSING_MESSAGE}, status=status.HTTP_410_GONE)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            detail = {field: [str(m) for e in errs for m in e.messages] for field, errs in exc.error_dict.items()}
        else:
            detail = {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail=detail)
    elif isinstance(exc, exceptions.ParseError):
        # A body that cannot be parsed has no field to name: like DRF's "Expected a dictionary", it
        # is the body's own error, in the same shape as every other 400.
        exc = exceptions.ValidationError(detail={"non_field_errors": [str(exc.detail)]})
    elif isinstance(exc, DATABASE_UNAVAILABLE):
        view = context.get("view")
        _database_unavailable(exc, type(view).__name__ if view is not None else "the API")
        return Response(
            {"detail": DATABASE_UNAVAILABLE_MESSAGE},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    if (
        isinstance(exc, exceptions.ValidationError)
        and isinstance(exc.detail, dict)
        and any(
            isinstance(v, dict) or (isinstance(v, list) and any(isinstance(i, (dict, list)) for i in v))
            for v in exc.detail.values()
        )
    ):
        exc = exceptions.ValidationError(detail=_flat_errors(exc.detail))
    return exception_handler(exc, context)


class DatabaseUnavailableMiddleware:
    """A page whose database connection is lost answers 503 with a plain page (it cannot use the
    site's layout, which reads the database) instead of the generic 500."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not isinstance(exc, DATABASE_UNAVAILABLE):
            return None
        _database_unavailable(exc, request.path)
        response = HttpResponse(render_to_string("503.html", {"message": DATABASE_UNAVAILABLE_MESSAGE}), status=503)
        response["Retry-After"] = RETRY_AFTER_SECONDS
        return response


class StoredFileMissingMiddleware:
    """A page download whose stored file is missing answers 410 with the site's page saying so,
    instead of the generic 500."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if (name := missing_stored_file(exc)) is None:
            return None
        _stored_file_missing(name, request.path)
        return render(request, "410.html", {"message": STORED_FILE_MISSING_MESSAGE}, status=410)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 view (config.urls.handler404). A URL under /api/ that names no operation (a path
    id that is not a number, say) answers like the API's own 404s, in JSON; pages get the site's."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)
