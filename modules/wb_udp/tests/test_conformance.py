"""wb-udp's input and output run the standard conformance suite of wishbone.testing."""

from wb_udp import UDPIn, UDPOut
from wishbone.testing import conformance

TOO_LONG = {"headers": {}, "data": b"x" * 70_000}  # no UDP datagram is that long: the send fails

TestUDPIn = conformance(UDPIn, config=lambda udp_port: {"port": udp_port}, entry_point="udp_in")
TestUDPOut = conformance(
    UDPOut, config=lambda udp_port: {"port": udp_port}, entry_point="udp_out", raising_event=TOO_LONG
)
