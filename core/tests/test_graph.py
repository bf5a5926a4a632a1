"""wishbone.graph draws every module and route, dashes failed routes, and writes valid SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from wishbone import bootstrap as bootstrap_mod
from wishbone.graph import columns, render

DOC = {
    "bootstrap": {
        "input": {"module": "testevent"},
        "a": {"module": "passthrough"},
        "b": {"module": "passthrough"},
        "out": {"module": "null"},
        "bad": {"module": "null"},
    },
    "routingtable": {
        "input.outbox": ["a.inbox", "b.inbox"],
        "a.outbox": ["out.inbox"],
        "b.outbox": ["out.inbox"],
        "a.failed": ["bad.inbox"],
    },
}


@pytest.fixture
def boot():
    return bootstrap_mod.load_dict(DOC)


def test_mermaid_names_every_module_by_kind_and_every_route(boot):
    text = render(boot, "mermaid")
    assert text.startswith("flowchart LR\n")
    assert 'input(["input: testevent (input)"])' in text
    assert 'out[["out: null (output)"]]' in text
    assert 'a["a: passthrough (processor)"]' in text
    assert text.count("-->") == 4 and text.count("-.->") == 1
    assert 'a -.->|"failed → inbox"| bad' in text


def test_dot_and_svg(boot):
    dot = render(boot, "dot")
    assert dot.count(" -> ") == 5 and "style=dashed" in dot and "shape=invhouse" in dot
    svg = ET.fromstring(render(boot, "svg"))
    ns = "{http://www.w3.org/2000/svg}"
    assert len(svg.findall(f"{ns}rect")) == 5
    lines = svg.findall(f"{ns}line")
    assert len(lines) == 5 and sum("stroke-dasharray" in line.attrib for line in lines) == 1


def test_columns_follow_the_routing_order(boot):
    assert columns(boot) == {"input": 0, "a": 1, "b": 1, "out": 2, "bad": 2}


def test_unknown_format_is_refused(boot):
    with pytest.raises(ValueError, match="format must be one of mermaid, dot, svg"):
        render(boot, "png")
