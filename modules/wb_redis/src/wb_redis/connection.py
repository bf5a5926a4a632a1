"""The Redis connection the modules share: redis-py, every call in gevent's threadpool.

redis-py blocks on the standard library's sockets, so each call goes through
:func:`wishbone.blocking.call` (the calling greenlet waits; the hub and every other module go
on), with socket timeouts so a stalled server gives the thread back. A module makes one call
per batch (a pipeline, an XREADGROUP of ``COUNT`` entries), so the thread hand-off is paid per
batch. redis-py reconnects by itself on the next call after a connection error; the modules
retry with backoff (:func:`backoff`, a :class:`wishbone.reconnect.Backoff`) and count reconnects.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import gevent
import redis
from wishbone.blocking import BlockingTimeout, call
from wishbone.log import mask
from wishbone.reconnect import Backoff

__all__ = ["DEFAULT_URL", "RedisLink", "backoff"]

DEFAULT_URL = "redis://127.0.0.1:6379/0"
#: Errors after which a command is worth trying again (the server went away, or is loading).
RETRYABLE = (redis.ConnectionError, redis.TimeoutError, BlockingTimeout, redis.BusyLoadingError)
T = TypeVar("T")


def backoff() -> Backoff:
    """The pauses between a module's attempts: 0.1 s doubling to 5 s, each drawn from its upper half."""
    return Backoff(0.1, 5.0, jitter=0.5)


class RedisLink:
    """One redis-py client and how the module calls it.

    :param url: ``redis://[:password@]host:port/db`` (``rediss://`` for TLS).
    :param timeout: socket and connect timeout in seconds; a call returns within about that.
    """

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        self.connected = False
        self.errors = 0

    def run(self, func: Callable[..., T], *args: Any, timeout: float | None = None, **kwargs: Any) -> T:
        """``func(*args, **kwargs)`` in the threadpool; ``connected`` follows the outcome."""
        try:
            result = call(func, *args, timeout=(timeout or self.timeout) + 1.0, **kwargs)
        except RETRYABLE:
            self.connected = False
            self.errors += 1
            raise
        self.connected = True
        return result

    def retry(
        self, func: Callable[..., T], *args: Any, running: Callable[[], bool], log: Any, **kwargs: Any
    ) -> T | None:
        """Call until it succeeds or *running()* turns false (then None), with backoff between."""
        pauses = backoff()
        while True:
            try:
                return self.run(func, *args, **kwargs)
            except RETRYABLE as exc:
                log.warning("Redis at %s: %s; retrying", mask(self.url), str(exc))
            pause = pauses.next()
            deadline = time.monotonic() + pause
            while time.monotonic() < deadline:
                if not running():
                    return None
                gevent.sleep(min(0.1, pause))

    def close(self) -> None:
        """Close the client's connections (in the threadpool: a close may block on a socket)."""
        try:
            call(self.client.close, timeout=self.timeout)
        except Exception:  # closing a broken connection: nothing left to save
            pass
        self.connected = False
