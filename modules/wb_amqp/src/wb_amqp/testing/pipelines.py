"""Pipelines through the real broker for tests: the shovel ``amqp_in -> passthrough -> amqp_out``.

::

    from wb_amqp.testing import shovel, wait_for

    p = shovel(amqp_vhost_url, source, target, in_vars={"decode": "json"})
    p.start()
    try:
        wait_for(lambda: p.snapshot()["modules"]["input"]["acked"] == 100, 20, show=p.snapshot)
    finally:
        p.stop(10)

The instances are named ``input``, ``pass`` and ``output``. Importing this imports gevent and the
core's pipeline: it is not loaded by the pytest plugin, only by the tests that use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gevent
from wishbone import Pipeline
from wishbone.testing import bootstrap

__all__ = ["shovel", "shovel_document", "wait_for"]


def wait_for(
    condition: Callable[[], object],
    deadline: float,
    step: float = 0.1,
    what: str = "condition",
    show: Callable[[], Any] | None = None,
) -> None:
    """Let greenlets run until *condition()* holds; AssertionError after *deadline* seconds.

    *show* (a callable) adds the state at the deadline to the error message.
    """
    try:
        with gevent.Timeout(deadline):
            while not condition():
                gevent.sleep(step)
    except gevent.Timeout:
        state = f"; state: {show()}" if show is not None else ""
        raise AssertionError(f"{what} not met within {deadline} s{state}") from None


def shovel_document(
    url: str, source: str, target: str, in_vars: dict | None = None, out_vars: dict | None = None
) -> dict:
    """The bootstrap document of amqp_in (queue *source*) -> passthrough -> amqp_out (queue *target*).

    amqp_out publishes through the default exchange with routing key *target*; *in_vars* and
    *out_vars* add to (or override) either side's variables.
    """
    return bootstrap(
        {
            "input": ("amqp_in", {"url": url, "queue": source, **(in_vars or {})}),
            "pass": "passthrough",
            "output": ("amqp_out", {"url": url, "routing_key": target, **(out_vars or {})}),
        },
        {"input.outbox": ["pass.inbox"], "pass.outbox": ["output.inbox"]},
    )


def shovel(url: str, source: str, target: str, **kwargs: Any) -> Pipeline:
    """The in-process (not started) pipeline of :func:`shovel_document`, same arguments."""
    return Pipeline.from_dict(shovel_document(url, source, target, **kwargs))
