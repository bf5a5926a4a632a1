"""tcp_in on real sockets on 127.0.0.1: many connections, each framing, bad input, idle clients, TLS."""

from __future__ import annotations

import os
import random
import socket
import ssl

import gevent
import gevent.socket
import gevent.ssl
import pytest
from wb_tcp import TCPIn
from wishbone import Pipeline, framing
from wishbone.testing import Harness


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


def test_many_connections_at_once_each_in_order_however_the_bytes_are_cut():
    clients, lines = 50, 400
    rng = random.Random(1)
    with gevent.Timeout(30), Harness(TCPIn, {"port": 0}) as h:
        port = h.module.port

        def client(n: int) -> None:
            payload = b"".join(b"c%d l%d\n" % (n, i) for i in range(lines))
            with connect(port) as sock:
                pos = 0
                while pos < len(payload):  # odd pieces: frames cut anywhere
                    step = rng.choice((1, 3, 17, 500, 4000))
                    sock.sendall(payload[pos : pos + step])
                    pos += step
                    if rng.random() < 0.05:
                        gevent.sleep(0.001)

        gevent.joinall([gevent.spawn(client, n) for n in range(clients)], raise_error=True)
        events = h.collect("outbox", clients * lines, timeout=20)
        assert h.collected("failed") == []
    by_client: dict[str, list[int]] = {}
    for event in events:
        who, line = event["data"].split()
        by_client.setdefault(who, []).append(int(line[1:]))
        assert event["headers"]["tcp"]["peer"][0] == "127.0.0.1"
    assert len(by_client) == clients
    assert all(seen == list(range(lines)) for seen in by_client.values())
    metrics = h.module.metrics()
    assert metrics["connections"] == clients and metrics["frames"] == clients * lines
    assert metrics["frame_errors"] == metrics["decode_failures"] == metrics["refused"] == 0


@pytest.mark.parametrize("name", ["octet_counting", "length_prefix"])
def test_counted_framings_carry_newlines_and_binary(name):
    frames = [b"multi\nline", bytes(range(256)), b"x" * 70_000]
    with gevent.Timeout(10), Harness(TCPIn, {"port": 0, "framing": name, "decode": "raw"}) as h:
        with connect(h.module.port) as sock:
            sock.sendall(framing.encoder(name)(frames))
            events = h.collect("outbox", 3)
    assert [e["data"] for e in events] == frames


def test_a_line_codec_makes_one_event_per_line_of_a_frame(wait_until):
    with gevent.Timeout(10), Harness(TCPIn, {"port": 0, "framing": "length_prefix", "decode": "json_lines"}) as h:
        with connect(h.module.port) as sock:
            sock.sendall(framing.encode_length_prefix([b'{"a": 1}\n{"b": 2}\n', b"[3]"]))
            events = h.collect("outbox", 3)
    assert [e["data"] for e in events] == [{"a": 1}, {"b": 2}, [3]]


def test_an_unknown_codec_is_refused_naming_the_codecs():
    with pytest.raises(ValueError, match="decode: .*json"):
        TCPIn(port=0, decode="yaml")


def test_json_decoding_per_frame():
    with gevent.Timeout(10), Harness(TCPIn, {"port": 0, "decode": "json"}) as h:
        with connect(h.module.port) as sock:
            sock.sendall(b'{"a": 1}\n[1, 2\n"text"\n')
            good = h.collect("outbox", 2)
            [bad] = h.collect("failed", 1)
    assert [e["data"] for e in good] == [{"a": 1}, "text"]
    assert bad["data"] == b"[1, 2" and bad["headers"]["error"]["type"] == "CodecError"
    assert bad["headers"]["error"]["message"].startswith("not JSON")


def test_bad_input_goes_to_failed_and_the_connection_reads_on():
    with gevent.Timeout(15), Harness(TCPIn, {"port": 0, "max_frame": 100}) as h:
        with connect(h.module.port) as sock:
            sock.sendall(b"first\n" + b"y" * 5000 + b"\nsecond\n\xff\xfe not utf-8\nthird\n")
            good = h.collect("outbox", 3)
            failed = h.collect("failed", 2)
        assert [e["data"] for e in good] == ["first", "second", "third"]
        too_long, not_text = failed
        assert too_long["data"] == b"y" * 100 and "longer than 100" in too_long["headers"]["error"]["message"]
        assert not_text["data"] == b"\xff\xfe not utf-8"
        assert not_text["headers"]["error"]["type"] == "CodecError"
        assert "invalid UTF-8" in not_text["headers"]["error"]["message"]
        assert not_text["headers"]["tcp"]["peer"][0] == "127.0.0.1"
        metrics = h.module.metrics()
        assert metrics["frame_errors"] == 1 and metrics["decode_failures"] == 1
        # the server goes on: a new connection is served
        with connect(h.module.port) as sock:
            sock.sendall(b"after\n")
            assert h.collect("outbox", 1)[0]["data"] == "after"


def test_garbage_and_truncated_frames_with_octet_counting(wait_until):
    rng = random.Random(3)
    failed: list = []
    with gevent.Timeout(15), Harness(TCPIn, {"port": 0, "framing": "octet_counting", "decode": "raw"}) as h:
        with connect(h.module.port) as sock:
            sock.sendall(bytes(rng.getrandbits(8) for _ in range(20_000)))  # garbage, newlines in it
            sock.sendall(b"\n5 hello")
            seen: list = []
            wait_until(lambda: seen.extend(h.collected("outbox")) or b"hello" in [e["data"] for e in seen], 5, "hello")
            sock.sendall(b"10 cut")  # and the connection ends inside the frame

        def truncated() -> bool:
            failed.extend(h.collected("failed"))
            return any("truncated" in e["headers"]["error"]["message"] for e in failed)

        wait_until(truncated, 5, "the truncated frame on failed")
        assert h.module.metrics()["frame_errors"] == len(failed) > 1  # the garbage was counted too
    assert [e["data"] for e in failed if "truncated" in e["headers"]["error"]["message"]] == [b"10 cut"]


def test_connect_and_never_send_and_slow_loris_are_cut_by_the_idle_timeout():
    with gevent.Timeout(15), Harness(TCPIn, {"port": 0, "idle_timeout": 0.5}) as h:
        silent = connect(h.module.port)
        loris = connect(h.module.port)
        active = connect(h.module.port)

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
        assert len(h.collect("outbox", 15)) == 15  # the active one was never cut
        dribbler.kill()
        assert h.module.metrics()["idle_closed"] == 2
        for sock in (silent, loris, active):
            sock.close()


def test_connections_beyond_max_connections_are_closed_at_once(wait_until):
    with gevent.Timeout(15), Harness(TCPIn, {"port": 0, "max_connections": 2}) as h:
        first, second = connect(h.module.port), connect(h.module.port)
        first.sendall(b"a\n")
        second.sendall(b"b\n")
        h.collect("outbox", 2)
        third = connect(h.module.port)
        assert closed_by_server(third, 3)
        assert h.module.metrics()["refused"] == 1
        first.close()
        wait_until(lambda: h.module.metrics()["active"] == 1, 5, "the first connection's end")
        fourth = connect(h.module.port)  # a free slot again
        fourth.sendall(b"d\n")
        assert h.collect("outbox", 1)[0]["data"] == "d"
        for sock in (second, third, fourth):
            sock.close()


def test_a_stop_hands_on_what_was_already_received(wait_until):
    h = Harness(TCPIn, {"port": 0})
    with gevent.Timeout(15):
        h.start()
        sock = connect(h.module.port)
        sock.sendall(b"".join(b"%d\n" % i for i in range(5000)))
        wait_until(lambda: h.module.metrics()["bytes"] > 0, 5, "the first read")
        h.stop()
        assert len(h.collect("outbox", 5000)) == 5000
        assert not h.live_greenlets()
        sock.close()


def test_backpressure_stops_reading_and_nothing_is_buffered_without_bound(wait_until):
    """tcp_in -> tcp_out -> a server that does not read: the sender is held back by TCP, not buffered."""
    listener = gevent.socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    doc = {
        "bootstrap": {
            "tcp": {"module": "tcp_in", "variables": {"port": 0}},
            "out": {
                "module": "tcp_out",
                "variables": {"port": listener.getsockname()[1]},
                "queues": {"inbox": {"maxsize": 200}},
            },
        },
        "routingtable": {"tcp.outbox": ["out.inbox"]},
    }
    pipeline = Pipeline.from_dict(doc)
    line = b"x" * 99 + b"\n"
    chunk = line * 1000
    with gevent.Timeout(60):
        pipeline.start()
        wait_until(lambda: pipeline.modules["out"].ready, 5, "tcp_out connected")
        server_side, _ = listener.accept()  # accepted, never read (for now)
        sender = gevent.socket.create_connection(("127.0.0.1", pipeline.modules["tcp"].port))
        sender.setblocking(False)
        sent = 0
        stalled_since = None
        while True:  # push until the sender has been held back for 1 s
            try:
                sent += sender.send(chunk[sent % len(chunk) :])  # on from where a partial send stopped
                stalled_since = None
            except BlockingIOError:
                now = gevent.get_hub().loop.now()
                stalled_since = stalled_since or now
                if now - stalled_since > 1.0:
                    break
                gevent.sleep(0.01)
            assert sent < 500 * len(chunk), "the sender was never held back"
        read = pipeline.modules["tcp"].metrics()["bytes"]
        gevent.sleep(0.5)
        assert pipeline.modules["tcp"].metrics()["bytes"] == read, "tcp_in kept reading while the pipeline was full"
        assert read < sent or sent - read < 16 << 20  # what was not read is in the kernel, not in us
        # now let the server read: everything arrives, in order, nothing lost
        received = bytearray()

        def drain() -> None:
            while chunk_ := server_side.recv(1 << 20):
                received.extend(chunk_)

        reader = gevent.spawn(drain)
        gevent.sleep(0.2)
        sender.setblocking(True)
        sender.close()
        # what was sent, and a last line cut short by the sender's close ends with its own newline
        expected = (line * (sent // len(line) + 1))[:sent]
        expected += b"" if expected.endswith(b"\n") else b"\n"
        wait_until(lambda: len(received) >= len(expected), 30, f"{len(expected)} bytes at the server")
        assert pipeline.stop(10)
        reader.kill()
        server_side.close()
        listener.close()
    assert bytes(received) == expected
    assert pipeline.snapshot()["queues"]["tcp.outbox"]["dropped"] == 0


def test_bad_parameters_are_refused_by_name():
    for bad, match in (
        ({"port": 70000}, "port"),
        ({"port": 0, "max_frame": 0}, "max_frame"),
        ({"port": 0, "tls_client_auth": "required", "tls_cert": "c.pem"}, "tls_ca"),
        ({"port": 0, "tls_key": "k.pem"}, "tls_cert"),
        ({"port": 0, "idle_timeout": -1}, "idle_timeout"),
    ):
        with pytest.raises(ValueError, match=match):
            TCPIn(**bad)


def test_a_busy_port_fails_the_start_saying_which():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        h = Harness(TCPIn, {"port": port, "reuse_port": False})
        with pytest.raises(OSError, match=f"cannot listen on tcp 127.0.0.1:{port}"):
            h.module.start()
        h.module.stop()


# ---------------------------------------------------------------------------------- TLS
def tls_client(certs: dict, with_cert: str | None = "client") -> ssl.SSLContext:
    context = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(certs["ca"])
    if with_cert:
        context.load_cert_chain(certs[f"{with_cert}_cert"], certs[f"{with_cert}_key"])
    return context


def tls_variables(certs: dict, client_auth: str = "none") -> dict:
    variables = {"port": 0, "tls_cert": certs["server_cert"], "tls_key": certs["server_key"]}
    if client_auth != "none":
        variables.update(tls_ca=certs["ca"], tls_client_auth=client_auth)
    return variables


def test_tls_lines_arrive_and_plain_text_to_the_tls_port_is_refused_and_counted(tls_certs, wait_until):
    with gevent.Timeout(15), Harness(TCPIn, tls_variables(tls_certs)) as h:
        plain = connect(h.module.port)
        plain.sendall(b"GET / HTTP/1.0\r\n\r\nhello in plain text\n")
        assert closed_by_server(plain, 5)
        plain.close()
        wait_until(lambda: h.module.metrics()["tls_failures"] == 1, 5, "the failed handshake counted")
        context = tls_client(tls_certs, None)
        with context.wrap_socket(connect(h.module.port), server_hostname="localhost") as tls:
            tls.sendall(b"secret one\nsecret two\n")
            events = h.collect("outbox", 2)
        assert h.collected("outbox") == [] and h.collected("failed") == []  # the plain text never became events
    assert [e["data"] for e in events] == ["secret one", "secret two"]


def test_tls_client_certificates_required(tls_certs, wait_until):
    with gevent.Timeout(15), Harness(TCPIn, tls_variables(tls_certs, "required")) as h:
        with tls_client(tls_certs).wrap_socket(connect(h.module.port), server_hostname="localhost") as tls:
            tls.sendall(b"signed\n")
            [event] = h.collect("outbox", 1)
        assert "commonName=client" in event["headers"]["tcp"]["tls"]["subject"]
        for who in (None, "rogue"):  # no certificate; one from a CA the server does not trust
            sock = connect(h.module.port)
            try:
                with tls_client(tls_certs, who).wrap_socket(sock, server_hostname="localhost") as tls:
                    tls.sendall(b"unsigned\n")
                    tls.recv(10)  # TLS 1.3: the server's refusal arrives after the client's handshake
            except (ssl.SSLError, OSError):
                pass
        wait_until(lambda: h.module.metrics()["tls_failures"] == 2, 5, "two refused handshakes")
        assert h.collected("outbox") == []


def test_a_silent_tls_client_is_cut_by_the_handshake_timeout(tls_certs):
    variables = {**tls_variables(tls_certs), "tls_handshake_timeout": 0.3}
    with gevent.Timeout(10), Harness(TCPIn, variables) as h:
        sock = connect(h.module.port)
        assert closed_by_server(sock, 3)
        assert h.module.metrics()["tls_failures"] == 1
        sock.close()


def test_random_bytes_at_a_tls_port_never_stop_it(tls_certs):
    with gevent.Timeout(15), Harness(TCPIn, tls_variables(tls_certs)) as h:
        for _ in range(5):
            sock = connect(h.module.port)
            try:
                sock.sendall(os.urandom(3000))
            except OSError:
                pass
            closed_by_server(sock, 3)
            sock.close()
        with tls_client(tls_certs, None).wrap_socket(connect(h.module.port), server_hostname="localhost") as tls:
            tls.sendall(b"still here\n")
            assert h.collect("outbox", 1)[0]["data"] == "still here"
        assert h.module.metrics()["tls_failures"] == 5


@pytest.mark.parametrize("name", ["newline", "octet_counting", "length_prefix"])
def test_random_bytes_in_every_framing_never_stop_the_server(name, wait_until):
    rng = random.Random(name)
    variables = {"port": 0, "framing": name, "decode": "raw", "max_frame": 4096}
    with gevent.Timeout(20), Harness(TCPIn, variables) as h:
        for _ in range(10):
            with connect(h.module.port) as sock:
                sock.sendall(bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 50_000))))
        with connect(h.module.port) as sock:
            sock.sendall(framing.encoder(name)([b"the good one"]))
            seen: list = []
            wait_until(lambda: seen.extend(h.collected("outbox")) or b"the good one" in [e["data"] for e in seen], 10)
        assert h.module.alive
        assert all(len(e["data"]) <= 4096 for e in h.collected("failed"))  # never more than max_frame held
