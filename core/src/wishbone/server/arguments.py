"""Argument parsing: the commands, the options, and what each command requires.

Nothing here runs anything: :func:`parser` builds the ``argparse`` parser of a
:class:`~wishbone.server.ParallelServer` and :func:`check` completes and checks what it parsed
(a usage error is a :class:`UsageError`, exit 2).
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, NoReturn

from wishbone.log import LEVELS

if TYPE_CHECKING:
    from wishbone.server import ParallelServer

__all__ = ["COMMANDS", "EX_USAGE", "UsageError", "check", "parser", "usage"]

EX_USAGE = 2

COMMANDS = {
    "start": "Starts and daemonizes the program into the background.",
    "stop": "Stops a daemonized instance (gracefully: it drains first).",
    "debug": "Starts the program in the foreground without detaching.",
    "kill": "Kills the daemonized instance (SIGKILL, no drain).",
    "list": "Lists the available Wishbone modules in group.",
    "show": "Prints the documentation of module NAME in group.",
    "validate": "Checks the bootstrap file without starting it.",
    "reload": "Reloads the running server's bootstrap file (as SIGHUP does); unchanged modules keep running.",
    "test": "Runs config unit tests: test --config file TESTFILE...; exit 0 if every test passed.",
    "graph": "Prints the routing table as a picture (--format mermaid, dot or svg).",
    "tap": "Prints a sample of the events passing NAME.QUEUE in every worker: tap NAME.QUEUE [--limit N].",
    "top": "Shows live rates, sizes and drops per queue and module, refreshed in place (--once: one table).",
}

GRAPH_FORMATS = ("mermaid", "dot", "svg")


class UsageError(Exception):
    """A command line that cannot be run as given (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def positive_int(text: str) -> int:
    """``--instances``: a whole number, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def seconds(text: str) -> float:
    """``--drain-deadline``: a number of seconds greater than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected more than 0 seconds, got {text}")
    return value


def level(text: str) -> str:
    """``--loglevel``: one of :data:`wishbone.log.LEVELS`, in any case (``DEBUG`` is ``debug``)."""
    value = text.strip().lower()
    if value not in LEVELS:
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {', '.join(LEVELS)})")
    return value


def usage(server: ParallelServer) -> str:
    """The one-line synopsis."""
    return (
        f"{server.prog} command --config file [--instances number] [--loglevel level] "
        "[--pid filename] [--group groupname]"
    )


def parser(server: ParallelServer) -> argparse.ArgumentParser:
    """The argument parser of *server* (``command [NAME]`` and the options)."""
    commands = "\n".join(f"  {name:<10} {text}" for name, text in COMMANDS.items())
    p = _Parser(
        prog=server.prog,
        usage=usage(server),
        description=server.banner(),
        epilog=f"commands:\n{commands}\n\nexit codes: 0 ok, 1 runtime error, 2 usage error, 78 configuration error",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("command", choices=list(COMMANDS), metavar="command", help="one of: " + ", ".join(COMMANDS))
    p.add_argument(
        "names", nargs="*", metavar="NAME", help="the module to show (show), the test files (test), NAME.QUEUE (tap)"
    )
    p.add_argument(
        "--config", metavar="file", help="the bootstrap file (start, debug, validate, test, graph; reload checks it)"
    )
    p.add_argument(
        "--instances",
        type=positive_int,
        default=1,
        metavar="number",
        help="the number of parallel worker processes (default 1)",
    )
    p.add_argument(
        "--loglevel",
        type=level,
        default="info",
        metavar="level",
        help=f"one of {', '.join(LEVELS)}, any case (default info)",
    )
    p.add_argument(
        "--pid",
        metavar="filename",
        default=None,
        help=f"the pidfile (default {server.default_pidfile()}; debug takes none unless given)",
    )
    p.add_argument(
        "--group",
        metavar="groupname",
        default=server.group,
        help=f"the module group of list and show (default {server.group})",
    )
    p.add_argument(
        "--drain-deadline",
        type=seconds,
        default=10.0,
        metavar="seconds",
        help="how long a stop may take to drain before it is forced (default 10)",
    )
    p.add_argument(
        "--logfile",
        metavar="filename",
        default=None,
        help=f"where start writes its log (default {server.default_logfile()}); debug writes here too if given",
    )
    p.add_argument("--syslog", action="store_true", help="start logs to syslog (/dev/log) instead of a file")
    p.add_argument("--strict", action="store_true", help="validate: treat warnings as errors (exit 78)")
    p.add_argument(
        "--format",
        choices=GRAPH_FORMATS,
        default="mermaid",
        metavar="format",
        help=f"graph: one of {', '.join(GRAPH_FORMATS)} (default mermaid)",
    )
    p.add_argument("--limit", type=int, default=0, metavar="number", help="tap: stop after this many events (0: never)")
    p.add_argument("--once", action="store_true", help="top: print one table and exit")
    p.add_argument(
        "--interval", type=seconds, default=2.0, metavar="seconds", help="top: seconds between refreshes (default 2)"
    )
    p.add_argument("--version", action="version", version=f"{server.name} {server.version}")
    return p


def check(server: ParallelServer, args: argparse.Namespace) -> None:
    """Check what each command requires and fill in the defaults that depend on the command."""
    if args.command in ("start", "debug", "validate", "test", "graph") and not args.config:
        raise UsageError(f"{args.command} needs --config file")
    args.module = args.names[0] if args.command == "show" and args.names else None
    args.tests = list(args.names) if args.command == "test" else []
    if args.command == "show" and not args.names:
        raise UsageError("show needs the name of a module: show NAME")
    if args.command == "test" and not args.names:
        raise UsageError("test needs one or more test files: test --config file TESTFILE...")
    args.queue = args.names[0] if args.command == "tap" and args.names else None
    if args.command == "tap" and (not args.queue or "." not in args.queue):
        raise UsageError("tap needs the queue to sample: tap NAME.QUEUE (e.g. tap input.outbox)")
    if args.limit < 0:
        raise UsageError("--limit must be 0 (no limit) or more")
    allowed = {"show": 1, "test": len(args.names), "tap": 1}.get(args.command, 0)
    if len(args.names) > allowed:
        raise UsageError(f"unexpected argument {args.names[allowed]!r}")
    if args.strict and args.command != "validate":
        raise UsageError("--strict is an option of validate")
    if args.format != "mermaid" and args.command != "graph":
        raise UsageError("--format is an option of graph")
    # A foreground run needs no pidfile: two debug runs side by side are fine. The others
    # share the default, so that `stop` finds what `start` started.
    args.pid_given = args.pid is not None
    if args.pid is None and args.command != "debug":
        args.pid = server.default_pidfile()
    if args.logfile is None and args.command == "start":
        args.logfile = server.default_logfile()
    args.shown_config = args.config  # as the user named it: for the process titles
    for attr in ("config", "pid", "logfile"):
        value = getattr(args, attr)
        if value:
            setattr(args, attr, os.path.abspath(value))  # a daemon runs in /
