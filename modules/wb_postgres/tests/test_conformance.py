"""wb-postgres passes the standard checks every Wishbone module passes (against the real server)."""

from wb_postgres import PostgresIn, PostgresOut
from wishbone import new_event
from wishbone.testing import conformance

TestOutConformance = conformance(
    PostgresOut,
    config="conformance_out",
    entry_point="postgres_out",
    sample_event=new_event({"n": 1}),
    raising_event=new_event({"n": "not a number"}),
)
TestInConformance = conformance(PostgresIn, config="conformance_in", entry_point="postgres_in")
