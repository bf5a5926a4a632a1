"""Hostile pidfiles given to the real command: a symlink, a directory, garbage, a file owned by
another user, a pidfile naming a live process that is not ours. Each is refused safely: exit 1,
a clear message, the file left alone, and nothing signalled that should not be."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from wishbone.testing.cli import run_cli, write_bootstrap


@pytest.fixture
def bystander():
    """A live process that is not a wishbone server (``sleep``); killed after the test."""
    proc = subprocess.Popen(["sleep", "300"], stdin=subprocess.DEVNULL)
    yield proc
    proc.kill()
    proc.wait(timeout=5)


def _config(tmp_path: Path) -> str:
    return write_bootstrap(
        tmp_path / "c.json",
        {"input": ("testevent", {"interval": 1}), "output": ("null", {})},
        {"input.outbox": ["output.inbox"]},
    )


def _commands(tmp_path: Path, pid: Path) -> dict[str, subprocess.CompletedProcess]:
    log = str(tmp_path / "w.log")
    return {
        "stop": run_cli("stop", "--pid", str(pid), "--drain-deadline", "1", timeout=30),
        "kill": run_cli("kill", "--pid", str(pid), timeout=30),
        "start": run_cli("start", "--config", _config(tmp_path), "--pid", str(pid), "--logfile", log, timeout=30),
    }


def test_a_symlinked_pidfile_is_refused_and_never_followed(tmp_path, bystander):
    target = tmp_path / "target.pid"
    target.write_text(f"{bystander.pid}\n")
    link = tmp_path / "link.pid"
    link.symlink_to(target)
    results = _commands(tmp_path, link)
    for command, result in results.items():
        assert result.returncode == 1, (command, result)
        assert "symbolic link" in result.stderr and "Traceback" not in result.stderr, (command, result.stderr)
    assert bystander.poll() is None
    assert link.is_symlink() and target.read_text() == f"{bystander.pid}\n"


def test_a_directory_as_pidfile_is_refused(tmp_path):
    directory = tmp_path / "dir.pid"
    directory.mkdir()
    (directory / "keep").write_text("x")
    for command, result in _commands(tmp_path, directory).items():
        assert result.returncode == 1, (command, result)
        assert "not a regular file" in result.stderr and "Traceback" not in result.stderr, (command, result.stderr)
    assert (directory / "keep").read_text() == "x"


def test_a_file_that_is_not_a_pidfile_is_refused_not_removed(tmp_path, bystander):
    passwd = tmp_path / "passwd"
    passwd.write_text(f"root:x:0:0:root:/root:/bin/bash\n{bystander.pid}\n")
    for command, result in _commands(tmp_path, passwd).items():
        assert result.returncode == 1, (command, result)
        assert "does not look like a pidfile" in result.stderr, (command, result.stderr)
    assert passwd.exists() and bystander.poll() is None


def test_start_refuses_a_pidfile_naming_a_foreign_live_process(tmp_path, bystander):
    pid = tmp_path / "foreign.pid"
    pid.write_text(f"{bystander.pid}\n")
    result = run_cli("start", "--config", _config(tmp_path), "--pid", str(pid), "--logfile", str(tmp_path / "l"))
    assert result.returncode == 1 and "already running" in result.stderr
    assert bystander.poll() is None and pid.read_text() == f"{bystander.pid}\n"


@pytest.mark.parametrize("command", ["stop", "kill"])
def test_stop_and_kill_do_not_signal_a_foreign_process_named_in_the_pidfile(tmp_path, bystander, command):
    pid = tmp_path / "foreign.pid"
    pid.write_text(f"{bystander.pid}\n")
    result = run_cli(command, "--pid", str(pid), "--drain-deadline", "1", timeout=30)
    survived = bystander.poll() is None
    assert survived, f"{command} signalled the bystander sleep (pid {bystander.pid}): {result.stdout}{result.stderr}"
    assert result.returncode == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a file owned by another user needs root")
def test_a_pidfile_owned_by_another_user_is_refused(tmp_path, bystander):
    pid = tmp_path / "theirs.pid"
    pid.write_text(f"{bystander.pid}\n")
    os.chown(pid, 65534, 65534)
    result = run_cli("kill", "--pid", str(pid), timeout=30)
    assert bystander.poll() is None, f"kill signalled pid {bystander.pid} from a pidfile owned by uid 65534"
    assert result.returncode == 1 and pid.exists()
