"""Process control: ``debug`` and ``start`` run a supervisor, ``stop``, ``kill`` and ``reload`` signal one.

The supervisor and its workers are :mod:`wishbone.daemon`; this room decides where the log
goes, detaches for ``start``, and reads the pidfile for ``stop`` and ``kill``.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import signal
import socket
import sys
import time
from typing import TYPE_CHECKING

from wishbone import daemon, pidfile
from wishbone.log import SeedFormatter

if TYPE_CHECKING:
    from wishbone.server import ParallelServer

__all__ = ["debug", "kill", "reload", "start", "stop"]

STOP_MARGIN = 10.0  # seconds `stop` waits beyond the drain deadline
SYSLOG_SOCKET = "/dev/log"
START_TIMEOUT = 60.0  # seconds `start` waits for the daemon to report its workers started


# --------------------------------------------------------------------------------- running
def debug(server: ParallelServer, args: argparse.Namespace) -> int:
    """Run in the foreground, logging to stderr (or ``--logfile``); Ctrl-C or SIGTERM drains and stops."""
    from wishbone import bootstrap

    boot = bootstrap.load_file(args.config)  # exit 78 before anything forks
    if args.pid and _held(server, args):
        return 1
    handler: logging.Handler
    if args.logfile:
        opened = _log_handler(server, args)
        if opened is None:
            return 1
        handler = opened
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(SeedFormatter())
    _log_to(handler, args.loglevel)
    server.log.info("Starting %s in foreground.", server.name)
    _warn(server, boot)
    return _supervisor(server, args).run()


def start(server: ParallelServer, args: argparse.Namespace) -> int:
    """Daemonize, then supervise the workers; return once they have started."""
    from wishbone import bootstrap

    boot = bootstrap.load_file(args.config)
    if _held(server, args):
        return 1
    handler = _log_handler(server, args)
    if handler is None:
        return 1
    is_daemon, fd = daemon.detach()
    if not is_daemon:
        status = daemon.read_status(fd, START_TIMEOUT + args.drain_deadline)
        where = "syslog" if args.syslog else args.logfile
        if status is None:
            print(f"{server.prog}: no word from the daemon; see the log in {where}", file=sys.stderr)
            return 1
        code, message = status
        if code != 0:
            print(f"{server.prog}: {message}", file=sys.stderr)
            return code
        print(f"{server.name} started with pids {message}; pidfile {args.pid}; log in {where}")
        return 0
    code = 1
    try:
        _log_to(handler, args.loglevel)
        server.log.info("Starting %s in background.", server.name)
        _warn(server, boot)
        code = _supervisor(server, args, status_fd=fd).run()
    except BaseException:
        logging.getLogger("wishbone").exception("The supervisor crashed")
    finally:
        logging.shutdown()
        os._exit(code)


def _held(server: ParallelServer, args: argparse.Namespace) -> bool:
    """True (after saying so) if a live process holds the pidfile; a pidfile that cannot be used raises."""
    held = pidfile.read(args.pid)
    if held and any(pidfile.alive(p) for p in held):
        print(f"{server.prog}: already running: pidfile {args.pid} holds live pid(s) {_pids(held)}", file=sys.stderr)
        return True
    return False


def _warn(server: ParallelServer, boot) -> None:
    """Log what ``validate`` would warn about (the pipeline starts all the same)."""
    for finding in boot.warnings:
        server.log.warning("%s: %s", boot.source, finding)


def _log_to(handler: logging.Handler, level: str) -> None:
    """Make *handler* the only one of the root logger, secrets scrubbed from every line it writes."""
    from wishbone.configfile import SecretFilter

    handler.addFilter(SecretFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


def _supervisor(server: ParallelServer, args: argparse.Namespace, status_fd: int | None = None) -> daemon.Supervisor:
    return daemon.Supervisor(
        args.config,
        args.instances,
        args.pid,
        args.drain_deadline,
        status_fd,
        name=server.slug,
        shown_config=args.shown_config,
    )


def _log_handler(server: ParallelServer, args: argparse.Namespace) -> logging.Handler | None:
    """The log handler of ``--logfile`` or ``--syslog``, opened now so a bad path is reported on the terminal."""
    handler: logging.Handler
    try:
        if args.syslog:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
                probe.connect(SYSLOG_SOCKET)  # the handler would fail silently later
            handler = logging.handlers.SysLogHandler(address=SYSLOG_SOCKET)
            handler.setFormatter(
                logging.Formatter(f"{server.slug}[%(process)d]: %(levelname)s %(source)s: %(message)s")
            )
            handler.addFilter(_add_source)
            return handler
        handler = logging.FileHandler(args.logfile, encoding="utf-8")
    except OSError as exc:
        where = f"syslog ({SYSLOG_SOCKET})" if args.syslog else f"log file {args.logfile}"
        print(f"{server.prog}: cannot open {where}: {exc.strerror or exc}", file=sys.stderr)
        return None
    handler.setFormatter(SeedFormatter())
    return handler


def _add_source(record: logging.LogRecord) -> bool:
    if not hasattr(record, "source"):
        record.source = record.name
    return True


# --------------------------------------------------------------------------------- controlling
def stop(server: ParallelServer, args: argparse.Namespace) -> int:
    """SIGTERM to the parent, then wait until the pidfile and every pid are gone."""
    pids = _running(server, args, "stop")
    if pids is None:
        return 1
    try:
        os.kill(pids[0], signal.SIGTERM)
    except PermissionError:
        print(f"{server.prog}: stop: not allowed to signal pid {pids[0]} (another user's process?)", file=sys.stderr)
        return 1
    wait = args.drain_deadline + STOP_MARGIN
    if _wait_gone(pids, args.pid, wait):
        print(f"{server.name} stopped (pids {_pids(pids)}).")
        return 0
    live = [p for p in pids if pidfile.alive(p)]
    print(f"{server.prog}: still running after {wait:g} s (pids {_pids(live)}); `kill` forces it", file=sys.stderr)
    return 1


def reload(server: ParallelServer, args: argparse.Namespace) -> int:
    """Check ``--config`` if given (exit 78, nothing sent, if it fails), then SIGHUP the parent.

    The parent checks the file again, then has its workers reload one at a time (see
    :mod:`wishbone.daemon`); the log says how each went.
    """
    if args.config:
        from wishbone import bootstrap

        bootstrap.load_file(args.shown_config)
    pids = _running(server, args, "reload")
    if pids is None:
        return 1
    try:
        os.kill(pids[0], signal.SIGHUP)
    except PermissionError:
        print(f"{server.prog}: reload: not allowed to signal pid {pids[0]} (another user's process?)", file=sys.stderr)
        return 1
    workers = len(pids) - 1
    print(
        f"{server.name}: reload asked of pid {pids[0]} (SIGHUP); its {workers} worker(s) reload one at a time: "
        "the log says 'Instance #k reloaded' or why not"
    )
    return 0


def kill(server: ParallelServer, args: argparse.Namespace) -> int:
    """SIGKILL to every pid of the pidfile (the parent first, so nothing restarts), remove the pidfile."""
    pids = _running(server, args, "kill", parent_required=False)
    if pids is None:
        return 1
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        except PermissionError:
            print(f"{server.prog}: kill: not allowed to signal pid {pid} (another user's process?)", file=sys.stderr)
            return 1
    _wait_gone(pids, None, 5.0)
    try:
        os.unlink(args.pid)
    except FileNotFoundError:
        pass
    print(f"{server.name} killed (pids {_pids(pids)}).")
    return 0


def _running(
    server: ParallelServer, args: argparse.Namespace, command: str, parent_required: bool = True
) -> list[int] | None:
    """The pids of the running server, or None after saying why there is nothing to *command*."""
    pids = pidfile.read(args.pid)
    if pids is None:
        print(f"{server.prog}: {command}: no pidfile {args.pid}: {server.name} is not running", file=sys.stderr)
        return None
    live = [p for p in pids if pidfile.alive(p)]
    if not live:
        os.unlink(args.pid)
        print(
            f"{server.prog}: {command}: stale pidfile {args.pid} (pids {_pids(pids)} are gone): removed it; "
            f"{server.name} was not running",
            file=sys.stderr,
        )
        return None
    foreign = [p for p in live if not pidfile.runs(p, (server.prog, server.name), titles=(f"{server.slug}: ",))]
    if foreign:
        print(
            f"{server.prog}: {command}: pid(s) {_pids(foreign)} in {args.pid} are not {server.name} processes "
            "(a stale pidfile whose pids were reused?); refusing to signal them",
            file=sys.stderr,
        )
        return None
    if parent_required and pids[0] not in live:
        print(
            f"{server.prog}: {command}: the parent pid {pids[0]} is gone but pid(s) {_pids(live)} still run; use kill",
            file=sys.stderr,
        )
        return None
    return pids


def _pids(pids: list[int]) -> str:
    return ", ".join(map(str, pids))


def _wait_gone(pids: list[int], path: str | None, timeout: float) -> bool:
    """Wait until no pid in *pids* lives and *path* (if given) no longer exists."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(pidfile.alive(p) for p in pids) and not (path and os.path.lexists(path)):
            return True
        time.sleep(0.05)
    return False
