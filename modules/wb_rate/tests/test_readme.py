"""The README's bootstrap example runs (its stdout outputs swapped for null: this package's tests
install no wb-stdout; tests/test_batch_examples.py loads it as written)."""

from __future__ import annotations

import json
import pathlib
import re

import gevent
from wishbone import Pipeline
from wishbone.bootstrap import load_dict

README = pathlib.Path(__file__).parent.parent / "README.md"


def test_the_example_loads_and_runs():
    [doc] = [b for b in map(json.loads, re.findall(r"```json\n(.*?)```", README.read_text(), re.S)) if "bootstrap" in b]
    for name in ("output", "report", "alert"):  # the same path, without wb-stdout
        doc["bootstrap"][name] = {"module": "null"}
    assert load_dict(doc, source="README.md").modules
    doc["bootstrap"]["input"]["variables"] = {"interval": 0, "count": 300, "payload": {"user": "ann", "id": 1}}
    pipeline = Pipeline.from_dict(doc)
    with gevent.Timeout(20):
        pipeline.start()
        assert pipeline.join_inputs(10)
        assert pipeline.stop(10)
    snap = pipeline.snapshot()["modules"]
    assert snap["dedupe"]["unique"] == 1 and snap["dedupe"]["duplicates"] == 299
    assert snap["throttle"]["passed"] == 1
    assert snap["output"]["consumed"] == 1
    assert snap["report"]["consumed"] == 1  # the last interval, at the drain
