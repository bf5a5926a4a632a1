"""Processes: detaching into the background, and a parent that supervises worker processes.

The parent never starts a gevent hub, opens a socket or spawns a greenlet: it forks the
workers first, and each worker builds its own pipeline (hub, sockets, broker connections)
after the fork. The parent then only waits: it restarts a worker that died (with backoff),
forwards SIGTERM/SIGINT to the workers so they drain, kills them with SIGKILL if they
outlive the drain deadline (or on a second signal), and keeps the pidfile up to date.

Nothing here monkey-patches gevent: modules use gevent's own socket and queue APIs.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import sys
import time
from dataclasses import dataclass

from wishbone import pidfile
from wishbone.bootstrap import EX_CONFIG, BootstrapError
from wishbone.log import source_logger

__all__ = ["Supervisor", "detach", "read_status", "run_worker"]

MARGIN = 5.0  # seconds the parent allows beyond the drain deadline before SIGKILL
BACKOFF_MAX = 30.0
HEALTHY_AFTER = 30.0  # a worker that ran this long starts its backoff from scratch


# --------------------------------------------------------------------------------- detaching
def detach() -> tuple[bool, int]:
    """Double-fork into a daemon: new session, cwd ``/``, umask 022, std fds on /dev/null.

    Returns ``(True, status_fd)`` in the daemon, which reports on *status_fd* with
    :func:`report`; returns ``(False, status_fd)`` in the original process, which reads the
    report with :func:`read_status`. Call it before any gevent hub exists.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    r, w = os.pipe()
    pid = os.fork()
    if pid > 0:
        os.close(w)
        os.waitpid(pid, 0)
        return False, r
    os.close(r)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    os.umask(0o022)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    return True, w


def report(fd: int | None, code: int, message: str) -> None:
    """Write one status line (``code message``) to *fd* and close it; None does nothing."""
    if fd is None:
        return
    try:
        os.write(fd, f"{code} {message}".replace("\n", " ").encode("utf-8", "replace") + b"\n")
        os.close(fd)
    except OSError:
        pass


def read_status(fd: int, timeout: float) -> tuple[int, str] | None:
    """Read one status line from *fd* within *timeout* seconds; None if none came."""
    deadline = time.monotonic() + timeout
    data = b""
    try:
        while b"\n" not in data:
            left = max(0.0, deadline - time.monotonic())
            if not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    line = data.split(b"\n", 1)[0].decode("utf-8", "replace")
    code, _, message = line.partition(" ")
    if not code.isdigit():
        return None
    return int(code), message


# --------------------------------------------------------------------------------- the worker
def run_worker(config: str, instance: int, deadline: float, ready_fd: int) -> int:
    """Run one pipeline in this (freshly forked) process until SIGTERM/SIGINT; return an exit code.

    Writes ``0 ok`` on *ready_fd* once the pipeline has started, or ``78 <error>`` if the
    bootstrap file cannot be built. Exit 0 means it drained within *deadline*.
    """
    import gevent

    from wishbone.pipeline import Pipeline

    log = source_logger(f"Instance #{instance}")
    early: list[int] = []  # a stop asked for while the pipeline was still being built
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, frame: early.append(number))
    try:
        pipeline = Pipeline.from_file(config, instance=instance)
    except BootstrapError as exc:
        log.error("%s", exc)
        report(ready_fd, EX_CONFIG, str(exc))
        return EX_CONFIG
    gevent.signal_handler(signal.SIGTERM, pipeline.request_stop)
    gevent.signal_handler(signal.SIGINT, pipeline.request_stop)
    if early:
        pipeline.request_stop()
    try:
        pipeline.start()
    except Exception as exc:
        log.error("Failed to start: %s: %s", type(exc).__name__, exc)
        log.debug("Start failure", exc_info=True)
        report(ready_fd, 1, f"Instance #{instance} failed to start: {type(exc).__name__}: {exc}")
        pipeline.stop(min(deadline, 5.0))
        return 1
    report(ready_fd, 0, "ok")
    pipeline.wait()
    log.info("Stopping: draining within %g s.", deadline)
    drained = pipeline.stop(deadline)
    if drained:
        log.info("Drained and stopped.")
    else:
        log.warning("Stopped at the deadline without draining everything.")
    return 0 if drained else 1


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this worker if the parent dies (no orphaned workers)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# --------------------------------------------------------------------------------- the parent
@dataclass
class Worker:
    """One worker slot: its current process and its restart state."""

    instance: int
    pid: int = 0
    ready_fd: int | None = None
    ready: bool = False
    started: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    exit_code: int | None = None
    restarts: int = 0


class Supervisor:
    """Forks *instances* workers for *config*, supervises them, and holds *pid_path*.

    :param status_fd: where a detached daemon reports ``0 started`` or an error to the
        process that launched it (None in the foreground).
    """

    def __init__(
        self,
        config: str,
        instances: int,
        pid_path: str,
        deadline: float = 10.0,
        status_fd: int | None = None,
    ) -> None:
        self.config = config
        self.instances = instances
        self.pid_path = pid_path
        self.deadline = deadline
        self.status_fd = status_fd
        self.log = source_logger("Server")
        self.workers = [Worker(k) for k in range(instances)]
        self._signals = 0
        self._stop_at: float | None = None
        self._forced = False
        self._result = 0

    # ------------------------------------------------------------------ entry
    def run(self) -> int:
        """Acquire the pidfile, start the workers, supervise until stopped; return an exit code."""
        try:
            stale = pidfile.acquire(self.pid_path, os.getpid())
        except pidfile.PidFileError as exc:
            self.log.error("%s", exc)
            report(self.status_fd, 1, str(exc))
            return 1
        if stale:
            self.log.info("Removed stale pidfile %s (pids %s).", self.pid_path, ", ".join(map(str, stale)))
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        try:
            if self._start_all():
                self._supervise()
            self._wait_all()
        finally:
            pidfile.remove(self.pid_path, os.getpid())
        self.log.info("Stopped (exit status %d).", self._result)
        return self._result

    def _on_signal(self, signum: int, frame: object) -> None:
        self._signals += 1  # acted upon by the loop, never here

    # ------------------------------------------------------------------ start-up
    def _start_all(self) -> bool:
        for worker in self.workers:
            self._spawn(worker)
        self._write_pidfile()
        failed: list[Worker] = []
        while not all(w.ready for w in self.workers):
            self._poll(0.1)
            failed = [w for w in self.workers if w.exit_code is not None]
            if failed or self._signals:
                break
        else:
            pids = ", ".join(map(str, self._pids()))
            self.log.info("Started with pids: %s", pids)
            report(self.status_fd, 0, pids)
            self.status_fd = None
            return True
        self._begin_stop()
        if self._signals and not failed:
            report(self.status_fd, 1, "interrupted during start-up")
        else:
            report(self.status_fd, self._result or 1, "an instance failed to start; see the log")
        self.status_fd = None
        return False

    def _spawn(self, worker: Worker) -> None:
        r, w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        stops = {signal.SIGTERM, signal.SIGINT}
        signal.pthread_sigmask(signal.SIG_BLOCK, stops)  # a stop signal now waits until each side is ready
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                os.close(r)
                for fd in [self.status_fd, *(x.ready_fd for x in self.workers)]:
                    if fd is not None:
                        os.close(fd)
                for sig in stops:
                    signal.signal(sig, signal.SIG_DFL)
                _die_with_parent()
                signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
                if os.getppid() != parent:  # the parent died before we asked to die with it
                    os._exit(1)
                # which server this worker belongs to (wb-udp: only one server's workers share a port)
                os.environ["WISHBONE_SERVER_PID"] = str(parent)
                code = run_worker(self.config, worker.instance, self.deadline, w)
            except BaseException:
                logging.getLogger("wishbone").exception("Instance #%d crashed", worker.instance)
            finally:
                logging.shutdown()
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
        os.close(w)
        worker.pid, worker.ready_fd, worker.ready = pid, r, False
        worker.started, worker.exit_code, worker.restart_at = time.monotonic(), None, None

    # ------------------------------------------------------------------ the loop
    def _supervise(self) -> None:
        while self._stop_at is None:
            if self._signals:
                self._begin_stop()
                break
            now = time.monotonic()
            for worker in self.workers:
                if worker.restart_at is not None and now >= worker.restart_at:
                    worker.restarts += 1
                    self._spawn(worker)
                    self._write_pidfile()
            self._poll(0.1)

    def _poll(self, timeout: float) -> None:
        """Wait up to *timeout* for a ready report, then reap whatever has exited."""
        fds = [w.ready_fd for w in self.workers if w.ready_fd is not None]
        if fds:
            readable = select.select(fds, [], [], timeout)[0]
        else:
            readable = []
            time.sleep(timeout)
        for worker in self.workers:
            if worker.ready_fd in readable:
                self._read_ready(worker)
        self._reap()

    def _read_ready(self, worker: Worker, timeout: float = 0.5) -> None:
        fd = worker.ready_fd
        status = read_status(fd, timeout) if fd is not None else None
        worker.ready_fd = None
        if status is None:
            return  # closed without a word: it exited, reaping will tell
        code, message = status
        if code == 0:
            worker.ready = True
            if worker.restarts:
                self.log.info("Instance #%d restarted (pid %d).", worker.instance, worker.pid)
            else:
                self.log.info("Instance #%d started.", worker.instance)
        elif self.status_fd is not None:
            report(self.status_fd, code, message)
            self.status_fd = None

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = next((w for w in self.workers if w.pid == pid), None)
            if worker is not None:
                self._exited(worker, os.waitstatus_to_exitcode(status))

    def _exited(self, worker: Worker, code: int) -> None:
        pid, worker.pid, worker.exit_code = worker.pid, 0, code
        if worker.ready_fd is not None:  # it may have reported just before exiting
            self._read_ready(worker, timeout=0.0)
        how = f"signal {-code}" if code < 0 else f"status {code}"
        if self._stop_at is None and self._signals:
            # The same signal reached the worker too (Ctrl-C, or `timeout`, signals the whole
            # process group) and it exited before this loop acted on it: a stop, not a death.
            self._begin_stop()
        if self._stop_at is not None:
            if code != 0:
                self._result = self._result or 1
            self.log.info("Instance #%d exited (%s).", worker.instance, how)
            return
        if code == EX_CONFIG:
            self.log.error("Instance #%d cannot build its pipeline (configuration error); stopping.", worker.instance)
            self._result = EX_CONFIG
            self._begin_stop()
            return
        if not worker.ready and not worker.restarts:
            self.log.error("Instance #%d failed to start (%s); stopping.", worker.instance, how)
            self._result = code if code > 1 else 1
            return
        if time.monotonic() - worker.started >= HEALTHY_AFTER:
            worker.failures = 0
        delay = min(BACKOFF_MAX, 0.5 * 2**worker.failures)
        worker.failures += 1
        worker.restart_at = time.monotonic() + delay
        self.log.warning(
            "Instance #%d (pid %d) %s unexpectedly (%s); restarting in %g s.",
            worker.instance,
            pid,
            "died" if code < 0 else "exited",
            how,
            delay,
        )

    # ------------------------------------------------------------------ stopping
    def _begin_stop(self) -> None:
        if self._stop_at is not None:
            return
        self._stop_at = time.monotonic() + self.deadline + MARGIN
        for worker in self.workers:
            worker.restart_at = None
        live = [w.pid for w in self.workers if w.pid]
        if live:
            self.log.info(
                "Stopping: SIGTERM to pids %s (drain deadline %g s).", ", ".join(map(str, live)), self.deadline
            )
        self._send(signal.SIGTERM)

    def _wait_all(self) -> None:
        self._begin_stop()
        handled = self._signals
        while any(w.pid for w in self.workers):
            self._poll(0.1)
            if not self._forced and (self._signals > max(handled, 1) or time.monotonic() > self._stop_at):
                why = "a second signal" if self._signals > max(handled, 1) else "the deadline passed"
                self.log.warning("Forcing: SIGKILL to the workers (%s).", why)
                self._forced = True
                self._result = self._result or 1
                self._send(signal.SIGKILL)

    def _send(self, sig: int) -> None:
        for worker in self.workers:
            if worker.pid:
                try:
                    os.kill(worker.pid, sig)
                except ProcessLookupError:
                    pass

    # ------------------------------------------------------------------ pids
    def _pids(self) -> list[int]:
        return [os.getpid(), *(w.pid for w in self.workers if w.pid)]

    def _write_pidfile(self) -> None:
        try:
            pidfile.write(self.pid_path, self._pids())
        except OSError as exc:
            self.log.error("Cannot update pidfile %s: %s", self.pid_path, exc.strerror)
