"""The ``modify`` processor: ordered edits of event fields, compiled once at load."""

from __future__ import annotations

import datetime
import json
import socket
import time
from collections.abc import Callable
from typing import Any, Literal

from wishbone.module import Processor
from wishbone.params import ParameterError
from wishbone.paths import MISSING, FieldPath, FieldTypeError, compile_path
from wishbone.template import Template, compile_template

__all__ = ["Modify"]

Op = Callable[[dict], None]

#: Each operation is an object with exactly one of these keys (its path), plus its options.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "set": ("value",),
    "copy": ("to",),
    "move": ("to",),
    "delete": (),
    "merge": ("into",),
    "lowercase": (),
    "uppercase": (),
    "strip": (),
    "convert": ("to",),
    "timestamp": ("format",),
    "host": (),
}
REQUIRED = {"copy": ("to",), "move": ("to",), "convert": ("to",), "set": ("value",)}
CONVERSIONS = ("int", "float", "bool", "string")
TIME_FORMATS = ("iso", "epoch", "epoch_ms")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


class MissingField(LookupError):
    """A field an operation reads is not in the event (with ``missing: "fail"``)."""


class Modify(Processor):
    """Edits event fields: ordered set, copy, move, delete, merge, case, strip, convert, timestamp, host.

    Parameters:
        operations (list): the edits, applied in order to every event. Each is an object
            with one operation key, whose value is a field path (``data.user.name``,
            ``headers.x``, ``data.items[0]``), and that operation's options:

            - ``{"set": PATH, "value": V}``: put V at PATH; a string V is a template
              (``"{{ data.service }}-prod"``), anything else is put as is (a copy of it).
            - ``{"copy": PATH, "to": PATH2}``, ``{"move": PATH, "to": PATH2}``.
            - ``{"delete": PATH}``: removing what is not there is no error.
            - ``{"merge": PATH, "into": PATH2}``: the object at PATH merged (shallowly) into
              the object at PATH2 (default ``data``); ``"merge"`` may also be an object
              literal whose string values are templates.
            - ``{"lowercase": PATH}``, ``{"uppercase": PATH}``, ``{"strip": PATH}``: text.
            - ``{"convert": PATH, "to": "int"|"float"|"bool"|"string"}``.
            - ``{"timestamp": PATH, "format": "iso"|"epoch"|"epoch_ms"}``: the time now
              (default ``iso``: UTC ISO 8601 with milliseconds).
            - ``{"host": PATH}``: this host's name.
        missing (str): a field an operation reads is not there: ``"skip"`` the operation
            (default) or ``"fail"`` the event.
        template_missing (str): a template names a missing field: render it ``"empty"``
            (default) or ``"strict"``: the event goes to failed.

    Queues:
        inbox: events to edit.
        outbox: the edited events.
        failed: events an operation could not apply to (a value of the wrong type, a text
            that does not convert, a missing field with ``missing: "fail"``), with the path
            and the expected type in ``headers.error``; the operations before it were applied.
    """

    def __init__(
        self,
        operations: list[dict],
        missing: Literal["skip", "fail"] = "skip",
        template_missing: Literal["empty", "strict"] = "empty",
    ) -> None:
        self.missing = missing
        self.template_missing = template_missing
        self._host = socket.gethostname()
        compiled = [self._compile(i, op) for i, op in enumerate(operations)]
        self.operations = _fuse(compiled, [self._fusable(op) for op in operations])
        self._apply = _batch_function(self.operations)

    # ------------------------------------------------------------------ per event
    def consume_batch(self, events: list) -> None:
        """Apply the operations to each event of the batch; one that raises sends its event to failed."""
        done = self._apply(events, self.fail)
        if done:
            self.emit_batch(done)

    def consume(self, event: dict) -> None:
        """One event (the framework calls :meth:`consume_batch`)."""
        self.consume_batch([event])

    # ------------------------------------------------------------------ at load
    def _compile(self, index: int, spec: Any) -> Op:
        """One operation, compiled; a bad one is a ParameterError at ``operations[index]``."""
        if not isinstance(spec, dict):
            raise ParameterError(
                "operations", f'expected an object like {{"set": "data.x", "value": 1}}, got {spec!r:.60}', (index,)
            )
        names = [key for key in spec if key in OPERATIONS]
        if len(names) != 1:
            found = ", ".join(names) or "none"
            message = f"expected exactly one operation of {', '.join(OPERATIONS)} (found: {found})"
            raise ParameterError("operations", message, (index,))
        (name,) = names
        for key in spec:
            if key != name and key not in OPERATIONS[name]:
                allowed = ", ".join(OPERATIONS[name]) or "none"
                raise ParameterError("operations", f"{name} takes no option {key!r} (options: {allowed})", (index,))
        for key in REQUIRED.get(name, ()):
            if key not in spec:
                raise ParameterError("operations", f"{name} needs {key!r}", (index,))
        try:
            return getattr(self, f"_op_{name}")(spec)
        except ValueError as exc:
            raise ParameterError("operations", str(exc), (index, name)) from None

    def _fusable(self, spec: dict) -> tuple | None:
        """(root, key, how, value) for an operation on a key of data or headers that can join its
        neighbours in one compiled function: a set of a constant or a template, a delete."""
        name = next(key for key in spec if key in OPERATIONS)
        if name not in ("set", "delete"):
            return None
        keys = compile_path(spec[name]).keys
        if len(keys) != 2 or type(keys[1]) is not str:
            return None
        if name == "delete":
            return (keys[0], keys[1], "pop", None)
        value = spec["value"]
        if isinstance(value, str):
            template = self._template(value)
            return (
                (keys[0], keys[1], "const", value) if template.static else (keys[0], keys[1], "render", template.render)
            )
        if value is None or type(value) in (int, float, bool):
            return (keys[0], keys[1], "const", value)
        return None

    def _path(self, text: Any, option: str = "") -> FieldPath:
        if not isinstance(text, str):
            raise ValueError(f"{option + ': ' if option else ''}expected a field path (a string), got {text!r:.40}")
        try:
            return compile_path(text)
        except ValueError as exc:
            raise ValueError(f"{option + ': ' if option else ''}{exc}") from None

    def _template(self, text: str) -> Template:
        return compile_template(text, self.template_missing)

    def _source(self, path: FieldPath) -> Callable[[dict], Any]:
        """A getter that returns MISSING (skip) or raises (fail) for a missing field."""
        get = path.get
        if self.missing == "skip":
            return get
        text = path.text

        def required(event: dict) -> Any:
            value = get(event)
            if value is MISSING:
                raise MissingField(f"{text}: the field is missing")
            return value

        return required

    def _op_set(self, spec: dict) -> Op:
        path = self._path(spec["set"])
        value = spec["value"]
        if isinstance(value, str):
            template = self._template(value)
            if template.static:
                return path.setter(value)
            return path.computed_setter(template.render)
        if isinstance(value, (dict, list)):
            set_ = path.set
            frozen = json.dumps(value)
            return lambda event: set_(event, json.loads(frozen))  # every event its own copy
        return path.setter(value)

    def _op_copy(self, spec: dict) -> Op:
        source, target = self._path(spec["copy"]), self._path(spec["to"], "to")
        get, set_ = self._source(source), target.set

        def copy(event: dict) -> None:
            value = get(event)
            if value is not MISSING:
                set_(event, _copy(value))

        return copy

    def _op_move(self, spec: dict) -> Op:
        source, target = self._path(spec["move"]), self._path(spec["to"], "to")
        if source.is_root:
            raise ValueError("cannot move data or headers themselves (copy them)")
        get, set_, delete = self._source(source), target.set, source.delete

        def move(event: dict) -> None:
            value = get(event)
            if value is not MISSING:
                delete(event)
                set_(event, value)

        return move

    def _op_delete(self, spec: dict) -> Op:
        return self._path(spec["delete"]).deleter()

    def _op_merge(self, spec: dict) -> Op:
        target = self._path(spec.get("into", "data"), "into")
        get_target, text = target.get, target.text
        if isinstance(spec["merge"], dict):
            items = [(key, self._template(v) if isinstance(v, str) else v) for key, v in spec["merge"].items()]

            def source(event: dict) -> Any:
                return {k: (v.render(event) if isinstance(v, Template) else _copy(v)) for k, v in items}

            origin = "merge"
        else:
            source = self._source(self._path(spec["merge"]))
            origin = compile_path(spec["merge"]).text

        def merge(event: dict) -> None:
            value = source(event)
            if value is MISSING:
                return
            if not isinstance(value, dict):
                raise FieldTypeError(origin, origin, "an object", value)
            into = get_target(event)
            if into is MISSING:
                target.set(event, _copy(value))
            elif isinstance(into, dict):
                into.update(_copy(value))
            else:
                raise FieldTypeError(text, text, "an object", into)

        return merge

    def _text_op(self, spec: dict, name: str, method: Callable[[str], str]) -> Op:
        path = self._path(spec[name])
        get, set_, text = self._source(path), path.set, path.text

        def edit(event: dict) -> None:
            value = get(event)
            if type(value) is str:
                set_(event, method(value))
            elif value is not MISSING:
                raise FieldTypeError(text, text, "a string", value)

        return edit

    def _op_lowercase(self, spec: dict) -> Op:
        return self._text_op(spec, "lowercase", str.lower)

    def _op_uppercase(self, spec: dict) -> Op:
        return self._text_op(spec, "uppercase", str.upper)

    def _op_strip(self, spec: dict) -> Op:
        return self._text_op(spec, "strip", str.strip)

    def _op_convert(self, spec: dict) -> Op:
        path = self._path(spec["convert"])
        to = spec["to"]
        if to not in CONVERSIONS:
            raise ValueError(f"to: expected one of {', '.join(CONVERSIONS)}, got {to!r}")
        get, set_, text = self._source(path), path.set, path.text
        convert = _CONVERTERS[to]

        def conversion(event: dict) -> None:
            value = get(event)
            if value is not MISSING:
                set_(event, convert(text, value))

        return conversion

    def _op_timestamp(self, spec: dict) -> Op:
        path = self._path(spec["timestamp"])
        fmt = spec.get("format", "iso")
        if fmt not in TIME_FORMATS:
            raise ValueError(f"format: expected one of {', '.join(TIME_FORMATS)}, got {fmt!r}")
        set_ = path.set
        if fmt == "epoch":
            return lambda event: set_(event, time.time())
        if fmt == "epoch_ms":
            return lambda event: set_(event, time.time_ns() // 1_000_000)
        utc = datetime.timezone.utc

        def iso(event: dict) -> None:
            now = datetime.datetime.now(utc)
            set_(event, now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z")

        return iso

    def _op_host(self, spec: dict) -> Op:
        return self._path(spec["host"]).setter(self._host)


def _fuse(operations: list[Op], fusable: list[tuple | None]) -> list[Op]:
    """Runs of operations on keys of one root (``data.a``, ``data.b``) as one compiled function.

    The function checks once that the root is an object and does each operation in order on
    it; when the root is not an object it runs the operations one by one (so the error is
    the one each gives).
    """
    out: list[Op] = []
    i = 0
    while i < len(operations):
        j = i
        while j < len(operations) and fusable[j] is not None and fusable[j][0] == fusable[i][0]:
            j += 1
        if j - i < 2:
            out.append(operations[i])
            i += 1
            continue
        run = fusable[i:j]
        namespace: dict[str, Any] = {"root": run[0][0], "each": tuple(operations[i:j])}
        lines = ["def fused(event):", "    p = event[root]", "    if type(p) is dict:"]
        for n, (_, key, how, value) in enumerate(run):
            namespace[f"k{n}"] = key
            namespace[f"v{n}"] = value
            if how == "pop":
                lines.append(f"        p.pop(k{n}, None)")
            elif how == "const":
                lines.append(f"        p[k{n}] = v{n}")
            else:
                lines.append(f"        p[k{n}] = v{n}(event)")
        lines += ["        return", "    for op in each:", "        op(event)"]
        # The source holds only generated names: keys, values and functions are bound, never code.
        exec("\n".join(lines), namespace)
        out.append(namespace["fused"])
        i = j
    return out


def _batch_function(operations: list[Op]) -> Callable[[list, Callable], list]:
    """``apply(events, fail) -> done``: every operation on every event, in one compiled loop
    (the calls written out, no loop over the operations per event); an event an operation
    raises on goes to ``fail(event, exc)`` and is left out of *done*."""
    namespace: dict[str, Any] = {f"op{i}": op for i, op in enumerate(operations)}
    calls = "; ".join(f"op{i}(event)" for i in range(len(operations))) or "pass"
    source = (
        "def apply(events, fail):\n"
        "    done = []\n"
        "    add = done.append\n"
        "    for event in events:\n"
        "        try:\n"
        f"            {calls}\n"
        "        except Exception as exc:\n"
        "            fail(event, exc)\n"
        "            continue\n"
        "        add(event)\n"
        "    return done\n"
    )
    # The source holds only generated names: the operations are bound, never code.
    exec(source, namespace)
    return namespace["apply"]


def _copy(value: Any) -> Any:
    """An independent copy of a JSON-like value (so two fields never share one object)."""
    cls = type(value)
    if cls is dict:
        return {k: _copy(v) for k, v in value.items()}
    if cls is list:
        return [_copy(v) for v in value]
    return value


def _to_int(path: str, value: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is bool:
        return int(value)
    if type(value) is float and value == value and value not in (float("inf"), float("-inf")):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            try:
                number = float(value.strip())
            except ValueError:
                number = None
            if number is not None and number.is_integer():
                return int(number)
    raise FieldTypeError(path, path, "an integer, or a number or text that converts to one", value)


def _to_float(path: str, value: Any) -> float:
    if type(value) in (int, float, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise FieldTypeError(path, path, "a number, or text that converts to one", value)


def _to_bool(path: str, value: Any) -> bool:
    if type(value) is bool:
        return value
    if type(value) in (int, float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise FieldTypeError(path, path, "a boolean: true/false, yes/no, on/off, 1/0", value)


def _to_string(path: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise FieldTypeError(path, path, "UTF-8 bytes", value) from None
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


_CONVERTERS = {"int": _to_int, "float": _to_float, "bool": _to_bool, "string": _to_string}
