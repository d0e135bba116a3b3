"""Production settings: refuse to start without a secret or with DEBUG on; `check --deploy` clean;
the security headers on every response."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "APP_ENV")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def test_it_refuses_to_start_in_production_without_a_secret_key():
    result = manage("check", APP_ENV="production", ALLOWED_HOSTS="pa.example.org")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_it_refuses_to_start_in_production_with_debug_on():
    result = manage(
        "check",
        APP_ENV="production",
        DEBUG="true",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="pa.example.org",
    )
    assert result.returncode != 0
    assert "DEBUG must be off" in result.stderr


def test_the_deploy_check_is_clean_in_production():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        APP_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="pa.example.org",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_every_response_carries_the_security_headers(client):
    response = client.get("/api/v1/schema/")
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_it_refuses_to_start_in_production_with_the_development_secret_key():
    from django.conf import settings

    result = manage(
        "check", APP_ENV="production", SECRET_KEY=settings.DEVELOPMENT_SECRET_KEY, ALLOWED_HOSTS="pa.example.org"
    )
    assert result.returncode != 0
    assert "development key" in result.stderr
