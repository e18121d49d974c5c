"""The stroke encoder reproduces the notebook's json_to_stroke bit for bit on real drawings."""

from __future__ import annotations

import json

import numpy as np
import pytest
import realdata
from conftest import simplified_files

import fastdraw
from fastdraw.drawings import Drawings
from fastdraw.kernels.strokes import encode_strokes
from fastdraw.notebook import reference
from fastdraw.notebook.dropins import json_to_stroke


@pytest.fixture(scope="module")
def drawings() -> list[dict]:
    return [
        reference.convert(line) for f in simplified_files() for line in open(f, encoding="utf-8")
    ]


def _assert_same_stroke(ours: np.ndarray, ref: np.ndarray) -> None:
    """Ours is float32 holding exactly the reference's float64 values (same bits as float32)."""
    assert ours.dtype == np.float32
    assert ours.shape == ref.shape
    assert np.array_equal(ours.astype(np.float64), ref)
    assert np.array_equal(ours.view(np.uint32), ref.astype(np.float32).view(np.uint32))


def _assert_drop_in(ours: np.ndarray, ref: np.ndarray) -> None:
    """The drop-in returns the reference's array: float64, same shape, same values."""
    assert ours.dtype == ref.dtype == np.float64
    assert ours.shape == ref.shape
    assert np.array_equal(ours, ref)


def test_batch_encoding_equals_json_to_stroke_for_every_drawing(drawings):
    deltas, offsets = encode_strokes(Drawings.from_dicts(drawings))
    assert offsets.dtype == np.int64 and offsets.shape == (len(drawings) + 1,)
    assert deltas.shape == (3, offsets[-1])
    for i, d in enumerate(drawings):
        _assert_same_stroke(deltas[:, offsets[i]:offsets[i + 1]], reference.json_to_stroke(d))


def test_drop_in_equals_reference_with_arrays_and_lists(drawings):
    assert fastdraw.json_to_stroke is json_to_stroke
    for d in drawings[::7]:
        ref = reference.json_to_stroke(d)
        _assert_drop_in(json_to_stroke(d), ref)
        as_lists = {"drawing": [s.tolist() for s in d["drawing"]]}
        _assert_drop_in(json_to_stroke(as_lists), ref)


def test_raw_coordinates_xy_rows_match_reference():
    """Raw strokes: large, unnormalized coordinates, ints and floats mixed (x and y rows only)."""
    lines = [line for f in realdata.raw_files()[:60] for line in open(f, encoding="utf-8")]
    dicts = []
    for line in lines:
        d = json.loads(line)
        dicts.append({"drawing": [np.array(s[:2]) for s in d["drawing"]]})
    assert any(not float(v).is_integer() for d in dicts for s in d["drawing"] for v in s.ravel())
    batch = Drawings.from_dicts(
        [{**json.loads(line), "drawing": d["drawing"]} for line, d in zip(lines, dicts)]
    )
    deltas, offsets = encode_strokes(batch)
    for i, d in enumerate(dicts):
        ref = reference.json_to_stroke(d)
        _assert_same_stroke(deltas[:, offsets[i]:offsets[i + 1]], ref)
        _assert_drop_in(json_to_stroke(d), ref)


def test_single_point_and_one_point_strokes(drawings):
    d = drawings[0]
    points = np.concatenate(d["drawing"], axis=1)
    single = {**d, "drawing": [points[:, :1]]}
    assert json_to_stroke(single).shape == (3, 0)
    _assert_drop_in(json_to_stroke(single), reference.json_to_stroke(single))
    # every point its own stroke: z is 1 on every delta
    dotted = {**d, "drawing": [points[:, k:k + 1] for k in range(points.shape[1])]}
    ours = json_to_stroke(dotted)
    _assert_drop_in(ours, reference.json_to_stroke(dotted))
    assert ours[2].tolist() == [1.0] * (points.shape[1] - 1)
    # a batch mixing them keeps every drawing's own slice
    deltas, offsets = encode_strokes(Drawings.from_dicts([single, d, dotted, single]))
    assert np.diff(offsets).tolist() == [0, points.shape[1] - 1, points.shape[1] - 1, 0]
    _assert_same_stroke(deltas[:, offsets[2]:offsets[3]], reference.json_to_stroke(dotted))


def test_drawing_of_one_repeated_point_divides_by_one(drawings):
    d = drawings[3]
    p = d["drawing"][0][:, :1]
    still = {**d, "drawing": [np.repeat(p, 4, axis=1), p]}
    ours = json_to_stroke(still)
    _assert_drop_in(ours, reference.json_to_stroke(still))
    assert ours[:2].tolist() == [[0.0] * 4, [0.0] * 4] and ours[2].tolist() == [0, 0, 0, 1]


def test_empty_drawing_is_rejected_naming_it(drawings):
    batch = Drawings.from_dicts([drawings[0], {**drawings[1], "drawing": []}])
    batch.line[:] = [10, 11]
    with pytest.raises(ValueError, match=r"drawing 1 \(line 11\) has no point"):
        encode_strokes(batch)
    with pytest.raises(ValueError, match="no point"):
        json_to_stroke({"drawing": []})


def test_raw_three_row_strokes_get_the_notebook_s_joint_normalization_with_t(utc):
    """The notebook normalizes t with x and y and returns (4, n - 1): dx, dy, dt, z; its
    make_example_stroke writes dt as stroke_z."""
    lines = [line for f in realdata.raw_files()[:40] for line in open(f, encoding="utf-8")]
    checked = 0
    for line in lines:
        d = reference.convert(line)
        assert d["drawing"][0].shape[0] == 3
        ref = reference.json_to_stroke(d)
        assert ref.shape[0] == 4
        _assert_drop_in(json_to_stroke(d), ref)
        _assert_drop_in(json_to_stroke({"drawing": [s.tolist() for s in d["drawing"]]}), ref)
        assert fastdraw.make_example_stroke(7, d) == reference.make_example_stroke(7, d)
        checked += 1
    assert checked == len(lines) > 100
    uneven = {"drawing": [np.zeros((3, 2)), np.zeros((2, 2))]}
    with pytest.raises(ValueError, match="strokes must all have the same rows"):
        json_to_stroke(uneven)
