"""Standard input of the test process, replaced by a real pipe for the duration of a test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import gevent.os
import pytest


class StdinPipe:
    """The write end of the pipe that is fd 0 during a test."""

    def __init__(self, fd: int) -> None:
        self.fd: int | None = fd
        os.set_blocking(fd, False)

    def write(self, data: bytes) -> None:
        """Write all of *data*, yielding to the hub while the pipe is full (the reader runs then)."""
        view = memoryview(data)
        while view:
            assert self.fd is not None, "the pipe is closed"
            view = view[gevent.os.nb_write(self.fd, view) :]

    def close(self) -> None:
        """End of input for the reader (idempotent)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


@pytest.fixture(autouse=True)
def stdin_pipe() -> Iterator[StdinPipe]:
    """fd 0 becomes the read end of a fresh pipe; yields its write end, closed at teardown.

    Autouse, so that no test (the conformance suite included) reads the terminal or pytest's
    /dev/null: each reads a pipe that stays open until the test closes it.
    """
    saved = os.dup(0)
    read_end, write_end = os.pipe()
    os.dup2(read_end, 0)
    os.close(read_end)
    pipe = StdinPipe(write_end)
    try:
        yield pipe
    finally:
        pipe.close()
        os.set_blocking(0, True)
        os.dup2(saved, 0)
        os.close(saved)
