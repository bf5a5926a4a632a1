"""Field paths into events: ``data.user.name``, ``headers.amqp.properties.message_id``.

A path is compiled once (:func:`compile_path`, at load) into a :class:`FieldPath` whose
``get``/``set``/``delete`` are plain calls per event. The syntax::

    data                      the whole data
    data.user.name            keys of nested objects (letters, digits, '_' and '-')
    data.items[0]             a list index (negative counts from the end: [-1] is the last)
    data."odd.key"            a quoted key (JSON string escapes), also data["odd key"]
    headers.amqp.properties   the same under headers

A path starts at ``data`` or ``headers``. Reading a path that is not there (a missing key,
an index past the end, a value of another type on the way) returns the default (the
:data:`MISSING` sentinel unless given): reading never raises. Writing creates the objects
on the way that are missing, and raises :class:`FieldTypeError` (naming the path and the type
it expected) when a value on the way is of the wrong type. Deleting a path that is not there
does nothing. A syntax error is a :class:`PathError` that names the column.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

__all__ = ["MISSING", "FieldPath", "FieldTypeError", "PathError", "compile_path"]


class _Missing:
    """The type of :data:`MISSING`: what ``get`` returns for a path that is not there."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


#: Returned by :meth:`FieldPath.get` for a path that is not in the event (unless a default is given).
MISSING: Any = _Missing()

_ROOTS = ("data", "headers")
_NAME = re.compile(r"[A-Za-z0-9_-]+")
_INDEX = re.compile(r"-?[0-9]+")
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


class PathError(ValueError):
    """A field path that does not parse: *column* (1-based) says where."""

    def __init__(self, text: str, column: int, message: str) -> None:
        self.text = text
        self.column = column
        self.message = message
        super().__init__(f"invalid field path {text!r} at column {column}: {message}")


class FieldTypeError(TypeError):
    """A value on the way of a path that has the wrong type for the operation.

    *path* is the whole path, *at* the part of it where the wrong value was found,
    *expected* what was needed there ("an object", "a list").
    """

    def __init__(self, path: str, at: str, expected: str, found: Any) -> None:
        self.path = path
        self.at = at
        self.expected = expected
        self.found = type(found).__name__
        where = "" if at == path else f" at {at}"
        super().__init__(f"{path}: expected {expected}{where}, found {_json_name(found)}")


def _json_name(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    for cls, name in names.items():
        if type(value) is cls:
            return name
    if isinstance(value, (int, float)):
        return "a number"
    return type(value).__name__


def _render(keys: tuple) -> str:
    """The canonical text of a path from its keys."""
    out = keys[0]
    for key in keys[1:]:
        if isinstance(key, int):
            out += f"[{key}]"
        elif _PLAIN.fullmatch(key):
            out += f".{key}"
        else:
            out += f"[{json.dumps(key)}]"
    return out


def _parse(text: str) -> tuple:
    if not isinstance(text, str):
        raise PathError(str(text), 1, f"expected a string, got {type(text).__name__}")
    pos = 0
    keys: list[str | int] = []
    end = len(text)

    def quoted(at: int) -> tuple[str, int]:
        quote = text[at]
        i = at + 1
        while i < end:
            ch = text[i]
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                raw = text[at + 1 : i]
                if quote == "'":
                    return re.sub(r"\\(.)", r"\1", raw), i + 1
                try:
                    return json.loads(f'"{raw}"'), i + 1
                except json.JSONDecodeError as exc:
                    raise PathError(text, at + 2 + exc.pos - 1, f"bad escape in a quoted key: {exc.msg}") from None
            i += 1
        raise PathError(text, at + 1, "a quoted key is not closed")

    match = _NAME.match(text, pos)
    if not match:
        raise PathError(text, 1, "expected 'data' or 'headers'")
    if match.group() not in _ROOTS:
        raise PathError(text, 1, f"a path starts with 'data' or 'headers', not {match.group()!r}")
    keys.append(match.group())
    pos = match.end()
    while pos < end:
        ch = text[pos]
        if ch == ".":
            pos += 1
            if pos < end and text[pos] in "\"'":
                key, pos = quoted(pos)
                keys.append(key)
                continue
            match = _NAME.match(text, pos)
            if not match:
                raise PathError(text, pos + 1, "expected a key name after '.' (quote odd names: .\"a key\")")
            keys.append(match.group())
            pos = match.end()
        elif ch == "[":
            pos += 1
            if pos < end and text[pos] in "\"'":
                key, pos = quoted(pos)
                keys.append(key)
            else:
                match = _INDEX.match(text, pos)
                if not match:
                    raise PathError(text, pos + 1, "expected a list index (an integer) or a quoted key inside [ ]")
                keys.append(int(match.group()))
                pos = match.end()
            if pos >= end or text[pos] != "]":
                raise PathError(text, pos + 1, "expected ']'")
            pos += 1
        else:
            raise PathError(text, pos + 1, f"unexpected {ch!r}: expected '.', '[' or the end")
    return tuple(keys)


class FieldPath:
    """A compiled path: :meth:`get`, :meth:`set`, :meth:`delete` on events.

    Build one with :func:`compile_path`. ``text`` is the canonical text of the path, ``keys``
    its keys (the root, then str keys and int indexes).
    """

    __slots__ = ("text", "keys", "get", "_parents", "_last")

    #: How :mod:`wishbone.params` names a parameter annotated ``FieldPath``.
    parameter_description = "a field path (a string: data.x, headers.y)"

    @classmethod
    def check_parameter(cls, text: str) -> None:
        """Compile *text* (cached) for :mod:`wishbone.params`; raises :class:`PathError`."""
        compile_path(text)

    def __init__(self, keys: tuple) -> None:
        self.keys = keys
        self.text = _render(keys)
        self._parents = keys[:-1]
        self._last = keys[-1]
        self.get = self._compile_get()

    def __repr__(self) -> str:
        return f"FieldPath({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldPath) and other.keys == self.keys

    def __hash__(self) -> int:
        return hash(self.keys)

    @property
    def is_root(self) -> bool:
        """True for ``data`` or ``headers`` alone."""
        return len(self.keys) == 1

    # ------------------------------------------------------------------ reading
    def _compile_get(self) -> Any:
        keys = self.keys
        if all(type(k) is str for k in keys):
            # Only str keys: any wrong type on the way raises TypeError (a str or list indexed
            # by a str), a missing key KeyError: one try around plain subscripts.
            chain = "".join(f"[k{i}]" for i in range(len(keys)))
            source = (
                "def get(event, default=MISSING):\n"
                "    try:\n"
                f"        return event{chain}\n"
                "    except (KeyError, TypeError, IndexError):\n"
                "        return default\n"
            )
            namespace: dict[str, Any] = {f"k{i}": k for i, k in enumerate(keys)}
            namespace["MISSING"] = MISSING
            # The source holds only names (k0, k1, ...): the keys are bound values, never code.
            exec(source, namespace)
            get = namespace["get"]
            get.__doc__ = f"The value at {self.text} in *event*, or *default*."
            return get

        def get(event: dict, default: Any = MISSING) -> Any:
            obj: Any = event
            for key in keys:
                if type(key) is int:
                    if type(obj) is not list:
                        return default
                    try:
                        obj = obj[key]
                    except IndexError:
                        return default
                elif isinstance(obj, dict):
                    try:
                        obj = obj[key]
                    except KeyError:
                        return default
                else:
                    return default
            return obj

        get.__doc__ = f"The value at {self.text} in *event*, or *default*."
        return get

    def exists(self, event: dict) -> bool:
        """True when the path is in *event*."""
        return self.get(event) is not MISSING

    # ------------------------------------------------------------------ writing
    def _parent(self, event: dict, create: bool) -> Any:
        """The container the last key is in; None if it is not there and *create* is False."""
        obj: Any = event
        keys = self.keys
        for i, key in enumerate(self._parents):
            following = keys[i + 1]
            if type(key) is int:
                if type(obj) is not list:
                    if not create:
                        return None
                    raise FieldTypeError(self.text, _render(keys[:i]), "a list", obj)
                try:
                    obj = obj[key]
                except IndexError:
                    if not create:
                        return None
                    raise FieldTypeError(
                        self.text, _render(keys[: i + 1]), f"an index within the list of {len(obj)}", obj
                    ) from None
            else:
                if not isinstance(obj, dict):
                    if not create:
                        return None
                    raise FieldTypeError(self.text, _render(keys[:i]), "an object", obj)
                child = obj.get(key, MISSING)
                if child is MISSING:
                    if not create:
                        return None
                    if type(following) is int:
                        raise FieldTypeError(self.text, _render(keys[: i + 1]), "a list", None)
                    child = obj[key] = {}
                obj = child
        return obj

    def set(self, event: dict, value: Any) -> None:
        """Put *value* at the path, creating missing objects on the way.

        Raises :class:`FieldTypeError` when a value on the way is not an object (or not a
        list, for an index), and for ``headers`` set to anything but an object.
        """
        last = self._last
        if len(self.keys) == 1:
            if last == "headers" and not isinstance(value, dict):
                raise FieldTypeError(self.text, self.text, "an object", value)
            event[last] = value
            return
        parent = self._parent(event, True)
        if type(last) is int:
            if type(parent) is not list:
                raise FieldTypeError(self.text, _render(self._parents), "a list", parent)
            try:
                parent[last] = value
            except IndexError:
                expected = f"an index within the list of {len(parent)}"
                raise FieldTypeError(self.text, self.text, expected, parent) from None
        elif isinstance(parent, dict):
            parent[last] = value
        else:
            raise FieldTypeError(self.text, _render(self._parents), "an object", parent)

    def delete(self, event: dict) -> bool:
        """Remove the path from *event*; True if it was there. ``data`` alone becomes null."""
        last = self._last
        if len(self.keys) == 1:
            if last == "headers":
                had = bool(event["headers"])
                event["headers"] = {}
                return had
            had = event.get("data") is not None
            event["data"] = None
            return had
        parent = self._parent(event, False)
        if type(last) is int:
            if type(parent) is not list:
                return False
            try:
                del parent[last]
            except IndexError:
                return False
            return True
        if isinstance(parent, dict) and last in parent:
            del parent[last]
            return True
        return False

    # ------------------------------------------------------------------ compiled writers
    def _fast_source(self, body: str, compute: bool = False) -> str | None:
        """Source walking the objects on the way as plain dicts, then *body*; else the slow call."""
        keys = self.keys
        if len(keys) < 2 or not all(type(k) is str for k in keys):
            return None
        lines = ["def op(event):"]
        if compute:
            lines.append("    V = compute(event)")
        lines.append("    p0 = event[k0]")
        indent = "    "
        for i in range(1, len(keys) - 1):
            lines.append(f"{indent}if type(p{i - 1}) is dict:")
            indent += "    "
            lines.append(f"{indent}p{i} = p{i - 1}.get(k{i})")
        lines.append(f"{indent}if type(p{len(keys) - 2}) is dict:")
        lines.append(f"{indent}    {body.format(p=f'p{len(keys) - 2}', k=f'k{len(keys) - 1}')}")
        lines.append(f"{indent}    return")
        lines.append("    slow(event, V)" if compute else "    slow(event)")
        return "\n".join(lines)

    def _define(self, source: str, slow: Any, **values: Any) -> Any:
        namespace: dict[str, Any] = {f"k{i}": k for i, k in enumerate(self.keys)}
        namespace.update(values, slow=slow)
        # The source holds only generated names: the keys and values are bound, never code.
        exec(source, namespace)
        return namespace["op"]

    def setter(self, value: Any) -> Any:
        """A function ``op(event)`` that sets the path to *value* (as :meth:`set`), compiled."""
        source = self._fast_source("{p}[{k}] = V")
        if source is None:
            return functools.partial(_set_to, self.set, value)
        return self._define(source, functools.partial(_set_to, self.set, value), V=value)

    def computed_setter(self, compute: Callable[[dict], Any]) -> Any:
        """A function ``op(event)`` that sets the path to ``compute(event)`` (as :meth:`set`), compiled."""
        set_ = self.set
        source = self._fast_source("{p}[{k}] = V", compute=True)
        if source is None:
            return lambda event: set_(event, compute(event))
        return self._define(source, set_, compute=compute)

    def deleter(self) -> Any:
        """A function ``op(event)`` that deletes the path (as :meth:`delete`), compiled."""
        source = self._fast_source("{p}.pop({k}, None)")
        if source is None:
            return self.delete
        return self._define(source, self.delete)

    def pop(self, event: dict, default: Any = MISSING) -> Any:
        """Remove the path from *event* and return what was there (or *default*)."""
        value = self.get(event, MISSING)
        if value is MISSING:
            return default
        self.delete(event)
        return value


def _set_to(set_: Any, value: Any, event: dict) -> None:
    set_(event, value)


@functools.lru_cache(maxsize=4096)
def _compile(text: str) -> FieldPath:
    return FieldPath(_parse(text))


def compile_path(text: str | FieldPath) -> FieldPath:
    """Compile *text* into a :class:`FieldPath` (cached); a FieldPath is returned as is.

    Raises :class:`PathError` (with the column) when *text* does not parse.
    """
    if isinstance(text, FieldPath):
        return text
    if not isinstance(text, str):
        raise PathError(repr(text), 1, f"expected a string, got {type(text).__name__}")
    return _compile(text)
