"""Reading a bootstrap file: JSON or YAML, then ``${VAR}`` references and secrets resolved.

* **Format** by extension: ``.yaml``/``.yml`` is YAML (comments, no quotes needed), anything
  else JSON (the seed's format and the documented default). Both give the same document and
  the same path-precise errors; YAML errors also give the line and column.
* **References**, resolved at load in every string value: ``${VAR}`` (the environment
  variable; missing is an error naming the JSON path), ``${VAR:-default}`` (the default when
  VAR is unset or empty), ``${file:/run/secrets/db}`` (a secret: the file's content, one
  trailing newline removed), and ``$${`` for a literal ``${``. A string that is exactly one
  reference whose value reads as a JSON number or boolean (``"${PORT}"`` with PORT=8080)
  becomes that number or boolean, so a port can come from the environment.
* **Secrets**: a value read with ``${file:...}``, the value of any environment variable whose
  name says it is one, and every string of a module's ``variables`` under a key whose name
  says it is one (a parameter ``password``, ``api_key``, ``token``, ``secret``, a header
  ``Authorization``...), is
  registered with :data:`SECRETS`; :class:`SecretFilter` (the command line installs it on
  every log handler) and :func:`scrub` replace it with ``****`` wherever it would be printed,
  so it appears in no log line, error message, ``validate`` or ``show`` output. What a
  secret's name is, is :func:`wishbone.log.is_secret_name`, which :func:`wishbone.log.mask`
  (the parameters the debug log shows) uses too.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from typing import Any

from wishbone.bootstrap import BootstrapError, jpath
from wishbone.log import MASK as _MASK
from wishbone.log import is_secret_name

__all__ = ["SECRETS", "SecretFilter", "interpolate", "parse_yaml", "scrub"]

_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}")


class _Secrets:
    """The secret values of the loaded bootstrap files, longest first (so none hides in another)."""

    def __init__(self) -> None:
        self.values: list[str] = []

    def add(self, value: str) -> None:
        if len(value) >= 3 and value not in self.values:  # a 1-2 character secret would mask everything
            self.values.append(value)
            self.values.sort(key=len, reverse=True)


#: Every secret resolved so far in this process.
SECRETS = _Secrets()


def scrub(text: str) -> str:
    """*text* with every registered secret replaced by ``****``."""
    for value in SECRETS.values:
        if value in text:
            text = text.replace(value, _MASK)
    return text


class SecretFilter(logging.Filter):
    """A logging filter that scrubs secrets out of every record's message (and its arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if SECRETS.values:
            message = record.getMessage()
            clean = scrub(message)
            if clean != message:
                record.msg, record.args = clean, None
        return True


def parse_yaml(text: str, source: str) -> Any:
    """The document of a YAML bootstrap file; a syntax error names the line and column."""
    import yaml

    class _Loader(yaml.SafeLoader):
        """Safe YAML, refusing duplicate keys like the JSON reader does."""

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
        seen: dict = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            if key in seen:
                mark = key_node.start_mark
                raise BootstrapError(
                    source,
                    "",
                    f"duplicate key {key!r} at line {mark.line + 1} column {mark.column + 1}",
                    whole_file=True,
                )
            seen[key] = loader.construct_object(value_node, deep=True)
        return seen

    _Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise BootstrapError(source, "", f"not YAML: {exc.problem}{where}", whole_file=True) from None
    except yaml.YAMLError as exc:
        raise BootstrapError(source, "", f"not YAML: {exc}", whole_file=True) from None


def _resolve(reference: str, source: str, path: str, environ: Mapping[str, str]) -> str:
    if reference.startswith("file:"):
        name = reference[5:]
        try:
            with open(name, encoding="utf-8") as f:
                value = f.read()
        except OSError as exc:
            raise BootstrapError(source, path, f"cannot read the secret file {name!r}: {exc.strerror}") from None
        value = value[:-1] if value.endswith("\n") else value
        SECRETS.add(value)
        return value
    name, sep, default = reference.partition(":-")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise BootstrapError(
            source, path, f"${{{reference}}} is not a reference: expected ${{VAR}}, ${{VAR:-default}} or ${{file:PATH}}"
        )
    value = environ.get(name, "")
    if not value:
        if not sep:
            raise BootstrapError(
                source, path, f"the environment variable {name} is not set (write ${{{name}:-default}} for a default)"
            )
        value = default
    if is_secret_name(name):
        SECRETS.add(value)
    return value


def _string(text: str, source: str, path: str, environ: Mapping[str, str]) -> Any:
    if "$" not in text:
        return text
    whole = _REFERENCE.fullmatch(text)
    resolved = _REFERENCE.sub(
        lambda m: "${" if m.group(0) == "$${" else _resolve(m.group(1), source, path, environ), text
    )
    if whole is not None and whole.group(0) != "$${":
        try:
            value = json.loads(resolved)
        except ValueError:
            return resolved
        if isinstance(value, (int, float, bool)) and not isinstance(value, str):
            return value
    return resolved


def interpolate(document: Any, source: str, environ: Mapping[str, str] | None = None, path: str = "") -> Any:
    """*document* with every reference in its string values resolved (see the module doc).

    In a module's ``variables`` (its parameters, what :func:`wishbone.log.mask` masks), the
    strings under a key whose name is a secret's (:func:`wishbone.log.is_secret_name`) are
    registered with :data:`SECRETS`, resolved or literal. Instance names and routes are not
    parameters: an instance called ``pass`` makes nothing secret.
    """
    return _interpolate(document, source, os.environ if environ is None else environ, path, False, False)


def _interpolate(document: Any, source: str, env: Mapping[str, str], path: str, params: bool, secret: bool) -> Any:
    if isinstance(document, dict):
        return {
            key: _interpolate(
                value,
                source,
                env,
                jpath(path, key) if path else key,
                params or key == "variables",
                secret or (params and is_secret_name(str(key))),
            )
            for key, value in document.items()
        }
    if isinstance(document, list):
        return [_interpolate(value, source, env, jpath(path, i), params, secret) for i, value in enumerate(document)]
    if isinstance(document, str):
        value = _string(document, source, path, env)
        if secret and isinstance(value, str):
            SECRETS.add(value)
        return value
    return document
