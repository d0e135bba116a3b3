"""Personas (healthchecks-style) and helpers for the prior-authorization tests.

alice   billing clerk of practice A
bob     physician of practice A, the treating physician of A's requests
dave    physician of practice A who is not the treating physician
charlie physician of practice B (the outsider who must be refused), treating B's requests
erin    billing clerk of practice B
adam    admin of practice A
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from factories import install_shipped_policies, personas


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def registry(db):
    install_shipped_policies()


@pytest.fixture
def world(registry):
    return personas()


@pytest.fixture
def api():
    def client_for(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return client_for
