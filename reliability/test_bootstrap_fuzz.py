"""Bootstrap documents, fuzzed with hypothesis (structure and values, thousands of cases): the
loader never raises anything but a :class:`BootstrapError` whose path is a real JSON path into
the document and whose message is a non-empty line; a few also go through ``wishbone validate``."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wishbone.bootstrap import BootstrapError, load_dict, load_file
from wishbone.pipeline import Pipeline
from wishbone.testing.cli import run_cli

from reliability.jsonpath import parse, resolved_depth

SETTINGS = {"deadline": None, "suppress_health_check": list(HealthCheck), "database": None}

MODULES = ["testevent", "null", "passthrough", "testsink", "udp_in", "udp_out", "stdout", "metrics"]
HOSTILE = ["os.system", "wishbone.module:Module", "subprocess.Popen", "nope", "", "Testevent", "null "]
NAMES = ["input", "output", "relay", "a-b", "_x", "1bad", "a.b", "", "ü", "x y", "in\r"]
QUEUES = ["outbox", "inbox", "failed", "side", "", "x.y"]
PARAMS = ["interval", "count", "payload", "port", "address", "path", "decode", "max_size", "stop_delay", "bogus"]

keys = st.text(max_size=8)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


def _maybe(strategy, other=json_values):
    """Mostly *strategy*, sometimes any JSON value at all (a wrong type)."""
    return st.one_of(strategy, strategy, strategy, other)


names = st.sampled_from(NAMES) | keys
refs = st.builds(lambda n, q: f"{n}.{q}", names, st.sampled_from(QUEUES)) | st.text(max_size=10)
variables = st.dictionaries(st.sampled_from(PARAMS) | keys, json_values, max_size=4)
entries = st.fixed_dictionaries(
    {},
    optional={
        "module": _maybe(st.sampled_from(MODULES + HOSTILE) | st.text(max_size=10)),
        "group": _maybe(st.sampled_from(["wishbone.module", "wishbone.metrics", "nope"])),
        "variables": _maybe(variables),
        "queues": _maybe(
            st.dictionaries(
                st.sampled_from(["inbox", "outbox", "x"]),
                _maybe(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "maxsize": _maybe(st.integers(-5, 10**20)),
                            "when_full": _maybe(st.sampled_from(["block", "drop", "later"])),
                            "other": json_values,
                        },
                    )
                ),
                max_size=2,
            )
        ),
        "junk": json_values,
    },
)
metrics = st.fixed_dictionaries(
    {},
    optional={
        "enable": _maybe(st.booleans()),
        "group": _maybe(st.sampled_from(["wishbone.metrics", "wishbone.module"])),
        "module": _maybe(st.sampled_from(["log", "prometheus", "nope", "os.system"])),
        "interval": _maybe(st.floats(allow_nan=True) | st.integers(-3, 10)),
        "variables": _maybe(st.dictionaries(st.sampled_from(["level", "port", "skip_idle", "x"]), json_values)),
        "unknown": json_values,
    },
)
documents = st.fixed_dictionaries(
    {},
    optional={
        "system": _maybe(st.just({})),
        "metrics": _maybe(metrics),
        "bootstrap": _maybe(st.dictionaries(names, _maybe(entries), max_size=4)),
        "routingtable": _maybe(st.dictionaries(refs, _maybe(st.lists(_maybe(refs, scalars), max_size=3)), max_size=3)),
        "extra": json_values,
    },
)


def check_error(exc: BootstrapError, document: object) -> None:
    """The error names a well-formed JSON path the document (nearly) holds, and says what in one line."""
    keys = parse(exc.path)
    assert keys is not None, f"not a JSON path: {exc.path!r}"
    depth = resolved_depth(document, keys)
    missing = keys[depth:]
    # What is missing may only be the key the error is about, or a default section and its key
    # (``variables`` absent, a required parameter missing from it).
    assert len(missing) <= 1 or (len(missing) == 2 and missing[0] == "variables"), (exc.path, document)
    assert exc.message.strip(), exc
    assert "\n" not in str(exc), repr(str(exc))


def _build(document: object) -> None:
    """Built, or refused with a good error: either is fine."""
    try:
        Pipeline.from_dict(document, load_entry_points=False)
    except BootstrapError as exc:
        check_error(exc, document)


def _refused(document: object) -> None:
    """Refused with a good error; a document that builds fails the test."""
    with pytest.raises(BootstrapError) as info:
        Pipeline.from_dict(document, load_entry_points=False)
    check_error(info.value, document)


@settings(max_examples=1200, **SETTINGS)
@given(documents)
def test_structured_documents_are_built_or_refused_with_a_json_path(document):
    _build(document)


@settings(max_examples=500, **SETTINGS)
@given(json_values)
def test_any_json_value_is_refused_with_a_json_path(document):
    _refused(document)  # its keys are at most 8 characters: it can never hold "bootstrap"


def _valid() -> dict:
    return {
        "metrics": {"enable": True, "module": "log", "interval": 5},
        "bootstrap": {
            "input": {"module": "testevent", "variables": {"interval": 1, "count": 3}},
            "output": {"module": "null"},
        },
        "routingtable": {"input.outbox": ["output.inbox"]},
    }


@settings(max_examples=600, **SETTINGS)
@given(st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_any_bytes_in_a_file_are_refused_cleanly(tmp_path_factory, data):
    path = tmp_path_factory.getbasetemp() / "fuzz-bytes.json"
    path.write_bytes(data)
    with pytest.raises(BootstrapError) as info:  # a few hundred random bytes are never a pipeline
        load_file(str(path))
    exc = info.value
    assert exc.message.strip() and "\n" not in str(exc), exc
    if exc.path:  # the bytes were a JSON object: the path must lead into it
        check_error(exc, json.loads(data))


@settings(max_examples=600, **SETTINGS)
@given(st.data())
def test_a_valid_file_damaged_anywhere_is_built_or_refused_cleanly(tmp_path_factory, data):
    text = json.dumps(_valid()).encode()
    kind = data.draw(st.sampled_from(["truncate", "flip", "insert", "duplicate-key", "latin1", "deep"]))
    if kind == "truncate":
        text = text[: data.draw(st.integers(0, len(text) - 1))]
    elif kind == "flip":
        i = data.draw(st.integers(0, len(text) - 1))
        text = text[:i] + bytes([data.draw(st.integers(0, 255))]) + text[i + 1 :]
    elif kind == "insert":
        i = data.draw(st.integers(0, len(text)))
        text = text[:i] + data.draw(st.binary(min_size=1, max_size=8)) + text[i:]
    elif kind == "duplicate-key":
        text = text.replace(b'"output": {', b'"output": {"module": "null", ', 1)
    elif kind == "latin1":
        text = text.replace(b'"null"', '"nüll"'.encode("latin-1"))
    else:
        depth = data.draw(st.integers(900, 100_000))
        text = text.replace(b'"count": 3', b'"count": ' + b"[" * depth + b"]" * depth)
    path = tmp_path_factory.getbasetemp() / "fuzz-damaged.json"
    path.write_bytes(text)
    try:
        document = load_file(str(path)).document
    except BootstrapError as exc:
        assert exc.message.strip() and "\n" not in str(exc)
        if exc.path:
            check_error(exc, json.loads(text))
        return
    _build(document)


@pytest.mark.parametrize(
    "document",
    [
        [1, 2],
        {"bootstrap": {}},
        {"bootstrap": {"input": {"module": "os.system"}}},
        {"bootstrap": {"input": {"module": "testevent", "variables": {"interval": "fast"}}}},
        {"bootstrap": {"input": {"module": "testevent"}}, "routingtable": {"input.outbox": ["nowhere.inbox"]}},
        {"bootstrap": {"input": {"module": "testevent", "variables": {"count": -1}}}},
        {"bootstrap": {"input": {"module": "testevent"}}, "metrics": {"interval": 0}},
    ],
    ids=["array", "empty", "dotted-path", "wrong-type", "unknown-route", "refused-parameter", "metrics-interval"],
)
def test_validate_refuses_with_exit_78_and_one_line(tmp_path, document):
    config = tmp_path / "bad.json"
    config.write_text(json.dumps(document))
    result = run_cli("validate", "--config", str(config))
    assert result.returncode == 78, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and str(config) in lines[0] and "Traceback" not in result.stderr, result.stderr


def test_validate_refuses_random_bytes_with_exit_78(tmp_path):
    config = tmp_path / "bytes.json"
    config.write_bytes(bytes(range(256)) * 4)
    result = run_cli("validate", "--config", str(config))
    assert result.returncode == 78 and len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("where", ["instance", "parameter"])
def test_a_name_with_a_trailing_newline_is_refused(tmp_path, where):
    if where == "instance":
        document = {"bootstrap": {"in\n": {"module": "null"}}}
    else:
        document = {"bootstrap": {"input": {"module": "null", "variables": {"port\n": 1}}}}
    try:
        load_dict(document)
    except BootstrapError as exc:
        check_error(exc, document)
    else:
        pytest.fail(f"accepted: {document!r}")
    config = tmp_path / "newline.json"
    config.write_text(json.dumps(document))
    result = run_cli("validate", "--config", str(config))
    assert result.returncode == 78 and len(result.stderr.splitlines()) == 1, result.stderr
