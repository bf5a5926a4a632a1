"""wb-redis passes the standard checks every Wishbone module passes (against the real Redis)."""

from wb_redis import RedisIn, RedisOut
from wishbone.testing import conformance

TestRedisIn = conformance(RedisIn, config=lambda redis_url, key: {"url": redis_url, "key": key}, entry_point="redis_in")
TestRedisOut = conformance(
    RedisOut,
    config=lambda redis_url, key: {"url": redis_url, "key": key},
    entry_point="redis_out",
    raising_event={"headers": {}, "data": 1j},  # no JSON for a complex number
)
