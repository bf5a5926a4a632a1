"""One line per measured row, for ``bench/run.py`` to gather into docs/performance.md.

A benchmark prints its own human-readable table, and for each row of the performance table
one ``RESULT {json}`` line made by :func:`result`.
"""

from __future__ import annotations

import json


def result(row: str, value: float, unit: str, target: str, met: bool | None, baseline: float | None = None) -> None:
    """Print the machine-readable line for one row of docs/performance.md (*met* None: no target)."""
    record = {"row": row, "value": value, "unit": unit, "baseline": baseline, "target": target, "met": met}
    print("RESULT " + json.dumps(record), flush=True)
