"""The README's bootstrap example runs as the README says (its stdout output swapped for null: this
package's tests install no wb-stdout; tests/test_batch_examples.py loads it as written)."""

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
    doc["bootstrap"]["slow"] = {"module": "null"}  # the same path, without wb-stdout
    assert load_dict(doc, source="README.md").modules
    pipeline = Pipeline.from_dict(doc)
    with gevent.Timeout(20):
        pipeline.start()
        assert pipeline.join_inputs(10)
        assert pipeline.stop(10)
    snap = pipeline.snapshot()
    assert snap["modules"]["slow"]["consumed"] == 3
    assert snap["modules"]["bucket"]["tipped_size"] == 2 and snap["modules"]["bucket"]["tipped_stop"] == 1
    assert snap["modules"]["lines"]["consumed"] == 25
