"""The official Quick, Draw! ``numpy_bitmap`` rendering, exactly: cairo 1.16's pixels.

Google's 28 x 28 bitmaps are cairo's antialiased drawing of each simplified drawing: round
caps and joins, line width 16 on the 256 x 256 canvas, the drawing centred by offsetting
it by ``(256 - max(x)) / 2`` and ``(256 - max(y)) / 2`` (not rounded), the canvas with a
padding of 16 on each side and room for the line width scaled to the image
(``scale(size / 304)``, ``translate(24, 24)``), white strokes on a black ARGB32 surface,
each stroke (``move_to`` its first point, ``line_to`` every point, the first one included)
stroked and composited separately, one channel kept.

`official_bitmaps` renders a batch with the port of cairo in `cairo_stroke` (path, pen,
stroker, clipping) and `cairo_tor` (scan converter, 8-bit compositing): the same bytes as
cairo 1.16, at any size, without cairo, lines past the image's edge included (cairo clips
their polygons; so does the port).  A drawing with a coordinate that is not finite or
beyond +-2**20, or that lands more than 2**15 pixels from the image (where cairo's 64-bit
arithmetic of an edge could overflow), or with a stroke so long that its polygon could
take more than MAX_SLOTS points (cairo builds a stroke's whole polygon before it draws it:
2**16 points, some 6,500 points a stroke at 28 px, where real strokes have a few hundred;
this bounds the kernel's memory whatever a line holds), is refused with a ValueError that
names it (`refusals` lists them ahead).  The simplified format's drawings (coordinates 0
to 255) never are.
"""

from __future__ import annotations

import numpy as np

from fastdraw.drawings import Drawings
from fastdraw.kernels.cairo_stroke import (
    BX1,
    BX2,
    BY1,
    BY2,
    CAIRO_TOLERANCE,
    CLIPPED,
    LX1,
    LX2,
    LY1,
    LY2,
    fixed_from_double,
    make_pen,
    path_points,
    stroke_polygon,
)
from fastdraw.kernels.cairo_tor import EDGE_ROWS, GRID_Y, fill_polygon
from fastdraw.kernels.jit import helper, kernel

__all__ = ["official_bitmap", "official_bitmaps", "official_bitmaps_arrays", "refusals",
           "warmup"]

CANVAS = 256  # the simplified drawings' canvas
LINE_WIDTH = 16  # on the canvas
PADDING = 16  # on each side of the canvas
TOTAL = CANVAS + 2 * PADDING + LINE_WIDTH  # what the image shows, in canvas units
COORD_LIMIT = float(1 << 20)  # |x|, |y| of a point the renderer takes
FAR = 1 << 15  # pixels from the image's corner a point may land (device coordinates)
MAX_SLOTS = 1 << 16  # points a stroke's polygon may need (its contours' bound, `_slots`)
# Why a drawing is refused (the kernel's codes).
_FINE, _COORDINATE, _FAR, _LONG = range(4)


def _matrix(size: int) -> tuple[float, float, float]:
    """cairo's surface matrix for the image size: the scale, its inverse and the scaled
    translation ``fl(24 * scale)`` (cairo's own products)."""
    scale = size / TOTAL
    return scale, 1 / scale, (PADDING + LINE_WIDTH / 2) * scale


@helper
def _slots(points, pen_size):
    """The most points one contour of a stroke of ``points`` points can take: a face point,
    and a fan of at most half the pen plus its end (an outer join) or two points (an inner
    one), for each point; a cap's fan; and a few more."""
    return (points + 2) * (pen_size // 2 + 4) + pen_size + 8


@helper
def _refusal(x, y, stroke_offsets, s0, s1, scale, shift, pen_size):
    """Why drawing strokes [s0, s1) cannot be rendered exactly (_FINE if they can), and the
    point: a coordinate out of range or landing too far from the image, or a stroke too
    long for MAX_SLOTS (its first point)."""
    p0 = stroke_offsets[s0]
    p1 = stroke_offsets[s1]
    for s in range(s0, s1):
        if _slots(stroke_offsets[s + 1] - stroke_offsets[s], pen_size) > MAX_SLOTS:
            return _LONG, stroke_offsets[s]
    for p in range(p0, p1):
        if not (abs(x[p]) <= COORD_LIMIT and abs(y[p]) <= COORD_LIMIT):
            return _COORDINATE, p
    if p1 == p0:
        return _FINE, 0
    x0, y0 = _origin(x, y, p0, p1, scale, shift)
    for p in range(p0, p1):
        if (abs(fixed_from_double(scale * x[p] + x0)) > FAR * 256
                or abs(fixed_from_double(scale * y[p] + y0)) > FAR * 256):
            return _FAR, p
    return _FINE, 0


@helper
def _clip(path, n, reach, size, clip, box):
    """What cairo's compositor makes of a stroke's path (``n`` fixed-point points) before it
    strokes it: the stroke's extents (the path's, plus the line's ``reach``, rounded out to
    pixels) met with the image into ``box``; ``clip`` says whether the polygon is limited to
    that box (the extents pass the image's edge), with the box and the stroker's bounds (the
    box grown by ``reach``).  Returns False where the stroke misses the image."""
    ex0 = ex1 = path[0, 0]
    ey0 = ey1 = path[0, 1]
    for i in range(1, n):
        ex0 = min(ex0, path[i, 0])
        ex1 = max(ex1, path[i, 0])
        ey0 = min(ey0, path[i, 1])
        ey1 = max(ey1, path[i, 1])
    mx0 = (ex0 - reach) >> 8
    my0 = (ey0 - reach) >> 8
    mx1 = (ex1 + reach + 255) >> 8
    my1 = (ey1 + reach + 255) >> 8
    box[0] = max(mx0, 0)
    box[1] = max(my0, 0)
    box[2] = min(mx1, size)
    box[3] = min(my1, size)
    box[4] = mx0  # the extents, for `_trim`
    box[5] = my0
    box[6] = mx1
    box[7] = my1
    if box[0] >= box[2] or box[1] >= box[3]:
        return False
    clip[CLIPPED] = mx0 < 0 or my0 < 0 or mx1 > size or my1 > size
    clip[LX1] = box[0] * 256
    clip[LY1] = box[1] * 256
    clip[LX2] = box[2] * 256
    clip[LY2] = box[3] * 256
    clip[BX1] = clip[LX1] - reach
    clip[BY1] = clip[LY1] - reach
    clip[BX2] = clip[LX2] + reach
    clip[BY2] = clip[LY2] + reach
    return True


@helper
def _trim(ext, box):
    """``_cairo_composite_rectangles_intersect_mask_extents`` with the polygon's extents:
    the scan converter's box, ``box[:4]``, narrowed to them where that changes its size;
    False where nothing is left."""
    px0 = ext[0] >> 8
    py0 = ext[1] >> 8
    px1 = (ext[2] + 255) >> 8
    py1 = (ext[3] + 255) >> 8
    if px0 == box[4] and py0 == box[5] and px1 == box[6] and py1 == box[7]:
        return True
    mx0 = max(box[4], px0)
    my0 = max(box[5], py0)
    mx1 = min(box[6], px1)
    my1 = min(box[7], py1)
    if mx0 >= mx1 or my0 >= my1:
        return False
    bx0 = max(box[0], mx0)
    by0 = max(box[1], my0)
    bx1 = min(box[2], mx1)
    by1 = min(box[3], my1)
    if bx0 >= bx1 or by0 >= by1:
        return False
    if bx1 - bx0 != box[2] - box[0] or by1 - by0 != box[3] - box[1]:
        box[0] = bx0
        box[1] = by0
        box[2] = bx1
        box[3] = by1
    return True


@helper
def _origin(x, y, p0, p1, scale, shift):
    """The matrix's translation for a drawing of points [p0, p1): cairo's
    ``translate((256 - max x) / 2, (256 - max y) / 2)`` after ``translate(24, 24)``."""
    mx = x[p0]
    my = y[p0]
    for p in range(p0, p1):
        mx = max(mx, x[p])
        my = max(my, y[p])
    return ((CANVAS - mx) / 2.0) * scale + shift, ((CANVAS - my) / 2.0) * scale + shift


@kernel
def _bitmap_kernel(x, y, stroke_offsets, drawing_offsets, pen, scale, inverse, shift, out):
    """Renders every drawing into ``out`` (n, size, size), zeroed; returns (-1, 0, 0), or the
    first drawing refused with its reason and point (nothing is then drawn)."""
    n = len(drawing_offsets) - 1
    size = out.shape[1]
    half_width = LINE_WIDTH / 2
    reach = fixed_from_double(half_width * scale)  # cairo's max distance from the path
    for d in range(n):  # every drawing checked before the buffers are sized
        why, p = _refusal(x, y, stroke_offsets, drawing_offsets[d], drawing_offsets[d + 1],
                          scale, shift, len(pen))
        if why != _FINE:
            return d, why, p
    longest = 1
    for s in range(len(stroke_offsets) - 1):
        longest = max(longest, stroke_offsets[s + 1] - stroke_offsets[s])
    points = _slots(longest, len(pen))  # per contour
    path = np.empty((longest + 1, 2), dtype=np.int64)
    cw = np.empty((points, 2), dtype=np.int64)
    ccw = np.empty((points, 2), dtype=np.int64)
    # Both contours and a cap; clipping may cut an edge in three.
    edges = np.empty((3 * (2 * points + len(pen) + 8), 7), dtype=np.int64)
    ext = np.empty(4, dtype=np.int64)
    clip = np.zeros(9, dtype=np.int64)
    box = np.empty(8, dtype=np.int64)
    e = np.empty((EDGE_ROWS, len(edges) + 2), dtype=np.int64)
    buckets = np.empty(size, dtype=np.int64)
    sub = np.empty(GRID_Y, dtype=np.int64)
    cells = np.zeros((2, size + 2), dtype=np.int64)
    st = np.empty(2, dtype=np.int64)
    for d in range(n):
        s0 = drawing_offsets[d]
        s1 = drawing_offsets[d + 1]
        p0 = stroke_offsets[s0]
        p1 = stroke_offsets[s1]
        if p1 == p0 or len(pen) == 0:
            continue
        x0, y0 = _origin(x, y, p0, p1, scale, shift)
        surface = out[d]
        for s in range(s0, s1):
            a = stroke_offsets[s]
            b = stroke_offsets[s + 1]
            if a == b:
                continue
            m = path_points(x, y, a, b, scale, x0, y0, path)
            if not _clip(path, m, reach, size, clip, box):
                continue
            ne = stroke_polygon(path, m, pen, half_width, scale, inverse, cw, ccw, edges, ext,
                                clip)
            if _trim(ext, box):
                fill_polygon(edges, ne, ext, box, surface, e, buckets, sub, cells, st)
    return -1, _FINE, 0


def official_bitmaps_arrays(x: np.ndarray, y: np.ndarray, stroke_offsets: np.ndarray,
                            drawing_offsets: np.ndarray, size: int = 28,
                            line: np.ndarray | None = None) -> np.ndarray:
    """`official_bitmaps` of a batch's flat arrays (see `Drawings`), trusted to be
    consistent; ``line`` names drawings in errors (None: a single drawing)."""
    if not 1 <= size <= 4096:
        raise ValueError(f"size must be from 1 to 4096 pixels, got {size}")
    scale, inverse, shift = _matrix(size)
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    stroke_offsets = np.ascontiguousarray(stroke_offsets, dtype=np.int64)
    drawing_offsets = np.ascontiguousarray(drawing_offsets, dtype=np.int64)
    out = np.zeros((len(drawing_offsets) - 1, size, size), dtype=np.uint8)
    bad, why, p = _bitmap_kernel(x, y, stroke_offsets, drawing_offsets, _pen(size), scale,
                                 inverse, shift, out)
    if bad >= 0:
        where = "the drawing" if line is None else f"drawing {bad}"
        if line is not None and line[bad] > 0:
            where += f" (line {line[bad]})"
        raise ValueError(where + _why(x, y, stroke_offsets, drawing_offsets, bad, why, p))
    return out


def official_bitmaps(drawings: Drawings, size: int = 28) -> np.ndarray:
    """The official ``numpy_bitmap`` rendering of every drawing: uint8 (n, size, size), byte
    for byte what Google's cairo drew (at 28, the rows of the official ``.npy`` files
    reshaped).  A stroke without points draws nothing; a drawing without points is black.

    Raises ValueError naming the drawing (its index and line) if one has a coordinate that
    is not finite, beyond +-2**20 or landing beyond 2**15 pixels from the image, or a stroke
    too long (see the module); `refusals` finds them ahead.
    """
    return official_bitmaps_arrays(drawings.x, drawings.y, drawings.stroke_offsets,
                                   drawings.drawing_offsets, size, drawings.line)


def official_bitmap(drawing: dict, size: int = 28) -> np.ndarray:
    """`official_bitmaps` of one drawing, a dict as `fastdraw.loadn` or the notebook's
    ``convert`` give it (``drawing``: strokes of x and y lists or arrays): uint8
    (size, size)."""
    strokes = drawing["drawing"]
    lengths = [len(s[0]) for s in strokes]
    x = np.concatenate([np.asarray(s[0], dtype=np.float64) for s in strokes]) if strokes \
        else np.zeros(0)
    y = np.concatenate([np.asarray(s[1], dtype=np.float64) for s in strokes]) if strokes \
        else np.zeros(0)
    if any(len(s[1]) != n for s, n in zip(strokes, lengths)):
        raise ValueError("a stroke's x and y differ in length")
    offsets = np.zeros(len(strokes) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return official_bitmaps_arrays(x, y, offsets, np.array([0, len(strokes)]), size)[0]


def refusals(drawings: Drawings, size: int = 28) -> dict[int, str]:
    """The drawings of the batch that `official_bitmaps` would refuse, by index, and why."""
    scale, _, shift = _matrix(size)
    x = np.ascontiguousarray(drawings.x, dtype=np.float64)
    y = np.ascontiguousarray(drawings.y, dtype=np.float64)
    so = np.ascontiguousarray(drawings.stroke_offsets, dtype=np.int64)
    do = np.ascontiguousarray(drawings.drawing_offsets, dtype=np.int64)
    what = np.zeros((len(drawings), 2), dtype=np.int64)
    _refusal_kernel(x, y, so, do, scale, shift, len(_pen(size)), what)
    return {d: "the drawing" + _why(x, y, so, do, d, int(what[d, 0]), int(what[d, 1]))
            for d in np.flatnonzero(what[:, 0]).tolist()}


@kernel
def _refusal_kernel(x, y, stroke_offsets, drawing_offsets, scale, shift, pen_size, what):
    for d in range(len(drawing_offsets) - 1):
        why, p = _refusal(x, y, stroke_offsets, drawing_offsets[d], drawing_offsets[d + 1],
                          scale, shift, pen_size)
        what[d, 0] = why
        what[d, 1] = p


def _why(x: np.ndarray, y: np.ndarray, stroke_offsets: np.ndarray,
         drawing_offsets: np.ndarray, d: int, why: int, p: int) -> str:
    """The end of a refusal's message: which point, what is wrong, what to do."""
    s = int(np.searchsorted(stroke_offsets, p, side="right")) - 1
    where = f": stroke {s - int(drawing_offsets[d])} point {p - int(stroke_offsets[s])}"
    if why == _COORDINATE:
        return (f"{where}: ({float(x[p])!r}, {float(y[p])!r}) is not a finite coordinate "
                f"within +-2**20; drop the drawing or bring its coordinates into range")
    if why == _LONG:
        points = int(stroke_offsets[s + 1] - stroke_offsets[s])
        return (f": stroke {s - int(drawing_offsets[d])} has {points} points, more than the "
                "renderer takes at this size (its polygon could pass "
                f"{MAX_SLOTS} points); simplify the stroke or split it")
    return (f"{where}: ({float(x[p])!r}, {float(y[p])!r}) lands more than 2**15 pixels from "
            "the image; drop the drawing or bring its coordinates nearer (the official "
            "bitmaps are drawn from the simplified format, coordinates 0 to 255)")


_PENS: dict[int, np.ndarray] = {}


def _pen(size: int) -> np.ndarray:
    """cairo's pen for the line width at this size (made once per size)."""
    pen = _PENS.get(size)
    if pen is None:
        pen = _PENS.setdefault(size, make_pen(LINE_WIDTH / 2, _matrix(size)[0],
                                              CAIRO_TOLERANCE))
    return pen


def warmup() -> None:
    """Compiles (or loads from numba's cache) the kernels, before forking workers."""
    official_bitmaps_arrays(np.array([0.0, 10.0, 20.0, 5.0]), np.array([0.0, 5.0, 0.0, 5.0]),
                            np.array([0, 3, 4]), np.array([0, 2]), 28)
    refusals(Drawings.from_dicts([]), 28)
