"""The CDS Hooks service (CRD's provider-facing half): discovery, order-sign and order-select for a
0275T ServiceRequest, answered with `coverage-information` from the product's own checker and a link
to open the request here."""

from __future__ import annotations

import json

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from coverage.checker import check
from factories import draft_for
from policies.models import Payer
from policies.snapshot import current_snapshot
from priorauth.fhir.cds_hooks import CRD_COVERAGE_INFORMATION, case_from_hook

SIGN = "/cds-services/mild-0275t-order-sign"
SELECT = "/cds-services/mild-0275t-order-select"


def order(code="0275T", oid="sr1"):
    return {
        "resourceType": "ServiceRequest",
        "id": oid,
        "status": "draft",
        "intent": "order",
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": code}]},
        "subject": {"reference": "Patient/p1"},
        "bodySite": [{"text": "Lumbar level L4-L5"}],
        "occurrenceDateTime": "2026-12-15",
        "reasonCode": [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M48.062"}]}],
    }


def hook_body(
    hook="order-sign",
    orders=None,
    payer="medicare-advantage",
    member_id="1EG4TE5MK72",
    selections=None,
):
    context = {
        "userId": "Practitioner/d1",
        "patientId": "p1",
        "draftOrders": {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": o} for o in orders or [order()]],
        },
    }
    if selections is not None:
        context["selections"] = selections
    return {
        "hook": hook,
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": context,
        "prefetch": {
            "patient": {
                "resourceType": "Patient",
                "id": "p1",
                "name": [{"family": "Moreno", "given": ["Ada"]}],
                "gender": "female",
                "birthDate": "1949-03-02",
            },
            "coverage": {
                "resourceType": "Bundle",
                "entry": [
                    {
                        "resource": {
                            "resourceType": "Coverage",
                            "id": "c1",
                            "status": "active",
                            "subscriberId": member_id,
                            "payor": [{"identifier": {"value": payer}}],
                        }
                    }
                ],
            },
        },
    }


def ehr(user):
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {AuthToken.objects.create(user)[1]}")
    return client


def call(user, url, body):
    return ehr(user).post(url, data=json.dumps(body), content_type="application/json")


def coverage_info(resource):
    (ext,) = [e for e in resource.get("extension", []) if e["url"] == CRD_COVERAGE_INFORMATION]
    return {e["url"]: next(v for k, v in e.items() if k.startswith("value")) for e in ext["extension"]}


def test_discovery_lists_the_order_sign_and_order_select_services(db):
    body = APIClient().get("/cds-services").json()
    services = {s["id"]: s for s in body["services"]}
    assert services["mild-0275t-order-sign"]["hook"] == "order-sign"
    assert services["mild-0275t-order-select"]["hook"] == "order-select"
    assert "patient" in services["mild-0275t-order-sign"]["prefetch"]


def test_order_sign_answers_with_coverage_information_from_the_checker(world):
    response = call(world.alice, SIGN, hook_body())
    assert response.status_code == 200, response.content
    body = response.json()
    (card,) = body["cards"]
    (action,) = body["systemActions"]
    info = coverage_info(action["resource"])
    payer = Payer.objects.get(code="medicare-advantage")
    determination = check(case_from_hook(order(), hook_body()["prefetch"], payer), snapshot=current_snapshot())
    assert info["covered"] == {
        "meets_criteria": "covered",
        "not_met": "not-covered",
    }.get(determination["decision"], "conditional")
    assert info["pa-needed"] == ("auth-needed" if determination["prior_authorization"]["required"] else "no-auth")
    assert info["doc-needed"] == "clinical"  # the order carries no clinical findings yet
    assert info["coverage"] == {"reference": "Coverage/c1"}
    assert info["reason"]["text"]
    assert card["summary"].startswith("mild® (0275T) under") and len(card["summary"]) <= 140
    assert card["suggestions"][0]["actions"][0]["type"] == "update"
    (link,) = card["links"]
    assert link["type"] == "absolute" and "/requests/new/?payer=medicare-advantage" in link["url"]


def test_a_payer_whose_policy_rules_the_procedure_out_is_not_covered(world):
    body = call(world.alice, SIGN, hook_body(payer="commercial")).json()
    info = coverage_info(body["systemActions"][0]["resource"])
    assert info["covered"] == "not-covered"
    assert "pa-needed" not in info  # CRD crd-ci-q2
    assert info["reason"]["text"]
    assert body["cards"][0]["indicator"] == "warning"


def test_the_link_opens_the_open_request_of_that_patient_here(world):
    request = draft_for(world)
    body = call(world.alice, SIGN, hook_body(member_id=world.patient_a.member_id)).json()
    (link,) = body["cards"][0]["links"]
    assert request.reference in link["label"] and link["url"].endswith(f"/requests/{request.pk}/")


def test_another_practice_gets_no_link_to_the_request(world):
    draft_for(world)
    body = call(world.erin, SIGN, hook_body(member_id=world.patient_a.member_id)).json()
    assert body["cards"][0]["links"][0]["label"] == "Start the prior-authorization request"


def test_order_select_answers_for_the_selected_orders_only(world):
    body = hook_body(
        hook="order-select",
        orders=[order(oid="a"), order(oid="b")],
        selections=["ServiceRequest/b"],
    )
    response = call(world.alice, SELECT, body)
    assert response.status_code == 200
    (action,) = response.json()["systemActions"]
    assert action["resource"]["id"] == "b"


def test_other_orders_get_no_card(world):
    body = call(world.alice, SIGN, hook_body(orders=[order(code="64483")])).json()
    assert body == {"cards": [], "systemActions": []}


def test_an_unknown_payer_gets_a_warning_card_and_no_coverage_information(world):
    body = call(world.alice, SIGN, hook_body(payer="nobody")).json()
    assert body["cards"][0]["indicator"] == "warning" and body["systemActions"] == []


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda b: b.update(hook="order-select"), "hook"),
        (lambda b: b.pop("hookInstance"), "hookInstance"),
        (lambda b: b.update(context="x"), "context"),
        (lambda b: b["context"].pop("draftOrders"), "context.draftOrders"),
        (lambda b: b.update(prefetch=[]), "prefetch"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(world, mutate, field):
    body = hook_body()
    mutate(body)
    response = call(world.alice, SIGN, body)
    assert response.status_code == 400
    assert field in response.json()


def test_an_order_the_checker_cannot_read_gets_a_card_naming_the_field(world):
    bad = order()
    bad["bodySite"] = [{"text": "Lumbar level L4-L9"}]
    body = call(world.alice, SIGN, hook_body(orders=[bad])).json()
    assert "procedure.levels" in body["cards"][0]["detail"]


def test_a_hook_needs_a_token_and_an_unknown_service_is_404(world):
    assert call(None, SIGN, hook_body()).status_code in (401, 403)
    assert call(world.alice, "/cds-services/nothing", hook_body()).status_code == 404
