"""The page where staff review what PAS will send before it goes: the bundle's resources in words,
its check against the guide (errors and warnings by FHIR path), the raw JSON, the PAS exchanges so
far, and (billing staff, an enabled endpoint, a submitted request) the button that submits it."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from rest_framework.exceptions import APIException

from priorauth import permissions, selectors
from priorauth.fhir import client
from priorauth.fhir.bundle import request_bundle
from priorauth.fhir.models import PasEndpoint
from priorauth.fhir.validator import validate_bundle
from priorauth.models import AuditEntry, Status
from priorauth.pages.views import audit


def _summary(bundle: dict) -> list[dict[str, str]]:
    rows = []
    for entry in bundle["entry"]:
        r = entry["resource"]
        kind = r["resourceType"]
        if kind == "Claim":
            what = f"use {r['use']}, priority {r['priority']['coding'][0]['code']}, {len(r.get('supportingInfo', []))} supporting item(s)"
        elif kind == "Patient":
            name = r["name"][0]
            what = f"{name.get('family')}, {' '.join(name.get('given', []))} · born {r.get('birthDate')} · member {r['identifier'][0]['value']}"
        elif kind == "Coverage":
            what = f"member ID {r.get('subscriberId')}"
        elif kind == "Organization":
            what = r.get("name", "")
        elif kind == "Practitioner":
            what = f"{r['name'][0].get('text')} · NPI {r['identifier'][0]['value']}"
        elif kind == "Condition":
            what = "ICD-10-CM " + r["code"]["coding"][0]["code"]
        elif kind == "ServiceRequest":
            what = "CPT " + r["code"]["coding"][0]["code"] + "".join(f" · {b['text']}" for b in r.get("bodySite", []))
            if r.get("occurrenceTiming"):
                what += " · planned " + r["occurrenceTiming"]["event"][0]
        elif kind == "DocumentReference":
            what = f"{r.get('description', '')} ({r['content'][0]['attachment']['contentType']})"
        else:
            what = ""
        rows.append({"type": kind, "what": what})
    return rows


@login_required
def pas_review(request: HttpRequest, pk: int) -> HttpResponse:
    if selectors.membership_of(request.user) is None:
        return render(request, "pages/no_practice.html", status=403)
    obj = selectors.request_get(user=request.user, pk=pk)
    endpoint = PasEndpoint.objects.filter(payer=obj.payer, enabled=True).first()
    may_submit = permissions.can(request.user, "request.pas_submit", obj)
    if request.method == "POST":
        # Not in one transaction with the page: the exchange's log entry must stay whatever happens.
        permissions.require(request.user, "request.pas_submit", obj)
        try:
            client.submit(request=obj, by=request.user, http_request=request)
        except ValidationError as exc:
            for field, problems in exc.message_dict.items():
                messages.error(request, f"{field}: {' '.join(problems)}")
        except APIException as exc:
            messages.error(request, str(exc.detail))
        else:
            messages.success(
                request,
                "Submitted to the payer by PAS; its answer is recorded on the request.",
            )
        return redirect("request-pas-review", pk=obj.pk)
    bundle = request_bundle(obj)
    report = validate_bundle(bundle, must_support=True)
    audit(request, AuditEntry.Action.READ, obj, detail="pas-bundle review")
    return render(
        request,
        "pas/review.html",
        {
            "obj": obj,
            "rows": _summary(bundle),
            "report": report,
            "bundle_json": json.dumps(bundle, indent=2)[:200_000],
            "endpoint": endpoint,
            "can_submit": may_submit and endpoint is not None and obj.status == Status.SUBMITTED and report.valid,
            "exchanges": list(obj.pas_exchanges.select_related("by", "endpoint")[:20]),
        },
    )
