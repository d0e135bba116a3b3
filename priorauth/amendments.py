"""Corrections after submission (issue 13): staff amend a submitted, sent or pended request (a
member-ID typo, the MRI measurement the payer asked for). The change is recorded with who, when and
why; the determination is re-run as a new revision, the earlier one kept on the amendment; a pended
request can go back to the payer in the same step, with what was added as the sending's note.

New services beside priorauth.services (which they reuse), rather than a rewrite of the workflow.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest

from coverage.checker import CaseInvalid, check
from policies.models import PolicyVersion
from policies.snapshot import current_snapshot
from priorauth import permissions, services
from priorauth.models import AuditEntry, AuthorizationRequest, RequestAmendment, Status
from priorauth.permissions import User

AMENDABLE_STATUSES: tuple[str, ...] = (Status.SUBMITTED, Status.SENT, Status.PENDED)


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """{dotted path: value} of a case's leaves (lists compared whole)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_leaves(item, f"{prefix}.{key}" if prefix else key))
        return out
    return {prefix: value}


def _label(path: str) -> str:
    """A path as staff read it: "clinical.imaging.ligamentum_flavum_mm" → "Imaging: ligamentum flavum mm"."""
    parts = [p for p in path.split(".") if p not in ("clinical", "administrative")]
    words = [p.replace("_", " ") for p in parts]
    head = words[0].capitalize() if words else path
    return head + (": " + " ".join(words[1:]) if len(words) > 1 else "")


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value) if value else "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def changes_between(old_case: dict[str, Any], new_case: dict[str, Any]) -> list[dict[str, str]]:
    old, new = _leaves(old_case), _leaves(new_case)
    return [
        {
            "path": path,
            "label": _label(path),
            "old": _shown(old.get(path)),
            "new": _shown(new.get(path)),
        }
        for path in sorted(set(old) | set(new))
        if old.get(path) != new.get(path)
    ]


def summary(changes: list[dict[str, str]]) -> str:
    return "; ".join(f"{c['label']}: {c['old']} → {c['new']}" for c in changes)


def request_amend(
    *,
    request: AuthorizationRequest,
    by: User,
    reason: str,
    case: dict[str, Any] | None = None,
    patient_fields: dict[str, Any] | None = None,
    send_to_payer: bool = False,
    sent_at: dt.datetime | None = None,
    http_request: HttpRequest | None = None,
) -> RequestAmendment:
    """Correct a submitted, sent or pended request: `case` is the entered case as corrected (its
    payer, patient and provider parts still come from the records), `patient_fields` corrects the
    patient's record (e.g. member_id). Refused without a reason or without any change."""
    permissions.require(by, "request.amend", request)
    reason = (reason or "").strip()
    with transaction.atomic():
        request = services._locked(request)
        if request.status not in AMENDABLE_STATUSES:
            raise ValidationError(
                {
                    "status": f"Only a submitted, sent or pended request can be corrected; this one is {request.get_status_display().lower()}."
                }
            )
        errors: dict[str, str] = {}
        if not reason:
            errors["reason"] = "Say why the request is corrected (e.g. the payer asked for the MRI measurement)."
        if send_to_payer and request.status != Status.PENDED:
            errors["send_to_payer"] = "Only a pended request goes back to the payer with its correction."
        if errors:
            raise ValidationError(errors)
        before = dict(request.case)
        if patient_fields:
            services.patient_update(patient=request.patient, by=by, **patient_fields)
            request.patient.refresh_from_db()
        # The record parts (payer, patient, provider) always come from the records, so a full case
        # (as stored, or as the API returns it) is taken without them.
        source = case if case is not None else request.case
        if isinstance(source, dict):
            source = {k: v for k, v in source.items() if k not in services.RECORD_PARTS}
        entered = services._entered_case(source)
        request.case = services.case_build(request=request, entered=entered)
        request.expedited = (entered.get("administrative") or {}).get("expedited") is True
        changes = changes_between(before, request.case)
        if not changes:
            raise ValidationError({"case": "Nothing was changed: correct a field, or cancel."})
        try:
            determination = check(request.case, snapshot=current_snapshot(), today=request.practice.localdate())
        except CaseInvalid as exc:
            raise ValidationError(
                {
                    f"case.{e.path}"
                    if e.path.split(".", 1)[0] not in services.RECORD_PARTS
                    else e.path.split(".", 1)[0]: e.message
                    for e in exc.errors
                }
            ) from None
        revision = determination["policy"].get("revision")
        version = PolicyVersion.objects.filter(policy__payer=request.payer, revision=revision).first()
        number = (request.amendments.order_by("-number").values_list("number", flat=True).first() or 1) + 1
        amendment = RequestAmendment.objects.create(
            request=request,
            number=number,
            by=by,
            reason=reason,
            status_at_amendment=request.status,
            changes=changes,
            previous_determination=request.determination,
            previous_decision=request.decision,
            previous_policy_version=request.policy_version,
            new_decision=determination["decision"],
            sent_to_payer=send_to_payer,
        )
        request.determination = determination
        request.decision = determination["decision"]
        request.criteria_statuses = services._criteria_statuses(determination)
        request.policy_version = version or request.policy_version
        request.save()
        if send_to_payer:
            services.request_send(
                request=request,
                by=by,
                sent_at=sent_at,
                note=f"Sent the requested information: {summary(changes)} ({reason})",
            )
        services.audit_change(by, AuditEntry.Action.UPDATE, request, http_request, f"amendment r{amendment.number}")
        return amendment


def request_redetermine(
    *, request: AuthorizationRequest, by: User, http_request: HttpRequest | None = None
) -> RequestAmendment:
    """Re-run the determination of a submitted, sent or pended request under its payer's current
    policy version, from the policy-change banner: a new revision (the earlier one kept), and the
    banner's re-check results marked seen, so the banner, the determination box and the list agree."""
    from django.utils import timezone

    permissions.require(by, "request.redetermine", request)
    with transaction.atomic():
        request = services._locked(request)
        if request.status not in AMENDABLE_STATUSES:
            raise ValidationError(
                {
                    "status": f"Only a submitted, sent or pended request is re-checked; this one is {request.get_status_display().lower()}."
                }
            )
        try:
            determination = check(request.case, snapshot=current_snapshot(), today=request.practice.localdate())
        except CaseInvalid as exc:
            raise ValidationError({"case": [e.message for e in exc.errors]}) from None
        revision = determination["policy"].get("revision")
        version = PolicyVersion.objects.filter(policy__payer=request.payer, revision=revision).first()
        number = (request.amendments.order_by("-number").values_list("number", flat=True).first() or 1) + 1
        amendment = RequestAmendment.objects.create(
            request=request,
            number=number,
            by=by,
            reason=f"Determination re-run under the payer's policy revision {revision}.",
            status_at_amendment=request.status,
            changes=[],
            previous_determination=request.determination,
            previous_decision=request.decision,
            previous_policy_version=request.policy_version,
            new_decision=determination["decision"],
        )
        request.determination = determination
        request.decision = determination["decision"]
        request.criteria_statuses = services._criteria_statuses(determination)
        request.policy_version = version or request.policy_version
        request.save()
        request.recheck_results.filter(seen_at__isnull=True).update(seen_at=timezone.now(), seen_by=by)
        services.audit_change(by, AuditEntry.Action.UPDATE, request, http_request, f"redetermined r{amendment.number}")
        return amendment
