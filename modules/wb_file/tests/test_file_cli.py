"""file_in -> file_out through the real ``wishbone`` command: at least once across a kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from wishbone.testing.cli import WISHBONE, kill_pidfile, read_pids, start_debug, wait_until, write_bootstrap

TOTAL = 200_000
STEP = 2_000
WIDTH = 12  # "line 000123\n": every line the same length, so a file's size counts its lines


def lines(start: int, stop: int) -> str:
    return "".join(f"line {i:06d}\n" for i in range(start, stop))


def reap(pid, *procs) -> None:
    """Teardown of a test's `wishbone debug` runs: kill what the pid file names, then any process left."""
    kill_pidfile(pid)
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)


def size(path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def test_kill_9_mid_stream_then_restart_loses_nothing(tmp_path):
    source, out, checkpoint = tmp_path / "in.log", tmp_path / "out" / "out.log", tmp_path / "state" / "cp.json"
    config = write_bootstrap(
        tmp_path / "b.json",
        {
            "in": ("file_in", {"paths": [str(source)], "checkpoint": str(checkpoint), "checkpoint_interval": 0.2}),
            "out": ("file_out", {"path": str(out)}),
        },
        {"in.outbox": ["out.inbox"]},
    )
    pid, log = tmp_path / "wishbone.pid", tmp_path / "wishbone.log"
    source.write_text("")
    first = start_debug(config, pid, log)
    second = None
    try:
        assert wait_until(out.exists, 30), log.read_text()[-3000:]
        written = killed_at = checkpointed = 0
        while written < TOTAL:  # an application writing its log while wishbone tails it
            with open(source, "a") as f:
                f.write(lines(written, written + STEP))
            written += STEP
            time.sleep(0.01)
            if second is None and size(out) >= 60_000 * WIDTH and _checkpointed(checkpoint):
                checkpointed = _checkpointed(checkpoint) // WIDTH  # it can only move on before the kill
                kill_pidfile(pid)  # kill -9, the supervisor and the worker at once
                first.wait(10)
                killed_at = size(out) // WIDTH
                second = start_debug(config, pid, log, append=True)
        assert second is not None, "no checkpoint while the pipeline was writing: nothing to kill mid-stream"
        assert killed_at < TOTAL, "killed after the end, not mid-stream"
        assert wait_until(lambda: size(out) >= TOTAL * WIDTH and _complete(out), 60), (
            f"{size(out) // WIDTH} lines written of {TOTAL}; " + log.read_text()[-3000:]
        )
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0, log.read_text()[-3000:]
    finally:
        reap(pid, first, second)
    got = out.read_text().splitlines()
    unique = set(got)
    assert unique == set(lines(0, TOTAL).splitlines()), f"{TOTAL - len(unique)} line(s) lost"
    duplicates = len(got) - len(unique)
    report = {
        "lines": TOTAL,
        "written_before_kill": killed_at,
        "checkpointed_before_kill": checkpointed,
        "delivered": len(got),
        "duplicates": duplicates,
    }
    print("KILL9 " + json.dumps(report))
    # The checkpoint moved while lines streamed, and what repeats is at most what was in
    # flight: written out after the checkpoint the restart resumed from.
    assert checkpointed > 0, report
    assert duplicates <= killed_at - checkpointed, report
    with open(checkpoint) as f:
        [entry] = json.load(f)["files"]
    assert entry["offset"] == size(source) and entry["ino"] == os.stat(source).st_ino


def _checkpointed(checkpoint) -> int:
    try:
        with open(checkpoint) as f:
            return sum(entry["offset"] for entry in json.load(f)["files"])
    except FileNotFoundError:
        return 0


def _complete(out) -> bool:
    return len(set(out.read_text().splitlines())) == TOTAL


def test_with_two_instances_one_reads_the_files(tmp_path):
    source, out, checkpoint = tmp_path / "in.log", tmp_path / "out.log", tmp_path / "cp.json"
    source.write_text(lines(0, 20_000))
    config = write_bootstrap(
        tmp_path / "b.json",
        {
            "in": ("file_in", {"paths": [str(source)], "checkpoint": str(checkpoint)}),
            "out": ("file_out", {"path": str(out)}),
        },
        {"in.outbox": ["out.inbox"]},
    )
    pid, log = tmp_path / "wishbone.pid", tmp_path / "wishbone.log"
    proc = start_debug(config, pid, log, "--instances", "2")
    try:
        assert wait_until(lambda: size(out) >= 20_000 * WIDTH, 30), log.read_text()[-3000:]
        time.sleep(1.0)  # time enough for a second reader, were there one, to repeat them
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()[-3000:]
    finally:
        reap(pid, proc)
    assert out.read_text() == lines(0, 20_000)
    assert "Files are read by instance #0 only" in log.read_text()
    assert "in use by another file_in" not in log.read_text()


def test_read_mode_through_the_cli_exits_0_with_the_checkpoint_at_the_end(tmp_path):
    source, out, checkpoint = tmp_path / "in.log", tmp_path / "out.log", tmp_path / "cp.json"
    source.write_text(lines(0, 50_000))
    config = write_bootstrap(
        tmp_path / "b.json",
        {
            "in": ("file_in", {"paths": [str(source)], "mode": "read", "checkpoint": str(checkpoint)}),
            "out": ("file_out", {"path": str(out)}),
        },
        {"in.outbox": ["out.inbox"]},
    )
    for _ in range(2):  # the second run finds everything checkpointed: it reads nothing, and ends too
        done = subprocess.run(
            [WISHBONE, "debug", "--config", config, "--pid", str(tmp_path / "pid")],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    assert out.read_text() == lines(0, 50_000)
    assert _checkpointed(checkpoint) == size(source)


def test_sighup_reopens_file_out_after_logrotate_moved_the_file(tmp_path):
    """logrotate's rename, then ``kill -HUP``: new lines land in a new file at the path, none lost."""
    source, out = tmp_path / "in.log", tmp_path / "out" / "out.log"
    rotated = tmp_path / "out" / "out.log.1"
    # check_interval: an hour, so that only SIGHUP can make file_out notice the rename
    config = write_bootstrap(
        tmp_path / "b.json",
        {
            "in": ("file_in", {"paths": [str(source)], "poll_interval": 0.05}),
            "out": ("file_out", {"path": str(out), "check_interval": 3600}),
        },
        {"in.outbox": ["out.inbox"]},
    )
    pid, log = tmp_path / "wishbone.pid", tmp_path / "wishbone.log"
    source.write_text(lines(0, 1_000))
    proc = start_debug(config, pid, log)
    try:
        assert wait_until(lambda: size(out) >= 1_000 * WIDTH, 30), log.read_text()[-3000:]
        os.rename(out, rotated)  # logrotate: rename, then postrotate kill -HUP
        with open(source, "a") as f:
            f.write(lines(1_000, 2_000))  # still written to the renamed file: no SIGHUP yet
        assert wait_until(lambda: size(rotated) >= 2_000 * WIDTH, 30), log.read_text()[-3000:]
        assert not out.exists()
        os.kill(read_pids(pid)[0], signal.SIGHUP)
        assert wait_until(lambda: "SIGHUP: reopened the files of out." in log.read_text(), 30), log.read_text()[-3000:]
        with open(source, "a") as f:
            f.write(lines(2_000, 3_000))
        assert wait_until(lambda: size(out) >= 1_000 * WIDTH, 30), log.read_text()[-3000:]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()[-3000:]
    finally:
        reap(pid, proc)
    assert rotated.read_text() == lines(0, 2_000)
    assert out.read_text() == lines(2_000, 3_000)
