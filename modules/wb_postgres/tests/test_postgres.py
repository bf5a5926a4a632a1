"""What postgres does, run in isolation with the harness of wishbone.testing."""

from wb_postgres import Postgres
from wishbone import new_event


def test_each_event_becomes_a_line(harness, tmp_path):
    path = tmp_path / "out.txt"
    with harness(Postgres, {"path": str(path)}) as h:
        h.feed([new_event("one"), new_event("two"), new_event(3)])
        [failed] = h.collect("failed", 1)
    assert path.read_text() == "one\ntwo\n"
    assert failed["headers"]["error"]["type"] == "TypeError"
    assert h.module.written == 2
