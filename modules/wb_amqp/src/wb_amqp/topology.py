"""What a module declares on the broker each time it (re)connects: exchange, queue, bindings."""

from __future__ import annotations

from dataclasses import dataclass, field

from wb_amqp.session import Session

__all__ = ["Topology"]

EXCHANGE_TYPES = ("direct", "fanout", "topic", "headers", "x-consistent-hash", "x-delayed-message")


@dataclass
class Topology:
    """An optional exchange, an optional queue and the routing keys that bind them.

    An empty exchange name means the default exchange (never declared); an empty or
    None queue name means no queue (outputs) — except for inputs, where ``""`` asks
    the broker for a server-named queue. With ``declare`` False nothing is created:
    the queue is only checked to exist (a passive declare).
    """

    exchange: str = ""
    exchange_type: str = "direct"
    exchange_durable: bool = True
    exchange_auto_delete: bool = False
    exchange_arguments: dict = field(default_factory=dict)
    queue: str | None = None
    queue_durable: bool = True
    queue_exclusive: bool = False
    queue_auto_delete: bool = False
    queue_arguments: dict = field(default_factory=dict)
    bindings: list = field(default_factory=list)
    declare: bool = True

    def check(self) -> None:
        """Raise ValueError for combinations the broker would refuse anyway."""
        if self.bindings and not self.exchange:
            raise ValueError("bindings need an exchange (the default exchange cannot be bound)")
        if self.bindings and self.queue is None:
            raise ValueError("bindings need a queue")

    def apply(self, session: Session) -> str | None:
        """Declare everything on *session*'s channel; return the queue's actual name."""
        channel = session.channel
        if self.exchange and self.declare:
            session.call(
                channel.exchange_declare,
                exchange=self.exchange,
                exchange_type=self.exchange_type,
                durable=self.exchange_durable,
                auto_delete=self.exchange_auto_delete,
                arguments=self.exchange_arguments or None,
            )
        queue = self.queue
        if queue is None:
            return None
        frame = session.call(
            channel.queue_declare,
            queue=queue,
            passive=not self.declare,
            durable=self.queue_durable,
            exclusive=self.queue_exclusive,
            auto_delete=self.queue_auto_delete,
            arguments=self.queue_arguments or None,
        )
        queue = frame.method.queue
        for key in self.bindings:
            session.call(channel.queue_bind, queue=queue, exchange=self.exchange, routing_key=key)
        return queue

    def describe(self) -> str:
        """A short description for the log (``queue 'q' bound to 'ex' by 'a', 'b'``)."""
        parts = []
        if self.queue is not None:
            parts.append(f"queue {self.queue!r}")
        if self.exchange:
            parts.append(f"exchange {self.exchange!r}")
        if self.bindings:
            parts.append("bound by " + ", ".join(repr(k) for k in self.bindings))
        return " ".join(parts) or "the default exchange"
