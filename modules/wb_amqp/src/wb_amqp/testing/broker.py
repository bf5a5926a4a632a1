"""A blocking client to fill, count and drain queues; ``rabbitmqctl`` views of a vhost; message ids.

:class:`Broker` uses pika's ``BlockingConnection``: call it from a test's own thread, not from
inside a greenlet under test. Import the names from :mod:`wb_amqp.testing`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

import pika
import pika.exceptions

from wb_amqp.testing.services import rabbitmqctl

__all__ = ["Broker", "close_all_connections", "connections", "ids", "queue_states", "rabbitmqctl"]

_LOST = (pika.exceptions.ConnectionClosed, pika.exceptions.StreamLostError, pika.exceptions.ChannelClosed)


def queue_states(vhost: str) -> dict[str, tuple[int, int]]:
    """``{queue: (messages_ready, messages_unacknowledged)}`` of *vhost*, from rabbitmqctl."""
    out = rabbitmqctl(
        "list_queues", "-p", vhost, "name", "messages_ready", "messages_unacknowledged", "--no-table-headers"
    )
    states = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            states[parts[0]] = (int(parts[1]), int(parts[2]))
    return states


def connections(vhost: str) -> int:
    """How many client connections *vhost* has now."""
    out = rabbitmqctl("list_connections", "-p", vhost, "vhost", "--no-table-headers")
    return sum(1 for line in out.splitlines() if line.strip() == vhost)


def close_all_connections(vhost: str, reason: str = "test: forced close") -> None:
    """Force-close every client connection of *vhost* (as an operator or a failing broker would)."""
    rabbitmqctl("close_all_connections", "-p", vhost, reason)


def ids(bodies: list[bytes]) -> tuple[set[int], int]:
    """(distinct message ids, duplicates) among *bodies* (each body is its id in ASCII)."""
    distinct = {int(b) for b in bodies}
    return distinct, len(bodies) - len(distinct)


class Broker:
    """One blocking pika connection for setting up, filling, counting and draining queues.

    Queues and exchanges it declares get unique names and are deleted by :meth:`close` (or at
    the end of a ``with`` block). After the broker force-closed the connection, :meth:`count`,
    :meth:`publish`, :meth:`take_all` and :meth:`close` reconnect by themselves.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.queues: list[str] = []
        self.exchanges: list[str] = []
        self.reconnect()

    def __enter__(self) -> Broker:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.close()
        except pika.exceptions.AMQPError:
            self.reconnect()
            self.close()

    def disconnect(self) -> None:
        """Close the connection if it is open (errors of one already gone are ignored)."""
        connection = getattr(self, "connection", None)
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except pika.exceptions.AMQPError:
                pass

    def reconnect(self) -> None:
        """A fresh connection and channel (for instance after the vhost's connections were force-closed)."""
        self.disconnect()
        self.connection = pika.BlockingConnection(pika.URLParameters(self.url))
        self.channel = self.connection.channel()

    def ensure(self) -> None:
        """Reconnect if the connection or channel was closed under us."""
        if self.connection.is_closed or self.channel.is_closed:
            self.reconnect()

    def name(self, prefix: str) -> str:
        """A unique queue or exchange name starting with *prefix*."""
        return f"{prefix}-{uuid.uuid4().hex[:8]}"

    def queue(self, prefix: str, arguments: dict | None = None) -> str:
        """Declare a durable queue with a unique name (deleted at the end); return the name."""
        name = self.name(prefix)
        self.channel.queue_declare(name, durable=True, arguments=arguments)
        self.queues.append(name)
        return name

    def exchange(self, prefix: str, kind: str = "fanout") -> str:
        """Declare a durable exchange with a unique name (deleted at the end); return the name."""
        name = self.name(prefix)
        self.channel.exchange_declare(name, exchange_type=kind, durable=True)
        self.exchanges.append(name)
        return name

    def publish(
        self, queue: str, bodies: Iterable[bytes], properties: pika.BasicProperties | None = None, wait: bool = False
    ) -> int:
        """Publish *bodies* to *queue* (persistent unless *properties* say otherwise); return how many.

        No publisher confirms: a passive declare on the same channel afterwards is answered only
        once the broker has taken every publish before it. With *wait* (nobody consumes *queue*),
        also wait (up to 60 s) until the queue holds them all.
        """
        props = properties or pika.BasicProperties(delivery_mode=2)
        before = self.count(queue)  # also reconnects after a forced close
        n = 0
        for body in bodies:
            self.channel.basic_publish("", queue, body, props)
            n += 1
            if n % 5000 == 0:
                self.connection.process_data_events(0)
        self.count(queue)
        deadline = time.monotonic() + 60
        while wait and self.count(queue) < before + n and time.monotonic() < deadline:
            self.connection.sleep(0.1)
        return n

    def count(self, queue: str) -> int:
        """Messages ready in *queue* (reconnects once if the broker closed our connection)."""
        self.ensure()
        try:
            return self.channel.queue_declare(queue, passive=True).method.message_count
        except _LOST:
            self.reconnect()
            return self.channel.queue_declare(queue, passive=True).method.message_count

    def take_all(self, queue: str, idle: float = 1.0) -> list[bytes]:
        """Consume *queue* (auto-ack) until it has been idle for *idle* seconds; return the bodies."""
        self.ensure()
        bodies = []
        self.channel.basic_qos(prefetch_count=2000)
        for method, _props, body in self.channel.consume(queue, auto_ack=True, inactivity_timeout=idle):
            if method is None:
                break
            bodies.append(body)
        self.channel.cancel()
        return bodies

    def take_ready(self, queue: str) -> list[bytes]:
        """Take (auto-ack) whatever is ready in *queue* now, without waiting."""
        bodies = []
        while True:
            method, _props, body = self.channel.basic_get(queue, auto_ack=True)
            if method is None:
                return bodies
            bodies.append(body)

    def close(self) -> None:
        """Delete this broker's queues and exchanges, close the connection."""
        self.ensure()
        for queue in self.queues:
            self.channel.queue_delete(queue)
        for exchange in self.exchanges:
            self.channel.exchange_delete(exchange)
        self.connection.close()
