"""The command line of a Wishbone server: ``start``, ``stop``, ``debug``, ``kill``, ``reload``, ``list``, ``show``,
``validate``, ``test``, ``graph``, ``tap``, ``top``.

:class:`ParallelServer` is public so that a user's own script gets the same command line
under its own name and banner::

    #!/usr/bin/env python3
    from wishbone.server import ParallelServer

    ParallelServer(name="BrokerTest", version="0.1", author="Jelle Smet",
                   description="This setup generates a feedback loop to the RabbitMQ message broker.").main()

The rooms of this package, each where its name says:

* :mod:`wishbone.server.arguments`: the commands and options, and what each command requires;
* :mod:`wishbone.server.control`: process control (``debug``, ``start``, ``stop``, ``kill``,
  ``reload``), on top of the supervisor and workers of :mod:`wishbone.daemon`;
* :mod:`wishbone.server.catalog`: documentation rendering (``list``, ``show``, ``graph``);
* :mod:`wishbone.server.observe`: watching a running server (``top``, ``tap``) through its
  workers' control sockets (:mod:`wishbone.controlsocket`);
* :mod:`wishbone.server.validate`: checking a bootstrap file: ``validate`` (every error and
  warning) and ``test`` (config unit tests, :mod:`wishbone.configtest`).

Secrets (:mod:`wishbone.configfile`) are scrubbed from everything the commands print and from
every log line.

Exit codes: 0 ok, 1 a runtime error (already running, not running, a worker failed),
2 a usage error, 78 a configuration error (the bootstrap file: file, JSON path, what).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from typing import NoReturn

from wishbone import discovery, pidfile
from wishbone.bootstrap import EX_CONFIG, BootstrapError
from wishbone.configfile import scrub
from wishbone.log import source_logger
from wishbone.server import arguments, catalog, control, observe
from wishbone.server import validate as validation
from wishbone.server.arguments import EX_USAGE, UsageError

__all__ = ["EX_CONFIG", "EX_USAGE", "ParallelServer"]

#: The commands that print and exit: their output (stdout and stderr) is scrubbed of secrets.
PRINTING = ("list", "show", "validate", "test", "graph", "reload")


class _Scrubbed:
    """A text stream that writes through :func:`wishbone.configfile.scrub`."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(scrub(text))
        return len(text)

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


class ParallelServer:
    """A branded Wishbone command line: runs bootstrap files in one or more worker processes.

    :param name: the program's name (banner, ``Starting NAME``, process titles, default pidfile and log file names).
    :param version: shown in the banner and by ``--version``.
    :param description: a paragraph shown in the banner.
    :param author: shown in the banner.
    :param group: the default module group of ``list`` and ``show``.
    :param prog: the command name in the usage line (default: the script's file name).

    Each command is a ``cmd_NAME(args)`` method, so that a subclass may change one.
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
        scrubbed = sys.stdout, sys.stderr
        try:
            args = parser.parse_intermixed_args(argv)
            arguments.check(self, args)
            if args.command in PRINTING:  # a running server's stdout is data: left as it is
                sys.stdout, sys.stderr = _Scrubbed(sys.stdout), _Scrubbed(sys.stderr)
            return getattr(self, f"cmd_{args.command}")(args)
        except UsageError as exc:
            if not argv:
                print(self.banner(), file=sys.stderr)
            print(f"usage: {self.usage()}", file=sys.stderr)
            print(f"{self.prog}: error: {exc} (see {self.prog} --help)", file=sys.stderr)
            return EX_USAGE
        except BootstrapError as exc:
            for line in validation.error_lines(exc):
                print(scrub(f"{self.prog}: {line}" if not line.startswith(" ") else line), file=sys.stderr)
            return EX_CONFIG
        except pidfile.PidFileError as exc:
            print(f"{self.prog}: {exc}", file=sys.stderr)
            return 1
        except BrokenPipeError:  # `list | head`
            sys.stderr.close()
            return 1
        except KeyboardInterrupt:
            return 130
        finally:
            sys.stdout, sys.stderr = scrubbed

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
        return arguments.usage(self)

    def parser(self) -> argparse.ArgumentParser:
        """The argument parser (``command [NAME]`` and the options): :func:`wishbone.server.arguments.parser`."""
        return arguments.parser(self)

    def default_pidfile(self) -> str:
        """``<temp dir>/<name>.pid``."""
        return os.path.join(tempfile.gettempdir(), f"{self.slug}.pid")

    def default_logfile(self) -> str:
        """``<temp dir>/<name>.log``."""
        return os.path.join(tempfile.gettempdir(), f"{self.slug}.log")

    # ------------------------------------------------------------------ commands
    def cmd_debug(self, args: argparse.Namespace) -> int:
        """Run in the foreground, logging to stderr; Ctrl-C (SIGINT) or SIGTERM drains and stops."""
        return control.debug(self, args)

    def cmd_start(self, args: argparse.Namespace) -> int:
        """Daemonize, then supervise the workers; return once they have started."""
        return control.start(self, args)

    def cmd_stop(self, args: argparse.Namespace) -> int:
        """SIGTERM to the parent, then wait until the pidfile and every pid are gone."""
        return control.stop(self, args)

    def cmd_kill(self, args: argparse.Namespace) -> int:
        """SIGKILL to every pid of the pidfile (the parent first, so nothing restarts), remove the pidfile."""
        return control.kill(self, args)

    def cmd_validate(self, args: argparse.Namespace) -> int:
        """Load and build the bootstrap file (nothing starts); print every error and warning; exit 0 or 78."""
        return validation.validate(self, args)

    def cmd_reload(self, args: argparse.Namespace) -> int:
        """Check ``--config`` (if given), SIGHUP the parent, wait for its workers to report reloading one by one."""
        return control.reload(self, args)

    def cmd_test(self, args: argparse.Namespace) -> int:
        """Run config unit tests against the bootstrap file; a report, exit 0 if every test passed, else 1."""
        return validation.test(self, args)

    def cmd_graph(self, args: argparse.Namespace) -> int:
        """Print the routing table as a Mermaid, Graphviz dot or SVG picture."""
        return catalog.graph(self, args)

    def cmd_tap(self, args: argparse.Namespace) -> int:
        """Print sampled events passing ``NAME.QUEUE`` in every worker (JSON lines), up to ``--limit``."""
        return observe.tap(self, args)

    def cmd_top(self, args: argparse.Namespace) -> int:
        """Live rates, sizes and drops per queue and module, redrawn every ``--interval`` s (``--once``: once)."""
        return observe.top(self, args)

    def cmd_list(self, args: argparse.Namespace) -> int:
        """A table of the modules in ``--group``: name, kind, package, version, summary."""
        return catalog.list_modules(self, args)

    def cmd_show(self, args: argparse.Namespace) -> int:
        """A module's documentation: its kind, its docstring, its parameters and its queues."""
        return catalog.show_module(self, args)
