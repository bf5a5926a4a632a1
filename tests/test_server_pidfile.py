"""The pidfile rules, in-process: exclusive creation, stale removal, no symlink ever followed."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from wishbone import pidfile


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait(timeout=10)
    return proc.pid


def test_acquire_creates_and_refuses_while_held(tmp_path):
    path = str(tmp_path / "x.pid")
    assert pidfile.acquire(path, os.getpid()) == []
    assert pidfile.read(path) == [os.getpid()]
    with pytest.raises(pidfile.PidFileError, match="already running: .* held by live pid"):
        pidfile.acquire(path, 12345)
    assert pidfile.read(path) == [os.getpid()]


def test_acquire_replaces_a_stale_pidfile_and_says_which(tmp_path):
    path = tmp_path / "x.pid"
    dead = _dead_pid()
    path.write_text(f"{dead}\n")
    assert pidfile.acquire(str(path), os.getpid()) == [dead]
    assert pidfile.read(str(path)) == [os.getpid()]


def test_write_is_atomic_and_replaces_a_symlink_instead_of_following_it(tmp_path):
    target = tmp_path / "target"
    target.write_text("keep\n")
    link = tmp_path / "x.pid"
    link.symlink_to(target)
    with pytest.raises(pidfile.PidFileError, match="symbolic link"):
        pidfile.read(str(link))
    with pytest.raises(pidfile.PidFileError, match="symbolic link"):
        pidfile.acquire(str(link), os.getpid())  # O_EXCL|O_NOFOLLOW: a symlink is never written through
    pidfile.write(str(link), [1, 2, 3])
    assert target.read_text() == "keep\n"
    assert not link.is_symlink() and pidfile.read(str(link)) == [1, 2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target", "x.pid"]  # no temporary left


def test_non_pid_content_and_non_files_are_refused(tmp_path):
    garbage = tmp_path / "garbage"
    garbage.write_text("hello world\n")
    with pytest.raises(pidfile.PidFileError, match="does not look like a pidfile"):
        pidfile.read(str(garbage))
    with pytest.raises(pidfile.PidFileError, match="not a regular file"):
        pidfile.read(str(tmp_path))
    assert pidfile.read(str(tmp_path / "missing")) is None


def test_remove_only_when_the_owner_is_first(tmp_path):
    path = str(tmp_path / "x.pid")
    pidfile.write(path, [111, 222])
    assert not pidfile.remove(path, 222)
    assert pidfile.remove(path, 111)
    assert pidfile.read(path) is None


def test_alive_treats_zombies_as_gone():
    assert pidfile.alive(os.getpid())
    proc = subprocess.Popen(["true"])
    try:
        # exited but not yet waited for: a zombie, which holds no pidfile
        deadline = time.monotonic() + 5
        while pidfile.alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not pidfile.alive(proc.pid)
        assert os.path.exists(f"/proc/{proc.pid}")  # still there, as a zombie
    finally:
        proc.wait(timeout=10)
