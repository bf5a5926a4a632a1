"""A Wishbone output: appends the data of events to a file."""

from wb_postgres.module import Postgres

__version__ = "0.1.0"

__all__ = ["Postgres", "__version__"]
