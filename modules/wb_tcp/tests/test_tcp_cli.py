"""The real ``wishbone`` command: tcp_in -> tcp_out in a subprocess, lines sent in and received out."""

from __future__ import annotations

import signal

import gevent
import gevent.socket
from wishbone.testing.cli import start_debug, write_bootstrap


def test_tcp_in_to_tcp_out_through_the_cli_then_sigterm_drains_and_exits_0(tmp_path, sink, tcp_port, wait_until):
    port = tcp_port
    config = write_bootstrap(
        tmp_path / "tcp.json",
        {"in": ("tcp_in", {"port": port}), "out": ("tcp_out", {"port": sink.port})},
        {"in.outbox": ["out.inbox"]},
    )
    log = tmp_path / "wishbone.log"
    proc = start_debug(config, tmp_path / "wb.pid", log)
    try:
        with gevent.Timeout(60):

            def listening() -> bool:
                try:
                    gevent.socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    return True
                except OSError:
                    return False

            wait_until(listening, 20, f"the wishbone process listening on {port}")

            def client(n: int) -> None:
                with gevent.socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                    sock.sendall(b"".join(b"client %d line %d\n" % (n, i) for i in range(5000)))

            gevent.joinall([gevent.spawn(client, n) for n in range(4)], raise_error=True)
            wait_until(lambda: len(sink.lines()) >= 20_000, 20, "20,000 lines at the server")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    lines = sink.lines()
    assert len(lines) == 20_000 and len(set(lines)) == 20_000
    text = log.read_text()
    assert f"Listening on tcp 127.0.0.1:{port}" in text and f"Connected to tcp 127.0.0.1:{sink.port}" in text
