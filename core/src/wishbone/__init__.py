"""Wishbone: event pipelines from small modules wired by a routing table.

The pieces a module author and an embedding program need are importable from here;
the command line lives in :mod:`wishbone.cli` and :mod:`wishbone.server`.
"""

from wishbone.ack import derive, track
from wishbone.bootstrap import BootstrapError
from wishbone.event import clone, is_event, new_event
from wishbone.hookspecs import hookimpl
from wishbone.module import Module
from wishbone.pipeline import Pipeline

__version__ = "4.0.0"

__all__ = [
    "BootstrapError",
    "Module",
    "Pipeline",
    "__version__",
    "clone",
    "derive",
    "hookimpl",
    "is_event",
    "new_event",
    "track",
]
