"""wb-syslog passes the standard checks every Wishbone module passes."""

from wb_syslog import SyslogIn, SyslogOut
from wishbone import new_event
from wishbone.testing import conformance

TestConformanceUDP = conformance(SyslogIn, config={"port": 0}, entry_point="syslog_in")
TestConformanceTCP = conformance(SyslogIn, config={"port": 0, "transport": "tcp"}, entry_point="syslog_in")
TestConformanceOut = conformance(
    SyslogOut,
    config=lambda udp_port: {"port": udp_port},
    entry_point="syslog_out",
    raising_event=new_event({"facility": 99, "message": "no such facility"}),
)
