"""Wishbone file connectors: ``file_in`` tails files at least once, ``file_out`` appends lines."""

from wb_file.file_in import FileIn
from wb_file.file_out import FileOut

__version__ = "1.0.0"

__all__ = ["FileIn", "FileOut", "__version__"]
