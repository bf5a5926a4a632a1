"""What {{ cookiecutter.name }} does, run in isolation with the harness of wishbone.testing."""

{% if cookiecutter.kind == "input" -%}
import socket

from {{ cookiecutter.package }} import {{ cookiecutter.class_name }}


def test_each_datagram_becomes_an_event(harness, udp_port):
    with harness({{ cookiecutter.class_name }}, {"port": udp_port}) as h:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for text in ("one", "two", "three"):
                sender.sendto(text.encode(), ("127.0.0.1", udp_port))
        events = h.collect("outbox", 3, timeout=5)
    assert sorted(event["data"] for event in events) == ["one", "three", "two"]
    assert h.module.received == 3
{%- elif cookiecutter.kind == "output" -%}
from {{ cookiecutter.package }} import {{ cookiecutter.class_name }}
from wishbone import new_event


def test_each_event_becomes_a_line(harness, tmp_path):
    path = tmp_path / "out.txt"
    with harness({{ cookiecutter.class_name }}, {"path": str(path)}) as h:
        h.feed([new_event("one"), new_event("two"), new_event(3)])
        [failed] = h.collect("failed", 1)
    assert path.read_text() == "one\ntwo\n"
    assert failed["headers"]["error"]["type"] == "TypeError"
    assert h.module.written == 2
{%- else -%}
from {{ cookiecutter.package }} import {{ cookiecutter.class_name }}
from wishbone import new_event


def test_text_is_prefixed_and_other_data_fails(harness):
    with harness({{ cookiecutter.class_name }}, {"prefix": "> "}) as h:
        h.feed([new_event("hello"), new_event(42)])
        [done] = h.collect("outbox", 1)
        [failed] = h.collect("failed", 1)
    assert done["data"] == "> hello"
    assert failed["data"] == 42
    assert failed["headers"]["error"]["type"] == "TypeError"
{%- endif %}
