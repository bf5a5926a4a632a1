"""Syslog messages in and out: RFC 5424 and RFC 3164 (BSD) parsed into fields, and formatted from them.

Parsed fields (every key present; None where the message has no such part):

=================== ===================================================================
``facility``        int, 0..23 (PRI // 8): 0 kern, 1 user, 3 daemon, 4 auth, 16..23 local0..7
``severity``        int, 0..7 (PRI % 8): 0 emerg, 1 alert, 2 crit, 3 err, 4 warning, 5 notice,
                    6 info, 7 debug
``timestamp``       str as sent (RFC 5424: RFC 3339; RFC 3164: ``Mmm dd hh:mm:ss``, no year)
``host``            str
``app``             str (RFC 3164: the tag before ``[pid]:`` or ``:``)
``procid``          str
``msgid``           str (RFC 5424 only)
``structured_data`` dict ``{sd-id: {param: value}}`` (RFC 5424 only; None for ``-``)
``message``         str (a UTF-8 BOM at its start removed)
``rfc``             ``"5424"`` or ``"3164"``
=================== ===================================================================

:func:`parse` tells the two apart by the version digit after the PRI (``<34>1 ...`` is RFC
5424). Text that is not syslog raises :class:`SyslogError` with the reason. RFC 3164 is a
description of practice rather than a grammar, so its parser accepts what senders send: an
RFC 3339 timestamp instead of the BSD one, no timestamp, no host name (a tag right after the
timestamp), no tag.
"""

from __future__ import annotations

import re
import time
from typing import Any

__all__ = ["SyslogError", "format_3164", "format_5424", "parse", "parse_3164", "parse_5424"]

_MONTHS = frozenset(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"))
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_BOM = "\ufeff"


class SyslogError(ValueError):
    """Text that is not a syslog message; ``str(exc)`` is the reason."""


def _pri(text: str) -> tuple[int, int, int]:
    """(facility, severity, index after ``>``) of the ``<PRI>`` at the start of *text*."""
    end = text.find(">", 1, 5)
    if not text.startswith("<") or end < 2:
        raise SyslogError("no <PRI> at the start (expected e.g. <34>)")
    digits = text[1:end]
    if not digits.isdigit() or (len(digits) > 1 and digits[0] == "0"):
        raise SyslogError(f"bad PRI <{digits[:3]}>: expected a number 0..191")
    pri = int(digits)
    if pri > 191:
        raise SyslogError(f"bad PRI <{pri}>: expected 0..191")
    return pri >> 3, pri & 7, end + 1


# The common RFC 5424 header in one match (the hot path); anything it does not match is read
# by the careful parser below, which also says what is wrong.
_HEADER_5424 = re.compile(r"<(0|[1-9][0-9]{0,2})>1 ([^ ]+) ([^ ]+) ([^ ]+) ([^ ]+) ([^ ]+)(?: |$)")


# "<PRI>1", the head of an RFC 5424 message, for each valid PRI -> (facility, severity).
_HEADS = {f"<{pri}>1": (pri >> 3, pri & 7) for pri in range(192)}


def parse(text: str) -> dict:
    """The fields of one syslog message, RFC 5424 or RFC 3164 (told apart by the version digit)."""
    # The commonest case whole, in one split (C) and no regex: RFC 5424 without structured data
    # ("-" as the seventh word). The head must be a known "<PRI>1" and no header field empty
    # (two spaces in a row); anything else is left to the parsers below, which say what is wrong.
    parts = text.split(" ", 7)
    if len(parts) == 8:
        head, timestamp, host, app, procid, msgid, sd, message = parts
        message = message.removeprefix(_BOM)  # one call; the same object when there is none
    elif len(parts) == 7:
        head, timestamp, host, app, procid, msgid, sd = parts
        message = ""
    else:
        sd = ""
    if sd == "-" and timestamp and host and app and procid and msgid:
        pri = _HEADS.get(head)
        if pri is not None:
            return {
                "facility": pri[0],
                "severity": pri[1],
                "timestamp": None if timestamp == "-" else timestamp,
                "host": None if host == "-" else host,
                "app": None if app == "-" else app,
                "procid": None if procid == "-" else procid,
                "msgid": None if msgid == "-" else msgid,
                "structured_data": None,
                "message": message,
                "rfc": "5424",
            }
    found = _HEADER_5424.match(text)
    if found is not None:
        pri = int(found.group(1))
        if pri <= 191:
            return _fields_5424(text, found, pri)
    facility, severity, pos = _pri(text)
    if text[pos : pos + 2] == "1 ":
        return _parse_5424(text, facility, severity, pos + 2)
    return _parse_3164(text, facility, severity, pos)


def parse_5424(text: str) -> dict:
    """The fields of an RFC 5424 message; SyslogError if it is not one."""
    facility, severity, pos = _pri(text)
    if text[pos : pos + 2] != "1 ":
        raise SyslogError("not RFC 5424: no version 1 after the PRI")
    return _parse_5424(text, facility, severity, pos + 2)


def parse_3164(text: str) -> dict:
    """The fields of an RFC 3164 (BSD) message; SyslogError if it has no PRI."""
    facility, severity, pos = _pri(text)
    return _parse_3164(text, facility, severity, pos)


def _nil(value: str) -> str | None:
    return None if value == "-" else value


def _fields_5424(text: str, found: re.Match, pri: int) -> dict:
    _, timestamp, host, app, procid, msgid = found.groups()
    rest = text[found.end() :]
    if rest[:1] == "[":
        structured, end = _structured_data(rest)
        if end < len(rest) and rest[end] != " ":
            raise SyslogError("RFC 5424: expected a space after STRUCTURED-DATA")
        message = rest[end + 1 :]
    elif rest[:1] == "-" and rest[1:2] in ("", " "):
        structured = None
        message = rest[2:]
    elif not rest:  # MSGID was the last field: no STRUCTURED-DATA (a lenient reading)
        structured, message = None, ""
    else:
        raise SyslogError("RFC 5424: expected STRUCTURED-DATA ('-' or '[...]') after MSGID")
    if message[:1] == _BOM:
        message = message[1:]
    return {
        "facility": pri >> 3,
        "severity": pri & 7,
        "timestamp": None if timestamp == "-" else timestamp,
        "host": None if host == "-" else host,
        "app": None if app == "-" else app,
        "procid": None if procid == "-" else procid,
        "msgid": None if msgid == "-" else msgid,
        "structured_data": structured,
        "message": message,
        "rfc": "5424",
    }


def _parse_5424(text: str, facility: int, severity: int, pos: int) -> dict:
    parts = text[pos:].split(" ", 5)
    if len(parts) < 5:
        raise SyslogError("RFC 5424 header cut short: expected TIMESTAMP HOSTNAME APP-NAME PROCID MSGID")
    if len(parts) == 5:
        parts.append("-")  # MSGID was the last field: no STRUCTURED-DATA (a lenient reading)
    timestamp, host, app, procid, msgid, rest = parts
    if rest.startswith("-"):
        structured = None
        if len(rest) > 1 and rest[1] != " ":
            raise SyslogError("RFC 5424: expected a space after the nil STRUCTURED-DATA")
        message = rest[2:]
    elif rest.startswith("["):
        structured, end = _structured_data(rest)
        if end < len(rest) and rest[end] != " ":
            raise SyslogError("RFC 5424: expected a space after STRUCTURED-DATA")
        message = rest[end + 1 :]
    else:
        raise SyslogError("RFC 5424: expected STRUCTURED-DATA ('-' or '[...]') after MSGID")
    if message.startswith(_BOM):
        message = message[1:]
    return {
        "facility": facility,
        "severity": severity,
        "timestamp": _nil(timestamp),
        "host": _nil(host),
        "app": _nil(app),
        "procid": _nil(procid),
        "msgid": _nil(msgid),
        "structured_data": structured,
        "message": message,
        "rfc": "5424",
    }


_SD_ID = re.compile(r'\[([^ \]"=]+)')
_SD_PARAM = re.compile(r' ([^ \]"=]+)="([^"\\]*(?:\\.[^"\\]*)*)"', re.DOTALL)
_UNESCAPE = re.compile(r'\\(["\\\]])')


def _structured_data(text: str) -> tuple[dict, int]:
    """Parse ``[id k="v" ...][id2 ...]`` at the start of *text*: (the elements, index after them)."""
    elements: dict = {}
    pos, end = 0, len(text)
    while pos < end and text[pos] == "[":
        found = _SD_ID.match(text, pos)
        if found is None:
            raise SyslogError("RFC 5424: an SD-ELEMENT without an SD-ID")
        sd_id = found.group(1)
        params: dict = {}
        pos = found.end()
        while True:
            if pos >= end:
                raise SyslogError(f"RFC 5424: SD-ELEMENT [{sd_id[:32]} not closed with ]")
            if text[pos] == "]":
                pos += 1
                break
            found = _SD_PARAM.match(text, pos)
            if found is None:
                raise SyslogError(f'RFC 5424: expected name="value" or ] in SD-ELEMENT [{sd_id[:32]}')
            value = found.group(2)
            if "\\" in value:  # only \" \\ and \] are escapes; any other backslash stays
                value = _UNESCAPE.sub(r"\1", value)
            params[found.group(1)] = value
            pos = found.end()
        elements[sd_id] = params
    return elements, pos


def _parse_3164(text: str, facility: int, severity: int, pos: int) -> dict:
    timestamp = None
    rest = text[pos:]
    if len(rest) >= 16 and rest[:3] in _MONTHS and rest[3] == " " and rest[6] == " " and rest[15] == " ":
        timestamp, rest = rest[:15], rest[16:]
    elif rest[:4].isdigit() and rest[4:5] == "-":  # an RFC 3339 timestamp (rsyslog's default template)
        space = rest.find(" ")
        if space > 0:
            timestamp, rest = rest[:space], rest[space + 1 :]
    host = None
    app = procid = None
    message = rest
    if timestamp is not None:
        # HOSTNAME, unless the first word is already the TAG (ends with ':' or holds '[')
        space = rest.find(" ")
        if space > 0:
            word = rest[:space]
            if not word.endswith(":") and "[" not in word:
                host, rest = word, rest[space + 1 :]
                message = rest
    # TAG: up to 48 characters of a name, then "[pid]" and/or ":"
    limit = min(len(rest), 49)
    i = 0
    while i < limit and rest[i] not in ":[ ":
        i += 1
    if 0 < i < limit:
        if rest[i] == ":":
            app, message = rest[:i], rest[i + 1 :]
        elif rest[i] == "[":
            close = rest.find("]", i, i + 130)
            if close > i and rest[close + 1 : close + 2] == ":":
                app, procid, message = rest[:i], rest[i + 1 : close], rest[close + 2 :]
    if app is not None and message.startswith(" "):
        message = message[1:]
    return {
        "facility": facility,
        "severity": severity,
        "timestamp": timestamp,
        "host": host,
        "app": app,
        "procid": procid,
        "msgid": None,
        "structured_data": None,
        "message": message,
        "rfc": "3164",
    }


# ------------------------------------------------------------------------------ formatting
def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _sd(structured: Any) -> str:
    if not structured:
        return "-"
    if isinstance(structured, str):
        return structured
    parts = []
    for sd_id, params in structured.items():
        inner = "".join(f' {name}="{_escape(str(value))}"' for name, value in (params or {}).items())
        parts.append(f"[{sd_id}{inner}]")
    return "".join(parts)


def _field(value: Any, default: str = "-", limit: int = 255) -> str:
    if value is None or value == "":
        return default
    text = str(value).replace(" ", "_")
    return text[:limit]


def _pri_value(facility: Any, severity: Any) -> int:
    facility, severity = int(facility), int(severity)
    if not (0 <= facility <= 23 and 0 <= severity <= 7):
        raise SyslogError(f"facility must be 0..23 and severity 0..7, got {facility} and {severity}")
    return facility * 8 + severity


def _rfc3339_from_bsd(timestamp: str) -> str | None:
    """``Oct 11 22:14:15`` (RFC 3164: local time, no year) as RFC 3339 in this year; None if it is not one."""
    try:
        month = _MONTH_NAMES.index(timestamp[:3]) + 1
        day, clock = int(timestamp[4:6]), timestamp[7:15]
        hour, minute, second = (int(x) for x in clock.split(":"))
    except ValueError:
        return None
    year = time.localtime().tm_year
    offset = time.localtime(time.mktime((year, month, day, hour, minute, second, 0, 0, -1))).tm_gmtoff
    sign = "+" if offset >= 0 else "-"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{sign}{hours:02d}:{minutes:02d}"


def format_5424(fields: dict, now: float | None = None) -> str:
    """An RFC 5424 message from *fields* (as :func:`parse` gives them); missing ones are nil ("-").

    No timestamp: the time *now* (default: this instant), UTC, in microseconds. An RFC 3164
    timestamp (``Oct 11 22:14:15``, from a BSD message) is written as RFC 3339 in this year,
    local time; any other that is not RFC 3339 is replaced by *now*.
    """
    pri = _pri_value(fields.get("facility", 1), fields.get("severity", 5))
    timestamp = fields.get("timestamp")
    if timestamp and not timestamp[:4].isdigit():
        timestamp = _rfc3339_from_bsd(timestamp) if timestamp[:3] in _MONTHS else None
    if not timestamp:
        t = time.time() if now is None else now
        timestamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"
    message = fields.get("message")
    head = (
        f"<{pri}>1 {_field(timestamp)} {_field(fields.get('host'))} {_field(fields.get('app'), limit=48)} "
        f"{_field(fields.get('procid'), limit=128)} {_field(fields.get('msgid'), limit=32)} "
        f"{_sd(fields.get('structured_data'))}"
    )
    return head if message is None else f"{head} {message}"


def format_3164(fields: dict, now: float | None = None) -> str:
    """An RFC 3164 (BSD) message from *fields*: ``<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG``.

    No timestamp: *now* (default: this instant), local time. No host: "-". No app: no tag.
    """
    pri = _pri_value(fields.get("facility", 1), fields.get("severity", 5))
    timestamp = fields.get("timestamp")
    if not timestamp:
        t = time.localtime(time.time() if now is None else now)
        timestamp = f"{_MONTH_NAMES[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    app = fields.get("app")
    procid = fields.get("procid")
    tag = ""
    if app:
        tag = f"{_field(app, limit=48)}[{procid}]: " if procid else f"{_field(app, limit=48)}: "
    message = fields.get("message") or ""
    return f"<{pri}>{timestamp} {_field(fields.get('host'))} {tag}{message}"
