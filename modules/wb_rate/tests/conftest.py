"""A tracked input for pipeline tests (wishbone.testing.samples.TrackedCounter)."""

from __future__ import annotations

import pytest
from wishbone.testing.samples import TrackedCounter


@pytest.fixture
def tracked_counter() -> type:
    """The :class:`~wishbone.testing.samples.TrackedCounter` input class."""
    return TrackedCounter
