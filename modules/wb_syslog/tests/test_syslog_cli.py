"""The real ``wishbone`` command: syslog over UDP in, syslog over TCP out, in a subprocess."""

from __future__ import annotations

import signal
import socket

import gevent
from wb_syslog import parse
from wishbone import framing
from wishbone.testing.cli import start_debug, write_bootstrap


def test_syslog_udp_in_to_tcp_out_through_the_cli(tmp_path, wait_until, free_port, tcp_sink):
    sink = tcp_sink()
    port = free_port(socket.SOCK_DGRAM)
    config = write_bootstrap(
        tmp_path / "syslog.json",
        {
            "in": ("syslog_in", {"port": port}),
            "out": ("syslog_out", {"port": sink.port, "transport": "tcp", "format": "rfc5424"}),
        },
        {"in.outbox": ["out.inbox"]},
    )
    log = tmp_path / "wishbone.log"
    proc = start_debug(config, tmp_path / "wb.pid", log)
    try:
        with gevent.Timeout(60):
            wait_until(lambda: "Listening for syslog on udp" in log.read_text(), 20, "the input listening")
            wait_until(lambda: "Connected to tcp" in log.read_text(), 20, "the output connected")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                for i in range(1000):
                    s.sendto(b"<34>Oct 11 22:14:15 host%d su[7]: message %d" % (i, i), ("127.0.0.1", port))
                    if i % 100 == 0:
                        gevent.sleep(0.01)

            def frames() -> list[bytes]:
                return framing.decoder("octet_counting").feed(sink.data())

            wait_until(lambda: len(frames()) == 1000, 20, "1000 messages at the TCP server")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        sink.stop()
    parsed = [parse(f.decode()) for f in frames()]
    assert sorted(int(p["message"].split()[1]) for p in parsed) == list(range(1000))
    assert all(p["rfc"] == "5424" and p["app"] == "su" and p["procid"] == "7" and p["facility"] == 4 for p in parsed)
