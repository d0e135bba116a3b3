"""The audit trail's record of access itself, beside the records' reads and writes (services.audit_record):
sign-ins, failed sign-ins and sign-outs (Django's auth signals, for the pages, the admin and the API
token exchange), each use of an API token, and every refused access to a PHI object (a 403 or 404 on
a URL that names one).

Entries for a request are written by AccessAuditMiddleware after the view has answered, outside the
view's transaction: an API change that fails is rolled back whole (priorauth.api.BaseApi), but the
token use and the refusal that came with it stay on record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

PENDING = "_pending_access_audit"
# URL keyword arguments that name an object.
OBJECT_KWARGS = ("pk", "object_id")
# The PHI-bearing record a route names, by the first word of its name (API and pages), or by the
# admin's "<app>_<model>_<view>" names.
ROUTE_OBJECTS = {
    "request": "priorauth.authorizationrequest",
    "patient": "priorauth.patient",
    "letter": "priorauth.letter",
    "recheck": "priorauth.recheckresult",
    "attachment": "priorauth.attachment",
}


def defer(request: HttpRequest, **entry: Any) -> None:
    """Queue an entry for this request, written once it has been answered."""
    pending = getattr(request, PENDING, None)
    if pending is None:
        pending = []
        setattr(request, PENDING, pending)
    pending.append(entry)


def _routed_object(request: HttpRequest) -> tuple[str, str, str] | None:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return None
    object_id = next((str(match.kwargs[k]) for k in OBJECT_KWARGS if k in match.kwargs), "")
    if not object_id and "admin" in match.namespaces and match.args:
        object_id = str(match.args[0])  # django-simple-history's version page: positional groups
    if not object_id:
        return None
    name = match.url_name or ""
    if "admin" in match.namespaces:
        # "<app>_<model>_<view>" (model names have no underscore; views may: simple_history).
        app_label, model_name = (name.split("_") + ["", ""])[:2]
        object_type = f"{app_label}.{model_name}"
    else:
        object_type = ROUTE_OBJECTS.get(name.split("-")[0], f"route {match.view_name}"[:100])
    return object_type, object_id, match.view_name


class AccessAuditMiddleware:
    """Writes the deferred entries of a request, and a refusal for a 403/404 on an object's URL."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        from priorauth.models import AuditEntry
        from priorauth.services import audit_record

        entries = list(getattr(request, PENDING, None) or [])
        user = getattr(request, "user", None)
        if response.status_code in (403, 404) and getattr(user, "is_authenticated", False):
            routed = _routed_object(request)
            if routed is not None:
                object_type, object_id, view_name = routed
                entries.append(
                    {
                        "user": user,
                        "action": AuditEntry.Action.REFUSED,
                        "object_type": object_type,
                        "object_id": object_id,
                        "detail": f"{response.status_code} {request.method} {view_name}",
                    }
                )
        for entry in entries:
            try:
                audit_record(request=request, **entry)
            except DatabaseError:  # the answer stands; the database's own failure is logged elsewhere
                logger.error("audit entry not written: %s", entry.get("action"))
        return response


# ---------------------------------------------------------------------------------------------
# Django's auth signals (connected in priorauth/signals.py)


def _http_request(request) -> HttpRequest | None:
    return getattr(request, "_request", request)  # DRF's Request wraps Django's


def on_signed_in(sender, request, user, **kwargs) -> None:
    from priorauth.models import AuditEntry
    from priorauth.services import audit_record

    how = "token" if getattr(request, "_signing_in_for_token", False) else "session"
    audit_record(user=user, action=AuditEntry.Action.SIGN_IN, obj=user, request=_http_request(request), detail=how)


def on_sign_in_failed(sender, credentials, request=None, **kwargs) -> None:
    from priorauth.models import AuditEntry
    from priorauth.services import audit_record

    username = str(credentials.get("username", ""))[:150]
    audit_record(
        user=None,
        username=username,
        action=AuditEntry.Action.SIGN_IN_FAILED,
        model=get_user_model(),
        request=_http_request(request),
    )


def on_signed_out(sender, request, user, **kwargs) -> None:
    from priorauth.models import AuditEntry
    from priorauth.services import audit_record

    if user is not None and getattr(user, "pk", None):
        audit_record(user=user, action=AuditEntry.Action.SIGN_OUT, obj=user, request=_http_request(request))
