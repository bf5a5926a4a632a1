"""Testing kit for module authors: a harness, pytest fixtures and a conformance suite.

Shipped with the core and registered as a pytest plugin (entry point ``pytest11``), so a
module package's tests get the fixtures ``harness`` and ``udp_port`` without imports (a
connector package brings its server's fixtures in a plugin of its own, skipping or failing
through :func:`~wishbone.testing.services.unavailable`).
:mod:`wishbone.testing.cli` runs the real ``wishbone`` command in a subprocess;
:func:`bootstrap`, :func:`write_bootstrap` and :func:`load_bootstrap` build the bootstrap of a
pipeline from a compact description (:mod:`wishbone.testing.builder`). The pieces::

    from wishbone.testing import Harness, conformance

    TestConformance = conformance(Upper, config={}, entry_point="upper")

    def test_upper(harness):
        with harness(Upper) as h:
            h.feed([new_event("a")])
            [event] = h.collect("outbox", 1)
        assert event["data"] == "A"

Names are loaded on first use: importing this package (as pytest does at startup) costs
nothing beyond the core, and the harness works without pytest installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wishbone.testing.builder import bootstrap, load_bootstrap, write_bootstrap
    from wishbone.testing.harness import Harness, HarnessTimeout
    from wishbone.testing.services import free_tcp_port, free_udp_port, poll_until, unavailable
    from wishbone.testing.suite import conformance

__all__ = [
    "Harness",
    "HarnessTimeout",
    "bootstrap",
    "conformance",
    "free_tcp_port",
    "free_udp_port",
    "load_bootstrap",
    "poll_until",
    "unavailable",
    "write_bootstrap",
]

_HOMES = {
    "Harness": "wishbone.testing.harness",
    "HarnessTimeout": "wishbone.testing.harness",
    "conformance": "wishbone.testing.suite",
    "bootstrap": "wishbone.testing.builder",
    "load_bootstrap": "wishbone.testing.builder",
    "write_bootstrap": "wishbone.testing.builder",
    "free_tcp_port": "wishbone.testing.services",
    "free_udp_port": "wishbone.testing.services",
    "poll_until": "wishbone.testing.services",
    "unavailable": "wishbone.testing.services",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its own module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'wishbone.testing' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(home), name)
