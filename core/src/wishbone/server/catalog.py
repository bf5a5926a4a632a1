"""Documentation rendering: ``list`` (a table of installed modules), ``show NAME`` (one module) and
``graph`` (a bootstrap file's routing table as a picture, :mod:`wishbone.graph`).

One source of truth each: parameters come from the ``__init__`` signature (name, type,
default) and queues from the class's declarations (``consumes``, ``source_queue_names()``);
the docstring adds the words: its ``Parameters:`` and ``Queues:`` entries describe them and
are not printed a second time. What the docstring describes but the class does not declare
is pointed out, so that an author sees the two disagree.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wishbone import discovery, provides
from wishbone.module import KINDS
from wishbone.params import describe_type, parameters_of

if TYPE_CHECKING:
    from wishbone.server import ParallelServer

__all__ = ["Docstring", "graph", "kind_of", "list_modules", "parse_docstring", "show_module"]

_SECTION = re.compile(r"^([A-Z][A-Za-z ]*):\s*$")
_ENTRY = re.compile(r"^(\s+)([A-Za-z_][A-Za-z0-9_]*)(?:\s*\(([^)]*)\))?:\s*(.*)$")
# What the framework itself means by a queue, for a docstring that does not say.
DEFAULT_QUEUE_TEXT = {"failed": "events it could not handle, the error in headers.error (framework default)"}
# Every module can be routed from ``outbox``; an output that does not describe it emits nothing there.
OUTPUT_OUTBOX_TEXT = "nothing: an output delivers events outside, a route from here gets none (framework default)"


@dataclass
class Docstring:
    """A module docstring taken apart: its text, its Parameters and Queues entries, its other sections."""

    text: str
    sections: str = ""  # every other section (Metrics:, Examples:...), as written
    parameters: dict[str, str] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)


def parse_docstring(doc: str | None) -> Docstring:
    """Split *doc* into its text (every section but Parameters and Queues) and those two sections' entries.

    Entries are ``name (type): words`` or ``name: words``, indented under the section title,
    continued on more indented lines; ``inbox: a.  outbox: b.`` on one line is two entries.
    """
    lines = inspect.cleandoc(doc or "").splitlines()
    text: list[str] = []
    others: list[str] = []
    seen_section = False
    sections: dict[str, dict[str, str]] = {"Parameters": {}, "Queues": {}}
    current: dict[str, str] | None = None
    last: str | None = None
    for line in lines:
        title = _SECTION.match(line)
        if title:
            seen_section = True
            current = sections.get(title.group(1))
            last = None
            if current is not None:
                continue
        elif current is not None and line and not line[0].isspace():
            current = None  # unindented text ends the section
        if current is None:
            (others if seen_section else text).append(line)
            continue
        entry = _ENTRY.match(line)
        if entry and (last is None or len(entry.group(1)) <= 4):
            for name, words in _split_entries(entry.group(2), entry.group(4)):
                current[name] = words
                last = name
        elif last is not None and line.strip():
            current[last] = f"{current[last]} {line.strip()}".strip()
    return Docstring(_trim(text), _trim(others), *sections.values())


def _trim(lines: list[str]) -> str:
    return "\n".join(lines).strip("\n").rstrip()


def _split_entries(name: str, words: str) -> list[tuple[str, str]]:
    """``inbox: events in.  outbox: events out.`` -> two entries (two spaces and a ``name:`` split them)."""
    parts = re.split(r"\s{2,}(?=[A-Za-z_][A-Za-z0-9_]*:\s)", words)
    out = [(name, parts[0].strip())]
    for part in parts[1:]:
        more, _, rest = part.partition(":")
        out.append((more.strip(), rest.strip()))
    return out


def kind_of(cls: object) -> str:
    """A module class's declared kind (``input``, ``output``, ``processor``), ``metrics`` for a metrics module."""
    from wishbone.module import Module

    kind = getattr(cls, "kind", None)
    if isinstance(kind, str) and kind:
        return kind
    if not (isinstance(cls, type) and issubclass(cls, Module)):
        return "metrics"
    return "-"  # a module that declares no kind


# --------------------------------------------------------------------------------- list
def list_modules(server: ParallelServer, args: argparse.Namespace) -> int:
    """A table of the modules in ``--group``: name, kind, package, version, summary; inputs, processors, outputs."""
    rows = []
    for name, ep in discovery.available(args.group).items():
        dist = getattr(ep, "dist", None)
        package = dist.name if dist is not None else "?"
        version = dist.version if dist is not None else "?"
        try:
            cls = ep.load()
            kind, summary = kind_of(cls), discovery.summary(cls)
        except Exception as exc:  # a broken package is listed, not fatal
            kind, summary = "?", f"(fails to import: {type(exc).__name__}: {exc})"
        rows.append((name, kind, package, version, summary))
    if not rows:
        print(f"No modules installed in group {args.group!r}.")
        return 0
    rows.sort(key=lambda r: (KINDS.index(r[1]) if r[1] in KINDS else len(KINDS), r[0]))  # inputs first
    header = ("NAME", "KIND", "PACKAGE", "VERSION", "SUMMARY")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    print(f"Modules in group {args.group}:\n")
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)) + "  " + row[4])
    return 0


# --------------------------------------------------------------------------------- show
def show_module(server: ParallelServer, args: argparse.Namespace) -> int:
    """A module's documentation: its kind, its docstring's text, its parameters and its queues."""
    eps = discovery.available(args.group)
    if args.module not in eps:
        known = ", ".join(eps) or "none installed"
        print(
            f"{server.prog}: no module {args.module!r} in group {args.group!r} (available: {known})"
            + provides.hint(args.module, args.group, option=True),
            file=sys.stderr,
        )
        return 1
    ep = eps[args.module]
    try:
        cls = ep.load()
    except Exception as exc:
        print(f"{server.prog}: module {args.module!r} fails to import: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("\n".join(render(args.module, args.group, ep, cls)))
    return 0


def render(name: str, group: str, ep: object, cls: type) -> list[str]:
    """The lines ``show`` prints for module *name* (class *cls*, entry point *ep*)."""
    from wishbone.module import Module

    dist = getattr(ep, "dist", None)
    where = f"{dist.name} {dist.version}, " if dist is not None else ""
    doc = parse_docstring(cls.__doc__)
    out = [f"{name} ({where}group {group}, {getattr(ep, 'value', '?')})", f"Kind: {kind_of(cls)}", ""]
    out += [doc.text or "(no documentation)", ""]

    params = parameters_of(cls)
    out.append("Parameters (from the signature of __init__):")
    if not params:
        out.append("  none")
    width = max([len(p.name) for p in params] + [4])
    for p in params:
        default = "required" if p.required else f"default {_json(p.default)}"
        out.append(f"  {p.name.ljust(width)}  {describe_type(p.annotation)}, {default}")
        if doc.parameters.get(p.name):
            out.append(f"  {'':{width}}  {doc.parameters[p.name]}")
    for extra in (n for n in doc.parameters if n not in {p.name for p in params} and n.lower() != "none"):
        out.append(f"  (the docstring describes {extra!r}, which __init__ does not take)")

    out += ["", "Queues (declared by the class):"]
    if isinstance(cls, type) and issubclass(cls, Module):
        consumes = list(cls.consumes)
        emits = list(cls.source_queue_names())
        qwidth = max(len(q) for q in [*consumes, *emits, "none"])
        out.append(f"  consumes  {', '.join(consumes) or 'none (an input)'}")
        dynamic = " (and any queue the routing table names)" if cls.dynamic_queues else ""
        out.append(f"  emits     {', '.join(emits)}{dynamic}")
        for queue in [*consumes, *emits]:
            words = doc.queues.get(queue) or _default_queue_text(cls, queue)
            out.append(f"    {queue.ljust(qwidth)}  {words}")
        declared = {*consumes, *emits}
        for extra in (q for q in doc.queues if q not in declared and not cls.dynamic_queues):
            out.append(f"  (the docstring describes a queue {extra!r}, which the class does not declare)")
    else:
        out.append("  none (not a pipeline module: it is given the metrics snapshots)")
    if doc.sections:
        out += ["", doc.sections]
    return out


def _default_queue_text(cls: type, queue: str) -> str:
    """What ``show`` says of a declared *queue* that the docstring of *cls* does not describe."""
    if queue == "outbox" and kind_of(cls) == "output":
        return OUTPUT_OUTBOX_TEXT
    return DEFAULT_QUEUE_TEXT.get(queue, "(undocumented)")


def _json(value: object) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def graph(server: ParallelServer, args: argparse.Namespace) -> int:
    """Print the routing table of ``--config`` in ``--format`` (mermaid, dot or svg); exit 0, or 78."""
    from wishbone import bootstrap
    from wishbone import graph as graphs

    sys.stdout.write(graphs.render(bootstrap.load_file(args.shown_config), args.format))
    return 0
