"""The real Redis on 127.0.0.1:6379 (or $WISHBONE_TEST_REDIS_URL), and a key prefix per test.

A missing server skips the test saying how to start one; under ``CI=true`` it fails the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

URL = os.environ.get("WISHBONE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
START = "start one with `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no`"


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        redis.Redis.from_url(URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        message = f"Redis is needed at {URL}: {exc}; {START}"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"{message} (CI=true: a missing server fails the build)", pytrace=False)
        pytest.skip(message)
    return URL


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
def key(client: redis.Redis) -> Iterator[str]:
    """A key name no other test uses; everything under it is deleted afterwards."""
    name = f"wbtest:{uuid.uuid4().hex[:12]}"
    yield name
    for k in client.scan_iter(f"{name}*"):
        client.delete(k)
