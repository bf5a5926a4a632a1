"""Fixtures of the core's tests. Pipelines are built with :mod:`wishbone.testing.builder`, sample
modules come from :mod:`wishbone.testing.samples`: test modules import no helper by file name
(pytest runs with ``--import-mode=importlib``, so every package's tests collect in one run)."""

from __future__ import annotations

import gevent
import pytest
from wishbone import Pipeline


def _run_to_completion(pipeline: Pipeline, deadline: float = 20.0) -> bool:
    """Start, wait for every counted input to finish, drain and stop, within *deadline*."""
    with gevent.Timeout(deadline):
        pipeline.start()
        assert pipeline.join_inputs(deadline)
        return pipeline.stop(deadline)


@pytest.fixture
def run_to_completion():
    """``run_to_completion(pipeline, deadline=20.0) -> drained``: start, wait for the inputs, stop."""
    return _run_to_completion
