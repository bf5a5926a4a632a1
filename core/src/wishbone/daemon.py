"""Processes: detaching into the background, and a parent that supervises worker processes.

The parent never starts a gevent hub, opens a socket or spawns a greenlet: it forks the
workers first, and each worker builds its own pipeline (hub, sockets, broker connections)
after the fork. The parent then only waits: it restarts a worker that died (with backoff),
forwards SIGTERM/SIGINT to the workers so they drain, kills them with SIGKILL if they
outlive the drain deadline (or on a second signal), and keeps the pidfile up to date.

A worker whose inputs have all finished (a counted ``testevent``, a file read to its end)
drains, says ``finished`` on its status pipe and exits 0; it is not restarted (that would
replay its input), and once every worker has finished the parent exits 0 too.

SIGHUP never stops anything: the parent and every worker reopen their log files
(logrotate's ``postrotate kill -HUP``) and log that they did, each worker has its modules
reopen the files they write (``Module.reopen``: ``file_out``), then the configuration is
reloaded. The parent checks the bootstrap file first: if it fails, the error is logged with its
path and the running pipelines go on (each worker, told to reopen its logs, checks it too and
refuses as well). If it loads, the parent has its workers reload one at a time: it sends SIGHUP
to one, waits for its ``0 reloaded`` (or ``0 reload-refused``) on the status pipe, then the next,
so that with ``--instances N`` the others carry the load meanwhile. A worker reloads with
:meth:`wishbone.pipeline.Pipeline.reload`: unchanged modules keep running.

Nothing here monkey-patches gevent: modules use gevent's own socket and queue APIs.
"""

from __future__ import annotations

import gc
import logging
import os
import select
import signal
import sys
import time
from dataclasses import dataclass

from wishbone import log as wblog
from wishbone import pidfile
from wishbone.bootstrap import EX_CONFIG, BootstrapError
from wishbone.log import source_logger

__all__ = ["Supervisor", "detach", "hangup", "read_status", "reload_pipeline", "run_worker", "set_title"]

MARGIN = 5.0  # seconds the parent allows beyond the drain deadline before SIGKILL
BACKOFF_MAX = 30.0
HEALTHY_AFTER = 30.0  # a worker that ran this long starts its backoff from scratch
ACTIVITY_INTERVAL = 2.0  # seconds between a module's activity lines at log level debug
FINISHED = "finished"  # what a worker says on its status pipe when its inputs are done
RELOADED = "reloaded"  # ... once it has reloaded its bootstrap file
REFUSED = "reload-refused"  # ... when the new file could not be loaded (the old pipeline goes on)
RELOAD_WAIT = 30.0  # seconds the parent waits for a worker's reload beyond the drain deadline


def set_title(title: str) -> None:
    """Set this process's title (``ps``, ``top``), if ``setproctitle`` is installed."""
    try:
        import setproctitle
    except ImportError:  # a core dependency, but a missing title is no reason to fail
        return
    setproctitle.setproctitle(title)


def hangup(log: logging.LoggerAdapter, pipeline=None) -> None:
    """What SIGHUP does first, in the parent and in each worker: reopen the log files.

    In a worker (*pipeline* given) every running module that defines
    :meth:`~wishbone.module.Module.reopen` (``file_out``) then reopens its files. Then the
    parent checks the file and rolls the reload over its workers, and a worker reloads
    (:func:`reload_pipeline`).
    """
    reopened = wblog.reopen()
    where = ", ".join(reopened) if reopened else "none: logging to a stream or syslog"
    log.info("SIGHUP: reopened log files (%s).", where)
    if pipeline is not None:
        modules = pipeline.reopen()
        if modules:
            log.info("SIGHUP: reopened the files of %s.", ", ".join(modules))


def freeze_heap() -> None:
    """Move every object that exists now out of the cyclic garbage collector's scans, and collect less often.

    Called in a worker once its pipeline runs (and again after a reload): the imported code
    and the modules built at start live as long as the process, yet every full collection
    walked them, a cost charged to whichever event allocated last (bench/bench_http.py's
    ``gc.freeze()`` row: 2.05 -> 1.56 CPU us per event through http_in). Objects made later
    are collected as before; reference counting frees the frozen ones as always, only a
    frozen *cycle* waits for :func:`gc.unfreeze`, which a reload calls first.

    The youngest generation is collected every 10,000 allocations instead of 700: events are
    containers that live for a few hand-offs and rarely form cycles, and a batch in flight
    is thousands of them (``python bench/bench_syslog.py --instructions``, syslog over TCP
    through the real command: 33,072 -> 30,292 instructions per message; UDP unchanged).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def refused(log: logging.LoggerAdapter, exc: BootstrapError) -> None:
    """Log every error of a bootstrap file that a reload could not load (the pipeline goes on)."""
    for error in exc.errors:
        log.error("Reload refused, the running pipeline goes on: %s", error)


def reload_pipeline(pipeline, config: str, log: logging.LoggerAdapter, deadline: float) -> bool:
    """Load *config* again and :meth:`~wishbone.pipeline.Pipeline.reload` *pipeline* with it; True if it did.

    An error in the file (or a module refusing its parameters) is logged with its path and
    changes nothing.
    """
    from wishbone.bootstrap import load_file

    try:
        changes = pipeline.reload(load_file(config), deadline)
    except BootstrapError as exc:
        refused(log, exc)
        return False
    except Exception as exc:
        log.error("Reload failed: %s: %s", type(exc).__name__, exc)
        log.debug("Reload failure", exc_info=True)
        return False
    log.info(
        "Reloaded: kept %s; started %s; stopped %s.",
        ", ".join(changes["kept"]) or "none",
        ", ".join(changes["started"]) or "none",
        ", ".join(changes["stopped"]) or "none",
    )
    return True


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


def report(fd: int | None, code: int, message: str, close: bool = True) -> None:
    """Write one status line (``code message``) to *fd* and close it (unless not *close*); None does nothing."""
    if fd is None:
        return
    try:
        os.write(fd, f"{code} {message}".replace("\n", " ").encode("utf-8", "replace") + b"\n")
        if close:
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
def run_worker(config: str, instance: int, deadline: float, ready_fd: int, control_path: str | None = None) -> int:
    """Run one pipeline in this (freshly forked) process until it is stopped or finished; return an exit code.

    Writes ``0 ok`` on *ready_fd* once the pipeline has started, or ``78 <error>`` if the
    bootstrap file cannot be built; later ``0 finished`` if every input finished (then
    the worker drains and exits by itself). Exit 0 means it drained within *deadline*.
    With *control_path*, it listens there for ``wishbone top`` and ``tap``
    (:mod:`wishbone.controlsocket`) while it runs.
    """
    import gevent
    from gevent.exceptions import LoopExit

    from wishbone.pipeline import Pipeline

    log = source_logger(f"Instance #{instance}")
    early: list[int] = []  # a stop asked for while the pipeline was still being built
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, frame: early.append(number))
    hups: list[int] = []
    signal.signal(signal.SIGHUP, lambda number, frame: hups.append(number))
    try:
        pipeline = Pipeline.from_file(config, instance=instance)
    except BootstrapError as exc:
        log.error("%s", exc)
        report(ready_fd, EX_CONFIG, str(exc))
        return EX_CONFIG
    import gevent.lock

    one_at_a_time = gevent.lock.Semaphore()
    done: list[bool] = []  # set once the worker has finished: nothing left to reload

    def on_hangup() -> None:
        hangup(log, pipeline)
        with one_at_a_time:
            if done or pipeline.finished:
                return
            gc.unfreeze()  # what the reload lets go of may be frozen cycles: collectable again
            ok = reload_pipeline(pipeline, config, log, deadline)
            freeze_heap()
            report(ready_fd, 0, RELOADED if ok else REFUSED, close=False)

    gevent.signal_handler(signal.SIGTERM, pipeline.request_stop)
    gevent.signal_handler(signal.SIGINT, pipeline.request_stop)
    gevent.signal_handler(signal.SIGHUP, gevent.spawn, on_hangup)
    if early:
        pipeline.request_stop()
    if hups:
        hangup(log)  # the pipeline was just built from the file as it is now
    describe(pipeline, log)
    try:
        pipeline.start()
    except Exception as exc:
        log.error("Failed to start: %s: %s", type(exc).__name__, exc)
        log.debug("Start failure", exc_info=True)
        report(ready_fd, 1, f"Instance #{instance} failed to start: {type(exc).__name__}: {exc}")
        pipeline.stop(min(deadline, 5.0))
        return 1
    control = None
    if control_path is not None:
        from wishbone.controlsocket import ControlServer

        control = ControlServer(pipeline, control_path)
        try:
            control.start()
        except OSError as exc:
            log.warning("No control socket (top, tap) at %s: %s", control_path, exc.strerror or exc)
            control = None
    freeze_heap()
    report(ready_fd, 0, "ok", close=False)
    activity = ActivityLog(pipeline, log) if log.isEnabledFor(logging.DEBUG) else None
    finished = False
    try:
        pipeline.wait()
        finished = bool(getattr(pipeline, "finished", False))
    except LoopExit:
        # The hub has nothing left to wait for: no socket, no timer, no greenlet that can
        # wake. With every input done this is the end of the work, not a crash.
        log.info("Nothing is left to run (every input is done or waits on nothing); finishing.")
        finished = True
    if activity is not None:
        activity.stop()
    if control is not None:
        control.stop()
    done.append(True)
    with one_at_a_time:  # a reload under way completes before the drain
        pass
    if finished:
        log.info("Finished: draining within %g s, then exiting.", deadline)
    else:
        log.info("Stopping: draining within %g s.", deadline)
    drained = pipeline.stop(deadline)
    if drained:
        log.info("Drained and stopped.")
    else:
        log.warning("Stopped at the deadline without draining everything.")
    if finished:
        report(ready_fd, 0, FINISHED)
    else:
        os.close(ready_fd)
    return 0 if drained else 1


def describe(pipeline, log: logging.LoggerAdapter) -> None:
    """At log level debug: every module's parameters as loaded (secrets masked), its queues, every route."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    from wishbone.params import parameters_of

    for name, spec in pipeline.bootstrap.modules.items():
        values = {p.name: spec.variables.get(p.name, p.default) for p in parameters_of(spec.cls)}
        values.update({k: v for k, v in spec.variables.items() if k not in values})  # **kwargs modules
        kind = getattr(spec.cls, "kind", None) or "module"
        log.debug("Module %r: %s %r (%s) with parameters %s", name, kind, spec.module, spec.group, _show(values))
        if spec.queues:
            log.debug("Module %r: queue options %s", name, _show(spec.queues))
    for route in pipeline.bootstrap.routes:
        log.debug("Route %s.%s -> %s.%s", route.source, route.source_queue, route.destination, route.destination_queue)
    if not pipeline.bootstrap.routes:
        log.debug("No routes.")
    metrics = pipeline.bootstrap.metrics
    if metrics.enable:
        log.debug(
            "Metrics: %r (%s) every %g s with parameters %s",
            metrics.module,
            metrics.group,
            metrics.interval,
            _show(metrics.variables),
        )
    else:
        log.debug("Metrics: off.")


def _show(value: object) -> str:
    import json

    return json.dumps(wblog.mask(value), default=repr, sort_keys=True)


class ActivityLog:
    """At log level debug: every :data:`ACTIVITY_INTERVAL` s, one line per module whose counters moved.

    Read from :meth:`Pipeline.snapshot` on an unreferenced timer: never a log call per event,
    and the timer never keeps a finished worker alive. Readiness changes are logged too.
    """

    def __init__(self, pipeline, log: logging.LoggerAdapter, interval: float = ACTIVITY_INTERVAL) -> None:
        import gevent

        self.pipeline = pipeline
        self.log = log
        self.previous: dict[str, tuple] = {}
        self.ready: dict[str, bool] = {}
        self.timer = gevent.get_hub().loop.timer(interval, interval, ref=False)
        self.timer.start(gevent.spawn, self.tick)  # a greenlet: snapshot() may switch

    def stop(self) -> None:
        """Stop the timer."""
        self.timer.stop()
        self.timer.close()

    def tick(self) -> None:
        """One round of activity lines."""
        try:
            snapshot = self.pipeline.snapshot()
        except Exception as exc:  # a module's metrics() failing must not stop the worker
            self.log.debug("Activity: no snapshot (%s: %s).", type(exc).__name__, exc)
            return
        queues = snapshot.get("queues", {})
        for name, figures in snapshot.get("modules", {}).items():
            module = self.pipeline.modules.get(name)
            ready = getattr(module, "ready", None)
            if isinstance(ready, bool) and self.ready.get(name) is not ready:
                if name in self.ready or not ready:
                    self.log.debug("Module %r: %s.", name, "ready" if ready else "not ready (not connected/bound)")
                self.ready[name] = ready
            own = {q: f for q, f in queues.items() if q.startswith(f"{name}.")}
            state = (figures.get("consumed"), figures.get("failed"), *(tuple(f.values()) for f in own.values()))
            if self.previous.get(name) == state:
                continue
            self.previous[name] = state
            parts = [f"consumed {figures.get('consumed', 0)}", f"failed {figures.get('failed', 0)}"]
            for queue, f in own.items():
                parts.append(
                    f"{queue} in {f.get('in', 0)} out {f.get('out', 0)} dropped {f.get('dropped', 0)} "
                    f"size {f.get('size', 0)}"
                )
            self.log.debug("Activity of %r: %s.", name, "; ".join(parts))


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
    status_fd: int | None = None  # the worker's status pipe: "0 ok" once started, "0 finished" at the end
    buffer: bytes = b""
    ready: bool = False
    finished: bool = False
    started: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    exit_code: int | None = None
    restarts: int = 0
    reload_state: str | None = None  # RELOADED or REFUSED once it reported on the reload it was asked for


class Supervisor:
    """Forks *instances* workers for *config*, supervises them, and holds *pid_path*.

    :param pid_path: the pidfile, or None for none (a foreground run without ``--pid``).
    :param status_fd: where a detached daemon reports ``0 started`` or an error to the
        process that launched it (None in the foreground).
    :param name: the program's name, first word of the process titles
        (``wishbone: supervisor CONFIG``, ``wishbone: worker #0 CONFIG``).
    :param shown_config: the bootstrap file as the user named it, for the titles.
    """

    def __init__(
        self,
        config: str,
        instances: int,
        pid_path: str | None,
        deadline: float = 10.0,
        status_fd: int | None = None,
        name: str = "wishbone",
        shown_config: str | None = None,
    ) -> None:
        self.config = config
        self.instances = instances
        self.pid_path = pid_path
        self.deadline = deadline
        self.status_fd = status_fd
        self.name = name
        self.shown_config = shown_config or config
        self.log = source_logger("Server")
        self.workers = [Worker(k) for k in range(instances)]
        self._signals = 0
        self._hangups = 0
        self._roll: list[Worker] = []  # workers still to reload, one at a time
        self._rolling: Worker | None = None  # the one reloading now
        self._roll_deadline = 0.0
        self._stop_at: float | None = None
        self._forced = False
        self._result = 0

    # ------------------------------------------------------------------ entry
    def run(self) -> int:
        """Acquire the pidfile, start the workers, supervise until stopped or finished; return an exit code."""
        if self.pid_path is not None:
            try:
                stale = pidfile.acquire(self.pid_path, os.getpid())
            except pidfile.PidFileError as exc:
                self.log.error("%s", exc)
                report(self.status_fd, 1, str(exc))
                return 1
            if stale:
                self.log.info("Removed stale pidfile %s (pids %s).", self.pid_path, ", ".join(map(str, stale)))
        set_title(f"{self.name}: supervisor {self.shown_config}")
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        signal.signal(signal.SIGHUP, self._on_hangup)
        try:
            if self._start_all():
                self._supervise()
            self._wait_all()
        finally:
            if self.pid_path is not None:
                pidfile.remove(self.pid_path, os.getpid())
        self.log.info("Stopped (exit status %d).", self._result)
        return self._result

    def _on_signal(self, signum: int, frame: object) -> None:
        self._signals += 1  # acted upon by the loop, never here

    def _on_hangup(self, signum: int, frame: object) -> None:
        self._hangups += 1  # acted upon by the loop, never here

    def _hangup(self) -> None:
        """Act on SIGHUP: reopen the parent's log files, check the file, then reload the workers one by one.

        A file that does not load is logged (every error, with its path) and SIGHUP goes to every
        worker at once: they reopen their logs and refuse the reload too.
        """
        self._hangups = 0
        hangup(self.log)
        from wishbone.bootstrap import load_file

        try:
            load_file(self.config)
        except BootstrapError as exc:
            refused(self.log, exc)
            self._send(signal.SIGHUP)
            return
        self.log.info("Reloading %s: one instance at a time.", self.shown_config)
        for worker in self.workers:  # one reload at a time; the one reloading now goes round once more
            if not any(worker is w for w in self._roll):
                self._roll.append(worker)

    def _advance_roll(self) -> None:
        """Ask the next worker to reload once the current one has reported (or died, or timed out)."""
        current = self._rolling
        if current is not None:
            if current.reload_state is None and current.pid and time.monotonic() < self._roll_deadline:
                return
            if current.reload_state is None and current.pid:
                self.log.warning("Instance #%d did not report on its reload in time; going on.", current.instance)
            self._rolling = None
        while self._roll and self._stop_at is None:
            worker = self._roll.pop(0)
            if not worker.pid or worker.finished:
                continue  # gone or done: a restarted worker reads the new file anyway
            worker.reload_state = None
            self.log.info("Reloading instance #%d (pid %d).", worker.instance, worker.pid)
            try:
                os.kill(worker.pid, signal.SIGHUP)
            except ProcessLookupError:
                continue
            self._rolling = worker
            self._roll_deadline = time.monotonic() + self.deadline + RELOAD_WAIT
            return
        if not self._roll and current is not None and self._rolling is None:
            self.log.info("Reload done.")

    # ------------------------------------------------------------------ start-up
    def _start_all(self) -> bool:
        for worker in self.workers:
            self._spawn(worker)
        self._write_pidfile()
        failed: list[Worker] = []
        while not all(w.ready for w in self.workers):
            self._poll(0.1)
            failed = [w for w in self.workers if w.exit_code is not None and not w.finished]
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
        blocked = {*stops, signal.SIGHUP}
        signal.pthread_sigmask(signal.SIG_BLOCK, blocked)  # a signal now waits until each side is ready
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                os.close(r)
                for fd in [self.status_fd, *(x.status_fd for x in self.workers)]:
                    if fd is not None:
                        os.close(fd)
                for sig in stops:
                    signal.signal(sig, signal.SIG_DFL)
                signal.signal(signal.SIGHUP, signal.SIG_IGN)  # run_worker handles it; it never kills
                _die_with_parent()
                signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
                if os.getppid() != parent:  # the parent died before we asked to die with it
                    os._exit(1)
                # which server this worker belongs to (wb-udp: only one server's workers share a port)
                os.environ["WISHBONE_SERVER_PID"] = str(parent)
                set_title(f"{self.name}: worker #{worker.instance} {self.shown_config}")
                from wishbone.controlsocket import socket_path

                control = None if self.pid_path is None else socket_path(self.pid_path, worker.instance)
                code = run_worker(self.config, worker.instance, self.deadline, w, control)
            except BaseException:
                logging.getLogger("wishbone").exception("Instance #%d crashed", worker.instance)
            finally:
                logging.shutdown()
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
        os.close(w)
        os.set_blocking(r, False)  # read only what select() said is there; never hang on a worker
        worker.pid, worker.status_fd, worker.buffer, worker.ready = pid, r, b"", False
        worker.started, worker.exit_code, worker.restart_at = time.monotonic(), None, None

    # ------------------------------------------------------------------ the loop
    def _supervise(self) -> None:
        while self._stop_at is None:
            if self._signals:
                self._begin_stop()
                break
            if all(w.finished and not w.pid for w in self.workers):
                self.log.info("Every instance has finished its work.")
                break
            now = time.monotonic()
            for worker in self.workers:
                if worker.restart_at is not None and now >= worker.restart_at:
                    worker.restarts += 1
                    self._spawn(worker)
                    self._write_pidfile()
            self._poll(0.1)

    def _poll(self, timeout: float) -> None:
        """Wait up to *timeout* for a status line, then reap whatever has exited."""
        if self._hangups:
            self._hangup()
        fds = [w.status_fd for w in self.workers if w.status_fd is not None]
        if fds:
            try:
                readable = select.select(fds, [], [], timeout)[0]
            except InterruptedError:  # pragma: no cover (PEP 475 retries; kept for clarity)
                readable = []
        else:
            readable = []
            time.sleep(timeout)
        for worker in self.workers:
            if worker.status_fd in readable:
                self._read_status(worker)
        self._reap()
        if self._rolling is not None or self._roll:
            self._advance_roll()

    def _read_status(self, worker: Worker) -> bool:
        """Read what the worker's status pipe holds now; act on every whole line; close it at its end.

        False when there was nothing to read (the pipe is non-blocking).
        """
        fd = worker.status_fd
        if fd is None:
            return False
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            return False
        except OSError:
            chunk = b""
        if not chunk:
            os.close(fd)
            worker.status_fd = None
        worker.buffer += chunk
        *lines, worker.buffer = worker.buffer.split(b"\n")
        for line in lines:
            code, _, message = line.decode("utf-8", "replace").partition(" ")
            if code.isdigit():
                self._status(worker, int(code), message)
        return bool(chunk)

    def _status(self, worker: Worker, code: int, message: str) -> None:
        if code == 0 and message in (RELOADED, REFUSED):
            worker.reload_state = message
            if message == RELOADED:
                self.log.info("Instance #%d reloaded.", worker.instance)
            else:
                self.log.warning(
                    "Instance #%d refused the reload (its error is above); it runs as it was.", worker.instance
                )
        elif code == 0 and message == FINISHED:
            worker.finished = True
        elif code == 0:
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
        while worker.status_fd is not None:  # it may have reported just before exiting: read to the end
            if not self._read_status(worker) and worker.status_fd is not None:
                os.close(worker.status_fd)  # nothing more, yet not closed: a child of it holds the pipe
                worker.status_fd = None
        how = f"signal {-code}" if code < 0 else f"status {code}"
        if worker.finished:
            # Its inputs are done and it drained: restarting it would replay them.
            if code != 0:
                self._result = self._result or 1
            self.log.info("Instance #%d finished (%s); not restarted.", worker.instance, how)
            return
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
        for worker in self.workers:
            if worker.status_fd is not None:
                os.close(worker.status_fd)
                worker.status_fd = None

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
        if self.pid_path is None:
            return
        try:
            pidfile.write(self.pid_path, self._pids())
        except OSError as exc:
            self.log.error("Cannot update pidfile %s: %s", self.pid_path, exc.strerror)
