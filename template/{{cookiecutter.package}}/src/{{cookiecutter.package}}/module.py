{%- if cookiecutter.kind == "module" -%}
"""The ``{{ cookiecutter.name }}`` module: puts a prefix before text data.

Replace the body of ``consume()`` with what your module does; keep the docstring's
Parameters and Queues sections true: ``wishbone show {{ cookiecutter.name }}`` prints them.
"""

from __future__ import annotations

from wishbone import Processor


class {{ cookiecutter.class_name }}(Processor):
    """Puts a prefix before the text data of each event.

    Parameters:
        prefix (str): the text put before ``data`` (default "> ").

    Queues:
        inbox: events with text data.
        outbox: the same events, their data prefixed.
        failed: events whose data is not text (the error is in ``headers.error``).
    """

    def __init__(self, prefix: str = "> ") -> None:
        self.prefix = prefix

    def consume(self, event: dict) -> None:
        """Prefix the event's text, or raise: the framework sends it to ``failed``."""
        data = event["data"]
        if not isinstance(data, str):
            raise TypeError(f"expected text data, got {type(data).__name__}")
        event["data"] = self.prefix + data
        self.emit(event)
{%- elif cookiecutter.kind == "input" -%}
"""The ``{{ cookiecutter.name }}`` input: reads text datagrams from a UDP port.

An input (a subclass of ``wishbone.Input``) consumes nothing. It opens its resources in
``on_start``, reads in a producer greenlet that loops while ``self.running``, hands events on
in batches, and says when it can do its work (``ready``: here, once the socket is bound).
It never blocks the process: the socket is non-blocking and gevent waits for it (no
monkey-patching needed).
"""

from __future__ import annotations

import socket

from gevent.socket import wait_read
from wishbone import Input, new_event

#: Datagrams handed on at most at once.
BATCH = 100


class {{ cookiecutter.class_name }}(Input):
    """Reads text datagrams from a UDP port; each becomes an event.

    Parameters:
        port (int): the UDP port to listen on.
        host (str): the address to bind (default "127.0.0.1").

    Queues:
        outbox: one event per datagram, its UTF-8 text as ``data``.
    """

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        if not 0 < port < 65536:
            raise ValueError(f"port must be 1..65535, got {port}")
        self.port = port
        self.host = host
        self.received = 0
        self._sock: socket.socket | None = None

    def on_start(self) -> None:
        """Bind the socket (a busy port fails the start) and start reading."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind((self.host, self.port))
        self._sock = sock
        self.spawn_producer(self._read, sock)

    @property
    def ready(self) -> bool:
        """True once the socket is bound (``/ready`` and ``wishbone_module_ready`` read it)."""
        return self._sock is not None

    def on_stop(self) -> None:
        """Close the socket (the reader has returned by now)."""
        if self._sock is not None:
            self._sock.close()

    def metrics(self) -> dict:
        """Datagrams received so far."""
        return {"received": self.received}

    def _read(self, sock: socket.socket) -> None:
        while self.running:
            try:
                wait_read(sock.fileno(), timeout=0.2)  # other greenlets run meanwhile
            except TimeoutError:
                continue  # look at self.running again
            batch = []
            while len(batch) < BATCH:
                try:
                    datagram = sock.recv(65535)
                except BlockingIOError:
                    break
                batch.append(new_event(datagram.decode("utf-8", "replace")))
            self.received += len(batch)
            self.emit_batch(batch)
{%- else -%}
"""The ``{{ cookiecutter.name }}`` output: appends the data of events to a file.

An output (a subclass of ``wishbone.Output``) delivers what it consumes outside and does not
change the events it is given. It collects a batch in ``consume()`` and
writes it at once in ``end_of_batch()``, keeping the events until then, so an input that
acknowledges its source (AMQP) only does so once they are written.
"""

from __future__ import annotations

from typing import TextIO

from wishbone import Output


class {{ cookiecutter.class_name }}(Output):
    """Appends the text data of each event to a file, one line per event.

    Parameters:
        path (str): the file to append to (created when missing).

    Queues:
        inbox: events with text data.
        failed: events whose data is not text, or that could not be written (the
            error is in ``headers.error``).
    """

    def __init__(self, path: str) -> None:
        if not path:
            raise ValueError("path must name a file")
        self.path = path
        self.written = 0
        self._file: TextIO | None = None
        self._batch: list[dict] = []

    def on_start(self) -> None:
        """Open the file (a missing directory fails the start)."""
        self._file = open(self.path, "a", encoding="utf-8")  # closed in on_stop

    @property
    def ready(self) -> bool:
        """True while the file is open."""
        return self._file is not None and not self._file.closed

    def consume(self, event: dict) -> None:
        """Keep the event for this batch's write, or raise: it goes to ``failed``."""
        if not isinstance(event["data"], str):
            raise TypeError(f"expected text data, got {type(event['data']).__name__}")
        self._batch.append(event)

    def end_of_batch(self) -> None:
        """Write the batch with one call; on error its events go to ``failed``."""
        batch, self._batch = self._batch, []
        if not batch:
            return
        try:
            self._file.write("".join(event["data"] + "\n" for event in batch))
            self._file.flush()
        except OSError as exc:
            self.log.error("Cannot write %d event(s) to %s: %s", len(batch), self.path, exc)
            for event in batch:
                self.fail(event, exc)  # to ``failed``, error in its headers; an input upstream rejects it
            return
        self.written += len(batch)

    def on_stop(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()

    def metrics(self) -> dict:
        """Lines written so far."""
        return {"written": self.written}
{%- endif %}
