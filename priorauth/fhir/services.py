"""Writes of electronic prior authorization. A payer's answer is recorded only through
priorauth.services (request_send, decision_record), so the status machine, the deadlines and the
audit trail stay the workflow's own; this module adds reading the FHIR and logging the exchange."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from priorauth import services as workflow
from priorauth.fhir.models import PasEndpoint, PasExchange
from priorauth.fhir.response import PayerAnswer, ResponseInvalid, read_response
from priorauth.models import AuditEntry, AuthorizationRequest, PayerDecision, Status

OUTCOME_OF_DECISION = {
    PayerDecision.Kind.APPROVED: PasExchange.Outcome.APPROVED,
    PayerDecision.Kind.DENIED: PasExchange.Outcome.DENIED,
    PayerDecision.Kind.PENDED: PasExchange.Outcome.PENDED,
}


def exchange_log(
    *,
    operation: str,
    outcome: str,
    by: AbstractBaseUser | AnonymousUser | None = None,
    request: AuthorizationRequest | None = None,
    endpoint: PasEndpoint | None = None,
    http_status: int | None = None,
    duration_ms: int = 0,
    detail: str = "",
) -> PasExchange:
    """One exchange, no PHI: `detail` holds codes and counts only."""
    return PasExchange.objects.create(
        by=by if getattr(by, "pk", None) else None,
        request=request,
        endpoint=endpoint,
        operation=operation,
        outcome=outcome,
        http_status=http_status,
        duration_ms=max(0, int(duration_ms)),
        detail=detail[:300],
    )


def answer_read(payload: Any, *, request: AuthorizationRequest) -> PayerAnswer:
    """The payer's answer, refused (ValidationError by FHIR path) if unreadable or for another request."""
    try:
        answer = read_response(payload)
    except ResponseInvalid as exc:
        raise ValidationError(exc.problems) from None
    ours = [i for i in answer.identifiers if i.startswith("PA-")]
    if ours and request.reference not in ours:
        raise ValidationError(
            {"ClaimResponse.identifier": f"This response answers request {ours[0]}, not {request.reference}."}
        )
    return answer


def _received_at(answer: PayerAnswer, request: AuthorizationRequest, now: dt.datetime) -> dt.datetime:
    # The payer's `created` is the decision's date; one we cannot place (before our sending, in the
    # future, absent) is replaced by the time we received it, which is when the practice learnt of it.
    created = answer.created
    if created is None or created > now or (request.sent_at and created < request.sent_at):
        return now
    return created


def pas_response_record(
    *,
    request: AuthorizationRequest,
    payload: Any,
    by: AbstractBaseUser,
    operation: str = PasExchange.Operation.IMPORT,
    endpoint: PasEndpoint | None = None,
    http_status: int | None = None,
    duration_ms: int = 0,
    http_request: HttpRequest | None = None,
) -> PayerDecision:
    """Record a PAS response as the payer's decision on `request`: all of it or, on any problem
    (ValidationError naming the FHIR path or the workflow field), nothing."""
    answer = answer_read(payload, request=request)
    with transaction.atomic():
        now = timezone.now()
        if request.status == Status.SUBMITTED:
            # A response proves the payer has the request: record the sending first, as staff would.
            request = workflow.request_send(request=request, by=by, sent_at=now, note="sent by PAS (Claim/$submit)")
        request.refresh_from_db()
        decision = workflow.decision_record(
            request=request,
            by=by,
            decision=answer.decision,
            received_at=_received_at(answer, request, now),
            authorization_number=answer.authorization_number,
            payer_reference=answer.payer_reference,
            valid_from=answer.valid_from,
            valid_to=answer.valid_to,
            stated_reason=answer.stated_reason,
            reason_category=answer.reason_category,
        )
        workflow.audit_record(
            user=by,
            action=AuditEntry.Action.UPDATE,
            obj=request,
            request=http_request,
            detail=f"PAS response {answer.action_code}: decision {decision.decision} #{decision.pk}",
        )
        exchange_log(
            operation=operation,
            outcome=OUTCOME_OF_DECISION[decision.decision],
            by=by,
            request=request,
            endpoint=endpoint,
            http_status=http_status,
            duration_ms=duration_ms,
            detail=f"X12 306 {answer.action_code}",
        )
        return decision
