"""The ``amqp_out`` output: publishes to RabbitMQ with publisher confirms."""

from __future__ import annotations

import collections
import functools
import time
from typing import Any

import gevent
import gevent.event
import pika
import pika.exceptions
from pika.spec import Basic
from wishbone.ack import mark_abandoned
from wishbone.codec import json_dumps
from wishbone.module import Module

from wb_amqp.session import Backoff, Session, SessionError, SessionLost, mask_url, parse_url, safe_text
from wb_amqp.topology import Topology

__all__ = ["AMQPOut"]

DEFAULT_URL = "amqp://127.0.0.1:5672/%2F"  # no user:password in it: pika logs in as guest/guest


def _header_path(path: str | None) -> tuple[str, ...] | None:
    return tuple(path.split(".")) if path else None


def _lookup(headers: dict, path: tuple[str, ...], parameter: str) -> str:
    value: Any = headers
    for key in path:
        if not isinstance(value, dict) or key not in value:
            raise ValueError(f"event has no header {'.'.join(path)!r} (named by {parameter})")
        value = value[key]
    if not isinstance(value, str):
        raise TypeError(f"header {'.'.join(path)!r} (named by {parameter}) is {type(value).__name__}, not a string")
    return value


def _body(data: Any) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    if data is None:
        return b""
    return json_dumps(data)  # wishbone.codec: always valid JSON (NaN as null), UTF-8 without \u escapes


class AMQPOut(Module):
    """Publishes events to RabbitMQ; an event is delivered once the broker confirmed it.

    The body is ``data``: bytes as they are, text as UTF-8, anything else as JSON. Messages
    are persistent by default. The output holds every published event until its publisher
    confirm arrives (so an ``amqp_in`` upstream acknowledges only confirmed messages); at
    most ``window`` are unconfirmed, and a full window blocks the inbox (backpressure). A
    nack from the broker, or a lost connection, publishes the unconfirmed events again
    (at-least-once: the receiver may see a message twice). On a lost connection the output
    reconnects with backoff and redeclares.

    Parameters:
        url (str): ``amqp://user:password@host:port/vhost`` (vhost ``/`` is ``%2F``); the
            password is masked everywhere it is shown. Without user:password pika logs in as
            guest/guest (default ``amqp://127.0.0.1:5672/%2F``).
        exchange (str): the exchange to publish to ("" = the default exchange, which routes
            by queue name; default "").
        routing_key (str): the routing key (default "").
        exchange_header (str): take the exchange from this event header instead, a dotted
            path such as ``"amqp.exchange"`` (default None: use ``exchange``).
        routing_key_header (str): take the routing key from this header, e.g.
            ``"amqp.routing_key"`` (default None: use ``routing_key``). An event without the
            header goes to ``failed``.
        persistent (bool): delivery mode 2, messages survive a broker restart (default True).
        content_type (str): the content_type property of every message (default None).
        window (int): published but unconfirmed messages at most (default 1000).
        declare (bool): declare the exchange (if not "") and queue (if given) on every
            connect (default True).
        exchange_type (str): direct, fanout, topic or headers (default "direct").
        exchange_durable (bool): declare the exchange durable (default True).
        exchange_auto_delete (bool): delete it when unbound (default False).
        exchange_arguments (dict): exchange arguments.
        queue (str): a queue to declare as well (default None: none).
        queue_durable (bool): declare it durable (default True).
        queue_arguments (dict): its arguments.
        bindings (list[str]): routing keys binding that queue to ``exchange``.
        heartbeat (int): AMQP heartbeat in seconds (default 30).
        reconnect_delay (float): first delay before a reconnect, doubling (default 0.5).
        reconnect_max_delay (float): longest delay between reconnects (default 30).
        timeout (float): seconds to wait for the broker to answer a command (default 15).

    Queues:
        inbox: events to publish.
        failed: events that cannot be published (no such header, data not serializable).
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        exchange: str = "",
        routing_key: str = "",
        exchange_header: str | None = None,
        routing_key_header: str | None = None,
        persistent: bool = True,
        content_type: str | None = None,
        window: int = 1000,
        declare: bool = True,
        exchange_type: str = "direct",
        exchange_durable: bool = True,
        exchange_auto_delete: bool = False,
        exchange_arguments: dict | None = None,
        queue: str | None = None,
        queue_durable: bool = True,
        queue_arguments: dict | None = None,
        bindings: list[str] | None = None,
        heartbeat: int = 30,
        reconnect_delay: float = 0.5,
        reconnect_max_delay: float = 30.0,
        timeout: float = 15.0,
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        self._params = parse_url(url, heartbeat)
        self.url = mask_url(url)
        self._raw_url = url
        self.exchange = exchange
        self.routing_key = routing_key
        self._exchange_path = _header_path(exchange_header)
        self._routing_key_path = _header_path(routing_key_header)
        self.window = window
        self.properties = pika.BasicProperties(delivery_mode=2 if persistent else 1, content_type=content_type)
        self.topology = Topology(
            exchange=exchange,
            exchange_type=exchange_type,
            exchange_durable=exchange_durable,
            exchange_auto_delete=exchange_auto_delete,
            exchange_arguments=dict(exchange_arguments or {}),
            queue=queue,
            queue_durable=queue_durable,
            queue_arguments=dict(queue_arguments or {}),
            bindings=list(bindings or []),
            declare=declare,
        )
        self.topology.check()
        self.reconnect_delay = reconnect_delay
        self.reconnect_max_delay = reconnect_max_delay
        self.timeout = timeout

    # ------------------------------------------------------------------ lifecycle
    def on_start(self) -> None:
        self._session: Session | None = None  # set while publishing is possible
        self._opening: Session | None = None  # a session being opened
        self._unconfirmed: dict[int, tuple] = {}  # delivery tag -> (event, exchange, key, body)
        self._order: collections.deque[int] = collections.deque()  # tags in publish order
        self._next_tag = 1
        self._retry: list = []  # messages to publish again (nacked, or their session was lost)
        self._room = gevent.event.Event()  # the window has room and a session is up
        self._wake = gevent.event.Event()  # retries waiting, session lost, or stopping
        self._stopping = False
        self._nack_streak = 0
        self.published = self.confirmed = self.nacked = self.republished = self.reconnects = 0
        self.spawn(self._connection_loop)

    def on_stop(self) -> None:
        """Wait for the outstanding confirms (until the deadline), then close the connection."""
        self._stopping = True
        self._wake.set()
        self._room.set()
        gevent.joinall(self._background, timeout=max(0.1, self.stop_deadline - time.monotonic() - 0.2))
        left = len(self._unconfirmed) + len(self._retry)
        if left:
            # Neither delivered nor failed: abandoned, so that an amqp_in upstream leaves the
            # messages unacknowledged and the broker redelivers them.
            mark_abandoned([message[0] for message in (*self._unconfirmed.values(), *self._retry)])
            self._unconfirmed.clear()
            self._retry.clear()
            self.log.warning("%d event(s) not confirmed by the stop deadline; not acknowledged upstream.", left)
        for session in (self._opening, self._session):
            if session is not None:
                session.abort()

    def metrics(self) -> dict:
        """Messages published, confirmed, nacked, published again; reconnects; window use."""
        session = self._session
        return {
            "published": self.published,
            "confirmed": self.confirmed,
            "nacked": self.nacked,
            "republished": self.republished,
            "unconfirmed": len(self._unconfirmed),
            "reconnects": self.reconnects,
            "connected": int(session is not None and session.is_open),
        }

    # ------------------------------------------------------------------ per event
    def consume(self, event: dict) -> None:
        """Publish *event*; blocks while the window is full or the broker is away."""
        try:
            message = self._message(event)
        except (ValueError, TypeError) as exc:
            error = exc.__class__(str(exc))
        else:
            self._publish(message)
            return
        # Raised from here, with no frame holding the event: the core logs the exception, and a
        # log handler that keeps records would otherwise keep the event, and its delivery unsettled.
        del event
        raise error

    def _message(self, event: dict) -> tuple[dict, str, str, bytes]:
        """(event, exchange, routing key, body): what is published, kept until confirmed."""
        headers = event["headers"]
        exchange = (
            self.exchange if self._exchange_path is None else _lookup(headers, self._exchange_path, "exchange_header")
        )
        routing_key = (
            self.routing_key
            if self._routing_key_path is None
            else _lookup(headers, self._routing_key_path, "routing_key_header")
        )
        return event, exchange, routing_key, _body(event["data"])

    def _publish(self, message: tuple, only: Session | None = None) -> bool:
        """Publish *message* and hold it until confirmed; wait for room and for a session.

        With *only*, publish on that session or not at all (False once it is lost): the
        connection greenlet must not wait for a session that only it can open.
        """
        unconfirmed = self._unconfirmed
        while True:
            session = self._session
            if only is not None and (session is not only or only.lost.is_set()):
                return False
            if session is not None and not session.lost.is_set() and len(unconfirmed) < self.window:
                try:
                    session.channel.basic_publish(message[1], message[2], message[3], self.properties)
                except pika.exceptions.AMQPError:
                    # Closed under us: end the session, the connection greenlet reconnects.
                    session.abort()
                    continue
                tag = self._next_tag
                self._next_tag = tag + 1
                unconfirmed[tag] = message
                self._order.append(tag)
                self.published += 1
                return True
            if self._stopping and time.monotonic() >= self.stop_deadline:
                mark_abandoned([message[0]])  # see on_stop
                return True
            self._room.clear()
            self._room.wait(1.0)

    # ------------------------------------------------------------------ confirms (in the hub)
    def _on_confirm(self, session: Session, frame: Any) -> None:
        if session is not self._session:
            return
        method = frame.method
        tag = method.delivery_tag
        unconfirmed = self._unconfirmed
        order = self._order
        if method.multiple:
            released = []
            while order and order[0] <= tag:
                event = unconfirmed.pop(order.popleft(), None)
                if event is not None:
                    released.append(event)
        else:
            event = unconfirmed.pop(tag, None)
            released = [] if event is None else [event]
            while order and order[0] not in unconfirmed:
                order.popleft()
        if isinstance(method, Basic.Nack):
            self.nacked += len(released)
            self._retry.extend(released)
            self._wake.set()
        else:
            self.confirmed += len(released)
            self._nack_streak = 0
        released = None  # dropping the last references settles the deliveries upstream
        if len(unconfirmed) < self.window:
            self._room.set()

    # ------------------------------------------------------------------ the connection greenlet
    def _connection_loop(self) -> None:
        backoff = Backoff(self.reconnect_delay, self.reconnect_max_delay)
        while True:
            if self._stopping and not self._retry:
                return
            session = self._opening = Session(self._params, self.timeout)
            try:
                session.open()
                self.topology.apply(session)
                session.call(session.channel.confirm_delivery, functools.partial(self._on_confirm, session))
            except (SessionError, SessionLost) as exc:
                self._opening = None
                session.abort()
                delay = backoff.next()
                self.log.error(
                    "Cannot publish to %s: %s; retrying in %.1f s.", self.url, safe_text(str(exc), self._raw_url), delay
                )
                if self._pause(delay):
                    return
                continue
            self._opening = None
            backoff.reset()
            self.log.info("Connected to %s, publishing to %s.", self.url, self.topology.describe())
            session.lost.rawlink(lambda _: self._wake.set())
            self._next_tag = 1
            self._session = session
            self._room.set()
            self._serve(session)
            self._session = None
            if not session.lost.is_set():  # stopping, everything confirmed
                session.close(max(0.1, min(5.0, self.stop_deadline - time.monotonic())))
                return
            # Lost: what was not confirmed goes out again on the next session.
            self._retry[:0] = [self._unconfirmed[tag] for tag in self._order if tag in self._unconfirmed]
            self._unconfirmed.clear()
            self._order.clear()
            self._room.set()  # wake blocked publishers: they wait for the next session
            self.reconnects += 1
            delay = backoff.next()
            why = safe_text(session._why(), self._raw_url)
            self.log.warning("Connection to %s lost (%s); reconnecting in %.1f s.", self.url, why, delay)
            session.abort()
            if self._pause(delay):
                return

    def _pause(self, seconds: float) -> bool:
        """Sleep before a reconnect; True when the stop deadline passed meanwhile."""
        deadline = time.monotonic() + seconds
        while True:
            if self._stopping and time.monotonic() >= self.stop_deadline - 0.3:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._wake.clear()
            self._wake.wait(min(left, 0.5))

    def _serve(self, session: Session) -> None:
        """Publish retries; return when the session is lost, or stopping with all confirmed."""
        lost = session.lost
        while not lost.is_set():
            if self._retry:
                if self._nack_streak:
                    gevent.sleep(min(1.0, 0.05 * 2 ** min(self._nack_streak, 5)))  # the broker refused: back off
                self._nack_streak += 1
                if not self._republish(session):
                    return
                continue
            if self._stopping and (not self._unconfirmed or time.monotonic() >= self.stop_deadline - 0.3):
                return
            self._wake.clear()
            if self._retry:
                continue
            self._wake.wait(0.5 if self._stopping else None)

    def _republish(self, session: Session) -> bool:
        """Publish the retry list again on *session*; False if it was lost meanwhile.

        A method of its own so that its locals (the messages) are gone when it returns: an
        event referenced from here would never settle upstream.
        """
        retry, self._retry = self._retry, []
        for position, message in enumerate(retry):
            if not self._publish(message, only=session):
                self._retry[:0] = retry[position:]
                return False
            self.republished += 1
        return True
