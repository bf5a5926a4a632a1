"""Through the real CLI: redis_in (a stream) -> redis_out (another stream), kill -9 of the worker
mid-stream: after the supervisor restarts it, every entry arrived (duplicates counted, none lost).
And a stalled Redis (a proxy that stops forwarding) holds only its own module: the rest runs on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import gevent
from gevent import socket
from gevent.server import StreamServer
from wishbone import Pipeline
from wishbone.testing.cli import read_pids, write_bootstrap

WISHBONE = os.path.join(os.path.dirname(sys.executable), "wishbone")
COUNT = 30_000


def arrived(client, key) -> list[int]:
    return [json.loads(fields[b"data"])["i"] for _, fields in client.xrange(key)]


def test_kill_9_mid_stream_loses_nothing(tmp_path, redis_url, client, key):
    source, target = f"{key}:in", f"{key}:out"
    pipe = client.pipeline(transaction=False)
    for i in range(COUNT):
        pipe.xadd(source, {"data": json.dumps({"i": i})})
    pipe.execute()
    config = write_bootstrap(
        tmp_path / "redis.json",
        {
            "input": ("redis_in", {"url": redis_url, "key": source, "start": "0", "consumer": "worker"}),
            "output": ("redis_out", {"url": redis_url, "key": target}),
        },
        {"input.outbox": ["output.inbox"]},
    )
    pid_path = tmp_path / "wb.pid"
    with open(tmp_path / "debug.log", "w") as log:
        proc = subprocess.Popen([WISHBONE, "debug", "--config", config, "--pid", str(pid_path)], stderr=log)
    try:
        deadline = time.monotonic() + 60
        while client.xlen(target) < COUNT // 3:
            assert time.monotonic() < deadline, (tmp_path / "debug.log").read_text()[-2000:]
            time.sleep(0.01)
        [worker] = [p for p in read_pids(pid_path) if p != proc.pid]
        os.kill(worker, signal.SIGKILL)
        while len(set(arrived(client, target))) < COUNT:
            assert time.monotonic() < deadline, (tmp_path / "debug.log").read_text()[-2000:]
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    ids = arrived(client, target)
    assert set(ids) == set(range(COUNT))
    print(f"entries: {COUNT}, arrived: {len(ids)}, duplicates: {len(ids) - COUNT}")
    assert client.xpending(source, "wishbone")["pending"] == 0


class StallingProxy:
    """A TCP proxy to Redis on 127.0.0.1 that can stop forwarding (a server that stopped answering)."""

    def __init__(self, port: int) -> None:
        self.target = ("127.0.0.1", port)
        self.stalled = False
        self.server = StreamServer(("127.0.0.1", 0), self._serve)
        self.server.start()
        self.port = self.server.server_port

    def _pump(self, src, dst) -> None:
        try:
            while data := src.recv(65536):
                while self.stalled:
                    gevent.sleep(0.05)
                dst.sendall(data)
        except OSError:
            pass

    def _serve(self, client, _address) -> None:
        upstream = socket.create_connection(self.target)
        gevent.joinall([gevent.spawn(self._pump, client, upstream), gevent.spawn(self._pump, upstream, client)])


def test_a_stalled_redis_holds_only_its_own_module(redis_url, key):
    proxy = StallingProxy(int(redis_url.rsplit(":", 1)[1].split("/")[0]))
    p = Pipeline.from_dict(
        {
            "bootstrap": {
                "gen": {"module": "testevent", "variables": {"interval": 0}},
                "other": {"module": "null"},
                "slowgen": {"module": "testevent", "variables": {"interval": 0.01}},
                "redis": {
                    "module": "redis_out",
                    "variables": {"url": f"redis://127.0.0.1:{proxy.port}/0", "key": key, "timeout": 2},
                },
            },
            "routingtable": {"gen.outbox": ["other.inbox"], "slowgen.outbox": ["redis.inbox"]},
        }
    )
    with gevent.Timeout(30):
        p.start()
        gevent.sleep(0.5)

        def rate() -> float:
            before, start = p.modules["other"].consumed, time.monotonic()
            gevent.sleep(1.0)
            return (p.modules["other"].consumed - before) / (time.monotonic() - start)

        free = rate()
        proxy.stalled = True
        gevent.sleep(0.3)
        stalled = rate()
        written_while_stalled = p.modules["redis"].written
        gevent.sleep(0.5)
        assert p.modules["redis"].written == written_while_stalled, "the proxy should hold redis_out's writes"
        proxy.stalled = False
        p.stop(10)
    proxy.server.stop()
    print(f"other branch: {free:,.0f} events/s before, {stalled:,.0f} while Redis stalled")
    assert stalled > 0.5 * free, "a stalled Redis slowed an unrelated branch of the pipeline"
