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

A module that replaces an event by a new dict uses :func:`derive` so that the new event
keeps the delivery; a plain new dict settles the original when it is released, which acks
it before anything was delivered (silent loss at the next crash). Events split into many
(:func:`split`) share the original's delivery, so it settles when the last part is
released, negatively if any part failed. Events merged into one (:func:`merge`) carry a
:class:`MergedDelivery` that holds every original's delivery: releasing the merged event
settles them all, and a failure of the merged event fails each of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = [
    "Delivery",
    "MergedDelivery",
    "TrackedEvent",
    "delivery_of",
    "derive",
    "mark_abandoned",
    "mark_failed",
    "merge",
    "split",
    "track",
]

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


class MergedDelivery:
    """The deliveries of several originals, carried by the one event made from them.

    It keeps each original :class:`Delivery` alive while the merged event lives, so they
    settle when it is released; marking it failed or abandoned marks each of them.
    """

    __slots__ = ("parts",)

    def __init__(self, parts: list) -> None:
        self.parts = parts

    @property
    def failed(self) -> bool:
        return any(part.failed for part in self.parts)

    @failed.setter
    def failed(self, value: bool) -> None:
        for part in self.parts:
            part.failed = value

    @property
    def abandoned(self) -> bool:
        return any(part.abandoned for part in self.parts)

    @abandoned.setter
    def abandoned(self, value: bool) -> None:
        for part in self.parts:
            part.abandoned = value


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
    return _carrying(new, getattr(original, "delivery", None))


def delivery_of(event: Any) -> Delivery | MergedDelivery | None:
    """The delivery *event* carries, or None for an untracked event."""
    return getattr(event, "delivery", None)


def _carrying(new: dict, delivery: Delivery | MergedDelivery | None) -> dict:
    if delivery is None:
        return new
    tracked = TrackedEvent(new)
    tracked.delivery = delivery
    return tracked


def split(original: dict, items: list, headers: dict | None = None) -> list[dict]:
    """One event per item of *items*, all sharing the delivery of *original* (if any).

    The original settles when the last part is released, negatively if any part failed or
    was dropped. Every part gets its own shallow copy of the headers (of *headers*, or of
    the original's), so that a module changing one part's headers changes no other.
    """
    base = original["headers"] if headers is None else headers
    delivery = getattr(original, "delivery", None)
    return [_carrying({"headers": dict(base), "data": item}, delivery) for item in items]


def merge(originals: list, data: Any, headers: dict | None = None) -> dict:
    """One event with *data* made from *originals*: it settles each of them when it settles.

    Untracked originals contribute nothing; if none is tracked the result is a plain event.
    """
    parts = []
    for event in originals:
        delivery = getattr(event, "delivery", None)
        if isinstance(delivery, MergedDelivery):
            parts.extend(delivery.parts)
        elif delivery is not None:
            parts.append(delivery)
    new = {"headers": {} if headers is None else headers, "data": data}
    if not parts:
        return new
    return _carrying(new, parts[0] if len(parts) == 1 else MergedDelivery(parts))


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
