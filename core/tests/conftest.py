"""Shared helpers for the core's tests: build pipelines from dicts, run them with a deadline."""

from __future__ import annotations

import gevent
import pytest
from wishbone import Pipeline


def build(modules: dict, routes: dict, **kwargs) -> Pipeline:
    """A pipeline from a compact description (``{"name": ("module", {variables})}``)."""
    doc = {
        "bootstrap": {name: {"module": m, "variables": v} for name, (m, v) in modules.items()},
        "routingtable": routes,
    }
    return Pipeline.from_dict(doc, **kwargs)


def run_to_completion(pipeline: Pipeline, deadline: float = 20.0) -> bool:
    """Start, wait for every counted input to finish, drain and stop, within *deadline*."""
    with gevent.Timeout(deadline):
        pipeline.start()
        assert pipeline.join_inputs(deadline)
        return pipeline.stop(deadline)


@pytest.fixture
def pipeline_builder():
    return build
