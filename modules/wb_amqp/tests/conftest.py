"""The real broker for wb-amqp's tests: a throwaway vhost, helpers to fill and count queues.

Every test talks to the RabbitMQ on 127.0.0.1:5672. When it is not running the tests skip
(saying how to start it), except under ``CI=true``, where they fail: CI must test the real
thing. The session gets its own vhost (made and deleted with ``rabbitmqctl``); each test
uses queue names of its own.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid

import pika
import pytest

HOST, PORT = "127.0.0.1", 5672
START_HINT = "start it with `rabbitmq-server -detached`"


def _reachable() -> bool:
    try:
        socket.create_connection((HOST, PORT), timeout=2).close()
        return True
    except OSError:
        return False


def _unavailable(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: the AMQP tests need the real broker)", pytrace=False)
    pytest.skip(message)


def rabbitmqctl(*args: str, timeout: float = 30) -> str:
    """Run ``rabbitmqctl -q ARGS`` and return its output (raises on failure)."""
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr or done.stdout}")
    return done.stdout


@pytest.fixture(scope="session")
def vhost() -> str:
    """A vhost of this test session (guest may use it), deleted afterwards."""
    if not _reachable():
        _unavailable(f"RabbitMQ is not reachable on {HOST}:{PORT}; {START_HINT}")
    if shutil.which("rabbitmqctl") is None:
        _unavailable("rabbitmqctl is not on PATH; the AMQP tests manage their vhost with it")
    name = f"wb_amqp_test_{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    yield name
    rabbitmqctl("delete_vhost", name)


@pytest.fixture
def amqp_url(vhost: str) -> str:
    """The URL of the test vhost on the real broker (skips, or fails under CI, without one)."""
    if not _reachable():
        _unavailable(f"RabbitMQ is not reachable on {HOST}:{PORT}; {START_HINT}")
    return f"amqp://guest:guest@{HOST}:{PORT}/{vhost}"


class Broker:
    """Blocking helpers around one pika connection, for setting up and checking queues."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()
        self.queues: list[str] = []
        self.exchanges: list[str] = []

    def name(self, prefix: str) -> str:
        """A unique queue or exchange name, deleted at the end of the test."""
        return f"{prefix}-{uuid.uuid4().hex[:8]}"

    def queue(self, prefix: str, arguments: dict | None = None) -> str:
        """Declare a durable queue with a unique name; return the name."""
        name = self.name(prefix)
        self.channel.queue_declare(name, durable=True, arguments=arguments)
        self.queues.append(name)
        return name

    def exchange(self, prefix: str, kind: str = "fanout") -> str:
        name = self.name(prefix)
        self.channel.exchange_declare(name, exchange_type=kind, durable=True)
        self.exchanges.append(name)
        return name

    def publish(self, queue: str, bodies) -> int:
        """Publish *bodies* to *queue* (persistent); return how many."""
        props = pika.BasicProperties(delivery_mode=2)
        n = 0
        for body in bodies:
            self.channel.basic_publish("", queue, body, props)
            n += 1
            if n % 5000 == 0:
                self.connection.process_data_events(0)
        return n

    def count(self, queue: str) -> int:
        """Messages ready in *queue*."""
        return self.channel.queue_declare(queue, passive=True).method.message_count

    def take_all(self, queue: str, idle: float = 1.0) -> list[bytes]:
        """Consume *queue* until it has been idle for *idle* seconds; return the bodies."""
        bodies = []
        self.channel.basic_qos(prefetch_count=2000)
        for method, _props, body in self.channel.consume(queue, auto_ack=True, inactivity_timeout=idle):
            if method is None:
                break
            bodies.append(body)
        self.channel.cancel()
        return bodies

    def close(self) -> None:
        for queue in self.queues:
            self.channel.queue_delete(queue)
        for exchange in self.exchanges:
            self.channel.exchange_delete(exchange)
        self.connection.close()


@pytest.fixture
def broker(amqp_url: str):
    """A :class:`Broker` on the test vhost; its queues and exchanges are deleted afterwards."""
    b = Broker(amqp_url)
    yield b
    try:
        b.close()
    except pika.exceptions.AMQPError:
        pass
