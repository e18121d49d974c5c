"""The numba rasterizer against the notebook's PIL rendering: zero differing pixels.

Coverage (the reference costs ~150 µs a drawing, so the grid is sampled, deterministically):

- every real simplified drawing (6,280) for the notebook's configurations (64 px lw 4 and
  lw 3, maximized) and two more (28 px lw 1, 64 px lw 4 not maximized);
- the full grid img_sz {28, 32, 64, 96, 128, 256} x lw 1..8 x maximize {True, False}
  (96 configurations), each on its own slice of 1,000 drawings of a fixed permutation of
  all drawings, so that every drawing is drawn by about 15 configurations;
- real raw drawings (large, mixed int/float coordinates; not maximized they run off the
  image), every 8th one, at several sizes and widths;
- single segments straight against Pillow's ``ImageDraw.line``: both directions, short and
  long, at and beyond every edge of the image, negative coordinates, odd image sizes and
  line widths up to 300, drawn as one batch and in small pieces (the kernel's two paths);
- hypothesis-generated drawings, lists as strokes (the drop-in), no-segment drawings;
- coordinates up to Pillow's C int limit (2**29 after scaling) against Pillow, and beyond
  it (and NaN) refused with a clear error, never a crash or a hang (checked in a child
  process, which a crash would kill instead of pytest).
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import realdata
from conftest import simplified_lines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from fastdraw.drawings import Drawings
from fastdraw.kernels import raster
from fastdraw.notebook import dropins, reference

SIZES = [28, 32, 64, 96, 128, 256]
WIDTHS = range(1, 9)
GRID = [(sz, lw, mx) for sz in SIZES for lw in WIDTHS for mx in (True, False)]
PER_CONFIG = 1000  # drawings per grid configuration: 96 * 1000 / 6280 ~ 15 per drawing


@pytest.fixture(scope="module")
def simplified() -> tuple[list[dict], Drawings]:
    raster.warmup()
    dicts = [reference.convert(line) for line in simplified_lines()]
    return dicts, Drawings.from_dicts(dicts)


def _reference(d: dict, sz: int, lw: int, mx: bool) -> np.ndarray:
    return np.asarray(reference.json_to_img(d, img_sz=sz, lw=lw, maximize=mx))


def _assert_same(dicts, images, indices, sz, lw, mx) -> None:
    bad = [i for i in indices if not np.array_equal(images[i], _reference(dicts[i], sz, lw, mx))]
    assert not bad, (
        f"{len(bad)} of {len(indices)} drawings differ at img_sz={sz} lw={lw} maximize={mx}, "
        f"first key_ids {[dicts[i]['key_id'] for i in bad[:5]]}"
    )


@pytest.mark.parametrize("sz,lw,mx", [(64, 4, True), (64, 3, True), (28, 1, True),
                                      (64, 4, False)])
def test_every_real_drawing_matches_the_notebook(simplified, sz, lw, mx):
    dicts, drawings = simplified
    images = raster.rasterize(drawings, img_sz=sz, lw=lw, maximize=mx)
    assert images.shape == (len(dicts), sz, sz) and images.dtype == np.uint8
    _assert_same(dicts, images, range(len(dicts)), sz, lw, mx)


@pytest.mark.parametrize("k", range(len(GRID)), ids=[f"{s}-lw{w}-{'max' if m else '1024'}"
                                                    for s, w, m in GRID])
def test_size_width_maximize_grid_on_a_rotating_slice(simplified, k):
    dicts, drawings = simplified
    sz, lw, mx = GRID[k]
    order = np.random.default_rng(3).permutation(len(dicts))
    indices = sorted(order[(k * PER_CONFIG + np.arange(PER_CONFIG)) % len(dicts)])
    images = raster.rasterize(drawings, img_sz=sz, lw=lw, maximize=mx)
    _assert_same(dicts, images, indices, sz, lw, mx)


@pytest.fixture(scope="module")
def raw() -> list[dict]:
    lines = [line for f in realdata.raw_files()
             for line in f.read_text("utf-8").splitlines()]
    assert len(lines) > 4000, f"expected the raw drawings in {realdata.RAW}"
    return [reference.convert(line) for line in lines[::8]]


@pytest.mark.parametrize("sz,lw,mx", [(64, 4, False), (64, 4, True), (28, 1, False),
                                      (256, 7, False), (96, 2, False), (37, 5, False)])
def test_raw_drawings_with_large_coordinates(raw, sz, lw, mx):
    images = raster.rasterize(Drawings.from_dicts(raw), img_sz=sz, lw=lw, maximize=mx)
    _assert_same(raw, images, range(len(raw)), sz, lw, mx)
    if not mx:
        # raw coordinates reach well past 1024: some drawings do leave the image
        assert any(max(s[:2].max() for s in d["drawing"]) * sz / 1024 > sz for d in raw)


def _segments(rng: np.random.Generator, sz: int, n: int) -> np.ndarray:
    """n segments (x0, y0, x1, y1) in image coordinates: long ones across and past the image,
    short ones near every edge and corner, exact integers and fractions, both directions."""
    edge = np.array([-1000.5, -40, -9, -3.5, -1, -0.99, -0.5, 0, 0.5, 1, 2.7,
                     sz - 2, sz - 1, sz - 0.5, sz, sz + 0.3, sz + 1, sz + 3.5, sz + 9, sz + 900])
    kinds = rng.integers(0, 4, n)
    p0 = rng.uniform(-sz, 2 * sz, (n, 2))
    p0[kinds == 1] = rng.choice(edge, (int((kinds == 1).sum()), 2))
    p0[kinds == 2] = np.round(p0[kinds == 2])
    p1 = np.where(
        (kinds >= 2)[:, None],
        p0 + rng.integers(-6, 7, (n, 2)) + rng.choice([0, 0, 0.5, 0.25, 0.999], (n, 2)),
        rng.uniform(-sz, 2 * sz, (n, 2)),
    )
    p1[kinds == 1] = rng.choice(edge, (int((kinds == 1).sum()), 2))
    segments = np.concatenate([p0, p1], axis=1)
    segments[1::2] = segments[1::2][:, [2, 3, 0, 1]]
    return segments


@pytest.mark.parametrize("sz", [64, 28, 37, 7, 1, 300])
def test_single_segments_against_pillow(sz):
    """Each batch is drawn whole (1,000+ points: the kernel moves stamps of repeated segment
    shapes) and in small pieces (every segment drawn directly); both must be Pillow's."""
    rng = np.random.default_rng(sz)
    for lw in [*range(1, 13), 16, 33, 255, 300]:
        segments = _segments(rng, sz, 150 if sz > 256 else 600)
        # Drawings whose notebook coordinates (v / 1024 * sz, float32) are these segments.
        raw = segments * 1024 / sz
        drawings = Drawings.from_dicts([
            {"drawing": [[[a, c], [b, d]]], "key_id": "1", "word": "w", "countrycode": "US",
             "recognized": True, "timestamp": "2017-03-01 10:00:00.0 UTC"}
            for a, b, c, d in raw])
        whole = raster.rasterize(drawings, img_sz=sz, lw=lw, maximize=False)
        pieces = np.concatenate([
            raster.rasterize_arrays(drawings.x[2 * i:2 * i + 100], drawings.y[2 * i:2 * i + 100],
                              np.arange(0, 101, 2), np.arange(51), sz, lw, False)
            for i in range(0, len(raw), 50)])
        for i in range(len(raw)):
            xy = (np.float32(raw[i]) / np.float32(1024)) * np.float32(sz)
            expected = Image.new("L", (sz, sz))
            ImageDraw.Draw(expected).line(tuple(xy), fill="white", width=lw)
            for images in (whole, pieces):
                assert np.array_equal(images[i], np.asarray(expected)), (
                    f"img_sz={sz} lw={lw} segment {tuple(xy)} differs from Pillow"
                )


_coord = st.one_of(st.integers(0, 255), st.integers(-3000, 3000),
                   st.floats(-5000, 5000, allow_nan=False, width=32))
_stroke = st.integers(1, 12).flatmap(
    lambda n: st.tuples(st.lists(_coord, min_size=n, max_size=n),
                        st.lists(_coord, min_size=n, max_size=n)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(strokes=st.lists(_stroke, min_size=1, max_size=6),
       sz=st.sampled_from([1, 5, 28, 32, 64, 70]), lw=st.integers(1, 12), mx=st.booleans())
def test_generated_drawings(strokes, sz, lw, mx):
    d = {"drawing": [[list(x), list(y)] for x, y in strokes], "key_id": "7", "word": "w",
         "countrycode": "US", "recognized": True, "timestamp": "2017-03-01 10:00:00.0 UTC"}
    if mx and all(len(x) < 2 for x, _ in strokes):
        with pytest.raises(ValueError, match="no line segment"):
            dropins.json_to_img(d, img_sz=sz, lw=lw, maximize=mx)
        return
    ref = reference.json_to_img(_as_arrays(d), sz, lw, mx)
    assert np.array_equal(np.asarray(dropins.json_to_img(d, sz, lw, mx)), np.asarray(ref))


def _as_arrays(d: dict) -> dict:
    return {**d, "drawing": [np.array(s) for s in d["drawing"]]}


def test_drop_in_takes_list_strokes_and_returns_the_same_image(simplified):
    dicts, _ = simplified
    for d in dicts[::97]:
        as_lists = {**d, "drawing": [s.tolist() for s in d["drawing"]]}
        for sz, lw in [(64, 4), (28, 1), (33, 3)]:
            img = dropins.json_to_img(as_lists, img_sz=sz, lw=lw)
            ref = reference.json_to_img(d, img_sz=sz, lw=lw)
            assert img.mode == "L" and img.size == (sz, sz)
            assert np.array_equal(np.asarray(img), np.asarray(ref))
            assert np.array_equal(np.asarray(dropins.json_to_img(d, sz, lw)), np.asarray(ref))


def test_drop_in_needs_only_the_strokes_and_names_bad_ones():
    only = {"drawing": [[[0, 30, 60], [5, 40, 5]], np.array([[10, 10], [50, 60]])]}
    np.testing.assert_array_equal(np.asarray(dropins.json_to_img(only, 32, 2)),
                                  np.asarray(reference.json_to_img(_as_arrays(only), 32, 2)))
    for strokes, problem in [([[[1, 2], [3]]], "differ in length"), ([[["a", 2], [1, 2]]], "'a'"),
                             ([[1, 2]], "has no len")]:
        with pytest.raises(ValueError, match=f"strokes \\[xs, ys, ...\\] of numbers: .*{problem}"):
            dropins.json_to_img({"drawing": strokes})


def _drawing(strokes: list) -> dict:
    return {"drawing": strokes, "key_id": "5", "word": "w", "countrycode": "US",
            "recognized": True, "timestamp": "2017-03-01 10:00:00.0 UTC"}


@pytest.mark.parametrize("strokes", [[], [[[10], [20]]], [[[10], [20]], [[30], [40]]]])
def test_a_drawing_without_a_segment_is_a_clear_error(strokes):
    d = _drawing(strokes)
    with pytest.raises(IndexError):  # the notebook cannot draw it either
        reference.json_to_img(_as_arrays(d))
    with pytest.raises(ValueError, match="^the drawing has no line segment"):
        dropins.json_to_img(d)
    with pytest.raises(ValueError, match="^drawing 0 has no line segment"):
        raster.rasterize(Drawings.from_dicts([d]))


def test_the_error_names_the_drawing_and_its_line():
    good = _drawing([[[0, 10], [0, 10]]])
    drawings = Drawings.from_dicts([good, good, _drawing([[[5], [5]]]), good])
    with pytest.raises(ValueError, match=r"^drawing 2 has no line segment"):
        raster.rasterize(drawings)
    drawings.line = np.array([3, 4, 9, 12])
    with pytest.raises(ValueError, match=r"^drawing 2 \(line 9\) has no line segment"):
        raster.rasterize(drawings)


def test_bad_arguments_and_empty_batches():
    drawings = Drawings.from_dicts([_drawing([[[0, 10], [0, 10]]])])
    with pytest.raises(ValueError, match="lw"):
        raster.rasterize(drawings, lw=0)
    with pytest.raises(ValueError, match="img_sz"):
        raster.rasterize(drawings, img_sz=0)
    empty = Drawings.from_dicts([])
    assert raster.rasterize(empty, img_sz=28).shape == (0, 28, 28)
    drawings.stroke_offsets = np.array([0, 5])  # only 2 points
    with pytest.raises(ValueError, match="stroke_offsets must rise from 0 to 2"):
        raster.rasterize(drawings)
    drawings.stroke_offsets = np.array([0, 2])
    drawings.drawing_offsets = np.array([0, 2])
    with pytest.raises(ValueError, match="drawing_offsets must rise from 0 to 1"):
        raster.rasterize(drawings)


@pytest.mark.parametrize("strokes", [[], [np.array([[5], [7]])], [np.array([[], []])],
                                     [np.array([[5], [7]]), np.array([[-3.5], [1e30]])]])
def test_no_segment_not_maximized_is_the_notebooks_black_image(strokes):
    d = {"drawing": strokes}
    for sz, lw in [(64, 1), (64, 2), (64, 3), (64, 4), (28, 9), (5, 1)]:
        ref = np.asarray(reference.json_to_img(d, sz, lw, False))
        img = np.asarray(dropins.json_to_img(d, sz, lw, False))
        assert img.shape == (sz, sz) and np.array_equal(img, ref) and not ref.any()
    # In a batch, beside drawings that have segments.
    good = _drawing([[[0, 500, 900], [100, 700, 20]]])
    dicts = [good, _drawing([s.tolist() for s in strokes]), good]
    images = raster.rasterize(Drawings.from_dicts(dicts), 64, 4, False)
    for i, dd in enumerate(dicts):
        assert np.array_equal(images[i], _reference(_as_arrays(dd), 64, 4, False))
    assert images[0].any() and not images[1].any()



def test_zero_length_segments_on_and_off_the_image():
    """A zero-length segment is its end point, on the image or not (width 1 walks no step:
    the walk's clipping must not divide by its zero length)."""
    for x, y in [(5, -5), (-5, 5), (-5, -5), (70, 3), (3, 70), (70, 70), (0, 0), (63, 63),
                 (-2**29 + 32, 2**29 - 32)]:
        d = {"drawing": [np.array([[x, x, x], [y, y, y]]) * 16]}
        for lw in (1, 2, 4):
            ref = np.asarray(reference.json_to_img(d, 64, lw, False))
            assert np.array_equal(np.asarray(dropins.json_to_img(d, 64, lw, False)), ref)
            assert ref.any() == (0 <= x < 64 and 0 <= y < 64)

def _far_segments(rng: np.random.Generator, sz: int, limit: float, n: int) -> np.ndarray:
    """n segments (x0, y0, x1, y1) in image coordinates within +-limit: both ends far away,
    one end on the image, or crossing the image from far away."""
    a = rng.uniform(-limit, limit, (n, 2))
    b = rng.uniform(-limit, limit, (n, 2))
    b[:n // 3] = rng.uniform(-sz, 2 * sz, (n // 3, 2))
    through = rng.uniform(0, sz, (n // 3, 2))
    b[n // 3:2 * n // 3] = 2 * through - a[n // 3:2 * n // 3] + rng.integers(-3, 4, (n // 3, 2))
    return np.clip(np.concatenate([a, b], axis=1), -limit, limit)


@pytest.mark.parametrize("sz", [64, 37])
def test_coordinates_up_to_pillows_int_limit_match_pillow(sz):
    """Image coordinates up to 2**29 - 32 (float32's last value below 2**29): Pillow's C int
    arithmetic does not overflow there, so its pixels are exact, and so must the kernel's
    be.  (Pillow's width-1 lines walk their whole length, ~2 s for 2**30 steps: they stay
    shorter here; test_huge_coordinates_match_the_notebook has one of 2**30.)"""
    rng = np.random.default_rng(sz + 1)
    for lw in [1, 2, 3, 4, 5, 8, 33, 255]:
        far = 2**29 - 32 if lw > 1 else 2**21
        segments = np.concatenate([_far_segments(rng, sz, 2.0 ** k, 30)
                                   for k in ((17, 24, 29) if lw > 1 else (12, 17, 21))])
        segments[0] = [-far, 3, far, sz - 4]  # the widest, across the image
        segments[1] = [sz / 2, -far, sz / 3, far]
        raw = segments * 1024 / sz
        drawings = Drawings.from_dicts([_drawing([[[a, c], [b, d]]]) for a, b, c, d in raw])
        images = raster.rasterize(drawings, img_sz=sz, lw=lw, maximize=False)
        for i in range(len(raw)):
            xy = (np.float32(raw[i]) / np.float32(1024)) * np.float32(sz)
            assert max(abs(xy)) < 2**29
            expected = Image.new("L", (sz, sz))
            ImageDraw.Draw(expected).line(tuple(xy), fill="white", width=lw)
            assert np.array_equal(images[i], np.asarray(expected)), (
                f"img_sz={sz} lw={lw} segment {tuple(xy)} differs from Pillow")
        assert images[:2].any()


@pytest.mark.parametrize("strokes", [
    [np.array([[0, 1e9], [5, 7]])],
    [np.array([[-1e9, 3e8, 40, 900], [5, -7e8, 30, 1e9]]), np.array([[2e9, 10], [-2e9, 500]])],
    [np.array([[-(2**29 - 32), 2**29 - 32], [0, 40]]) * 16],  # to image x +-(2**29 - 32)
    [np.array([[0, 10**9, 30], [5, 7, 40]], dtype=object)],  # as numpy keeps 2**70
])
def test_huge_coordinates_match_the_notebook(strokes):
    d = {"drawing": strokes}
    for sz, lw, mx in [(64, 1, False), (64, 4, False), (28, 3, False), (64, 4, True)]:
        ref = np.asarray(reference.json_to_img(d, sz, lw, mx))
        assert np.array_equal(np.asarray(dropins.json_to_img(d, sz, lw, mx)), ref)
        assert ref.any()


@pytest.mark.parametrize("x0,mx,where,message", [
    (1e21, False, "x0", "x = 1e+21 scales to image coordinate 6.25e+19, not within "
                        "-2**29 < c < 2**29, where Pillow's C int arithmetic overflows: "
                        "it cannot be rasterized"),
    (-1e22, False, "x0", "x = -1e+22 scales to image coordinate -6.25e+20"),
    (2**70, False, "x0", "x = 1.1805916207174113e+21 scales to image coordinate 7.378698e+19"),
    (2**33, False, "x0", "x = 8589934592.0 scales to image coordinate 5.368709e+08"),  # 2**29
    (1e12, False, "y1", "y = 1000000000000.0 scales to image coordinate 6.25e+10"),
    (np.nan, False, "x0", "x is NaN, which Pillow's cast to a C int leaves undefined: it cannot"),
    (np.nan, True, "y1", "y is NaN"),
    (1e39, True, "x0", "x = 1e+39 scales to image coordinate nan"),  # inf in float32
])
def test_coordinates_beyond_pillows_int_limit_are_refused(x0, mx, where, message):
    """Beyond +-2**29 (or NaN) Pillow's int casts and sums overflow, which C leaves undefined
    (it draws a compiler's accident: QA saw 3016 pixels for a NaN); a clear error instead."""
    xs, ys = [3.0, 50.0, 10.0], [4.0, 60.0, 30.0]
    (xs if where[0] == "x" else ys)[int(where[1])] = x0
    good = [np.array([[0, 40], [0, 40]])]
    d = {"drawing": [*good, np.array([xs, ys])]}
    point = re.escape(f"stroke 1 point {where[1]}: {message}")
    with pytest.raises(ValueError, match=f"^the drawing: {point}"):
        dropins.json_to_img(d, 64, 4, mx)
    batch = Drawings.from_dicts([_drawing(good), _drawing(d["drawing"])])
    batch.line = np.array([7, 8])
    with pytest.raises(ValueError, match=f"^drawing 1 \\(line 8\\): {point}"):
        raster.rasterize(batch, 64, 1, mx)


def test_a_nan_point_that_the_notebook_does_not_draw_is_ignored():
    """The notebook draws only strokes with a segment: a single-point stroke's NaN is never
    drawn (nor counted in the maximized range)."""
    d = {"drawing": [np.array([[np.nan], [np.nan]]), np.array([[0, 50, 90], [0, 50, 10]])]}
    for mx in (True, False):
        ref = np.asarray(reference.json_to_img(d, 64, 4, mx))
        assert np.array_equal(np.asarray(dropins.json_to_img(d, 64, 4, mx)), ref) and ref.any()


def test_absurd_coordinates_never_crash_or_hang_the_batch():
    """What QA saw kill the process (a write outside the canvas) or never return: run in a
    child process, so that a crash fails this test instead of killing pytest."""
    code = textwrap.dedent("""
        import time
        import numpy as np
        from fastdraw import json_to_img
        from fastdraw.kernels import raster
        from fastdraw.drawings import Drawings

        def drawing(xs, ys):
            return {"drawing": [[xs, ys]], "key_id": "1", "word": "w", "countrycode": "US",
                    "recognized": True, "timestamp": "2017-03-01 10:00:00.0 UTC"}

        bad = [([1e21, 5], [3, 4]), ([-1e22, 5], [3, 4]), ([2.0**70, 5], [3, 4]),
               ([0, float("nan"), 100], [0, 80, 20]), ([0, 1e12], [5, 7]),
               ([5, 3], [-1e300, 1e300]), ([float("inf"), 0], [0, 0])]
        for xs, ys in bad:
            for mx in (False, True):
                for lw in (1, 4):
                    try:
                        json_to_img({"drawing": [np.array([xs, ys])]}, 64, lw, mx)
                    except ValueError:
                        pass
                    try:
                        raster.rasterize(Drawings.from_dicts([drawing(xs, ys)]), 64, lw, mx)
                    except ValueError:
                        pass
        # Segments across the image from +-(2**29 - 32) (image coordinates): Pillow walks
        # 2**30 steps for each (the kernel did too: 1.3 s each); now only the image's 64.
        far = 2.0**29 - 32
        many = Drawings.from_dicts([drawing([-far * 16, far * 16], [i * 16, 1000 - i * 16])
                                    for i in range(20)])
        start = time.perf_counter()
        for lw in (1, 4):
            assert raster.rasterize(many, 64, lw, False).any()
        print("ok", time.perf_counter() - start)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert done.stdout.startswith("ok "), done.stdout
    assert float(done.stdout.split()[1]) < 5, done.stdout
