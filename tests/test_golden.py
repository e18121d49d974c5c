"""Every dataset byte is kept: the golden builds (tests/golden_builds.py) give the shards,
labels.txt and counts.json recorded in tests/data/golden_builds.json, with 1 or 2 workers."""

from __future__ import annotations

import json

import pytest
from golden_builds import CASES, GOLDEN, build_case

RECORDED = json.loads(GOLDEN.read_text("utf-8"))


def test_every_case_is_recorded():
    assert sorted(RECORDED) == sorted(CASES)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_build_keeps_its_bytes(name, workers, tmp_path):
    assert build_case(name, tmp_path, workers) == RECORDED[name]
