"""Reading and checking a bootstrap file: the seed's four sections.

::

    {"system": {}, "metrics": {...}, "bootstrap": {"name": {"group", "module", "variables"}},
     "routingtable": {"input.outbox": ["output.inbox"]}}

Every problem is a :class:`BootstrapError` naming the file, the JSON path
(``bootstrap.output.variables.port``) and what was expected; the command line turns it into
exit status 78 (EX_CONFIG). The whole document is checked before anything is raised: the
error raised is the first one found, and its ``errors`` holds every one, in document order.
A document that runs but probably does not do what was meant (no routing table, a module
nothing is routed to or from, a routing loop) loads with :attr:`Bootstrap.warnings`.
Nothing is started here: modules are looked up and their parameters checked, but not built.
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wishbone import discovery, provides
from wishbone.module import Module
from wishbone.params import ParameterError, check_parameters, parameters_of

__all__ = [
    "Bootstrap",
    "BootstrapError",
    "Finding",
    "MetricsSpec",
    "ModuleSpec",
    "Route",
    "check_variables",
    "load_dict",
    "load_file",
]

EX_CONFIG = 78
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class BootstrapError(Exception):
    """A bootstrap file that cannot run: where (file, JSON path) and what was expected."""

    exit_code = EX_CONFIG

    def __init__(self, source: str, path: str, message: str, detail: str = "", whole_file: bool = False) -> None:
        self.source = source
        self.path = path
        self.message = message
        #: Lines that show where (a JSON syntax error's line and a caret), printed after the error.
        self.detail = detail
        #: Every error found in the document (this one first); ``[self]`` for a single one.
        self.errors: list[BootstrapError] = [self]
        # A file that cannot be read or parsed has no JSON path to name: "file: what".
        super().__init__(f"{source}: {message}" if whole_file else f"{source}: {path or '(top level)'}: {message}")


@dataclass(frozen=True)
class Finding:
    """A warning about a document that loads: where (JSON path) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(top level)'}: {self.message}"


class _Errors:
    """Collects the errors of one document, so that all of them are reported at once."""

    def __init__(self) -> None:
        self.found: list[BootstrapError] = []

    def add(self, exc: BootstrapError) -> None:
        self.found.extend(exc.errors)

    def raise_if_any(self) -> None:
        if self.found:
            first = self.found[0]
            first.errors = list(self.found)
            raise first


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
    #: What loads but looks like a mistake (see :func:`findings`); ``validate --strict`` refuses them.
    warnings: list[Finding] = field(default_factory=list)


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
    """Read, parse and check the bootstrap file at *path* (UTF-8, a byte order mark allowed).

    ``.yaml``/``.yml`` is read as YAML, anything else as JSON; then every ``${VAR}``,
    ``${VAR:-default}`` and ``${file:PATH}`` in a string value is resolved
    (:func:`wishbone.configfile.interpolate`: a missing variable is an error with its JSON path).
    """
    from wishbone import configfile  # it imports this module

    try:
        with open(path, encoding="utf-8-sig") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise BootstrapError(path, "", "no such file", whole_file=True) from None
    except IsADirectoryError:
        raise BootstrapError(path, "", "is a directory, not a bootstrap file", whole_file=True) from None
    except OSError as exc:
        raise BootstrapError(path, "", f"cannot read the file: {exc.strerror or exc}", whole_file=True) from None
    except UnicodeDecodeError as exc:
        raise BootstrapError(path, "", f"not UTF-8 text: {exc.reason} at byte {exc.start}", whole_file=True) from None
    if path.lower().endswith((".yaml", ".yml")):
        document = configfile.parse_yaml(text, path)
        return load_dict(_interpolated(document, path), source=path)
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise BootstrapError(
            path,
            "",
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            detail=_caret(text, exc.lineno, exc.colno),
            whole_file=True,
        ) from None
    except (ValueError, RecursionError) as exc:
        raise BootstrapError(path, "", f"invalid JSON: {exc}", whole_file=True) from None
    return load_dict(_interpolated(document, path), source=path)


def _interpolated(document: Any, path: str) -> Any:
    """*document* with its references resolved; a document nested deeper than Python's stack
    (which no bootstrap file is) is refused, not a crash."""
    from wishbone import configfile  # it imports this module

    try:
        return configfile.interpolate(document, path)
    except RecursionError:
        raise BootstrapError(path, "", "nested too deeply to be a bootstrap file", whole_file=True) from None


def _caret(text: str, lineno: int, colno: int, width: int = 100) -> str:
    """The line *lineno* of *text* and a caret under column *colno* (long lines cut around it)."""
    lines = text.splitlines() or [""]
    line = lines[min(lineno, len(lines)) - 1].expandtabs(1)
    start = max(0, min(colno - 1 - width // 2, len(line) - width))
    shown = line[start : start + width]
    prefix = f"  {lineno} | "
    return f"{prefix}{shown}\n{' ' * (len(prefix) + colno - 1 - start)}^"


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


def load_dict(document: Any, source: str = "<dict>", classes: Mapping[str, type] | None = None) -> Bootstrap:
    """Check a parsed bootstrap *document*; *source* names it in errors.

    *classes* (``{instance name: Module class}``, for tests: :func:`wishbone.testing.load_bootstrap`)
    gives an instance its class instead of looking its ``module`` up among the entry points;
    everything else is checked as for a file. A bootstrap file never names a class.
    """
    _expect(source, document, dict, "", "a JSON object with the sections system, metrics, bootstrap, routingtable")
    errors = _Errors()
    for key in document:
        if key not in ("system", "metrics", "bootstrap", "routingtable"):
            expected = "expected one of: system, metrics, bootstrap, routingtable"
            errors.add(BootstrapError(source, jpath("", key), f"unknown key {key!r}; {expected}"))
    _collect(errors, _expect, source, document.get("system", {}), dict, "system", "an object (reserved, may be empty)")
    broken: set[str] = set()  # instances with an error of their own: routes naming them are not checked further
    modules: dict[str, ModuleSpec] | None = None
    if "bootstrap" not in document:
        errors.add(BootstrapError(source, "bootstrap", "missing: expected an object of module instances"))
    else:
        modules = _collect(errors, _load_modules, source, document["bootstrap"], errors, broken, classes or {})
    routes = []
    if modules is not None:  # without the bootstrap section, the routes cannot be checked
        routes = _load_routes(source, document.get("routingtable", {}), modules, errors, broken)
    metrics = _collect(errors, _load_metrics, source, document.get("metrics"))
    errors.raise_if_any()
    assert modules is not None and metrics is not None  # else an error was raised
    boot = Bootstrap(source, document, modules, routes, metrics)
    boot.warnings = findings(boot)
    return boot


def _collect(errors: _Errors, check, *args: Any) -> Any:
    """Call *check*; a :class:`BootstrapError` it raises is collected (and None returned)."""
    try:
        return check(*args)
    except BootstrapError as exc:
        errors.add(exc)
        return None


def _load_modules(
    source: str, section: Any, errors: _Errors, broken: set[str], classes: Mapping[str, type]
) -> dict[str, ModuleSpec]:
    _expect(source, section, dict, "bootstrap", "an object of module instances")
    if not section:
        raise BootstrapError(source, "bootstrap", "expected at least one module instance")
    modules = {}
    for name, entry in section.items():
        spec = _collect(errors, _load_module, source, name, entry, classes)
        if spec is None:
            broken.add(name)
        else:
            modules[name] = spec
    return modules


def _load_module(source: str, name: str, entry: Any, classes: Mapping[str, type]) -> ModuleSpec:
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
    cls = classes[name] if name in classes else _load_class(source, module, group, jpath(path, "module"))
    if not (isinstance(cls, type) and issubclass(cls, Module)):
        raise BootstrapError(source, jpath(path, "module"), f"{module!r} is not a wishbone Module class")
    check_variables(source, cls, variables, jpath(path, "variables"))
    queues = _load_queue_options(source, cls, entry.get("queues", {}), jpath(path, "queues"))
    return ModuleSpec(name, group, module, cls, variables, queues)


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
        raise BootstrapError(source, path, str(exc) + provides.hint(module, group)) from None
    except Exception as exc:  # a broken package: say which, do not crash
        raise BootstrapError(source, path, f"module {module!r} failed to import: {type(exc).__name__}: {exc}") from None


def check_variables(source: str, cls: type, variables: dict, path: str) -> None:
    """Check *variables* against the parameters of *cls*; a :class:`BootstrapError` at ``PATH.parameter`` if wrong.

    Every bad parameter is reported (the error raised is the first, its ``errors`` all of them).
    """
    declared = {p.name: p for p in parameters_of(cls)}
    probe = dict(variables)
    stand_ins: set[str] = set()
    errors = _Errors()
    # check_parameters stops at the first problem: take each one out of the way and ask again.
    for _ in range(len(declared) + len(variables) + 1):
        try:
            check_parameters(cls, probe)
            break
        except ParameterError as exc:
            name = exc.parameter
            if name in stand_ins:
                break  # a stand-in value did not fit an unusual annotation: stop looking
            where = jpath(path, name, *exc.keys) if name else path  # down to the place inside the value
            errors.add(BootstrapError(source, where, exc.detail if name else exc.message))
            if name is None:
                break
            probe.pop(name, None)
            if name in declared and declared[name].required:
                probe[name] = _stand_in(declared[name].annotation)
                stand_ins.add(name)
    errors.raise_if_any()


def _stand_in(hint: Any) -> Any:
    """A value of type *hint*, to stand in for a missing required parameter while the others are checked."""
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return typing.get_args(hint)[0]
    if origin in (typing.Union, types.UnionType):
        return _stand_in(typing.get_args(hint)[0])
    for kind, value in ((bool, False), (int, 0), (float, 0.0), (str, ""), (list, []), (dict, {})):
        if hint is kind or origin is kind:
            return value
    return None


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


class _Broken(Exception):
    """A reference to an instance that has an error of its own: not checked further, not reported twice."""


def _split(source: str, ref: Any, path: str, modules: dict[str, ModuleSpec], broken: set[str]) -> tuple[str, str]:
    _expect(source, ref, str, path, "a string 'instance.queue'")
    name, dot, queue = ref.partition(".")
    if not dot or not name or not queue:
        raise BootstrapError(source, path, f"expected 'instance.queue', got {ref!r}")
    if name in broken:
        raise _Broken(name)
    if name not in modules:
        known = ", ".join([*modules, *sorted(broken)])
        raise BootstrapError(source, path, f"no instance {name!r} in bootstrap (instances: {known})")
    return name, queue


def _load_routes(
    source: str, table: Any, modules: dict[str, ModuleSpec], errors: _Errors, broken: set[str]
) -> list[Route]:
    try:
        _expect(source, table, dict, "routingtable", 'an object {"instance.queue": ["instance.queue", ...]}')
    except BootstrapError as exc:
        errors.add(exc)
        return []
    routes = []
    for src, destinations in table.items():
        path = jpath("routingtable", src)
        try:
            name, queue = _split(source, src, path, modules, broken)
            cls = modules[name].cls
            emitted = cls.source_queue_names(modules[name].variables)
            if queue not in emitted and not cls.dynamic_queues:
                raise BootstrapError(
                    source, path, f"{cls.__name__} ({name!r}) emits no queue {queue!r} (it emits: {', '.join(emitted)})"
                )
        except BootstrapError as exc:
            errors.add(exc)
            name = queue = None  # the destinations are still checked
        except _Broken:
            name = queue = None
        try:
            _expect(source, destinations, list, path, "an array of 'instance.queue' strings")
            if len(set(map(str, destinations))) != len(destinations):
                raise BootstrapError(source, path, "a destination is listed twice")
        except BootstrapError as exc:
            errors.add(exc)
            continue
        for i, dst in enumerate(destinations):
            dpath = jpath("routingtable", src, i)
            try:
                dname, dqueue = _split(source, dst, dpath, modules, broken)
            except BootstrapError as exc:
                errors.add(exc)
                continue
            except _Broken:
                continue
            dcls = modules[dname].cls
            if not dcls.consumes:
                errors.add(
                    BootstrapError(
                        source,
                        dpath,
                        f"{dname!r} is an input ({dcls.__name__}): it consumes no queue, nothing can route into it",
                    )
                )
            elif dqueue not in dcls.consumes:
                errors.add(
                    BootstrapError(
                        source,
                        dpath,
                        f"{dcls.__name__} ({dname!r}) consumes no queue {dqueue!r} "
                        f"(it consumes: {', '.join(dcls.consumes)})",
                    )
                )
            elif name is not None and queue is not None:
                routes.append(Route(name, queue, dname, dqueue))
    return routes


# --------------------------------------------------------------------------------- warnings
def findings(boot: Bootstrap) -> list[Finding]:
    """What a document that loads probably got wrong: each a :class:`Finding` with its JSON path.

    * no routing table (or an empty one) while there is more than one module;
    * a module that nothing is routed to or from;
    * an input whose ``outbox`` goes nowhere (its events are dropped, counted);
    * a module that consumes but that nothing routes into (it never gets an event);
    * a routing loop, a self-loop (``a.outbox -> a.inbox``) or a longer one
      (``a -> b -> a``) alike: events may circle forever, and at a stop the ones still
      circling are dropped (counted).
    """
    found: list[Finding] = []
    if not boot.routes and len(boot.modules) > 1:
        found.append(Finding("routingtable", "no routes: no module hands events to another"))
    into = {r.destination for r in boot.routes}
    out_of = {r.source for r in boot.routes}
    routed = {(r.source, r.source_queue) for r in boot.routes}
    for name, spec in boot.modules.items():
        path = jpath("bootstrap", name)
        if name not in into and name not in out_of:
            if len(boot.modules) > 1 and boot.routes:
                found.append(Finding(path, f"nothing is routed to or from {name!r}"))
            elif len(boot.modules) > 1:
                continue  # said once, for the whole table
            elif spec.cls.consumes:
                found.append(Finding(path, f"{name!r} consumes, but it is the only module: it never gets an event"))
            else:
                found.append(Finding(path, f"{name!r}.outbox goes nowhere: its events are dropped (counted)"))
            continue
        if not spec.cls.consumes and (name, "outbox") not in routed:
            found.append(Finding(path, f"{name!r} is an input whose outbox goes nowhere: its events are dropped"))
        if spec.cls.consumes and name not in into and name in out_of:
            found.append(Finding(path, f"nothing is routed into {name!r}: it never gets an event"))
    for cycle in _cycles(boot):
        loop = " -> ".join([*cycle, cycle[0]])
        what = "its own input" if len(cycle) == 1 else "a loop"
        found.append(
            Finding(
                jpath("routingtable", _route_of(boot, cycle)),
                f"{loop}: {what}; events can circle forever, and at a stop those still circling are dropped",
            )
        )
    return found


def _cycles(boot: Bootstrap) -> list[list[str]]:
    """Every strongly connected group of instances that routes back into itself, in document order."""
    edges: dict[str, list[str]] = {name: [] for name in boot.modules}
    for r in boot.routes:
        if r.destination not in edges[r.source]:
            edges[r.source].append(r.destination)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm; a bootstrap file has few modules
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1 or node in edges[node]:
                groups.append(_loop_path(group, edges, order))

    order = list(boot.modules)
    for name in boot.modules:
        if name not in index:
            visit(name)
    return sorted(groups, key=lambda g: order.index(g[0]))


def _loop_path(group: list[str], edges: dict[str, list[str]], order: list[str]) -> list[str]:
    """One loop through *group*, from its first instance in document order back to it (a shortest one)."""
    members = set(group)
    start = min(group, key=order.index)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in edges[node]:
                if nxt == start:
                    return paths[node]
                if nxt in members and nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    following.append(nxt)
        frontier = following
    return sorted(group, key=order.index)  # not reached: a strongly connected group has a loop


def _route_of(boot: Bootstrap, cycle: list[str]) -> str:
    """The routing-table key of the loop's first hop (where a reader looks for it)."""
    members = set(cycle)
    for r in boot.routes:
        if r.source == cycle[0] and r.destination in members:
            return f"{r.source}.{r.source_queue}"
    return f"{cycle[0]}.outbox"


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
        check_variables(source, spec.cls, variables, "metrics.variables")
    return spec
