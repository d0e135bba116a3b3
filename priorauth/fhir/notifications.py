"""PAS subscription notifications (FHIR R4 Subscriptions Backport): a `history` Bundle whose first
entry is the SubscriptionStatus Parameters. Full-resource notifications carry the updated
ClaimResponse, which is recorded like an imported response; id-only ones name it only: it is read
from the payer's enabled PAS endpoint when its URL lies under one, else the notification is logged
as an update to fetch (an exchange of outcome "received") and answered 202."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest

from priorauth import selectors
from priorauth.fhir import client
from priorauth.fhir.models import PasExchange
from priorauth.fhir.response import ResponseInvalid, claim_response_of
from priorauth.fhir.services import exchange_log, pas_response_record


def _parameters(status: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for p in status.get("parameter") or []:
        if isinstance(p, dict) and isinstance(p.get("name"), str):
            found.setdefault(p["name"], []).append(p)
    return found


def _identifiers(claim_response: dict[str, Any]) -> list[str]:
    values = [i.get("value") for i in claim_response.get("identifier") or [] if isinstance(i, dict)]
    request = claim_response.get("request")
    if isinstance(request, dict) and isinstance(request.get("identifier"), dict):
        values.append(request["identifier"].get("value"))
    return [v for v in values if isinstance(v, str)]


def notification_receive(*, payload: Any, by, http_request: HttpRequest | None = None) -> dict[str, Any]:
    """Record what a notification says; all of it or (ValidationError by FHIR path) nothing."""
    if not isinstance(payload, dict) or payload.get("resourceType") != "Bundle":
        raise ValidationError({"resourceType": "A notification is a FHIR Bundle."})
    if payload.get("type") != "history":
        raise ValidationError(
            {"Bundle.type": f"A subscription notification is a history bundle, not {payload.get('type')!r}."}
        )
    entries = payload.get("entry")
    if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
        raise ValidationError({"Bundle.entry": "The first entry must be the SubscriptionStatus Parameters."})
    status = entries[0].get("resource")
    if not isinstance(status, dict) or status.get("resourceType") != "Parameters":
        raise ValidationError({"Bundle.entry[0].resource": "must be the SubscriptionStatus Parameters."})
    params = _parameters(status)
    kind = (params.get("type") or [{}])[0].get("valueCode")
    if kind not in (
        "handshake",
        "heartbeat",
        "event-notification",
        "query-status",
        "query-event",
    ):
        raise ValidationError({"Bundle.entry[0].resource.parameter.type": f"unknown notification type {kind!r}"})
    result: dict[str, Any] = {"type": kind, "recorded": [], "fetch_needed": []}
    if kind != "event-notification":
        exchange_log(
            operation=PasExchange.Operation.NOTIFICATION,
            outcome=PasExchange.Outcome.RECEIVED,
            by=by,
            detail=kind,
        )
        return {**result, "fetch_needed": False}

    by_url = {e.get("fullUrl"): e.get("resource") for e in entries if isinstance(e, dict)}
    visible = selectors.requests_visible_to(by)
    # id-only: read each focus from the payer's endpoint where an enabled one serves its URL, before
    # any transaction (no row held over the network).
    for event in params.get("notification-event") or []:
        for part in event.get("part") or []:
            reference = (
                ((part or {}).get("valueReference") or {}).get("reference") if part.get("name") == "focus" else None
            )
            if (
                not isinstance(reference, str)
                or reference in by_url
                or not reference.startswith(("https://", "http://"))
            ):
                continue
            endpoint = client.endpoint_serving(reference)
            fetched = client.fetch(url=reference, endpoint=endpoint, by=by) if endpoint else None
            if fetched is not None:
                try:
                    by_url[reference] = claim_response_of(fetched)[0]
                except ResponseInvalid as exc:
                    raise ValidationError(exc.problems) from None
    with transaction.atomic():
        for n, event in enumerate(params.get("notification-event") or []):
            at = f"Bundle.entry[0].resource.parameter.notification-event[{n}]"
            parts = {p.get("name"): p for p in event.get("part") or [] if isinstance(p, dict)}
            focus = (parts.get("focus") or {}).get("valueReference") or {}
            reference = focus.get("reference")
            if not isinstance(reference, str):
                raise ValidationError({f"{at}.focus": "names no resource"})
            resource = by_url.get(reference)
            if resource is None:
                # id-only: the payer's ClaimResponse must be fetched; record that it changed.
                result["fetch_needed"].append(reference)
                exchange_log(
                    operation=PasExchange.Operation.NOTIFICATION,
                    outcome=PasExchange.Outcome.RECEIVED,
                    by=by,
                    detail="id-only: the updated ClaimResponse must be fetched",
                )
                continue
            if resource.get("resourceType") != "ClaimResponse":
                raise ValidationError(
                    {f"{at}.focus": f"focus is a {resource.get('resourceType')}, not a ClaimResponse"}
                )
            references = [i for i in _identifiers(resource) if i.startswith("PA-")]
            request = visible.filter(reference__in=references).first() if references else None
            if request is None:
                raise ValidationError(
                    {f"{at}.focus": "The ClaimResponse names no request of your practice (ClaimResponse.identifier)."}
                )
            decision = pas_response_record(
                request=request,
                payload=resource,
                by=by,
                operation=PasExchange.Operation.NOTIFICATION,
                http_request=http_request,
            )
            result["recorded"].append({"request": request.pk, "decision": decision.decision})
    result["fetch_needed"] = result["fetch_needed"] or False
    return result
