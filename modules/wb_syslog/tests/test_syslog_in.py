"""syslog_in on real sockets on 127.0.0.1: UDP and TCP, both RFCs, both framings, bad input, real senders."""

from __future__ import annotations

import shutil
import ssl
import time

import gevent
import gevent.socket
import gevent.ssl
import gevent.subprocess
import pytest
from wb_syslog import SyslogIn
from wishbone import datagrams
from wishbone.testing import Harness

M5424 = b'<165>1 2003-10-11T22:14:15.003Z host1 evntslog 42 ID47 [ex@32473 iut="3"] An event'
M3164 = b"<34>Oct 11 22:14:15 mymachine su[7]: 'su root' failed"


def test_udp_both_rfcs_parsed_into_fields(send_udp):
    with gevent.Timeout(10), Harness(SyslogIn, {"port": 0}) as h:
        send_udp(h.module.port, M5424, M3164 + b"\n")
        first, second = h.collect("outbox", 2)
    assert first["data"]["structured_data"] == {"ex@32473": {"iut": "3"}}
    assert (first["data"]["host"], first["data"]["procid"], first["data"]["message"]) == ("host1", "42", "An event")
    assert first["headers"]["syslog"]["transport"] == "udp"
    assert first["headers"]["syslog"]["peer"][0] == "127.0.0.1"
    assert (second["data"]["app"], second["data"]["procid"]) == ("su", "7")
    assert second["data"]["message"] == "'su root' failed"  # the datagram's trailing newline is not kept


@pytest.fixture(params=["recvmmsg", "recvfrom"])
def udp_reader(request, monkeypatch):
    """Each UDP test twice: many datagrams per call (Linux), and one recvfrom per datagram (elsewhere)."""
    if request.param == "recvfrom":
        monkeypatch.setattr(datagrams, "available", lambda: False)  # as where there is no recvmmsg
    elif not datagrams.available():
        pytest.skip("recvmmsg is Linux only")
    return request.param


def test_udp_ten_thousand_messages_all_arrive(udp_reader):
    with gevent.Timeout(30), Harness(SyslogIn, {"port": 0}) as h:
        with gevent.socket.socket(gevent.socket.AF_INET, gevent.socket.SOCK_DGRAM) as s:
            for i in range(10_000):
                s.sendto(b"<13>1 - h app - - - message %d" % i, ("127.0.0.1", h.module.port))
                if i % 500 == 0:
                    gevent.sleep(0.001)
        events = h.collect("outbox", 10_000, timeout=20)
    assert sorted(int(e["data"]["message"].split()[1]) for e in events) == list(range(10_000))
    assert h.module.metrics()["messages"] == 10_000


def test_udp_intake_stops_at_once_though_its_reader_waits_without_a_timeout(udp_reader):
    h = Harness(SyslogIn, {"port": 0})
    with gevent.Timeout(10):
        h.start()
        gevent.sleep(0.05)  # the reader waits for a datagram
        started = time.monotonic()
        h.stop()
        assert time.monotonic() - started < 0.15  # woken by on_stop_intake, not by a timeout
    assert not [g for g in h.module.greenlets() if not g.dead]
    assert not h.module.ready


def test_udp_bad_input_goes_to_failed_with_the_reason(send_udp, udp_reader):
    longest = b"<13>" + b"y" * 996  # max_message exactly, and its newline (not counted)
    with gevent.Timeout(10), Harness(SyslogIn, {"port": 0, "max_message": 1000}) as h:
        send_udp(h.module.port, b"not syslog", b"<999>x", b"\xff\xfe<13>bad utf-8", b"<13>" + b"x" * 2000, M3164)
        send_udp(h.module.port, longest + b"\n")
        good, longest_parsed = h.collect("outbox", 2)
        failed = h.collect("failed", 4)
        metrics = h.module.metrics()
    assert good["data"]["app"] == "su"
    assert longest_parsed["data"]["message"] == "y" * 996
    reasons = sorted(e["headers"]["error"]["message"] for e in failed)
    assert any("no <PRI>" in r for r in reasons) and any("0..191" in r for r in reasons)
    assert any("longer than max_message" in r for r in reasons)
    assert any(e["headers"]["error"]["type"] == "UnicodeDecodeError" for e in failed)
    assert {bytes(e["data"][:4]) for e in failed} >= {b"not ", b"<999"}
    assert metrics["parse_failures"] == 3 and metrics["frame_errors"] == 1


def test_udp_over_ipv6_names_the_peer(udp_reader):
    try:
        probe = gevent.socket.socket(gevent.socket.AF_INET6, gevent.socket.SOCK_DGRAM)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with gevent.Timeout(10), Harness(SyslogIn, {"port": 0, "address": "::1"}) as h:
        with gevent.socket.socket(gevent.socket.AF_INET6, gevent.socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
            s.sendto(M5424, ("::1", h.module.port))
            [event] = h.collect("outbox", 1)
            assert event["headers"]["syslog"]["peer"] == ["::1", s.getsockname()[1]]


def test_raw_mode_and_on_error_raw(send_udp):
    with gevent.Timeout(10), Harness(SyslogIn, {"port": 0, "mode": "raw"}) as h:
        send_udp(h.module.port, b"anything at all")
        assert h.collect("outbox", 1)[0]["data"] == "anything at all"
    with gevent.Timeout(10), Harness(SyslogIn, {"port": 0, "on_error": "raw"}) as h:
        send_udp(h.module.port, b"no pri here")
        [event] = h.collect("outbox", 1)
        assert h.collected("failed") == []
    assert event["data"] == "no pri here" and "no <PRI>" in event["headers"]["syslog"]["error"]


def tcp(port: int) -> gevent.socket.socket:
    return gevent.socket.create_connection(("127.0.0.1", port), timeout=5)


def test_tcp_framing_is_chosen_per_connection_and_many_connect_at_once():
    with gevent.Timeout(30), Harness(SyslogIn, {"port": 0, "transport": "tcp"}) as h:

        def client(n: int) -> None:
            messages = [b"<13>1 - host%d app - - - line %d" % (n, i) for i in range(200)]
            if n % 2:  # octet counting, messages holding newlines
                wire = b"".join(b"%d %s" % (len(m) + 4, m + b" a\nb") for m in messages)
            else:
                wire = b"".join(m + b"\n" for m in messages)
            with tcp(h.module.port) as sock:
                for i in range(0, len(wire), 777):
                    sock.sendall(wire[i : i + 777])

        gevent.joinall([gevent.spawn(client, n) for n in range(20)], raise_error=True)
        events = h.collect("outbox", 4000, timeout=20)
        assert h.collected("failed") == []
    counted = [e for e in events if int(e["data"]["host"][4:]) % 2]
    assert all(not e["data"]["message"].endswith("\n") for e in events if not int(e["data"]["host"][4:]) % 2)
    assert len(counted) == 2000 and all(e["data"]["message"].endswith(" a\nb") for e in counted)
    assert all(e["headers"]["syslog"]["transport"] == "tcp" for e in events)
    assert h.module.metrics()["connections"] == 20


def test_tcp_octet_counted_frames_that_hold_their_newline_and_crlf_lines_lose_it():
    with gevent.Timeout(10), Harness(SyslogIn, {"port": 0, "transport": "tcp"}) as h:
        with tcp(h.module.port) as counted, tcp(h.module.port) as lines:
            frames = [b"<13>1 - - - - - - one\n", b"<13>1 - - - - - - two\n"]  # as loggen sends them
            counted.sendall(b"".join(b"%d %s" % (len(f), f) for f in frames))
            lines.sendall(b"<13>1 - - - - - - three\r\n")
            events = h.collect("outbox", 3)
    assert sorted(e["data"]["message"] for e in events) == ["one", "three", "two"]


def test_tcp_bad_input_too_long_truncated_and_idle_clients():
    variables = {"port": 0, "transport": "tcp", "max_message": 100, "idle_timeout": 0.5}
    with gevent.Timeout(20), Harness(SyslogIn, variables) as h:
        with tcp(h.module.port) as sock:
            sock.sendall(b"500 " + b"x" * 500 + b"17 <13>1 - - -")  # too long, then a good one
            sock.sendall(b" - - -50 <13>cut")  # and one cut short by the close
            [good] = h.collect("outbox", 1)
        failed = h.collect("failed", 2)
        silent = tcp(h.module.port)
        silent.settimeout(3)
        assert silent.recv(10) == b""  # closed by the idle timeout
        silent.close()
        metrics = h.module.metrics()
    assert good["data"]["rfc"] == "5424"
    assert "longer than 100" in failed[0]["headers"]["error"]["message"]
    assert "truncated" in failed[1]["headers"]["error"]["message"]
    assert metrics["frame_errors"] == 2 and metrics["idle_closed"] == 1


def test_tcp_connections_beyond_the_limit_are_closed():
    with gevent.Timeout(10), Harness(SyslogIn, {"port": 0, "transport": "tcp", "max_connections": 1}) as h:
        first = tcp(h.module.port)
        first.sendall(b"<13>hello\n")
        h.collect("outbox", 1)
        second = tcp(h.module.port)
        second.settimeout(3)
        assert second.recv(10) == b""
        assert h.module.metrics()["refused"] == 1
        first.close()
        second.close()


def test_tcp_over_tls_with_client_certificates_and_plain_text_refused(tls_certs, wait_until):
    variables = {
        "port": 0,
        "transport": "tcp",
        "tls_cert": tls_certs["server_cert"],
        "tls_key": tls_certs["server_key"],
        "tls_ca": tls_certs["ca"],
        "tls_client_auth": "required",
    }
    client = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(tls_certs["ca"])
    client.load_cert_chain(tls_certs["client_cert"], tls_certs["client_key"])
    with gevent.Timeout(15), Harness(SyslogIn, variables) as h:
        with client.wrap_socket(tcp(h.module.port), server_hostname="localhost") as tls:  # RFC 5425: octet counted
            tls.sendall(b"%d %s" % (len(M5424), M5424))
            [event] = h.collect("outbox", 1)
        plain = tcp(h.module.port)
        plain.sendall(M3164 + b"\n")
        plain.settimeout(5)
        try:
            assert plain.recv(10) == b""  # closed: not a TLS handshake
        except ConnectionResetError:
            pass
        plain.close()
        wait_until(lambda: h.module.metrics()["tls_failures"] == 1, 5, "the failed handshake counted")
        assert h.collected("outbox") == [] and h.collected("failed") == []
    assert event["data"]["msgid"] == "ID47" and event["headers"]["syslog"]["transport"] == "tcp"


def test_tls_needs_tcp():
    for tls in ({"tls_cert": "server.pem"}, {"tls_client_auth": "required"}):
        with pytest.raises(ValueError, match="tls_. parameters need transport tcp"):
            SyslogIn(port=0, **tls)


@pytest.mark.skipif(shutil.which("logger") is None, reason="util-linux logger is the real sender here")
@pytest.mark.parametrize(
    ("transport", "flags"),
    [("udp", ["--udp"]), ("tcp", ["--tcp", "--octet-count"]), ("tcp", ["--tcp"]), ("udp", ["--udp", "--rfc3164"])],
)
def test_util_linux_logger_as_the_sender(transport, flags):
    with gevent.Timeout(20), Harness(SyslogIn, {"port": 0, "transport": transport}) as h:
        cmd = ["logger", "-n", "127.0.0.1", "-P", str(h.module.port), *flags, "-t", "mytag", "-p", "local3.warning"]
        if "--rfc3164" not in flags:
            cmd += ["--msgid", "M1", "--sd-id", "test@1", "--sd-param", 'k="v"']
        proc = gevent.subprocess.Popen([*cmd, "hello from logger"])
        assert proc.wait(10) == 0
        [event] = h.collect("outbox", 1, timeout=10)
    data = event["data"]
    assert (data["facility"], data["severity"], data["app"], data["message"]) == (19, 4, "mytag", "hello from logger")
    if "--rfc3164" not in flags:
        assert data["rfc"] == "5424" and data["msgid"] == "M1" and data["structured_data"]["test@1"] == {"k": "v"}


def test_a_busy_port_fails_the_start_saying_which():
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        h = Harness(SyslogIn, {"port": port, "reuse_port": False})
        with pytest.raises(OSError, match=f"cannot listen on udp 127.0.0.1:{port}"):
            h.module.start()
        h.module.stop()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_random_bytes_never_stop_the_input(transport, wait_until, send_udp):
    import random

    rng = random.Random(transport)
    with gevent.Timeout(20), Harness(SyslogIn, {"port": 0, "transport": transport, "max_message": 2000}) as h:
        for _ in range(10):
            junk = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 1500 if transport == "udp" else 30_000)))
            if transport == "udp":
                send_udp(h.module.port, junk)
            else:
                with tcp(h.module.port) as sock:
                    sock.sendall(junk)
        if transport == "udp":
            send_udp(h.module.port, b"<13>the good one")
        else:
            with tcp(h.module.port) as sock:
                sock.sendall(b"<13>the good one\n")
        seen: list = []

        def good_one() -> bool:
            seen.extend(h.collected("outbox"))
            return any(isinstance(e["data"], dict) and e["data"]["message"] == "the good one" for e in seen)

        wait_until(good_one, 10, "the good message after the junk")
        assert h.module.alive and h.module.metrics()["parse_failures"] + h.module.metrics()["frame_errors"] > 0
