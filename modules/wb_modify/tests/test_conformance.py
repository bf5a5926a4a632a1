"""wb-modify passes the standard checks every Wishbone module passes."""

from wb_modify import Modify
from wishbone import new_event
from wishbone.testing import conformance

TestConformance = conformance(
    Modify,
    config={"operations": [{"uppercase": "data"}, {"set": "headers.seen", "value": True}]},
    entry_point="modify",
    raising_event=new_event(42),
)
