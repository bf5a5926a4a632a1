"""Staying connected to a server that may go away: backoff with jitter, a pause a stop cuts short.

Every connector (AMQP, MQTT, Redis, a TCP output) runs the same loop in a greenlet of its own:
connect; on failure wait and try again, each wait longer than the last up to a maximum; once
connected, serve until the connection is lost, then wait and connect again; when the module
stops, stop trying, but not before the work that still needs a connection is done or the stop
deadline has passed. :class:`Reconnect` is that loop, so a connector writes only the three
things that are its own: how to connect, how to serve, what to log::

    from wishbone.reconnect import Reconnect

    class MyOut(Output):
        def on_start(self):
            self.reconnect = Reconnect(initial=0.5, maximum=30.0)
            self.spawn(self.reconnect.run, self._connect, self._serve, errors=(OSError,),
                       on_error=self._cannot_connect, on_lost=self._lost, needed=lambda: bool(self._unsent))

        def on_stop(self):
            self.reconnect.stop(deadline=self.stop_deadline - 0.3)  # keep trying for what is unsent

``serve(connection)`` returns True when it ended on purpose (stopping, everything done): the loop
ends. It returns False when the connection was lost: the loop waits and connects again.

The waits are jittered (each one drawn from ``[d * (1 - jitter), d]`` for the nominal delay ``d``)
so that a hundred workers that lost the same server do not all come back in the same instant, and
never exceed ``maximum``. Nothing here blocks the hub: the waits are gevent waits.
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import gevent.event

__all__ = ["Backoff", "Reconnect"]

C = TypeVar("C")


class Backoff:
    """Delays between connection attempts: *initial*, times *factor* after each, at most *maximum*.

    :param initial: the first delay, seconds (> 0).
    :param maximum: the longest delay, seconds (>= *initial*).
    :param factor: how much each delay grows over the last (>= 1).
    :param jitter: a fraction in [0, 1): each delay is drawn uniformly from ``[d * (1 - jitter), d]``.
    :param random: a function returning a float in [0, 1), for tests (default :func:`random.random`).
    """

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 30.0,
        factor: float = 2.0,
        jitter: float = 0.2,
        random: Callable[[], float] = _random.random,
    ) -> None:
        if not initial > 0:
            raise ValueError(f"the first reconnect delay must be more than 0 s, got {initial}")
        if maximum < initial:
            raise ValueError(f"the longest reconnect delay ({maximum} s) is shorter than the first ({initial} s)")
        if factor < 1:
            raise ValueError(f"the backoff factor must be at least 1, got {factor}")
        if not 0 <= jitter < 1:
            raise ValueError(f"the jitter must be a fraction in [0, 1), got {jitter}")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self.random = random
        self.nominal = initial

    def next(self) -> float:
        """The delay to wait now (jittered); the next one grows by *factor*, up to *maximum*."""
        delay = self.nominal
        self.nominal = min(self.maximum, delay * self.factor)
        return delay * (1.0 - self.jitter * self.random())

    def reset(self) -> None:
        """A connection was made: the next delay is *initial* again."""
        self.nominal = self.initial


class Reconnect:
    """Connect, serve, and connect again with backoff, until stopped.

    :param initial: the first delay between attempts, seconds.
    :param maximum: the longest delay, seconds.
    :param factor: growth of the delay per failed attempt (or lost connection).
    :param jitter: fraction of randomness in each delay (see :class:`Backoff`).
    :param random: for tests, see :class:`Backoff`.

    Attributes: ``backoff`` (the :class:`Backoff`), ``stopping`` (True once :meth:`stop` was
    called), ``deadline`` (``time.monotonic()`` after which no attempt is made, ``inf`` until
    a stop), ``attempts`` (connections tried), ``failures`` (attempts that raised), ``lost``
    (connections that were lost after serving).
    """

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 30.0,
        *,
        factor: float = 2.0,
        jitter: float = 0.2,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.backoff = Backoff(initial, maximum, factor, jitter, random)
        self.stopping = False
        self.deadline = float("inf")
        self.attempts = self.failures = self.lost = 0
        self._woken = gevent.event.Event()

    # ------------------------------------------------------------------ control
    def stop(self, deadline: float | None = None) -> None:
        """Stop reconnecting; a pause under way ends now (idempotent, callable from any greenlet).

        Without *deadline* no new attempt is made. With one (a ``time.monotonic()`` value),
        attempts go on until then, but only while the ``needed`` of :meth:`run` says that
        work is waiting for a connection (unsent messages, say).
        """
        self.stopping = True
        self.deadline = min(self.deadline, time.monotonic() if deadline is None else deadline)
        self._woken.set()

    @property
    def expired(self) -> bool:
        """True once stopping and past the deadline: give up."""
        return self.stopping and time.monotonic() >= self.deadline

    def pause(self, seconds: float) -> bool:
        """Wait *seconds*, or less when a stop cuts it short; False when the loop should give up."""
        end = time.monotonic() + seconds
        while True:
            now = time.monotonic()
            if self.stopping and now >= self.deadline:
                return False
            left = min(end, self.deadline) - now
            if left <= 0:
                return True
            if self._woken.wait(left):  # a stop: the caller looks again at what is still needed
                self._woken.clear()
                return not self.expired

    # ------------------------------------------------------------------ the loop
    def run(
        self,
        connect: Callable[[], C],
        serve: Callable[[C], bool],
        *,
        errors: tuple[type[BaseException], ...] = (Exception,),
        on_error: Callable[[BaseException, float], Any] | None = None,
        on_lost: Callable[[C, float], Any] | None = None,
        needed: Callable[[], bool] | None = None,
    ) -> None:
        """Connect and serve until stopped; return when done or when the deadline has passed.

        :param connect: opens a connection and returns it; raises one of *errors* when it cannot.
        :param serve: uses the connection; returns True when it ended on purpose (the loop ends),
            False when the connection was lost (the loop waits and connects again).
        :param errors: what *connect* raises for "cannot connect now"; anything else propagates.
        :param on_error: called with the exception and the delay before the next attempt (log it).
        :param on_lost: called with the lost connection and the delay before the next attempt.
        :param needed: after a stop with a deadline, attempts go on only while this returns True.
        """
        while True:
            if self.stopping and (self.expired or needed is None or not needed()):
                return
            self.attempts += 1
            failed = False
            try:
                connection = connect()
            except errors as exc:
                failed = True
                self.failures += 1
                delay = self.backoff.next()
                if on_error is not None:
                    on_error(exc, delay)
            if failed:  # the wait is outside the except block: the exception and its frames are gone
                if not self.pause(delay):
                    return
                continue
            self.backoff.reset()
            if serve(connection):
                return
            self.lost += 1
            delay = self.backoff.next()
            if on_lost is not None:
                on_lost(connection, delay)
            del connection
            if not self.pause(delay):
                return
