"""Bootstrap files: every mistake names the file, the JSON path and what was expected."""

from __future__ import annotations

import json

import pytest
from wishbone.bootstrap import EX_CONFIG, BootstrapError, load_dict, load_file

GOOD = {
    "system": {},
    "metrics": {"enable": True, "group": "wishbone.metrics", "module": "log", "interval": 5, "variables": {}},
    "bootstrap": {
        "input": {"group": "wishbone.module", "module": "testevent", "variables": {"interval": 0.5}},
        "output": {"group": "wishbone.module", "module": "null", "variables": {}},
    },
    "routingtable": {"input.outbox": ["output.inbox"]},
}


def with_change(path: list, value, doc=GOOD):
    doc = json.loads(json.dumps(doc))
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


def test_the_seed_shape_loads():
    b = load_dict(GOOD)
    assert list(b.modules) == ["input", "output"]
    assert b.metrics.enable and b.metrics.interval == 5.0
    assert [(r.source, r.source_queue, r.destination, r.destination_queue) for r in b.routes] == [
        ("input", "outbox", "output", "inbox")
    ]


CASES = [
    (["extra"], {}, "extra", "unknown key 'extra'"),
    (["bootstrap"], KeyError, "bootstrap", "missing"),
    (["bootstrap"], [], "bootstrap", "expected an object"),
    (["bootstrap"], {}, "bootstrap", "at least one"),
    (["bootstrap", "output", "module"], "stdot", "bootstrap.output.module", "no module 'stdot'"),
    (["bootstrap", "output", "module"], 3, "bootstrap.output.module", "expected a string"),
    (["bootstrap", "output", "colour"], "red", "bootstrap.output.colour", "unknown key"),
    (["bootstrap", "input", "variables", "interval"], "fast", "bootstrap.input.variables.interval", "expected float"),
    (["bootstrap", "input", "variables", "count"], True, "bootstrap.input.variables.count", "expected int"),
    (["bootstrap", "input", "variables", "rate"], 1, "bootstrap.input.variables.rate", "unknown parameter 'rate'"),
    (["bootstrap", "input", "variables", "interval"], -1, "bootstrap.input.variables", "refused its parameters"),
    (["routingtable", "input.outbx"], ["output.inbox"], 'routingtable["input.outbx"]', "emits no queue 'outbx'"),
    (["routingtable", "inpt.outbox"], ["output.inbox"], 'routingtable["inpt.outbox"]', "no instance 'inpt'"),
    (["routingtable", "input.outbox"], "output.inbox", 'routingtable["input.outbox"]', "expected an array"),
    (["routingtable", "input.outbox"], ["output.inbx"], 'routingtable["input.outbox"][0]', "consumes no queue 'inbx'"),
    (["routingtable", "output.outbox"], ["input.inbox"], 'routingtable["output.outbox"][0]', "is an input"),
    (["routingtable", "input.outbox"], ["output"], 'routingtable["input.outbox"][0]', "expected 'instance.queue'"),
    (["routingtable", "input.outbox"], ["output.inbox", "output.inbox"], 'routingtable["input.outbox"]', "twice"),
    (["bootstrap", "output", "group"], "console_scripts", "bootstrap.output.group", "wishbone.*"),
    (["metrics", "group"], "console_scripts", "metrics.group", "wishbone.*"),
    (["metrics", "interval"], 0, "metrics.interval", "greater than 0"),
    (["metrics", "module"], "statsd", "metrics.module", "no module 'statsd'"),
    (["metrics", "variables", "level"], "loud", "metrics.variables.level", "expected one of"),
]


@pytest.mark.parametrize(("path", "value", "where", "what"), CASES, ids=[c[2] + ":" + c[3] for c in CASES])
def test_errors_name_the_json_path(path, value, where, what):
    doc = with_change(path, value)
    with pytest.raises(BootstrapError) as info:
        from wishbone import Pipeline

        Pipeline.from_dict(doc, source="setup.json")
    assert info.value.path == where
    assert what in info.value.message
    assert str(info.value).startswith(f"setup.json: {where}: ")
    assert info.value.exit_code == EX_CONFIG == 78


def test_file_errors(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(BootstrapError, match="cannot read the file"):
        load_file(str(missing))
    broken = tmp_path / "broken.json"
    broken.write_text('{"bootstrap": {\n  "a": }')
    with pytest.raises(BootstrapError, match=r"broken.json: \(top level\): invalid JSON at line 2 column"):
        load_file(str(broken))
    twice = tmp_path / "twice.json"
    twice.write_text('{"bootstrap": {}, "bootstrap": {}}')
    with pytest.raises(BootstrapError, match="duplicate key 'bootstrap'"):
        load_file(str(twice))
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe{")
    with pytest.raises(BootstrapError, match="not UTF-8"):
        load_file(str(binary))


def test_a_module_is_found_only_through_entry_points():
    doc = with_change(["bootstrap", "output", "module"], "os.system")
    with pytest.raises(BootstrapError, match="no module 'os.system'"):
        load_dict(doc)


def test_queue_options_are_checked():
    doc = with_change(["bootstrap", "output", "queues"], {"inbox": {"maxsize": 0}})
    with pytest.raises(BootstrapError, match="maxsize"):
        load_dict(doc)
    doc = with_change(["bootstrap", "output", "queues"], {"outbox": {}})
    with pytest.raises(BootstrapError, match="consumes no queue 'outbox'"):
        load_dict(doc)
    doc = with_change(["bootstrap", "output", "queues"], {"inbox": {"maxsize": 10, "when_full": "drop"}})
    assert load_dict(doc).modules["output"].queues == {"inbox": {"maxsize": 10, "when_full": "drop"}}
