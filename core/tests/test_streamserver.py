"""wishbone.streamserver on real sockets on 127.0.0.1: many connections, TLS, idle and silent clients,
plain text at a TLS port, garbage, over-long frames, and backpressure from a full inbox."""

from __future__ import annotations

import logging
import os
import random
import socket
import ssl
import time

import gevent
import gevent.event
import gevent.socket
import gevent.ssl
import pytest
from wishbone import Input, Output, framing
from wishbone.streamserver import StreamServer
from wishbone.testing.services import poll_until as wait_until

LOG = logging.getLogger("test.streamserver")


class Got:
    """A handler that keeps what each connection handed on: frames (by peer port) and errors."""

    def __init__(self) -> None:
        self.frames: dict[int, list[bytes]] = {}
        self.errors: list[framing.FrameError] = []
        self.tls: list = []
        self.calls = 0

    def __call__(self, connection, frames, errors) -> None:
        self.calls += 1
        self.frames.setdefault(connection.peer[1], []).extend(frames)
        self.errors.extend(errors)
        if frames:
            self.tls.append(connection.tls)

    def all(self) -> list[bytes]:
        return [f for frames in self.frames.values() for f in frames]


@pytest.fixture
def serve():
    """``serve(handle, **options) -> StreamServer``, started, serving; every one stopped at teardown."""
    made: list[tuple[StreamServer, gevent.Greenlet]] = []

    def start(handle, **options) -> StreamServer:
        server = StreamServer(handle, port=0, **options)
        server.start(LOG)
        made.append((server, gevent.spawn(server.serve)))
        return server

    yield start
    for server, greenlet in made:
        server.stop()
        assert greenlet.join(timeout=10) is None and greenlet.dead


def connect(port: int) -> gevent.socket.socket:
    return gevent.socket.create_connection(("127.0.0.1", port), timeout=5)


def closed_by_server(sock, timeout: float = 5.0) -> bool:
    """True when the server closed *sock* (EOF or reset) within *timeout*."""
    sock.settimeout(timeout)
    try:
        while sock.recv(1024):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def test_many_connections_at_once_each_in_order_however_the_bytes_are_cut(serve):
    clients, lines = 40, 300
    rng = random.Random(7)
    got = Got()
    with gevent.Timeout(30):
        server = serve(got)

        def client(n: int) -> None:
            payload = b"".join(b"c%d l%d\n" % (n, i) for i in range(lines))
            with connect(server.port) as sock:
                pos = 0
                while pos < len(payload):
                    step = rng.choice((1, 2, 13, 700, 5000))
                    sock.sendall(payload[pos : pos + step])
                    pos += step
                    if rng.random() < 0.05:
                        gevent.sleep(0.001)

        gevent.joinall([gevent.spawn(client, n) for n in range(clients)], raise_error=True)
        wait_until(lambda: len(got.all()) == clients * lines, 20, "every line")
        wait_until(lambda: server.metrics()["active"] == 0, 5, "the connections' ends")
    assert got.errors == []
    for frames in got.frames.values():
        n = frames[0].split()[0]
        assert frames == [b"%s l%d" % (n, i) for i in range(lines)]
    assert len(got.frames) == clients
    metrics = server.metrics()
    assert metrics["connections"] == clients and metrics["refused"] == metrics["idle_closed"] == 0
    assert metrics["bytes"] == sum(len(b"c%d l%d\n" % (n, i)) for n in range(clients) for i in range(lines))


def test_an_over_long_frame_is_an_error_holding_its_head_and_the_next_frame_comes(serve):
    got = Got()
    with gevent.Timeout(10):
        server = serve(got, max_frame=100)
        with connect(server.port) as sock:
            sock.sendall(b"first\n" + b"y" * 50_000 + b"\nsecond\n")
            wait_until(lambda: got.all() == [b"first", b"second"], 5, "the frames around the long one")
    [error] = got.errors
    assert error.head == b"y" * 100 and "longer than 100" in str(error)


@pytest.mark.parametrize("name", ["newline", "octet_counting", "length_prefix", "auto"])
def test_garbage_in_every_framing_never_stops_the_server_nor_holds_more_than_max_frame(name, serve):
    rng = random.Random(name)
    got = Got()
    with gevent.Timeout(20):
        server = serve(got, framing=name, max_frame=4096)
        for _ in range(10):
            with connect(server.port) as sock:
                sock.sendall(bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 40_000))))
        good = framing.encoder("newline" if name == "auto" else name)([b"the good one"])
        with connect(server.port) as sock:
            sock.sendall(good)
            wait_until(lambda: b"the good one" in got.all(), 10, "the good frame after the garbage")
    assert all(len(e.head) <= 4096 for e in got.errors)
    assert all(len(f) <= 4096 for f in got.all())
    assert server.metrics()["connections"] == 11


def test_a_frame_cut_short_by_the_close_is_an_error(serve):
    got = Got()
    with gevent.Timeout(10):
        server = serve(got, framing="octet_counting")
        with connect(server.port) as sock:
            sock.sendall(b"5 hello10 cut")
        wait_until(lambda: got.errors, 5, "the truncated frame")
    assert got.all() == [b"hello"]
    assert [e.head for e in got.errors] == [b"10 cut"] and "truncated" in str(got.errors[0])


@pytest.mark.parametrize("name", ["newline", "octet_counting", "length_prefix", "auto"])
def test_a_frame_the_server_cuts_at_a_stop_or_idle_timeout_is_an_error_holding_its_bytes(name, serve):
    """What a connection held of a frame when the server closed it is handed on as an error, not lost."""
    encode = framing.encoder("octet_counting" if name == "auto" else name)
    whole, cut = encode([b"whole"]), encode([b"never finished"])[:-3]
    got = {"stop": Got(), "idle": Got()}
    with gevent.Timeout(15):
        idle = serve(got["idle"], framing=name, idle_timeout=0.5)
        server = StreamServer(got["stop"], port=0, framing=name)
        server.start(LOG)
        serving = gevent.spawn(server.serve)
        socks = [connect(idle.port), connect(server.port)]
        for sock in socks:
            sock.sendall(whole + cut)
        wait_until(lambda: got["idle"].all() == [b"whole"] == got["stop"].all(), 5, "the whole frames")
        server.stop()
        serving.join(timeout=10)
        assert closed_by_server(socks[0], 5)
        wait_until(lambda: got["idle"].errors, 5, "the frame the idle timeout cut")
    for why, handler in (("stop", got["stop"]), ("idle timeout", got["idle"])):
        assert len(handler.errors) == 1, (why, handler.errors)
        error = handler.errors[0]
        assert error.head == cut and why in str(error) and f"{len(cut)} bytes" in str(error), error
    for sock in socks:
        sock.close()


def test_connect_and_never_send_and_slow_loris_are_closed_by_the_idle_timeout(serve):
    got = Got()
    with gevent.Timeout(15):
        server = serve(got, idle_timeout=0.5)
        silent, loris, active = connect(server.port), connect(server.port), connect(server.port)

        def dribble() -> None:  # a byte every 0.1 s, never a whole frame
            try:
                for _ in range(100):
                    loris.send(b"x")
                    gevent.sleep(0.1)
            except OSError:
                pass

        def chatty() -> None:  # a whole line every 0.1 s: never idle
            for i in range(15):
                active.sendall(b"line %d\n" % i)
                gevent.sleep(0.1)

        dribbler, talker = gevent.spawn(dribble), gevent.spawn(chatty)
        assert closed_by_server(silent, 3)
        assert closed_by_server(loris, 3)
        talker.join()
        wait_until(lambda: len(got.all()) == 15, 5, "the active connection's lines")
        dribbler.kill()
        assert server.metrics()["idle_closed"] == 2
        for sock in (silent, loris, active):
            sock.close()


def test_connections_beyond_max_connections_are_closed_at_once(serve):
    got = Got()
    with gevent.Timeout(15):
        server = serve(got, max_connections=2)
        first, second = connect(server.port), connect(server.port)
        first.sendall(b"a\n")
        second.sendall(b"b\n")
        wait_until(lambda: len(got.all()) == 2, 5, "two lines")
        third = connect(server.port)
        assert closed_by_server(third, 3)
        assert server.metrics()["refused"] == 1
        first.close()
        wait_until(lambda: server.metrics()["active"] == 1, 5, "the first connection's end")
        fourth = connect(server.port)
        fourth.sendall(b"d\n")
        wait_until(lambda: b"d" in got.all(), 5, "a line from a freed slot")
        for sock in (second, third, fourth):
            sock.close()


def test_a_handler_that_raises_ends_its_connection_only(serve):
    def handle(connection, frames, errors) -> None:
        if b"boom" in frames:
            raise RuntimeError("boom")
        got(connection, frames, errors)

    got = Got()
    with gevent.Timeout(10):
        server = serve(handle)
        bad = connect(server.port)
        bad.sendall(b"boom\n")
        assert closed_by_server(bad, 3)
        bad.close()
        with connect(server.port) as sock:
            sock.sendall(b"fine\n")
            wait_until(lambda: got.all() == [b"fine"], 5, "a line on a new connection")


def test_a_stop_hands_on_what_was_received_and_serve_returns(serve):
    got = Got()
    server = StreamServer(got, port=0)
    with gevent.Timeout(15):
        server.start(LOG)
        serving = gevent.spawn(server.serve)
        sock = connect(server.port)
        sock.sendall(b"".join(b"%d\n" % i for i in range(5000)))
        wait_until(lambda: server.metrics()["bytes"] > 0, 5, "the first read")
        server.stop()
        serving.join(timeout=10)
        assert serving.dead and not server.listening
        assert got.all() == [b"%d" % i for i in range(5000)]
        assert server.metrics()["active"] == 0
        with pytest.raises(OSError):
            connect(server.port)
        sock.close()


def test_bad_parameters_are_refused_by_name():
    def handle(connection, frames, errors) -> None:
        pass

    for bad, match in (
        ({"port": 70000}, "port"),
        ({"port": 0, "framing": "crlf"}, "framing"),
        ({"port": 0, "max_frame": 0}, "max_frame"),
        ({"port": 0, "idle_timeout": -1}, "idle_timeout"),
        ({"port": 0, "max_connections": 0}, "max_connections"),
        ({"port": 0, "read_size": 0}, "read_size"),
        ({"port": 0, "tls_key": "k.pem"}, "tls_cert"),
        ({"port": 0, "tls_cert": "c.pem", "tls_client_auth": "required"}, "tls_ca"),
        ({"port": 0, "tls_cert": "c.pem", "tls_client_auth": "maybe"}, "tls_client_auth"),
        ({"port": 0, "tls_cert": "c.pem", "tls_handshake_timeout": 0}, "tls_handshake_timeout"),
    ):
        with pytest.raises(ValueError, match=match):
            StreamServer(handle, **bad)


def test_a_busy_port_and_missing_tls_files_fail_the_start_saying_which(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot listen on tcp 127.0.0.1:{port}"):
            StreamServer(Got(), port=port, reuse_port=False).start(LOG)
    with pytest.raises(OSError, match="cannot load the TLS certificate"):
        StreamServer(Got(), port=0, tls_cert=str(tmp_path / "missing.pem")).start(LOG)


# ---------------------------------------------------------------------------------- TLS
def tls_client(certs: dict, who: str | None = "client") -> ssl.SSLContext:
    context = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(certs["ca"])
    if who:
        context.load_cert_chain(certs[f"{who}_cert"], certs[f"{who}_key"])
    return context


def tls_options(certs: dict, client_auth: str = "none") -> dict:
    options = {"tls_cert": certs["server_cert"], "tls_key": certs["server_key"]}
    if client_auth != "none":
        options.update(tls_ca=certs["ca"], tls_client_auth=client_auth)
    return options


def test_tls_many_connections_with_client_certificates(serve, tls_certs):
    got = Got()
    with gevent.Timeout(20):
        server = serve(got, **tls_options(tls_certs, "required"))

        def client(n: int) -> None:
            with tls_client(tls_certs).wrap_socket(connect(server.port), server_hostname="localhost") as tls:
                tls.sendall(b"".join(b"%d %d\n" % (n, i) for i in range(100)))

        gevent.joinall([gevent.spawn(client, n) for n in range(10)], raise_error=True)
        wait_until(lambda: len(got.all()) == 1000, 10, "every line over TLS")
        for who in (None, "rogue"):  # no certificate; one from a CA the server does not trust
            try:
                with tls_client(tls_certs, who).wrap_socket(connect(server.port), server_hostname="localhost") as tls:
                    tls.sendall(b"unsigned\n")
                    tls.recv(10)  # TLS 1.3: the server's refusal arrives after the client's handshake
            except (ssl.SSLError, OSError):
                pass
        wait_until(lambda: server.metrics()["tls_failures"] == 2, 5, "two refused handshakes")
    assert b"unsigned" not in got.all()
    for frames in got.frames.values():
        n = frames[0].split()[0]
        assert frames == [b"%s %d" % (n, i) for i in range(100)]
    assert all("commonName=client" in tls["subject"] for tls in got.tls)


def test_plain_text_garbage_and_silence_at_a_tls_port_are_refused_and_counted(serve, tls_certs):
    got = Got()
    with gevent.Timeout(20):
        server = serve(got, tls_handshake_timeout=0.5, **tls_options(tls_certs))
        plain = connect(server.port)
        plain.sendall(b"GET / HTTP/1.0\r\n\r\nhello in plain text\n")
        assert closed_by_server(plain, 5)
        plain.close()
        for _ in range(3):
            sock = connect(server.port)
            try:
                sock.sendall(os.urandom(3000))
            except OSError:
                pass
            assert closed_by_server(sock, 5)
            sock.close()
        silent = connect(server.port)  # never starts a handshake: cut by tls_handshake_timeout
        assert closed_by_server(silent, 3)
        silent.close()
        wait_until(lambda: server.metrics()["tls_failures"] == 5, 5, "five failed handshakes")
        assert got.calls == 0  # none of it became a frame
        with tls_client(tls_certs, None).wrap_socket(connect(server.port), server_hostname="localhost") as tls:
            tls.sendall(b"still here\n")
            wait_until(lambda: got.all() == [b"still here"], 5, "a good TLS client after them")
    assert got.tls == [None]  # no client certificate, no subject


# ---------------------------------------------------------------------------------- backpressure
class Lines(Input):
    """A test input on the stream server: one event per line."""

    def __init__(self, port: int = 0) -> None:
        self.streams = StreamServer(self.frames, port=port)

    def on_start(self) -> None:
        self.streams.start(self.log)
        self.spawn_producer(self.streams.serve)

    def on_stop_intake(self) -> None:
        self.streams.stop()

    def frames(self, connection, frames, errors) -> None:
        batch_size = self.batch_size
        events = [{"headers": {}, "data": f} for f in frames]
        for start in range(0, len(events), batch_size):
            self.emit_batch(events[start : start + batch_size])


class Gate(Output):
    """Keeps what it consumes, but only while ``open`` is set: a full inbox until then."""

    def __init__(self) -> None:
        self.open = gevent.event.Event()
        self.seen: list = []

    def consume_batch(self, events: list) -> None:
        self.open.wait()
        self.seen.extend(e["data"] for e in events)


def test_a_full_inbox_stops_reading_and_what_is_read_stays_bounded(pipeline):
    """lines -> gate (inbox of 100, closed): the sender is held back by TCP, nothing piles up in the process."""
    p = pipeline(
        {"lines": (Lines, {}), "gate": (Gate, {})},
        [("lines", "outbox", "gate", "inbox")],
        queues={"gate": {"inbox": {"maxsize": 100}}},
    )
    line = b"x" * 99 + b"\n"
    chunk = line * 1000
    with gevent.Timeout(60):
        p.start()
        streams = p.modules["lines"].streams
        sender = gevent.socket.create_connection(("127.0.0.1", streams.port))
        sender.setblocking(False)
        sent = 0
        stalled_since = None
        while True:  # push until the sender has been held back for 1 s
            try:
                sent += sender.send(chunk[sent % len(chunk) :])
                stalled_since = None
            except BlockingIOError:
                now = time.monotonic()
                stalled_since = stalled_since or now
                if now - stalled_since > 1.0:
                    break
                gevent.sleep(0.01)
            assert sent < 2000 * len(chunk), "the sender was never held back"
        read = streams.metrics()["bytes"]
        gevent.sleep(0.5)
        assert streams.metrics()["bytes"] == read, "still reading while the inbox is full"
        # held in the process: the gate's inbox (100 events plus the batch it holds), the
        # input's blocked hand-off (one read: at most 64 KiB of lines), one partial line
        assert read <= 100 * len(line) * 2 + 65536 + len(line) * 1000, f"{read} bytes read into a full pipeline"
        assert sent - read > 1 << 20  # the rest waits in the kernel's buffers, with the sender
        p.modules["gate"].open.set()
        sender.setblocking(True)
        sender.close()
        lines = -(-sent // len(line))  # a last line cut short by the close is a line too
        wait_until(lambda: len(p.modules["gate"].seen) == lines, 30, f"{lines} lines through the gate")
        assert p.stop(10)
    assert all(data == b"x" * 99 for data in p.modules["gate"].seen[:-1])
