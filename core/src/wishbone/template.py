"""String templates in module parameters: ``"logs-{{ data.service }}"``, compiled once.

A module marks a parameter as a template by its annotation (``routing_key: Template``); the
bootstrap checks the text at load (a syntax error names the parameter's JSON path and the
column), and the module builds ``Template(routing_key)`` in ``__init__``. Per event it calls
``render(event)``.

The language is Jinja2, in its sandboxed environment (as Wishbone 3 used it); the event is the
context, so a template names ``data`` and ``headers``: ``{{ data.user.name }}``,
``{{ headers.amqp.routing_key }}``, ``{{ data.level | upper }}``. Costs:

* a text without ``{{``, ``{%`` or ``{#`` is no template: ``render`` returns it, nothing else;
* a text whose blocks are only field lookups (``{{ data.a.b }}``, ``{{ headers["x-id"] }}``)
  renders through compiled :mod:`wishbone.paths` lookups and a string join, without Jinja;
* anything else (filters, tests, tags) renders through the compiled Jinja template.

A field that is missing renders as the empty string (``missing="empty"``, the default), or,
with ``missing="strict"``, makes ``render`` raise :class:`TemplateError`: in ``consume`` that
sends the event to ``failed`` naming the field. Values render as Jinja renders them (``str()``:
``None`` is ``"None"``, a number its digits). Jinja's attribute lookup tries Python attributes
first, so ``{{ data.items }}`` is the dict method, not the key: write ``{{ data["items"] }}``.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Literal

from jinja2 import ChainableUndefined, StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import TemplateError as JinjaTemplateError
from jinja2.sandbox import SandboxedEnvironment

from wishbone.paths import MISSING, FieldPath

__all__ = ["Template", "TemplateError", "compile_template"]

Missing = Literal["empty", "strict"]

_MARKERS = ("{{", "{%", "{#")
_BLOCK = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
# Jinja looks up Python attributes before keys: a name that is an attribute of a JSON value
# (``items``, ``keys``, ``upper``...) must go through Jinja to render the same.
_ATTRIBUTES = frozenset(name for cls in (dict, list, str, int, float, bool, type(None)) for name in dir(cls))
_ENVIRONMENTS = {
    "empty": SandboxedEnvironment(undefined=ChainableUndefined, autoescape=False, keep_trailing_newline=True),
    "strict": SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True),
}


class TemplateError(ValueError):
    """A template that does not compile (*line* and *column* 1-based), or that failed to render."""

    def __init__(self, text: str, message: str, line: int | None = None, column: int | None = None) -> None:
        self.text = text
        self.message = message
        self.line = line
        self.column = column
        if column is not None:
            where = f" at column {column}" if line in (None, 1) else f" at line {line} column {column}"
            super().__init__(f"invalid template {text!r}{where}: {message}")
        else:
            super().__init__(f"template {text!r}: {message}")


def _syntax_error(text: str, exc: TemplateSyntaxError) -> TemplateError:
    """The error with the column of the block that does not parse."""
    line = exc.lineno or 1
    lines = text.split("\n")
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    column = 1
    env = _ENVIRONMENTS["empty"]
    for match in _BLOCK.finditer(source):
        block = match.group()
        if not block.startswith("{{"):
            continue
        try:
            env.parse(block)
        except TemplateSyntaxError:
            column = match.start() + 1
            break
    else:
        complete = {m.start(): m.group() for m in _BLOCK.finditer(source)}
        unclosed = [m.start() for m in re.finditer(r"\{\{|\{%|\{#", source) if m.start() not in complete]
        tags = [at for at, block in complete.items() if block.startswith("{%")]
        if unclosed:
            column = unclosed[0] + 1
        elif tags:  # every tag is complete: the error is in (or between) the tags
            column = tags[0] + 1
    return TemplateError(text, exc.message or "syntax error", line, column)


def _lookup(node: nodes.Node) -> tuple | None:
    """The keys of a plain field lookup (``data.a["b"]``), or None for anything else."""
    keys: list[str] = []
    while True:
        if isinstance(node, nodes.Name):
            if node.name not in ("data", "headers"):
                return None
            return (node.name, *reversed(keys))
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and type(node.arg.value) is str:
            name = node.arg.value
        else:
            return None
        if name in _ATTRIBUTES:
            return None
        keys.append(name)
        node = node.node


def _fast_render(text: str, parts: list, strict: bool) -> Any:
    """A render function for templates made of text and field lookups only.

    Lookups through str keys only are plain subscripts (as ``FieldPath.get`` reads them: any
    wrong type on the way raises TypeError, a missing key KeyError), each root (``data``,
    ``headers``) read once, all in one try; should any raise, the render goes the careful way,
    one try per lookup, so that a missing field renders as it should. Other lookups call the
    path's ``get``. The pieces are joined by one f-string of names: one string built.
    """
    namespace: dict[str, Any] = {"MISSING": MISSING, "str": str, "_undefined": _undefined}
    quick = ["def render(event):", "    try:"]
    careful = ["def careful(event):"]
    checks = []
    pieces = []
    roots: dict[str, str] = {}
    root_parts: list[int] = []  # the part whose first key names each root, in the order of roots
    batch_values: dict[str, str] = {}  # v{i} -> its subscript chain from its root, for render_batch
    through_get = False  # a lookup through a non-str key (FieldPath.get): render_batch goes per event
    for i, part in enumerate(parts):
        if isinstance(part, str):
            namespace[f"c{i}"] = part
            pieces.append(f"c{i}")
            continue
        namespace[f"p{i}"] = part.text
        keys = part.keys
        if all(type(key) is str for key in keys):
            chain = ""
            for j, key in enumerate(keys):
                namespace[f"k{i}_{j}"] = key
                chain += f"[k{i}_{j}]"
            if keys[0] not in roots:
                roots[keys[0]] = root = f"r{len(roots)}"
                root_parts.append(i)
                quick.append(f"        {root} = event[k{i}_0]")
            quick.append(f"        v{i} = {roots[keys[0]]}{chain[chain.index(']') + 1 :]}")
            batch_values[f"v{i}"] = roots[keys[0]] + chain[chain.index("]") + 1 :]
            careful += ["    try:", f"        v{i} = event{chain}", "    except (KeyError, TypeError, IndexError):"]
            careful.append(f"        v{i} = MISSING")
        else:
            namespace[f"g{i}"] = part.get
            through_get = True
            quick.append(f"        v{i} = g{i}(event)")
            careful.append(f"    v{i} = g{i}(event)")
        checks.append(f"    if type(v{i}) is not str:")
        if strict:
            checks.append(f"        if v{i} is MISSING: _undefined(_text, p{i})")
            checks.append(f"        v{i} = str(v{i})")
        else:
            checks.append(f"        v{i} = '' if v{i} is MISSING else str(v{i})")
        pieces.append(f"v{i}")
    body = "".join("{" + piece + "}" for piece in pieces)
    result = f"    return f{body!r}" if pieces else "    return ''"
    quick += ["        pass", "    except (KeyError, TypeError, IndexError):", "        return careful(event)"]
    namespace["_text"] = text
    # Generated from the parts' positions only: every value (text, key) is bound in the namespace.
    exec("\n".join([*careful, *checks, result, *quick, *checks, result]), namespace)
    render = namespace["render"]
    if through_get:  # a lookup through a non-str key: per event
        return render, _per_event(render)
    # A batch in one comprehension of subscripts, each root read once per event; values that are
    # not str are formatted by the f-string, which for JSON's types (and any whose __format__ with
    # an empty spec is str) gives what str() gives. Should any lookup raise, the careful way per event.
    batch_body = "".join("{" + (batch_values.get(piece, piece)) + "}" for piece in pieces)
    roots_read = ", ".join(f"event[k{i}_0]" for i in root_parts) + ","
    batch = [
        "def render_batch(events):",
        "    try:",
        f"        return [f{batch_body!r} for event in events for {', '.join(roots.values())}, in (({roots_read}),)]"
        if roots
        else f"        return [f{batch_body!r} for event in events]",
        "    except (KeyError, TypeError, IndexError):",
        "        return [render(event) for event in events]",
    ]
    exec("\n".join(batch), namespace)
    return render, namespace["render_batch"]


def _per_event(render: Any) -> Any:
    def render_batch(events: list) -> list[str]:
        return [render(event) for event in events]

    return render_batch


def _undefined(text: str, path: str) -> None:
    raise TemplateError(text, f"{path} is undefined")


class Template:
    """A compiled template: ``render(event) -> str``, and ``render_batch(events) -> list[str]``.

    ``render_batch`` renders a whole batch at once, as ``[render(e) for e in events]`` does and
    raising as it would on the first event that fails; a lookup-only template does it in one
    comprehension (no call per event): what an output renders per batch (file_out's lines).
    There a value that is not a str is formatted with an empty spec, which Python's convention
    makes the same text as ``str()`` (every JSON type keeps it); only a type whose
    ``__format__("")`` breaks that convention renders differently from ``render``.

    :param text: the template text (a plain string is returned as is by ``render``).
    :param missing: ``"empty"`` (a missing field renders as ``""``) or ``"strict"`` (``render``
        raises :class:`TemplateError` naming it).

    ``static`` is True when *text* has no template markup (``render`` returns ``text``).
    Raises :class:`TemplateError` (with the column) when *text* does not parse.
    """

    __slots__ = ("text", "missing", "static", "render", "render_batch", "_jinja")

    #: How :mod:`wishbone.params` names a parameter annotated ``Template``.
    parameter_description = "a template (a string)"

    @classmethod
    def check_parameter(cls, text: str) -> None:
        """Compile *text* (cached) for :mod:`wishbone.params`; raises :class:`TemplateError`."""
        compile_template(text)

    def __init__(self, text: str | Template, missing: Missing = "empty") -> None:
        if isinstance(text, Template):
            text = text.text
        if not isinstance(text, str):
            raise TemplateError(repr(text), f"expected a string, got {type(text).__name__}")
        if missing not in _ENVIRONMENTS:
            raise ValueError(f"missing: expected 'empty' or 'strict', got {missing!r}")
        self.text = text
        self.missing = missing
        self.static = not any(marker in text for marker in _MARKERS)
        self._jinja = None
        if self.static:
            self.render = functools.partial(_static, text)
            self.render_batch = functools.partial(_static_batch, text)
            return
        env = _ENVIRONMENTS[missing]
        try:
            tree = env.parse(text)
        except TemplateSyntaxError as exc:
            raise _syntax_error(text, exc) from None
        parts = self._parts(tree) if "\r" not in text else None  # Jinja turns \r into \n: let it
        if parts is not None:
            self.render, self.render_batch = _fast_render(text, parts, missing == "strict")
            return
        try:
            self._jinja = env.from_string(text)
        except TemplateSyntaxError as exc:  # a compile-time error the parser let through
            raise _syntax_error(text, exc) from None
        self.render = self._render_jinja
        self.render_batch = _per_event(self._render_jinja)

    def __repr__(self) -> str:
        return f"Template({self.text!r})"

    @staticmethod
    def _parts(tree: nodes.Template) -> list | None:
        if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
            return None
        parts: list = []
        for node in tree.body[0].nodes:
            if isinstance(node, nodes.TemplateData):
                parts.append(node.data)
                continue
            keys = _lookup(node)
            if keys is None:
                return None
            parts.append(FieldPath(keys))
        return parts

    def _render_jinja(self, event: dict) -> str:
        try:
            return self._jinja.render(event)
        except JinjaTemplateError as exc:
            raise TemplateError(self.text, exc.message or type(exc).__name__) from None
        except Exception as exc:  # a filter on a value of the wrong type, say
            raise TemplateError(self.text, f"{type(exc).__name__}: {exc}") from None


def _static(text: str, event: Any = None) -> str:
    return text


def _static_batch(text: str, events: list) -> list[str]:
    return [text] * len(events)


@functools.lru_cache(maxsize=4096)
def compile_template(text: str, missing: Missing = "empty") -> Template:
    """A :class:`Template` for *text* (cached: the same text compiles once)."""
    return Template(text, missing)
