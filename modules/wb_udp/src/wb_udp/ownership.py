"""Only the workers of one server share a UDP port: a lock file per address records its owner.

``SO_REUSEPORT`` lets every socket of the same user bind a port, and the kernel then splits
the traffic between them: the workers of one ``--instances N`` server want that, but a second,
unrelated server started on the same file would silently take part of the traffic. So before
binding, ``udp_in`` claims the address:

* Each address has a lock file, ``<lock dir>/udp-<address>-<port>.lock``, whose content names
  the server that owns the port (its pid and start time). The workers of that server hold the
  file with a shared ``flock`` while their sockets are bound; the kernel lets go of it when a
  process dies, however it dies.
* A server is the supervising ``wishbone`` process (it tells its workers its pid in the
  ``WISHBONE_SERVER_PID`` environment variable, checked against the worker's parent pid); a
  pipeline run in its own process (tests, a user's script) is a server of its own.
* A newcomer takes the directory's ``flock`` (a short critical section), then: if workers of
  its own server hold the file, it joins them; if workers of another server hold it, or nobody
  holds it but the recorded owner is alive (its worker is being restarted), it is **refused**
  with an error naming the port and the owner's pid; otherwise (no owner, or the recorded one
  is gone: stale) it takes the port over, after checking that no other process has the port
  bound (a bind without ``SO_REUSEPORT`` must succeed), and records itself.
* The last worker to let go of the port (a clean stop) clears the record.

The lock directory is ``$WISHBONE_LOCK_DIR`` or ``/tmp/wishbone-<uid>`` (``SO_REUSEPORT``
sharing is per user, and so is the directory: created ``0700``, refused if it is a symbolic
link, another user's, or writable by others). A fixed path, not ``$TMPDIR``: two shells with
different temporary directories must still see each other's claims.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import stat
import time

import gevent
from wishbone.pidfile import alive

__all__ = ["SERVER_ENV", "PortClaim", "lock_dir", "server_identity"]

#: Set by the supervisor in each worker it forks: the supervisor's pid.
SERVER_ENV = "WISHBONE_SERVER_PID"
_MUTEX_TIMEOUT = 5.0


def _start_time(pid: int) -> str:
    """The start time of *pid* in clock ticks since boot ('' if unknown): with the pid, an identity."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return ""


def server_identity() -> dict:
    """``{"pid": ..., "start": ...}`` of the server this process works for."""
    claimed = os.environ.get(SERVER_ENV, "")
    pid = int(claimed) if claimed.isdigit() and int(claimed) == os.getppid() else os.getpid()
    return {"pid": pid, "start": _start_time(pid)}


def _is_alive(owner: dict) -> bool:
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0 or not alive(pid):
        return False
    start = owner.get("start")
    return not start or not (now := _start_time(pid)) or now == start  # a reused pid is not the owner


def lock_dir() -> str:
    """The directory of the lock files, created if needed and checked (see the module docstring)."""
    path = os.environ.get("WISHBONE_LOCK_DIR") or f"/tmp/wishbone-{os.geteuid()}"
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise OSError(errno.ENOTDIR, f"lock directory {path} is not a directory (a symbolic link?)")
    if info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise OSError(errno.EPERM, f"lock directory {path} belongs to another user or is writable by others")
    return path


class PortClaim:
    """The claim of this process's server on one UDP address (see the module docstring).

    :param family: the socket family (for the check that nobody else has the port bound).
    :param address: the address to bind, as given.
    :param port: the port (not 0: a free port is nobody else's).
    """

    def __init__(self, family: int, address: str, port: int) -> None:
        self.family = family
        self.address = address
        self.port = port
        self.path = ""
        self._fd: int | None = None

    def acquire(self, timeout: float = _MUTEX_TIMEOUT) -> None:
        """Claim the port, or raise OSError(EADDRINUSE) naming it and its owner."""
        directory = lock_dir()
        name = f"udp-{self.address}-{self.port}.lock".replace("/", "_")
        self.path = os.path.join(directory, name)
        me = server_identity()
        with _Mutex(directory, timeout):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                self._claim(fd, me)
            except BaseException:
                os.close(fd)
                raise
        self._fd = fd

    def _claim(self, fd: int, me: dict) -> None:
        owner = _read(fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # workers hold it: whose?
            if not _same(owner, me):
                raise self._refusal(owner) from None
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # a sibling worker: share
            return
        # nobody holds the port: free, stale, or its owner's workers are between restarts
        if owner and not _same(owner, me) and _is_alive(owner):
            raise self._refusal(owner, "its workers are restarting")
        self._check_unbound()
        record = json.dumps({**me, "address": self.address, "port": self.port}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, record, 0)
        fcntl.flock(fd, fcntl.LOCK_SH)  # exclusive to shared: safe, the mutex is held

    def _check_unbound(self) -> None:
        """A bind without SO_REUSEPORT succeeds only if no socket (of anyone) has the port."""
        with socket.socket(self.family, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((self.address, self.port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                raise OSError(
                    errno.EADDRINUSE, "Address already in use by another process (not a wishbone server's)"
                ) from None

    def _refusal(self, owner: dict, why: str = "") -> OSError:
        pid = owner.get("pid", "?")
        detail = f", {why}" if why else ""
        return OSError(
            errno.EADDRINUSE,
            f"already used by another wishbone server (pid {pid}{detail}); only the workers of one server "
            f"share a port: stop that server or choose another port (lock file {self.path})",
        )

    def release(self) -> None:
        """Let go of the port; the last worker of the server clears the record (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            with _Mutex(os.path.dirname(self.path), 1.0):
                fcntl.flock(fd, fcntl.LOCK_UN)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    pass  # sibling workers still hold it
                else:
                    os.ftruncate(fd, 0)
                os.close(fd)  # inside the mutex: nobody may see our exclusive lock
                fd = None
        except OSError:
            pass  # the record stays; the next claim finds its owner gone or alive and acts on it
        finally:
            if fd is not None:
                os.close(fd)


def _read(fd: int) -> dict:
    try:
        data = os.pread(fd, 4096, 0)
        owner = json.loads(data) if data.strip() else {}
    except (OSError, ValueError):
        return {}
    return owner if isinstance(owner, dict) else {}


def _same(owner: dict, me: dict) -> bool:
    return owner.get("pid") == me["pid"] and (not owner.get("start") or owner.get("start") == me["start"])


class _Mutex:
    """The lock directory's own flock: one claim or release at a time, waited for cooperatively."""

    def __init__(self, directory: str, timeout: float) -> None:
        self.directory = directory
        self.timeout = timeout
        self._fd: int | None = None

    def __enter__(self) -> _Mutex:
        fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise OSError(errno.EAGAIN, f"lock directory {self.directory} stayed locked") from None
                gevent.sleep(0.005)
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None
