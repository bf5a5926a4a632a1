"""switch, filter and roundrobin: in isolation with the harness, and built by the bootstrap."""

from __future__ import annotations

import copy

import gevent
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wb_route import Filter, RoundRobin, Switch
from wishbone import BootstrapError, Pipeline, new_event
from wishbone.ack import track
from wishbone.expression import compile_condition
from wishbone.params import ParameterError
from wishbone.testing.harness import Harness

CASES = [
    {"when": "data.level == 'error'", "queue": "errors"},
    {"when": "contains(data.tags, 'db')", "queue": "db"},
]


def levels(events: list) -> list:
    return [e["data"]["level"] for e in events]


def test_switch_first_match(harness) -> None:
    events = [
        new_event({"level": "error", "tags": ["db"]}),
        new_event({"level": "info", "tags": ["db"]}),
        new_event({"level": "info"}),
        new_event("not even an object"),
    ]
    with harness(Switch, {"cases": CASES}) as h:
        h.feed(events)
        h.wait_consumed(4)
        errors, db, rest = h.collect("errors", 1), h.collect("db", 1), h.collect("outbox", 2)
    assert levels(errors) == ["error"] and levels(db) == ["info"]
    assert rest[0]["data"] == {"level": "info"} and rest[1]["data"] == "not even an object"
    assert h.module.failed == 0


def test_switch_every_match_sends_independent_copies(harness) -> None:
    cases = [*CASES, {"when": "data.level == 'error' || data.urgent", "queue": "errors"}]
    with harness(Switch, {"cases": cases, "mode": "every", "default": "rest"}) as h:
        h.feed([new_event({"level": "error", "tags": ["db"], "urgent": True}), new_event({"level": "x"})])
        h.wait_consumed(2)
        [error], [db], [rest] = h.collect("errors", 1), h.collect("db", 1), h.collect("rest", 1)
        assert h.collected("errors") == []  # two cases of one queue: sent there once
    assert error["data"] == db["data"] and error["data"] is not db["data"]
    assert rest["data"] == {"level": "x"} and h.collected("outbox") == []


def test_switch_without_default_drops_the_unmatched_and_settles_them(harness) -> None:
    settled = []
    with harness(Switch, {"cases": CASES, "default": None}) as h:
        event = track(new_event({"level": "info"}), lambda tag, ok: settled.append(ok), 1)
        h.feed([event, new_event({"level": "error"})])
        del event
        h.wait_consumed(2)
        assert h.collect("errors", 1) and h.collected("outbox") == []
        assert h.module.metrics() == {"unmatched": 1}
    assert settled == [True]


def test_filter_drops_what_matches_and_counts(harness) -> None:
    settled = []
    events = [
        track(new_event({"level": lv}), lambda tag, ok: settled.append((tag, ok)), lv) for lv in ("debug", "info")
    ]
    with harness(Filter, {"when": "data.level == 'debug'"}) as h:
        h.feed(events)
        del events
        h.wait_consumed(2)
        [kept] = h.collect("outbox", 1)
        assert h.module.metrics() == {"filtered": 1}
        gevent.sleep(0)
        assert settled == [("debug", True)]  # filtered is done, not failed
        assert kept["data"] == {"level": "info"}
        del kept
    assert h.collected("failed") == []


def test_filter_keep_keeps_only_what_matches(harness) -> None:
    with harness(Filter, {"when": "data.level == 'error'", "action": "keep"}) as h:
        h.feed([new_event({"level": "error"}), new_event({"level": "info"}), new_event(None)])
        h.wait_consumed(3)
        assert levels(h.collect("outbox", 1)) == ["error"]
        assert h.module.filtered == 2


def test_roundrobin_rotates_over_routed_queues(harness) -> None:
    with harness(RoundRobin, {"queues": ["a", "b", "c"]}) as h:
        h.feed([new_event(i) for i in range(7)])
        h.wait_consumed(7)
        got = {q: [e["data"] for e in h.collect(q, n)] for q, n in (("a", 3), ("b", 2), ("c", 2))}
    assert got == {"a": [0, 3, 6], "b": [1, 4], "c": [2, 5]}


@pytest.mark.parametrize(
    ("cls", "variables", "words"),
    [
        (Switch, {"cases": []}, "at least one case"),
        (Switch, {"cases": [{"when": "data", "queue": "inbox"}]}, "cases[0].queue: 'inbox' is not a queue"),
        (Switch, {"cases": [{"when": "data", "queue": "a b"}]}, "cases[0].queue: expected a queue name"),
        (Switch, {"cases": [{"when": "data", "queue": "a"}], "default": "failed"}, "default: 'failed'"),
        (RoundRobin, {"queues": []}, "at least one"),
        (RoundRobin, {"queues": ["a", "a"]}, "named twice"),
    ],
)
def test_bad_values_are_refused(cls, variables: dict, words: str) -> None:
    with pytest.raises(ValueError) as caught:
        cls(**variables)
    assert words in str(caught.value)


def test_a_bad_condition_is_refused_with_place_and_column(harness) -> None:
    with pytest.raises(ParameterError) as caught:
        harness(Switch, {"cases": [{"when": "data.level", "queue": "a"}, {"when": "data.level ==", "queue": "b"}]})
    assert caught.value.parameter == "cases" and caught.value.keys == (1, "when")
    assert "at column 14" in str(caught.value)


def document(routes: dict, **switch) -> dict:
    return {
        "bootstrap": {
            "input": {"module": "testevent", "variables": {"payload": {"level": "error"}, "count": 3, "interval": 0}},
            "switch": {"module": "switch", "variables": {"cases": copy.deepcopy(CASES), **switch}},
            "errors": {"module": "null"},
            "rest": {"module": "null"},
        },
        "routingtable": {"input.outbox": ["switch.inbox"], **routes},
    }


def test_the_bootstrap_knows_every_route() -> None:
    pipeline = Pipeline.from_dict(document({"switch.errors": ["errors.inbox"], "switch.db": ["rest.inbox"]}))
    with gevent.Timeout(10):
        pipeline.start()
        pipeline.wait()
        pipeline.stop(5)
    assert pipeline.modules["errors"].consumed == 3


def test_a_route_from_a_queue_no_case_names_is_an_error() -> None:
    with pytest.raises(BootstrapError) as caught:
        Pipeline.from_dict(document({"switch.erorrs": ["errors.inbox"]}))
    assert caught.value.path == 'routingtable["switch.erorrs"]'
    assert "emits no queue 'erorrs' (it emits: outbox, failed, errors, db)" in caught.value.message


def test_a_bad_condition_in_the_bootstrap_names_the_parameter() -> None:
    doc = document({})
    doc["bootstrap"]["switch"]["variables"]["cases"][1] = {"when": "contains(data.tags,, 'db')", "queue": "db"}
    with pytest.raises(BootstrapError) as caught:
        Pipeline.from_dict(doc)
    assert caught.value.path.startswith("bootstrap.switch.variables.cases")
    assert "at column 20" in caught.value.message
    assert caught.value.path == "bootstrap.switch.variables.cases[1].when"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.sampled_from(["error", "db", "x"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["level", "tags", "service"]), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=50, deadline=None)
@given(st.lists(JSON, min_size=1, max_size=30), st.sampled_from(["first", "every"]))
def test_any_data_is_routed_and_nothing_fails(values: list, mode: str) -> None:
    cases = [*CASES, {"when": "data.level > `1` || starts_with(data.service, 'd')", "queue": "other"}]
    with Harness(Switch, {"cases": cases, "mode": mode}) as h:
        h.feed([new_event(v) for v in values])
        h.wait_consumed(len(values))
        assert h.module.alive
    routed = {q: h.collected(q) for q in ("errors", "db", "other", "outbox")}
    assert h.module.failed == 0 and h.collected("failed") == []
    total = sum(map(len, routed.values()))
    if mode == "first":
        assert total == len(values)
    else:  # each event once per queue one of whose cases it meets, or once to outbox
        conditions = [(compile_condition(c["when"]), c["queue"]) for c in cases]
        queues = [{q for c, q in conditions if c.matches(new_event(v))} for v in values]
        assert total == sum(max(1, len(qs)) for qs in queues)
