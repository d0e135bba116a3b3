"""Subscription notifications (rest-hook, R4 Subscriptions Backport) for pended requests: a
full-resource notification updates the request through the workflow services; an id-only one is
logged as an update to fetch; the endpoint needs a practice user's token."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from knox.models import AuthToken
from pas_helpers import answering, fixture
from rest_framework.test import APIClient

from factories import advance, draft_for
from priorauth.fhir.models import PasExchange
from priorauth.models import PayerDecision, Status

URL = "/api/v1/pas/notifications"


@pytest.fixture
def sent(world):
    return advance(
        draft_for(world),
        Status.SENT,
        world.alice,
        at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
    )


def notify(user, payload):
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user)[1]}")
    return client.post(URL, data=json.dumps(payload), content_type="application/fhir+json")


def full_resource(reference: str, code: str) -> dict:
    """The kit's full-resource notification; the kit fills in the review action code when it sends
    it (PENDEDCODE in the fixture), so the test does too."""
    text = json.dumps(fixture("PAS_notification_example_full_resource.json")).replace("PENDEDCODE", code)
    return answering(json.loads(text), reference)


@pytest.mark.parametrize(
    "code, status",
    [("A4", Status.PENDED), ("A1", Status.APPROVED), ("A3", Status.DENIED)],
)
def test_a_full_resource_notification_records_the_payers_update(world, sent, code, status):
    response = notify(world.alice, full_resource(sent.reference, code))
    assert response.status_code == 200, response.content
    assert response.json()["recorded"] == [{"request": sent.pk, "decision": PayerDecision.objects.get().decision}]
    sent.refresh_from_db()
    assert sent.status == status
    assert PasExchange.objects.get(request=sent).operation == "notification"


def test_a_pended_request_is_decided_by_the_next_notification(world, sent):
    assert notify(world.alice, full_resource(sent.reference, "A4")).status_code == 200
    assert notify(world.alice, full_resource(sent.reference, "A1")).status_code == 200
    sent.refresh_from_db()
    assert sent.status == Status.APPROVED
    assert list(PayerDecision.objects.values_list("decision", flat=True)) == [
        "pended",
        "approved",
    ]


def test_the_kits_unfilled_placeholder_code_is_a_400_naming_it(world, sent):
    response = notify(
        world.alice,
        answering(fixture("PAS_notification_example_full_resource.json"), sent.reference),
    )
    assert response.status_code == 400
    assert "PENDEDCODE" in json.dumps(response.json())


def test_an_id_only_notification_is_logged_as_an_update_to_fetch(world, sent):
    response = notify(world.alice, fixture("PAS_notification_example_id_only.json"))
    assert response.status_code == 202
    assert response.json()["fetch_needed"] == ["urn:uuid:482fd012-7825-423d-83de-69d09920198b"]
    exchange = PasExchange.objects.get()
    assert (exchange.operation, exchange.outcome) == ("notification", "received")
    assert not PayerDecision.objects.exists()


def test_a_handshake_is_acknowledged(world):
    payload = fixture("PAS_notification_example_id_only.json")
    payload["entry"][0]["resource"]["parameter"][3]["valueCode"] = "handshake"
    response = notify(world.alice, payload)
    assert response.status_code == 200 and response.json()["type"] == "handshake"


def test_a_notification_needs_a_token(world, sent):
    response = notify(None, full_resource(sent.reference, "A1"))
    assert response.status_code in (401, 403)
    sent.refresh_from_db()
    assert sent.status == Status.SENT


def test_another_practices_token_cannot_update_the_request(world, sent):
    response = notify(world.erin, full_resource(sent.reference, "A1"))
    assert response.status_code == 400
    assert "names no request of your practice" in json.dumps(response.json())
    sent.refresh_from_db()
    assert sent.status == Status.SENT and not PasExchange.objects.exists()


def test_a_physician_token_is_refused(world, sent):
    response = notify(world.bob, full_resource(sent.reference, "A1"))
    assert response.status_code == 403


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda p: p.update(type="collection"), "Bundle.type"),
        (lambda p: p.update(entry=[]), "Bundle.entry"),
        (
            lambda p: p["entry"][0].update(resource={"resourceType": "Patient"}),
            "Bundle.entry[0].resource",
        ),
        (
            lambda p: p["entry"][0]["resource"]["parameter"][3].update(valueCode="nonsense"),
            "Bundle.entry[0].resource.parameter.type",
        ),
    ],
)
def test_a_malformed_notification_is_a_400_naming_the_problem(world, sent, mutate, field):
    payload = full_resource(sent.reference, "A1")
    mutate(payload)
    response = notify(world.alice, payload)
    assert response.status_code == 400
    assert field in response.json()
    sent.refresh_from_db()
    assert sent.status == Status.SENT and not PayerDecision.objects.exists()
