"""Payer responses in: the Inferno presets' A1 / A3 / A4 / A6 answers become the payer's decision
through the workflow services; the must-support response is read without failing; an error
response or a malformed bundle is a 400 naming the problem, with nothing recorded."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.management import call_command
from pas_helpers import answering, fixture, preset

from factories import advance, draft_for
from priorauth.fhir.models import PasExchange
from priorauth.fhir.response import read_response
from priorauth.models import AuditEntry, PayerDecision, Status, StatusTransition


@pytest.fixture
def sent(world):
    return advance(
        draft_for(world),
        Status.SENT,
        world.alice,
        at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
    )


def post(api, user, request, payload, content_type="application/fhir+json"):
    return api(user).post(
        f"/api/v1/requests/{request.pk}/pas-response",
        data=json.dumps(payload),
        content_type=content_type,
    )


def test_a1_certified_in_total_is_an_approval_with_its_number_and_period(world, api, sent):
    response = post(
        api,
        world.alice,
        sent,
        answering(preset("approval_json_response"), sent.reference),
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved"
    decision = PayerDecision.objects.get(request=sent)
    assert decision.decision == "approved"
    assert decision.authorization_number == "AUTH123"
    assert (decision.valid_from, decision.valid_to) == (
        dt.date(2024, 1, 30),
        dt.date(2024, 2, 29),
    )
    exchange = PasExchange.objects.get(request=sent)
    assert (exchange.operation, exchange.outcome, exchange.detail) == (
        "import",
        "approved",
        "X12 306 A1",
    )
    assert AuditEntry.objects.filter(object_id=str(sent.pk), detail__startswith="PAS response A1").exists()


def test_a3_not_certified_is_a_denial_with_the_reason(world, api, sent):
    response = post(
        api,
        world.alice,
        sent,
        answering(preset("denial_json_response"), sent.reference),
    )
    assert response.status_code == 200, response.content
    decision = PayerDecision.objects.get(request=sent)
    assert decision.decision == "denied"
    assert decision.stated_reason and decision.reason_category == "other"
    sent.refresh_from_db()
    assert sent.status == Status.DENIED


def test_a4_pended_is_a_pend_with_what_is_asked(world, api, sent):
    response = post(
        api,
        world.alice,
        sent,
        answering(preset("pended_json_response"), sent.reference),
    )
    assert response.status_code == 200, response.content
    decision = PayerDecision.objects.get(request=sent)
    assert decision.decision == "pended" and "A4" in decision.stated_reason
    assert StatusTransition.objects.filter(request=sent, to_status=Status.PENDED).exists()


def test_a6_modified_is_an_approval_saying_what_changed(world, api, sent):
    response = post(
        api,
        world.alice,
        sent,
        answering(preset("modification_json_response"), sent.reference),
    )
    assert response.status_code == 200, response.content
    decision = PayerDecision.objects.get(request=sent)
    assert decision.decision == "approved"
    assert "A6" in decision.stated_reason and "99213" in decision.stated_reason


def test_the_inferno_must_support_response_is_read_without_failing(world, api, sent):
    (bundle,) = preset("ms_submit_responses", suite="pas_client_v221_must_support_preset.json")
    answer = read_response(bundle)
    assert answer.decision == "approved" and answer.action_code == "A1"
    response = post(api, world.alice, sent, answering(bundle, sent.reference))
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "name",
    [
        "valid_pa_response_bundle.json",
        "valid_pa_response_bundle_denial.json",
        "pa_response_bundle_missing_elements.json",
    ],
)
def test_the_kits_response_fixtures_read_leniently(name):
    assert read_response(fixture(name)).decision in ("approved", "denied", "pended")


def test_an_error_response_is_a_400_naming_the_error_and_nothing_is_recorded(world, api, sent):
    response = post(api, world.alice, sent, preset("processing_error_response"))
    assert response.status_code == 400
    body = response.json()
    assert "Bundle.entry[0].resource.error[0]" in body
    assert "Authorized Quantity Exceeded" in body["Bundle.entry[0].resource.error[0]"][0]
    assert_nothing_recorded(sent)


def test_the_guides_error_response_example_is_refused(world, api, sent):
    response = post(api, world.alice, sent, fixture("Bundle-ErrorResponseBundleExample.json"))
    assert response.status_code == 400
    assert any(".error[" in key or ".outcome" in key for key in response.json())
    assert_nothing_recorded(sent)


def test_an_operation_outcome_is_a_400(world, api, sent):
    outcome = json.loads(
        {i["name"]: i.get("value") for i in fixture("pas_client_v221_run_against_pas_server.json")["inputs"]}[
            "operation_failure_operation_outcome"
        ]
    )
    response = post(api, world.alice, sent, outcome)
    assert response.status_code == 400
    assert "Claim.status is missing" in response.json()["OperationOutcome.issue[0]"][0]
    assert_nothing_recorded(sent)


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"resourceType": "Patient"}, "resourceType"),
        ({"resourceType": "Bundle", "type": "collection"}, "Bundle.entry"),
        (
            {
                "resourceType": "Bundle",
                "entry": [{"resource": {"resourceType": "Patient"}}],
            },
            "Bundle.entry",
        ),
        (
            {"resourceType": "Bundle", "entry": [{"fullUrl": "x"}]},
            "Bundle.entry[0].resource",
        ),
        ([1, 2], "$"),
    ],
)
def test_a_malformed_bundle_is_a_400_naming_the_problem(world, api, sent, payload, field):
    response = post(api, world.alice, sent, payload)
    assert response.status_code == 400
    assert field in response.json()
    assert_nothing_recorded(sent)


def test_a_response_without_a_review_action_is_a_400(world, api, sent):
    bundle = answering(preset("pended_json_response"), sent.reference)
    for item in bundle["entry"][0]["resource"]["item"]:
        item["adjudication"] = []
    response = post(api, world.alice, sent, bundle)
    assert response.status_code == 400
    assert "reviewActionCode" in json.dumps(response.json())
    assert_nothing_recorded(sent)


def test_not_json_is_a_400(world, api, sent):
    response = api(world.alice).post(
        f"/api/v1/requests/{sent.pk}/pas-response",
        data="{not json",
        content_type="application/fhir+json",
    )
    assert response.status_code == 400
    assert_nothing_recorded(sent)


def test_a_response_for_another_request_is_refused(world, api, sent):
    response = post(
        api,
        world.alice,
        sent,
        answering(preset("approval_json_response"), "PA-0000000000"),
    )
    assert response.status_code == 400
    assert "PA-0000000000" in response.json()["ClaimResponse.identifier"][0]
    assert_nothing_recorded(sent)


def test_a_step_the_workflow_refuses_is_a_400_naming_the_status(world, api):
    draft = draft_for(world)
    response = post(
        api,
        world.alice,
        draft,
        answering(preset("approval_json_response"), draft.reference),
    )
    assert response.status_code == 400
    assert "status" in response.json()
    assert not PayerDecision.objects.exists()


def test_a_response_to_a_submitted_request_records_the_sending_first(world, api):
    submitted = advance(draft_for(world), Status.SUBMITTED, world.alice)
    response = post(
        api,
        world.alice,
        submitted,
        answering(preset("approval_json_response"), submitted.reference),
    )
    assert response.status_code == 200, response.content
    steps = list(StatusTransition.objects.filter(request=submitted).values_list("to_status", flat=True))
    assert steps[-2:] == [Status.SENT, Status.APPROVED]
    submitted.refresh_from_db()
    assert submitted.first_sent_at is not None


@pytest.mark.parametrize("persona, code", [("charlie", 404), ("erin", 404), ("dave", 404), ("bob", 403)])
def test_only_billing_staff_of_the_practice_may_record_a_response(world, api, sent, persona, code):
    response = post(
        api,
        getattr(world, persona),
        sent,
        answering(preset("approval_json_response"), sent.reference),
    )
    assert response.status_code == code
    assert_nothing_recorded(sent)


def test_pas_import_records_a_file_by_the_reference_it_echoes(world, sent, tmp_path, capsys):
    path = tmp_path / "answer.json"
    path.write_text(json.dumps(answering(preset("denial_json_response"), sent.reference)))
    call_command("pas_import", str(path))
    assert f"{sent.reference}: denied recorded" in capsys.readouterr().out
    assert PayerDecision.objects.get(request=sent).decision == "denied"


def test_pas_import_names_the_problem_and_exits_2(world, sent, tmp_path, capsys):
    path = tmp_path / "error.json"
    path.write_text(json.dumps(preset("processing_error_response")))
    with pytest.raises(SystemExit) as exit_:
        call_command("pas_import", str(path), "--request", sent.reference)
    assert exit_.value.code == 2
    assert "Bundle.entry[0].resource.error[0]: the payer rejected the request" in capsys.readouterr().err
    assert_nothing_recorded(sent)


def assert_nothing_recorded(request):
    before = request.status
    request.refresh_from_db()
    assert request.status == before
    assert not PayerDecision.objects.filter(request=request).exists()
    assert not PasExchange.objects.filter(request=request).exists()
