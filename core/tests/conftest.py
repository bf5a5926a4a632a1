"""Fixtures of the core's tests. Pipelines are built with :mod:`wishbone.testing.builder`, sample
modules come from :mod:`wishbone.testing.samples`: test modules import no helper by file name
(pytest runs with ``--import-mode=importlib``, so every package's tests collect in one run)."""

from __future__ import annotations

import gevent
import pytest
from wishbone import Pipeline
from wishbone.testing import load_bootstrap


def _run_to_completion(pipeline: Pipeline, deadline: float = 20.0) -> bool:
    """Start, wait for every counted input to finish, drain and stop, within *deadline*."""
    with gevent.Timeout(deadline):
        pipeline.start()
        assert pipeline.join_inputs(deadline)
        return pipeline.stop(deadline)


def _pipeline(modules: dict, routes: list[tuple[str, str, str, str]], queues: dict | None = None) -> Pipeline:
    """Module classes wired by ``(source, queue, destination, queue)`` routes; *queues* by instance."""
    table: dict[str, list[str]] = {}
    for source, queue, destination, inbox in routes:
        table.setdefault(f"{source}.{queue}", []).append(f"{destination}.{inbox}")
    specs = {name: (cls, variables, (queues or {}).get(name, {})) for name, (cls, variables) in modules.items()}
    return Pipeline(load_bootstrap(specs, table), load_entry_points=False)


@pytest.fixture
def pipeline():
    """``pipeline({"name": (cls, {variables})}, [(source, queue, destination, queue)], queues=None)``.

    A :class:`~wishbone.Pipeline` of module classes (test-only ones too), checked as a file is,
    without plugins from entry points.
    """
    return _pipeline


@pytest.fixture
def run_to_completion():
    """``run_to_completion(pipeline, deadline=20.0) -> drained``: start, wait for the inputs, stop."""
    return _run_to_completion
