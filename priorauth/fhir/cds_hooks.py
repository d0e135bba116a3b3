"""A CDS Hooks 2.0 service for the practice's EHR (Da Vinci CRD's provider-facing half).

`order-sign` and `order-select` for a ServiceRequest of CPT 0275T: the order and its prefetch
(patient, coverage, conditions) become a case of the contract, this product's own checker
(coverage.checker.check) decides it under the payer's published policy, and the answer goes back as
CRD `coverage-information` (a system action annotating the order) and a card for the clinician with
a link to open the prior-authorization request here. Nothing is stored; the EHR authenticates with a
practice user's API token (Authorization: Bearer <token>), as it would with a CDS client JWT.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from coverage.checker import CaseInvalid, check
from policies.models import Payer
from policies.snapshot import current_snapshot
from priorauth import selectors
from priorauth.api import IsPracticeMember, JSONBodyParser, audit
from priorauth.api_tokens import AuditedTokenAuthentication
from priorauth.fhir.bundle import ICD10CM
from priorauth.fhir.models import PasEndpoint
from priorauth.models import UNDECIDED_STATUSES, AuditEntry, AuthorizationRequest

CRD_COVERAGE_INFORMATION = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
PROCEDURE_CODE = "0275T"

PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "coverage": "Coverage?patient={{context.patientId}}&status=active",
    "conditions": "Condition?patient={{context.patientId}}&clinical-status=active",
    "practitioner": "{{context.userId}}",
}
SERVICES = {
    "mild-0275t-order-sign": {
        "hook": "order-sign",
        "title": "mild® (CPT 0275T) coverage and prior authorization",
        "description": "Coverage information for a mild® procedure order under the patient's payer policy: "
        "covered or not, prior authorization needed, documentation still missing.",
    },
    "mild-0275t-order-select": {
        "hook": "order-select",
        "title": "mild® (CPT 0275T) coverage while ordering",
        "description": "The same coverage information as soon as a mild® procedure is selected.",
    },
}
GENDER = {"female": "F", "male": "M", "other": "X", "unknown": "U"}


class BearerTokenAuthentication(AuditedTokenAuthentication):
    """The EHR sends the practice's API token (expiring, revocable, audited like every other use)
    as CDS Hooks clients do: `Authorization: Bearer …`."""

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


class DiscoveryApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    # CDS Hooks is its own specification, not part of this product's REST API: not in its OpenAPI schema.
    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        return Response(
            {"services": [{"id": sid, **service, "prefetch": PREFETCH} for sid, service in SERVICES.items()]}
        )


def _resources(value: Any, resource_type: str) -> list[dict[str, Any]]:
    """The resources of a type in a prefetch value or draftOrders: a resource or a Bundle of them."""
    if not isinstance(value, dict):
        return []
    if value.get("resourceType") == resource_type:
        return [value]
    if value.get("resourceType") == "Bundle":
        return [
            e["resource"]
            for e in value.get("entry") or []
            if isinstance(e, dict)
            and isinstance(e.get("resource"), dict)
            and e["resource"].get("resourceType") == resource_type
        ]
    return []


def _codes(concept: Any, system: str | None = None) -> list[str]:
    if not isinstance(concept, dict):
        return []
    return [
        c["code"]
        for c in concept.get("coding") or []
        if isinstance(c, dict) and isinstance(c.get("code"), str) and (system is None or c.get("system") == system)
    ]


def _payer(coverage: dict[str, Any] | None) -> Payer | None:
    """The registry's payer for a Coverage: by its payor's identifier (the payer code, or the PAS
    endpoint's payer identifier) or its name."""
    if not coverage:
        return None
    for payor in coverage.get("payor") or []:
        if not isinstance(payor, dict):
            continue
        value = (payor.get("identifier") or {}).get("value")
        if value:
            found = Payer.objects.filter(code=value).first()
            endpoint = PasEndpoint.objects.filter(payer_identifier_value=value).select_related("payer").first()
            if found or endpoint:
                return found or endpoint.payer
        if payor.get("display"):
            found = Payer.objects.filter(name__iexact=payor["display"].strip()).first()
            if found:
                return found
    return None


def _levels(order: dict[str, Any]) -> list[str]:
    levels = []
    for site in order.get("bodySite") or []:
        text = (site or {}).get("text") if isinstance(site, dict) else None
        if isinstance(text, str):
            levels.append(text.split()[-1].upper())
    return levels


def _planned(order: dict[str, Any]) -> str | None:
    if isinstance(order.get("occurrenceDateTime"), str):
        return order["occurrenceDateTime"][:10]
    if isinstance((order.get("occurrencePeriod") or {}).get("start"), str):
        return order["occurrencePeriod"]["start"][:10]
    events = (order.get("occurrenceTiming") or {}).get("event") or []
    return events[0][:10] if events and isinstance(events[0], str) else None


def case_from_hook(order: dict[str, Any], prefetch: dict[str, Any], payer: Payer) -> dict[str, Any]:
    """The contract's case from the order and its prefetch; absent facts stay absent (the checker
    answers `missing` for them, which the card lists as documentation needed)."""
    case: dict[str, Any] = {"payer": payer.code}
    patients = _resources(prefetch.get("patient"), "Patient")
    coverages = _resources(prefetch.get("coverage"), "Coverage")
    if patients:
        p = patients[0]
        name = next((n for n in p.get("name") or [] if isinstance(n, dict)), {})
        case["patient"] = {
            "first_name": " ".join(name.get("given") or []),
            "last_name": name.get("family", ""),
            "birth_date": p.get("birthDate", ""),
            "sex": GENDER.get(p.get("gender"), "U"),
            "member_id": (coverages[0].get("subscriberId") if coverages else "") or "",
        }
    practitioners = _resources(prefetch.get("practitioner"), "Practitioner")
    if practitioners:
        npi = next(
            (
                i.get("value")
                for i in practitioners[0].get("identifier") or []
                if isinstance(i, dict) and i.get("system") == "http://hl7.org/fhir/sid/us-npi"
            ),
            None,
        )
        name = next((n for n in practitioners[0].get("name") or [] if isinstance(n, dict)), {})
        if npi:
            case["provider"] = {
                "npi": npi,
                "name": name.get("text") or " ".join([*(name.get("given") or []), name.get("family", "")]).strip(),
            }
    procedure: dict[str, Any] = {"cpt": PROCEDURE_CODE}
    if _levels(order):
        procedure["levels"] = _levels(order)
    if _planned(order):
        procedure["planned_date"] = _planned(order)
    case["procedure"] = procedure
    diagnoses = [c for concept in order.get("reasonCode") or [] for c in _codes(concept, ICD10CM)]
    for condition in _resources(prefetch.get("conditions"), "Condition"):
        diagnoses.extend(c for c in _codes(condition.get("code"), ICD10CM) if c not in diagnoses)
    if diagnoses:
        case["diagnoses"] = diagnoses
    return case


def coverage_information(determination: dict[str, Any], coverage_ref: str) -> dict[str, Any]:
    decision = determination["decision"]
    covered = {"meets_criteria": "covered", "not_met": "not-covered"}.get(decision, "conditional")
    pa_required = bool((determination.get("prior_authorization") or {}).get("required"))
    extension: list[dict[str, Any]] = [
        {"url": "coverage", "valueReference": {"reference": coverage_ref}},
        {"url": "covered", "valueCode": covered},
    ]
    # CRD's invariants: no pa-needed when not covered (crd-ci-q2); a conditional answer says what
    # information is needed (crd-ci-q3), and "other" information needs the reason (crd-ci-q6).
    if covered != "not-covered":
        extension.append(
            {
                "url": "pa-needed",
                "valueCode": "auth-needed" if pa_required else "no-auth",
            }
        )
    if determination.get("missing"):
        extension.append({"url": "doc-needed", "valueCode": "clinical"})
    if determination.get("missing") or covered == "conditional":
        extension.append({"url": "info-needed", "valueCode": "OTH"})
    reasons = _reasons(determination) or (
        ["The payer's policy leaves coverage conditional."] if covered == "conditional" else []
    )
    if reasons:
        extension.append(
            {
                "url": "reason",
                "valueCodeableConcept": {"text": "; ".join(reasons)[:1000]},
            }
        )
    extension += [
        {"url": "date", "valueDate": timezone.localdate().isoformat()},
        {"url": "coverage-assertion-id", "valueString": uuid.uuid4().hex},
    ]
    return {"url": CRD_COVERAGE_INFORMATION, "extension": extension}


def _reasons(determination: dict[str, Any]) -> list[str]:
    not_met = [
        f"{c['label']}: {c['reason']}"
        for section in ("clinical", "payer_rules")
        for c in (determination.get(section) or {}).get("criteria", [])
        if c.get("status") == "not_met"
    ]
    return not_met or list(determination.get("missing") or [])


class HookApi(APIView):
    authentication_classes = [BearerTokenAuthentication, AuditedTokenAuthentication]
    permission_classes = [IsAuthenticated, IsPracticeMember]
    parser_classes = [JSONBodyParser]

    @extend_schema(exclude=True)
    def post(self, request: Request, service_id: str) -> Response:
        service = SERVICES.get(service_id)
        if service is None:
            raise NotFound(f"No CDS service {service_id!r}.")
        body = request.data if isinstance(request.data, dict) else {}
        errors = {}
        if body.get("hook") != service["hook"]:
            errors["hook"] = f"This service answers the {service['hook']} hook."
        if not isinstance(body.get("hookInstance"), str):
            errors["hookInstance"] = "Required (a string)."
        context = body.get("context")
        if not isinstance(context, dict):
            errors["context"] = "Required (an object)."
        elif not isinstance(context.get("draftOrders"), dict):
            errors["context.draftOrders"] = "Required (a Bundle of the draft orders)."
        prefetch = body.get("prefetch", {})
        if not isinstance(prefetch, dict):
            errors["prefetch"] = "Must be an object."
        if errors:
            raise ValidationError(errors)
        orders = [
            o for o in _resources(context["draftOrders"], "ServiceRequest") if PROCEDURE_CODE in _codes(o.get("code"))
        ]
        if service["hook"] == "order-select" and isinstance(context.get("selections"), list):
            selected = set(context["selections"])
            orders = [o for o in orders if f"ServiceRequest/{o.get('id')}" in selected]
        cards, actions = [], []
        for order in orders:
            card, action = self._answer(request, order, prefetch)
            cards.append(card)
            if action:
                actions.append(action)
        audit(
            request,
            AuditEntry.Action.READ,
            model=AuthorizationRequest,
            detail=f"cds-hooks {service_id}: {len(orders)} order(s)",
        )
        return Response({"cards": cards, "systemActions": actions})

    def _answer(
        self, request: Request, order: dict[str, Any], prefetch: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        coverages = _resources(prefetch.get("coverage"), "Coverage")
        payer = _payer(coverages[0] if coverages else None)
        source = {
            "label": "mild® prior authorization",
            "topic": {
                "code": "coverage-information",
                "system": "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp",
            },
        }
        if payer is None:
            return {
                "uuid": str(uuid.uuid4()),
                "summary": "mild® (0275T): the patient's payer is not in the coverage registry",
                "indicator": "warning",
                "detail": "No Coverage in the prefetch names a payer this service knows (by payer code, payer identifier or name).",
                "source": source,
            }, None
        case = case_from_hook(order, prefetch, payer)
        try:
            determination = check(case, snapshot=current_snapshot(), today=timezone.localdate())
        except CaseInvalid as exc:
            return {
                "uuid": str(uuid.uuid4()),
                "summary": "mild® (0275T): the order could not be checked",
                "indicator": "warning",
                "detail": "\n".join(f"- `{e.path}`: {e.message}" for e in exc.errors),
                "source": source,
            }, None
        coverage_ref = f"Coverage/{coverages[0].get('id')}" if coverages and coverages[0].get("id") else "Coverage"
        info = coverage_information(determination, coverage_ref)
        annotated = {**order, "extension": [*(order.get("extension") or []), info]}
        pa = (determination.get("prior_authorization") or {}).get("required")
        decision = determination["decision"].replace("_", " ")
        summary = (
            f"mild® (0275T) under {payer.name}: {decision}; prior authorization {'needed' if pa else 'not needed'}"
        )
        lines = [f"**Policy:** {determination['policy'].get('code')} — {determination['policy'].get('title', '')}"]
        if determination.get("missing"):
            lines.append("**Documentation still needed:**\n" + "\n".join(f"- {m}" for m in determination["missing"]))
        not_met = [r for r in _reasons(determination) if r not in (determination.get("missing") or [])]
        if not_met:
            lines.append("**Not met:**\n" + "\n".join(f"- {r}" for r in not_met))
        if determination.get("claim_requirements"):
            lines.append("**On the claim:** " + ", ".join(determination["claim_requirements"]))
        card = {
            "uuid": str(uuid.uuid4()),
            "summary": summary[:140],
            "indicator": "info" if determination["decision"] == "meets_criteria" else "warning",
            "detail": "\n\n".join(lines),
            "source": source,
            "suggestions": [
                {
                    "label": "Record the coverage information on the order",
                    "uuid": str(uuid.uuid4()),
                    "isRecommended": True,
                    "actions": [
                        {
                            "type": "update",
                            "description": "Add CRD coverage-information",
                            "resource": annotated,
                        }
                    ],
                }
            ],
            "links": [self._link(request, payer, case)],
        }
        return card, {
            "type": "update",
            "description": "CRD coverage-information for the mild® order",
            "resource": annotated,
        }

    def _link(self, request: Request, payer: Payer, case: dict[str, Any]) -> dict[str, str]:
        member_id = (case.get("patient") or {}).get("member_id")
        existing = (
            selectors.requests_visible_to(request.user)
            .filter(payer=payer, patient__member_id=member_id, status__in=UNDECIDED_STATUSES)
            .first()
            if member_id
            else None
        )
        if existing is not None:
            return {
                "label": f"Open prior-authorization request {existing.reference}",
                "url": request.build_absolute_uri(reverse("pages:request-detail", args=[existing.pk])),
                "type": "absolute",
            }
        return {
            "label": "Start the prior-authorization request",
            "url": request.build_absolute_uri(reverse("pages:request-new")) + f"?payer={payer.code}",
            "type": "absolute",
        }
