"""wb-stdout: the Wishbone ``stdout`` module (entry point ``stdout`` in ``wishbone.module``)."""

from wb_stdout.stdout import STDOUT, escape, to_text

__version__ = "1.0.0"

__all__ = ["STDOUT", "__version__", "escape", "to_text"]
