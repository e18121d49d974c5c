"""Stroke encoding: fastdraw's numba batch encoder vs the notebook's json_to_stroke.

All 6280 real simplified drawings, no repeats.  ``strokes``: one batch call vs the
reference per drawing; ``strokes_dropin``: the drop-in ``fastdraw.json_to_stroke`` per
drawing vs the same.  Each fastdraw benchmark records ``speedup_vs_reference`` in
extra_info; a summary prints.
"""

from __future__ import annotations

import pytest
from per_item import PerItem
from realdata import simplified_files  # tests/realdata.py, on sys.path by conftest.py

from fastdraw.drawings import Drawings
from fastdraw.kernels.strokes import encode_strokes, warmup
from fastdraw.notebook import reference
from fastdraw.notebook.dropins import json_to_stroke

_PER_ITEM = PerItem()


@pytest.fixture(scope="module")
def dicts() -> list[dict]:
    warmup()
    return [reference.convert(line) for f in simplified_files()
            for line in open(f, encoding="utf-8")]


_summary = _PER_ITEM.summary()
_run = _PER_ITEM.run


def test_reference_json_to_stroke(benchmark, dicts):
    _run(benchmark, "strokes", len(dicts),
         lambda: [reference.json_to_stroke(d) for d in dicts])


def test_fastdraw_encode_strokes(benchmark, dicts):
    batch = Drawings.from_dicts(dicts)
    _run(benchmark, "strokes", len(dicts), lambda: encode_strokes(batch))


def test_reference_json_to_stroke_each(benchmark, dicts):
    _run(benchmark, "strokes_dropin", len(dicts),
         lambda: [reference.json_to_stroke(d) for d in dicts])


def test_fastdraw_json_to_stroke_each(benchmark, dicts):
    _run(benchmark, "strokes_dropin", len(dicts), lambda: [json_to_stroke(d) for d in dicts])
