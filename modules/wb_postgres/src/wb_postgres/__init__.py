"""PostgreSQL for Wishbone: ``postgres_out`` (batched INSERT or COPY) and ``postgres_in`` (a polled query)."""

from wb_postgres.postgres_in import PostgresIn
from wb_postgres.postgres_out import PostgresOut

__version__ = "0.1.0"

__all__ = ["PostgresIn", "PostgresOut", "__version__"]
