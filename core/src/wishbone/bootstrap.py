"""Reading and checking a bootstrap file: the seed's four sections.

::

    {"system": {}, "metrics": {...}, "bootstrap": {"name": {"group", "module", "variables"}},
     "routingtable": {"input.outbox": ["output.inbox"]}}

Every problem is a :class:`BootstrapError` naming the file, the JSON path
(``bootstrap.output.variables.port``) and what was expected; the command line turns it into
exit status 78 (EX_CONFIG). Nothing is started here: modules are looked up and their
parameters checked, but not built.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from wishbone import discovery
from wishbone.module import Module
from wishbone.params import ParameterError, check_parameters

__all__ = ["Bootstrap", "BootstrapError", "MetricsSpec", "ModuleSpec", "Route", "load_dict", "load_file"]

EX_CONFIG = 78
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class BootstrapError(Exception):
    """A bootstrap file that cannot run: where (file, JSON path) and what was expected."""

    exit_code = EX_CONFIG

    def __init__(self, source: str, path: str, message: str) -> None:
        self.source = source
        self.path = path
        self.message = message
        super().__init__(f"{source}: {path or '(top level)'}: {message}")


@dataclass
class ModuleSpec:
    """One ``bootstrap`` entry, resolved to its class and checked."""

    name: str
    group: str
    module: str
    cls: type
    variables: dict = field(default_factory=dict)
    queues: dict = field(default_factory=dict)


@dataclass
class MetricsSpec:
    """The ``metrics`` section: which metrics module gets snapshots, how often."""

    enable: bool
    group: str
    module: str
    interval: float
    variables: dict
    cls: type | None = None


@dataclass(frozen=True)
class Route:
    """One connection of the routing table: ``source.queue -> destination.queue``."""

    source: str
    source_queue: str
    destination: str
    destination_queue: str


@dataclass
class Bootstrap:
    """A checked bootstrap document, ready to be built into a :class:`~wishbone.pipeline.Pipeline`."""

    source: str
    document: dict
    modules: dict[str, ModuleSpec]
    routes: list[Route]
    metrics: MetricsSpec


def jpath(base: str, *keys: str | int) -> str:
    """Extend the JSON path *base* by *keys*: ``jpath("bootstrap", "out")`` -> ``bootstrap.out``.

    Keys that are not identifiers are quoted (``routingtable["input.outbox"][0]``).
    """
    out = base
    for key in keys:
        if isinstance(key, int):
            out += f"[{key}]"
        elif _IDENT.fullmatch(key):
            out += f".{key}" if out else key
        else:
            out += f"[{json.dumps(key)}]"
    return out


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def load_file(path: str) -> Bootstrap:
    """Read, parse and check the bootstrap file at *path*."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise BootstrapError(path, "", f"cannot read the file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise BootstrapError(path, "", f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise BootstrapError(path, "", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:
        raise BootstrapError(path, "", f"invalid JSON: {exc}") from None
    return load_dict(document, source=path)


def _expect(source: str, value: Any, kind: type | tuple, path: str, what: str) -> Any:
    if not isinstance(value, kind) or (kind in (int, float, (int, float)) and isinstance(value, bool)):
        raise BootstrapError(source, path, f"expected {what}, got {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    if type(value) in names:
        return f"{names[type(value)]}" + (f" {value!r:.40}" if isinstance(value, str) else "")
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    return type(value).__name__


def _check_keys(source: str, obj: dict, allowed: tuple[str, ...], path: str) -> None:
    for key in obj:
        if key not in allowed:
            raise BootstrapError(
                source,
                jpath(path, key),
                f"unknown key {key!r}; expected one of: {', '.join(allowed)}",
            )


def load_dict(document: Any, source: str = "<dict>") -> Bootstrap:
    """Check a parsed bootstrap *document*; *source* names it in errors."""
    _expect(source, document, dict, "", "a JSON object with the sections system, metrics, bootstrap, routingtable")
    _check_keys(source, document, ("system", "metrics", "bootstrap", "routingtable"), "")
    _expect(source, document.get("system", {}), dict, "system", "an object (reserved, may be empty)")
    if "bootstrap" not in document:
        raise BootstrapError(source, "bootstrap", "missing: expected an object of module instances")
    modules = _load_modules(source, document["bootstrap"])
    routes = _load_routes(source, document.get("routingtable", {}), modules)
    metrics = _load_metrics(source, document.get("metrics"))
    return Bootstrap(source, document, modules, routes, metrics)


def _load_modules(source: str, section: Any) -> dict[str, ModuleSpec]:
    _expect(source, section, dict, "bootstrap", "an object of module instances")
    if not section:
        raise BootstrapError(source, "bootstrap", "expected at least one module instance")
    modules = {}
    for name, entry in section.items():
        path = jpath("bootstrap", name)
        if not _NAME.fullmatch(name):
            raise BootstrapError(source, path, "an instance name is letters, digits, '_' and '-' (no dots)")
        _expect(source, entry, dict, path, 'an object {"group", "module", "variables"}')
        _check_keys(source, entry, ("group", "module", "variables", "queues"), path)
        group = _expect(source, entry.get("group", discovery.DEFAULT_GROUP), str, jpath(path, "group"), "a string")
        if "module" not in entry:
            raise BootstrapError(source, jpath(path, "module"), "missing: expected the module's name")
        module = _expect(source, entry["module"], str, jpath(path, "module"), "a string")
        variables = _expect(source, entry.get("variables", {}), dict, jpath(path, "variables"), "an object")
        cls = _load_class(source, module, group, jpath(path, "module"))
        if not (isinstance(cls, type) and issubclass(cls, Module)):
            raise BootstrapError(source, jpath(path, "module"), f"{module!r} is not a wishbone Module class")
        _check_variables(source, cls, variables, jpath(path, "variables"))
        queues = _load_queue_options(source, cls, entry.get("queues", {}), jpath(path, "queues"))
        modules[name] = ModuleSpec(name, group, module, cls, variables, queues)
    return modules


def _load_class(source: str, module: str, group: str, path: str) -> type:
    if not group.startswith("wishbone."):
        # Importing an entry point runs its package's code: only Wishbone's groups are loaded.
        raise BootstrapError(
            source,
            path.rpartition(".")[0] + ".group",
            f"expected a Wishbone entry-point group (wishbone.*), got {group!r}",
        )
    try:
        return discovery.load(module, group)
    except discovery.ModuleNotFound as exc:
        raise BootstrapError(source, path, str(exc)) from None
    except Exception as exc:  # a broken package: say which, do not crash
        raise BootstrapError(source, path, f"module {module!r} failed to import: {type(exc).__name__}: {exc}") from None


def _check_variables(source: str, cls: type, variables: dict, path: str) -> None:
    try:
        check_parameters(cls, variables)
    except ParameterError as exc:
        where = jpath(path, exc.parameter) if exc.parameter else path
        raise BootstrapError(source, where, exc.message) from None


def _load_queue_options(source: str, cls: type[Module], section: Any, path: str) -> dict:
    _expect(source, section, dict, path, 'an object {"queue": {"maxsize": N, "when_full": "block"|"drop", ...}}')
    for queue, opts in section.items():
        qpath = jpath(path, queue)
        if queue not in cls.consumes:
            raise BootstrapError(
                source,
                qpath,
                f"{cls.__name__} consumes no queue {queue!r} (it consumes: {', '.join(cls.consumes) or 'none'})",
            )
        _expect(source, opts, dict, qpath, "an object")
        _check_keys(source, opts, ("maxsize", "when_full", *_DURABLE_KEYS), qpath)
        size = _expect(source, opts.get("maxsize", 1), int, jpath(qpath, "maxsize"), "a positive integer")
        if size < 1:
            raise BootstrapError(source, jpath(qpath, "maxsize"), "expected a positive integer")
        if opts.get("when_full", "block") not in ("block", "drop"):
            raise BootstrapError(source, jpath(qpath, "when_full"), 'expected "block" or "drop"')
        _check_durable(source, opts, qpath)
    return section


#: A consumed queue's options for keeping it on disk (see wishbone.durable and docs/durable-queues.md).
_DURABLE_KEYS = ("durable", "path", "max_bytes", "fsync", "fsync_interval")


def _check_durable(source: str, opts: dict, qpath: str) -> None:
    durable = _expect(source, opts.get("durable", False), bool, jpath(qpath, "durable"), "true or false")
    if not durable:
        extra = [k for k in _DURABLE_KEYS[1:] if k in opts]
        if extra:
            raise BootstrapError(source, jpath(qpath, extra[0]), 'only for a durable queue: add "durable": true')
        return
    if "path" not in opts:
        raise BootstrapError(source, jpath(qpath, "path"), "missing: a durable queue needs a directory to live in")
    _expect(source, opts["path"], str, jpath(qpath, "path"), "a directory path")
    size = _expect(source, opts.get("max_bytes", 1 << 30), int, jpath(qpath, "max_bytes"), "a number of bytes")
    if size < 1 << 20:
        raise BootstrapError(source, jpath(qpath, "max_bytes"), "expected at least 1048576 bytes (1 MiB)")
    if opts.get("fsync", "batch") not in ("batch", "interval", "none"):
        raise BootstrapError(source, jpath(qpath, "fsync"), 'expected "batch", "interval" or "none"')
    interval = _expect(
        source, opts.get("fsync_interval", 1.0), (int, float), jpath(qpath, "fsync_interval"), "a number of seconds"
    )
    if not interval > 0:
        raise BootstrapError(source, jpath(qpath, "fsync_interval"), "expected a number of seconds greater than 0")


def _split(source: str, ref: Any, path: str, modules: dict[str, ModuleSpec]) -> tuple[str, str]:
    _expect(source, ref, str, path, "a string 'instance.queue'")
    name, dot, queue = ref.partition(".")
    if not dot or not name or not queue:
        raise BootstrapError(source, path, f"expected 'instance.queue', got {ref!r}")
    if name not in modules:
        raise BootstrapError(source, path, f"no instance {name!r} in bootstrap (instances: {', '.join(modules)})")
    return name, queue


def _load_routes(source: str, table: Any, modules: dict[str, ModuleSpec]) -> list[Route]:
    _expect(source, table, dict, "routingtable", 'an object {"instance.queue": ["instance.queue", ...]}')
    routes = []
    for src, destinations in table.items():
        path = jpath("routingtable", src)
        name, queue = _split(source, src, path, modules)
        cls = modules[name].cls
        emitted = cls.source_queue_names(modules[name].variables)
        if queue not in emitted and not cls.dynamic_queues:
            raise BootstrapError(
                source, path, f"{cls.__name__} ({name!r}) emits no queue {queue!r} (it emits: {', '.join(emitted)})"
            )
        _expect(source, destinations, list, path, "an array of 'instance.queue' strings")
        if len(set(map(str, destinations))) != len(destinations):
            raise BootstrapError(source, path, "a destination is listed twice")
        for i, dst in enumerate(destinations):
            dpath = jpath("routingtable", src, i)
            dname, dqueue = _split(source, dst, dpath, modules)
            dcls = modules[dname].cls
            if not dcls.consumes:
                raise BootstrapError(
                    source,
                    dpath,
                    f"{dname!r} is an input ({dcls.__name__}): it consumes no queue, nothing can route into it",
                )
            if dqueue not in dcls.consumes:
                raise BootstrapError(
                    source,
                    dpath,
                    f"{dcls.__name__} ({dname!r}) consumes no queue {dqueue!r} "
                    f"(it consumes: {', '.join(dcls.consumes)})",
                )
            if dname == name:
                raise BootstrapError(source, dpath, f"{name!r} would consume its own output: a loop")
            routes.append(Route(name, queue, dname, dqueue))
    return routes


def _load_metrics(source: str, section: Any) -> MetricsSpec:
    if section is None:
        return MetricsSpec(False, discovery.METRICS_GROUP, "log", 5.0, {})
    _expect(source, section, dict, "metrics", "an object")
    _check_keys(source, section, ("enable", "group", "module", "interval", "variables"), "metrics")
    enable = _expect(source, section.get("enable", True), bool, "metrics.enable", "true or false")
    group = _expect(source, section.get("group", discovery.METRICS_GROUP), str, "metrics.group", "a string")
    module = _expect(source, section.get("module", "log"), str, "metrics.module", "a string")
    interval = _expect(source, section.get("interval", 5), (int, float), "metrics.interval", "a number of seconds")
    if not interval > 0:
        raise BootstrapError(source, "metrics.interval", "expected a number of seconds greater than 0")
    variables = _expect(source, section.get("variables", {}), dict, "metrics.variables", "an object")
    spec = MetricsSpec(enable, group, module, float(interval), variables)
    if enable:
        spec.cls = _load_class(source, module, group, "metrics.module")
        _check_variables(source, spec.cls, variables, "metrics.variables")
    return spec
