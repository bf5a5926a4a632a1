"""The ``null`` output: consumes and forgets."""

from wishbone.module import Output


class Null(Output):
    """Consumes events and discards them (they are counted as consumed).

    Parameters:
        none.

    Queues:
        inbox: events to discard.
        outbox: never used: nothing is passed on.
    """

    ready = True  # connects to nothing

    def consume(self, event: dict) -> None:
        pass

    def consume_batch(self, events: list) -> None:
        """Discard a whole batch at once (the framework counts it as consumed)."""
