"""The conformance suite is not vacuous: each broken sample module fails the check for its fault.

Each case runs the real suite in a pytest subprocess (its own process, so a module that
patches or leaks cannot disturb this run) and reads the outcome of every check from JUnit XML.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

HERE = Path(__file__).parent

PATCHER = '''
"""Patches time on import, which a library must never do."""

import gevent.monkey

from wishbone.module import Processor

gevent.monkey.patch_time()


class Patcher(Processor):
    """Does nothing, but its import patches time.

    Queues:
        inbox: events in.
    """
'''


CASES = {
    "Good": ("conformance(Upper, raising_event={'headers': {}, 'data': 1})", set()),
    "Undocumented": ("conformance(Undocumented)", {"test_documented"}),
    "Leaky": ("conformance(Leaky)", {"test_no_greenlet_alive_after_stop"}),
    "SlowStop": (
        "conformance(SlowStop, timeout=0.5)",
        {
            "test_start_and_stop_are_idempotent_and_prompt",
            "test_no_greenlet_alive_after_stop",
            "test_malformed_events_are_counted_not_crashing",
            "test_a_reader_leaves_events_unchanged",  # an output: a reader, its harness stops late
        },
    ),
    "Fragile": (
        "conformance(Fragile, timeout=0.5)",
        {
            "test_no_greenlet_alive_after_stop",
            "test_malformed_events_are_counted_not_crashing",
            "test_a_tracked_event_stays_tracked",
        },
    ),
    "Patcher": ("conformance(Patcher)", {"test_import_patches_nothing"}),
    "NoKind": ("conformance(NoKind)", {"test_declares_a_kind"}),
    "NotReady": ("conformance(NotReady)", {"test_io_module_defines_ready"}),
    "EarlyAck": ("conformance(EarlyAck)", {"test_a_tracked_event_stays_tracked"}),
    "LyingReader": ("conformance(LyingReader)", {"test_a_reader_leaves_events_unchanged"}),
    "NotInstalled": (
        "conformance(Upper, entry_point='upper')",
        {"test_discoverable_by_entry_point", "test_wishbone_show_renders_it"},
    ),
    "WrongClass": (
        "conformance(Upper, entry_point='passthrough')",
        {"test_discoverable_by_entry_point", "test_wishbone_show_renders_it"},
    ),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, dict[str, str]]:
    """Run every case's suite in one pytest subprocess; return {case: {check: outcome}}."""
    tmp_path = tmp_path_factory.mktemp("suite")
    (tmp_path / "patcher_sample.py").write_text(PATCHER)
    lines = "".join(f"Test{case} = {line}\n" for case, (line, _) in CASES.items())
    (tmp_path / "test_it.py").write_text(
        "from patcher_sample import Patcher\n"
        "from test_testing_samples import EarlyAck, Fragile, Leaky, LyingReader, NoKind, NotReady, Undocumented\n"
        "from wishbone.testing.samples import SlowStop, Upper\n\n"
        "from wishbone.testing import conformance\n\n"
        f"{lines}"
    )
    report = tmp_path / "report.xml"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(tmp_path)])}
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", f"--junitxml={report}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=100,
    )
    found: dict[str, dict[str, str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        suite = case.get("classname", "").rpartition(".")[2].removeprefix("Test")
        found.setdefault(suite, {})[case.get("name")] = kinds[0] if kinds else "passed"
    return found


@pytest.mark.parametrize("case", list(CASES))
def test_the_suite_catches(outcomes, case):
    checks = outcomes[case]
    assert len(checks) == 15, checks
    failed = {name for name, outcome in checks.items() if outcome in ("failure", "error")}
    assert failed == CASES[case][1], checks


def test_the_greenlet_check_holds_as_the_first_gevent_use_in_a_process(tmp_path):
    """The hub starts during the check when nothing ran before it: it is not a leak."""
    (tmp_path / "test_first.py").write_text(
        "from wishbone.testing.samples import Upper\n\n"
        "from wishbone.testing import conformance\n\n"
        "TestFirst = conformance(Upper)\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", "-k", "no_greenlet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-2000:]
