"""The control socket: a tap costs nothing when detached and never holds the pipeline back."""

from __future__ import annotations

import json
import socket

import gevent
import gevent.socket
from wishbone import Pipeline
from wishbone.controlsocket import BUFFER, ControlServer
from wishbone.queue import DestinationQueue
from wishbone.testing import bootstrap


def _pipeline(count: int) -> Pipeline:
    return Pipeline.from_dict(
        bootstrap(
            {"input": ("testevent", {"interval": 0, "count": count}), "pass": "passthrough", "output": "null"},
            {"input.outbox": ["pass.inbox"], "pass.outbox": ["output.inbox"]},
        ),
        load_entry_points=False,
    )


def _request(path: str, request: dict) -> gevent.socket.socket:
    conn = gevent.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(path)
    conn.sendall(json.dumps(request).encode() + b"\n")
    return conn


def test_a_reader_that_never_reads_gets_a_sample_and_the_pipeline_never_waits(tmp_path):
    count = 200_000
    pipeline = _pipeline(count)
    control = ControlServer(pipeline, str(tmp_path / "w.pid.0.sock"))
    queue = pipeline.modules["pass"].destination_queues["inbox"]
    with gevent.Timeout(30):
        control.start()
        stalled = _request(control.path, {"cmd": "tap", "queue": "pass.inbox", "limit": 0})  # never read
        assert _wait(lambda: "put_batch" in vars(queue))  # wrapped only now
        pipeline.start()
        assert pipeline.wait(20) and pipeline.finished  # not held back by the stalled reader
        assert pipeline.stop(5)
        tap = next(t for tapped in control.tapped.values() for t in tapped.taps)
        assert len(tap.lines) <= BUFFER and tap.missed > 0  # bounded: the oldest lines went
        stalled.close()
        assert _wait(lambda: "put_batch" not in vars(queue))  # detached: the class's method again
        assert type(queue).put_batch is DestinationQueue.put_batch
        control.stop()
    assert pipeline.snapshot()["modules"]["output"]["consumed"] == count


def test_snapshot_and_a_limited_tap(tmp_path):
    pipeline = _pipeline(0)
    control = ControlServer(pipeline, str(tmp_path / "w.pid.0.sock"))
    with gevent.Timeout(20):
        control.start()
        pipeline.start()
        snap = json.loads(_answer(control.path, {"cmd": "snapshot"})[0])
        assert "pass.inbox" in snap["queues"] and snap["instance"] == 0
        lines = [
            json.loads(line) for line in _answer(control.path, {"cmd": "tap", "queue": "input.outbox", "limit": 3})
        ]
        assert [line.get("event", {}).get("data") for line in lines[:3]] == ["test"] * 3
        assert lines[3]["end"] is True and len(lines) == 4
        assert "error" in json.loads(_answer(control.path, {"cmd": "nope"})[0])
        pipeline.request_stop()
        pipeline.stop(5)
        control.stop()


def _answer(path: str, request: dict) -> list[bytes]:
    conn = _request(path, request)
    try:
        with conn.makefile("rb") as f:
            return f.read().splitlines()
    finally:
        conn.close()


def _wait(predicate, timeout: float = 5.0) -> bool:
    with gevent.Timeout(timeout, False):
        while not predicate():
            gevent.sleep(0.01)
        return True
    return False
