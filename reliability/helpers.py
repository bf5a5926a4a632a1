"""Helpers of the reliability suite: what only faults need: RSS of a process and the final
metrics lines of a log.

Running the real command and waiting: :mod:`wishbone.testing.cli`; bootstrap files and
pipelines of fixture modules that are not installed entry points: :mod:`wishbone.testing.builder`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PYTHON = sys.executable
HERE = Path(__file__).parent
METRIC_LINE = re.compile(r"Instance #(\d+):metrics: module (\S+) (.*)$")
QUEUE_LINE = re.compile(r"Instance #(\d+):metrics: queue (\S+) in=(\d+) out=(\d+) dropped=(\d+) size=(\d+)$")


def rss_kb(pid: int) -> int:
    """Resident set size of *pid* in KiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def final_module_metrics(log_text: str) -> dict[tuple[int, str], dict[str, int]]:
    """The last ``module NAME k=v ...`` line of each (instance, module) in a log with log metrics."""
    found: dict[tuple[int, str], dict[str, int]] = {}
    for line in log_text.splitlines():
        m = METRIC_LINE.search(line)
        if m:
            figures = {}
            for pair in m.group(3).split():
                key, _, value = pair.partition("=")
                if value.lstrip("-").isdigit():
                    figures[key] = int(value)
            found[(int(m.group(1)), m.group(2))] = figures
    return found


def final_queue_metrics(log_text: str) -> dict[tuple[int, str], dict[str, int]]:
    """The last ``queue NAME in= out= dropped= size=`` line of each (instance, queue) in a log."""
    found = {}
    for line in log_text.splitlines():
        m = QUEUE_LINE.search(line)
        if m:
            i, q, a, b, c, d = m.groups()
            found[(int(i), q)] = {"in": int(a), "out": int(b), "dropped": int(c), "size": int(d)}
    return found
