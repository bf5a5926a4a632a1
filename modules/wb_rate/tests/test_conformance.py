"""wb-rate's modules pass the standard checks every Wishbone module passes."""

from wb_rate import Count, Dedupe, Fresh, Throttle
from wishbone import new_event
from wishbone.testing import conformance

# length() of a number cannot be evaluated: that event goes to failed
KEYED = {"key_expression": "length(data)"}
RAISING = new_event(5)

TestThrottle = conformance(Throttle, config={"rate": 1000.0, **KEYED}, entry_point="throttle", raising_event=RAISING)
TestDedupe = conformance(Dedupe, config={"window": 1.0, **KEYED}, entry_point="dedupe", raising_event=RAISING)
TestCount = conformance(Count, config={"interval": 1.0, **KEYED}, entry_point="count", raising_event=RAISING)
TestFresh = conformance(Fresh, config={"timeout": 1.0}, entry_point="fresh")
