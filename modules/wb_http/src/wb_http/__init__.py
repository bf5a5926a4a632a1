"""wb-http: an HTTP server input (``http_in``) and a batching, retrying HTTP output (``http_out``)."""

from wb_http.http_in import HTTPIn
from wb_http.http_out import HTTPOut

__all__ = ["HTTPIn", "HTTPOut"]
