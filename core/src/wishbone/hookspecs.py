"""Wishbone's lifecycle hooks: the extension points plugins implement with pluggy.

A plugin is any object (a module, an instance) with functions named after these hooks and
marked with :data:`hookimpl`. Third-party plugins are found through the entry-point group
``wishbone.plugins``; metrics modules are registered as plugins too. Hooks fire on
lifecycle events only, never per event: a pipeline calls each at most a few times, plus
``wishbone_metrics_collected`` once per metrics interval.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from wishbone.module import Module
    from wishbone.pipeline import Pipeline

PROJECT = "wishbone"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# -------------------------------------------------------------------------------------
# Bootstrap
# -------------------------------------------------------------------------------------


@hookspec
def wishbone_bootstrap_loaded(config: dict, source: str) -> None:
    """The bootstrap file has been read and checked; no module is built yet.

    :param config: the bootstrap document (the four sections, defaults filled in).
    :param source: the file it came from (or ``<dict>``).
    """


# -------------------------------------------------------------------------------------
# Modules: before/after pairs around start and stop
# -------------------------------------------------------------------------------------


@hookspec
def wishbone_module_before_start(pipeline: Pipeline, module: Module) -> None:
    """*module* is built, bound and routed, and about to start.

    :param pipeline: the pipeline it belongs to.
    :param module: the module instance (``module.name`` is its bootstrap name).
    """


@hookspec
def wishbone_module_after_start(pipeline: Pipeline, module: Module) -> None:
    """*module* has started: its consumers and producers run.

    :param pipeline: the pipeline it belongs to.
    :param module: the module instance.
    """


@hookspec
def wishbone_module_before_stop(pipeline: Pipeline, module: Module) -> None:
    """*module* is about to stop; everything upstream of it has drained.

    :param pipeline: the pipeline it belongs to.
    :param module: the module instance.
    """


@hookspec
def wishbone_module_after_stop(pipeline: Pipeline, module: Module) -> None:
    """*module* has stopped: it consumes nothing more and its greenlets are gone.

    :param pipeline: the pipeline it belongs to.
    :param module: the module instance.
    """


# -------------------------------------------------------------------------------------
# Pipeline
# -------------------------------------------------------------------------------------


@hookspec
def wishbone_pipeline_started(pipeline: Pipeline) -> None:
    """Every module has started.

    :param pipeline: the running pipeline.
    """


@hookspec
def wishbone_pipeline_draining(pipeline: Pipeline, timeout: float) -> None:
    """A stop was asked for: inputs stop next, then queues drain into the outputs.

    :param pipeline: the pipeline.
    :param timeout: seconds the drain may take before it is forced.
    """


@hookspec
def wishbone_pipeline_stopped(pipeline: Pipeline, drained: bool) -> None:
    """Every module has stopped.

    :param pipeline: the pipeline.
    :param drained: True if everything drained within the deadline, False if forced.
    """


# -------------------------------------------------------------------------------------
# Metrics
# -------------------------------------------------------------------------------------


@hookspec
def wishbone_metrics_collected(pipeline: Pipeline, snapshot: dict) -> None:
    """A metrics snapshot was taken (every ``metrics.interval`` seconds, and at stop).

    :param pipeline: the pipeline measured.
    :param snapshot: ``{"time", "instance", "queues": {"a.outbox": {"in", "out",
        "dropped", "size"}}, "modules": {"a": {"consumed", "failed", ...}}}``.
    """


__all__ = [
    "hookimpl",
    "hookspec",
    "wishbone_bootstrap_loaded",
    "wishbone_metrics_collected",
    "wishbone_module_after_start",
    "wishbone_module_after_stop",
    "wishbone_module_before_start",
    "wishbone_module_before_stop",
    "wishbone_pipeline_draining",
    "wishbone_pipeline_started",
    "wishbone_pipeline_stopped",
]
