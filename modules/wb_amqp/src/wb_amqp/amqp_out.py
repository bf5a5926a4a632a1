"""The ``amqp_out`` output: publishes to RabbitMQ with publisher confirms."""

from __future__ import annotations

import collections
import functools
import struct
import time
from typing import Any

import gevent
import gevent.event
import pika
import pika.exceptions
from pika.spec import Basic
from wishbone import codec
from wishbone.ack import mark_abandoned
from wishbone.module import Output

from wb_amqp.connector import DEFAULT_URL, Connector
from wb_amqp.session import Session
from wb_amqp.topology import Topology

__all__ = ["AMQPOut"]

#: The AMQP 0-9-1 basic properties a message may carry (pika's names).
PROPERTY_NAMES = frozenset(
    (
        "content_type",
        "content_encoding",
        "headers",
        "delivery_mode",
        "priority",
        "correlation_id",
        "reply_to",
        "expiration",
        "message_id",
        "timestamp",
        "type",
        "user_id",
        "app_id",
        "cluster_id",
    )
)

# What pika raises while it marshals a frame out of a bad property or routing key. It
# marshals before it writes, so nothing of such a message reached the socket.
_UNSENDABLE = (
    pika.exceptions.ShortStringTooLong,
    pika.exceptions.ProtocolSyntaxError,
    struct.error,
    TypeError,
    ValueError,
    OverflowError,
)


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


_ENCODERS = {name: codec.get(name).encode for name in codec.names()}


def _check_properties(properties: dict, where: str) -> dict:
    unknown = sorted(set(properties) - PROPERTY_NAMES)
    if unknown:
        raise ValueError(f"{where}: unknown message properties {', '.join(map(repr, unknown))}")
    return properties


class AMQPOut(Output):
    """Publishes events to RabbitMQ; an event is delivered once the broker confirmed it.

    A shovel by default: the body is ``data`` encoded back the way ``amqp_in`` decoded it
    (``raw``: the same bytes; ``json``: JSON again), and the message properties are those in the
    event's ``headers.amqp.properties`` (where ``amqp_in`` puts every property of the message
    it consumed: ``message_id``, ``correlation_id``, ``headers``, ``priority``,
    ``timestamp``...), except where a parameter (``persistent``, ``content_type``,
    ``properties``) says otherwise. The output holds every published event until its publisher
    confirm arrives (so an ``amqp_in`` upstream acknowledges only confirmed messages); at
    most ``window`` are unconfirmed, and a full window blocks the inbox (backpressure). A
    nack from the broker, or a lost connection, publishes the unconfirmed events again
    (at-least-once: the receiver may see a message twice). On a lost connection the output
    reconnects with backoff and redeclares. Ready while connected with confirms on.

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
        encode (str): how ``data`` becomes the body. ``"auto"`` (default): with the codec
            named by the event's ``headers.amqp.decode`` (what ``amqp_in`` decoded the body
            with, so ``json`` in gives JSON out, a JSON string included), otherwise ``raw``.
            Or a codec of ``wishbone.codec``: ``"raw"``: bytes as they are, str as UTF-8,
            anything else as JSON; ``"text"``: str only; ``"json"``: every data as one JSON
            text, UTF-8 (NaN as null); ``"msgpack"``; ``"lines"``/``"json_lines"``: one line
            with its newline. Data that does not encode goes to ``failed``.
        properties_header (str): the header holding the message properties to publish, a
            dotted path (default ``"amqp.properties"``, as ``amqp_in`` sets it; None: none).
            A ``user_id`` other than the URL's user is left out (the broker refuses it).
        properties (dict): properties for every message, over those of the header, e.g.
            ``{"app_id": "wishbone"}`` (default none).
        persistent (bool): True: delivery mode 2 for every message; False: 1; None
            (default): the message's own ``delivery_mode``, 2 when it has none.
        content_type (str): the content_type property of every message (default None: the
            message's own).
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
        failed: events that cannot be published (no such header, data that does not
            encode, properties the protocol cannot carry).
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        exchange: str = "",
        routing_key: str = "",
        exchange_header: str | None = None,
        routing_key_header: str | None = None,
        encode: str = "auto",
        properties_header: str | None = "amqp.properties",
        properties: dict | None = None,
        persistent: bool | None = None,
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
        topology = Topology(
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
        self.connector: Connector[Session] = Connector(
            url, topology, heartbeat, timeout, reconnect_delay, reconnect_max_delay
        )
        self.url = self.connector.url
        self.topology = topology
        self.exchange = exchange
        self.routing_key = routing_key
        self._exchange_path = _header_path(exchange_header)
        self._routing_key_path = _header_path(routing_key_header)
        self._properties_path = _header_path(properties_header)
        self.encode = encode
        try:
            self._encode = None if encode == "auto" else codec.get(encode).encode
        except ValueError as exc:  # names the codecs; the bootstrap adds the JSON path
            raise ValueError(f"encode: {exc} (or auto)") from None
        self.window = window
        # Parameters over the message's own properties; a message without any gets `default`.
        fixed = dict(_check_properties(dict(properties or {}), "properties"))
        if persistent is not None:
            fixed["delivery_mode"] = 2 if persistent else 1
        if content_type is not None:
            fixed["content_type"] = content_type
        self._fixed = fixed
        self._user = self.connector.params.credentials.username
        self.default_properties = pika.BasicProperties(**{"delivery_mode": 2, **fixed})
        try:
            self.default_properties.encode()
        except _UNSENDABLE as exc:
            raise ValueError(f"properties: cannot be sent: {exc}") from None

    @property
    def ready(self) -> bool:
        """True while connected, the topology declared and publisher confirms on."""
        return self.connector.ready

    # ------------------------------------------------------------------ lifecycle
    def on_start(self) -> None:
        self._session: Session | None = None  # set while publishing is possible
        self._unconfirmed: dict[int, tuple] = {}  # delivery tag -> (event, exchange, key, body, properties)
        self._order: collections.deque[int] = collections.deque()  # tags in publish order
        self._next_tag = 1
        self._retry: list = []  # messages to publish again (nacked, or their session was lost)
        self._room = gevent.event.Event()  # the window has room and a session is up
        self._wake = gevent.event.Event()  # retries waiting, session lost, or stopping
        self._stopping = False
        self._nack_streak = 0
        self.published = self.confirmed = self.nacked = self.republished = 0
        self._connection = self.spawn(
            self.connector.run,
            self.log,
            ("publish to", "publishing to"),
            self._setup,
            self._serve,
            lambda: bool(self._retry),  # stopping: keep reconnecting for these, until the deadline
        )

    def on_stop(self) -> None:
        """Wait for the outstanding confirms (until the deadline), then close the connection."""
        self._stopping = True
        self.connector.stop(deadline=self.stop_deadline - 0.3)
        self._wake.set()
        self._room.set()
        self._connection.join(max(0.1, self.stop_deadline - time.monotonic() - 0.2))
        left = len(self._unconfirmed) + len(self._retry)
        if left:
            # Neither delivered nor failed: abandoned, so that an amqp_in upstream leaves the
            # messages unacknowledged and the broker redelivers them.
            mark_abandoned([message[0] for message in (*self._unconfirmed.values(), *self._retry)])
            self._unconfirmed.clear()
            self._retry.clear()
            self.log.warning("%d event(s) not confirmed by the stop deadline; not acknowledged upstream.", left)
        self.connector.abort()

    def metrics(self) -> dict:
        """Messages published, confirmed, nacked, published again; reconnects; window use."""
        return {
            "published": self.published,
            "confirmed": self.confirmed,
            "nacked": self.nacked,
            "republished": self.republished,
            "unconfirmed": len(self._unconfirmed),
            "reconnects": self.connector.reconnects,
            "connected": int(self.connector.ready),
        }

    # ------------------------------------------------------------------ per event
    def consume(self, event: dict) -> None:
        """Publish *event*; blocks while the window is full or the broker is away."""
        try:
            self._publish(self._message(event))
        except (ValueError, TypeError) as exc:
            error = exc.__class__(str(exc))
        else:
            return
        # Raised from here, with no frame holding the event: the core logs the exception, and a
        # log handler that keeps records would otherwise keep the event, and its delivery unsettled.
        del event
        raise error

    def _message(self, event: dict) -> tuple[dict, str, str, bytes, pika.BasicProperties]:
        """(event, exchange, routing key, body, properties): what is published, kept until confirmed."""
        headers = event["headers"]
        exchange = (
            self.exchange if self._exchange_path is None else _lookup(headers, self._exchange_path, "exchange_header")
        )
        routing_key = (
            self.routing_key
            if self._routing_key_path is None
            else _lookup(headers, self._routing_key_path, "routing_key_header")
        )
        encode = self._encode
        if encode is None:  # auto: as amqp_in decoded it
            amqp = headers.get("amqp")
            name = amqp.get("decode", "raw") if isinstance(amqp, dict) else "raw"
            encode = _ENCODERS.get(name) or codec.get(name).encode  # ValueError for a name it does not know
        return event, exchange, routing_key, encode(event["data"]), self._message_properties(headers)

    def _message_properties(self, headers: dict) -> pika.BasicProperties:
        """The event's own properties (from ``properties_header``) under the parameters' ones."""
        path = self._properties_path
        own: Any = headers
        if path is not None:
            for key in path:
                own = own.get(key) if isinstance(own, dict) else None
        if path is None or not own:
            return self.default_properties
        if not isinstance(own, dict):
            raise TypeError(f"header {'.'.join(path)!r} (properties_header) is {type(own).__name__}, not a dict")
        if not own.keys() <= PROPERTY_NAMES:
            _check_properties(own, f"header {'.'.join(path)!r} (properties_header)")
        merged = {"delivery_mode": 2, **own, **self._fixed}
        if merged.get("user_id") not in (None, self._user):
            del merged["user_id"]  # the broker refuses a user_id other than the connection's user
        return pika.BasicProperties(**merged)

    def _publish(self, message: tuple, only: Session | None = None) -> bool:
        """Publish *message* and hold it until confirmed; wait for room and for a session.

        With *only*, publish on that session or not at all (False once it is lost): the
        connection greenlet must not wait for a session that only it can open. ValueError
        when pika cannot marshal the message (a property of the wrong type, a key too long).
        """
        unconfirmed = self._unconfirmed
        while True:
            session = self._session
            if only is not None and (session is not only or only.lost.is_set()):
                return False
            if session is not None and not session.lost.is_set() and len(unconfirmed) < self.window:
                try:
                    session.channel.basic_publish(message[1], message[2], message[3], message[4])
                except _UNSENDABLE as exc:
                    raise ValueError(f"the message cannot be sent: {type(exc).__name__}: {exc}") from None
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
    def _setup(self, session: Session, queue: str | None) -> Session:
        """Turn publisher confirms on (the topology is declared)."""
        session.call(session.channel.confirm_delivery, functools.partial(self._on_confirm, session))
        session.lost.rawlink(lambda _: self._wake.set())
        self._next_tag = 1
        self._session = session
        self._room.set()
        return session

    def _serve(self, session: Session) -> bool:
        """Publish retries; False when the session is lost, True when stopping with all confirmed."""
        lost = session.lost
        while not lost.is_set():
            if self._retry:
                if self._nack_streak:
                    gevent.sleep(min(1.0, 0.05 * 2 ** min(self._nack_streak, 5)))  # the broker refused: back off
                self._nack_streak += 1
                if not self._republish(session):
                    break
                continue
            if self._stopping and (not self._unconfirmed or time.monotonic() >= self.stop_deadline - 0.3):
                break
            self._wake.clear()
            if self._retry:
                continue
            self._wake.wait(0.5 if self._stopping else None)
        self._session = None
        if not lost.is_set():  # stopping, everything confirmed
            self.connector.close(session, self.stop_deadline)
            return True
        # Lost: what was not confirmed goes out again on the next session.
        self._retry[:0] = [self._unconfirmed[tag] for tag in self._order if tag in self._unconfirmed]
        self._unconfirmed.clear()
        self._order.clear()
        self._room.set()  # wake blocked publishers: they wait for the next session
        return False

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
