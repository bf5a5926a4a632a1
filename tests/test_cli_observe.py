"""``wishbone tap`` and ``wishbone top`` against a running server with two workers, for real."""

from __future__ import annotations

import json
import os
import signal
import stat
from pathlib import Path

from wishbone.testing.cli import read_pids, run_cli, start_debug, wait_until, write_bootstrap


def test_tap_samples_every_worker_and_top_shows_rates_sizes_and_drops(tmp_path):
    config = write_bootstrap(
        tmp_path / "b.json",
        {
            "input": ("testevent", {"interval": 0.002, "payload": {"hello": "tap"}}),
            "pass": ("passthrough", {}),
            "output": ("null", {}),
        },
        {"input.outbox": ["pass.inbox"], "pass.outbox": ["output.inbox"]},
    )
    pid, log = tmp_path / "w.pid", tmp_path / "w.log"
    proc = start_debug(config, pid, log, "--instances", "2")
    sockets = [Path(f"{pid}.0.sock"), Path(f"{pid}.1.sock")]
    try:
        assert wait_until(lambda: len(read_pids(pid)) == 3 and all(s.exists() for s in sockets), 15), log.read_text()
        for path in sockets:
            mode = path.stat().st_mode
            assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600  # the owner only

        tapped = run_cli("tap", "--pid", str(pid), "pass.inbox", "--limit", "40")
        assert tapped.returncode == 0, tapped.stderr
        lines = [json.loads(line) for line in tapped.stdout.splitlines()]
        assert len(lines) == 40
        assert {line["queue"] for line in lines} == {"pass.inbox"}
        assert {line["event"]["data"]["hello"] for line in lines} == {"tap"}
        assert {line["instance"] for line in lines} == {0, 1}  # from every worker

        missing = run_cli("tap", "--pid", str(pid), "pass.nosuch", "--limit", "1")
        assert missing.returncode == 1 and "no queue 'pass.nosuch'" in missing.stderr
        assert run_cli("tap", "--pid", str(pid)).returncode == 2  # no queue named

        top = run_cli("top", "--pid", str(pid), "--once", "--interval", "0.5")
        assert top.returncode == 0, top.stderr
        assert "2 instance(s)" in top.stdout
        row = next(line.split() for line in top.stdout.splitlines() if line.startswith("pass.inbox "))
        rate_in, total_in, dropped = float(row[1]), int(row[3]), int(row[5])
        assert rate_in > 0 and total_in > 0 and dropped == 0
        assert "\x1b[" not in top.stdout  # --once prints a plain table; the live view redraws in place
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert proc.returncode == 0
    assert not any(s.exists() for s in sockets)  # removed at exit
    assert not os.path.exists(pid)
    assert run_cli("top", "--pid", str(pid), "--once").returncode == 1  # nothing to watch: said so
