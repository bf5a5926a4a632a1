"""What ``amqp_in`` and ``amqp_out`` share: the URL, the topology, and staying connected.

A :class:`Connector` holds one module's broker settings (the URL checked and its password
masked, the :class:`~wb_amqp.topology.Topology` to declare) and runs the module's connection
loop on :class:`wishbone.reconnect.Reconnect`: open a session, declare the topology, let the
module set up its channel (consume, or turn on confirms), serve until the session is lost,
then reconnect with backoff, logging each failure once with the password masked. The module
writes only its own setup and serve.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from wishbone.reconnect import Reconnect

from wb_amqp.session import Session, SessionError, SessionLost, mask_url, parse_url, safe_text
from wb_amqp.topology import Topology

__all__ = ["DEFAULT_URL", "Connector"]

#: No ``user:password@`` in it: pika logs in as guest/guest.
DEFAULT_URL = "amqp://127.0.0.1:5672/%2F"

T = TypeVar("T")


class Connector(Generic[T]):
    """One module's connection to RabbitMQ, kept up with backoff; ``ready`` while it serves.

    :param url: ``amqp://user:password@host:port/vhost``; checked here (ValueError).
    :param topology: what to declare on every connect (checked here, ValueError).
    :param heartbeat: AMQP heartbeat, seconds.
    :param timeout: seconds the broker has to answer a command.
    :param reconnect_delay: first delay before a reconnect (ValueError if not > 0).
    :param reconnect_max_delay: longest delay between reconnects.
    """

    def __init__(
        self,
        url: str,
        topology: Topology,
        heartbeat: int = 30,
        timeout: float = 15.0,
        reconnect_delay: float = 0.5,
        reconnect_max_delay: float = 30.0,
    ) -> None:
        self.params = parse_url(url, heartbeat)
        #: The URL with its password masked: the only form that is logged or shown.
        self.url = mask_url(url)
        self.raw_url = url
        topology.check()
        self.topology = topology
        self.timeout = timeout
        self.reconnect_delay = reconnect_delay
        self.reconnect_max_delay = reconnect_max_delay
        try:
            self.reconnect = Reconnect(reconnect_delay, reconnect_max_delay)
        except ValueError as exc:
            raise ValueError(
                f"reconnect_delay {reconnect_delay:g}, reconnect_max_delay {reconnect_max_delay:g}: {exc}"
            ) from None
        #: The session in service (opened, topology declared, set up); None between sessions.
        self.session: Session | None = None
        self._opening: Session | None = None

    @property
    def ready(self) -> bool:
        """True while a session is in service: connected, topology declared, channel set up."""
        session = self.session
        return session is not None and session.is_open

    @property
    def reconnects(self) -> int:
        """Sessions lost after they were in service."""
        return self.reconnect.lost

    def masked(self, text: str) -> str:
        """*text* with the URL's password masked."""
        return safe_text(text, self.raw_url)

    def run(
        self,
        log: Any,
        doing: tuple[str, str],
        setup: Callable[[Session, str | None], T],
        serve: Callable[[T], bool],
        needed: Callable[[], bool] | None = None,
    ) -> None:
        """The connection loop (run it in a greenlet of the module); returns once stopped.

        :param log: the module's logger.
        :param doing: how the log says it, e.g. ``("consume from", "consuming")``.
        :param setup: called with the opened session and the declared queue's name; returns
            what *serve* gets. Raising :class:`SessionError` or :class:`SessionLost` counts as
            a failed attempt.
        :param serve: returns True when it ended on purpose (stopping), False when lost.
        :param needed: after a stop with a deadline, keep reconnecting while this is True.
        """
        cannot, connected = doing

        def connect() -> tuple[Session, T]:
            session = self._opening = Session(self.params, self.timeout)
            try:
                session.open()
                queue = self.topology.apply(session)
                state = setup(session, queue)
            except BaseException:
                session.abort()
                raise
            finally:
                self._opening = None
            log.info("Connected to %s, %s %s.", self.url, connected, self.topology.describe())
            self.session = session
            return session, state

        def in_service(opened: tuple[Session, T]) -> bool:
            try:
                return serve(opened[1])
            finally:
                self.session = None

        def failed(exc: BaseException, delay: float) -> None:
            log.error("Cannot %s %s: %s; retrying in %.1f s.", cannot, self.url, self.masked(str(exc)), delay)

        def lost(opened: tuple[Session, T], delay: float) -> None:
            session = opened[0]
            why = self.masked(session.why())
            log.warning("Connection to %s lost (%s); reconnecting in %.1f s.", self.url, why, delay)
            session.abort()

        self.reconnect.run(
            connect, in_service, errors=(SessionError, SessionLost), on_error=failed, on_lost=lost, needed=needed
        )

    def stop(self, deadline: float | None = None) -> None:
        """Stop reconnecting (see :meth:`wishbone.reconnect.Reconnect.stop`)."""
        self.reconnect.stop(deadline)

    def close(self, session: Session, deadline: float) -> None:
        """Close *session* cleanly, waiting at most until *deadline* (and 5 s)."""
        session.close(max(0.1, min(5.0, deadline - time.monotonic())))

    def abort(self) -> None:
        """Drop whatever session is open or opening now (at the stop deadline)."""
        for session in (self._opening, self.session):
            if session is not None:
                session.abort()
