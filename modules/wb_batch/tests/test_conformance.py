"""wb-batch's modules pass the standard checks every Wishbone module passes."""

from wb_batch import Split, TippingBucket
from wishbone import new_event
from wishbone.testing import conformance

# length() of a number cannot be evaluated: that event goes to failed
TestTippingBucket = conformance(
    TippingBucket,
    config={"size": 1, "key_expression": "length(data)"},
    entry_point="tippingbucket",
    raising_event=new_event(5),
)
TestSplit = conformance(
    Split, config={}, entry_point="split", sample_event=new_event([1, 2]), raising_event=new_event("not a list")
)
