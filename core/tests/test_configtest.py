"""wishbone.configtest: inject events at queues of a real pipeline, assert what arrives."""

from __future__ import annotations

import io
import json

import pytest
from wishbone import bootstrap as bootstrap_mod
from wishbone.configtest import ConfigTestError, load_tests, run_files

BOOTSTRAP = {
    "bootstrap": {
        "input": {"module": "testevent", "variables": {"interval": 1}},
        "pass": {"module": "passthrough"},
        "out": {"module": "null"},
        "side": {"module": "null"},
    },
    "routingtable": {"input.outbox": ["pass.inbox"], "pass.outbox": ["out.inbox", "side.inbox"]},
}


def write(tmp_path, tests, name="t.json"):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(BOOTSTRAP))
    path = tmp_path / name
    path.write_text(tests if isinstance(tests, str) else json.dumps({"tests": tests}))
    return str(config), str(path)


def run(config, path):
    out = io.StringIO()
    code = run_files(config, [path], out)
    return code, out.getvalue()


def test_passing_expectations_report_pass_and_exit_0(tmp_path):
    tests = [
        {
            "name": "through the middle",
            "inject": [{"queue": "pass.inbox", "events": [{"data": {"level": "error"}}, {"data": {"level": "info"}}]}],
            "expect": [
                {
                    "queue": "out.inbox",
                    "count": 2,
                    "equals": [{"data": {"level": "error"}}, {"data": {"level": "info"}}],
                },
                {"queue": "side.inbox", "condition": "data.level != null", "contains": {"headers": {}}},
                {"queue": "pass.outbox", "count": 2},
            ],
        },
        {
            "name": "at an input's outbox",
            "inject": [{"queue": "input.outbox", "events": [{"data": 1, "headers": {"h": "x"}}]}],
            "expect": [{"queue": "pass.inbox", "count": 1, "equals": [{"data": 1, "headers": {"h": "x"}}]}],
        },
    ]
    code, text = run(*write(tmp_path, tests))
    assert code == 0, text
    assert "PASS  through the middle" in text and "PASS  at an input's outbox" in text
    assert "all 2 test(s) passed" in text


def test_a_failed_expectation_says_what_arrived_and_exits_1(tmp_path):
    tests = [
        {
            "name": "wrong on purpose",
            "inject": [{"queue": "pass.inbox", "events": [{"data": {"level": "info"}}]}],
            "expect": [
                {"queue": "out.inbox", "count": 0},
                {"queue": "side.inbox", "condition": "data.level == 'error'"},
                {"queue": "side.inbox", "equals": [{"data": {"level": "error"}}]},
            ],
        }
    ]
    code, text = run(*write(tmp_path, tests))
    assert code == 1
    assert "FAIL  wrong on purpose" in text
    assert "out.inbox: expected 0 event(s), got 1" in text
    assert "fail the condition \"data.level == 'error'\"" in text
    assert 'side.inbox[0]: data is {"level": "info"}' in text
    assert "1 of 1 test(s) FAILED" in text


def test_yaml_test_files(tmp_path):
    yaml_text = """
tests:
  - name: yaml works
    inject:
      - queue: pass.inbox
        events: [{data: "a"}]
    expect:
      - {queue: out.inbox, count: 1, equals: [{data: "a"}]}
"""
    code, text = run(*write(tmp_path, yaml_text, "t.yaml"))
    assert code == 0, text


@pytest.mark.parametrize(
    ("tests", "message"),
    [
        ([], "tests: expected a non-empty array"),
        ([{"inject": [], "expect": [{"queue": "out.inbox"}]}], "tests[0].inject: expected a non-empty array"),
        (
            [{"inject": [{"queue": "pass.inbox", "events": []}], "expect": [{"queue": "out.inbox", "conditon": "x"}]}],
            "tests[0].expect[0].conditon: unknown key",
        ),
        (
            [
                {
                    "inject": [{"queue": "pass.inbox", "events": []}],
                    "expect": [{"queue": "out.inbox", "condition": "a ==="}],
                }
            ],
            "tests[0].expect[0].condition: not a JMESPath expression",
        ),
    ],
)
def test_a_broken_test_file_names_the_path(tmp_path, tests, message):
    _, path = write(tmp_path, tests)
    with pytest.raises(ConfigTestError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_tests(path)


def test_an_unknown_queue_names_the_path(tmp_path):
    config, path = write(
        tmp_path, [{"inject": [{"queue": "pass.inbox", "events": []}], "expect": [{"queue": "nope.inbox"}]}]
    )
    with pytest.raises(ConfigTestError, match=r"tests\[0\]\.expect\[0\]\.queue: no instance.queue 'nope.inbox'"):
        run(config, path)
    assert bootstrap_mod.load_file(config)  # the bootstrap itself is fine
