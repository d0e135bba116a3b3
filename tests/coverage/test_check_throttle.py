"""The check endpoint's throttle: DRF's scoped throttle, its log of request times stored compactly."""

from array import array

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from rest_framework.test import APIClient

from coverage.api import CheckRateThrottle, CoverageCheckApi

URL = "/api/v1/coverage/check"


@pytest.fixture
def three_a_minute(monkeypatch):
    monkeypatch.setattr(CheckRateThrottle, "THROTTLE_RATES", {"coverage_check": "3/minute"})
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def anonymous_request(rf):
    request = rf.post(URL)  # from 127.0.0.1, as the test client's
    request.user = AnonymousUser()
    return request


def test_it_refuses_the_request_over_the_rate_with_429(db, three_a_minute):
    client = APIClient()
    statuses = [client.post(URL, {}, format="json").status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 429]


def test_it_keeps_the_log_of_request_times_as_an_array(db, three_a_minute, anonymous_request):
    APIClient().post(URL, {}, format="json")
    throttle = CheckRateThrottle()
    throttle.scope = CoverageCheckApi.throttle_scope  # as allow_request sets it
    key = throttle.get_cache_key(anonymous_request, CoverageCheckApi())
    assert isinstance(cache.get(key), array) and len(cache.get(key)) == 1


def test_it_takes_over_a_log_stored_as_a_list(db, three_a_minute, anonymous_request):
    throttle, view = CheckRateThrottle(), CoverageCheckApi()
    assert throttle.allow_request(anonymous_request, view)
    key = throttle.get_cache_key(anonymous_request, view)
    cache.set(key, list(cache.get(key)), 60)  # as DRF's own throttle stored it
    assert throttle.allow_request(anonymous_request, view) and throttle.allow_request(anonymous_request, view)
    assert not throttle.allow_request(anonymous_request, view)
    assert isinstance(cache.get(key), array) and len(cache.get(key)) == 3
