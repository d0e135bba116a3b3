"""POST /api/v1/requests/{id}/follow-up: the follow-up day staff set when the payer sets no clock,
through the same service as the request page, permission-checked, audited, in the schema."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from factories import advance, draft_for
from priorauth.models import AuditEntry, AuthorizationRequest, Status

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(world):
    request = advance(draft_for(world, payer="medicare-advantage"), Status.SENT, world.alice)
    AuthorizationRequest.objects.filter(pk=request.pk).update(decision_due_at=None)  # a payer with no clock
    return request


def test_billing_staff_set_and_clear_the_follow_up_day_over_the_api(world, api, sent):
    day = timezone.localdate() + dt.timedelta(days=3)
    response = api(world.alice).post(
        f"/api/v1/requests/{sent.pk}/follow-up", {"follow_up_on": day.isoformat()}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["follow_up_on"] == day.isoformat()
    sent.refresh_from_db()
    assert sent.follow_up_on == day
    entry = AuditEntry.objects.filter(action=AuditEntry.Action.UPDATE, object_id=str(sent.pk)).latest("id")
    assert entry.detail == "follow-up date" and entry.user == world.alice
    listed = api(world.alice).get("/api/v1/requests?due=this_week").json()["results"]
    assert [r["follow_up_on"] for r in listed if r["id"] == sent.pk] == [day.isoformat()]

    cleared = api(world.alice).post(f"/api/v1/requests/{sent.pk}/follow-up", {"follow_up_on": None}, format="json")
    assert cleared.status_code == 200 and cleared.json()["follow_up_on"] is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"follow_up_on": "2026-02-30"}, "Enter a real date"),
        ({"follow_up_on": "next week"}, "Enter a real date"),
        ({"follow_up_on": "2020-01-01"}, "Must be today or later."),
        ({}, "required"),
    ],
)
def test_a_bad_follow_up_day_is_a_400_naming_the_field(world, api, sent, body, message):
    response = api(world.alice).post(f"/api/v1/requests/{sent.pk}/follow-up", body, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert "follow_up_on" in errors and message in " ".join(errors["follow_up_on"])
    sent.refresh_from_db()
    assert sent.follow_up_on is None


def test_an_unknown_field_and_a_request_the_payer_does_not_have_are_refused(world, api, sent):
    unknown = api(world.alice).post(
        f"/api/v1/requests/{sent.pk}/follow-up", {"follow_up_on": None, "follow_up": "x"}, format="json"
    )
    assert unknown.status_code == 400 and "follow_up" in unknown.json()
    draft = draft_for(world, payer="medicare-advantage")
    day = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    refused = api(world.alice).post(f"/api/v1/requests/{draft.pk}/follow-up", {"follow_up_on": day}, format="json")
    assert refused.status_code == 400 and "follow_up_on" in refused.json()


def test_only_billing_staff_of_the_practice_set_it(world, api, sent):
    day = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    url = f"/api/v1/requests/{sent.pk}/follow-up"
    assert api(world.bob).post(url, {"follow_up_on": day}, format="json").status_code == 403  # the physician
    assert api(world.erin).post(url, {"follow_up_on": day}, format="json").status_code == 404  # another practice
    assert api().post(url, {"follow_up_on": day}, format="json").status_code in (401, 403)
    sent.refresh_from_db()
    assert sent.follow_up_on is None


def test_the_follow_up_endpoint_is_in_the_openapi_schema(world, api):
    schema = api(world.alice).get("/api/v1/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/requests/{id}/follow-up"]["post"]
    assert operation["operationId"] == "requests_follow_up"
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "follow_up_on" in schema["components"]["schemas"][ref]["properties"]
    summary = schema["components"]["schemas"]["RequestSummaryOutput"]["properties"]
    assert "follow_up_on" in summary and "determination_state" in summary
