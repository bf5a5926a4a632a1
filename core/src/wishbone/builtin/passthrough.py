"""The ``passthrough`` module: hands every event on unchanged."""

from wishbone.module import Processor


class Passthrough(Processor):
    """Passes every event from its inbox to its outbox unchanged.

    Parameters:
        none.

    Queues:
        inbox: events in.
        outbox: the same events out.
    """

    changes_events = False  # hands the event on as it came

    def consume(self, event: dict) -> None:
        self.emit(event)
