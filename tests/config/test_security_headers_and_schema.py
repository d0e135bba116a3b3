"""Issue 10, items 7 and 13 (first half): answers carrying PHI are never cached; in production the API
schema and docs need a signed-in user."""

from __future__ import annotations

import pytest
from knox.models import AuthToken

from factories import install_shipped_policies, personas


@pytest.fixture
def world(db):
    install_shipped_policies()
    return personas()


def test_api_answers_and_pages_say_no_store(world, client):
    client.force_login(world.alice)
    for url in ("/api/v1/patients", f"/api/v1/patients/{world.patient_a.pk}", "/requests/", "/admin/"):
        response = client.get(url)
        assert "no-store" in response["Cache-Control"], url
    _, token = AuthToken.objects.create(world.alice)
    response = client.get("/api/v1/patients", HTTP_AUTHORIZATION=f"Token {token}")
    assert "no-store" in response["Cache-Control"]


def test_the_liveness_probe_may_be_cached(db, client):
    assert "no-store" not in client.get("/api/v1/health").get("Cache-Control", "")


@pytest.mark.parametrize("url", ["/api/v1/schema/", "/api/v1/docs/"])
def test_in_production_the_schema_and_docs_need_a_signed_in_user(world, client, settings, url):
    settings.PRODUCTION = True
    assert client.get(url).status_code in (401, 403)
    client.force_login(world.alice)
    assert client.get(url).status_code == 200


def test_in_development_the_schema_stays_open(db, client):
    assert client.get("/api/v1/schema/").status_code == 200
