"""stdout: lines read back through real pipes and files, a pipe closed early, a full pipe."""

from __future__ import annotations

import json
import math
import os
import pathlib
import signal
import subprocess
import sys
import time

import gevent
import gevent.os
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wb_stdout import STDOUT, to_text
from wb_stdout.writer import FdWriter
from wishbone import Pipeline, new_event
from wishbone.testing import Harness, bootstrap

CHILD = str(pathlib.Path(__file__).parent / "stdout_child.py")


def child(generator: dict, output: dict) -> subprocess.Popen:
    """Start stdout_child.py with its stdout on a pipe."""
    return subprocess.Popen(
        [sys.executable, CHILD, json.dumps(generator), json.dumps(output)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def report(stderr: bytes) -> dict:
    """The child's REPORT line."""
    [line] = [x for x in stderr.decode().splitlines() if x.startswith("REPORT ")]
    return json.loads(line[len("REPORT ") :])


def build(modules: dict, routes: dict) -> Pipeline:
    """The pipeline of :func:`wishbone.testing.bootstrap`'s document."""
    return Pipeline.from_dict(bootstrap(modules, routes))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process *pid* so far."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- formatting
def test_text_for_every_kind_of_data():
    # JSON is the core codec's (wishbone.codec): compact, the same bytes every module writes
    assert to_text("héllo") == "héllo"
    assert to_text(b"caf\xc3\xa9 \xff") == "café \\xff"
    assert to_text({"a": [1, None, True], "b": b"\xff"}) == '{"a":[1,null,true],"b":"\\\\xff"}'
    assert to_text(3.5) == "3.5"
    assert to_text(None) == "null"
    assert to_text({"s": {2, 1}}) == '{"s":[1,2]}'


@pytest.mark.parametrize(
    ("data", "line"),
    [
        ("two\nlines", "two\\nlines"),
        ("crlf\r\ninside", "crlf\\r\\ninside"),
        ("ends with a newline\n", "ends with a newline"),  # the line's own end, not data
        ("ends with crlf\r\n", "ends with crlf"),
        ("two at the end\n\n", "two at the end\\n"),
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),  # no colour, no cursor moves
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),  # no window title
        ("csi \x9b2J", "csi \\x9b2J"),  # a C1 control is a command too
        ("bell\x07 bs\x08 nul\x00 del\x7f", "bell\\x07 bs\\x08 nul\\x00 del\\x7f"),
        ("ls\u2028ps\u2029", "ls\\u2028ps\\u2029"),
        ("bidi \u202eevil", "bidi \\u202eevil"),
        ("tab\tstays", "tab\tstays"),
        ('{"json": "in \\"text\\""}', '{"json": "in \\"text\\""}'),  # backslashes as they are
        (b"bytes\nwith \x1b and \xff", "bytes\\nwith \\x1b and \\xff"),
    ],
)
def test_one_line_per_event_what_would_break_it_is_escaped(data, line):
    assert to_text(data) == line
    assert "\n" not in to_text(data) and "\x1b" not in to_text(data)


def test_json_keeps_valid_and_the_same_when_it_holds_terminal_controls():
    data = {"s": "a\x85b\u2028\x1b[0m\x9b", "n": float("nan"), "i": float("-inf")}
    text = to_text(data)
    assert text == '{"s":"a\\u0085b\\u2028\\u001b[0m\\u009b","n":null,"i":null}'
    assert json.loads(text, parse_constant=lambda c: pytest.fail(c)) == {**data, "n": None, "i": None}


def test_a_batch_of_text_with_newlines_and_escapes_is_one_line_per_event(tmp_path):
    out = tmp_path / "out.txt"
    texts = ["plain", "two\nlines", "esc \x1b[2J", "end\n", "", "last"]
    with gevent.Timeout(10), Harness(STDOUT, {"path": str(out)}) as h:
        h.feed([new_event(t) for t in texts])
        h.wait_consumed(len(texts))
    assert out.read_text().split("\n") == ["plain", "two\\nlines", "esc \\x1b[2J", "end", "", "last", ""]
    assert h.module.metrics()["written"] == len(texts)


@pytest.mark.parametrize(
    ("texts", "written"),
    [
        (["a\tb", "c"], "a\tb\nc\n"),  # tab stays, the quick path
        (["© 2026", "x\x85y"], "© 2026\nx\\x85y\n"),  # \xc2: the careful path, only C1 escaped
        (["\ud800 lone", "ok"], "\\ud800 lone\nok\n"),  # a lone surrogate cannot be UTF-8
        (["bidi \u2066x", "\u2028"], "bidi \\u2066x\n\\u2028\n"),
    ],
)
def test_a_batch_takes_the_quick_path_only_when_nothing_needs_escaping(tmp_path, texts, written):
    out = tmp_path / "out.txt"
    with gevent.Timeout(10), Harness(STDOUT, {"path": str(out)}) as h:
        h.feed([new_event(t) for t in texts])
        h.wait_consumed(len(texts))
    assert out.read_bytes().decode() == written


def test_complete_is_always_valid_json_nan_included(tmp_path):
    out = tmp_path / "out.txt"
    with gevent.Timeout(10), Harness(STDOUT, {"path": str(out), "complete": True}) as h:
        h.feed([new_event({"a": float("nan"), "t": "x\ny"}, {"k": "ü"})])
        h.wait_consumed(1)
    [line] = out.read_text().splitlines()
    assert json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} is not JSON")) == {
        "headers": {"k": "ü"},
        "data": {"a": None, "t": "x\ny"},
    }


def test_bytes_and_unformattable_data_through_the_module(tmp_path):
    out = tmp_path / "out.txt"
    looped: dict = {}
    looped["self"] = looped
    with gevent.Timeout(10), Harness(STDOUT, {"path": str(out), "counter": True}) as h:
        h.feed([new_event(b"ok \xff"), new_event(looped), new_event("two\n"), new_event({"n": 1})])
        [bad] = h.collect("failed", 1)
        h.wait_consumed(4)
    assert bad["headers"]["error"]["type"] == "CodecError"
    assert bad["headers"]["error"]["message"].startswith("not JSON-encodable")
    assert out.read_text() == '1 ok \\xff\n2 two\n3 {"n":1}\n'  # no number used up, no doubled newline
    assert h.module.metrics() == {"written": 3, "dropped": 0, "write_errors": 0}


# ----------------------------------------------------------------------------- through a pipe
def test_lines_read_back_through_a_pipe_with_one_write_per_batch():
    proc = child({"count": 10_000, "interval": 0, "payload": "hello"}, {"counter": True, "prefix": "p "})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.decode().splitlines() == [f"p {i} hello" for i in range(1, 10_001)]
    facts = report(err)
    assert facts["written"] == 10_000
    assert facts["dropped"] == 0
    if facts["write_calls"] >= 0:  # 100 batches of 100, plus a few log lines on stderr
        assert facts["write_calls"] < 200, facts


def test_complete_events_are_json_lines():
    proc = child({"count": 5, "interval": 0, "payload": {"k": ["v", 1]}}, {"complete": True})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert [json.loads(line) for line in out.decode().splitlines()] == [{"headers": {}, "data": {"k": ["v", 1]}}] * 5


def test_pipe_closed_after_one_line_the_process_finishes_cleanly():
    # the `| head -1` case: read one line, close the pipe; the run must end normally
    proc = child({"count": 300_000, "interval": 0, "payload": "line"}, {})
    try:
        assert proc.stdout.readline() == b"line\n"
        proc.stdout.close()
        err = proc.stderr.read()
        assert proc.wait(timeout=60) == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        proc.stderr.close()
    facts = report(err)
    assert facts["written"] + facts["dropped"] == 300_000
    assert facts["dropped"] > 0
    assert facts["drained"] is True
    assert err.decode().count("stdout is closed") == 1
    assert "Traceback" not in err.decode()


def test_pipe_closed_early_the_server_does_not_spin_and_stops_on_sigterm():
    proc = child({"interval": 0.002, "payload": "tick"}, {})
    try:
        assert proc.stdout.readline() == b"tick\n"
        proc.stdout.close()
        time.sleep(0.3)  # the next batch meets the closed pipe
        before = cpu_seconds(proc.pid)
        time.sleep(1.0)
        busy = cpu_seconds(proc.pid) - before
        assert proc.poll() is None, "the server crashed"
        assert busy < 0.6, f"{busy:.2f} s of CPU in 1 s: spinning"
        proc.send_signal(signal.SIGTERM)
        err = proc.stderr.read()
        assert proc.wait(timeout=20) == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        proc.stderr.close()
    facts = report(err)
    assert facts["dropped"] > 0
    assert err.decode().count("stdout is closed") == 1


def test_a_full_pipe_does_not_stall_the_other_greenlets():
    read_end, write_end = os.pipe()
    lines = 20_000
    p = build(
        {
            "input": ("testevent", {"interval": 0, "count": lines, "payload": "x" * 99}),
            "out": ("stdout", {"path": f"/dev/fd/{write_end}"}),
        },
        {"input.outbox": ["out.inbox"]},
    )
    ticks = 0

    def tick() -> None:
        nonlocal ticks
        while True:
            gevent.sleep(0.01)
            ticks += 1

    ticker = gevent.spawn(tick)
    received = bytearray()
    try:
        with gevent.Timeout(30):
            p.start()
            gevent.sleep(0.5)  # 2 MB of lines, nobody reads: the 64 KB pipe is full
            # a blocking write on the full pipe would stop the hub for good (nobody reads): the
            # ticker must go on; within 5 s, so that a loaded machine's slow ticks do not fail it
            deadline = time.monotonic() + 5
            while ticks < 20 and time.monotonic() < deadline:
                gevent.sleep(0.01)
            assert ticks >= 20, "the hub was blocked by the write"
            assert p.modules["out"].written < lines
            gevent.os.make_nonblocking(read_end)
            while len(received) < lines * 100:
                received += gevent.os.nb_read(read_end, 1 << 16)
            assert p.join_inputs(10)
            assert p.stop(10)
    finally:
        ticker.kill()
        os.close(read_end)
        os.close(write_end)
    assert received == (b"x" * 99 + b"\n") * lines
    assert p.modules["out"].metrics() == {"written": lines, "dropped": 0, "write_errors": 0}


# ----------------------------------------------------------------------------- in process
def test_events_pass_on_to_the_outbox_only_when_routed(tmp_path):
    routed = build(
        {
            "input": ("testevent", {"interval": 0, "count": 500, "payload": [1, 2]}),
            "out": ("stdout", {"path": str(tmp_path / "a.txt")}),
            "sink": ("null", {}),
        },
        {"input.outbox": ["out.inbox"], "out.outbox": ["sink.inbox"]},
    )
    alone = build(
        {"input": ("testevent", {"interval": 0, "count": 500}), "out": ("stdout", {"path": str(tmp_path / "b.txt")})},
        {"input.outbox": ["out.inbox"]},
    )
    for p in (routed, alone):
        with gevent.Timeout(20):
            p.start()
            assert p.join_inputs(10)
            assert p.stop(10)
    assert routed.snapshot()["modules"]["sink"]["consumed"] == 500
    assert (tmp_path / "a.txt").read_text() == "[1,2]\n" * 500
    assert alone.snapshot()["queues"]["out.outbox"] == {"in": 0, "out": 0, "dropped": 0, "size": 0}
    assert (tmp_path / "b.txt").read_text() == "test\n" * 500


def test_a_path_that_cannot_be_opened_is_a_clear_error(tmp_path):
    p = build(
        {"input": ("testevent", {"count": 1}), "out": ("stdout", {"path": str(tmp_path / "no" / "such.txt")})},
        {"input.outbox": ["out.inbox"]},
    )
    with gevent.Timeout(10), pytest.raises(OSError, match="cannot open"):
        p.start()
    p.stop(2)


def test_a_fifo_without_reader_is_an_error_not_a_hang(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    p = build(
        {"input": ("testevent", {"count": 1}), "out": ("stdout", {"path": str(fifo)})}, {"input.outbox": ["out.inbox"]}
    )
    with gevent.Timeout(10), pytest.raises(OSError, match="cannot open"):
        p.start()
    p.stop(2)


@pytest.mark.parametrize(("method", "size"), [("nowait", 300_000), ("thread", 300_000), ("direct", 10_000)])
def test_every_write_method_delivers_whole_buffers_through_a_pipe(method, size):
    # "direct" blocks the hub on a full pipe, so it only gets what a pipe holds
    read_end, write_end = os.pipe()
    writer = FdWriter(write_end)
    writer.method = method
    data = os.urandom(size)
    got = bytearray()

    def read() -> None:
        gevent.os.make_nonblocking(read_end)
        while len(got) < size:
            got.extend(gevent.os.nb_read(read_end, 1 << 16))

    try:
        with gevent.Timeout(10):
            reader = gevent.spawn(read)
            writer.write(data)
            reader.join()
    finally:
        os.close(read_end)
        os.close(write_end)
    assert bytes(got) == data


def test_a_closed_pipe_raises_broken_pipe():
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        with gevent.Timeout(5), pytest.raises(BrokenPipeError):
            FdWriter(write_end).write(b"x\n")
    finally:
        os.close(write_end)


def test_ready_while_there_is_somewhere_to_write(tmp_path):
    h = Harness(STDOUT, {"path": str(tmp_path / "out.txt")})
    assert not h.module.ready
    with gevent.Timeout(10), h:
        assert h.module.ready


@given(st.text() | st.binary())
@settings(max_examples=500)
def test_any_text_or_bytes_is_one_line_with_nothing_a_terminal_acts_on(data):
    line = to_text(data)
    bad = [c for c in line if (ord(c) < 0x20 and c != "\t") or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029"]
    assert bad == [], line


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=5), c, max_size=4),
        max_leaves=20,
    )
)
@settings(max_examples=300)
def test_any_json_value_is_one_line_of_valid_json_that_reads_back(value):
    line = to_text({"v": value})
    assert "\n" not in line and "\x1b" not in line and "\x9b" not in line
    back = json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert json.dumps(back) == json.dumps({"v": _without_nan(value)})


def _without_nan(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_without_nan(v) for v in value]
    if isinstance(value, dict):
        return {k: _without_nan(v) for k, v in value.items()}
    return value
