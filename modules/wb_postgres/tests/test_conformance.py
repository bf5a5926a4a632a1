"""wb-postgres passes the standard checks every Wishbone module passes."""

from wb_postgres import Postgres
from wishbone import new_event
from wishbone.testing import conformance

TestConformance = conformance(
    Postgres,
    config=lambda tmp_path: {"path": str(tmp_path / "out.txt")},
    entry_point="postgres",
    raising_event=new_event(42),
)
