"""file_in on real files: tailing, globs, rotation by rename and copytruncate, deletion, a directory
in a file's place, huge and undecodable lines, the checkpoint and its lock, one-shot reads."""

from __future__ import annotations

import gc
import json
import os
import tracemalloc

import gevent
import pytest
from wb_file import FileIn
from wishbone.ack import delivery_of, mark_abandoned

FAST = {"poll_interval": 0.02, "glob_interval": 0.05, "checkpoint_interval": 0.05}


def lines_of(events: list) -> list:
    return [e["data"] for e in events]


def append(path, text: str) -> None:
    with open(path, "a") as f:
        f.write(text)


def wait_for(predicate, timeout: float = 5.0) -> None:
    with gevent.Timeout(timeout, AssertionError(f"not true within {timeout}s: {predicate}")):
        while not predicate():
            gevent.sleep(0.01)


def checkpoint_offsets(path) -> dict:
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        return {}
    return {e["path"]: e["offset"] for e in doc["files"]}


def test_reads_from_the_beginning_then_follows(harness, tmp_path):
    log = tmp_path / "a.log"
    log.write_text("one\ntwo\r\n")
    with harness(FileIn, {"paths": [str(tmp_path / "*.log")], **FAST}) as h:
        first = h.collect("outbox", 2)
        assert h.module.ready
        append(log, "three\npartial")
        [third] = h.collect("outbox", 1)
        gevent.sleep(0.1)
        assert h.collected("outbox") == [], "a line without its newline was handed on while tailing"
        append(log, " line\n")
        [fourth] = h.collect("outbox", 1)
    assert lines_of(first) == ["one", "two"]
    assert third["data"] == "three" and fourth["data"] == "partial line"
    assert first[0]["headers"] == {"file": str(log)}


def test_start_at_end_skips_what_is_there(harness, tmp_path):
    log = tmp_path / "a.log"
    log.write_text("old\n" * 10)
    with harness(FileIn, {"paths": [str(log)], "start_at": "end", **FAST}) as h:
        gevent.sleep(0.1)
        append(log, "new\n")
        assert lines_of(h.collect("outbox", 1)) == ["new"]
        gevent.sleep(0.1)
        assert h.collected("outbox") == []


def test_new_files_matching_the_glob_are_picked_up(harness, tmp_path):
    (tmp_path / "logs").mkdir()
    with harness(FileIn, {"paths": [str(tmp_path / "**" / "*.log")], "exclude": ["*skip*"], **FAST}) as h:
        (tmp_path / "logs" / "b.log").write_text("b1\n")
        (tmp_path / "logs" / "deep").mkdir()
        (tmp_path / "logs" / "deep" / "c.log").write_text("c1\n")
        (tmp_path / "logs" / "skip.log").write_text("excluded\n")
        got = sorted(lines_of(h.collect("outbox", 2)))
        gevent.sleep(0.2)
        assert h.collected("outbox") == []
    assert got == ["b1", "c1"]


def test_rotation_by_rename_loses_nothing(harness, tmp_path):
    log = tmp_path / "app.log"
    writer = open(log, "a", buffering=1)
    writer.write("before 1\nbefore 2\n")
    with harness(FileIn, {"paths": [str(tmp_path / "*.log")], **FAST}) as h:
        h.collect("outbox", 2)
        os.rename(log, tmp_path / "app.log.1")  # logrotate's default: rename, then the app reopens
        writer.write("late write to the old file\n")  # the app has not reopened yet
        gevent.sleep(0.02)
        writer.close()
        writer = open(log, "a", buffering=1)
        writer.write("after 1\n")
        got = sorted(lines_of(h.collect("outbox", 2)))
        wait_for(lambda: h.module.metrics()["files"] == 1)  # the old one read to its end and closed
        assert h.module.metrics()["rotations"] == 1
    writer.close()
    assert got == ["after 1", "late write to the old file"]


def test_copytruncate_reads_the_file_again_from_its_start(harness, tmp_path):
    log = tmp_path / "app.log"
    log.write_text("a long first line before the truncation\nsecond\n")
    with harness(FileIn, {"paths": [str(log)], **FAST}) as h:
        h.collect("outbox", 2)
        with open(log, "r+") as f:  # what logrotate's copytruncate does after copying
            f.truncate(0)
        gevent.sleep(0.1)
        append(log, "after truncation\n")
        [event] = h.collect("outbox", 1)
        assert h.module.metrics()["truncations"] == 1
    assert event["data"] == "after truncation"


def test_truncated_and_rewritten_past_the_offset_is_noticed(harness, tmp_path):
    log = tmp_path / "app.log"
    log.write_text("x" * 10 + "\n")
    with harness(FileIn, {"paths": [str(log)], **FAST}) as h:
        h.collect("outbox", 1)
        gevent.sleep(0.1)  # the reader waits at the end of the file
        with open(log, "r+") as f:  # truncated and written past the old offset before a poll
            f.truncate(0)
            f.write("rewritten line number one\n")
        [event] = h.collect("outbox", 1)
    assert event["data"] == "rewritten line number one"


def test_deleted_while_tailed_and_replaced_by_a_directory(harness, tmp_path):
    log = tmp_path / "a.log"
    log.write_text("1\n")
    with harness(FileIn, {"paths": [str(tmp_path / "*.log")], **FAST}) as h:
        h.collect("outbox", 1)
        log.unlink()
        wait_for(lambda: h.module.metrics()["deletions"] == 1)
        log.mkdir()  # a directory where the file was
        wait_for(lambda: h.module.metrics()["not_regular"] == 1)
        (tmp_path / "b.log").write_text("the input goes on\n")
        [event] = h.collect("outbox", 1)
        gevent.sleep(0.2)
        metrics = h.module.metrics()
    assert event["data"] == "the input goes on"
    assert metrics["not_regular"] == 1, "a directory is counted once, not at every match"
    assert metrics["files"] == 1


def test_a_huge_line_goes_to_failed_with_bounded_memory(harness, tmp_path):
    log = tmp_path / "a.log"
    with open(log, "wb") as f:
        f.write(b"before\n" + b"y" * (20 * 1024 * 1024) + b"\nafter\n")
    tracemalloc.start()
    try:
        with harness(FileIn, {"paths": [str(log)], "max_line_bytes": 1000, **FAST}) as h:
            events = h.collect("outbox", 2, timeout=20)
            [failed] = h.collect("failed", 1)
            _, peak = tracemalloc.get_traced_memory()
            metrics = h.module.metrics()
    finally:
        tracemalloc.stop()
    assert lines_of(events) == ["before", "after"]
    assert failed["data"] == b"y" * 1000 and failed["headers"]["error"]["type"] == "LineTooLong"
    assert metrics["failed_lines"] == 1
    assert peak < 8 * 1024 * 1024, f"reading a 20 MiB line peaked at {peak:,} bytes"


def test_undecodable_lines_go_to_failed(harness, tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b'{"a": 1}\nnot json\n\n\xff\n[2]\n')
    with harness(FileIn, {"paths": [str(log)], "decode": "json_lines", **FAST}) as h:
        events = h.collect("outbox", 2)
        failed = h.collect("failed", 2)
    assert lines_of(events) == [{"a": 1}, [2]]
    assert [f["data"] for f in failed] == [b"not json", b"\xff"]
    assert all(f["headers"]["error"]["module"] for f in failed)


def test_invalid_utf8_among_text_lines(harness, tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"ok\n\xc3\x28\nstill ok\n")
    with harness(FileIn, {"paths": [str(log)], **FAST}) as h:
        events = h.collect("outbox", 2)
        [failed] = h.collect("failed", 1)
    assert lines_of(events) == ["ok", "still ok"]
    assert failed["data"] == b"\xc3\x28"


def test_checkpoint_advances_only_once_delivered_and_resumes(harness, tmp_path):
    log = tmp_path / "a.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    size = log.stat().st_size
    checkpoint = tmp_path / "state" / "checkpoint.json"
    config = {"paths": [str(log)], "checkpoint": str(checkpoint), **FAST}
    with harness(FileIn, config) as h:
        held = h.collect("outbox", 100)  # the test holds the events: they are not delivered yet
        gevent.sleep(0.2)
        assert checkpoint_offsets(checkpoint).get(str(log), 0) == 0
        del held
        gc.collect()
        wait_for(lambda: checkpoint_offsets(checkpoint).get(str(log)) == size)
    append(log, "".join(f"more {i}\n" for i in range(50)))
    with harness(FileIn, config) as h:
        resumed = h.collect("outbox", 50)
        gevent.sleep(0.2)
        assert h.collected("outbox") == []
    assert lines_of(resumed) == [f"more {i}" for i in range(50)]
    assert not (tmp_path / "state" / "checkpoint.json.tmp").exists()


def test_lines_abandoned_by_a_forced_stop_are_read_again(harness, tmp_path):
    log = tmp_path / "a.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    checkpoint = tmp_path / "cp.json"
    config = {"paths": [str(log)], "checkpoint": str(checkpoint), **FAST}
    with harness(FileIn, config) as h:
        held = h.collect("outbox", 100)
        mark_abandoned(held)  # what a stop whose deadline passed does to events never attempted
        del held
        gc.collect()
        gevent.sleep(0.2)
        assert checkpoint_offsets(checkpoint).get(str(log), 0) == 0
    with harness(FileIn, config) as h:
        again = h.collect("outbox", 100)
    assert lines_of(again) == [f"line {i}" for i in range(100)]


def test_without_a_checkpoint_events_are_not_tracked(harness, tmp_path):
    log = tmp_path / "a.log"
    log.write_text("a\nb\n")
    with harness(FileIn, {"paths": [str(log)], **FAST}) as h:
        events = h.collect("outbox", 2)
        assert h.module.metrics()["unsettled"] == 0, "batches kept that no checkpoint will ever read"
    assert [delivery_of(e) for e in events] == [None, None]
    with harness(FileIn, {"paths": [str(log)], "checkpoint": str(tmp_path / "cp.json"), **FAST}) as h:
        tracked = h.collect("outbox", 2)
    assert all(delivery_of(e) is not None for e in tracked)


def test_a_reused_inode_is_not_resumed(harness, tmp_path):
    log = tmp_path / "a.log"
    log.write_text("first file\n")
    checkpoint = tmp_path / "cp.json"
    config = {"paths": [str(log)], "checkpoint": str(checkpoint), **FAST}
    with harness(FileIn, config) as h:
        h.collect("outbox", 1)
    with open(log, "r+") as f:  # the same inode, other content, longer than the old offset
        f.write("another file entirely\nsecond line\n")
    with harness(FileIn, config) as h:
        got = lines_of(h.collect("outbox", 2))
    assert got == ["another file entirely", "second line"]


def test_one_reader_per_checkpoint(harness, tmp_path):
    config = {"paths": [str(tmp_path / "*.log")], "checkpoint": str(tmp_path / "cp.json"), **FAST}
    with harness(FileIn, config):
        second = harness(FileIn, config, name="second")
        with pytest.raises(RuntimeError, match="in use by another file_in"):
            second.start()


def test_read_mode_finishes_at_the_end(harness, tmp_path):
    (tmp_path / "a.log").write_text("a1\na2\n")
    (tmp_path / "b.log").write_text("b1\nno newline at the end")
    with harness(FileIn, {"paths": [str(tmp_path / "*.log")], "mode": "read", **FAST}) as h:
        got = sorted(lines_of(h.collect("outbox", 4)))
        wait_for(lambda: h.module.finished)
    assert got == ["a1", "a2", "b1", "no newline at the end"]


@pytest.mark.parametrize(
    "bad",
    [
        {"paths": []},
        {"paths": ["x"], "decode": "yaml"},
        {"paths": ["x"], "max_line_bytes": 0},
        {"paths": ["x"], "poll_interval": 0},
    ],
)
def test_bad_parameters_are_refused(harness, bad):
    with pytest.raises(ValueError):
        harness(FileIn, bad)
