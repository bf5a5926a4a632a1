"""The ``passthrough`` module: hands every event on unchanged."""

from wishbone.module import Module


class Passthrough(Module):
    """Passes every event from its inbox to its outbox unchanged.

    Parameters:
        none.

    Queues:
        inbox: events in.
        outbox: the same events out.
    """

    def consume(self, event: dict) -> None:
        self.emit(event)
