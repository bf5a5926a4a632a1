"""What a module declares on the broker each time it (re)connects: exchange, queue, bindings."""

from __future__ import annotations

from dataclasses import dataclass, field

from wb_amqp.session import Session, SessionError, SessionLost

__all__ = ["Topology"]

EXCHANGE_TYPES = ("direct", "fanout", "topic", "headers", "x-consistent-hash", "x-delayed-message")


@dataclass
class Topology:
    """An optional exchange, an optional queue and the routing keys that bind them.

    An empty exchange name means the default exchange (never declared); an empty or
    None queue name means no queue (outputs) — except for inputs, where ``""`` asks
    the broker for a server-named queue. With ``declare`` False nothing is created:
    the queue is only checked to exist (a passive declare).

    Dead letters: when ``queue_arguments`` name an ``x-dead-letter-exchange``, the broker
    sends rejected messages there, and discards them if it does not exist. With
    ``dead_letter_queue`` that exchange is declared (a durable fanout) with this durable
    queue bound to it; without, the exchange is checked to exist, and a missing one fails the
    set-up with an error naming it (nothing is consumed, so nothing is lost).
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
    dead_letter_queue: str | None = None

    @property
    def dead_letter_exchange(self) -> str | None:
        """The exchange the queue dead-letters to (``x-dead-letter-exchange``), None if it has none."""
        value = self.queue_arguments.get("x-dead-letter-exchange")
        return None if value is None else str(value)

    def check(self) -> None:
        """Raise ValueError for combinations the broker would refuse anyway."""
        if self.bindings and not self.exchange:
            raise ValueError("bindings need an exchange (the default exchange cannot be bound)")
        if self.bindings and self.queue is None:
            raise ValueError("bindings need a queue")
        if self.dead_letter_queue is not None:
            if not self.dead_letter_queue:
                raise ValueError("dead_letter_queue needs a name")
            if not self.dead_letter_exchange:
                raise ValueError(
                    'dead_letter_queue needs queue_arguments with an "x-dead-letter-exchange" to bind it to'
                )

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
        self._dead_letters(session)
        return queue

    def _dead_letters(self, session: Session) -> None:
        """Declare the dead-letter exchange and queue, or check that the exchange exists."""
        exchange = self.dead_letter_exchange
        if not exchange:  # none, or the default exchange (which always exists)
            return
        channel = session.channel
        if self.dead_letter_queue is not None and self.declare:
            session.call(channel.exchange_declare, exchange=exchange, exchange_type="fanout", durable=True)
            session.call(channel.queue_declare, queue=self.dead_letter_queue, durable=True)
            session.call(channel.queue_bind, queue=self.dead_letter_queue, exchange=exchange, routing_key="")
            return
        try:
            session.call(channel.exchange_declare, exchange=exchange, passive=True)
        except SessionLost as exc:
            if "NOT_FOUND" not in str(exc):
                raise
            raise SessionError(
                f"the dead-letter exchange {exchange!r} (x-dead-letter-exchange of queue {self.queue!r}) does "
                "not exist, so the broker would discard every rejected message: declare it with a queue bound "
                "to it, or set dead_letter_queue to have it declared"
            ) from None

    def describe(self) -> str:
        """A short description for the log (``queue 'q' bound to 'ex' by 'a', 'b'``)."""
        parts = []
        if self.queue is not None:
            parts.append(f"queue {self.queue!r}")
        if self.exchange:
            parts.append(f"exchange {self.exchange!r}")
        if self.bindings:
            parts.append("bound by " + ", ".join(repr(k) for k in self.bindings))
        if self.dead_letter_exchange:
            parts.append(f"dead-lettering to {self.dead_letter_exchange!r}")
            if self.dead_letter_queue is not None:
                parts.append(f"(queue {self.dead_letter_queue!r})")
        return " ".join(parts) or "the default exchange"
