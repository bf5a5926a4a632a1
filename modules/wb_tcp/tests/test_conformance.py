"""wb-tcp passes the standard checks every Wishbone module passes."""

from wb_tcp import TCPIn, TCPOut
from wishbone import new_event
from wishbone.testing import conformance

TestConformanceIn = conformance(TCPIn, config={"port": 0}, entry_point="tcp_in")
TestConformanceOut = conformance(
    TCPOut, config=lambda sink: {"port": sink.port}, entry_point="tcp_out", raising_event=new_event("two\nlines")
)
