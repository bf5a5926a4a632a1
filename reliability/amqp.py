"""The real RabbitMQ for the reliability suite: a throwaway vhost, a blocking client to fill, count
and drain queues, and ``rabbitmqctl`` to force-close connections and list unacknowledged messages.

Without a broker the AMQP scenarios skip, saying so; under ``CI=true`` they fail (CI must test the
real thing). Each test session gets its own vhost, so closing "all connections" of that vhost
never touches another test's (or another engineer's) connections.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterable

import pika
import pika.exceptions
import pytest
from wishbone.testing.services import amqp_available

HOST, PORT = "127.0.0.1", 5672


def unavailable(message: str) -> None:
    """Skip with *message*, or fail under ``CI=true``."""
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(f"{message} (CI=true: the AMQP scenarios need the real broker)", pytrace=False)
    pytest.skip(message)


def check_broker() -> None:
    """Skip (or fail under CI) unless RabbitMQ answers and rabbitmqctl is on PATH."""
    problem = amqp_available(f"amqp://{HOST}:{PORT}/")
    if problem is not None:
        unavailable(f"RabbitMQ is not reachable: {problem}; start it with `rabbitmq-server -detached`")
    if shutil.which("rabbitmqctl") is None:
        unavailable("rabbitmqctl is not on PATH; the AMQP scenarios use it to force-close connections")


def rabbitmqctl(*args: str, timeout: float = 60) -> str:
    """Run ``rabbitmqctl -q ARGS``; its output (RuntimeError on failure)."""
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr or done.stdout}")
    return done.stdout


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


def close_all_connections(vhost: str) -> None:
    """Force-close every client connection of *vhost* (as an operator or a failing broker would)."""
    rabbitmqctl("close_all_connections", "-p", vhost, "reliability test: forced close")


class Broker:
    """One blocking pika connection for setting up, filling, counting and draining queues."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.queues: list[str] = []
        self.exchanges: list[str] = []
        self.connect()

    def connect(self) -> None:
        """A fresh connection (after the vhost's connections were force-closed)."""
        self.connection = pika.BlockingConnection(pika.URLParameters(self.url))
        self.channel = self.connection.channel()

    def ensure(self) -> None:
        """Reconnect if the connection was closed under us."""
        if self.connection.is_closed or self.channel.is_closed:
            self.connect()

    def queue(self, prefix: str, arguments: dict | None = None) -> str:
        """Declare a durable queue with a unique name (deleted at the end); return the name."""
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.channel.queue_declare(name, durable=True, arguments=arguments)
        self.queues.append(name)
        return name

    def exchange(self, prefix: str, kind: str = "fanout") -> str:
        """Declare a durable exchange with a unique name (deleted at the end); return the name."""
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.channel.exchange_declare(name, exchange_type=kind, durable=True)
        self.exchanges.append(name)
        return name

    def publish(self, queue: str, bodies: Iterable[bytes], properties: pika.BasicProperties | None = None) -> int:
        """Publish *bodies* to *queue* (persistent) with publisher confirms; return how many."""
        props = properties or pika.BasicProperties(delivery_mode=2)
        self.channel.confirm_delivery()
        n = 0
        for body in bodies:
            self.channel.basic_publish("", queue, body, props)
            n += 1
        self.connect()  # confirm mode stays on a channel: give later calls a plain one
        return n

    def publish_fast(self, queue: str, bodies: Iterable[bytes], wait: bool = True) -> int:
        """Publish *bodies* without confirms; return how many.

        A passive declare on the same channel afterwards is answered only once the broker has
        taken every publish before it. With *wait* (nobody consumes *queue*), also wait until
        the queue holds them all.
        """
        props = pika.BasicProperties(delivery_mode=2)
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
        except (pika.exceptions.ConnectionClosed, pika.exceptions.StreamLostError, pika.exceptions.ChannelClosed):
            self.connect()
            return self.channel.queue_declare(queue, passive=True).method.message_count

    def take_all(self, queue: str, idle: float = 1.0) -> list[bytes]:
        """Consume *queue* until it has been idle for *idle* seconds; return the bodies."""
        self.ensure()
        bodies = []
        self.channel.basic_qos(prefetch_count=2000)
        for method, _props, body in self.channel.consume(queue, auto_ack=True, inactivity_timeout=idle):
            if method is None:
                break
            bodies.append(body)
        self.channel.cancel()
        return bodies

    def close(self) -> None:
        """Delete this test's queues and exchanges, close the connection."""
        self.ensure()
        for queue in self.queues:
            self.channel.queue_delete(queue)
        for exchange in self.exchanges:
            self.channel.exchange_delete(exchange)
        self.connection.close()


def ids(bodies: list[bytes]) -> tuple[set[int], int]:
    """(distinct message ids, duplicates) among *bodies* (each body is its id in ASCII)."""
    distinct = {int(b) for b in bodies}
    return distinct, len(bodies) - len(distinct)
