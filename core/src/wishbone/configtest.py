"""Config unit tests: ``wishbone test --config F TESTFILE...``, like ``vector test``.

A test file (JSON, or YAML by its extension) holds tests; each injects events at queues of the
pipeline a bootstrap file describes and asserts what arrives at other queues::

    {"tests": [{
        "name": "errors go to the error output",
        "inject": [{"queue": "parse.inbox", "events": [{"data": "{\\"level\\": \\"error\\"}"}]}],
        "expect": [
            {"queue": "errors.inbox", "count": 1, "contains": {"data": {"level": "error"}}},
            {"queue": "rest.inbox", "count": 0}
        ]
    }]}

Every test builds the pipeline afresh from the bootstrap file. Its inputs and outputs are
replaced by the test's own (a module of no declared kind counts as an output when no route leaves
it, see :func:`wishbone.graph.kind_of`): inputs are not started (no outside data comes in), outputs are not
started (nothing leaves; what reaches an output's queue stays there for the test to read);
processors run as in production. ``inject`` puts events (``data``, optional ``headers``) on an
``instance.queue``: a consumed queue of a processor or output, or the ``outbox`` of an input.
Once the pipeline is quiet (every processor idle, every queue empty) each ``expect`` is checked
against what arrived at its ``instance.queue``:

* ``count``: exactly this many events (``0``: nothing at all);
* ``equals``: the events, in order: each expected ``data`` equals the event's, and expected
  ``headers`` are contained in the event's (the framework adds headers of its own);
* ``contains``: every event contains this (dicts compared key by key, recursively);
* ``condition``: a JMESPath expression true for every event (``data.level == 'error'``).

:func:`run_files` prints a report and returns 0 when every test passed, 1 otherwise.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import gevent
import jmespath

from wishbone import bootstrap as bootstrap_mod
from wishbone.bootstrap import Bootstrap, jpath
from wishbone.graph import kind_of
from wishbone.pipeline import Pipeline
from wishbone.queue import DestinationQueue, SourceQueue, connect

__all__ = ["ConfigTestError", "TestResult", "load_tests", "run_files", "run_test"]

_QUIET = 0.05  # seconds with nothing moving before the pipeline counts as quiet


class ConfigTestError(Exception):
    """A test file that is not a valid test file: its path, the JSON path, what was expected."""

    def __init__(self, source: str, path: str, message: str) -> None:
        super().__init__(f"{source}: {path}: {message}" if path else f"{source}: {message}")


@dataclass
class TestResult:
    """One test's outcome: its name and, if it failed, why (one line per failed expectation)."""

    __test__ = False  # not a pytest class

    name: str
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def load_tests(path: str) -> list[dict]:
    """The tests of the file at *path* (JSON, or YAML for .yaml/.yml), checked for shape."""
    text = Path(path).read_text(encoding="utf-8-sig")
    if path.endswith((".yaml", ".yml")):
        import yaml

        document = yaml.safe_load(text)
    else:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigTestError(path, "", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(document, dict) or not isinstance(document.get("tests"), list) or not document["tests"]:
        raise ConfigTestError(path, "tests", "expected a non-empty array of tests")
    for i, test in enumerate(document["tests"]):
        where = jpath("tests", i)
        if not isinstance(test, dict):
            raise ConfigTestError(path, where, "expected an object {name, inject, expect}")
        unknown = set(test) - {"name", "inject", "expect", "timeout"}
        if unknown:
            raise ConfigTestError(
                path, jpath(where, sorted(unknown)[0]), "unknown key; expected name, inject, expect, timeout"
            )
        for key in ("inject", "expect"):
            if not isinstance(test.get(key), list) or not test[key]:
                raise ConfigTestError(path, jpath(where, key), "expected a non-empty array")
        for j, inject in enumerate(test["inject"]):
            if not isinstance(inject, dict) or not isinstance(inject.get("queue"), str):
                raise ConfigTestError(path, jpath(where, "inject", j, "queue"), "expected 'instance.queue'")
            if not isinstance(inject.get("events"), list):
                raise ConfigTestError(path, jpath(where, "inject", j, "events"), "expected an array of events")
        for j, expect in enumerate(test["expect"]):
            epath = jpath(where, "expect", j)
            if not isinstance(expect, dict) or not isinstance(expect.get("queue"), str):
                raise ConfigTestError(path, jpath(epath, "queue"), "expected 'instance.queue'")
            unknown = set(expect) - {"queue", "count", "equals", "contains", "condition"}
            if unknown:
                raise ConfigTestError(path, jpath(epath, sorted(unknown)[0]), "unknown key")
            if "condition" in expect:
                try:
                    expect["_compiled"] = jmespath.compile(expect["condition"])
                except jmespath.exceptions.JMESPathError as exc:
                    raise ConfigTestError(
                        path, jpath(epath, "condition"), f"not a JMESPath expression: {exc}"
                    ) from None
        test.setdefault("name", f"test {i + 1}")
    return document["tests"]


class _Tap:
    """Collects what arrives at one ``instance.queue`` of a built pipeline."""

    def __init__(self, pipeline: Pipeline, ref: str, source: str, where: str) -> None:
        name, _, queue = ref.partition(".")
        module = pipeline.modules.get(name)
        if module is None or not queue:
            raise ConfigTestError(source, where, f"no instance.queue {ref!r} in the bootstrap file")
        self.queues: list[DestinationQueue] = []
        self.owned = True
        if queue in module.destination_queues:
            target = module.destination_queues[queue]
            if kind_of(pipeline.bootstrap, name) == "output":  # not started: read its own queue
                self.queues, self.owned = [target], False
            else:  # a running processor: take a copy of everything routed into it
                for other in pipeline.modules.values():
                    for sq in other.source_queues.values():
                        if target in sq.routes:
                            self.queues.append(DestinationQueue(f"{ref}>test", maxsize=10**9))
                            connect(sq, self.queues[-1])
        elif queue in module.source_queues:
            self.queues.append(DestinationQueue(f"{ref}>test", maxsize=10**9))
            connect(module.source_queues[queue], self.queues[-1])
        else:
            raise ConfigTestError(source, where, f"{name!r} has no queue {queue!r}")

    def events(self) -> list[dict]:
        got: list[dict] = []
        for queue in self.queues:
            while queue.size:
                got.extend(queue.get_batch() or [])
        return got


def _contains(value: Any, expected: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(value, dict) and all(k in value and _contains(value[k], v) for k, v in expected.items())
    return value == expected


def _quiet(pipeline: Pipeline, running: list, deadline: float) -> bool:
    """Wait until nothing moves: every running module's queues empty and its counters still."""

    def state() -> tuple:
        return tuple((m.consumed, m.failed, *(q.size for q in m.destination_queues.values())) for m in running)

    last, since = state(), time.monotonic()
    while time.monotonic() < deadline:
        gevent.sleep(0.01)
        now = state()
        busy = any(q.size for m in running for q in m.destination_queues.values())
        if now != last or busy:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= _QUIET:
            return True
    return False


def _show(value: Any) -> str:
    return json.dumps(value, default=repr)[:200]


def _check(expect: dict, got: list[dict]) -> list[str]:
    """What is wrong with *got*, the events that arrived at ``expect["queue"]`` (empty: nothing)."""
    ref, failures = expect["queue"], []
    if "count" in expect and len(got) != expect["count"]:
        failures.append(f"{ref}: expected {expect['count']} event(s), got {len(got)}: {_show(got[:3])}")
    if "equals" in expect:
        want = expect["equals"]
        if len(want) != len(got):
            failures.append(
                f"{ref}: expected {len(want)} event(s) equal to {_show(want)}, got {len(got)}: {_show(got[:3])}"
            )
        for i, (w, e) in enumerate(zip(want, got, strict=False)):
            if "data" in w and e.get("data") != w["data"]:
                failures.append(f"{ref}[{i}]: data is {_show(e.get('data'))}, expected {_show(w['data'])}")
            if "headers" in w and not _contains(e.get("headers"), w["headers"]):
                failures.append(f"{ref}[{i}]: headers {_show(e.get('headers'))} lack {_show(w['headers'])}")
    if "contains" in expect:
        bad = [e for e in got if not _contains(e, expect["contains"])]
        if bad:
            failures.append(
                f"{ref}: {len(bad)} event(s) do not contain {_show(expect['contains'])}, e.g. {_show(bad[0])}"
            )
    if "_compiled" in expect:
        bad = [e for e in got if not expect["_compiled"].search(dict(e))]
        if bad:
            failures.append(
                f"{ref}: {len(bad)} event(s) fail the condition {expect['condition']!r}, e.g. {_show(bad[0])}"
            )
    return failures


def run_test(bootstrap: Bootstrap, test: dict, source: str = "<tests>", where: str = "tests[0]") -> TestResult:
    """Run one test against a fresh pipeline built from *bootstrap*."""
    result = TestResult(test["name"])
    pipeline = Pipeline(bootstrap, load_entry_points=False)
    taps: dict[str, _Tap] = {}  # one per queue: several expectations read the same arrivals
    for j, expect in enumerate(test["expect"]):
        if expect["queue"] not in taps:
            taps[expect["queue"]] = _Tap(pipeline, expect["queue"], source, jpath(where, "expect", j, "queue"))
    running = [m for n, m in pipeline.modules.items() if kind_of(bootstrap, n) not in ("input", "output")]
    deadline = time.monotonic() + float(test.get("timeout", 5.0))
    for module in running:
        module.start()
    try:
        for j, inject in enumerate(test["inject"]):
            ipath = jpath(where, "inject", j)
            name, _, queue = inject["queue"].partition(".")
            module = pipeline.modules.get(name)
            events = [{"headers": dict(e.get("headers") or {}), "data": e.get("data")} for e in inject["events"]]
            if module is not None and queue in module.destination_queues:
                feeder = SourceQueue(f"test>{inject['queue']}")
                connect(feeder, module.destination_queues[queue])
                feeder.send(events)
            elif module is not None and kind_of(bootstrap, name) == "input" and queue in module.source_queues:
                module.emit_batch(events, queue)
            else:
                raise ConfigTestError(source, jpath(ipath, "queue"), f"cannot inject at {inject['queue']!r}")
        if not _quiet(pipeline, running, deadline):
            result.failures.append(f"the pipeline did not settle within {test.get('timeout', 5.0)}s")
        arrived = {ref: tap.events() for ref, tap in taps.items()}
        for expect in test["expect"]:
            result.failures.extend(_check(expect, arrived[expect["queue"]]))
    finally:
        for module in running:
            module.stop(1.0)
    return result


def run_files(config: str, files: list[str], out: TextIO) -> int:
    """Run every test of *files* against the bootstrap file *config*; report to *out*; 0 if all passed."""
    bootstrap = bootstrap_mod.load_file(config)
    results: list[TestResult] = []
    for path in files:
        try:
            tests = load_tests(path)
        except OSError as exc:
            raise ConfigTestError(path, "", f"cannot read the test file: {exc.strerror}") from None
        print(f"{path} (against {config})", file=out)
        for i, test in enumerate(tests):
            with gevent.Timeout(float(test.get("timeout", 5.0)) + 10):
                result = run_test(bootstrap, test, path, jpath("tests", i))
            results.append(result)
            print(f"  {'PASS' if result.passed else 'FAIL'}  {result.name}", file=out)
            for failure in result.failures:
                print(f"        {failure}", file=out)
    failed = sum(not r.passed for r in results)
    if failed:
        print(f"{failed} of {len(results)} test(s) FAILED", file=out)
    else:
        print(f"all {len(results)} test(s) passed", file=out)
    return 1 if failed else 0
