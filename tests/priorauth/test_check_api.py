"""POST /api/v1/coverage/check: 200 and the determination, or 400 naming each invalid field by its
dotted path; stateless (it writes nothing anywhere); documented in the OpenAPI schema and served with
a browsable UI at /api/v1/docs/."""

from __future__ import annotations

import json

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from sample_case import CONTRACT, SAMPLE, contract_example

from factories import signed_in_member

URL = "/api/v1/coverage/check"
EXAMPLES = CONTRACT


@pytest.fixture
def client(client, db):
    # The check takes PHI: a signed-in practice member (issue 10).
    return signed_in_member(client)


def example(name: str = SAMPLE) -> dict:
    return contract_example(name)


def post(client, body, content_type: str = "application/json"):
    return client.post(
        URL, data=body if isinstance(body, (str, bytes)) else json.dumps(body), content_type=content_type
    )


def test_it_answers_200_with_the_determination(seeded, client):
    response = post(client, example())
    assert response.status_code == 200
    body = response.json()
    assert body["decision"] == "meets_criteria"
    assert body["payer"] == "medicare"
    assert body["policy"]["code"] == "NCD 150.13"
    assert body["policy"]["revision"] == 1
    assert {"clinical", "payer_rules", "missing", "claim_requirements", "prior_authorization", "warnings"} <= set(body)
    assert body["claim_requirements"][:2] == ["CPT 0275T", "Modifier Q0"]


def test_it_answers_200_whatever_the_decision(seeded, client):
    response = post(client, example("commercial-investigational"))
    assert response.status_code == 200
    assert response.json()["decision"] == "not_met"


def test_it_answers_400_naming_every_invalid_field_by_its_dotted_path(seeded, client):
    data = example()
    data["provider"]["npi"] = "1234567890"
    data["clinical"]["imaging"]["ligamentum_flavum_mm"] = 31
    data["diagnoses"] = ["M48.062", "M48"]
    data["administrative"]["expedited"] = "yes"
    response = post(client, data)
    assert response.status_code == 400
    assert response.json() == {
        "provider.npi": ["invalid NPI check digit"],
        "diagnoses.1": ["'M48' is not a billable ICD-10-CM code"],
        "clinical.imaging.ligamentum_flavum_mm": ["must be between 0 and 30"],
        "administrative.expedited": ["must be true or false"],
    }


def test_it_answers_400_for_an_unknown_payer_listing_the_known_ones(seeded, client):
    response = post(client, {**example(), "payer": "acme"})
    assert response.status_code == 400
    [message] = response.json()["payer"]
    assert "unknown payer 'acme'" in message and "tricare" in message


@pytest.mark.parametrize("body", ['{"payer": "medicare",', "not json", b"\xff\xfe{}", "[" * 100_000])
def test_it_answers_400_for_a_body_that_is_not_json(seeded, client, body):
    response = post(client, body)
    assert response.status_code == 400
    [message] = response.json()["(root)"]
    assert message.startswith("invalid JSON")


@pytest.mark.parametrize("body", ["[]", '"medicare"', "42", "null", ""])
def test_it_answers_400_for_a_body_that_is_not_an_object(seeded, client, body):
    response = post(client, body)
    assert response.status_code == 400
    assert response.json() == {"(root)": ["must be a JSON object"]}


def test_it_reads_the_body_as_json_whatever_the_content_type(seeded, client):
    response = post(client, example(), content_type="text/plain")
    assert response.status_code == 200
    assert response.json() == post(client, example()).json()


def test_it_only_accepts_post(seeded, client):
    assert client.get(URL).status_code == 405


def test_it_refuses_a_caller_who_is_not_a_signed_in_practice_member(seeded, django_user_model):
    # Issue 10: the check took PHI from anyone. Anonymous and practice-less callers are refused.
    from django.test import Client

    anonymous = Client()
    assert post(anonymous, example()).status_code in (401, 403)
    loner = Client()
    loner.force_login(django_user_model.objects.create_user("loner", password="x-long-password-1"))
    assert post(loner, example()).status_code == 403


def row_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


@pytest.mark.parametrize("name", ["medicare-meets-criteria", "invalid-npi"])
def test_it_is_stateless_and_writes_no_row_in_any_table(seeded, name):
    # Authenticated without a session (the session's own activity stamp is a write of the session).
    from rest_framework.test import APIClient

    from factories import PracticeFactory, member

    client = APIClient()
    client.force_authenticate(member("stateless", PracticeFactory()))
    before = row_counts()
    with CaptureQueriesContext(connection) as queries:
        post(client, example(name))
        post(client, "not json")
    writes = [q["sql"] for q in queries if q["sql"].lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE")]
    assert writes == []
    assert row_counts() == before


# --------------------------------------------------------------------------- OpenAPI


@pytest.fixture
def schema(client) -> dict:
    response = client.get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_the_schema_documents_the_check_operation_with_its_request_and_responses(db, schema):
    operation = schema["paths"]["/api/v1/coverage/check"]["post"]
    assert operation["operationId"] == "coverage_check"
    assert operation["requestBody"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/CaseRequest"}}
    }
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Determination"
    }
    invalid = operation["responses"]["400"]["content"]["application/json"]["schema"]
    assert invalid["additionalProperties"] == {"type": "array", "items": {"type": "string"}}


def test_the_schema_components_describe_the_case_and_the_determination(db, schema):
    components = schema["components"]["schemas"]
    case = components["CaseRequest"]
    assert case["required"] == ["payer"]
    assert set(case["properties"]) == {
        "payer",
        "patient",
        "provider",
        "procedure",
        "diagnoses",
        "clinical",
        "administrative",
    }
    determination = components["Determination"]
    assert set(determination["properties"]) >= {
        "payer",
        "policy",
        "decision",
        "clinical",
        "payer_rules",
        "missing",
        "claim_requirements",
        "prior_authorization",
        "warnings",
    }
    assert any(c.get("enum") == ["meets_criteria", "incomplete", "not_met"] for c in components.values())
    assert set(components["PolicyRef"]["properties"]) >= {
        "code",
        "version",
        "effective_date",
        "review_status",
        "revision",
    }
    assert any(c.get("enum") == ["met", "not_met", "missing"] for c in components.values())


def test_the_docs_page_serves_the_swagger_ui_for_the_schema(db, client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert 'id="swagger-ui"' in page
    script = client.get("/api/v1/docs/", {"script": ""})
    assert script.status_code == 200
    assert "/api/v1/schema/" in script.content.decode()
