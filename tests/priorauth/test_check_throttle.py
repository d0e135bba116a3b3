"""The check endpoint's throttle: per signed-in user (issue 10: it was per client address, which a
forged X-Forwarded-For rotated), its log of request times stored compactly."""

from array import array

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from factories import PracticeFactory, member
from priorauth.check_api import CheckRateThrottle, CoverageCheckApi

URL = "/api/v1/coverage/check"


@pytest.fixture
def three_a_minute(monkeypatch):
    monkeypatch.setattr(CheckRateThrottle, "THROTTLE_RATES", {"coverage_check": "3/minute"})
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def alice(db):
    return member("alice", PracticeFactory(name="Lakeside Pain Center"))


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def alice_request(rf, alice):
    request = rf.post(URL)
    request.user = alice
    return request


def test_it_refuses_the_request_over_the_rate_with_429(three_a_minute, alice):
    client = client_for(alice)
    statuses = [client.post(URL, {}, format="json").status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 429]


def test_a_rotating_x_forwarded_for_does_not_dodge_it(three_a_minute, alice):
    client = client_for(alice)
    statuses = [
        client.post(URL, {}, format="json", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code for n in range(6)
    ]
    assert statuses.count(429) == 3


def test_each_user_has_their_own_budget(three_a_minute, alice):
    bob = member("bob", alice.membership.practice)
    for _ in range(3):
        client_for(alice).post(URL, {}, format="json")
    assert client_for(alice).post(URL, {}, format="json").status_code == 429
    assert client_for(bob).post(URL, {}, format="json").status_code == 400


def test_it_has_a_real_default_rate(settings):
    count, _, period = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["coverage_check"].partition("/")
    assert period == "minute" and int(count) <= 1000


def test_it_keeps_the_log_of_request_times_as_an_array(three_a_minute, alice, alice_request):
    client_for(alice).post(URL, {}, format="json")
    throttle = CheckRateThrottle()
    throttle.scope = CoverageCheckApi.throttle_scope  # as allow_request sets it
    key = throttle.get_cache_key(alice_request, CoverageCheckApi())
    assert isinstance(cache.get(key), array) and len(cache.get(key)) == 1


def test_it_takes_over_a_log_stored_as_a_list(three_a_minute, alice_request):
    throttle, view = CheckRateThrottle(), CoverageCheckApi()
    assert throttle.allow_request(alice_request, view)
    key = throttle.get_cache_key(alice_request, view)
    cache.set(key, list(cache.get(key)), 60)  # as DRF's own throttle stored it
    assert throttle.allow_request(alice_request, view) and throttle.allow_request(alice_request, view)
    assert not throttle.allow_request(alice_request, view)
    assert isinstance(cache.get(key), array) and len(cache.get(key)) == 3
