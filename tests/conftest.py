"""Fixtures of the cross-package tests; the helpers that run the real ``wishbone`` command are in
:mod:`wishbone.testing.cli`."""

from __future__ import annotations

from pathlib import Path

import pytest
from wishbone.testing.cli import kill_pidfile


@pytest.fixture
def pid_path(tmp_path: Path):
    """A pidfile path in the test's temp dir; whatever it names is killed after the test."""
    path = tmp_path / "wishbone.pid"
    yield path
    kill_pidfile(path)
