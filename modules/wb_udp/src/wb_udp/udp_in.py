"""The ``udp_in`` input: a UDP server whose one reader greenlet drains the socket in batches."""

from __future__ import annotations

import socket
import time

import gevent
import gevent.socket
from wishbone import codec
from wishbone.datagrams import DatagramReader
from wishbone.event import error_record
from wishbone.log import RateLimitedLog
from wishbone.module import Input

from wb_udp.kernel import inode_of, kernel_drops, set_receive_buffer
from wb_udp.ownership import PortClaim

__all__ = ["UDPIn"]

FINAL_DRAIN = 1.0  # seconds a stop spends reading what the kernel still holds for us
#: The largest payload an IPv4 UDP datagram can carry.
MAX_UDP_PAYLOAD = 65535


class _Wake(Exception):
    """Intake stopped: the reader's wait for a datagram ends (on_stop_intake raises it there)."""


_WAKE = _Wake()


class UDPIn(Input):
    """A UDP server: one event per datagram, read in batches by one greenlet.

    Each datagram becomes ``{"headers": {"udp": {"peer": [host, port]}}, "data": ...}``.
    One reader greenlet waits for the socket to be readable, then reads without blocking
    until the socket is empty or a batch is full, and hands the batch on at once (on Linux
    one ``recvmmsg`` call per batch: :class:`wishbone.datagrams.DatagramReader`). The socket
    has ``SO_REUSEPORT``: with ``--instances N`` every worker binds the same port and the
    kernel spreads datagrams over them (by sender address and port). Only the workers of one
    server share a port: another server (a second ``wishbone debug`` of the same file) is
    refused at start with an error naming the port (a lock file per address records the
    owner; see ``wb_udp.ownership`` and the README). Port 0 (a free port, for this socket
    alone) is bound without ``SO_REUSEPORT``. ``ready`` while the socket is bound.

    ``decode`` names a codec of :mod:`wishbone.codec`: ``raw`` keeps the datagram's bytes,
    ``text`` decodes it whole (``echo hi | nc -u`` sends ``"hi\\n"``, newline included),
    ``lines`` makes one event per line without its line ending (``"hi"``), ``json``,
    ``json_lines`` and ``msgpack`` parse it. A datagram that does not decode, or that is
    longer than ``max_size``, goes to ``failed`` whole, its raw bytes as data and the reason
    in ``headers.error``; it is counted and never stops the reader.

    Parameters:
        port (int): UDP port to listen on; 0 picks a free one, not shared (logged).
        address (str): address to bind (default "127.0.0.1"; "0.0.0.0" or "::" must be asked for).
        max_size (int): longest datagram accepted, in bytes (default 65535: nothing is cut short;
            a longer datagram goes to failed).
        buffer_size (int): socket receive buffer asked for, in bytes (default 8 MiB; 0 keeps the
            kernel's default). The kernel drops datagrams when it is full, e.g. while the
            pipeline is busy; what the kernel granted is logged at start.
        decode (str): a codec: "raw" (bytes, the default), "text" (UTF-8 str, whole), "lines"
            (one event per line), "json", "json_lines" (alias "ndjson") or "msgpack".

    Queues:
        outbox: one event per datagram (per line with "lines" and "json_lines").
        failed: datagrams that did not decode or were too long (data: the raw bytes;
            headers.error: why).

    Metrics:
        datagrams: datagrams received.  events: events emitted to the outbox.
        decode_failures: datagrams sent to failed.
        kernel_drops: datagrams the kernel dropped for this socket (receive buffer full), read
            from /proc/net/udp; absent where /proc is not available.
    """

    def __init__(
        self,
        port: int,
        address: str = "127.0.0.1",
        max_size: int = 65535,
        buffer_size: int = 8 * 1024 * 1024,
        decode: str = "raw",
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0..65535, got {port}")
        if not 1 <= max_size <= MAX_UDP_PAYLOAD:
            raise ValueError(f"max_size must be 1..{MAX_UDP_PAYLOAD} bytes, got {max_size}")
        if buffer_size < 0:
            raise ValueError(f"buffer_size must be 0 (kernel default) or more bytes, got {buffer_size}")
        try:
            self._codec = codec.get(decode)
        except ValueError as exc:  # names the codecs; the bootstrap adds the JSON path
            raise ValueError(f"decode: {exc}") from None
        self.port = port
        self.address = address
        self.max_size = max_size
        self.buffer_size = buffer_size
        self.decode = decode
        self.datagrams = 0
        self.events = 0
        self.decode_failures = 0
        self.buffer_granted: int | None = None
        self._sock: socket.socket | None = None
        self._claim: PortClaim | None = None
        self._inode: int | None = None
        self._drops: int | None = None
        self._watcher = None

    # ------------------------------------------------------------------ lifecycle
    def on_start(self) -> None:
        self._bad = RateLimitedLog(self.log)
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        claim = PortClaim(family, self.address, self.port) if self.port else None
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if claim is not None:
                claim.acquire()  # only the workers of one server share the port (wb_udp.ownership)
                # not with port 0: Linux may then pick a port that other SO_REUSEPORT sockets of
                # the same user already hold, and the datagrams would be shared with them
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            self.buffer_granted = set_receive_buffer(sock, self.buffer_size)
            sock.bind((self.address, self.port))
        except OSError as exc:
            sock.close()
            if claim is not None:
                claim.release()
            raise OSError(exc.errno, f"cannot listen on udp {self.address}:{self.port}: {exc.strerror}") from None
        self._claim = claim
        sock.setblocking(False)
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._inode = inode_of(sock)
        self.log.info(
            "Listening on udp %s:%d (receive buffer: asked %d bytes, kernel reports %d).",
            self.address,
            self.port,
            self.buffer_size,
            self.buffer_granted,
        )
        if self.buffer_size and self.buffer_granted < self.buffer_size:
            self.log.warning(
                "The kernel capped the receive buffer at %d bytes; raise net.core.rmem_max to avoid drops.",
                self.buffer_granted,
            )
        self.spawn_producer(self._read, sock)

    def on_stop_intake(self) -> None:
        # the reader waits without a timeout (no timer armed per wait): wake it to see the stop
        watcher = self._watcher
        if watcher is not None and watcher.callback is not None:
            gevent.get_hub().cancel_wait(watcher, _WAKE)

    def on_stop(self) -> None:
        self._close()

    def metrics(self) -> dict:
        found = {"datagrams": self.datagrams, "events": self.events, "decode_failures": self.decode_failures}
        if self._sock is not None and self._inode is not None:
            drops = kernel_drops(self._inode)
            if drops is not None:
                self._drops = drops
        if self._drops is not None:
            found["kernel_drops"] = self._drops
        return found

    @property
    def ready(self) -> bool:
        """True while the socket is bound (``/ready``, ``wishbone_module_connected``)."""
        return self._sock is not None

    def _close(self) -> None:
        if self._sock is not None:
            self.metrics()  # last look at the kernel's drop counter while the socket exists
            self._sock.close()
            self._sock = None
        if self._claim is not None:
            self._claim.release()
            self._claim = None

    # ------------------------------------------------------------------ the reader
    def _read(self, sock: socket.socket) -> None:
        """Wait for readability, drain up to a batch without blocking, hand it on; repeat."""
        watcher = self._watcher = gevent.get_hub().loop.io(sock.fileno(), 1)
        wait = gevent.get_hub().wait
        # recvmmsg on Linux: a batch per system call, into buffers made once (wishbone.datagrams)
        reader = DatagramReader(sock, self.max_size, self.batch_size)
        receive, slots = reader.receive, reader.slots
        decode = None if self._codec.name == "raw" else self._codec.decode  # raw: the bytes, no call
        too_long = ValueError("datagram longer than max_size")

        def read_batch() -> bool:
            """Read what is there, up to a batch, and hand it on; True if the batch was full."""
            try:
                payloads, peers, long_ones = receive()
            except OSError as exc:  # e.g. an ICMP error reported on the socket: read on
                self._bad.warning("Receiving failed: %s", exc)
                return False
            read = len(payloads)
            if not read:
                return False
            self.datagrams += read
            failed = []
            if long_ones:
                failed = [self._failure(peers[i], payloads[i], too_long) for i in long_ones]
                for i in reversed(long_ones):
                    del payloads[i], peers[i]
            if decode is None:
                events = [
                    {"headers": {"udp": {"peer": [*peer]}}, "data": data}
                    for data, peer in zip(payloads, peers, strict=True)
                ]
            else:
                events = []
                append = events.append
                for data, peer in zip(payloads, peers, strict=True):
                    try:
                        items = decode(data)
                    except Exception as exc:  # any decoder error: the datagram fails, the reader goes on
                        failed.append(self._failure(peer, data, exc))
                        continue
                    for item in items:
                        append({"headers": {"udp": {"peer": [*peer]}}, "data": item})
            self.events += len(events)
            if events:
                self.emit_batch(events)
            if failed:
                self._hand_on_failed(failed)
            return read == slots

        try:
            while self.running:
                try:
                    wait(watcher)
                except _Wake:
                    continue
                read_batch()
            # Intake has stopped, but what the kernel already holds was sent to us before
            # that: read it too (bounded in time, so a flood cannot hold the stop up).
            until = time.monotonic() + FINAL_DRAIN
            while read_batch() and time.monotonic() < until:
                pass
        finally:
            self._watcher = None
            watcher.close()
            self._close()

    def _failure(self, peer: tuple, data: bytes, exc: Exception) -> dict:
        headers = {"udp": {"peer": [peer[0], peer[1]]}, "error": error_record(self.name, exc)}
        return {"headers": headers, "data": data}

    def _hand_on_failed(self, failed: list[dict]) -> None:
        self.decode_failures += len(failed)
        routed = self.is_routed("failed")
        self._bad.warning(
            "%d datagram(s) not accepted (decode %s), %s; e.g. from %s: %s",
            len(failed),
            self.decode,
            "sent to failed" if routed else "dropped: 'failed' is not routed",
            failed[0]["headers"]["udp"]["peer"],
            failed[0]["headers"]["error"]["message"],
        )
        self.emit_batch(failed, "failed")
