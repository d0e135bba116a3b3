"""Issue 10, item 5: API tokens expire like a session (idle and absolute limits), signing out revokes
the token, a password change or deactivation revokes all of the user's tokens, and each use is audited."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from priorauth.models import AuditEntry

PASSWORD = "alices-own-passphrase-42"


@pytest.fixture
def alice(world):
    world.alice.set_password(PASSWORD)
    world.alice.save()
    return world.alice


def sign_in(username: str = "alice", password: str = PASSWORD) -> dict:
    response = APIClient().post("/api/v1/auth/token", {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def get(token: str, url: str = "/api/v1/patients", **extra):
    return APIClient().get(url, HTTP_AUTHORIZATION=f"Token {token}", **extra)


def test_the_token_endpoint_answers_a_token_with_its_expiry(alice, settings):
    body = sign_in()
    assert set(body) == {"token", "expiry"}
    expiry = dt.datetime.fromisoformat(body["expiry"])
    assert abs((expiry - timezone.now()).total_seconds() - settings.SESSION_IDLE_TIMEOUT) < 60
    assert get(body["token"]).status_code == 200
    # Only a hash is stored.
    assert not AuthToken.objects.filter(digest=body["token"]).exists()


def test_a_token_ends_after_the_idle_timeout(alice, settings):
    token = sign_in()["token"]
    later = timezone.now() + dt.timedelta(seconds=settings.SESSION_IDLE_TIMEOUT + 60)
    with mock.patch("django.utils.timezone.now", return_value=later):
        assert get(token).status_code in (401, 403)
    assert not AuthToken.objects.exists()


def test_use_keeps_a_token_alive_but_never_past_the_absolute_limit(alice, settings):
    token = sign_in()["token"]
    issued = AuthToken.objects.get().created
    now = issued
    # Used every 20 minutes: alive, until SESSION_COOKIE_AGE after it was issued.
    while now < issued + dt.timedelta(seconds=settings.SESSION_COOKIE_AGE - 20 * 60):
        now += dt.timedelta(minutes=20)
        with mock.patch("django.utils.timezone.now", return_value=now):
            assert get(token).status_code == 200, now - issued
    assert AuthToken.objects.get().expiry <= issued + dt.timedelta(seconds=settings.SESSION_COOKIE_AGE)
    with mock.patch(
        "django.utils.timezone.now", return_value=issued + dt.timedelta(seconds=settings.SESSION_COOKIE_AGE + 1)
    ):
        assert get(token).status_code in (401, 403)


def test_signing_out_revokes_the_token(alice):
    kept, revoked = sign_in()["token"], sign_in()["token"]
    assert APIClient().post("/api/v1/auth/token/revoke", HTTP_AUTHORIZATION=f"Token {revoked}").status_code == 204
    assert get(revoked).status_code in (401, 403)
    assert get(kept).status_code == 200
    assert APIClient().post("/api/v1/auth/token/revoke-all", HTTP_AUTHORIZATION=f"Token {kept}").status_code == 204
    assert get(kept).status_code in (401, 403)


@pytest.mark.parametrize("change", ["password", "deactivation"])
def test_a_password_change_or_deactivation_revokes_all_the_users_tokens(alice, world, change):
    tokens = [sign_in()["token"], sign_in()["token"]]
    _, erins = AuthToken.objects.create(world.erin)
    if change == "password":
        alice.set_password("a-brand-new-passphrase-9")
    else:
        alice.is_active = False
    alice.save()
    assert all(get(t).status_code in (401, 403) for t in tokens)
    assert not AuthToken.objects.filter(user=alice).exists()
    assert get(erins).status_code == 200
    assert AuditEntry.objects.filter(user=alice, action="token_revoke").exists()


def test_every_use_of_a_token_is_audited(alice, world):
    token = sign_in()["token"]
    key = AuthToken.objects.get().token_key
    get(token)
    get(token, f"/api/v1/patients/{world.patient_b.pk}")  # refused, still a use
    uses = AuditEntry.objects.filter(action="token_use", user=alice).order_by("id")
    assert [e.detail for e in uses] == [
        f"token {key} GET /api/v1/patients",
        f"token {key} GET /api/v1/patients/{world.patient_b.pk}",
    ]
    assert token not in " ".join(e.detail for e in AuditEntry.objects.all())
