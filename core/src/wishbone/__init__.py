"""Wishbone: event pipelines from small modules wired by a routing table.

The pieces a module author and an embedding program need are importable from here;
the command line lives in :mod:`wishbone.cli` and :mod:`wishbone.server`.
"""

from wishbone.ack import derive, merge, split, track
from wishbone.bootstrap import BootstrapError
from wishbone.event import clone, error_record, is_event, new_event
from wishbone.hookspecs import hookimpl
from wishbone.module import Input, Module, Output, Processor
from wishbone.pipeline import Pipeline

__version__ = "4.0.0"

__all__ = [
    "BootstrapError",
    "Input",
    "Module",
    "Output",
    "Pipeline",
    "Processor",
    "__version__",
    "clone",
    "derive",
    "error_record",
    "hookimpl",
    "is_event",
    "merge",
    "new_event",
    "split",
    "track",
]
