"""wb-codec's modules pass the standard checks every Wishbone module passes."""

from wb_codec import Decode, Encode, JSONValidate
from wishbone import new_event
from wishbone.testing import conformance

TestDecode = conformance(
    Decode, config={"codec": "text"}, entry_point="decode", sample_event=new_event(b"x"), raising_event=new_event(5)
)
TestEncode = conformance(Encode, config={"codec": "json"}, entry_point="encode")
TestJSONValidate = conformance(
    JSONValidate,
    config={"schema": {"type": "string"}},
    entry_point="jsonvalidate",
    raising_event=new_event(5),
)
