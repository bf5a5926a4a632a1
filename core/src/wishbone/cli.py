"""The ``wishbone`` command: a :class:`~wishbone.server.ParallelServer` named ``wishbone``.

Monkey-patching, were it ever needed, would happen here, at the process entry point, and
nowhere in library code; today nothing is patched: modules use gevent's own APIs.
"""

from __future__ import annotations

from typing import NoReturn

from wishbone import __version__
from wishbone.server import ParallelServer

__all__ = ["main", "server"]


def server() -> ParallelServer:
    """The ``wishbone`` server: the stock name, version and banner."""
    return ParallelServer(
        name="wishbone",
        version=__version__,
        author="The Wishbone developers",
        description="Runs event pipelines described by a bootstrap file, in one or more worker processes.",
    )


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the ``wishbone`` console script."""
    server().main(argv)


if __name__ == "__main__":
    main()
