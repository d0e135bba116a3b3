"""Personas and fixtures of tests/priorauth/conftest.py, for the PAS and CDS Hooks tests."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from factories import install_shipped_policies, personas


@pytest.fixture(autouse=True)
def _media_root_and_fast_passwords(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db):
    """The personas, their practices with what a practice's record holds (PAS sends the phone, fax,
    address and group NPI as the requester's)."""
    install_shipped_policies()
    w = personas()
    for practice, phone in (
        (w.practice_a, "608-555-0100"),
        (w.practice_b, "512-555-0190"),
    ):
        practice.phone, practice.fax = phone, phone[:-1] + "1"
        practice.address = "100 Main Street\nMadison, WI 53703"
        practice.npi = "1234567893"
        practice.save()
    return w


@pytest.fixture
def api():
    def client_for(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return client_for
