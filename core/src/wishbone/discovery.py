"""Finding modules: entry points read with :mod:`importlib.metadata`.

A package makes a module available by declaring an entry point in a group (by default
``wishbone.module``; metrics modules use ``wishbone.metrics``) whose name is the module's
name and whose value is its class. The core registers its built-ins the same way. Only
installed entry points can be loaded: a bootstrap file never names an import path.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

__all__ = ["DEFAULT_GROUP", "METRICS_GROUP", "ModuleNotFound", "available", "load", "summary"]

DEFAULT_GROUP = "wishbone.module"
METRICS_GROUP = "wishbone.metrics"


class ModuleNotFound(LookupError):
    """No entry point of that name in that group."""


def available(group: str = DEFAULT_GROUP) -> dict[str, EntryPoint]:
    """Entry points of *group*, by name (the first one installed wins on a clash)."""
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=group):
        found.setdefault(ep.name, ep)
    return dict(sorted(found.items()))


def load(name: str, group: str = DEFAULT_GROUP) -> type:
    """Import and return the class registered as *name* in *group*."""
    eps = available(group)
    if name not in eps:
        known = ", ".join(eps) or "none installed"
        raise ModuleNotFound(f"no module {name!r} in group {group!r} (available: {known})")
    return eps[name].load()


def summary(cls: type) -> str:
    """The first line of a class's docstring."""
    doc = (cls.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""
