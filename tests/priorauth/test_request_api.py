"""The request API end to end: create, list with filters and pages, retrieve, update a draft, the
workflow steps, field errors naming the field, and never a 500 on bad input."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factories import advance, draft_for, entered_case
from priorauth.models import AuthorizationRequest, Status


def create_body(w, **overrides):
    return {
        "patient": w.patient_a.pk,
        "treating_physician": w.bob_provider.pk,
        "payer": "medicare-advantage",
        "case": entered_case(),
        **overrides,
    }


def test_billing_staff_create_a_draft_whose_case_is_built_from_the_records(world, api):
    response = api(world.alice).post("/api/v1/requests", create_body(world), format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "draft"
    assert body["reference"].startswith("PA-")
    assert body["case"]["payer"] == "medicare-advantage"
    assert body["case"]["patient"] == {
        "first_name": "Ada",
        "last_name": "Moreno",
        "birth_date": "1949-03-02",
        "sex": "F",
        "member_id": world.patient_a.member_id,
    }
    assert body["case"]["provider"] == {"npi": world.bob_provider.npi, "name": "Bob Baker, MD"}
    assert body["decision"] == "meets_criteria"  # the draft's preview
    assert body["determination"] is None and body["policy_version"] is None
    assert body["allowed_transitions"] == ["submitted", "withdrawn"]
    assert [t["to_status"] for t in body["transitions"]] == ["draft"]


def test_the_whole_road_over_the_api(world, api):
    client = api(world.alice)
    rid = client.post("/api/v1/requests", create_body(world), format="json").json()["id"]
    submitted = client.post(f"/api/v1/requests/{rid}/submit", {}, format="json").json()
    assert submitted["status"] == "submitted"
    assert submitted["determination"]["decision"] == "meets_criteria"
    assert submitted["policy_version"]["revision"] == 1
    sent = client.post(f"/api/v1/requests/{rid}/send", {}, format="json").json()
    assert sent["status"] == "sent"
    assert sent["decision_due_basis"].startswith("7 calendar days (standard)")
    denied = client.post(
        f"/api/v1/requests/{rid}/decision",
        {
            "decision": "denied",
            "received_at": timezone.now().isoformat(),
            "stated_reason": "Investigational",
            "reason_category": "investigational",
            "payer_reference": "DN-1",
        },
        format="json",
    ).json()
    assert denied["status"] == "denied"
    assert denied["decisions"][0]["reason_category"] == "investigational"
    assert denied["next_appeal_level"]["name"] == "Plan reconsideration"
    appeal = client.post(f"/api/v1/requests/{rid}/appeals", {}, format="json").json()
    assert appeal["status"] == "appeal_in_progress"
    assert appeal["appeals"][0]["level_name"] == "Plan reconsideration"
    approved = client.post(
        f"/api/v1/requests/{rid}/decision",
        {
            "decision": "approved",
            "received_at": timezone.now().isoformat(),
            "authorization_number": "A-77",
            "valid_from": "2026-12-01",
            "valid_to": "2027-05-31",
        },
        format="json",
    ).json()
    assert approved["status"] == "appeal_approved"
    assert approved["decisions"][-1]["appeal_level"] == 1
    assert [t["to_status"] for t in approved["transitions"]] == [
        "draft",
        "submitted",
        "sent",
        "denied",
        "appeal_in_progress",
        "appeal_approved",
    ]
    assert all(t["by"] == "alice" for t in approved["transitions"])


def test_a_draft_is_updated_and_the_case_stays_built_from_the_records(world, api):
    request = draft_for(world)
    case = entered_case(
        clinical={
            **entered_case()["clinical"],
            "imaging": {"modality": "MRI", "date": "2026-09-01", "ligamentum_flavum_mm": 2.0},
        }
    )
    response = api(world.alice).patch(
        f"/api/v1/requests/{request.pk}", {"case": case, "treating_physician": world.dave_provider.pk}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["case"]["clinical"]["imaging"]["ligamentum_flavum_mm"] == 2.0
    assert body["case"]["provider"]["npi"] == world.dave_provider.npi
    assert body["decision"] == "not_met"


def test_editing_a_submitted_request_is_refused_naming_the_status(world, api):
    request = advance(draft_for(world), Status.SUBMITTED, world.alice)
    response = api(world.alice).patch(f"/api/v1/requests/{request.pk}", {"case": entered_case()}, format="json")
    assert response.status_code == 400
    assert response.json() == {"status": ["Only a draft can be edited; this request is submitted."]}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"case": entered_case(clinical={"imaging": {"ligamentum_flavum_mm": 45}})},
            "case.clinical.imaging.ligamentum_flavum_mm",
            "must be between 0 and 30",
        ),
        ({"case": entered_case(diagnoses=["M48.06"])}, "case.diagnoses.0", "'M48.06' is not a billable ICD-10-CM code"),
        (
            {"case": entered_case(procedure={"levels": ["L4-L6"]})},
            "case.procedure.levels.0",
            "must be two adjacent vertebrae, e.g. L4-L5 or L5-S1",
        ),
        (
            {"case": {"patient": {"first_name": "X"}}},
            "case.patient",
            "Comes from the request's patient; leave it out of the case.",
        ),
        (
            {"case": {"provider": {"npi": "1234567893"}}},
            "case.provider",
            "Comes from the request's treating physician; leave it out of the case.",
        ),
        ({"case": {"clinical": {"unknown": 1}}}, "case.clinical.unknown", "unknown field"),
        (
            {"case": {"administrative": {"note": "a\x00b"}}},
            "case.administrative.note",
            "must not contain NUL characters",
        ),
        ({"case": "not an object"}, "case", "Must be a JSON object."),
        ({"case": [1, 2]}, "case", "Must be a JSON object."),
        ({"payer": "acme"}, "payer", "Unknown payer 'acme'."),
        ({"payer": "not a slug!"}, "payer", None),
        ({"patient": "x"}, "patient", "A valid integer is required."),
        ({"patient": 99999999999999999999}, "patient", None),
        ({"patient": 987654}, "patient", "No such patient in your practice."),
        ({"treating_physician": None}, "treating_physician", "This field may not be null."),
    ],
)
def test_bad_input_is_a_400_naming_the_field(world, api, change, field, message):
    response = api(world.alice).post("/api/v1/requests", create_body(world, **change), format="json")
    assert response.status_code == 400, response.content
    errors = response.json()
    assert field in errors, errors
    if message is not None:
        assert errors[field] == [message]
    assert not AuthorizationRequest.objects.exists()


def test_a_missing_field_and_malformed_json_are_named(world, api):
    client = api(world.alice)
    response = client.post("/api/v1/requests", {"payer": "medicare"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"patient", "treating_physician"}
    response = client.post("/api/v1/requests", data="{nope", content_type="application/json")
    assert response.status_code == 400
    (message,) = response.json()["non_field_errors"]
    assert "JSON parse error" in message


def test_a_patient_with_an_invalid_birth_date_names_it(world, api):
    client = api(world.alice)
    future = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    body = {"first_name": "Ann", "last_name": "Lee", "birth_date": future, "sex": "F", "member_id": "M1"}
    response = client.post("/api/v1/patients", body, format="json")
    assert response.status_code == 400
    assert response.json() == {"birth_date": ["Must be a date in the past."]}
    response = client.post("/api/v1/patients", {**body, "birth_date": "1950-01-01", "first_name": "   "}, format="json")
    assert response.json() == {"first_name": ["This field may not be blank."]}
    response = client.post("/api/v1/patients", {**body, "birth_date": "1950-01-01", "sex": "female"}, format="json")
    assert response.json() == {"sex": ['"female" is not a valid choice.']}


def test_correcting_a_patient_updates_their_drafts_but_not_what_was_submitted(world, api):
    draft = draft_for(world)
    submitted = advance(draft_for(world), Status.SUBMITTED, world.alice)
    response = api(world.alice).patch(
        f"/api/v1/patients/{world.patient_a.pk}", {"last_name": "Moreno-Diaz"}, format="json"
    )
    assert response.status_code == 200
    draft.refresh_from_db()
    submitted.refresh_from_db()
    assert draft.case["patient"]["last_name"] == "Moreno-Diaz"
    assert submitted.case["patient"]["last_name"] == "Moreno"


def test_the_list_filters_by_status_payer_physician_and_dates_and_pages(world, api):
    sent = advance(draft_for(world), Status.SENT, world.alice)
    draft_for(world, payer="commercial")
    draft_for(world, treating_physician=world.dave_provider)
    client = api(world.alice)

    def refs(query: str) -> set[int]:
        response = client.get(f"/api/v1/requests?{query}")
        assert response.status_code == 200, response.content
        return {r["id"] for r in response.json()["results"]}

    assert refs("status=sent") == {sent.pk}
    assert len(refs("status=draft,sent")) == 3
    assert len(refs("payer=commercial")) == 1
    assert len(refs(f"physician={world.dave_provider.pk}")) == 1
    today = timezone.localdate()
    assert len(refs(f"created_since={today}&created_until={today}")) == 3
    assert refs(f"created_since={today + dt.timedelta(days=1)}") == set()
    page = client.get("/api/v1/requests?page_size=2").json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    past_the_end = client.get("/api/v1/requests?page=9")
    assert past_the_end.status_code == 400 and past_the_end.json() == {"page": ["That page contains no results."]}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=approvedish", "status"),
        ("created_since=yesterday", "created_since"),
        ("physician=abc", "physician"),
        ("payer=%00", "payer"),
    ],
)
def test_bad_filters_are_a_400_naming_the_parameter(world, api, query, field):
    response = api(world.alice).get(f"/api/v1/requests?{query}")
    assert response.status_code == 400
    assert field in response.json()


def test_a_decision_on_a_denial_needs_its_reason_and_category(world, api):
    request = advance(draft_for(world), Status.SENT, world.alice)
    response = api(world.alice).post(
        f"/api/v1/requests/{request.pk}/decision",
        {"decision": "denied", "received_at": timezone.now().isoformat()},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"stated_reason", "reason_category"}
    response = api(world.alice).post(
        f"/api/v1/requests/{request.pk}/decision",
        {
            "decision": "denied",
            "received_at": timezone.now().isoformat(),
            "stated_reason": "x",
            "reason_category": "astrology",
        },
        format="json",
    )
    assert response.json() == {"reason_category": ['"astrology" is not a valid choice.']}


def test_a_decision_from_the_future_or_before_sending_is_refused(world, api):
    request = advance(draft_for(world), Status.SENT, world.alice)
    client = api(world.alice)
    url = f"/api/v1/requests/{request.pk}/decision"
    future = (timezone.now() + dt.timedelta(days=2)).isoformat()
    assert client.post(url, {"decision": "approved", "received_at": future}, format="json").json() == {
        "received_at": ["Must not be in the future."]
    }
    before = (request.sent_at - dt.timedelta(days=1)).isoformat()
    [message] = client.post(url, {"decision": "approved", "received_at": before}, format="json").json()["received_at"]
    # The message names both dates in the order they must run.
    assert message.startswith("The decision date (") and "is before the request was sent to the payer (" in message
    assert "submitted, then sent, then decided" in message
    assert client.post(
        url,
        {
            "decision": "approved",
            "received_at": timezone.now().isoformat(),
            "valid_from": "2027-01-02",
            "valid_to": "2027-01-01",
        },
        format="json",
    ).json() == {"valid_to": ["Must not be before valid_from."]}


def test_a_sending_before_the_submission_or_before_the_pend_it_answers_is_refused(world, api):
    request = advance(draft_for(world), Status.SUBMITTED, world.alice)
    client = api(world.alice)
    url = f"/api/v1/requests/{request.pk}/send"
    early = (request.submitted_at - dt.timedelta(days=1)).isoformat()
    response = client.post(url, {"sent_at": early}, format="json")
    assert response.status_code == 400
    [message] = response.json()["sent_at"]
    assert message.startswith("The date sent (") and "is before the request was submitted (" in message
    request.refresh_from_db()
    assert request.status == Status.SUBMITTED and request.sent_at is None  # nothing half-written

    pended = advance(draft_for(world), Status.PENDED, world.alice)
    pend = pended.decisions.get()
    response = client.post(
        f"/api/v1/requests/{pended.pk}/send",
        {"sent_at": (pend.received_at - dt.timedelta(minutes=5)).isoformat()},
        format="json",
    )
    assert (
        response.status_code == 400
        and "before the payer's request for more information" in response.json()["sent_at"][0]
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    case=json_values,
    extra=st.dictionaries(st.sampled_from(["patient", "payer", "treating_physician"]), json_values, max_size=3),
)
def test_no_input_makes_a_500(world, api, case, extra):
    body = {**create_body(world), "case": case, **extra}
    client = api(world.alice)
    response = client.post("/api/v1/requests", data=json.dumps(body, allow_nan=True), content_type="application/json")
    assert response.status_code in (201, 400), response.content
    if response.status_code == 400:
        assert response.json()  # names at least one field
    request = draft_for(world)
    response = client.patch(
        f"/api/v1/requests/{request.pk}",
        data=json.dumps({"case": case}, allow_nan=True),
        content_type="application/json",
    )
    assert response.status_code in (200, 400), response.content


def test_text_a_database_cannot_store_is_a_field_error(world, api):
    client = api(world.alice)
    body = {**create_body(world), "case": {"administrative": {"note": "\ud800"}}}
    response = client.post("/api/v1/requests", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"case.administrative.note": ["must be valid Unicode text"]}
    patient = {"first_name": "\ud800", "last_name": "Lee", "birth_date": "1950-01-01", "sex": "F", "member_id": "M\x00"}
    response = client.post("/api/v1/patients", data=json.dumps(patient), content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()) == {"first_name", "member_id"}


def test_token_authentication_works_alongside_sessions(world, client):
    from knox.models import AuthToken

    _, token = AuthToken.objects.create(world.alice)
    request = draft_for(world)
    response = client.get(f"/api/v1/requests/{request.pk}", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200
    assert client.get(f"/api/v1/requests/{request.pk}", HTTP_AUTHORIZATION="Token nope").status_code == 403
    client.force_login(world.alice)
    assert client.get(f"/api/v1/requests/{request.pk}").status_code == 200


def test_a_token_is_issued_for_a_username_and_password(world, client):
    response = client.post(
        "/api/v1/auth/token",
        {"username": "alice", "password": "correct-horse-battery-staple-7"},
        REMOTE_ADDR="127.0.0.1",
    )
    assert response.status_code == 200, response.content
    assert client.get("/api/v1/requests", HTTP_AUTHORIZATION=f"Token {response.json()['token']}").status_code == 200
    response = client.post("/api/v1/auth/token", {"username": "alice", "password": "wrong"})
    assert response.status_code == 400


@pytest.mark.parametrize("depth", [40, 5000])
def test_deeply_nested_json_is_a_400_not_a_500(world, api, depth):
    nested = "[" * depth + "]" * depth
    body = (
        f'{{"patient": {world.patient_a.pk}, "treating_physician": {world.bob_provider.pk}, '
        f'"payer": "medicare", "case": {{"administrative": {{"x": {nested}}}}}}}'
    )
    response = api(world.alice).post("/api/v1/requests", data=body, content_type="application/json")
    assert response.status_code == 400
    errors = response.json()
    if depth > 1000:  # beyond what the JSON parser recurses into
        assert errors == {"non_field_errors": ["JSON parse error - nested too deeply"]}
    else:
        ((field, messages),) = errors.items()
        assert field.startswith("case.administrative.x.0.0") and messages == ["is nested too deeply"]


def test_the_detail_takes_as_many_queries_with_many_attachments_letters_and_appeals_as_with_one(
    world, api, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from request_history import grow

    request = advance(draft_for(world, payer="medicare-advantage"), Status.APPEAL_DENIED, world.alice)
    grow(request, world.alice, n=1)
    client = api(world.alice)
    with CaptureQueriesContext(connection) as few:
        assert client.get(f"/api/v1/requests/{request.pk}").status_code == 200
    grow(request, world.alice, n=6)
    with django_assert_max_num_queries(len(few)):
        response = client.get(f"/api/v1/requests/{request.pk}")
    assert response.status_code == 200 and len(response.json()["appeals"]) >= 7
