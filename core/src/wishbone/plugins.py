"""The plugin manager: Wishbone's hookspecs plus every plugin installed or given."""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

from wishbone import hookspecs

__all__ = ["PLUGIN_GROUP", "plugin_manager"]

#: Entry-point group third-party plugins (exporters, tracers) register in.
PLUGIN_GROUP = "wishbone.plugins"


def plugin_manager(plugins: Iterable[object] = (), load_entry_points: bool = True) -> pluggy.PluginManager:
    """Return a manager with the hookspecs, installed plugins and *plugins* registered.

    ``check_pending()`` runs last, so a misspelled ``wishbone_*`` hookimpl fails loudly.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if load_entry_points:
        pm.load_setuptools_entrypoints(PLUGIN_GROUP)
    for plugin in plugins:
        pm.register(plugin)
    pm.check_pending()
    return pm
