"""End-to-end acknowledgement: an input learns when its message has been delivered.

An input that must acknowledge its source (a broker, say) wraps each event with
:func:`track`. The event stays a dict of the usual shape, but carries a :class:`Delivery`
that is shared by every copy a 1-n route makes. The delivery is *settled* when the last
event referring to it is gone: an output has written it (its ``consume()`` returned), an
asynchronous output has had it confirmed and let go of it, or a module has filtered it
out. If any copy reached a ``failed`` queue or was dropped on the way, the settlement is
negative (the input rejects the message); otherwise it is positive (the input acks it).
A copy that was *abandoned*, never attempted because a forced stop cut the drain short,
settles with ``None``: the input leaves the message unacknowledged, so its source
delivers it again (a broker requeues it when the connection closes).

Settlement runs the input's callback from whichever greenlet dropped the last reference,
so the callback must only record the outcome (append to a list); the input acknowledges
in batches from its own greenlet. Nothing here runs per event for untracked events.

A module that replaces an event by a new dict should use :func:`derive` so that the new
event keeps the delivery; a plain new dict settles the original when it is released.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Delivery", "TrackedEvent", "derive", "mark_abandoned", "mark_failed", "track"]

Settle = Callable[[Any, bool], None]


class Delivery:
    """The outcome of one input message, settled when its last event is released.

    :param settle: called once as ``settle(tag, ok)``; ``ok`` is False when any copy of
        the event failed or was dropped, None when a copy was abandoned at a forced stop.
    :param tag: the input's own reference to the message (a delivery tag, say).
    """

    __slots__ = ("_settle", "tag", "failed", "abandoned")

    def __init__(self, settle: Settle, tag: Any) -> None:
        self._settle = settle
        self.tag = tag
        self.failed = False
        self.abandoned = False

    def __del__(self) -> None:
        settle, self._settle = self._settle, None
        if settle is not None:
            settle(self.tag, None if self.abandoned else not self.failed)


class TrackedEvent(dict):
    """A dict event that carries a :class:`Delivery`; serializes like any dict."""

    __slots__ = ("delivery",)


def track(event: dict, settle: Settle, tag: Any) -> TrackedEvent:
    """Return *event* as a tracked event whose delivery calls ``settle(tag, ok)``."""
    tracked = TrackedEvent(event)
    tracked.delivery = Delivery(settle, tag)
    return tracked


def derive(original: dict, data: Any, headers: dict | None = None) -> dict:
    """Return a new event with *data* that keeps the delivery of *original*, if any."""
    new = {"headers": original["headers"] if headers is None else headers, "data": data}
    delivery = getattr(original, "delivery", None)
    if delivery is None:
        return new
    tracked = TrackedEvent(new)
    tracked.delivery = delivery
    return tracked


def mark_failed(events: list) -> None:
    """Mark the deliveries of *events* as failed (they were dropped or reached ``failed``)."""
    for event in events:
        delivery = getattr(event, "delivery", None)
        if delivery is not None:
            delivery.failed = True


def mark_abandoned(events: list) -> None:
    """Mark the deliveries of *events* as abandoned (a forced stop: never attempted)."""
    for event in events:
        delivery = getattr(event, "delivery", None)
        if delivery is not None:
            delivery.abandoned = True
