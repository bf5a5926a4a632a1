"""A Wishbone input: lines from standard input; at its end the pipeline drains and exits 0."""

from wb_stdin.stdin import Stdin

__version__ = "1.0.0"

__all__ = ["Stdin", "__version__"]
