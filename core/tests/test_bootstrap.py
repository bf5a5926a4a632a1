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
    with pytest.raises(BootstrapError, match="nope.json: no such file$"):
        load_file(str(missing))
    with pytest.raises(BootstrapError, match="is a directory"):
        load_file(str(tmp_path))
    broken = tmp_path / "broken.json"
    broken.write_text('{"bootstrap": {\n  "a": }')
    with pytest.raises(BootstrapError, match=r"broken.json: invalid JSON at line 2 column 8") as info:
        load_file(str(broken))
    assert info.value.detail == '  2 |   "a": }\n' + " " * 13 + "^"  # the line, a caret under column 8
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


def test_every_error_is_reported_each_with_its_path():
    doc = with_change(["bootstrap", "input", "variables"], {"interval": "fast", "count": True, "rate": 1})
    doc = with_change(["bootstrap", "output", "module"], "stdot", doc)
    doc = with_change(["bootstrap", "third"], {"module": "passthrough", "colour": "red"}, doc)
    doc = with_change(["routingtable", "nosuch.outbox"], ["ghost.inbox", "input.inbox"], doc)
    doc = with_change(["metrics", "interval"], 0, doc)
    with pytest.raises(BootstrapError) as info:
        load_dict(doc, source="setup.json")
    paths = [e.path for e in info.value.errors]
    assert paths == [
        "bootstrap.input.variables.rate",
        "bootstrap.input.variables.interval",
        "bootstrap.input.variables.count",
        "bootstrap.output.module",
        "bootstrap.third.colour",
        'routingtable["nosuch.outbox"]',
        'routingtable["nosuch.outbox"][0]',
        "metrics.interval",
    ]
    assert info.value is info.value.errors[0] and str(info.value).count("\n") == 0  # one line each
    # a route naming an instance that has an error of its own is not reported a second time
    assert not any("'output'" in e.message for e in info.value.errors)


def test_a_missing_required_parameter_does_not_hide_the_others():
    from wishbone.bootstrap import check_variables
    from wishbone.module import Module

    class Needs(Module):
        def __init__(self, port: int, mode: str = "a", host: str = "h") -> None:
            pass

    with pytest.raises(BootstrapError) as info:
        check_variables("x.json", Needs, {"mode": 1, "host": None, "colour": "red"}, "bootstrap.n.variables")
    assert [(e.path, e.message.split(" (")[0]) for e in info.value.errors] == [
        ("bootstrap.n.variables.colour", "unknown parameter 'colour'"),
        ("bootstrap.n.variables.port", "missing required parameter 'port'"),
        ("bootstrap.n.variables.mode", "expected str, got int 1"),
        ("bootstrap.n.variables.host", "expected str, got NoneType None"),
    ]
    check_variables("x.json", Needs, {"port": 1}, "v")  # and a good set passes


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode())
    assert list(load_file(str(path)).modules) == ["input", "output"]


def _warnings(routes, modules=None):
    doc = json.loads(json.dumps(GOOD))
    if modules:
        doc["bootstrap"].update(modules)
    if routes is None:
        del doc["routingtable"]
    else:
        doc["routingtable"] = routes
    return [(w.path, w.message) for w in load_dict(doc).warnings]


def test_warnings_for_what_loads_but_looks_wrong():
    assert _warnings({"input.outbox": ["output.inbox"]}) == []
    assert _warnings(None) == [("routingtable", "no routes: no module hands events to another")]
    assert _warnings({}) == [("routingtable", "no routes: no module hands events to another")]
    lonely = {"lonely": {"module": "null"}}
    assert _warnings({"input.outbox": ["output.inbox"]}, lonely) == [
        ("bootstrap.lonely", "nothing is routed to or from 'lonely'")
    ]
    second = {"second": {"module": "testevent"}}
    assert _warnings({"input.outbox": ["output.inbox"], "second.failed": ["output.inbox"]}, second) == [
        ("bootstrap.second", "'second' is an input whose outbox goes nowhere: its events are dropped")
    ]
    relay = {"relay": {"module": "passthrough"}}
    assert _warnings({"input.outbox": ["output.inbox"], "relay.outbox": ["output.inbox"]}, relay) == [
        ("bootstrap.relay", "nothing is routed into 'relay': it never gets an event")
    ]


def test_a_loop_is_a_warning_whatever_its_length():
    relay = {"a": {"module": "passthrough"}, "b": {"module": "passthrough"}, "c": {"module": "passthrough"}}
    circle = "events can circle forever, and at a stop those still circling are dropped"
    loops = _warnings(
        {
            "input.outbox": ["a.inbox"],
            "a.outbox": ["output.inbox"],
            "a.failed": ["a.inbox"],
            "b.outbox": ["c.inbox"],
            "c.outbox": ["b.inbox"],
        },
        relay,
    )
    assert loops == [
        ('routingtable["a.failed"]', f"a -> a: its own input; {circle}"),
        ('routingtable["b.outbox"]', f"b -> c -> b: a loop; {circle}"),
    ]
    three = _warnings(
        {
            "input.outbox": ["a.inbox"],
            "a.outbox": ["c.inbox"],
            "c.outbox": ["b.inbox"],
            "b.outbox": ["a.inbox", "output.inbox"],
        },
        relay,
    )
    assert three == [('routingtable["a.outbox"]', f"a -> c -> b -> a: a loop; {circle}")]


def test_no_module_names_the_monorepo_package_that_provides_it(tmp_path, monkeypatch):
    from wishbone import provides

    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "pyproject.toml").write_text('[project]\nname = "wishbone"\n')
    (tmp_path / "modules" / "wb_fake").mkdir(parents=True)
    (tmp_path / "modules" / "wb_fake" / "pyproject.toml").write_text(
        '[project]\nname = "wb-fake"\n\n[project.entry-points."wishbone.module"]\nfake_in = "wb_fake:FakeIn"\n'
    )
    monkeypatch.chdir(tmp_path)
    provides.source_packages.cache_clear()
    try:
        doc = with_change(["bootstrap", "output", "module"], "fake_in")
        with pytest.raises(BootstrapError) as info:
            load_dict(doc)
        assert info.value.message.endswith(
            "; it is provided by the package wb-fake (modules/wb_fake), not installed: pip install -e modules/wb_fake"
        )
        doc = with_change(["bootstrap", "output", "module"], "prometheus")
        with pytest.raises(BootstrapError, match="'prometheus' is in group 'wishbone.metrics'$"):
            load_dict(doc)
    finally:
        provides.source_packages.cache_clear()
