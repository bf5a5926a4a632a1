"""wb-file's input and output pass the standard checks every Wishbone module passes."""

from wb_file import FileIn, FileOut
from wishbone import new_event
from wishbone.testing import conformance

TestFileIn = conformance(
    FileIn,
    config=lambda tmp_path: {"paths": [str(tmp_path / "*.log")], "checkpoint": str(tmp_path / "state" / "cp.json")},
    entry_point="file_in",
)
TestFileOut = conformance(
    FileOut,
    config=lambda tmp_path: {"path": str(tmp_path / "out" / "x.log")},
    entry_point="file_out",
    raising_event=new_event({"not": "a line"}),
)
