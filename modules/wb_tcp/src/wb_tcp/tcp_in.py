"""The ``tcp_in`` input: frames of many connections (``wishbone.streamserver``), decoded, in batches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from wishbone import Input, codec, framing
from wishbone.event import error_record
from wishbone.log import RateLimitedLog
from wishbone.streamserver import Connection, StreamServer

__all__ = ["TCPIn"]


class TCPIn(Input):
    """A TCP server: one event per frame, many connections at once, optional TLS.

    A ``wishbone.streamserver.StreamServer`` (shared with ``syslog_in``; on gevent's
    ``StreamServer``) accepts connections; each has a greenlet that reads what the
    socket holds (up to ``read_size`` bytes at a time), cuts it into frames (``framing``),
    decodes each frame (``decode``) and hands the events of that read on at once. When the
    pipeline is full, handing on blocks that greenlet, so it stops reading: the kernel's
    buffers fill and TCP's flow control slows the sender down. Nothing is buffered without
    bound: a connection holds at most ``max_frame`` bytes plus one read.

    Each frame becomes ``{"headers": {"tcp": {"peer": [host, port]}}, "data": ...}``; with TLS
    client certificates the headers also hold ``tcp.tls.subject`` (the certificate's subject,
    ``"commonName=client,organizationName=Example"``).

    Bad input never stops the server: a frame longer than ``max_frame``, a bad octet count,
    a frame cut short by the end of the connection, or a frame that does not decode goes to
    ``failed`` (data: the frame's bytes, at most ``max_frame`` of them; ``headers.error``: why),
    counted, logged at a bounded rate; the connection reads on from the next frame. A
    connection that sends no whole frame for ``idle_timeout`` seconds (one that never sends,
    or a slow-loris client dribbling bytes) is closed. A TLS handshake that fails (plain text
    sent to a TLS port, a bad or missing client certificate) closes that connection, counted.
    Connections beyond ``max_connections`` are closed at once, counted.

    Delivery: at most once. TCP acknowledges bytes to the sender when this host's kernel
    has them, before the pipeline has; what has been read is handed on, and a kill loses
    what the process and the kernel's buffers hold. At a stop, the server stops accepting,
    reads for up to 1 s what each connection's kernel buffer already holds, hands it on,
    and closes the connections.

    Parameters:
        port (int): TCP port to listen on; 0 picks a free one (logged, and in ``self.port``).
        address (str): address to bind (default "127.0.0.1"; "0.0.0.0" or "::" must be asked for).
        framing (str): "newline" (default), "octet_counting" (RFC 6587) or "length_prefix"
            (4-byte big-endian length).
        max_frame (int): longest frame accepted, in bytes (default 1048576); longer ones go to failed.
        decode (str): a codec of wishbone.codec per frame: "text" (UTF-8, the default), "raw" (bytes),
            "json", "msgpack"; "lines" / "json_lines" make one event per line of a frame.
        idle_timeout (float): seconds a connection may go without sending a whole frame before it
            is closed (default 300; 0: never).
        max_connections (int): connections open at once (default 1024); more are closed at once.
        read_size (int): bytes read from a connection at once (default 65536).
        tls_cert (str): PEM certificate (chain) file; TLS is on when it is set (default "": plain TCP).
        tls_key (str): PEM private key file ("" when the key is in tls_cert).
        tls_ca (str): PEM file of the CAs that client certificates are checked against.
        tls_client_auth (str): "none" (default), "optional" or "required": client certificates.
        tls_handshake_timeout (float): seconds a TLS handshake may take (default 10).
        reuse_port (bool): bind with SO_REUSEPORT, so that ``--instances N`` workers share the
            port (default True; never with port 0).

    Queues:
        outbox: one event per frame.
        failed: frames too long, cut short, badly counted or not decoding (data: the bytes).

    Metrics:
        connections: connections accepted.  active: open now.  refused: closed for max_connections.
        frames: events handed on.  frame_errors: frames too long, cut short or badly counted.
        decode_failures: frames that did not decode.  idle_closed: connections closed by idle_timeout.
        tls_failures: TLS handshakes that failed.  bytes: bytes read.
    """

    def __init__(
        self,
        port: int,
        address: str = "127.0.0.1",
        framing: Literal["newline", "octet_counting", "length_prefix"] = "newline",
        max_frame: int = 1 << 20,
        decode: str = "text",
        idle_timeout: float = 300.0,
        max_connections: int = 1024,
        read_size: int = 65536,
        tls_cert: str = "",
        tls_key: str = "",
        tls_ca: str = "",
        tls_client_auth: Literal["none", "optional", "required"] = "none",
        tls_handshake_timeout: float = 10.0,
        reuse_port: bool = True,
    ) -> None:
        if framing not in ("newline", "octet_counting", "length_prefix"):
            raise ValueError(f"framing must be newline, octet_counting or length_prefix, got {framing!r}")
        try:
            self._codec = codec.get(decode)
        except ValueError as exc:  # names the codecs; the bootstrap adds the JSON path
            raise ValueError(f"decode: {exc}") from None
        # checks the rest of the parameters, by name; binds nothing before on_start
        self._streams = StreamServer(
            self._frames,
            port=port,
            address=address,
            framing=framing,
            max_frame=max_frame,
            idle_timeout=idle_timeout,
            max_connections=max_connections,
            read_size=read_size,
            tls_cert=tls_cert,
            tls_key=tls_key,
            tls_ca=tls_ca,
            tls_client_auth=tls_client_auth,
            tls_handshake_timeout=tls_handshake_timeout,
            reuse_port=reuse_port,
        )
        self.port = port
        self.address = address
        self.framing = framing
        self.max_frame = max_frame
        self.decode = decode
        self.counters = dict.fromkeys(("frames", "frame_errors", "decode_failures"), 0)

    # ------------------------------------------------------------------ lifecycle
    @property
    def ready(self) -> bool:
        """True while the server listens."""
        return self._streams.listening and self.running

    def on_start(self) -> None:
        self._bad = RateLimitedLog(self.log)
        found = self._codec
        # raw: the frame's bytes, no call; one item per frame: decode_frame; framed codecs: a list each
        self._decode = None if found.name == "raw" else (found.decode if found.framed else found.decode_frame)
        self._each_item = found.framed
        self._text = found.name == "text"  # the default: str.decode inline, no call per frame
        self._streams.start(self._bad)
        self.port = self._streams.port
        self.log.info("Listening on %s.", self._streams.described)
        self.spawn_producer(self._streams.serve)

    def on_stop_intake(self) -> None:
        self._streams.stop()

    def metrics(self) -> dict:
        return {**self._streams.metrics(), **self.counters}

    # ------------------------------------------------------------------ one read of one connection
    def _frames(self, connection: Connection, frames: list[bytes], errors: Sequence[framing.FrameError]) -> None:
        """The stream server's handler: decode *frames* into events and emit them (blocks on backpressure)."""
        peer = connection.peer
        decode = self._decode
        events: list[dict] = []
        failed: list[dict] = []
        if frames:
            host, port = peer
            if connection.tls is not None:  # the slow path: every event gets the TLS subject too
                events, failed = self._decode_each(frames, decode, connection)
            elif decode is None:
                events = [{"headers": {"tcp": {"peer": [host, port]}}, "data": f} for f in frames]
            elif self._text:  # frames are bytes: what the codec does, inline
                try:
                    events = [{"headers": {"tcp": {"peer": [host, port]}}, "data": f.decode()} for f in frames]
                except UnicodeDecodeError:  # the codec's error message for the bad ones
                    events, failed = self._decode_each(frames, decode, connection)
            elif not self._each_item:
                try:
                    events = [{"headers": {"tcp": {"peer": [host, port]}}, "data": decode(f)} for f in frames]
                except Exception:
                    events, failed = self._decode_each(frames, decode, connection)
            else:
                events, failed = self._decode_each(frames, decode, connection)
            self.counters["frames"] += len(events)
            batch_size = self.batch_size
            for start in range(0, len(events), batch_size):
                self.emit_batch(events[start : start + batch_size])
        if errors:
            self.counters["frame_errors"] += len(errors)
            failed[:0] = [self._failure(peer, e.head, e) for e in errors]
        if failed:
            self._hand_on_failed(failed, peer)

    def _decode_each(self, frames: list[bytes], decode: Callable | None, connection: Connection) -> tuple[list, list]:
        """The slow path: frame by frame, so that one bad frame fails alone."""
        events, failed = [], []
        peer = connection.peer
        tls = connection.tls
        each_item = self._each_item
        for frame in frames:
            try:
                data = frame if decode is None else decode(frame)
            except Exception as exc:  # any decoder error: this frame fails, the connection reads on
                self.counters["decode_failures"] += 1
                failed.append(self._failure(peer, frame, exc))
                continue
            for item in data if each_item else (data,):
                tcp: dict = {"peer": [peer[0], peer[1]]}
                if tls is not None:
                    tcp["tls"] = dict(tls)
                events.append({"headers": {"tcp": tcp}, "data": item})
        return events, failed

    def _failure(self, peer: list, data: bytes, exc: Exception) -> dict:
        exc.__traceback__ = None
        return {"headers": {"tcp": {"peer": [peer[0], peer[1]]}, "error": error_record(self.name, exc)}, "data": data}

    def _hand_on_failed(self, failed: list[dict], peer: list) -> None:
        self._bad.warning(
            "%d frame(s) from %s not accepted, %s; e.g.: %s",
            len(failed),
            peer,
            "sent to failed" if self.is_routed("failed") else "dropped: 'failed' is not routed",
            failed[0]["headers"]["error"]["message"][:200],
        )
        batch_size = self.batch_size
        for start in range(0, len(failed), batch_size):
            self.emit_batch(failed[start : start + batch_size], "failed")
