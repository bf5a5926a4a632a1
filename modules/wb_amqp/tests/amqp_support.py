"""Helpers for wb-amqp's tests: a blocking pika client to fill and count queues, pipelines."""

from __future__ import annotations

import subprocess
import uuid

import gevent
import pika
import pika.exceptions
from wishbone import Pipeline


def rabbitmqctl(*args: str, timeout: float = 30) -> str:
    """Run ``rabbitmqctl -q ARGS`` and return its output (raises on failure)."""
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr or done.stdout}")
    return done.stdout


def wait_for(condition, deadline: float, step: float = 0.1, what: str = "condition", show=None) -> None:
    """Let greenlets run until *condition()* holds; AssertionError after *deadline* s.

    *show* (a callable) adds the state at the deadline to the error message.
    """
    try:
        with gevent.Timeout(deadline):
            while not condition():
                gevent.sleep(step)
    except gevent.Timeout:
        state = f"; state: {show()}" if show is not None else ""
        raise AssertionError(f"{what} not met within {deadline} s{state}") from None


def pipeline_document(url: str, source: str, target: str, in_vars: dict | None = None, out_vars: dict | None = None):
    """amqp_in (source) -> passthrough -> amqp_out (target, via the default exchange)."""
    return {
        "bootstrap": {
            "input": {"module": "amqp_in", "variables": {"url": url, "queue": source, **(in_vars or {})}},
            "pass": {"module": "passthrough"},
            "output": {"module": "amqp_out", "variables": {"url": url, "routing_key": target, **(out_vars or {})}},
        },
        "routingtable": {"input.outbox": ["pass.inbox"], "pass.outbox": ["output.inbox"]},
    }


def pipeline(url: str, source: str, target: str, **kwargs) -> Pipeline:
    """The in-process pipeline of :func:`pipeline_document`."""
    return Pipeline.from_dict(pipeline_document(url, source, target, **kwargs))


class Broker:
    """Blocking helpers around one pika connection, for setting up and checking queues."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.queues: list[str] = []
        self.exchanges: list[str] = []
        self.reconnect()

    def disconnect(self) -> None:
        """Close the connection (before the broker's connections are force-closed)."""
        connection = getattr(self, "connection", None)
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except pika.exceptions.AMQPError:
                pass  # already gone

    def reconnect(self) -> None:
        """A fresh connection."""
        self.disconnect()
        self.connection = pika.BlockingConnection(pika.URLParameters(self.url))
        self.channel = self.connection.channel()

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

    def take_ready(self, queue: str) -> list[bytes]:
        """Take (auto-ack) whatever is ready in *queue* now, without waiting."""
        bodies = []
        while True:
            method, _props, body = self.channel.basic_get(queue, auto_ack=True)
            if method is None:
                return bodies
            bodies.append(body)

    def close(self) -> None:
        for queue in self.queues:
            self.channel.queue_delete(queue)
        for exchange in self.exchanges:
            self.channel.exchange_delete(exchange)
        self.connection.close()


def live_greenlets() -> int:
    """Greenlets alive in this process right now (a leak shows as a growing number)."""
    import gc

    import greenlet

    return sum(1 for o in gc.get_objects() if isinstance(o, greenlet.greenlet) and not o.dead and o.parent is not None)


def open_fds() -> int:
    """File descriptors open in this process (sockets and pipes leak here first)."""
    import os

    return len(os.listdir("/proc/self/fd"))


def ids(bodies: list[bytes]) -> tuple[set[int], int]:
    """(distinct message ids, duplicates) among *bodies* (each body is its id in ASCII)."""
    distinct = {int(b) for b in bodies}
    return distinct, len(bodies) - len(distinct)


EXPLODE = '''
"""A module whose consume() raises for odd message ids (registered only for one test)."""
from wishbone.module import Module


class Explode(Module):
    """Raises ValueError for events whose data is an odd number; passes the others on.

    Parameters:
        none.

    Queues:
        inbox: events in.  outbox: even ones out.  failed: odd ones.
    """

    def consume(self, event):
        if int(event["data"]) % 2:
            # The traceback keeps this frame, and the core logs the exception object; pytest keeps
            # log records for its report, so without this del the event (and its ack) would live on.
            del event
            raise ValueError("odd message id")
        self.emit(event)
'''


def install_explode_module(root) -> None:
    """Write a one-file distribution with a ``wishbone.module`` entry point ``explode`` under *root*.

    The caller puts *root* on ``sys.path``; importlib.metadata then finds it like any installed package.
    """
    (root / "wb_amqp_test_explode.py").write_text(EXPLODE)
    info = root / "wb_amqp_test_explode-0.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: wb-amqp-test-explode\nVersion: 0.0.0\n")
    (info / "entry_points.txt").write_text("[wishbone.module]\nexplode = wb_amqp_test_explode:Explode\n")
