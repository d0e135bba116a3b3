"""The Redis cache shares one redis-py client per connection pool (config/cache.py) instead of
making one per operation, and still reads and writes like Django's own."""

from __future__ import annotations

import os

import pytest

from config.cache import RedisCache


def test_each_operation_gets_the_same_client_of_its_pool():
    cache = RedisCache("redis://127.0.0.1:6379/15", {})
    client = cache._cache.get_client(write=True)
    assert cache._cache.get_client(write=True) is client
    assert cache._cache.get_client("some key") is client  # one server: reads use the same pool


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs a Redis server (set REDIS_URL)")
def test_it_reads_and_writes_through_the_shared_client():
    cache = RedisCache(os.environ["REDIS_URL"], {"KEY_PREFIX": "test-shared-client"})
    cache.set("k", {"n": 1}, 30)
    assert cache.get("k") == {"n": 1}
    cache.delete("k")
    assert cache.get("k") is None
