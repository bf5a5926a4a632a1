"""The ``jsonvalidate`` processor: events that do not fit a JSON Schema go to failed."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from jsonschema import validators
from wishbone.module import Processor
from wishbone.paths import FieldPath, compile_path

__all__ = ["JSONValidate", "SchemaViolation"]


class SchemaViolation(ValueError):
    """An event's field does not fit the schema: the field, the schema's path, the reason."""


def _pointer(parts: Any) -> str:
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class JSONValidate(Processor):
    """Checks a field against a JSON Schema; what does not fit goes to failed, naming the schema path.

    Parameters:
        schema (dict or null): the JSON Schema, inline (any draft ``jsonschema`` knows; the
            ``$schema`` key picks it, the newest draft otherwise).
        schema_file (str or null): a file to read the schema from instead (JSON), read once
            at load. Give exactly one of ``schema`` and ``schema_file``.
        field (str): the field path to check (default ``data``; a missing field is checked as null).

    Queues:
        inbox: events to check.
        outbox: the events that fit.
        failed: the events that do not, with the reason in ``headers.error``:
            ``data.n: 'a' is not of type 'integer' (schema #/properties/n/type)``.

    The schema is checked when the bootstrap file is loaded: a schema that is not valid
    for its draft is a load error naming the place in the schema.
    """

    changes_events = False  # it only reads events (a failed one is recorded on a copy if shared)

    def __init__(self, schema: dict | None = None, schema_file: str | None = None, field: FieldPath = "data") -> None:
        if (schema is None) == (schema_file is None):
            raise ValueError("give exactly one of schema and schema_file")
        if schema_file is not None:
            try:
                with open(schema_file, encoding="utf-8") as fh:
                    schema = json.load(fh)
            except OSError as exc:
                raise ValueError(f"schema_file: cannot read {schema_file!r}: {exc.strerror or exc}") from None
            except ValueError as exc:
                raise ValueError(f"schema_file: {schema_file!r} is not JSON: {exc}") from None
            if not isinstance(schema, dict):
                raise ValueError(f"schema_file: {schema_file!r} holds no JSON object")
        assert schema is not None
        cls = validators.validator_for(schema)
        try:
            cls.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"schema: invalid at {_pointer(exc.absolute_path)}: {exc.message}") from None
        self.schema = schema
        self.field = compile_path(field)
        self._validator = cls(schema)
        self.invalid = 0

    def consume_batch(self, events: list) -> None:
        """Pass on what fits; the rest goes to failed with the first reason (jsonschema's best match)."""
        get, is_valid, text = self.field.get, self._validator.is_valid, self.field.text
        valid = []
        add = valid.append
        for event in events:
            value = get(event, None)
            if is_valid(value):
                add(event)
                continue
            self.invalid += 1
            error = jsonschema.exceptions.best_match(self._validator.iter_errors(value))
            where = text + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            schema_path = _pointer(error.absolute_schema_path)
            self.fail(event, SchemaViolation(f"{where}: {error.message} (schema {schema_path})"))
        if valid:
            self.emit_batch(valid)

    def consume(self, event: dict) -> None:
        """One event (the framework calls :meth:`consume_batch`)."""
        self.consume_batch([event])

    def metrics(self) -> dict:
        """``invalid``: the events that did not fit the schema."""
        return {"invalid": self.invalid}
