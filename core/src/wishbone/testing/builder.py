"""Bootstrap documents for tests, from a compact description: one builder for every test kit.

*modules* maps an instance name to its module and variables, optionally its queue options::

    {"input": ("testevent", {"interval": 0, "count": 10}),      # entry point, variables
     "out": ("stdout", {}, {"inbox": {"maxsize": 100}}),         # ... and queue options
     "sink": "null"}                                              # a name alone: no variables

*routes* is the routing table as in a file (``{"input.outbox": ["out.inbox"]}``), *metrics* the
optional ``metrics`` section. Three ways to use it::

    from wishbone import Pipeline
    from wishbone.testing import bootstrap, load_bootstrap, write_bootstrap

    Pipeline.from_dict(bootstrap({"input": ("testevent", {})}, {"input.outbox": ["out.inbox"]}))
    write_bootstrap(tmp_path / "b.json", modules, routes)       # for the real command
    Pipeline(load_bootstrap({"input": (MyInput, {}), ...}, routes))  # classes that are not installed

:func:`load_bootstrap` also takes a Module class in place of an entry-point name (a module that
exists only in a test); it is checked exactly as the loader checks a file (parameters, queue
options, routes), errors are :class:`~wishbone.bootstrap.BootstrapError` with the JSON path.
"""

from __future__ import annotations

import json
from pathlib import Path

from wishbone.bootstrap import Bootstrap, load_dict

__all__ = ["bootstrap", "load_bootstrap", "write_bootstrap"]


def _document(modules: dict, routes: dict | None, metrics: dict | None) -> tuple[dict, dict[str, type]]:
    """The bootstrap document and the classes given in place of entry-point names."""
    entries: dict = {}
    classes: dict[str, type] = {}
    for name, spec in modules.items():
        module, variables, queues = (spec, {}, None) if isinstance(spec, (str, type)) else (*spec, None)[:3]
        if isinstance(module, type):
            classes[name] = module
            module = module.__name__
        entry: dict = {"module": module, "variables": dict(variables)}
        if queues is not None:
            entry["queues"] = queues
        entries[name] = entry
    doc: dict = {"bootstrap": entries, "routingtable": dict(routes or {})}
    if metrics is not None:
        doc["metrics"] = metrics
    return doc, classes


def bootstrap(modules: dict, routes: dict | None = None, metrics: dict | None = None) -> dict:
    """The bootstrap document (a dict, as a file would parse) of *modules*, *routes* and *metrics*.

    Modules are named by entry point; for a class use :func:`load_bootstrap`.
    """
    doc, classes = _document(modules, routes, metrics)
    if classes:
        raise TypeError(f"a bootstrap document names modules, not classes ({', '.join(classes)}): use load_bootstrap")
    return doc


def write_bootstrap(path: Path, modules: dict, routes: dict | None = None, metrics: dict | None = None) -> str:
    """Write :func:`bootstrap`'s document to *path* as JSON; return the path as a string."""
    Path(path).write_text(json.dumps(bootstrap(modules, routes, metrics), indent=2))
    return str(path)


def load_bootstrap(
    modules: dict, routes: dict | None = None, metrics: dict | None = None, source: str = "<test>"
) -> Bootstrap:
    """The checked :class:`~wishbone.bootstrap.Bootstrap` (what :class:`~wishbone.Pipeline` builds from).

    A module may be an entry-point name or a Module class; *source* names the document in errors.
    """
    doc, classes = _document(modules, routes, metrics)
    return load_dict(doc, source, classes=classes)
