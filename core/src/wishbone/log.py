"""Logging in the seed's format, a rate limit for messages about bad input, and secret masking.

Lines look like ``2012-11-25 16:38:30,202 INFO Instance #0:loopback: Started.``: the
*source* is ``Server`` for the process supervisor and ``Instance #N:NAME`` for a module.

Anything that shows parameters (the debug log, ``validate``, error messages) passes them
through :func:`mask` first. What a secret is by its name is decided once, by
:func:`is_secret_name`: :func:`mask` uses it for parameter and key names, and
:mod:`wishbone.configfile` for the environment variables and the keys of a bootstrap file
whose values it scrubs from every line printed.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

__all__ = [
    "FORMAT",
    "LEVELS",
    "MASK",
    "RateLimitedLog",
    "SeedFormatter",
    "configure",
    "is_secret_name",
    "mask",
    "reopen",
    "source_logger",
]

FORMAT = "%(asctime)s %(levelname)s %(source)s: %(message)s"
LEVELS = ("debug", "info", "warning", "error", "critical")


class SeedFormatter(logging.Formatter):
    """Formats records as the seed did; records without a source show their logger name."""

    def __init__(self) -> None:
        super().__init__(FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "source"):
            record.source = record.name
        return super().format(record)


def source_logger(source: str, name: str = "wishbone") -> logging.LoggerAdapter:
    """Return a logger whose lines are prefixed with *source* (``Instance #0:input``)."""
    return logging.LoggerAdapter(logging.getLogger(name), {"source": source})


def configure(level: str = "info", stream=None, filename: str | None = None) -> None:
    """Send Wishbone's log to *stream* (default stderr) or *filename* at *level* (any case)."""
    level = level.lower()
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}; expected one of {', '.join(LEVELS)}")
    handler: logging.Handler
    handler = logging.FileHandler(filename) if filename else logging.StreamHandler(stream)
    handler.setFormatter(SeedFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


def reopen() -> list[str]:
    """Reopen every log file the root logger writes to; return their paths.

    After logrotate moved a file away, the process goes on writing to the moved file until
    it reopens it by name: this is what SIGHUP does. Streams and syslog are left alone.
    """
    reopened = []
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            stream = open(handler.baseFilename, handler.mode, encoding=handler.encoding)  # noqa: SIM115 (kept by the handler)
            old = handler.setStream(stream)
            if old is not None:
                old.close()
            reopened.append(handler.baseFilename)
    return reopened


MASK = "****"
# Names whose values are secrets: password, passwd, passphrase, pass (not followed by a letter:
# "db_pass", "PGPASSWORD", but not "passthrough" or "passed"), secret, token, api_key/apikey,
# private_key, credentials, authorization; anywhere in the name, any case, so that parameter names
# (api_key), header names (Authorization) and environment variables (DB_PASSWORD) read the same.
# A bare "key" is not one: routing_key, key (a Redis key), max_keys name things, not secrets.
_SECRET_NAME = re.compile(
    r"pass(word|wd|phrase)?(?![a-z])|secret|token|api[_-]?key|credential|private[_-]?key|authoriz", re.I
)


def is_secret_name(name: str) -> bool:
    """True when a value called *name* (a parameter, a key, an environment variable) is a secret.

    The one definition: :func:`mask` masks such values whole, and :mod:`wishbone.configfile`
    scrubs them (and the values of such environment variables) from everything printed.
    """
    return _SECRET_NAME.search(name) is not None


# user:password@ in a URL (amqp://, redis://, postgresql://, http://...).
# The password runs to the last "@" before whitespace, so a raw "@" or "/" in it is masked too
# (at the price of masking too much in the rare URL whose path holds a raw "@").
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<password>\S*)@")


def mask(value: Any, name: str = "") -> Any:
    """*value* with its secrets replaced by ``****``, for showing; the original is not changed.

    A value whose (parameter or key) *name* looks secret (password, secret, token, api_key,
    credentials, authorization...) is masked whole; in every string, a URL's password
    (``amqp://user:****@host``) is masked. Dicts and lists are masked recursively.
    """
    if name and is_secret_name(name) and value not in (None, "", {}, []):
        return MASK
    if isinstance(value, str):
        return _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", value)
    if isinstance(value, dict):
        return {k: mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask(v) for v in value)
    return value


class RateLimitedLog:
    """Logs at most one warning per *interval* seconds; counts what it held back.

    Used for bad input (malformed events, garbage datagrams), so that a flood of it
    cannot flood the log. Call it per batch, never per event.
    """

    def __init__(self, log: logging.LoggerAdapter, interval: float = 5.0) -> None:
        self.log = log
        self.interval = interval
        self._next = 0.0
        self._held = 0

    def warning(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now < self._next:
            self._held += 1
            return
        if self._held:
            message += f" ({self._held} similar messages suppressed)"
            self._held = 0
        self._next = now + self.interval
        self.log.warning(message, *args)
