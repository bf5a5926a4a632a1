"""The routing table as a picture: Mermaid, Graphviz dot, or a self-contained SVG.

``wishbone graph --config F [--format mermaid|dot|svg]`` draws a checked bootstrap: every
module instance is a box labelled with its name, module and kind (inputs, processors and
outputs drawn differently), every route an arrow from ``instance.queue`` to
``instance.queue`` (the queue names on the arrow), so 1-n (one source, several arrows) and
n-1 (several arrows into one queue) are visible; routes out of a ``failed`` queue are dashed.
Columns follow the routing order: a module stands right of every module routed into it.
"""

from __future__ import annotations

from html import escape

from wishbone.bootstrap import Bootstrap

__all__ = ["FORMATS", "kind_of", "render"]

FORMATS = ("mermaid", "dot", "svg")

_SHAPES = {"input": ("([", "])"), "output": ("[[", "]]"), "processor": ("[", "]")}
_DOT_SHAPES = {"input": "invhouse", "output": "house", "processor": "box"}
_FILL = {"input": "#dbeafe", "processor": "#f3f4f6", "output": "#dcfce7"}


def _kind(bootstrap: Bootstrap, name: str) -> str:
    return kind_of(bootstrap, name)


def kind_of(bootstrap: Bootstrap, name: str) -> str:
    """The kind of instance *name*: its class's declared kind, else what its place says (a module
    of no declared kind that consumes nothing is an input, one that no route leaves an output)."""
    cls = bootstrap.modules[name].cls
    declared = getattr(cls, "kind", None)
    if declared:
        return declared
    if not getattr(cls, "consumes", {"inbox": "consume"}):
        return "input"
    if not any(route.source == name for route in bootstrap.routes):
        return "output"
    return "processor"


def _label(bootstrap: Bootstrap, name: str) -> str:
    spec = bootstrap.modules[name]
    return f"{name}: {spec.module} ({_kind(bootstrap, name)})"


def columns(bootstrap: Bootstrap) -> dict[str, int]:
    """Each instance's column: 0 for those nothing routes into, else one past its deepest source."""
    upstream: dict[str, set[str]] = {name: set() for name in bootstrap.modules}
    for route in bootstrap.routes:
        if route.source != route.destination:
            upstream[route.destination].add(route.source)
    column: dict[str, int] = {}

    def depth(name: str, seen: frozenset[str]) -> int:
        if name in column:
            return column[name]
        parents = [p for p in upstream[name] if p not in seen]  # a cycle is cut where found
        column[name] = value = 1 + max((depth(p, seen | {name}) for p in parents), default=-1)
        return value

    for name in bootstrap.modules:
        depth(name, frozenset())
    return column


def mermaid(bootstrap: Bootstrap) -> str:
    """A Mermaid flowchart (renders on GitHub, in docs sites, in the Mermaid live editor)."""
    lines = ["flowchart LR"]
    for name in bootstrap.modules:
        left, right = _SHAPES[_kind(bootstrap, name)]
        lines.append(f'    {name}{left}"{_label(bootstrap, name)}"{right}')
    for route in bootstrap.routes:
        arrow = "-.->" if route.source_queue == "failed" else "-->"
        text = f"{route.source_queue} → {route.destination_queue}"
        lines.append(f'    {route.source} {arrow}|"{text}"| {route.destination}')
    for kind, fill in _FILL.items():
        members = [n for n in bootstrap.modules if _kind(bootstrap, n) == kind]
        if members:
            lines.append(f"    classDef {kind} fill:{fill}")
            lines.append(f"    class {','.join(members)} {kind}")
    return "\n".join(lines) + "\n"


def dot(bootstrap: Bootstrap) -> str:
    """A Graphviz digraph (``dot -Tpng``)."""
    lines = ["digraph wishbone {", "    rankdir=LR;", '    node [fontname="Helvetica", style=filled];']
    for name in bootstrap.modules:
        kind = _kind(bootstrap, name)
        lines.append(
            f'    "{name}" [label="{_label(bootstrap, name)}", shape={_DOT_SHAPES[kind]}, fillcolor="{_FILL[kind]}"];'
        )
    for route in bootstrap.routes:
        style = ", style=dashed" if route.source_queue == "failed" else ""
        lines.append(
            f'    "{route.source}" -> "{route.destination}" '
            f'[taillabel="{route.source_queue}", headlabel="{route.destination_queue}"{style}];'
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def svg(bootstrap: Bootstrap) -> str:
    """A self-contained SVG: columns by routing order, boxes by kind, arrows labelled with queues."""
    col = columns(bootstrap)
    by_column: dict[int, list[str]] = {}
    for name in bootstrap.modules:
        by_column.setdefault(col[name], []).append(name)
    box_w, box_h, gap_x, gap_y, margin = 220, 46, 120, 40, 20
    pos: dict[str, tuple[int, int]] = {}
    for c, names in by_column.items():
        for r, name in enumerate(names):
            pos[name] = (margin + c * (box_w + gap_x), margin + r * (box_h + gap_y))
    width = margin * 2 + (max(by_column) + 1) * (box_w + gap_x) - gap_x
    height = margin * 2 + max(len(n) for n in by_column.values()) * (box_h + gap_y) - gap_y
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#374151"/></marker></defs>',
    ]
    for route in bootstrap.routes:
        (x1, y1), (x2, y2) = pos[route.source], pos[route.destination]
        sx, sy, dx, dy = x1 + box_w, y1 + box_h / 2, x2, y2 + box_h / 2
        if x2 <= x1:  # a route back to an earlier column: around below
            dx, dy = x2 + box_w / 2, y2 + box_h
        dash = ' stroke-dasharray="5,4"' if route.source_queue == "failed" else ""
        out.append(f'<line x1="{sx}" y1="{sy}" x2="{dx}" y2="{dy}" stroke="#374151" marker-end="url(#arrow)"{dash}/>')
        label = escape(f"{route.source_queue} → {route.destination_queue}")
        out.append(
            f'<text x="{(sx + dx) / 2}" y="{(sy + dy) / 2 - 4}" text-anchor="middle" fill="#374151">{label}</text>'
        )
    for name, (x, y) in pos.items():
        kind = _kind(bootstrap, name)
        rx = 20 if kind == "input" else 4
        stroke = ' stroke-width="3"' if kind == "output" else ""
        out.append(
            f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="{rx}" '
            f'fill="{_FILL[kind]}" stroke="#111827"{stroke}/>'
        )
        spec = bootstrap.modules[name]
        out.append(
            f'<text x="{x + box_w / 2}" y="{y + 19}" text-anchor="middle" font-weight="bold">{escape(name)}</text>'
        )
        out.append(
            f'<text x="{x + box_w / 2}" y="{y + 35}" text-anchor="middle">{escape(f"{spec.module} ({kind})")}</text>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def render(bootstrap: Bootstrap, format: str = "mermaid") -> str:
    """The routing table of *bootstrap* in *format* (one of :data:`FORMATS`)."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    return {"mermaid": mermaid, "dot": dot, "svg": svg}[format](bootstrap)
