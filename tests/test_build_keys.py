"""The check for a drawing given to two classes (fastdraw.build.keys): the key files of the
encode tasks, merged a bounded piece of key space at a time."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import traced_peak
from realdata import SIMPLIFIED

from fastdraw.build import keys
from fastdraw.sources import read_drawings


def _real_keys() -> np.ndarray:
    """Every key_id of the sample's eye drawings (distinct real ids)."""
    got = np.concatenate([d.key_id for d in read_drawings(SIMPLIFIED / "eye.ndjson")])
    assert len(np.unique(got)) == len(got) > 500
    return got


def _files(tmp_path, parts: list[np.ndarray]) -> list[tuple[int, str]]:
    files = []
    for label, part in enumerate(parts):
        path = keys.keys_path(tmp_path, label, 0)
        keys.write_keys(path, part, np.arange(1, len(part) + 1) * 10 + label)
        files.append((label, str(path)))
    return files


@pytest.fixture(params=[1 << 17, 64, 7], ids=["one-piece", "pieces-of-64", "pieces-of-7"])
def piece(request, monkeypatch):
    monkeypatch.setattr(keys, "PIECE", request.param)
    return request.param


def test_no_key_in_two_files_is_none(tmp_path, piece):
    real = _real_keys()
    assert keys.find_repeat(_files(tmp_path, [real[0::3], real[1::3], real[2::3]])) is None


def test_the_smallest_shared_key_is_found_with_both_labels_and_lines(tmp_path, piece):
    real = _real_keys()
    a, b, c = real[0::3].copy(), real[1::3].copy(), real[2::3].copy()
    shared = np.sort(real)[[40, 300]]  # two keys given to a second class
    for key in shared:
        c = np.append(c, key)
    found = keys.find_repeat(_files(tmp_path, [a, b, c]))
    key = int(shared[0])
    owner = 0 if key in a else 1
    owner_line = (int(np.flatnonzero((a if owner == 0 else b) == key)[0]) + 1) * 10 + owner
    c_line = (len(real[2::3]) + 1) * 10 + 2
    assert found == (key, owner, owner_line, 2, c_line)


def test_empty_key_files_are_none(tmp_path, piece):
    assert keys.find_repeat(_files(tmp_path, [np.zeros(0, np.int64)] * 2)) is None


def test_memory_is_bounded_by_the_piece_not_the_number_of_keys(tmp_path):
    """1.5M keys in 3 files (24 MB of key files): the merge holds a few pieces of 2 MiB."""
    rng = np.random.default_rng(0)
    parts = np.array_split(rng.choice(1 << 62, size=1_500_000, replace=False), 3)
    files = _files(tmp_path, parts)
    result, peak = traced_peak(lambda: keys.find_repeat(files))
    assert result is None
    assert peak < 16 << 20, peak  # whatever the number of keys (they alone are 12 MB)
