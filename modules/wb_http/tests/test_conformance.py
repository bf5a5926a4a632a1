"""wb-http passes the standard checks every Wishbone module passes."""

from wb_http import HTTPIn, HTTPOut
from wishbone.testing import conformance

TestHTTPIn = conformance(HTTPIn, config={"port": 0}, entry_point="http_in")
TestHTTPOut = conformance(
    HTTPOut,
    config=lambda http_sink_url: {"url": http_sink_url},
    entry_point="http_out",
    raising_event={"headers": {}, "data": 1j},  # no JSON for a complex number
)
