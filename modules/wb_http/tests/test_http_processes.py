"""Through the real CLI: http_in -> http_out into a server of the test's, and kill -9 of the worker
mid-stream: every line a client was answered 200 for (and every line it retried) arrives."""

from __future__ import annotations

import json
import os
import signal
import sys

import gevent
import gevent.subprocess
from gevent import socket
from geventhttpclient import HTTPClient
from wishbone.testing.cli import read_pids, write_bootstrap

WISHBONE = os.path.join(os.path.dirname(sys.executable), "wishbone")


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def post_until_accepted(port: int, body: bytes, deadline: float = 30.0) -> int:
    """POST *body* until a 200 (what a client of an at-least-once endpoint does); attempts made."""
    attempts = 0
    with gevent.Timeout(deadline):
        while True:
            attempts += 1
            try:
                c = HTTPClient("127.0.0.1", port, connection_timeout=2, network_timeout=10)
                r = c.request("POST", "/", body=body)
                status = r.status_code
                r.read()
                c.close()
                if status == 200:
                    return attempts
            except Exception:  # refused, reset, closed mid-answer: the server died, retry
                pass
            gevent.sleep(0.1)


def test_kill_9_mid_stream_loses_no_accepted_line(tmp_path, http_sink):
    port = free_port()
    config = write_bootstrap(
        tmp_path / "http.json",
        {
            "input": ("http_in", {"port": port, "decode": "json_lines", "ack_timeout": 10}),
            "output": ("http_out", {"url": http_sink.url, "retry_initial": 0.05}),
        },
        {"input.outbox": ["output.inbox"]},
    )
    pid_path = tmp_path / "wb.pid"
    log = open(tmp_path / "debug.log", "w")
    proc = gevent.subprocess.Popen(
        [WISHBONE, "debug", "--config", config, "--pid", str(pid_path)], stderr=log, stdout=gevent.subprocess.DEVNULL
    )
    try:
        with gevent.Timeout(90):
            batches, retried = 40, 0
            for b in range(batches):
                body = b"".join(b'{"b": %d, "i": %d}\n' % (b, i) for i in range(500))
                if b == batches // 2:  # kill while this batch's request is in flight
                    [worker] = [p for p in read_pids(pid_path) if p != proc.pid]
                    gevent.spawn_later(0.01, os.kill, worker, signal.SIGKILL)
                retried += post_until_accepted(port, body) - 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        log.close()
    got = [json.loads(line) for body in http_sink.bodies for line in body.splitlines()]
    seen = {(e["b"], e["i"]) for e in got}
    assert seen == {(b, i) for b in range(batches) for i in range(500)}, (tmp_path / "debug.log").read_text()[-2000:]
    print(f"lines: {len(got)}, duplicates: {len(got) - len(seen)}, retried requests: {retried}")
    assert retried >= 1, "the kill should have made the client retry"
