"""Issue 10, item 6: the API's throttles see the client address exactly as TRUST_X_FORWARDED_FOR says;
a client-supplied X-Forwarded-For does not give an anonymous caller fresh budgets."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from config.throttling import AnonThrottle, UserThrottle

URL = "/api/v1/auth/token"


@pytest.fixture
def three_a_minute(monkeypatch):
    monkeypatch.setattr(AnonThrottle, "THROTTLE_RATES", {"anon": "3/minute", "user": "1000/minute"})
    monkeypatch.setattr(UserThrottle, "THROTTLE_RATES", {"anon": "3/minute", "user": "1000/minute"})
    cache.clear()
    yield
    cache.clear()


def attempts(n: int) -> list[int]:
    client = APIClient()
    return [
        client.post(
            URL, {"username": "x", "password": "y"}, format="json", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}"
        ).status_code
        for i in range(n)
    ]


def test_a_rotating_x_forwarded_for_is_ignored_without_a_trusted_proxy(db, three_a_minute, settings):
    settings.AUDIT_TRUST_X_FORWARDED_FOR = False
    assert attempts(5) == [400, 400, 400, 429, 429]


def test_behind_a_trusted_proxy_the_address_it_appended_is_the_client(db, three_a_minute, settings):
    settings.AUDIT_TRUST_X_FORWARDED_FOR = True
    assert 429 not in attempts(5)


def test_the_default_rates_are_real(settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    for scope in ("user", "anon", "coverage_check"):
        count, _, period = rates[scope].partition("/")
        assert period == "minute" and int(count) <= 1000, scope
