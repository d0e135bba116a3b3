"""What every API write endpoint does with a body it cannot take (issue 10, items 3, 4 and 13): a
field it does not know is a 400 naming it; NUL and lone surrogates are a 400 naming the field; a
body over API_MAX_BODY_BYTES is a JSON 413 naming the limit. Nothing is stored in any of these."""

from __future__ import annotations

import json

import pytest

from factories import addressed, advance, draft_for, entered_case
from policies.models import PolicyVersion
from priorauth.letters import services as letter_services
from priorauth.models import (
    AuthorizationRequest,
    Patient,
    RecheckResult,
    RecheckRun,
    Status,
)

# endpoint -> (method, URL template, persona, a valid body or None when it takes none)
WRITES = {
    "requests_create": ("post", "/api/v1/requests", "alice", "create"),
    "requests_update": ("patch", "/api/v1/requests/{draft}", "alice", {}),
    "requests_submit": ("post", "/api/v1/requests/{draft}/submit", "alice", {}),
    "requests_send": ("post", "/api/v1/requests/{submitted}/send", "alice", {}),
    "requests_decision": (
        "post",
        "/api/v1/requests/{sent}/decision",
        "alice",
        {"decision": "approved", "received_at": "2026-11-20T10:00:00Z"},
    ),
    "requests_appeal": ("post", "/api/v1/requests/{denied}/appeals", "alice", {}),
    "requests_withdraw": ("post", "/api/v1/requests/{draft}/withdraw", "alice", {}),
    "patients_create": (
        "post",
        "/api/v1/patients",
        "alice",
        {"first_name": "A", "last_name": "B", "birth_date": "1950-01-01", "sex": "F", "member_id": "M1"},
    ),
    "patients_update": ("patch", "/api/v1/patients/{patient}", "alice", {}),
    "letters_create": ("post", "/api/v1/requests/{submitted}/letters", "alice", {"kind": "prior_authorization"}),
    "letters_edit": ("put", "/api/v1/letters/{letter}/paragraphs", "bob", "paragraphs"),
    "letters_request_signature": ("post", "/api/v1/letters/{letter}/request-signature", "alice", None),
    "letters_sign": ("post", "/api/v1/letters/{letter}/sign", "bob", None),
    "letters_retry": ("post", "/api/v1/letters/{letter}/retry", "alice", None),
    "rechecks_seen": ("post", "/api/v1/rechecks/{recheck}/seen", "alice", None),
}


@pytest.fixture
def objects(world):
    submitted = addressed(advance(draft_for(world, payer="medicare-advantage"), Status.SUBMITTED, world.alice))
    letter, _ = letter_services.letter_request_draft(request=submitted, kind="prior_authorization", by=world.alice)
    sent = advance(draft_for(world), Status.SENT, world.alice)
    run, _ = RecheckRun.objects.get_or_create(
        version=PolicyVersion.objects.get(policy__payer__code="medicare-advantage")
    )
    return {
        "draft": draft_for(world).pk,
        "submitted": submitted.pk,
        "sent": sent.pk,
        "denied": advance(draft_for(world), Status.DENIED, world.alice).pk,
        "patient": world.patient_a.pk,
        "letter": letter.pk,
        "recheck": RecheckResult.objects.create(
            run=run, request=sent, old_decision="meets_criteria", new_decision="not_met"
        ).pk,
    }


def valid_body(world, body):
    if body == "create":
        return {"patient": world.patient_a.pk, "treating_physician": world.bob_provider.pk, "payer": "medicare"}
    if body == "paragraphs":
        return {"paragraphs": [{"key": "p", "sentences": [{"text": "Text."}]}]}
    return dict(body or {})


def counts() -> tuple[int, int]:
    return AuthorizationRequest.objects.count(), Patient.objects.count()


@pytest.mark.parametrize("operation", sorted(WRITES))
def test_a_field_the_endpoint_does_not_know_is_a_400_naming_it(world, api, objects, operation):
    method, url, persona, body = WRITES[operation]
    data = {**valid_body(world, body), "payer_referance": "typo"}
    before = counts()
    response = getattr(api(getattr(world, persona)), method)(url.format(**objects), data, format="json")
    assert response.status_code == 400, (operation, response.content)
    assert response.json()["payer_referance"] == ["Unknown field."]
    assert counts() == before


def test_an_attachment_upload_with_an_unknown_form_field_is_refused(world, api, objects):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = api(world.alice).post(
        f"/api/v1/requests/{objects['draft']}/attachments",
        {
            "kind": "other",
            "file": SimpleUploadedFile("a.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf"),
            "owner": "x",
        },
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json() == {"owner": ["Unknown field."]}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('"administrative": {"\\ud800x": 1}', "case.administrative.\\ud800x"),
        ('"administrative": {"referral_number": "R\\ud800"}', "case.administrative.referral_number"),
        ('"administrative": {"referral_number": "R\\u0000"}', "case.administrative.referral_number"),
        ('"diagnoses": ["M48.062\\udfff"]', "case.diagnoses.0"),
    ],
)
def test_a_case_with_nul_or_a_lone_surrogate_is_a_400_naming_the_field(world, api, raw, field):
    body = (
        f'{{"patient": {world.patient_a.pk}, "treating_physician": {world.bob_provider.pk}, '
        f'"payer": "medicare", "case": {{{raw}}}}}'
    )
    before = counts()
    response = api(world.alice).post("/api/v1/requests", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert counts() == before


def test_a_surrogate_in_a_key_at_the_top_is_a_400_too(world, api):
    response = api(world.alice).post("/api/v1/patients", '{"\\ud800x": 1}', content_type="application/json")
    assert response.status_code == 400
    assert "\\ud800x" in response.json()


def test_a_body_over_the_limit_is_a_json_413_and_nothing_is_stored(world, api, settings):
    settings.API_MAX_BODY_BYTES = 4096
    case = entered_case()
    case["administrative"]["padding"] = "x" * 5000
    body = {
        "patient": world.patient_a.pk,
        "treating_physician": world.bob_provider.pk,
        "payer": "medicare",
        "case": case,
    }
    before = counts()
    response = api(world.alice).post("/api/v1/requests", json.dumps(body), content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request body is larger than the limit of 4096 bytes (API_MAX_BODY_BYTES)."
    }
    assert counts() == before


def test_a_body_without_a_length_is_still_cut_at_the_limit(world, settings):
    # A chunked body declares no Content-Length: the parser itself stops reading past the limit.
    import io

    from rest_framework.test import APIRequestFactory

    from config.parsers import BodyTooLarge, BoundedJSONParser

    settings.API_MAX_BODY_BYTES = 100
    request = APIRequestFactory().post("/", b"{}", content_type="application/json")
    with pytest.raises(BodyTooLarge):
        BoundedJSONParser().parse(io.BytesIO(b'{"a": "' + b"x" * 500 + b'"}'), parser_context={"request": request})
