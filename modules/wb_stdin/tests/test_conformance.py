"""wb-stdin passes the standard checks every Wishbone module passes."""

from wb_stdin import Stdin
from wishbone.testing import conformance

TestConformance = conformance(Stdin, config={}, entry_point="stdin")
