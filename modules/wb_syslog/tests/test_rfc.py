"""wb_syslog.rfc: the RFCs' own examples, what senders really send, and what is refused (with the reason)."""

from __future__ import annotations

import pytest
from wb_syslog.rfc import SyslogError, format_3164, format_5424, parse, parse_3164, parse_5424


def test_rfc5424_example_with_structured_data_and_bom():
    text = (
        '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" '
        'eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] \ufeffAn application event'
    )
    assert parse(text) == {
        "facility": 20,
        "severity": 5,
        "timestamp": "2003-10-11T22:14:15.003Z",
        "host": "mymachine.example.com",
        "app": "evntslog",
        "procid": None,
        "msgid": "ID47",
        "structured_data": {
            "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
            "examplePriority@32473": {"class": "high"},
        },
        "message": "An application event",
        "rfc": "5424",
    }


def test_rfc5424_nil_fields_escapes_and_no_message():
    assert parse("<13>1 - - - - - -")["message"] == ""
    assert parse("<13>1 - - - - - - ")["message"] == ""
    assert parse("<13>1 - - - - - - \ufeffwith a BOM")["message"] == "with a BOM"
    assert parse("<13>1 - - - - - - two  spaces ")["message"] == "two  spaces "
    fields = parse('<34>1 2003-10-11T22:14:15.003Z host su 77 ID47 [a b="q\\"uote \\\\ \\] \\x"] hi there')
    assert fields["structured_data"] == {"a": {"b": 'q"uote \\ ] \\x'}}
    assert (fields["procid"], fields["message"]) == ("77", "hi there")
    assert parse("<0>1 2024-01-01T00:00:00Z h a p m [x@1]")["structured_data"] == {"x@1": {}}


def test_rfc3164_examples_and_variants():
    fields = parse("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8")
    assert (fields["facility"], fields["severity"], fields["timestamp"]) == (4, 2, "Oct 11 22:14:15")
    assert (fields["host"], fields["app"], fields["procid"]) == ("mymachine", "su", None)
    assert fields["message"] == "'su root' failed for lonvick on /dev/pts/8" and fields["rfc"] == "3164"
    fields = parse("<13>Feb  5 17:32:18 10.0.0.99 sshd[4242]: Accepted publickey")
    assert (fields["host"], fields["app"], fields["procid"], fields["message"]) == (
        "10.0.0.99",
        "sshd",
        "4242",
        "Accepted publickey",
    )
    # no host name: the tag follows the timestamp
    fields = parse("<13>Feb  5 17:32:18 cron[1]: job done")
    assert (fields["host"], fields["app"], fields["message"]) == (None, "cron", "job done")
    # rsyslog's RFC 3339 timestamp in the BSD format; no tag
    fields = parse("<86>2024-05-01T10:00:00.123+02:00 web01 just text, no tag")
    assert (fields["timestamp"], fields["host"], fields["app"]) == ("2024-05-01T10:00:00.123+02:00", "web01", None)
    assert fields["message"] == "just text, no tag"
    # nothing but a PRI and a message
    fields = parse("<13>hello world")
    assert (fields["timestamp"], fields["host"], fields["app"], fields["message"]) == (None, None, None, "hello world")


@pytest.mark.parametrize(
    "text",
    [
        "<13>1 - - - - - -",
        "<191>1 2024-01-01T00:00:00Z h\u00e9 app 12 ID -  \ufeff\ufeffkept one BOM ",
        "<0>1 -x x- - -- ---- - a - b",
        "<38>1 2026-12-01T11:52:00+00:00 localhost prg00000 1234 - - \ufeffseq: 0000000000, thread: 0000\n",
    ],
)
def test_the_fast_path_gives_what_the_careful_parser_gives(text):
    assert parse(text) == parse_5424(text)


def test_what_the_fast_path_leaves_is_read_or_refused_by_the_careful_parsers():
    text = "<13>1  - - - - - - two spaces in the header"
    assert parse(text) == parse_5424(text)
    with pytest.raises(SyslogError, match="0..191"):
        parse("<192>1 - - - - - - x")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("no pri at all", "no <PRI>"),
        ("", "no <PRI>"),
        ("<>1 - - - - - -", "no <PRI>"),
        ("<192>hello", "0..191"),
        ("<ab>hello", "bad PRI"),
        ("<013>hello", "bad PRI"),
        ("<13>1 2024-01-01T00:00:00Z host", "cut short"),
        ("<13>1 - - - - - garbage", "STRUCTURED-DATA"),
        ('<13>1 - - - - - [id a="unclosed', 'name="value" or ]'),
        ("<13>1 - - - - - [id a=b]", 'name="value"'),
        ('<13>1 - - - - - [id a="b"]x', "space after"),
        ("<13>1 - - - - - []", "SD-ID"),
    ],
)
def test_what_is_not_syslog_is_refused_with_the_reason(text, reason):
    with pytest.raises(SyslogError, match=reason):
        parse(text)


def test_the_fixed_parsers_refuse_the_other_kind():
    with pytest.raises(SyslogError, match="not RFC 5424"):
        parse_5424("<13>Oct 11 22:14:15 host app: hi")
    assert parse_3164("<13>1 - - - - - -")["rfc"] == "3164"  # read as BSD text


@pytest.mark.parametrize("fmt", [format_5424, format_3164])
def test_format_then_parse_round_trips(fmt):
    fields = {
        "facility": 16,
        "severity": 3,
        "host": "web01",
        "app": "nginx",
        "procid": "123",
        "message": "GET / 500",
    }
    if fmt is format_5424:
        fields.update(msgid="ACCESS", structured_data={"req@1": {"path": '/a"]\\b'}}, timestamp="2024-05-01T10:00:00Z")
    else:
        fields["timestamp"] = "May  1 10:00:00"
    back = parse(fmt(fields))
    for key, value in fields.items():
        assert back[key] == value, key


def test_format_fills_a_missing_timestamp_and_nil_fields():
    text = format_5424({"message": "m"}, now=0.5)
    assert text == "<13>1 1970-01-01T00:00:00.500000Z - - - - - m"
    assert parse(format_3164({"app": "x", "message": "y"}))["app"] == "x"
    with pytest.raises(SyslogError, match="facility"):
        format_5424({"facility": 24})


def test_a_bsd_timestamp_becomes_rfc_3339_in_rfc_5424():
    fields = parse("<34>Oct  1 22:14:15 host su: hi")
    stamp = parse(format_5424(fields))["timestamp"]
    assert stamp[4:19] == "-10-01T22:14:15" and stamp[19] in "+-" and stamp[:4].isdigit()
    assert parse(format_5424({"timestamp": "yesterday", "message": "m"}, now=0.0))["timestamp"].startswith("1970-")
