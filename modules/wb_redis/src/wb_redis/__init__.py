"""wb-redis: Redis in (streams with consumer groups, lists, pub/sub) and out (XADD, LPUSH/RPUSH, PUBLISH)."""

from wb_redis.redis_in import RedisIn
from wb_redis.redis_out import RedisOut

__version__ = "1.0.0"

__all__ = ["RedisIn", "RedisOut", "__version__"]
