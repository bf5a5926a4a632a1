"""wb-rate's modules pass the standard checks every Wishbone module passes."""

from wb_rate import Count, Dedupe, Fresh, Throttle
from wishbone.testing import conformance

TestThrottle = conformance(Throttle, config={"rate": 1000.0}, entry_point="throttle")
TestDedupe = conformance(Dedupe, config={"window": 1.0}, entry_point="dedupe")
TestCount = conformance(Count, config={"interval": 1.0}, entry_point="count")
TestFresh = conformance(Fresh, config={"timeout": 1.0}, entry_point="fresh")
