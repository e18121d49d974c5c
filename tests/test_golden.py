"""Every dataset byte is kept: the golden builds (tests/golden_builds.py) give the shards,
labels.txt and counts.json recorded in tests/data/golden_builds.json, with 1 or 2 workers; and
built from the official binary files of the same drawings, they give the same bytes."""

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


SIMPLIFIED_CASES = sorted(name for name, case in CASES.items() if case["source"] != "raw")


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("name", SIMPLIFIED_CASES)
def test_a_build_from_binary_files_has_the_bytes_of_the_one_from_ndjson(name, workers, tmp_path):
    # `convert --to binary` of the same classes: a data directory of .bin files only
    assert build_case(name, tmp_path, workers, source="binary") == RECORDED[name]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_build_from_gzipped_binary_files_asked_for_by_name_has_the_same_bytes(workers,
                                                                                tmp_path):
    assert build_case("sample-default", tmp_path, workers, source="binary-gz",
                      extra=("--format", "binary")) == RECORDED["sample-default"]
