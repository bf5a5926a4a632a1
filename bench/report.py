"""One line per measured row, for ``bench/run.py`` to gather into docs/performance.md.

A benchmark prints its own human-readable table, and for each row of the performance table
one ``RESULT {json}`` line made by :func:`result`.
"""

from __future__ import annotations

import json
import time


def result(row: str, value: float, unit: str, target: str, met: bool | None, baseline: float | None = None) -> None:
    """Print the machine-readable line for one row of docs/performance.md (*met* None: no target)."""
    record = {"row": row, "value": value, "unit": unit, "baseline": baseline, "target": target, "met": met}
    print("RESULT " + json.dumps(record), flush=True)


class Window:
    """The timed window of one run: wall seconds and CPU seconds of this process, over the same span."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self._wall = self._cpu = 0.0

    def start(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def stop(self) -> float:
        """Wall seconds since :meth:`start`; the CPU seconds are kept in ``cpu``."""
        self.cpu = time.process_time() - self._cpu
        return time.perf_counter() - self._wall


#: A benchmark's run functions time their work with this; :func:`measured` reads its CPU seconds.
WINDOW = Window()


def measured(run, *args) -> tuple[float, float]:
    """(the rate *run* returns, CPU seconds of this process in the window *run* timed with WINDOW)."""
    rate = run(*args)
    return rate, WINDOW.cpu
