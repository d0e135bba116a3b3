"""Live submission (Claim/$submit), off by default, against a local stand-in payer: a threaded HTTP
server on 127.0.0.1 answering with the Inferno kit's presets. Every exchange is logged (who, when,
endpoint, outcome, timing) without PHI."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from pas_helpers import answering, fixture, preset

from factories import advance, draft_for
from priorauth.fhir.models import PasEndpoint, PasExchange
from priorauth.fhir.validator import validate_bundle
from priorauth.models import PayerDecision, Status

TOKEN = "stand-in-secret-token"


class StandIn:
    """What the stand-in answers next, and what it was sent."""

    def __init__(self) -> None:
        self.answer: tuple[int, object] = (200, None)
        self.get_answer: tuple[int, object] = (
            404,
            {"resourceType": "OperationOutcome"},
        )
        self.received: list[dict] = []


@pytest.fixture
def payer_server():
    state = StandIn()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
            status, payload = state.answer
            if callable(payload):
                payload = payload(body)
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            state.received.append({"path": self.path, "headers": dict(self.headers), "body": None})
            status, payload = state.get_answer
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/fhir"
    yield state
    server.shutdown()
    server.server_close()


def echo(preset_name):
    """A payer's answer: the preset, its ClaimResponse echoing the submitted Claim's identifier."""

    def answer(bundle):
        reference = bundle["entry"][0]["resource"]["identifier"][0]["value"]
        return answering(preset(preset_name), reference)

    return answer


@pytest.fixture
def endpoint(world, payer_server, monkeypatch):
    monkeypatch.setenv("PAS_TEST_TOKEN", TOKEN)
    from policies.models import Payer

    return PasEndpoint.objects.create(
        payer=Payer.objects.get(code="medicare-advantage"),
        base_url=payer_server.url,
        auth=PasEndpoint.Auth.BEARER,
        credential_env="PAS_TEST_TOKEN",
        enabled=True,
    )


@pytest.fixture
def submitted(world):
    return advance(draft_for(world), Status.SUBMITTED, world.alice)


def submit(api, user, request):
    return api(user).post(f"/api/v1/requests/{request.pk}/pas-submit")


@pytest.mark.parametrize(
    "name, status",
    [
        ("approval_json_response", Status.APPROVED),
        ("denial_json_response", Status.DENIED),
        ("pended_json_response", Status.PENDED),
        ("modification_json_response", Status.APPROVED),
    ],
)
def test_it_submits_the_checked_bundle_and_records_the_answer(
    world, api, payer_server, endpoint, submitted, name, status
):
    payer_server.answer = (200, echo(name))
    response = submit(api, world.alice, submitted)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == status
    (sent,) = payer_server.received
    assert sent["path"] == "/fhir/Claim/$submit"
    assert sent["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert sent["headers"]["Content-Type"] == "application/fhir+json"
    assert validate_bundle(sent["body"]).valid
    exchange = PasExchange.objects.get()
    assert (
        exchange.operation,
        exchange.endpoint,
        exchange.by,
        exchange.http_status,
    ) == ("submit", endpoint, world.alice, 200)
    assert exchange.outcome == PayerDecision.objects.get().decision
    assert exchange.duration_ms >= 0 and exchange.request == submitted


def test_the_log_holds_no_phi(world, api, payer_server, endpoint, submitted):
    payer_server.answer = (200, echo("approval_json_response"))
    submit(api, world.alice, submitted)
    row = PasExchange.objects.values().get()
    text = json.dumps(row, default=str)
    for phi in (
        world.patient_a.first_name,
        world.patient_a.last_name,
        world.patient_a.member_id,
        "1949-03-02",
    ):
        assert phi not in text


def test_live_submission_is_off_unless_an_admin_enabled_the_endpoint(world, api, payer_server, endpoint, submitted):
    endpoint.enabled = False
    endpoint.save()
    response = submit(api, world.alice, submitted)
    assert response.status_code == 400
    assert "no enabled PAS endpoint" in response.json()["payer"][0]
    assert payer_server.received == [] and not PasExchange.objects.exists()


def test_an_endpoint_is_off_by_default_and_must_be_https(world):
    from policies.models import Payer

    endpoint = PasEndpoint(
        payer=Payer.objects.get(code="medicare"),
        base_url="http://payer.example.com/fhir",
        credential_env="X",
    )
    assert endpoint.enabled is False
    with pytest.raises(ValidationError) as error:
        endpoint.full_clean()
    assert "base_url" in error.value.message_dict


def test_an_operation_outcome_is_logged_and_a_400_naming_it(world, api, payer_server, endpoint, submitted):
    payer_server.answer = (
        400,
        json.loads(
            {i["name"]: i.get("value") for i in fixture("pas_client_v221_run_against_pas_server.json")["inputs"]}[
                "operation_failure_operation_outcome"
            ]
        ),
    )
    response = submit(api, world.alice, submitted)
    assert response.status_code == 400
    assert "Claim.status is missing" in response.json()["OperationOutcome.issue[0]"][0]
    exchange = PasExchange.objects.get()
    assert (exchange.outcome, exchange.http_status) == ("rejected", 400)
    submitted.refresh_from_db()
    assert submitted.status == Status.SUBMITTED


def test_a_processing_error_bundle_is_logged_and_nothing_recorded(world, api, payer_server, endpoint, submitted):
    payer_server.answer = (200, preset("processing_error_response"))
    response = submit(api, world.alice, submitted)
    assert response.status_code == 400
    assert "Bundle.entry[0].resource.error[0]" in response.json()
    assert PasExchange.objects.get().outcome == "rejected"
    submitted.refresh_from_db()
    assert submitted.status == Status.SUBMITTED and not PayerDecision.objects.exists()


def test_an_unreachable_payer_is_a_502_and_logged(world, api, payer_server, endpoint, submitted):
    endpoint.base_url = "http://127.0.0.1:9/fhir"
    endpoint.save()
    response = submit(api, world.alice, submitted)
    assert response.status_code == 502
    exchange = PasExchange.objects.get()
    assert exchange.outcome == "failed" and exchange.http_status is None


def test_a_missing_credential_is_named(world, api, payer_server, endpoint, submitted, monkeypatch):
    monkeypatch.delenv("PAS_TEST_TOKEN")
    response = submit(api, world.alice, submitted)
    assert response.status_code == 400 and "PAS_TEST_TOKEN" in response.json()["credential_env"][0]


@pytest.mark.parametrize("persona, code", [("charlie", 404), ("dave", 404), ("bob", 403)])
def test_only_billing_staff_of_the_practice_submit(world, api, payer_server, endpoint, submitted, persona, code):
    payer_server.answer = (200, echo("approval_json_response"))
    assert submit(api, getattr(world, persona), submitted).status_code == code
    assert payer_server.received == []


def test_only_a_submitted_request_goes(world, api, payer_server, endpoint):
    draft = draft_for(world)
    response = submit(api, world.alice, draft)
    assert response.status_code == 400 and "status" in response.json()


def test_staff_submit_from_the_review_page(world, client, payer_server, endpoint, submitted):
    payer_server.answer = (200, echo("approval_json_response"))
    client.force_login(world.alice)
    page = client.get(f"/requests/{submitted.pk}/pas/").content.decode()
    assert "Submit to" in page and endpoint.submit_url in page
    response = client.post(f"/requests/{submitted.pk}/pas/", follow=True)
    assert "its answer is recorded" in response.content.decode()
    submitted.refresh_from_db()
    assert submitted.status == Status.APPROVED
    assert "Claim/$submit" in response.content.decode()  # the exchange is listed


def test_an_id_only_notification_is_read_from_the_payers_endpoint_and_recorded(world, payer_server, endpoint):
    from knox.models import AuthToken
    from rest_framework.test import APIClient

    sent = advance(
        draft_for(world),
        Status.SENT,
        world.alice,
        at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
    )
    claim_response = answering(preset("pended_json_response"), sent.reference)["entry"][0]["resource"]
    payer_server.get_answer = (200, claim_response)
    notification = fixture("PAS_notification_example_id_only.json")
    focus = f"{payer_server.url}/ClaimResponse/{claim_response['id']}"
    notification["entry"][0]["resource"]["parameter"][5]["part"][2]["valueReference"]["reference"] = focus
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(world.alice)[1]}")
    response = client.post(
        "/api/v1/pas/notifications",
        data=json.dumps(notification),
        content_type="application/fhir+json",
    )
    assert response.status_code == 200, response.content
    (read,) = payer_server.received
    assert read["path"] == f"/fhir/ClaimResponse/{claim_response['id']}"
    assert read["headers"]["Authorization"] == f"Bearer {TOKEN}"
    sent.refresh_from_db()
    assert sent.status == Status.PENDED
    assert sorted(PasExchange.objects.values_list("operation", flat=True)) == [
        "fetch",
        "notification",
    ]
