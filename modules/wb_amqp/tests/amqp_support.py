"""Helpers for wb-amqp's tests: pipelines, waiting inside gevent, leak counters, a failing module.

The broker client, ``rabbitmqctl`` and message-id helpers are in :mod:`wb_amqp.testing`.
"""

from __future__ import annotations

import gevent
from wishbone import Pipeline


def wait_for(condition, deadline: float, step: float = 0.1, what: str = "condition", show=None) -> None:
    """Let greenlets run until *condition()* holds; AssertionError after *deadline* s.

    *show* (a callable) adds the state at the deadline to the error message.
    """
    try:
        with gevent.Timeout(deadline):
            while not condition():
                gevent.sleep(step)
    except gevent.Timeout:
        state = f"; state: {show()}" if show is not None else ""
        raise AssertionError(f"{what} not met within {deadline} s{state}") from None


def pipeline_document(url: str, source: str, target: str, in_vars: dict | None = None, out_vars: dict | None = None):
    """amqp_in (source) -> passthrough -> amqp_out (target, via the default exchange)."""
    return {
        "bootstrap": {
            "input": {"module": "amqp_in", "variables": {"url": url, "queue": source, **(in_vars or {})}},
            "pass": {"module": "passthrough"},
            "output": {"module": "amqp_out", "variables": {"url": url, "routing_key": target, **(out_vars or {})}},
        },
        "routingtable": {"input.outbox": ["pass.inbox"], "pass.outbox": ["output.inbox"]},
    }


def pipeline(url: str, source: str, target: str, **kwargs) -> Pipeline:
    """The in-process pipeline of :func:`pipeline_document`."""
    return Pipeline.from_dict(pipeline_document(url, source, target, **kwargs))


def live_greenlets() -> int:
    """Greenlets alive in this process right now (a leak shows as a growing number)."""
    import gc

    import greenlet

    return sum(1 for o in gc.get_objects() if isinstance(o, greenlet.greenlet) and not o.dead and o.parent is not None)


def open_fds() -> int:
    """File descriptors open in this process (sockets and pipes leak here first)."""
    import os

    return len(os.listdir("/proc/self/fd"))


EXPLODE = '''
"""A module whose consume() raises for odd message ids (registered only for one test)."""
from wishbone.module import Module


class Explode(Module):
    """Raises ValueError for events whose data is an odd number; passes the others on.

    Parameters:
        none.

    Queues:
        inbox: events in.  outbox: even ones out.  failed: odd ones.
    """

    def consume(self, event):
        if int(event["data"]) % 2:
            # The traceback keeps this frame, and the core logs the exception object; pytest keeps
            # log records for its report, so without this del the event (and its ack) would live on.
            del event
            raise ValueError("odd message id")
        self.emit(event)
'''


def install_explode_module(root) -> None:
    """Write a one-file distribution with a ``wishbone.module`` entry point ``explode`` under *root*.

    The caller puts *root* on ``sys.path``; importlib.metadata then finds it like any installed package.
    """
    (root / "wb_amqp_test_explode.py").write_text(EXPLODE)
    info = root / "wb_amqp_test_explode-0.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: wb-amqp-test-explode\nVersion: 0.0.0\n")
    (info / "entry_points.txt").write_text("[wishbone.module]\nexplode = wb_amqp_test_explode:Explode\n")
