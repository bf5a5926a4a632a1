"""The conformance suite, run the way module packages run it: one line per module.

The core's built-ins pass it; sample modules show configs given as a fixture name and as a
callable of fixtures, and a module whose consume() can raise.
"""

from __future__ import annotations

import pytest
from wishbone.builtin.metricsource import MetricsSource
from wishbone.builtin.null import Null
from wishbone.builtin.passthrough import Passthrough
from wishbone.builtin.testevent import TestEvent
from wishbone.event import new_event
from wishbone.testing import conformance
from wishbone.testing.samples import Splitter, Ticker, Upper

TestTestEvent = conformance(TestEvent, config={"interval": 0.01}, entry_point="testevent")
TestPassthrough = conformance(Passthrough, config={}, entry_point="passthrough")
TestNull = conformance(Null, entry_point="null")
TestMetricsSource = conformance(MetricsSource, entry_point="metrics")

TestUpper = conformance(Upper, config={"suffix": "!"}, raising_event=new_event(42))
TestSplitter = conformance(Splitter)
TestTickerCallableConfig = conformance(Ticker, config=lambda udp_port: {"port": udp_port, "interval": 0.01})


@pytest.fixture
def ticker_config(udp_port):
    return {"port": udp_port}


TestTickerFixtureConfig = conformance(Ticker, config="ticker_config")


def test_conformance_refuses_what_is_not_a_module():
    with pytest.raises(TypeError, match="needs a wishbone Module class"):
        conformance(dict)
    with pytest.raises(TypeError, match="config must be a dict, a fixture name or a callable"):
        conformance(Null, config=42)


def test_the_suite_class_is_named_after_the_module():
    assert TestUpper.__name__ == "TestConformanceUpper"
    assert TestUpper.options.raising_event == new_event(42)
