"""The pidfile of a running server: every pid, the supervising parent first, one per line.

Rules: a pidfile is read and written without ever following a symbolic link; it is
created exclusively (two servers racing for one pidfile cannot both win); a pidfile
whose processes are all gone is *stale* and may be removed; one that still names a live
process is *held*. Updates (a worker restarted) replace the file atomically.
"""

from __future__ import annotations

import errno
import os
import stat

__all__ = ["PidFileError", "acquire", "alive", "read", "remove", "runs", "write"]

_MAX_SIZE = 4096


class PidFileError(Exception):
    """A pidfile that cannot be used: a symlink, not a regular file, not pids, or held."""


def alive(pid: int) -> bool:
    """True if process *pid* exists and is not a zombie (an unreaped corpse counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in (b"Z", b"X")


def runs(pid: int, programs: tuple[str, ...], titles: tuple[str, ...] = ()) -> bool:
    """True if process *pid* runs one of *programs* (an argument's file name), as far as /proc tells.

    A process that set its title (``wishbone: worker #0 FILE``) is recognised by a title
    starting with one of *titles*. Guards ``stop`` and ``kill`` against a pidfile naming
    somebody else's process (a stale pidfile whose pid was reused). Where /proc cannot be
    read, the pidfile is trusted.
    """
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        return False
    except OSError:
        return True
    args = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    if args and any(args[0].startswith(t) for t in titles):
        return True
    names = {os.path.basename(a) for a in args}
    return any(p in names for p in programs)


def read(path: str) -> list[int] | None:
    """The pids in *path*, or None if there is no such file.

    Raises :class:`PidFileError` for a symlink, a non-regular file, or content that is
    not a list of pids (so a mistyped ``--pid /etc/passwd`` is refused, not "cleaned").
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PidFileError(f"pidfile {path} is a symbolic link; refusing to follow it") from None
        raise PidFileError(f"cannot read pidfile {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PidFileError(f"pidfile {path} is not a regular file")
        if info.st_uid not in (os.geteuid(), 0):
            raise PidFileError(f"pidfile {path} belongs to uid {info.st_uid}, not to you; refusing to trust it")
        data = os.read(fd, _MAX_SIZE + 1)
    finally:
        os.close(fd)
    try:
        pids = [int(word) for word in data.decode("ascii").split()]
    except (UnicodeDecodeError, ValueError):
        pids = []
    if not pids or len(data) > _MAX_SIZE or any(p <= 0 for p in pids):
        raise PidFileError(f"{path} does not look like a pidfile; remove it or choose another --pid")
    return pids


def _create(path: str, pids: list[int]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, "".join(f"{p}\n" for p in pids).encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def acquire(path: str, pid: int) -> list[int]:
    """Create *path* holding *pid*; return the pids of a stale pidfile it removed first.

    Raises :class:`PidFileError` if a live process holds the pidfile.
    """
    removed: list[int] = []
    for _ in range(3):
        try:
            _create(path, [pid])
            return removed
        except FileExistsError:
            pass
        except OSError as exc:
            raise PidFileError(f"cannot create pidfile {path}: {exc.strerror}") from None
        pids = read(path)
        if pids is None:
            continue  # removed in between: try again
        live = [p for p in pids if alive(p)]
        if live:
            raise PidFileError(f"already running: pidfile {path} is held by live pid(s) {', '.join(map(str, live))}")
        _unlink(path)
        removed = pids
    raise PidFileError(f"cannot create pidfile {path}: it keeps reappearing")


def write(path: str, pids: list[int]) -> None:
    """Replace the content of *path* with *pids*, atomically (a rename never follows a link)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    _unlink(tmp)
    _create(tmp, pids)
    os.replace(tmp, path)


def remove(path: str, owner: int) -> bool:
    """Remove *path* if its first pid is *owner*; True if removed."""
    try:
        pids = read(path)
    except PidFileError:
        return False
    if not pids or pids[0] != owner:
        return False
    return _unlink(path)


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True
