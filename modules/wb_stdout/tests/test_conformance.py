"""wb-stdout runs the standard conformance suite of wishbone.testing."""

from wb_stdout import STDOUT
from wishbone.testing import conformance

TestConformance = conformance(
    STDOUT, config={}, entry_point="stdout", raising_event={"headers": {}, "data": {(1, 2): 3}}
)
