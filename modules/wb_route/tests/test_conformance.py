"""wb-route's modules pass the standard checks every Wishbone module passes."""

from wb_route import Filter, RoundRobin, Switch
from wishbone.testing import conformance

TestSwitch = conformance(Switch, config={"cases": [{"when": "data == 'x'", "queue": "x"}]}, entry_point="switch")
TestFilter = conformance(Filter, config={"when": "data == 'debug'"}, entry_point="filter")
TestRoundRobin = conformance(RoundRobin, config={"queues": ["a", "b"]}, entry_point="roundrobin")
