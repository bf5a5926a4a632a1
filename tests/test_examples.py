"""Every bootstrap file in examples/ is valid, and the seed-shaped one counts exactly."""

from __future__ import annotations

import json
import pathlib
import re

import gevent
import pytest
from wishbone import Pipeline
from wishbone.bootstrap import load_dict, load_file

EXAMPLES = sorted((pathlib.Path(__file__).parent.parent / "examples").glob("*.json"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_is_valid(path):
    assert load_file(str(path)).modules


def test_seed_shape_counts_are_exact():
    # 1-n: input to three passthroughs; n-1: the three into one sink
    pipeline = Pipeline.from_file(str(EXAMPLES[0].parent / "seed.json"))
    with gevent.Timeout(30):
        pipeline.start()
        assert pipeline.join_inputs(20)
        assert pipeline.stop(10)
    snap = pipeline.snapshot()
    assert snap["modules"]["input"]["generated"] == 10000
    for name in ("left", "middle", "right"):
        assert snap["modules"][name]["consumed"] == 10000
    assert snap["modules"]["sink"]["consumed"] == 30000
    assert all(q["dropped"] == 0 for name, q in snap["queues"].items() if not name.endswith(".failed"))


README = pathlib.Path(__file__).parent.parent / "README.md"
README_BLOCKS = re.findall(r"```json\n(.*?)```", README.read_text(), re.S)


@pytest.mark.parametrize("block", README_BLOCKS, ids=[f"readme-json-{i}" for i in range(len(README_BLOCKS))])
def test_readme_bootstrap_examples_are_valid(block):
    assert load_dict(json.loads(block), source="README.md").modules
