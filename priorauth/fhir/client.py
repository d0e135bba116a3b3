"""Live submission to a payer's PAS endpoint (`Claim/$submit`), off unless an admin enabled the
payer's PasEndpoint. The bundle is checked before it goes; the HTTP exchange runs outside any
database transaction; every exchange is logged (PasExchange: who, when, endpoint, outcome,
timing, no PHI) whatever happens after it."""

from __future__ import annotations

import base64
import logging
import os
import time
from typing import Any

import requests
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from rest_framework.exceptions import APIException

from priorauth.fhir.bundle import request_bundle
from priorauth.fhir.models import PasEndpoint, PasExchange
from priorauth.fhir.response import ResponseInvalid, read_response
from priorauth.fhir.services import exchange_log, pas_response_record
from priorauth.fhir.validator import validate_bundle
from priorauth.models import AuthorizationRequest, Status

logger = logging.getLogger(__name__)
FHIR_JSON = "application/fhir+json"


class PayerUnavailable(APIException):
    status_code = 502
    default_detail = "The payer's PAS endpoint could not be reached."
    default_code = "payer_unavailable"


def endpoint_for(request: AuthorizationRequest) -> PasEndpoint:
    endpoint = PasEndpoint.objects.filter(payer=request.payer).first()
    if endpoint is None or not endpoint.enabled:
        raise ValidationError(
            {"payer": f"{request.payer.name} has no enabled PAS endpoint; an admin must add and enable one first."}
        )
    return endpoint


def _headers(endpoint: PasEndpoint) -> dict[str, str]:
    headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
    secret = os.environ.get(endpoint.credential_env, "") if endpoint.credential_env else ""
    if endpoint.auth != PasEndpoint.Auth.NONE and not secret:
        raise ValidationError({"credential_env": f"The environment variable {endpoint.credential_env} is not set."})
    if endpoint.auth == PasEndpoint.Auth.BEARER:
        headers["Authorization"] = f"Bearer {secret}"
    elif endpoint.auth == PasEndpoint.Auth.BASIC:
        token = base64.b64encode(f"{endpoint.username}:{secret}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    return headers


def _operation_outcome(payload: Any) -> dict[str, str]:
    if isinstance(payload, dict) and payload.get("resourceType") == "OperationOutcome":
        try:
            read_response(payload)
        except ResponseInvalid as exc:
            return exc.problems
    return {}


def submit(*, request: AuthorizationRequest, by, http_request: HttpRequest | None = None) -> Any:
    """Send the request's PAS bundle and record the payer's answer through the workflow services."""
    if request.status != Status.SUBMITTED:
        raise ValidationError({"status": "Only a submitted request (checked, not yet sent) goes to the payer by PAS."})
    endpoint = endpoint_for(request)
    bundle = request_bundle(request)
    report = validate_bundle(bundle)
    if not report.valid:
        raise ValidationError({p.path: p.message for p in report.errors})
    headers = _headers(endpoint)
    started = time.monotonic()
    try:
        response = requests.post(
            endpoint.submit_url,
            json=bundle,
            headers=headers,
            timeout=endpoint.timeout_seconds,
        )
    except requests.RequestException as exc:
        elapsed = (time.monotonic() - started) * 1000
        exchange_log(
            operation=PasExchange.Operation.SUBMIT,
            outcome=PasExchange.Outcome.FAILED,
            by=by,
            request=request,
            endpoint=endpoint,
            duration_ms=elapsed,
            detail=type(exc).__name__,
        )
        logger.warning(
            "PAS submit of request %s to endpoint %s failed: %s",
            request.pk,
            endpoint.pk,
            type(exc).__name__,
        )
        raise PayerUnavailable() from None
    elapsed = (time.monotonic() - started) * 1000
    try:
        payload = response.json()
    except ValueError:
        payload = None
    log = {
        "by": by,
        "request": request,
        "endpoint": endpoint,
        "http_status": response.status_code,
        "duration_ms": elapsed,
    }
    if response.status_code >= 400 or payload is None:
        problems = _operation_outcome(payload)
        exchange_log(
            operation=PasExchange.Operation.SUBMIT,
            outcome=PasExchange.Outcome.REJECTED if problems else PasExchange.Outcome.FAILED,
            detail=f"HTTP {response.status_code}, {len(problems)} issue(s)",
            **log,
        )
        if problems:
            raise ValidationError(problems)
        raise PayerUnavailable(f"The payer's PAS endpoint answered HTTP {response.status_code} without a FHIR answer.")
    try:
        return pas_response_record(
            payload=payload,
            operation=PasExchange.Operation.SUBMIT,
            http_request=http_request,
            **log,
        )
    except ValidationError as exc:
        exchange_log(
            operation=PasExchange.Operation.SUBMIT,
            outcome=PasExchange.Outcome.REJECTED,
            detail=f"HTTP {response.status_code}, answer not recorded: {', '.join(sorted(exc.message_dict))}"[:300],
            **log,
        )
        raise


def endpoint_serving(url: str) -> PasEndpoint | None:
    """The enabled endpoint whose base URL the resource URL lies under (an id-only notification's focus)."""
    for endpoint in PasEndpoint.objects.filter(enabled=True).select_related("payer"):
        if url.startswith(endpoint.base_url.rstrip("/") + "/"):
            return endpoint
    return None


def fetch(*, url: str, endpoint: PasEndpoint, by) -> Any:
    """Read a resource (the ClaimResponse an id-only notification names) from the payer's endpoint;
    the exchange is logged. None when it cannot be read."""
    headers = {k: v for k, v in _headers(endpoint).items() if k != "Content-Type"}
    started = time.monotonic()
    try:
        response = requests.get(url, headers=headers, timeout=endpoint.timeout_seconds)
        payload = response.json() if response.ok else None
    except (requests.RequestException, ValueError) as exc:
        exchange_log(
            operation=PasExchange.Operation.FETCH,
            outcome=PasExchange.Outcome.FAILED,
            by=by,
            endpoint=endpoint,
            duration_ms=(time.monotonic() - started) * 1000,
            detail=type(exc).__name__,
        )
        return None
    exchange_log(
        operation=PasExchange.Operation.FETCH,
        outcome=PasExchange.Outcome.RECEIVED if payload is not None else PasExchange.Outcome.FAILED,
        by=by,
        endpoint=endpoint,
        http_status=response.status_code,
        duration_ms=(time.monotonic() - started) * 1000,
        detail="ClaimResponse read",
    )
    return payload
