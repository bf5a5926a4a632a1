"""wishbone.configfile: YAML with line and column errors, ${VAR} references, secrets scrubbed."""

from __future__ import annotations

import logging

import pytest
from wishbone.bootstrap import BootstrapError
from wishbone.configfile import SECRETS, SecretFilter, interpolate, parse_yaml, scrub


def test_references_defaults_literals_and_typed_whole_values(tmp_path):
    env = {"HOST": "10.0.0.1", "PORT": "8080", "EMPTY": "", "DEBUG": "true"}
    doc = {
        "bootstrap": {
            "in": {
                "variables": {
                    "url": "http://${HOST}:${PORT}/x",
                    "port": "${PORT}",
                    "debug": "${DEBUG}",
                    "fallback": "${EMPTY:-none}",
                    "unset": "${NOPE:-7}",
                    "literal": "cost $${HOME}",
                    "list": ["${HOST}", 1],
                }
            }
        }
    }
    got = interpolate(doc, "f.json", env)["bootstrap"]["in"]["variables"]
    assert got == {
        "url": "http://10.0.0.1:8080/x",
        "port": 8080,
        "debug": True,
        "fallback": "none",
        "unset": 7,
        "literal": "cost ${HOME}",
        "list": ["10.0.0.1", 1],
    }


def test_a_missing_variable_names_its_json_path():
    doc = {"bootstrap": {"out": {"variables": {"hosts": ["a", "${MISSING_HOST}"]}}}}
    with pytest.raises(BootstrapError) as err:
        interpolate(doc, "f.json", {})
    assert str(err.value).startswith("f.json: bootstrap.out.variables.hosts[1]: the environment variable MISSING_HOST")


def test_file_secrets_and_secret_named_variables_are_scrubbed(tmp_path, caplog):
    secret = tmp_path / "db_password"
    secret.write_text("hunter2-from-file\n")
    doc = {"v": {"password": f"${{file:{secret}}}", "token": "${API_TOKEN}", "user": "${USER_NAME}"}}
    got = interpolate(doc, "f.json", {"API_TOKEN": "tok-123456", "USER_NAME": "alice"})
    assert got["v"] == {"password": "hunter2-from-file", "token": "tok-123456", "user": "alice"}
    assert scrub("login hunter2-from-file with tok-123456 as alice") == "login **** with **** as alice"
    logger = logging.getLogger("wishbone.test.secrets")
    handler = logging.StreamHandler()
    handler.addFilter(SecretFilter())
    logger.addHandler(handler)
    try:
        with caplog.at_level(logging.INFO, logger="wishbone.test.secrets"):
            caplog.handler.addFilter(SecretFilter())
            logger.info("connecting with %s", "hunter2-from-file")
        assert "hunter2" not in caplog.text and "connecting with ****" in caplog.text
    finally:
        logger.removeHandler(handler)
        SECRETS.values.clear()


def test_an_unreadable_secret_file_is_an_error_with_its_path(tmp_path):
    with pytest.raises(BootstrapError, match=r"f.json: a.b: cannot read the secret file"):
        interpolate({"a": {"b": f"${{file:{tmp_path}/none}}"}}, "f.json", {})


def test_yaml_documents_and_errors_with_line_and_column():
    assert parse_yaml("# comments are why\nbootstrap:\n  in: {module: testevent}\n", "f.yaml") == {
        "bootstrap": {"in": {"module": "testevent"}}
    }
    with pytest.raises(BootstrapError, match=r"f.yaml: .*not YAML: .* at line 3 column \d+"):
        parse_yaml("bootstrap:\n  in: {module: testevent\n  out: x\n", "f.yaml")
    with pytest.raises(BootstrapError, match=r"duplicate key 'in' at line 3 column 3"):
        parse_yaml("bootstrap:\n  in: 1\n  in: 2\n", "f.yaml")


def test_a_file_nested_deeper_than_the_stack_is_refused_not_a_crash(tmp_path):
    """The reliability fuzzer found a damaged file whose nesting made interpolate recurse too deep."""
    from wishbone import bootstrap

    deep = tmp_path / "deep.json"
    deep.write_text('{"bootstrap": ' + "[" * 900 + "]" * 900 + "}")
    with pytest.raises(BootstrapError, match="nested too deeply"):
        bootstrap.load_file(str(deep))
