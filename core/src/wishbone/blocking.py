"""Blocking drivers: how a client library that uses the standard library's sockets runs here.

Wishbone never monkey-patches on import (an embedding program, a test run or another library
would find its ``socket`` module changed under it), and the command line does not patch
either: a driver whose calls block (redis-py, psycopg, a DB-API driver, paho-mqtt's
``connect``) runs each call in gevent's threadpool with :func:`call`. The calling greenlet
waits; the hub, and every other module, goes on. A module calls a driver once per batch (a
redis pipeline, a COPY, an executemany), so the hand-off to a thread, some tens of
microseconds, is paid per batch, not per event.

A call that blocks for good (the server stopped answering) holds its thread, not the hub:
give the driver its own socket timeouts so the thread comes back, and bound the wait with
*timeout* here so the module can give up, reconnect, or meet its stop deadline. The pool is
gevent's own (``gevent.get_hub().threadpool``, 10 threads unless ``GEVENT_THREADPOOL_SIZE``
says otherwise); a module that keeps a thread busy for long (a blocking read) counts as one.

A driver that can cooperate natively is better still: a library that exposes its socket and a
step function (paho-mqtt's ``loop_read``/``loop_write``) is driven from a greenlet that waits
on the socket with ``gevent.socket.wait_read``; nothing then needs a thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import gevent

__all__ = ["BlockingTimeout", "call"]

T = TypeVar("T")


class BlockingTimeout(TimeoutError):
    """A blocking call did not return within its timeout; its thread may still be running."""


def call(func: Callable[..., T], *args: Any, timeout: float | None = None, **kwargs: Any) -> T:
    """Run ``func(*args, **kwargs)`` in gevent's threadpool; the calling greenlet waits.

    Exceptions of *func* are raised here. With *timeout*, :class:`BlockingTimeout` is raised
    after that many seconds (the thread is left to finish on its own: make its socket time
    out too). Safe to call from any greenlet; never from a thread of the pool itself.
    """
    pool = gevent.get_hub().threadpool
    result = pool.spawn(_outcome, func, args, kwargs)
    try:
        ok, value = result.get(timeout=timeout)
    except gevent.Timeout:
        raise BlockingTimeout(f"{getattr(func, '__qualname__', func)!r} did not return within {timeout}s") from None
    if ok:
        return value
    raise value


def _outcome(func: Callable[..., Any], args: tuple, kwargs: dict) -> tuple[bool, Any]:
    """Run in the thread: the result or the exception as a value, so that an expected error
    (a refused command) is raised in the caller, not printed by the pool as a crash."""
    try:
        return True, func(*args, **kwargs)
    except Exception as exc:
        return False, exc
