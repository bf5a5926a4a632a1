"""The conformance suite: the checks every module package runs, in one line.

::

    from wishbone.testing import conformance
    from wb_stdout import STDOUT

    TestConformance = conformance(STDOUT, config={}, entry_point="stdout")

:func:`conformance` returns a pytest class; pytest collects it under the name it is bound
to. A module that needs a service takes its config from fixtures::

    TestConformance = conformance(AMQPIn, config=lambda amqp_url: {"url": amqp_url}, entry_point="amqp_in")

The checks: the module is a :class:`~wishbone.module.Module` of a declared kind (it
subclasses :class:`~wishbone.module.Input`, :class:`~wishbone.module.Processor` or
:class:`~wishbone.module.Output`); an input or output defines ``ready``; a tracked event
fed to a processor comes out still tracked (not acknowledged early); a module that says
it does not change events leaves them unchanged; its entry point finds it by
its name and loads the same class; its docstring names every parameter and queue, and
``wishbone show NAME`` renders it; an unknown parameter and a wrongly typed one are refused
with an error naming them; start and stop are idempotent and keep their deadlines; no
greenlet outlives stop; importing its package monkey-patches nothing; malformed events
fed to it are dropped and counted while it keeps consuming; an event that makes
``consume()`` raise reaches ``failed`` (given a ``raising_event``). Checks that cannot
apply are skipped with the reason (consume checks for an input, for instance).
"""

from __future__ import annotations

import copy
import gc
import importlib.util
import inspect
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Union

import gevent
import greenlet
import pytest

from wishbone import discovery
from wishbone.ack import delivery_of, track
from wishbone.event import new_event
from wishbone.module import KINDS, Input, Module, Output, Processor
from wishbone.params import ParameterError, check_parameters, parameters_of
from wishbone.testing.harness import Harness

__all__ = ["ConformanceOptions", "ConformanceSuite", "conformance"]

#: A config: a dict, the name of a fixture giving one, or a callable whose parameters
#: name fixtures (``lambda udp_port: {"port": udp_port}``).
Config = Union[dict, str, Callable[..., dict], None]

_SUBPROCESS_TIMEOUT = 60.0
_UNKNOWN = "wishbone_conformance_no_such_parameter"
# JSON values of every type: one of them is wrong for any typed parameter.
_WRONG_VALUES = ("conformance", 987654321, 0.5, True, None, [["nested"]], {"key": "value"})


@dataclass(frozen=True)
class ConformanceOptions:
    """What :func:`conformance` was given; the suite's checks read it."""

    module_cls: type
    config: Config
    entry_point: str | None
    group: str
    sample_event: dict
    raising_event: dict | None
    timeout: float


def conformance(
    module_cls: type,
    config: Config = None,
    entry_point: str | None = None,
    group: str = discovery.DEFAULT_GROUP,
    *,
    sample_event: dict | None = None,
    raising_event: dict | None = None,
    timeout: float = 5.0,
) -> type:
    """Return a pytest class of the standard checks for *module_cls*.

    :param module_cls: the module class under test.
    :param config: its parameters for the checks that build it: a dict, the name of a
        fixture that returns one, or a callable whose parameter names are fixtures.
    :param entry_point: the name it is registered under in *group* (the check that it
        is discoverable is skipped without it).
    :param group: the entry-point group (``wishbone.module`` by default).
    :param sample_event: a well-formed event it consumes without raising (default
        ``{"headers": {}, "data": "wishbone conformance"}``).
    :param raising_event: an event that makes its ``consume()`` raise; the check that it
        reaches ``failed`` is skipped without it.
    :param timeout: seconds start and stop may take.
    """
    if not (isinstance(module_cls, type) and issubclass(module_cls, Module)):
        raise TypeError(f"conformance() needs a wishbone Module class, got {module_cls!r}")
    if not (config is None or isinstance(config, (dict, str)) or callable(config)):
        raise TypeError(f"config must be a dict, a fixture name or a callable of fixtures, got {config!r}")
    options = ConformanceOptions(
        module_cls=module_cls,
        config=config,
        entry_point=entry_point,
        group=group,
        sample_event=sample_event if sample_event is not None else new_event("wishbone conformance"),
        raising_event=raising_event,
        timeout=timeout,
    )
    name = f"TestConformance{module_cls.__name__}"
    return type(name, (ConformanceSuite,), {"__test__": True, "options": options, "__qualname__": name})


def _resolve_config(spec: Config, request: pytest.FixtureRequest) -> dict:
    if spec is None:
        value: Any = {}
    elif isinstance(spec, dict):
        value = copy.deepcopy(spec)
    elif isinstance(spec, str):
        value = request.getfixturevalue(spec)
    else:
        names = list(inspect.signature(spec).parameters)
        value = spec(**{n: request.getfixturevalue(n) for n in names})
    if not isinstance(value, dict):
        raise TypeError(f"the conformance config must be a dict of parameters, got {type(value).__name__}")
    return value


def _running_greenlets() -> dict[int, Any]:
    """Every greenlet of this thread that has started and not finished (but the hub), by id.

    gevent's threadpool (``wishbone.blocking``) keeps worker threads for the process, each
    with greenlets of its own: they belong to the pool, not to a module, and are not counted.
    """
    hub = gevent.get_hub()
    mine = _root(greenlet.getcurrent())
    return {
        id(g): g
        for g in gc.get_objects()
        if isinstance(g, greenlet.greenlet) and bool(g) and g is not hub and _root(g) is mine
    }


def _root(g: Any) -> Any:
    """The main greenlet of the thread *g* runs in."""
    while g.parent is not None:
        g = g.parent
    return g


def _mentions(text: str, word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


def _subprocess_env() -> dict:
    """The environment for a child Python that must import what this process imports."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


class ConformanceSuite:
    """The standard checks; :func:`conformance` binds them to one module class."""

    __test__ = False  # only the classes conformance() returns are collected
    options: ClassVar[ConformanceOptions]

    # ------------------------------------------------------------------ helpers
    @pytest.fixture
    def wishbone_config(self, request: pytest.FixtureRequest) -> dict:
        """The module's parameters for this test (resolved from fixtures if need be)."""
        return _resolve_config(self.options.config, request)

    def build(self, config: dict) -> Harness:
        """A harness around a fresh instance of the module."""
        return Harness(self.options.module_cls, config, name="conformance", timeout=self.options.timeout)

    def need_consumer(self) -> None:
        """Skip the calling check for an input: it consumes nothing to feed."""
        if not self.options.module_cls.consumes:
            pytest.skip(f"{self.options.module_cls.__name__} is an input (consumes nothing)")

    def need_entry_point(self) -> str:
        """The entry-point name to check; skip the calling check when none was given."""
        if not self.options.entry_point:
            pytest.skip("no entry_point given to conformance()")
        return self.options.entry_point

    # ------------------------------------------------------------------ identity
    def test_is_a_module_class(self) -> None:
        """It subclasses Module and declares its queues with the expected types."""
        cls = self.options.module_cls
        assert issubclass(cls, Module)
        assert isinstance(cls.consumes, dict), "consumes maps queue names to method names"
        for queue, method in cls.consumes.items():
            assert callable(getattr(cls, method, None)), f"consumes[{queue!r}] names no method {method!r}"
        assert isinstance(cls.emits, tuple), "emits is a tuple of queue names"

    def test_declares_a_kind(self) -> None:
        """It is an Input, a Processor or an Output, and consumes what its kind implies."""
        cls = self.options.module_cls
        bases = {"input": Input, "processor": Processor, "output": Output}
        assert cls.kind in KINDS and issubclass(cls, bases[cls.kind]), (
            f"{cls.__name__} declares no kind: subclass wishbone.module.Input, Processor or Output "
            f"(kind is {cls.kind!r})"
        )
        if cls.kind == "input":
            assert not cls.consumes, f"{cls.__name__} is an input but consumes {sorted(cls.consumes)}"
        else:
            assert cls.consumes, f"{cls.__name__} is a {cls.kind} but consumes no queue"

    def test_io_module_defines_ready(self) -> None:
        """An input or output says when it can work (``ready``: bound, connected), for /ready."""
        cls = self.options.module_cls
        if cls.kind not in ("input", "output"):
            pytest.skip(f"{cls.__name__} is a {cls.kind}: it binds and connects nothing")
        own = [k for k in cls.__mro__ if k not in (Module, Input, Output, Processor, object) and "ready" in k.__dict__]
        assert own, (
            f"{cls.__name__} is an {cls.kind} and does not define `ready`: a property that is True while it is "
            "bound or connected (or `ready = True` with a comment, for one that binds and connects nothing)"
        )

    def test_discoverable_by_entry_point(self) -> None:
        """Its entry point in the group has the expected name and loads this very class."""
        name = self.need_entry_point()
        found = discovery.available(self.options.group)
        assert name in found, (
            f"no entry point {name!r} in group {self.options.group!r} (found: {', '.join(found) or 'none'}); "
            f'is the package installed, with [project.entry-points."{self.options.group}"] {name} = "..."?'
        )
        loaded = discovery.load(name, self.options.group)
        assert loaded is self.options.module_cls, (
            f"entry point {name!r} loads {loaded.__module__}.{loaded.__qualname__}, "
            f"not {self.options.module_cls.__module__}.{self.options.module_cls.__qualname__}"
        )

    # ------------------------------------------------------------------ documentation
    def test_documented(self) -> None:
        """Its own docstring names every parameter and every queue it declares."""
        cls = self.options.module_cls
        doc = cls.__dict__.get("__doc__") or ""
        assert doc.strip(), f"{cls.__name__} has no docstring of its own: `wishbone show` would show nothing"
        queues = [*cls.consumes, *cls.emits] + ([] if cls.consumes else ["outbox"])
        missing_params = [p.name for p in parameters_of(cls) if not _mentions(doc, p.name)]
        missing_queues = [q for q in queues if not _mentions(doc, q)]
        assert not missing_params, f"the docstring of {cls.__name__} does not mention parameter(s) {missing_params}"
        assert not missing_queues, f"the docstring of {cls.__name__} does not mention queue(s) {missing_queues}"

    def test_wishbone_show_renders_it(self) -> None:
        """``wishbone show NAME`` (the real CLI, in a subprocess) prints its documentation."""
        name = self.need_entry_point()
        if importlib.util.find_spec("wishbone.cli") is None:
            pytest.skip("wishbone.cli is not installed, so `wishbone show` cannot be checked")
        script = Path(sys.executable).with_name("wishbone")
        command = [str(script)] if script.exists() else [sys.executable, "-m", "wishbone.cli"]
        done = subprocess.run(
            [*command, "show", name, "--group", self.options.group],
            capture_output=True,
            text=True,
            timeout=_SUBPROCESS_TIMEOUT,
            env=_subprocess_env(),
        )
        assert done.returncode == 0, f"`wishbone show {name}` exited {done.returncode}: {done.stderr.strip()}"
        summary = discovery.summary(self.options.module_cls)
        assert summary in done.stdout, f"`wishbone show {name}` does not print the summary {summary!r}"
        for p in parameters_of(self.options.module_cls):
            assert _mentions(done.stdout, p.name), f"`wishbone show {name}` does not list parameter {p.name!r}"

    # ------------------------------------------------------------------ parameters
    def test_unknown_parameter_is_rejected(self, wishbone_config: dict) -> None:
        """A parameter it does not declare is refused, by name, before anything is built."""
        with pytest.raises(ParameterError) as refused:
            self.build({**wishbone_config, _UNKNOWN: 1})
        assert refused.value.parameter == _UNKNOWN
        assert _UNKNOWN in str(refused.value)

    def test_wrongly_typed_parameter_is_rejected(self, wishbone_config: dict) -> None:
        """A value of the wrong type for a typed parameter is refused, naming the parameter."""
        cls = self.options.module_cls
        for p in parameters_of(cls):
            for value in _WRONG_VALUES:
                try:
                    check_parameters(cls, {**wishbone_config, p.name: value})
                except ParameterError as exc:
                    if exc.parameter != p.name:
                        continue
                    with pytest.raises(ParameterError) as refused:
                        self.build({**wishbone_config, p.name: value})
                    assert refused.value.parameter == p.name
                    assert "expected" in str(refused.value), f"the error does not say what was expected: {exc}"
                    return
        pytest.skip(f"{cls.__name__} has no typed parameter to give a wrong value to")

    # ------------------------------------------------------------------ lifecycle
    def test_start_and_stop_are_idempotent_and_prompt(self, wishbone_config: dict) -> None:
        """start() twice, stop() twice: no error, each within the deadline."""
        timeout = self.options.timeout
        h = self.build(wishbone_config)
        try:
            h.start(timeout)
            h.start(timeout)
            assert h.module.alive, "the module died right after start"
        finally:
            h.stop(timeout)
        first = h.stop_seconds or 0.0
        h.stop(timeout)
        assert first <= timeout, f"stop() took {first:.2f}s, over the {timeout}s deadline"
        assert h.stop_seconds is not None and h.stop_seconds < 0.5, "a second stop() should return at once"
        assert not h.module.alive

    def test_no_greenlet_alive_after_stop(self, wishbone_config: dict) -> None:
        """Every greenlet the module started (through the framework or not) is gone after stop()."""
        gevent.sleep(0)  # the hub runs from here on: it is not the module's
        before = _running_greenlets()
        h = self.build(wishbone_config)
        h.start()
        if self.options.module_cls.consumes:
            queue = next(iter(self.options.module_cls.consumes))
            h.feed([copy.deepcopy(self.options.sample_event)], queue)
            h.wait_consumed(1)
        gevent.sleep(0.05)
        h.stop()
        deadline = time.monotonic() + 1.0
        while True:
            left = [g for key, g in _running_greenlets().items() if key not in before]
            if not left or time.monotonic() > deadline:
                break
            gevent.sleep(0.02)
        assert not h.live_greenlets(), f"greenlets of the module still alive after stop(): {h.live_greenlets()}"
        assert not left, f"greenlets started during the test still alive after stop(): {left}"

    def test_import_patches_nothing(self) -> None:
        """Importing the module's package (in a fresh interpreter) monkey-patches nothing."""
        module = self.options.module_cls.__module__
        code = (
            "import importlib, json, sys\n"
            "import gevent.monkey\n"
            f"for name in {json.dumps([module.split('.')[0], module])}:\n"
            "    importlib.import_module(name)\n"
            "patched = sorted(gevent.monkey.saved)\n"
            "print(json.dumps(patched))\n"
            "sys.exit(3 if gevent.monkey.is_anything_patched() else 0)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=_SUBPROCESS_TIMEOUT,
            env=_subprocess_env(),
        )
        assert done.returncode != 3, f"importing {module} monkey-patched {done.stdout.strip()}"
        assert done.returncode == 0, f"importing {module} in a fresh interpreter failed: {done.stderr.strip()[-800:]}"

    # ------------------------------------------------------------------ events
    def test_malformed_events_are_counted_not_crashing(self, wishbone_config: dict) -> None:
        """Non-events fed to each consumed queue are dropped and counted; consuming goes on."""
        self.need_consumer()
        malformed = ["not an event", {"data": 1}, {"headers": [], "data": 2}, {"headers": {}, "data": 3, "x": 4}]
        with self.build(wishbone_config) as h:
            consumed = 0
            for queue in self.options.module_cls.consumes:
                h.feed(list(malformed), queue)
                assert h.fed(queue)["dropped"] == len(malformed), f"malformed events into {queue!r} were not counted"
                assert h.module.alive, f"the module died on malformed events fed to {queue!r}"
                h.feed([copy.deepcopy(self.options.sample_event)], queue)
                consumed += 1
                h.wait_consumed(consumed)
                assert h.module.alive, f"the module died consuming the sample event from {queue!r}"
            assert h.module.failed == 0, f"the sample event failed: {h.collected('failed')[:1]}"

    def test_a_tracked_event_stays_tracked(self, wishbone_config: dict) -> None:
        """A tracked event fed to it settles only when what it emitted is released.

        A module that builds a plain new dict from an event lets go of the original, which
        acknowledges the input's message before anything was delivered: silent loss at the
        next crash. ``wishbone.ack.derive`` (one for one), ``split`` and ``merge`` keep it.
        """
        self.need_consumer()
        cls = self.options.module_cls
        if cls.kind == "output":
            pytest.skip(f"{cls.__name__} is an output: it settles what it delivered")
        settled: list = []
        queue = next(iter(cls.consumes))
        with self.build(wishbone_config) as h:
            event = track(copy.deepcopy(self.options.sample_event), lambda tag, ok: settled.append(ok), "t")
            h.feed([event], queue)
            del event
            h.wait_consumed(1)
            gevent.sleep(0.05)
            emitted = [e for collector in h.collectors.values() for e in collector.take_all()]
            gc.collect()
            if emitted:
                untracked = [e for e in emitted if delivery_of(e) is None]
                assert not untracked and not settled, (
                    f"{cls.__name__} emitted {len(untracked)} untracked event(s) and its input was acknowledged "
                    f"before they were delivered (settled: {settled}): build new events with "
                    "wishbone.ack.derive(original, data), split(original, items) or merge(originals, data)"
                )
                emitted.clear()
                gc.collect()
                assert settled, "the input was not acknowledged once every event it became was released"

    def test_a_reader_leaves_events_unchanged(self, wishbone_config: dict) -> None:
        """A module declaring ``changes_events = False`` consumes an event without changing it."""
        self.need_consumer()
        cls = self.options.module_cls
        if cls.changes_events:
            pytest.skip(f"{cls.__name__} may change events (changes_events is True)")
        queue = next(iter(cls.consumes))
        with self.build(wishbone_config) as h:
            event = copy.deepcopy(self.options.sample_event)
            before = copy.deepcopy(event)
            h.feed([event], queue)
            h.wait_consumed(1)
            gevent.sleep(0.05)
        assert event == before, (
            f"{cls.__name__} declares changes_events = False but changed the event it consumed: "
            f"{before!r:.200} became {event!r:.200}; declare changes_events = True"
        )

    def test_raising_event_reaches_failed(self, wishbone_config: dict) -> None:
        """An event that makes consume() raise is emitted on ``failed`` with the error in its headers."""
        self.need_consumer()
        if self.options.raising_event is None:
            pytest.skip("no raising_event given to conformance()")
        queue = next(iter(self.options.module_cls.consumes))
        with self.build(wishbone_config) as h:
            h.feed([copy.deepcopy(self.options.raising_event)], queue)
            [failed] = h.collect("failed", 1)
            assert h.module.failed == 1
            assert h.module.alive, "the module died on an event its consume() raised on"
        error = failed["headers"].get("error")
        assert isinstance(error, dict), f"no error recorded in the failed event's headers: {failed!r:.300}"
        assert error["module"] == "conformance" and error["type"], error
