"""file_out on real files: one write per batch, directories made, reopen (SIGHUP's call) and a
moved-away file noticed by its inode, encode errors and write errors to failed, fsync policies, a
path per event (one file per service, one write each) and a line format."""

from __future__ import annotations

import json
import os
import time

import pytest
from wb_file import FileOut
from wishbone import new_event


def events(*data) -> list:
    return [new_event(d) for d in data]


def test_one_write_per_batch_into_new_directories(harness, tmp_path):
    path = tmp_path / "a" / "b" / "out.log"
    with harness(FileOut, {"path": str(path)}) as h:
        assert h.module.ready
        h.feed(events(*[f"line {i}" for i in range(100)]))
        h.wait_consumed(100)
        h.feed(events("x", b"bytes too"))
        h.wait_consumed(102)
        metrics = h.module.metrics()
    assert path.read_text().splitlines() == [*[f"line {i}" for i in range(100)], "x", "bytes too"]
    assert metrics["writes"] == 2 and metrics["lines"] == 102


def test_one_file_per_day_from_strftime_codes(harness, tmp_path):
    with harness(FileOut, {"path": str(tmp_path / "%Y" / "app-%Y-%m-%d.log")}) as h:
        before = time.gmtime()
        h.feed(events("today"))
        h.wait_consumed(1)
        after = time.gmtime()
    days = {time.strftime("%Y/app-%Y-%m-%d.log", t) for t in (before, after)}
    written = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.log")}
    assert len(written) == 1 and written <= days, written
    assert (tmp_path / written.pop()).read_text() == "today\n"


def test_reopen_after_logrotate_moved_the_file(harness, tmp_path):
    path = tmp_path / "out.log"
    with harness(FileOut, {"path": str(path), "check_interval": 3600}) as h:
        h.feed(events("before"))
        h.wait_consumed(1)
        os.rename(path, tmp_path / "out.log.1")
        h.module.reopen()  # what the worker does on SIGHUP
        h.feed(events("after"))
        h.wait_consumed(2)
    assert (tmp_path / "out.log.1").read_text() == "before\n"
    assert path.read_text() == "after\n"


def test_a_moved_away_file_is_noticed_by_its_inode(harness, tmp_path):
    path = tmp_path / "out.log"
    with harness(FileOut, {"path": str(path), "check_interval": 0}) as h:
        h.feed(events("before"))
        h.wait_consumed(1)
        os.rename(path, tmp_path / "out.log.1")
        h.feed(events("after"))
        h.wait_consumed(2)
        path.unlink()
        h.feed(events("after delete"))
        h.wait_consumed(3)
        metrics = h.module.metrics()
    assert (tmp_path / "out.log.1").read_text() == "before\n"
    assert path.read_text() == "after delete\n"
    assert metrics["reopens"] == 2


def test_what_does_not_encode_goes_to_failed_and_the_rest_is_written(harness, tmp_path):
    path = tmp_path / "out.log"
    with harness(FileOut, {"path": str(path)}) as h:
        h.feed(events("ok", "two\nlines", {"a": 1}, "also ok"))
        failed = h.collect("failed", 2)
    assert path.read_text() == "ok\nalso ok\n"
    assert [f["headers"]["error"]["type"] for f in failed] == ["CodecError", "CodecError"]


def test_a_batch_of_lines_is_encoded_at_once_and_a_bad_line_found_in_it(harness, tmp_path):
    path = tmp_path / "out.log"
    with harness(FileOut, {"path": str(path)}) as h:
        h.feed(events("é", "", "ok"))  # encoded as one text
        h.wait_consumed(3)
        h.feed(events("a", "lone \udc80 surrogate", "cr\rhere", b"bytes", "z"))  # line by line, to find which
        failed = h.collect("failed", 2)
        h.wait_consumed(8)
    assert path.read_text(encoding="utf-8") == "é\n\nok\na\nbytes\nz\n"
    assert [f["data"] for f in failed] == ["lone \udc80 surrogate", "cr\rhere"]


def test_json_lines(harness, tmp_path):
    path = tmp_path / "out.log"
    with harness(FileOut, {"path": str(path), "encode": "json_lines"}) as h:
        h.feed(events({"ü": "✓"}, "just a string", [1, None]))
        h.wait_consumed(3)
    assert [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] == [
        {"ü": "✓"},
        "just a string",
        [1, None],
    ]


def test_a_write_error_sends_the_batch_to_failed_and_recovers(harness, tmp_path):
    blocker = tmp_path / "dir"
    blocker.write_text("a file where the directory should be")
    path = blocker / "out.log"
    with harness(FileOut, {"path": str(path)}) as h:
        assert not h.module.ready
        h.feed(events("a", "b"))
        failed = h.collect("failed", 2)
        assert h.module.metrics()["write_errors"] == 1
        blocker.unlink()
        h.feed(events("c"))
        h.wait_consumed(3)
        assert h.module.ready
    assert [f["data"] for f in failed] == ["a", "b"]
    assert path.read_text() == "c\n"


@pytest.mark.parametrize("policy", ["batch", "interval"])
def test_fsync_policies(harness, tmp_path, policy):
    path = tmp_path / "out.log"
    with harness(FileOut, {"path": str(path), "fsync": policy, "fsync_interval": 0.05}) as h:
        h.feed(events("a"))
        h.wait_consumed(1)
        if policy == "batch":
            assert h.module.metrics()["fsyncs"] == 1
    assert h.module.metrics()["fsyncs"] >= 1
    assert path.read_text() == "a\n"


@pytest.mark.parametrize("bad", [{"path": ""}, {"path": "x", "encode": "yaml"}, {"path": "x", "fsync_interval": 0}])
def test_bad_parameters_are_refused(harness, bad):
    with pytest.raises(ValueError):
        harness(FileOut, bad)


def service_event(service, text) -> dict:
    return new_event({"service": service, "message": text})


def test_a_templated_path_writes_one_file_per_service_with_one_write_each(harness, tmp_path):
    path = str(tmp_path / "%Y-%m-%d" / "{{ data.service }}" / "{{ data.service }}.log")
    batch = [service_event(s, f"{s} {i}") for i in range(50) for s in ("api", "db", "web")]
    with harness(FileOut, {"path": path, "format": "{{ data.message }}"}) as h:
        assert h.module.ready
        h.feed(batch)  # one batch, three services interleaved
        h.wait_consumed(150)
        metrics = h.module.metrics()
        day = time.strftime("%Y-%m-%d", time.gmtime())
    for service in ("api", "db", "web"):
        written = (tmp_path / day / service / f"{service}.log").read_text().splitlines()
        assert written == [f"{service} {i}" for i in range(50)]  # in order, none mixed in
    assert metrics["writes"] == 3 and metrics["lines"] == 150 and metrics["files"] == 3


def test_a_templated_path_a_missing_field_or_a_dotdot_goes_to_failed(harness, tmp_path):
    path = str(tmp_path / "logs" / "{{ data.service }}.log")
    batch = [
        service_event("api", "kept"),
        new_event({"message": "no service"}),
        service_event("../../escape", "refused"),
        service_event("api", "kept too"),
    ]
    with harness(FileOut, {"path": path, "encode": "json_lines"}) as h:
        h.feed(batch)
        failed = h.collect("failed", 2)
        h.wait_consumed(4)
        metrics = h.module.metrics()
    assert [json.loads(line)["message"] for line in (tmp_path / "logs" / "api.log").read_text().splitlines()] == [
        "kept",
        "kept too",
    ]
    assert [f["headers"]["error"]["type"] for f in failed] == ["TemplateError", "ValueError"]
    assert "data.service is undefined" in failed[0]["headers"]["error"]["message"]
    assert metrics["bad_paths"] == 2 and metrics["lines"] == 2
    assert not (tmp_path / "escape.log").exists() and sorted(p.name for p in tmp_path.rglob("*.log")) == ["api.log"]


def test_a_templated_path_keeps_at_most_max_files_open(harness, tmp_path):
    path = str(tmp_path / "{{ data.service }}.log")
    with harness(FileOut, {"path": path, "format": "{{ data.message }}", "max_files": 2}) as h:
        h.feed([service_event(s, s) for s in ("a", "b", "c")])
        h.wait_consumed(3)
        assert h.module.metrics()["files"] == 2
        h.feed([service_event("a", "a again")])  # closed as the least recently written: opened again
        h.wait_consumed(4)
        h.module.reopen()
        assert h.module.metrics()["files"] == 0
        h.feed([service_event("b", "b again")])
        h.wait_consumed(5)
    assert (tmp_path / "a.log").read_text() == "a\na again\n"
    assert (tmp_path / "b.log").read_text() == "b\nb again\n"
    assert (tmp_path / "c.log").read_text() == "c\n"


def test_format_makes_the_line_from_the_event(harness, tmp_path):
    path = tmp_path / "out.log"
    fmt = "{{ data.host }} {{ data.app }}: {{ data.message }}"
    with harness(FileOut, {"path": str(path), "format": fmt}) as h:
        h.feed([new_event({"host": "h1", "app": "sshd", "message": "hi"}), new_event({"host": "h2", "message": "x"})])
        h.wait_consumed(2)
    assert path.read_text() == "h1 sshd: hi\nh2 : x\n"
