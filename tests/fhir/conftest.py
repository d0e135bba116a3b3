"""Personas and fixtures of tests/priorauth/conftest.py, for the PAS and CDS Hooks tests."""

from __future__ import annotations

import pytest
from factories import install_shipped_policies, personas
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def _media_root_and_fast_passwords(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db):
    install_shipped_policies()
    return personas()


@pytest.fixture
def api():
    def client_for(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return client_for
