"""One definition of a secret's name: the debug log's mask and the bootstrap file's scrub agree.

:func:`wishbone.log.is_secret_name` decides; :func:`wishbone.log.mask` (parameters in the debug
log) masks a value by its parameter or key name, and :mod:`wishbone.configfile` scrubs from every
printed line the values of such keys in a bootstrap file and of such environment variables.
"""

from __future__ import annotations

import json

import pytest
from wishbone import log
from wishbone.bootstrap import BootstrapError, load_dict
from wishbone.configfile import SECRETS, interpolate, scrub
from wishbone.module import Processor
from wishbone.testing.cli import run_cli

SECRET_NAMES = [
    "password",
    "api_key",
    "token",
    "secret",
    "db_pass",
    "passwd",
    "passphrase",
    "apikey",
    "auth_token",
    "private_key",
    "client_secret",
    "credentials",
    "Authorization",
]
PLAIN_NAMES = ["key", "routing_key", "max_keys", "passthrough", "passed", "author", "user", "tls_client_auth", "url"]


@pytest.fixture(autouse=True)
def no_secrets_left():
    """Each test starts and ends with no registered secret (SECRETS is per process)."""
    SECRETS.values.clear()
    yield
    SECRETS.values.clear()


def _variable(name: str) -> str:
    """The environment variable of a parameter name: ``api_key`` -> ``WB_TEST_API_KEY``."""
    return "WB_TEST_" + name.upper()


@pytest.mark.parametrize("name", SECRET_NAMES + PLAIN_NAMES)
def test_mask_scrub_and_the_environment_agree_on_every_name(name):
    secret = name in SECRET_NAMES
    assert log.is_secret_name(name) is secret
    assert log.is_secret_name(_variable(name)) is secret  # PASSWORD and password alike
    # The debug log's parameters.
    assert (log.mask({name: "literal-value-1"})[name] == log.MASK) is secret
    # A literal in a bootstrap file, and a reference to an environment variable named like it.
    doc = {"bootstrap": {"m": {"variables": {name: "literal-value-1", "other": f"${{{_variable(name)}}}"}}}}
    interpolate(doc, "f.json", {_variable(name): "from-environment-2"})
    line = "connecting with literal-value-1 and from-environment-2"
    expected = "connecting with **** and ****" if secret else line
    assert scrub(line) == expected


def test_a_secret_nested_under_a_secret_name_is_scrubbed_as_mask_hides_it():
    params = {"credentials": {"user": "alice-user", "password": ["pw-one-1", "pw-two-2"]}, "url": "http://h/"}
    interpolate({"bootstrap": {"m": {"module": "x", "variables": params}}}, "f.json", {})
    assert log.mask(params)["credentials"] == log.MASK
    assert scrub("alice-user pw-one-1 pw-two-2 http://h/") == "**** **** **** http://h/"


def test_instance_names_and_routes_are_not_parameters():
    doc = {
        "bootstrap": {"pass": {"module": "passthrough"}, "token": {"module": "null", "variables": {"x": "kept-1"}}},
        "routingtable": {"pass.outbox": ["token.inbox"]},
    }
    interpolate(doc, "f.json", {})
    assert SECRETS.values == []
    assert scrub("pass.outbox -> token.inbox, passthrough, kept-1") == "pass.outbox -> token.inbox, passthrough, kept-1"


class _Login(Processor):
    """Logs in somewhere.

    Parameters:
        password (str): the password.
        retries (int): how often to try.

    Queues:
        inbox: events in.  outbox: events out.
    """

    def __init__(self, password: str = "", retries: int = 1) -> None:
        self.password, self.retries = password, retries

    def consume(self, event: dict) -> None:
        self.emit(event)


def test_an_error_that_quotes_a_secret_parameter_is_scrubbed():
    doc = interpolate(
        {"bootstrap": {"m": {"module": "login", "variables": {"password": "hunter2-pw", "retries": "hunter2-pw"}}}},
        "f.json",
        {},
    )
    with pytest.raises(BootstrapError) as err:
        load_dict(doc, "f.json", classes={"m": _Login})
    assert "hunter2-pw" in str(err.value)  # the loader quotes the value it refused ...
    assert "hunter2-pw" not in scrub(str(err.value))  # ... and what the command prints is scrubbed


def test_the_command_line_masks_them_in_validate_and_in_the_debug_log(tmp_path):
    config = tmp_path / "secrets.json"
    payload = {"token": "tok-literal-3", "api_key": "key-literal-4", "note": "plain-5"}
    variables = {"count": 1, "interval": "tok-literal-3", "payload": payload}
    document = {
        "bootstrap": {"input": {"module": "testevent", "variables": variables}, "out": {"module": "null"}},
        "routingtable": {"input.outbox": ["out.inbox"]},
    }
    # validate quotes the bad interval; the payload's secret-named keys made their values secrets.
    config.write_text(json.dumps(document))
    done = run_cli("validate", "--config", str(config), timeout=60)
    assert done.returncode == 78 and "interval" in done.stderr and "'****'" in done.stderr, done.stderr
    assert "tok-literal-3" not in done.stdout + done.stderr
    # The debug log shows the parameters as loaded: masked by name, the rest as it is.
    variables["interval"] = 0.01
    config.write_text(json.dumps(document))
    done = run_cli("debug", "--loglevel", "debug", "--config", str(config), timeout=60)
    text = done.stdout + done.stderr
    assert done.returncode == 0, text
    assert "plain-5" in text  # the parameters were logged ...
    assert "tok-literal-3" not in text and "key-literal-4" not in text  # ... without the secrets
