"""The README's bootstrap example is a valid bootstrap file, and it runs as the README says."""

from __future__ import annotations

import json
import pathlib
import re

import gevent
from wishbone import Pipeline
from wishbone.bootstrap import load_dict

README = pathlib.Path(__file__).parent.parent / "README.md"


def bootstrap_blocks() -> list[dict]:
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", README.read_text(), re.S)]
    return [b for b in blocks if "bootstrap" in b]


def test_the_example_loads_and_tips_10_10_5():
    [doc] = bootstrap_blocks()
    assert load_dict(doc, source="README.md").modules
    doc["bootstrap"]["slow"] = {"module": "null"}  # the same path, without writing to the test's stdout
    pipeline = Pipeline.from_dict(doc)
    with gevent.Timeout(20):
        pipeline.start()
        assert pipeline.join_inputs(10)
        assert pipeline.stop(10)
    snap = pipeline.snapshot()
    assert snap["modules"]["slow"]["consumed"] == 3
    assert snap["modules"]["bucket"]["tipped_size"] == 2 and snap["modules"]["bucket"]["tipped_stop"] == 1
    assert snap["modules"]["lines"]["consumed"] == 25
