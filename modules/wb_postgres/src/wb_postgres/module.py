"""The ``postgres`` output: appends the data of events to a file.

An output (a subclass of ``wishbone.Output``) delivers what it consumes outside and does not
change the events it is given. It collects a batch in ``consume()`` and
writes it at once in ``end_of_batch()``, keeping the events until then, so an input that
acknowledges its source (AMQP) only does so once they are written.
"""

from __future__ import annotations

from typing import TextIO

from wishbone import Output


class Postgres(Output):
    """Appends the text data of each event to a file, one line per event.

    Parameters:
        path (str): the file to append to (created when missing).

    Queues:
        inbox: events with text data.
        failed: events whose data is not text, or that could not be written (the
            error is in ``headers.error``).
    """

    def __init__(self, path: str) -> None:
        if not path:
            raise ValueError("path must name a file")
        self.path = path
        self.written = 0
        self._file: TextIO | None = None
        self._batch: list[dict] = []

    def on_start(self) -> None:
        """Open the file (a missing directory fails the start)."""
        self._file = open(self.path, "a", encoding="utf-8")  # closed in on_stop

    @property
    def ready(self) -> bool:
        """True while the file is open."""
        return self._file is not None and not self._file.closed

    def consume(self, event: dict) -> None:
        """Keep the event for this batch's write, or raise: it goes to ``failed``."""
        if not isinstance(event["data"], str):
            raise TypeError(f"expected text data, got {type(event['data']).__name__}")
        self._batch.append(event)

    def end_of_batch(self) -> None:
        """Write the batch with one call; on error its events go to ``failed``."""
        batch, self._batch = self._batch, []
        if not batch:
            return
        try:
            self._file.write("".join(event["data"] + "\n" for event in batch))
            self._file.flush()
        except OSError as exc:
            self.log.error("Cannot write %d event(s) to %s: %s", len(batch), self.path, exc)
            for event in batch:
                self.fail(event, exc)  # to ``failed``, error in its headers; an input upstream rejects it
            return
        self.written += len(batch)

    def on_stop(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()

    def metrics(self) -> dict:
        """Lines written so far."""
        return {"written": self.written}
