"""The official bitmaps (`fastdraw.kernels.bitmap`): Google's rows byte for byte, and cairo
1.16's rendering of the same recipe at every size (where cairo 1.16 is importable)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from cairo_oracle import CAIRO, WHY_NOT, cairo_bitmap
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from realdata import OFFICIAL, simplified_files

from fastdraw.drawings import Drawings
from fastdraw.kernels.bitmap import official_bitmap, official_bitmaps, refusals
from fastdraw.sources import read_drawings

needs_cairo = pytest.mark.skipif(CAIRO is None, reason=f"no cairo 1.16 oracle: {WHY_NOT}")
CLASSES = ("cat", "eye", "fish")


def official(name: str) -> tuple[list[dict], np.ndarray]:
    """The first 25 lines of the official class file and their official rows."""
    lines = (OFFICIAL / f"{name}.ndjson").read_text("utf-8").splitlines()
    rows = np.load(OFFICIAL / f"{name}_numpy_bitmap_rows0-24.npy")
    assert len(lines) == len(rows) == 25
    return [json.loads(line) for line in lines], rows


def strokes_of(drawings: Drawings, i: int) -> list[list[list[float]]]:
    return [s.tolist() for s in drawings.strokes(i)]


@pytest.mark.parametrize("name", CLASSES)
def test_official_rows_byte_for_byte(name):
    dicts, rows = official(name)
    images = official_bitmaps(Drawings.from_dicts(dicts))
    assert images.dtype == np.uint8 and images.shape == (25, 28, 28)
    assert np.array_equal(images.reshape(25, 784), rows)


@pytest.mark.parametrize("name", CLASSES)
def test_official_bitmap_drop_in_gives_each_row(name):
    dicts, rows = official(name)
    for d, row in zip(dicts, rows):
        assert np.array_equal(official_bitmap(d).reshape(784), row)


def test_the_package_exports_both():
    import fastdraw

    dicts, rows = official("eye")
    assert fastdraw.official_bitmaps is official_bitmaps
    assert np.array_equal(fastdraw.official_bitmap(dicts[3]).reshape(784), rows[3])
    loaded = fastdraw.loadn("eye", 3, data_path=OFFICIAL)  # the notebook's dicts
    assert np.array_equal(
        np.stack([fastdraw.official_bitmap(d) for d in loaded]).reshape(-1, 784),
        rows[[i for i, d in enumerate(dicts) if d["recognized"]][:3]])


@needs_cairo
@pytest.mark.parametrize("name", CLASSES)
def test_oracle_draws_the_official_rows(name):
    dicts, rows = official(name)
    for d, row in zip(dicts, rows):
        assert np.array_equal(cairo_bitmap(d["drawing"]).reshape(784), row)


@needs_cairo
@pytest.mark.parametrize("size", [28, 5, 64, 100])
def test_every_sample_drawing_as_cairo_draws_it(size):
    files = simplified_files()
    if size != 28:
        files = files[size % 3::3]  # a third of the classes at the other sizes
    checked = 0
    for path in files:
        for batch in read_drawings(path, unrecognized=True):
            images = official_bitmaps(batch, size)
            for i in range(len(batch)):
                expected = cairo_bitmap(strokes_of(batch, i), size)
                assert np.array_equal(images[i], expected), (path.name, int(batch.line[i]))
                checked += 1
    assert checked > (6000 if size == 28 else 1500)


# Drawings a user may hand in: strokes of 1 to 12 points on the canvas (ints or floats, with
# repeats, back-tracking and straight runs), some touching its edges.
coordinate = st.one_of(st.integers(0, 255), st.sampled_from([0, 255]),
                       st.floats(0, 255, allow_nan=False).map(lambda v: round(v, 3)))
point = st.tuples(coordinate, coordinate)
stroke = st.lists(point, min_size=1, max_size=12).flatmap(
    lambda pts: st.sampled_from([pts, pts + pts[::-1], pts + [pts[-1]] * 2,
                                 [pts[0], pts[0]] + pts]))
drawing = st.lists(stroke, min_size=1, max_size=6)


@needs_cairo
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawing=drawing, size=st.sampled_from([28, 28, 9, 33, 64, 150]))
def test_hypothesis_drawings_as_cairo_draws_them(drawing, size):
    strokes = [[[float(x) for x, _ in s], [float(y) for _, y in s]] for s in drawing]
    got = official_bitmap({"drawing": strokes}, size)
    assert np.array_equal(got, cairo_bitmap(strokes, size))


# Drawings whose lines pass the image's edge: cairo clips each such stroke's polygon to the
# image, and skips the join fans far outside it.
OFF_CANVAS = {
    "past the right edge": [[[0, 300], [0, 10]]],
    "past the left edge": [[[-100, 250], [0, 10]]],
    "around the image": [[[-50, 400, 400, -50, -50], [-50, -50, 400, 400, -50]]],
    "far off, then back": [[[-2000, 128, 3000], [128, -1500, 128]]],
    "a point off the image": [[[128], [128]], [[-30], [-30]], [[500], [500]]],
    "zigzag across a corner": [[[-40, 20, -40, 20, -40], [-40, -40, 20, 20, 60]]],
    "every stroke outside": [[[0, 10], [0, 10]], [[2000, 2100], [2000, 1900]]],
}


@needs_cairo
@pytest.mark.parametrize("size", [28, 7, 64])
@pytest.mark.parametrize("name", sorted(OFF_CANVAS))
def test_lines_past_the_edge_as_cairo_clips_them(name, size):
    strokes = OFF_CANVAS[name]
    got = official_bitmap({"drawing": strokes}, size)
    assert np.array_equal(got, cairo_bitmap(strokes, size))


# Drawings reaching past the canvas and the image (hypothesis): coordinates far outside.
far_coordinate = st.one_of(st.integers(-400, 700), st.sampled_from([-8, 263, 300]),
                           st.floats(-2000, 3000, allow_nan=False).map(lambda v: round(v, 2)))
far_drawing = st.lists(st.lists(st.tuples(far_coordinate, far_coordinate), min_size=1,
                                max_size=10), min_size=1, max_size=5)


@needs_cairo
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawing=far_drawing, size=st.sampled_from([28, 7, 64, 130]))
def test_hypothesis_drawings_past_the_edge_as_cairo_draws_them(drawing, size):
    strokes = [[[float(x) for x, _ in s], [float(y) for _, y in s]] for s in drawing]
    assert np.array_equal(official_bitmap({"drawing": strokes}, size),
                          cairo_bitmap(strokes, size))


EDGE_CASES = {
    "single point": [[[100], [50]]],
    "single points only": [[[10], [20]], [[200], [220]], [[128], [128]]],
    "a point repeated": [[[7, 7, 7], [9, 9, 9]]],
    "touching every edge": [[[0, 255, 255, 0, 0], [0, 0, 255, 255, 0]]],
    "corner to corner": [[[0, 255], [0, 255]], [[255, 0], [0, 255]]],
    "straight run": [[[0, 10, 20, 30, 40, 200], [5, 5, 5, 5, 5, 5]]],
    "back and forth": [[[10, 200, 10, 200], [100, 100, 100, 100]]],
    "sharp turn": [[[0, 128, 1], [0, 255, 0]]],
    "fractions": [[[0.5, 17.25, 254.75], [3.125, 200.5, 100.0]]],
}


@needs_cairo
@pytest.mark.parametrize("size", [28, 64])
@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_edge_case_as_cairo_draws_it(name, size):
    strokes = EDGE_CASES[name]
    got = official_bitmap({"drawing": strokes}, size)
    assert got.any()
    assert np.array_equal(got, cairo_bitmap(strokes, size))


def test_an_empty_stroke_draws_nothing():
    strokes = [[[10, 200], [30, 40]]]
    with_empty = [[[], []], *strokes, [[], []]]
    assert np.array_equal(official_bitmap({"drawing": with_empty}),
                          official_bitmap({"drawing": strokes}))


def test_a_drawing_without_points_is_black():
    images = official_bitmaps(Drawings.from_dicts([{
        "drawing": [], "word": "cat", "countrycode": "US", "recognized": True,
        "key_id": "1", "timestamp": "2017-03-02 23:25:10.07453 UTC"}]), 28)
    assert images.shape == (1, 28, 28) and not images.any()


def _batch(strokes_list: list) -> Drawings:
    return Drawings.from_dicts([
        {"drawing": s, "word": "cat", "countrycode": "US", "recognized": True,
         "key_id": str(k + 1), "timestamp": "2017-03-02 23:25:10 UTC"}
        for k, s in enumerate(strokes_list)])


@pytest.mark.parametrize("strokes, problem", [
    ([[[0, 1e7], [0, 10]]], "is not a finite coordinate"),
    ([[[0, float("nan")], [0, 10]]], "is not a finite coordinate"),
    ([[[0, 1e6], [0, 10]]], "lands more than 2**15 pixels from the image"),
])
def test_a_drawing_it_cannot_draw_exactly_is_refused_by_name(strokes, problem):
    batch = _batch([[[[10, 20], [10, 20]]], strokes])
    batch.line[:] = [3, 4]
    assert list(refusals(batch)) == [1]
    assert problem in refusals(batch)[1]
    message = rf"drawing 1 \(line 4\): stroke 0 point [01]: .*{re.escape(problem)}"
    with pytest.raises(ValueError, match=message):
        official_bitmaps(batch)


def test_a_stroke_too_long_is_refused_before_any_memory_is_taken():
    xs = np.resize([10.0, 200.0], 200_000).tolist()  # a zigzag of 200,000 points
    batch = _batch([[[[10, 20], [10, 20]]], [[xs, xs]]])
    assert list(refusals(batch)) == [1]
    with pytest.raises(ValueError, match="drawing 1: stroke 0 has 200000 points, more than"):
        official_bitmaps(batch)


def test_sizes_out_of_range_are_refused():
    batch = _batch([[[[10, 20], [10, 20]]]])
    for size in (0, 4097):
        with pytest.raises(ValueError, match="size must be from 1 to 4096"):
            official_bitmaps(batch, size)
