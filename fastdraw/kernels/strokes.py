"""Stroke encoder: the notebook's ``json_to_stroke`` for a whole batch, bit for bit.

The notebook concatenates a drawing's points as float32, normalizes x and y
*jointly* (one minimum, one range ``max(1, max - min)`` over both rows),
differences consecutive points and sets ``z = 1`` on the delta that jumps into a
new stroke.  Every step is a single float32 operation, so the kernel below
repeats them one by one in float32 and gets the same bits, without Python work
per drawing.

One bit the arithmetic does not settle: when a drawing's smallest coordinate is zero and
some coordinate is -0.0, the sign of numpy's ``min()`` (which decides the sign of zero
deltas) depends on numpy's reduction order; `negative_zero_minima` asks numpy itself for
those rare drawings.
"""

from __future__ import annotations

import numpy as np

from fastdraw.drawings import Drawings
from fastdraw.kernels.jit import helper, kernel

_FLOAT32_MAX = float(np.finfo(np.float32).max)


@helper
def xy_deltas(x, y, p0, p1, dx, dy, c, negative_zero_min):
    """The x and y deltas of points p0..p1 (p1 - p0 - 1 of each) into ``dx[c:]`` and
    ``dy[c:]``: the notebook's joint normalization and difference, one float32 operation at a
    time.  ``x`` and ``y`` may hold any numbers: only their float32 values count.  A minimum
    of zero is -0.0 if ``negative_zero_min`` (as numpy's is), else 0.0."""
    one = np.float32(1.0)
    lo = np.float32(x[p0])
    hi = lo
    for p in range(p0, p1):
        vx = np.float32(x[p])
        vy = np.float32(y[p])
        lo = min(lo, vx, vy)
        hi = max(hi, vx, vy)
    if lo == 0:
        lo = np.float32(-0.0) if negative_zero_min else np.float32(0.0)
    span = np.float32(hi - lo)
    if not span > one:
        span = one
    prev_x = np.float32(np.float32(np.float32(x[p0]) - lo) / span)
    prev_y = np.float32(np.float32(np.float32(y[p0]) - lo) / span)
    for p in range(p0 + 1, p1):
        cur_x = np.float32(np.float32(np.float32(x[p]) - lo) / span)
        cur_y = np.float32(np.float32(np.float32(y[p]) - lo) / span)
        dx[c + p - p0 - 1] = np.float32(cur_x - prev_x)
        dy[c + p - p0 - 1] = np.float32(cur_y - prev_y)
        prev_x = cur_x
        prev_y = cur_y


@kernel
def _encode_kernel(x, y, stroke_offsets, drawing_offsets, negative_zero_min):
    """Deltas float32 (3, total) and offsets (N + 1,); offsets[0] = -1 - i if drawing i is empty."""
    n_drawings = len(drawing_offsets) - 1
    offsets = np.zeros(n_drawings + 1, dtype=np.int64)
    for i in range(n_drawings):
        p0 = stroke_offsets[drawing_offsets[i]]
        p1 = stroke_offsets[drawing_offsets[i + 1]]
        if p1 == p0:
            offsets[0] = -1 - i
            return np.zeros((3, 0), dtype=np.float32), offsets
        offsets[i + 1] = offsets[i] + (p1 - p0 - 1)
    deltas = np.zeros((3, offsets[n_drawings]), dtype=np.float32)
    for i in range(n_drawings):
        p0 = stroke_offsets[drawing_offsets[i]]
        p1 = stroke_offsets[drawing_offsets[i + 1]]
        xy_deltas(x, y, p0, p1, deltas[0], deltas[1], offsets[i], negative_zero_min[i])
        o = offsets[i] - p0 - 1  # delta index of point p is o + p
        for s in range(drawing_offsets[i] + 1, drawing_offsets[i + 1]):
            start = stroke_offsets[s]
            if p0 < start < p1:
                deltas[2, o + start] = np.float32(1.0)
    return deltas, offsets


def encode_arrays(x: np.ndarray, y: np.ndarray, stroke_offsets: np.ndarray,
                  drawing_offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """`encode_strokes` of a batch's flat arrays: (deltas, offsets, the first drawing with no
    point or -1); with such a drawing the deltas are empty."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    stroke_offsets = np.ascontiguousarray(stroke_offsets, dtype=np.int64)
    drawing_offsets = np.ascontiguousarray(drawing_offsets, dtype=np.int64)
    deltas, offsets = _encode_kernel(x, y, stroke_offsets, drawing_offsets,
                                     negative_zero_minima(x, y, stroke_offsets, drawing_offsets))
    empty = -1 - int(offsets[0]) if offsets[0] < 0 else -1
    return deltas, offsets, empty


def negative_zero_minima(x: np.ndarray, y: np.ndarray, stroke_offsets: np.ndarray,
                         drawing_offsets: np.ndarray) -> np.ndarray:
    """bool per drawing: whether the notebook's ``xy.min()`` (numpy's, over the float32 x
    row then y row) is -0.0; asked of numpy for the drawings that hold a -0.0 coordinate."""
    n = len(drawing_offsets) - 1
    out = np.zeros(n, dtype=np.bool_)
    if not ((x.view(np.int64) < 0).any() or (y.view(np.int64) < 0).any()):
        return out  # no sign bit set anywhere: no -0.0 (the common case, at a glance)
    x32 = x.astype(np.float32)
    y32 = y.astype(np.float32)
    negative_zero = ((x32 == 0) & np.signbit(x32)) | ((y32 == 0) & np.signbit(y32))
    if not negative_zero.any():
        return out
    points = stroke_offsets[drawing_offsets]  # each drawing's first point, and the end
    for d in np.unique(np.searchsorted(points, np.flatnonzero(negative_zero), "right") - 1):
        a, b = points[d], points[d + 1]
        out[d] = np.signbit(np.stack([x32[a:b], y32[a:b]]).min())
    return out


def unencodable(drawings: Drawings) -> dict[int, str]:
    """The drawings of the batch whose deltas would not be finite numbers, by index, and why:
    a coordinate that overflows float32 (the notebook's arithmetic), or a span of coordinates
    that does."""
    if drawings.magnitude < _FLOAT32_MAX / 4:  # (False for NaN) no span, no delta overflows
        return {}
    with np.errstate(over="ignore"):  # an overflow to infinity is what this looks for
        x32 = drawings.x.astype(np.float32)
        y32 = drawings.y.astype(np.float32)
    points = drawings.stroke_offsets[drawings.drawing_offsets]
    out = {}
    for name, row, row32 in (("x", drawings.x, x32), ("y", drawings.y, y32)):
        for p in np.flatnonzero(~np.isfinite(row32)).tolist():
            d = int(np.searchsorted(points, p, "right")) - 1
            out.setdefault(d, f"the drawing's {name} = {float(row[p])!r} overflows float32 (the "
                              "notebook's stroke arithmetic): its deltas would not be finite "
                              "numbers; drop the drawing or bring its coordinates into range")
    if len(points) > 1 and len(x32):
        starts = points[:-1]
        nonempty = starts < points[1:]
        lo = np.full(len(starts), np.inf, dtype=np.float32)
        hi = np.full(len(starts), -np.inf, dtype=np.float32)
        lo[nonempty] = np.minimum(np.minimum.reduceat(x32, starts[nonempty]),
                                  np.minimum.reduceat(y32, starts[nonempty]))
        hi[nonempty] = np.maximum(np.maximum.reduceat(x32, starts[nonempty]),
                                  np.maximum.reduceat(y32, starts[nonempty]))
        with np.errstate(over="ignore", invalid="ignore"):
            span = hi - lo
        for d in np.flatnonzero(nonempty & np.isfinite(lo) & np.isfinite(hi)
                                & ~np.isfinite(span)).tolist():
            out.setdefault(d, f"the drawing's coordinates span {float(hi[d]) - float(lo[d]):.7g}"
                              ", which overflows float32 (the notebook's stroke arithmetic): "
                              "its deltas would not be finite numbers; drop the drawing or "
                              "bring its coordinates into range")
    return dict(sorted(out.items()))


def encode_strokes(drawings: Drawings) -> tuple[np.ndarray, np.ndarray]:
    """The notebook's ``json_to_stroke`` of every drawing at once.

    Returns ``deltas`` float32 (3, total) and ``offsets`` int64 (N + 1,): drawing
    i's stroke encoding is ``deltas[:, offsets[i]:offsets[i + 1]]`` (points - 1
    columns; a single-point drawing has none).  Raises ValueError naming the
    drawing if one has no point at all (the notebook fails on it too).
    """
    deltas, offsets, empty = encode_arrays(
        drawings.x, drawings.y, drawings.stroke_offsets, drawings.drawing_offsets
    )
    if empty >= 0:
        raise no_point(drawings, empty)
    return deltas, offsets


def no_point(drawings: Drawings, i: int) -> ValueError:
    """The error for drawing ``i`` of a batch having no point: it has no stroke encoding."""
    where = f" (line {drawings.line[i]})" if drawings.line[i] > 0 else ""
    return ValueError(f"drawing {i}{where} has no point, so it has no stroke encoding; "
                      "drop it before encoding")


def warmup() -> None:
    """Compile (or load from cache) the stroke kernel."""
    encode_arrays(np.zeros(2), np.zeros(2), np.array([0, 1, 2]), np.array([0, 2]))
