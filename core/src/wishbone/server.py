"""The command line of a Wishbone server: ``start``, ``stop``, ``debug``, ``kill``, ``list``, ``show``, ``validate``.

:class:`ParallelServer` is public so that a user's own script gets the same command line
under its own name and banner::

    #!/usr/bin/env python3
    from wishbone.server import ParallelServer

    ParallelServer(name="BrokerTest", version="0.1", author="Jelle Smet",
                   description="This setup generates a feedback loop to the RabbitMQ message broker.").main()

Exit codes: 0 ok, 1 a runtime error (already running, not running, a worker failed),
2 a usage error, 78 a configuration error (the bootstrap file: file, JSON path, what).
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import logging.handlers
import os
import re
import signal
import socket
import sys
import tempfile
import time
from typing import NoReturn

from wishbone import daemon, discovery, pidfile
from wishbone.bootstrap import EX_CONFIG, BootstrapError
from wishbone.log import LEVELS, SeedFormatter, source_logger
from wishbone.params import describe_type, parameters_of

__all__ = ["EX_CONFIG", "EX_USAGE", "ParallelServer"]

EX_USAGE = 2
STOP_MARGIN = 10.0  # seconds `stop` waits beyond the drain deadline
SYSLOG_SOCKET = "/dev/log"
START_TIMEOUT = 60.0  # seconds `start` waits for the daemon to report its workers started

COMMANDS = {
    "start": "Starts and daemonizes the program into the background.",
    "stop": "Stops a daemonized instance (gracefully: it drains first).",
    "debug": "Starts the program in the foreground without detaching.",
    "kill": "Kills the daemonized instance (SIGKILL, no drain).",
    "list": "Lists the available Wishbone modules in group.",
    "show": "Prints the documentation of module NAME in group.",
    "validate": "Checks the bootstrap file without starting it.",
}


class UsageError(Exception):
    """A command line that cannot be run as given (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected more than 0 seconds, got {text}")
    return value


class ParallelServer:
    """A branded Wishbone command line: runs bootstrap files in one or more worker processes.

    :param name: the program's name (banner, ``Starting NAME``, default pidfile and log file names).
    :param version: shown in the banner and by ``--version``.
    :param description: a paragraph shown in the banner.
    :param author: shown in the banner.
    :param group: the default module group of ``list`` and ``show``.
    :param prog: the command name in the usage line (default: the script's file name).
    """

    def __init__(
        self,
        name: str,
        version: str,
        description: str = "",
        author: str = "",
        group: str = discovery.DEFAULT_GROUP,
        prog: str | None = None,
    ) -> None:
        self.name = name
        self.version = version
        self.description = description
        self.author = author
        self.group = group
        self.prog = prog or os.path.basename(sys.argv[0] or name)
        self.slug = re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "wishbone"
        self.log = source_logger("Server")

    # ------------------------------------------------------------------ entry points
    def main(self, argv: list[str] | None = None) -> NoReturn:
        """Run the command line *argv* (default ``sys.argv[1:]``) and exit with its status."""
        sys.exit(self.run(argv))

    def run(self, argv: list[str] | None = None) -> int:
        """Run the command line *argv* and return the exit status (never raises for user errors)."""
        argv = sys.argv[1:] if argv is None else list(argv)
        parser = self.parser()
        try:
            args = parser.parse_args(argv)
            self._check(args)
            return getattr(self, f"cmd_{args.command}")(args)
        except UsageError as exc:
            if not argv:
                print(self.banner(), file=sys.stderr)
            print(f"usage: {self.usage()}", file=sys.stderr)
            print(f"{self.prog}: error: {exc} (see {self.prog} --help)", file=sys.stderr)
            return EX_USAGE
        except BootstrapError as exc:
            print(f"{self.prog}: {exc}", file=sys.stderr)
            return EX_CONFIG
        except pidfile.PidFileError as exc:
            print(f"{self.prog}: {exc}", file=sys.stderr)
            return 1
        except BrokenPipeError:  # `list | head`
            sys.stderr.close()
            return 1
        except KeyboardInterrupt:
            return 130

    # ------------------------------------------------------------------ texts
    def banner(self) -> str:
        """Name, version, author and description, as the seed printed them."""
        title = f"{self.name} version {self.version}"
        lines = [f"{title:<64}{self.author}".rstrip(), ""]
        if self.description:
            lines += [self.description, ""]
        return "\n".join(lines)

    def usage(self) -> str:
        """The one-line synopsis."""
        return (
            f"{self.prog} command --config file [--instances number] [--loglevel level] "
            "[--pid filename] [--group groupname]"
        )

    def parser(self) -> argparse.ArgumentParser:
        """The argument parser (``command [NAME]`` and the options)."""
        commands = "\n".join(f"  {name:<10} {text}" for name, text in COMMANDS.items())
        parser = _Parser(
            prog=self.prog,
            usage=self.usage(),
            description=self.banner(),
            epilog=f"commands:\n{commands}\n\nexit codes: 0 ok, 1 runtime error, 2 usage error, 78 configuration error",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.add_argument("command", choices=list(COMMANDS), metavar="command", help="one of: " + ", ".join(COMMANDS))
        parser.add_argument("module", nargs="?", metavar="NAME", help="the module to show (show only)")
        parser.add_argument("--config", metavar="file", help="the bootstrap file (start, debug, validate)")
        parser.add_argument(
            "--instances",
            type=_positive_int,
            default=1,
            metavar="number",
            help="the number of parallel worker processes (default 1)",
        )
        parser.add_argument(
            "--loglevel",
            choices=LEVELS,
            default="info",
            metavar="level",
            help=f"one of {', '.join(LEVELS)} (default info)",
        )
        parser.add_argument(
            "--pid",
            metavar="filename",
            default=self.default_pidfile(),
            help=f"the pidfile (default {self.default_pidfile()})",
        )
        parser.add_argument(
            "--group",
            metavar="groupname",
            default=self.group,
            help=f"the module group of list and show (default {self.group})",
        )
        parser.add_argument(
            "--drain-deadline",
            type=_seconds,
            default=10.0,
            metavar="seconds",
            help="how long a stop may take to drain before it is forced (default 10)",
        )
        parser.add_argument(
            "--logfile",
            metavar="filename",
            default=self.default_logfile(),
            help=f"where start writes its log (default {self.default_logfile()})",
        )
        parser.add_argument("--syslog", action="store_true", help="start logs to syslog (/dev/log) instead of a file")
        parser.add_argument("--version", action="version", version=f"{self.name} {self.version}")
        return parser

    def default_pidfile(self) -> str:
        """``<temp dir>/<name>.pid``."""
        return os.path.join(tempfile.gettempdir(), f"{self.slug}.pid")

    def default_logfile(self) -> str:
        """``<temp dir>/<name>.log``."""
        return os.path.join(tempfile.gettempdir(), f"{self.slug}.log")

    def _check(self, args: argparse.Namespace) -> None:
        if args.command in ("start", "debug", "validate") and not args.config:
            raise UsageError(f"{args.command} needs --config file")
        if args.command == "show" and not args.module:
            raise UsageError("show needs the name of a module: show NAME")
        if args.module and args.command != "show":
            raise UsageError(f"unexpected argument {args.module!r}")
        for attr in ("config", "pid", "logfile"):
            value = getattr(args, attr)
            if value:
                setattr(args, attr, os.path.abspath(value))  # a daemon runs in /

    # ------------------------------------------------------------------ running
    def cmd_debug(self, args: argparse.Namespace) -> int:
        """Run in the foreground, logging to stderr; Ctrl-C (SIGINT) or SIGTERM drains and stops."""
        from wishbone import bootstrap, log

        bootstrap.load_file(args.config)  # exit 78 before anything forks
        log.configure(args.loglevel, stream=sys.stderr)
        self.log.info("Starting %s in foreground.", self.name)
        return self._supervisor(args).run()

    def cmd_start(self, args: argparse.Namespace) -> int:
        """Daemonize, then supervise the workers; return once they have started."""
        from wishbone import bootstrap

        bootstrap.load_file(args.config)
        held = pidfile.read(args.pid)
        if held and any(pidfile.alive(p) for p in held):
            print(f"{self.prog}: already running: pidfile {args.pid} holds live pid(s) {_pids(held)}", file=sys.stderr)
            return 1
        handler = self._log_handler(args)
        if handler is None:
            return 1
        is_daemon, fd = daemon.detach()
        if not is_daemon:
            status = daemon.read_status(fd, START_TIMEOUT + args.drain_deadline)
            where = "syslog" if args.syslog else args.logfile
            if status is None:
                print(f"{self.prog}: no word from the daemon; see the log in {where}", file=sys.stderr)
                return 1
            code, message = status
            if code != 0:
                print(f"{self.prog}: {message}", file=sys.stderr)
                return code
            print(f"{self.name} started with pids {message}; pidfile {args.pid}; log in {where}")
            return 0
        code = 1
        try:
            root = logging.getLogger()
            for old in list(root.handlers):
                root.removeHandler(old)
            root.addHandler(handler)
            root.setLevel(args.loglevel.upper())
            self.log.info("Starting %s in background.", self.name)
            code = self._supervisor(args, status_fd=fd).run()
        except BaseException:
            logging.getLogger("wishbone").exception("The supervisor crashed")
        finally:
            logging.shutdown()
            os._exit(code)

    def _supervisor(self, args: argparse.Namespace, status_fd: int | None = None) -> daemon.Supervisor:
        return daemon.Supervisor(args.config, args.instances, args.pid, args.drain_deadline, status_fd)

    def _log_handler(self, args: argparse.Namespace) -> logging.Handler | None:
        """The daemon's log handler, opened now so a bad path is reported on the terminal."""
        handler: logging.Handler
        try:
            if args.syslog:
                with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
                    probe.connect(SYSLOG_SOCKET)  # the handler would fail silently later
                handler = logging.handlers.SysLogHandler(address=SYSLOG_SOCKET)
                handler.setFormatter(
                    logging.Formatter(f"{self.slug}[%(process)d]: %(levelname)s %(source)s: %(message)s")
                )
                handler.addFilter(_add_source)
                return handler
            handler = logging.FileHandler(args.logfile, encoding="utf-8")
        except OSError as exc:
            where = f"syslog ({SYSLOG_SOCKET})" if args.syslog else f"log file {args.logfile}"
            print(f"{self.prog}: cannot open {where}: {exc.strerror or exc}", file=sys.stderr)
            return None
        handler.setFormatter(SeedFormatter())
        return handler

    # ------------------------------------------------------------------ controlling
    def cmd_stop(self, args: argparse.Namespace) -> int:
        """SIGTERM to the parent, then wait until the pidfile and every pid are gone."""
        pids = self._running(args, "stop")
        if pids is None:
            return 1
        try:
            os.kill(pids[0], signal.SIGTERM)
        except PermissionError:
            print(f"{self.prog}: stop: not allowed to signal pid {pids[0]} (another user's process?)", file=sys.stderr)
            return 1
        wait = args.drain_deadline + STOP_MARGIN
        if _wait_gone(pids, args.pid, wait):
            print(f"{self.name} stopped (pids {_pids(pids)}).")
            return 0
        live = [p for p in pids if pidfile.alive(p)]
        print(f"{self.prog}: still running after {wait:g} s (pids {_pids(live)}); `kill` forces it", file=sys.stderr)
        return 1

    def cmd_kill(self, args: argparse.Namespace) -> int:
        """SIGKILL to every pid of the pidfile (the parent first, so nothing restarts), remove the pidfile."""
        pids = self._running(args, "kill", parent_required=False)
        if pids is None:
            return 1
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            except PermissionError:
                print(f"{self.prog}: kill: not allowed to signal pid {pid} (another user's process?)", file=sys.stderr)
                return 1
        _wait_gone(pids, None, 5.0)
        try:
            os.unlink(args.pid)
        except FileNotFoundError:
            pass
        print(f"{self.name} killed (pids {_pids(pids)}).")
        return 0

    def _running(self, args: argparse.Namespace, command: str, parent_required: bool = True) -> list[int] | None:
        """The pids of the running server, or None after saying why there is nothing to *command*."""
        pids = pidfile.read(args.pid)
        if pids is None:
            print(f"{self.prog}: {command}: no pidfile {args.pid}: {self.name} is not running", file=sys.stderr)
            return None
        live = [p for p in pids if pidfile.alive(p)]
        if not live:
            os.unlink(args.pid)
            print(
                f"{self.prog}: {command}: stale pidfile {args.pid} (pids {_pids(pids)} are gone): removed it; "
                f"{self.name} was not running",
                file=sys.stderr,
            )
            return None
        foreign = [p for p in live if not pidfile.runs(p, (self.prog, self.name))]
        if foreign:
            print(
                f"{self.prog}: {command}: pid(s) {_pids(foreign)} in {args.pid} are not {self.name} processes "
                "(a stale pidfile whose pids were reused?); refusing to signal them",
                file=sys.stderr,
            )
            return None
        if parent_required and pids[0] not in live:
            print(
                f"{self.prog}: {command}: the parent pid {pids[0]} is gone but pid(s) {_pids(live)} still run; "
                "use kill",
                file=sys.stderr,
            )
            return None
        return pids

    # ------------------------------------------------------------------ inspecting
    def cmd_validate(self, args: argparse.Namespace) -> int:
        """Load and build the bootstrap file (nothing starts); exit 0 or 78."""
        from wishbone.pipeline import Pipeline

        pipeline = Pipeline.from_file(args.config)
        routes = len(pipeline.bootstrap.routes)
        print(f"{args.config}: OK ({len(pipeline.modules)} module instance(s), {routes} route(s))")
        return 0

    def cmd_list(self, args: argparse.Namespace) -> int:
        """A table of the modules in ``--group``: name, package, version, summary."""
        rows = []
        for name, ep in discovery.available(args.group).items():
            dist = getattr(ep, "dist", None)
            package = dist.name if dist is not None else "?"
            version = dist.version if dist is not None else "?"
            try:
                summary = discovery.summary(ep.load())
            except Exception as exc:  # a broken package is listed, not fatal
                summary = f"(fails to import: {type(exc).__name__}: {exc})"
            rows.append((name, package, version, summary))
        if not rows:
            print(f"No modules installed in group {args.group!r}.")
            return 0
        header = ("NAME", "PACKAGE", "VERSION", "SUMMARY")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
        print(f"Modules in group {args.group}:\n")
        for row in [header, *rows]:
            print("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3])
        return 0

    def cmd_show(self, args: argparse.Namespace) -> int:
        """A module's documentation: its docstring, its parameters and its queues."""
        from wishbone.module import Module

        eps = discovery.available(args.group)
        if args.module not in eps:
            known = ", ".join(eps) or "none installed"
            print(
                f"{self.prog}: no module {args.module!r} in group {args.group!r} (available: {known})", file=sys.stderr
            )
            return 1
        ep = eps[args.module]
        try:
            cls = ep.load()
        except Exception as exc:
            print(f"{self.prog}: module {args.module!r} fails to import: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        dist = getattr(ep, "dist", None)
        where = f"{dist.name} {dist.version}, " if dist is not None else ""
        out = [f"{args.module} ({where}group {args.group}, {ep.value})", ""]
        out += [inspect.cleandoc(cls.__doc__ or "(no documentation)"), ""]
        params = parameters_of(cls)
        out.append("Parameters (from the signature of __init__):")
        if not params:
            out.append("  none")
        width = max([len(p.name) for p in params] + [4])
        for p in params:
            default = "required" if p.required else f"default {_json(p.default)}"
            out.append(f"  {p.name.ljust(width)}  {describe_type(p.annotation)}, {default}")
        out += ["", "Queues (from the class):"]
        if isinstance(cls, type) and issubclass(cls, Module):
            consumes = ", ".join(cls.consumes) or "none (an input)"
            emits = ", ".join(cls.source_queue_names()) + (
                " (and any queue the routing table names)" if cls.dynamic_queues else ""
            )
            out += [f"  consumes  {consumes}", f"  emits     {emits}"]
        else:
            out.append("  none (not a pipeline module: it is given the metrics snapshots)")
        print("\n".join(out))
        return 0


# --------------------------------------------------------------------------------- helpers
def _pids(pids: list[int]) -> str:
    return ", ".join(map(str, pids))


def _json(value: object) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _wait_gone(pids: list[int], path: str | None, timeout: float) -> bool:
    """Wait until no pid in *pids* lives and *path* (if given) no longer exists."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(pidfile.alive(p) for p in pids) and not (path and os.path.lexists(path)):
            return True
        time.sleep(0.05)
    return False


def _add_source(record: logging.LogRecord) -> bool:
    if not hasattr(record, "source"):
        record.source = record.name
    return True
