"""stdin: lines read from a real pipe on fd 0 (see conftest.py), and through the real CLI."""

from __future__ import annotations

import os
import subprocess
import tracemalloc

import gevent
import pytest
from wb_stdin import Stdin
from wishbone.testing.cli import WISHBONE, write_bootstrap


def test_lines_while_the_pipe_stays_open(harness, stdin_pipe):
    ticks = []
    ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0.01)) for _ in range(20)])
    with harness(Stdin) as h:
        gevent.sleep(0.1)  # the reader waits on an empty pipe: the hub runs the ticker meanwhile
        assert len(ticks) >= 5, "the reader blocked the hub"
        assert h.module.ready
        stdin_pipe.write(b"one\r\ntwo\n")
        events = h.collect("outbox", 2)
        assert [e["data"] for e in events] == ["one", "two"]
        assert not h.module.finished
    ticker.kill()
    assert os.get_blocking(0), "the blocking mode of fd 0 was not put back"


def test_end_of_input_hands_on_the_last_line_and_finishes(harness, stdin_pipe):
    with harness(Stdin) as h:
        stdin_pipe.write(b"a\n\nlast without newline")
        stdin_pipe.close()
        events = h.collect("outbox", 3)
        assert [e["data"] for e in events] == ["a", "", "last without newline"]
        with gevent.Timeout(5):
            while not h.module.finished:
                gevent.sleep(0.01)
        assert not h.module.ready
        assert h.module.metrics()["lines"] == 3


def test_many_lines_in_order(harness, stdin_pipe):
    lines = [f"line {i}" for i in range(50_000)]
    with harness(Stdin) as h:
        writer = gevent.spawn(lambda: (stdin_pipe.write(("\n".join(lines) + "\n").encode()), stdin_pipe.close()))
        events = h.collect("outbox", len(lines), timeout=20)
        writer.join(5)
    assert [e["data"] for e in events] == lines


def test_a_huge_line_goes_to_failed_with_bounded_memory(harness, stdin_pipe):
    limit = 1000
    huge = b"x" * (20 * 1024 * 1024)
    with harness(Stdin, {"max_line_bytes": limit}) as h:
        tracemalloc.start()
        try:
            stdin_pipe.write(b"before\n")
            stdin_pipe.write(huge)  # 20 MiB in 64 KiB chunks, no newline until after it
            stdin_pipe.write(b"\nafter\n")
            events = h.collect("outbox", 2)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        [failed] = h.collect("failed", 1)
    assert [e["data"] for e in events] == ["before", "after"]
    assert failed["data"] == b"x" * limit
    assert failed["headers"]["error"]["type"] == "LineTooLong"
    assert h.module.metrics()["failed_lines"] == 1
    assert peak < 4 * 1024 * 1024, f"reading a 20 MiB line peaked at {peak:,} bytes"


def test_undecodable_lines_go_to_failed_and_reading_goes_on(harness, stdin_pipe):
    with harness(Stdin, {"decode": "json_lines"}) as h:
        stdin_pipe.write(b'{"a": 1}\nnot json\n\n[2]\n\xff\xfe\n')
        events = h.collect("outbox", 2)
        failed = h.collect("failed", 2)
    assert [e["data"] for e in events] == [{"a": 1}, [2]]
    assert [f["data"] for f in failed] == [b"not json", b"\xff\xfe"]
    assert all(f["headers"]["error"]["module"] == "harness" or f["headers"]["error"]["type"] for f in failed)


def test_invalid_utf8_as_lines(harness, stdin_pipe):
    with harness(Stdin) as h:
        stdin_pipe.write(b"ok\n\xc3\x28\nstill ok\n")
        events = h.collect("outbox", 2)
        [failed] = h.collect("failed", 1)
    assert [e["data"] for e in events] == ["ok", "still ok"]
    assert failed["data"] == b"\xc3\x28" and failed["headers"]["error"]["type"] == "CodecError"


def test_raw_keeps_bytes(harness, stdin_pipe):
    with harness(Stdin, {"decode": "raw"}) as h:
        stdin_pipe.write(b"\xff\x00\n")
        [event] = h.collect("outbox", 1)
    assert event["data"] == b"\xff\x00"


@pytest.mark.parametrize("bad", [{"decode": "yaml"}, {"max_line_bytes": 0}])
def test_bad_parameters_are_refused(harness, bad):
    with pytest.raises(ValueError):
        harness(Stdin, bad)


def test_a_regular_file_as_stdin_through_the_cli(tmp_path):
    """``wishbone debug < file``: stdin -> null reads every line and exits 0."""
    data = tmp_path / "in.txt"
    data.write_bytes(b"".join(b"%d\n" % i for i in range(100_000)))
    config = write_bootstrap(
        tmp_path / "b.json",
        {"in": ("stdin", {}), "out": ("null", {})},
        {"in.outbox": ["out.inbox"]},
        metrics={"enable": True, "module": "log", "interval": 60},
    )
    with open(data, "rb") as stdin:
        done = subprocess.run(
            [WISHBONE, "debug", "--config", config, "--pid", str(tmp_path / "pid")],
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "module out consumed=100000 failed=0" in done.stderr, done.stderr[-3000:]
    assert "End of input after 100000 line(s)." in done.stderr


def test_with_two_instances_one_reads_stdin(tmp_path):
    """Workers share stdin: one reads it all, every line once and in order, then exit 0."""
    data = tmp_path / "in.txt"
    data.write_bytes(b"".join(b"%d\n" % i for i in range(200_000)))
    config = write_bootstrap(
        tmp_path / "b.json",
        {"in": ("stdin", {}), "out": ("null", {})},
        {"in.outbox": ["out.inbox"]},
        metrics={"enable": True, "module": "log", "interval": 60},
    )
    with open(data, "rb") as stdin:
        done = subprocess.run(
            [WISHBONE, "debug", "--config", config, "--instances", "2"],
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Instance #0:metrics: module out consumed=200000 failed=0" in done.stderr, done.stderr[-3000:]
    assert "Instance #1:in: stdin is read by instance #0 only" in done.stderr
