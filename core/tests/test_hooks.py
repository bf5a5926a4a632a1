"""Hookspecs: each hook fires at its moment (a test per hook), each is documented, and a
misspelled hookimpl fails loudly."""

from __future__ import annotations

import inspect
import logging

import gevent
import pluggy
import pytest
from wishbone import Pipeline, hookimpl, hookspecs
from wishbone.plugins import plugin_manager

HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("wishbone_"))
DOC = {
    "bootstrap": {
        "input": {"module": "testevent", "variables": {"interval": 0, "count": 300}},
        "out": {"module": "null"},
    },
    "routingtable": {"input.outbox": ["out.inbox"]},
    "metrics": {"interval": 0.05, "variables": {"skip_idle": False}},
}


class Recorder:
    """Records every hook call, in order."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []

    @hookimpl
    def wishbone_bootstrap_loaded(self, config, source):
        self.calls.append(("wishbone_bootstrap_loaded", {"config": config, "source": source}))

    @hookimpl
    def wishbone_module_before_start(self, pipeline, module):
        self.calls.append(("wishbone_module_before_start", {"module": module}))

    @hookimpl
    def wishbone_module_after_start(self, pipeline, module):
        self.calls.append(("wishbone_module_after_start", {"module": module}))

    @hookimpl
    def wishbone_module_before_stop(self, pipeline, module):
        self.calls.append(("wishbone_module_before_stop", {"module": module}))

    @hookimpl
    def wishbone_module_after_stop(self, pipeline, module):
        self.calls.append(("wishbone_module_after_stop", {"module": module}))

    @hookimpl
    def wishbone_pipeline_started(self, pipeline):
        self.calls.append(("wishbone_pipeline_started", {"pipeline": pipeline}))

    @hookimpl
    def wishbone_pipeline_draining(self, pipeline, timeout):
        self.calls.append(("wishbone_pipeline_draining", {"timeout": timeout}))

    @hookimpl
    def wishbone_pipeline_stopped(self, pipeline, drained):
        self.calls.append(("wishbone_pipeline_stopped", {"drained": drained}))

    @hookimpl
    def wishbone_metrics_collected(self, pipeline, snapshot):
        self.calls.append(("wishbone_metrics_collected", {"snapshot": snapshot}))


def make_recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def run():
    rec = make_recorder()
    p = Pipeline.from_dict(DOC, source="hooks.json", plugins=[rec])
    with gevent.Timeout(10):
        p.start()
        p.join_inputs(5)
        gevent.sleep(0.12)
        p.stop(5)
    return p, rec.calls


def calls_of(calls, hook):
    return [kwargs for name, kwargs in calls if name == hook]


def test_every_hook_is_tested_here():
    tested = {name[len("test_") :] for name in globals() if name.startswith("test_wishbone_")}
    assert tested == set(HOOKS)


def test_every_hook_is_documented_with_each_parameter():
    for name in HOOKS:
        func = getattr(hookspecs, name)
        doc = inspect.getdoc(func) or ""
        assert doc, name
        for param in inspect.signature(func).parameters:
            assert f":param {param}:" in doc, (name, param)
    assert set(HOOKS) <= set(hookspecs.__all__)


def test_wishbone_bootstrap_loaded(run):
    (call,) = calls_of(run[1], "wishbone_bootstrap_loaded")
    assert call["source"] == "hooks.json" and "bootstrap" in call["config"]


def test_wishbone_module_before_start(run):
    names = [c["module"].name for c in calls_of(run[1], "wishbone_module_before_start")]
    assert names == ["out", "input"]  # outputs start first


def test_wishbone_module_after_start(run):
    assert [c["module"].name for c in calls_of(run[1], "wishbone_module_after_start")] == ["out", "input"]


def test_wishbone_module_before_stop(run):
    assert [c["module"].name for c in calls_of(run[1], "wishbone_module_before_stop")] == ["out", "input"]


def test_wishbone_module_after_stop(run):
    calls = calls_of(run[1], "wishbone_module_after_stop")
    assert len(calls) == 2 and all(g.dead for c in calls for g in c["module"].greenlets())


def test_wishbone_pipeline_started(run):
    names = [n for n, _ in run[1]]
    assert names.index("wishbone_pipeline_started") > names.index("wishbone_module_after_start")


def test_wishbone_pipeline_draining(run):
    (call,) = calls_of(run[1], "wishbone_pipeline_draining")
    assert call["timeout"] == 5


def test_wishbone_pipeline_stopped(run):
    (call,) = calls_of(run[1], "wishbone_pipeline_stopped")
    assert call["drained"] is True
    assert [n for n, _ in run[1]][-1] == "wishbone_pipeline_stopped"


def test_wishbone_metrics_collected(run):
    calls = calls_of(run[1], "wishbone_metrics_collected")
    assert len(calls) >= 2  # at least one interval, and the final one at stop
    assert calls[-1]["snapshot"]["modules"]["out"]["consumed"] == 300


def test_no_hook_is_called_per_event(run):
    assert len(run[1]) < 40  # 300 events went through


def test_misspelled_hookimpl_fails_loudly():
    class Typo:
        @hookimpl
        def wishbone_pipline_started(self, pipeline):
            pass

    with pytest.raises(pluggy.PluginValidationError):
        plugin_manager([Typo()], load_entry_points=False)


def test_log_metrics_writes_to_the_log(caplog):
    with caplog.at_level(logging.INFO):
        p = Pipeline.from_dict(DOC)
        with gevent.Timeout(10):
            p.start()
            p.join_inputs(5)
            p.stop(5)
    lines = [r.getMessage() for r in caplog.records]
    assert "queue out.inbox in=300 out=300 dropped=0 size=0" in lines
