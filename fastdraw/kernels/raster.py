"""Exact rasterizer: the notebook's ``json_to_img`` pixels, from one numba kernel.

The notebook draws every segment of every stroke with Pillow's
``ImageDraw.line(width=lw)`` on a black 'L' image, after normalizing the
coordinates in float32.  This module reproduces that pixel for pixel:

- the float32 normalization (NumPy 2 / NEP 50 semantics): ``min * 0.95`` and
  ``max * 1.05`` per axis over the points of strokes with a segment,
  ``max(max_ - min_, 1)``, or ``/ 1024`` when not maximizing, then
  ``* img_sz``; Pillow truncates each coordinate to int;
- width 1: Pillow's Bresenham ``line8`` (which stops before the end point)
  followed by the end point that ``_draw_lines`` adds;
- width > 1: Pillow's ``ImagingDrawWideLine`` (a 4-vertex polygon from
  ROUND_UP / ROUND_DOWN offsets over libm's ``hypot``, a single pixel for a
  zero-length segment) filled by ``polygon_generic``: float32 edge slopes and
  crossings, its duplicated edge ends, its corner rule and its span rounding.

Ported from Pillow 13.0's ``src/libImaging/Draw.c`` and ``src/_imaging.c``;
the tests compare against the installed Pillow.  Image coordinates (after
scaling) must lie within +-2**29, where Pillow's C int arithmetic cannot overflow;
a drawing with a point beyond (or NaN) is refused with a ValueError that names it.
The kernel never writes outside its canvas, and its work per segment is bounded
by the image size, whatever the coordinates.

Where it saves time, always with Pillow's pixels (each shortcut says why it is exact):
rows of a true parallelogram are one run from the least to the greatest crossing, so
only the rare corner-rule rows and degenerate polygons run ``polygon_generic`` as
written; ``hypot``'s offsets are memoized; in a batch, a segment shape's rows are
computed once and moved by whole pixels ("stamps"); rows are set as uint64 words of 8
pixels on a small canvas that is copied out once per drawing.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from fastdraw.drawings import Drawings
from fastdraw.kernels.jit import helper, kernel

__all__ = ["rasterize", "rasterize_arrays", "warmup"]

_F32 = np.float32
# Edge extent that no row reaches: marks a horizontal edge as absent from the edge table.
_NEVER = 1 << 62
# Up to this coordinate size, float32 crossings are exact to far better than the 0.1 pixel
# the single-run rows and the corner pre-check below rely on.
_EXACT_RUN_LIMIT = 1 << 16
# Image coordinates (after the notebook's scaling) must lie strictly within +-_COORD_LIMIT.
# Pillow converts each one to a C int with a plain cast and works in C ints: within the limit
# no value it computes overflows (line8's doubled deltas stay below 2**31, and so do the wide
# line's vertices and edge deltas for line widths up to 2**30), so its pixels are those of
# exact integer arithmetic, which the kernel does in int64.  Beyond it (and for NaN or
# infinity) Pillow's casts and sums overflow, which C leaves undefined: what it draws then
# depends on its compiler, so such a drawing is refused with a clear error instead.
_COORD_BITS = 29
_COORD_LIMIT = float(1 << _COORD_BITS)
# The corner rule only moves a crossing where both edges at a vertex have |dx/dy| near 1
# or more (float32 error allowed for); other vertex rows need no check.
_CORNER_SLOPE = 0.9
# Stamps: a segment's rows, relative to its start point, computed once per (dx, dy) at
# x = _STAMP_X and reused where the segment's polygon lies in -_STAMP_LIMIT < x < _STAMP_LIMIT.
_STAMP_X = 512
_STAMP_LIMIT = 1000
_STAMP_HEAD = 5
_ALL = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
_LITTLE = sys.byteorder == "little"
# Plain booleans for the helpers' flag arguments: a literal one compiles a helper once for
# each value.
_FALSE, _TRUE = np.array([False, True])


@kernel
def _roundf(v):
    """C ``roundf`` of a float32: half away from zero (exact in float64)."""
    a = math.floor(abs(np.float64(v)) + 0.5)
    return _F32(a if v >= 0 else -a)


@kernel
def _round_up32(f):
    """Pillow's ROUND_UP of a float32 (its positive branch adds 0.5F in float32)."""
    if f >= 0:
        return int(math.floor(np.float64(f + _F32(0.5))))
    return -int(math.floor(abs(np.float64(f)) + 0.5))


@kernel
def _round_down32(f):
    """Pillow's ROUND_DOWN of a float32 (its positive branch subtracts 0.5F in float32)."""
    if f >= 0:
        return int(math.ceil(np.float64(f - _F32(0.5))))
    return -int(math.ceil(abs(np.float64(f)) - 0.5))


@kernel
def _round_up64(f):
    """Pillow's ROUND_UP of a double."""
    if f >= 0:
        return int(math.floor(f + 0.5))
    return -int(math.floor(abs(f) + 0.5))


@kernel
def _round_down64(f):
    """Pillow's ROUND_DOWN of a double."""
    if f >= 0:
        return int(math.ceil(f - 0.5))
    return -int(math.ceil(abs(f) - 0.5))


@kernel
def _edge_x(y, ex0, ey0, edx):
    """polygon_generic's float32 crossing ``(y - y0) * dx + x0`` of row ``y`` with an edge."""
    return _F32(y - ey0) * edx + _F32(ex0)


@kernel
def _wide_offsets(dx, dy, ru, rd):
    """ImagingDrawWideLine's (dxmin, dxmax, dymin, dymax) for a segment of (dx, dy) != (0, 0),
    given ``ru`` = ROUND_UP and ``rd`` = ROUND_DOWN of ``(width - 1) / 2``."""
    big = math.hypot(dx, dy)
    ratio_max = ru / big
    ratio_min = rd / big
    return (
        _round_down64(ratio_min * dy),
        _round_down64(ratio_max * dy),
        _round_down64(ratio_min * dx),
        _round_down64(ratio_max * dx),
    )


@kernel
def _span_words(lo, hi):
    """Pixels lo..hi (0 <= lo <= hi) of a row stored as uint64 words of 8 pixels: the first
    and last word and their masks (the masks share a word when lo and hi do)."""
    w0 = lo >> 3
    w1 = hi >> 3
    if _LITTLE:
        m0 = _ALL << np.uint64(8 * (lo & 7))
        m1 = _ALL >> np.uint64(8 * (7 - (hi & 7)))
    else:
        m0 = _ALL >> np.uint64(8 * (lo & 7))
        m1 = _ALL << np.uint64(8 * (7 - (hi & 7)))
    if w0 == w1:
        return w0, m0 & m1, w1, np.uint64(0)
    return w0, m0, w1, m1


@kernel
def _scaled(v, mn, r, fsz):
    """The notebook's ``(v - min_) / range * img_sz`` in float32 (as a float64: exact), which
    Pillow truncates to a C int once it is within ``_COORD_LIMIT``."""
    return np.float64((_F32(v) - mn) / r * fsz)


@kernel
def _make_stamp(pool, dx, dy, dxmin, dxmax, dymin, dymax):
    """Adds the rows of the wide segment (dx, dy) (offsets from ImagingDrawWideLine) drawn
    from (_STAMP_X, 0) to ``pool``; returns where (header: top row, rows, least and greatest
    vertex x, all relative to the start point, and 1 if the stamp is only for x >= 1; then
    each row's first and last pixel), or -1 if this segment must be drawn directly.

    A row's run is ROUND_UP / ROUND_DOWN of float32 sums ``(y - y_i) * slope_i + x_i``:
    moving the segment by whole pixels moves the run with it, because the products do not
    move, unless a product sits within float32 rounding of a half pixel without being one
    (then where the sum is rounded matters: refused here).  Left of the image Pillow rounds
    the other way, which after clipping to x >= 0 only shows on a row ending at exactly
    x = -0.5 (pixel 0 is set): the header flag keeps such stamps away from the left edge.
    Where the corner rule may act (see the kernel) the stamp is made only if the rule moves
    nothing and would not elsewhere (its crossings exact, x >= 1).  Refused as well:
    degenerate polygons and a full pool.  ``pool[0]`` counts the entries in use."""
    x0 = _STAMP_X
    bx = x0 + dx
    vx = (x0 - dxmin, bx - dxmin, bx + dxmax, x0 + dxmax)
    vy = (dymax, dy + dymax, dy - dymin, -dymin)
    cap_dy = dymax + dymin
    if (dxmin + dxmax) * dy + cap_dy * dx == 0:
        return -1
    slope_long = _F32(dx) / _F32(dy) if dy != 0 else _F32(0)
    slope_cap = _F32(-(dxmin + dxmax)) / _F32(cap_dy) if cap_dy != 0 else _F32(0)
    slopes = (slope_long, slope_cap, slope_long, slope_cap)
    only_from_x1 = 0
    top = min(vy[0], vy[1], vy[2], vy[3])
    bottom = max(vy[0], vy[1], vy[2], vy[3])
    n = bottom - top + 1
    if abs(slope_long) >= _CORNER_SLOPE and abs(slope_cap) >= _CORNER_SLOPE:
        # Rows of the image only see this polygon's corner rule as it acts here, with its
        # whole height (a bottom row past the image is not drawn): a stamp only if the rule
        # surely moves nothing.
        ylo = (min(vy[0], vy[1]) if dy != 0 else _NEVER, min(vy[1], vy[2]) if cap_dy else _NEVER,
               min(vy[2], vy[3]) if dy != 0 else _NEVER, min(vy[3], vy[0]) if cap_dy else _NEVER)
        yhi = (max(vy[0], vy[1]) if dy != 0 else -_NEVER,
               max(vy[1], vy[2]) if cap_dy else -_NEVER,
               max(vy[2], vy[3]) if dy != 0 else -_NEVER,
               max(vy[3], vy[0]) if cap_dy else -_NEVER)
        if _corner_rows(vx, vy, ylo, yhi, slopes, top, bottom, bottom, _TRUE) != 0:
            return -1
        only_from_x1 = 1
    at = pool[0]
    if at + _STAMP_HEAD + 2 * n > len(pool):
        return -1
    for i in range(n):
        yr = top + i
        left = _F32(np.inf)
        right = _F32(-np.inf)
        for c in range(4):
            ya = vy[c]
            yb = vy[(c + 1) % 4]
            if ya == yb or yr < min(ya, yb) or yr > max(ya, yb):
                continue
            product = _F32(yr - ya) * slopes[c]
            off_half = np.float64(product) - math.floor(np.float64(product)) - 0.5
            if off_half != 0 and abs(off_half) < 2.0**-12:
                return -1
            v = product + _F32(vx[c])
            left = min(left, v)
            right = max(right, v)
        if not left <= right:
            return -1
        if np.float64(right) - math.floor(np.float64(right)) == 0.5:
            only_from_x1 = 1
        pool[at + _STAMP_HEAD + 2 * i] = _round_up32(left) - x0
        pool[at + _STAMP_HEAD + 1 + 2 * i] = _round_down32(right) - x0
    pool[at] = top
    pool[at + 1] = n
    pool[at + 2] = min(vx[0], vx[1], vx[2], vx[3]) - x0
    pool[at + 3] = max(vx[0], vx[1], vx[2], vx[3]) - x0
    pool[at + 4] = only_from_x1
    pool[0] = at + _STAMP_HEAD + 2 * n
    return at


@kernel
def _fill(canvas64, base, lo, hi):
    """Sets pixels lo..hi (0 <= lo <= hi) of the row of ``canvas64`` (uint64 words of 8 pixels)
    that starts at word ``base``."""
    w0, m0, w1, m1 = _span_words(lo, hi)
    canvas64[np.uint64(base + w0)] |= m0
    canvas64[np.uint64(base + w1)] |= m1
    for w in range(w0 + 1, w1):
        canvas64[np.uint64(base + w)] = _ALL


@helper
def _sort_few(xx, j):
    """Sorts ``xx[:j]`` (a scanline's few crossings) in place: an insertion sort, cheaper to
    compile and to run than numpy's sort for so few."""
    for a in range(1, j):
        v = xx[a]
        b = a - 1
        while b >= 0 and xx[b] > v:
            xx[b + 1] = xx[b]
            b -= 1
        xx[b + 1] = v


@kernel
def _generic_rows(canvas64, words, sz, vx, vy, edx, pymax, first, last):
    """polygon_generic for rows ``first..last`` of a 4-edge polygon (edge i from vertex i to
    i + 1, slopes ``edx``), as Pillow writes it: horizontal edges drawn as lines, the others
    crossed by each scanline, ends duplicated, the corner rule, sorted pairs filled."""
    xx = np.empty(8, np.float32)
    ylo = np.empty(4, np.int64)
    yhi = np.empty(4, np.int64)
    for i in range(4):
        ya = vy[i]
        yb = vy[(i + 1) % 4]
        if ya != yb:
            ylo[i] = min(ya, yb)
            yhi[i] = max(ya, yb)
            continue
        ylo[i] = _NEVER
        yhi[i] = -_NEVER
        lo = max(min(vx[i], vx[(i + 1) % 4]), 0)
        hi = min(max(vx[i], vx[(i + 1) % 4]), sz - 1)
        if first <= ya <= last and 0 <= ya < sz and lo <= hi:
            _fill(canvas64, ya * words, lo, hi)
    for yr in range(max(first, 0), min(last, sz - 1) + 1):
        j = 0
        for c in range(4):
            if yr < ylo[c] or yr > yhi[c]:
                continue
            xx[j] = _edge_x(yr, vx[c], vy[c], edx[c])
            j += 1
            if yr == yhi[c] and yr < pymax:
                xx[j] = xx[j - 1]
                j += 1
            elif (yr == ylo[c] or yr == yhi[c]) and edx[c] != 0:
                # "Connect discontiguous corners"
                for o in range(c):
                    if (yr != ylo[o] and yr != yhi[o]) or edx[o] == 0:
                        continue
                    if _roundf(xx[j - 1]) != _roundf(_edge_x(yr, vx[o], vy[o], edx[o])):
                        continue
                    yo = yr - 1 if yr == yhi[c] else yr + 1
                    if yo < ylo[o] or yo > yhi[o]:
                        continue
                    adj = _edge_x(yo, vx[c], vy[c], edx[c])
                    adj_o = _edge_x(yo, vx[o], vy[o], edx[o])
                    v = xx[j - 1]
                    if v > adj + _F32(1) and v > adj_o + _F32(1):
                        xx[j - 1] = _roundf(max(adj, adj_o)) + _F32(1)
                    elif v < adj - _F32(1) and v < adj_o - _F32(1):
                        xx[j - 1] = _roundf(min(adj, adj_o)) - _F32(1)
                    break
        _sort_few(xx, j)
        for a in range(1, j, 2):
            lo = max(_round_up32(xx[a - 1]), 0)
            hi = min(_round_down32(xx[a]), sz - 1)
            if lo <= hi:
                _fill(canvas64, yr * words, lo, hi)


@kernel
def _coarse(product):
    """A multiple of 2**-10: added to a whole coordinate below 2**13 it stays exact."""
    scaled = np.float64(product) * 1024.0
    return scaled == math.floor(scaled)


@kernel
def _corner_rows(vx, vy, ylo, yhi, edx, first, last, pymax, exact_only):
    """Bit k set: polygon_generic's corner rule moves a crossing on vertex k's row.

    With ``exact_only``: -1 unless every crossing the rule looks at is exact (its product a
    multiple of 2**-10), so that the rule decides the same for the polygon moved by whole
    pixels (to x >= 1: roundf rounds halves away from zero)."""
    mask = 0
    for k in range(4):
        yv = vy[k]
        if yv < first or yv > last:
            continue
        for c in range(4):
            if yv < ylo[c] or yv > yhi[c] or edx[c] == 0:
                continue
            if yv != ylo[c] and yv != yhi[c]:
                continue
            if yv == yhi[c] and yv < pymax:
                continue
            pc = _F32(yv - vy[c]) * edx[c]
            vc = pc + _F32(vx[c])
            for o in range(c):
                if (yv != ylo[o] and yv != yhi[o]) or edx[o] == 0:
                    continue
                po = _F32(yv - vy[o]) * edx[o]
                if exact_only and not (_coarse(pc) and _coarse(po)):
                    return -1
                if _roundf(vc) != _roundf(po + _F32(vx[o])):
                    continue
                yo = yv - 1 if yv == yhi[c] else yv + 1
                if yo < ylo[o] or yo > yhi[o]:
                    continue
                pa = _F32(yo - vy[c]) * edx[c]
                pa_o = _F32(yo - vy[o]) * edx[o]
                if exact_only and not (_coarse(pa) and _coarse(pa_o)):
                    return -1
                adj = pa + _F32(vx[c])
                adj_o = pa_o + _F32(vx[o])
                if (vc > adj + _F32(1) and vc > adj_o + _F32(1)) or (
                    vc < adj - _F32(1) and vc < adj_o - _F32(1)
                ):
                    mask |= 1 << k
                break
    return mask


@helper
def _line8(pad, a0, b0, da, db, sz, a_is_x):
    """Pillow's line8 from (a0, b0) along major axis a (|da| >= |db|, stopping before the
    end point), for ``pad[b, a]`` if ``a_is_x`` else ``pad[a, b]``.  Its step j (0 <= j <
    |da|) sets minor offset k_j = floor((2 |db| j + |da|) / (2 |da|)), with error term
    2 |db| (j + 1) - |da| - 2 |da| k_j; so the walk starts where the major axis enters the
    image and stops where it leaves: at most ``sz`` steps, however far the ends are."""
    sa = 1 if da >= 0 else -1
    sb = 1 if db >= 0 else -1
    da = abs(da)
    db = abs(db)
    jlo = max(0, -a0) if sa > 0 else max(0, a0 - sz + 1)
    jhi = min(da, sz - a0) if sa > 0 else min(da, a0 + 1)
    e = 2 * db - da
    cb = b0
    if 0 < jlo < jhi:
        k = (2 * db * jlo + da) // (2 * da)
        e += 2 * db * jlo - 2 * da * k
        cb += sb * k
    ca = a0 + sa * jlo
    for _ in range(jhi - jlo):
        if 0 <= cb < sz:
            if a_is_x:
                pad[cb, ca] = 255
            else:
                pad[ca, cb] = 255
        if e >= 0:
            cb += sb
            e -= 2 * da
        e += 2 * db
        ca += sa


@helper
def _normalization(x, y, stroke_offsets, s0, s1, maximize):
    """The notebook's normalization of the drawing of strokes s0..s1, over the points of
    strokes that have a segment: (segments, min x, min y, range x, range y) in float32."""
    xmin = _F32(np.inf)
    xmax = _F32(-np.inf)
    ymin = _F32(np.inf)
    ymax = _F32(-np.inf)
    segments = 0
    for s in range(s0, s1):
        p0 = stroke_offsets[s]
        p1 = stroke_offsets[s + 1]
        if p1 - p0 < 2:
            continue
        segments += p1 - p0 - 1
        for p in range(p0, p1):
            xmin = min(xmin, _F32(x[p]))
            xmax = max(xmax, _F32(x[p]))
            ymin = min(ymin, _F32(y[p]))
            ymax = max(ymax, _F32(y[p]))
    if maximize:
        mnx = xmin * _F32(0.95)
        mny = ymin * _F32(0.95)
        rx = xmax * _F32(1.05) - mnx
        ry = ymax * _F32(1.05) - mny
        if _F32(1) > rx:
            rx = _F32(1)
        if _F32(1) > ry:
            ry = _F32(1)
    else:
        mnx = _F32(0)
        mny = _F32(0)
        rx = _F32(1024)
        ry = _F32(1024)
    return segments, mnx, mny, rx, ry


@helper
def _refused_point(x, y, stroke_offsets, s0, s1, mnx, mny, rx, ry, fsz):
    """The first point the notebook draws (one of a stroke with a segment) whose x (1) or y
    (2) does not scale to within +-_COORD_LIMIT: (1 or 2, point, scaled value), or (0, 0,
    0.0)."""
    for s in range(s0, s1):
        p0 = stroke_offsets[s]
        p1 = stroke_offsets[s + 1]
        if p1 - p0 < 2:
            continue
        for p in range(p0, p1):
            fx = _scaled(x[p], mnx, rx, fsz)
            fy = _scaled(y[p], mny, ry, fsz)
            if not abs(fx) < _COORD_LIMIT:
                return 1, p, fx
            if not abs(fy) < _COORD_LIMIT:
                return 2, p, fy
    return 0, 0, 0.0


@kernel
def _refusal_kernel(x, y, stroke_offsets, drawing_offsets, img_sz, maximize, what, point, value):
    """For every drawing d, what `_rasterize_kernel` would refuse in it: ``what[d]`` 0 (it
    can be drawn), else as the kernel's ``what``, with ``point[d]`` and ``value[d]``."""
    fsz = _F32(img_sz)
    for d in range(len(drawing_offsets) - 1):
        s0 = drawing_offsets[d]
        s1 = drawing_offsets[d + 1]
        segments, mnx, mny, rx, ry = _normalization(x, y, stroke_offsets, s0, s1, maximize)
        if segments == 0:
            what[d] = -1 if maximize else 0  # -1: no segment
            continue
        what[d], point[d], value[d] = _refused_point(x, y, stroke_offsets, s0, s1, mnx, mny,
                                                     rx, ry, fsz)


@kernel
def _rasterize_kernel(
    x, y, stroke_offsets, drawing_offsets, img_sz, lw, maximize, memo, stamps, pool, out, out64,
    pad, pad64,
):
    """Draws drawing ``d`` into ``out[d]`` for every d; returns ``(-1, 0, 0, 0.0)``, or stops
    at the first drawing it cannot draw and returns ``(d, what, p, value)``: ``what`` 0 if it
    has no segment (only refused when maximizing, as the notebook fails then; otherwise its
    image is black), 1 or 2 if point ``p``'s x or y scales to ``value``, not within
    +-_COORD_LIMIT (or not a number).  Only points of strokes with a segment are drawn, scaled
    and checked, as in the notebook.

    Each drawing is drawn on ``pad`` (zeroed, rows of ``8 * words`` bytes, words =
    ceil(img_sz / 8)) and ``pad64`` (the same memory: flat uint64 words of 8 pixels), a
    canvas that stays in cache, then copied to ``out[d]`` (which need not be zeroed) --
    through ``out64`` (``out`` viewed as (N, img_sz * img_sz / 8) uint64) when
    ``img_sz % 8 == 0`` -- and cleared.

    ``memo`` (int32, zeroed, (T, T)) caches the wide-line offsets of |dx|, |dy| < T: Pillow
    takes them from libm's ``hypot`` (not always the correctly rounded ``sqrt``), which is
    slow; they are symmetric in the signs of dx and dy.  T = 0 disables it.

    ``stamps`` (int32, zeroed, (2S + 1, 2S + 1)) maps (dx, dy) of |dx|, |dy| <= S to a wide
    segment's rows in ``pool`` (see _make_stamp; 0: not made yet, -1: draw directly); S = 0
    disables them.

    The hot path passes arrays to no helper but the rare ones (making a stamp, degenerate
    polygons, corner rows): a numba call taking arrays costs atomic reference counting.
    """
    sz = img_sz
    words = pad.shape[1] // 8
    fsz = _F32(img_sz)
    direct = sz % 8 == 0
    ru = _round_up64((lw - 1) / 2.0)
    rd = _round_down64((lw - 1) / 2.0)
    # The scaled points of one drawing.
    most = 0
    for d in range(len(drawing_offsets) - 1):
        first = stroke_offsets[drawing_offsets[d]]
        most = max(most, stroke_offsets[drawing_offsets[d + 1]] - first)
    px = np.empty(most, np.int64)
    py = np.empty(most, np.int64)
    for d in range(len(drawing_offsets) - 1):
        s0 = drawing_offsets[d]
        s1 = drawing_offsets[d + 1]
        segments, mnx, mny, rx, ry = _normalization(x, y, stroke_offsets, s0, s1, maximize)
        if segments == 0 and maximize:
            return d, 0, 0, 0.0
        q0 = stroke_offsets[s0]
        inside = True
        for p in range(q0, stroke_offsets[s1]):
            fx = _scaled(x[p], mnx, rx, fsz)
            fy = _scaled(y[p], mny, ry, fsz)
            # Both false for NaN.
            x_in = abs(fx) < _COORD_LIMIT
            y_in = abs(fy) < _COORD_LIMIT
            inside &= x_in & y_in
            px[p - q0] = int(fx) if x_in else 0
            py[p - q0] = int(fy) if y_in else 0
        if not inside:
            what, p, value = _refused_point(x, y, stroke_offsets, s0, s1, mnx, mny, rx, ry, fsz)
            if what:
                return d, what, p, value
        for s in range(s0, s1):
            p0 = stroke_offsets[s] - q0
            p1 = stroke_offsets[s + 1] - q0
            if p1 - p0 < 2:
                continue
            bx = px[p0]
            by = py[p0]
            for p in range(p0 + 1, p1):
                x0 = bx
                y0 = by
                bx = px[p]
                by = py[p]
                dx = bx - x0
                dy = by - y0
                if lw <= 1 or (dx == 0 and dy == 0):
                    # line8 (Bresenham, stopping before the end point) + the end point; for
                    # a zero-length wide segment only the end point: ImagingDrawWideLine's point.
                    # line8 steps along the major axis: x if |dx| > |dy| (its horizontal
                    # and dx > dy cases), else y (its vertical and dy >= dx cases).
                    if abs(dx) > abs(dy):
                        _line8(pad, x0, y0, dx, dy, sz, _TRUE)
                    else:
                        _line8(pad, y0, x0, dy, dx, sz, _FALSE)
                    if 0 <= bx < sz and 0 <= by < sz:
                        pad[by, bx] = 255
                    continue
                adx = abs(dx)
                ady = abs(dy)
                reach = stamps.shape[0] // 2
                if adx <= reach and ady <= reach:
                    at = stamps[dx + reach, dy + reach]
                    if at == 0:
                        o0, o1, o2, o3 = _wide_offsets(adx, ady, ru, rd)
                        sy = 1 if dy >= 0 else -1
                        sx = 1 if dx >= 0 else -1
                        at = _make_stamp(pool, dx, dy, sy * o0, sy * o1, sx * o2, sx * o3)
                        stamps[dx + reach, dy + reach] = at
                    if (
                        at > 0
                        and x0 + pool[at + 3] < _STAMP_LIMIT
                        and x0 + pool[at + 2] > (0 if pool[at + 4] else -_STAMP_LIMIT)
                    ):
                        top = y0 + pool[at]
                        row = at + _STAMP_HEAD
                        for i in range(max(0, -top), min(pool[at + 1], sz - top)):
                            lo = max(x0 + pool[row + 2 * i], 0)
                            hi = min(x0 + pool[row + 1 + 2 * i], sz - 1)
                            if lo <= hi:
                                w0, m0, w1, m1 = _span_words(lo, hi)
                                base = (top + i) * words
                                pad64[np.uint64(base + w0)] |= m0
                                pad64[np.uint64(base + w1)] |= m1
                                for w in range(w0 + 1, w1):
                                    pad64[np.uint64(base + w)] = _ALL
                        continue
                # ImagingDrawWideLine: the segment's 4-vertex polygon ...
                if adx < memo.shape[0] and ady < memo.shape[0]:
                    packed = memo[adx, ady]
                    if packed == 0:
                        o0, o1, o2, o3 = _wide_offsets(adx, ady, ru, rd)
                        packed = (1 << 30) | o0 | (o1 << 7) | (o2 << 14) | (o3 << 21)
                        memo[adx, ady] = packed
                    sy = 1 if dy >= 0 else -1
                    sx = 1 if dx >= 0 else -1
                    dxmin = sy * (packed & 127)
                    dxmax = sy * ((packed >> 7) & 127)
                    dymin = sx * ((packed >> 14) & 127)
                    dymax = sx * ((packed >> 21) & 127)
                else:
                    dxmin, dxmax, dymin, dymax = _wide_offsets(dx, dy, ru, rd)
                v0x = x0 - dxmin
                v0y = y0 + dymax
                v1x = bx - dxmin
                v1y = by + dymax
                v2x = bx + dxmax
                v2y = by - dymin
                v3x = x0 + dxmax
                v3y = y0 - dymin
                # ... filled by polygon_generic.  Edge i runs from vertex i to i + 1: edges 0
                # and 2 along the segment, 1 and 3 across its ends, opposite edges sharing a
                # slope; horizontal ones are left out of the scanlines (here: never met).
                cap_dy = dymax + dymin
                slope_long = _F32(dx) / _F32(dy) if dy != 0 else _F32(0)
                slope_cap = _F32(-(dxmin + dxmax)) / _F32(cap_dy) if cap_dy != 0 else _F32(0)
                e0lo = e2lo = e1lo = e3lo = _NEVER
                e0hi = e2hi = e1hi = e3hi = -_NEVER
                if dy != 0:
                    e0lo = min(v0y, v1y)
                    e0hi = max(v0y, v1y)
                    e2lo = min(v2y, v3y)
                    e2hi = max(v2y, v3y)
                if cap_dy != 0:
                    e1lo = min(v1y, v2y)
                    e1hi = max(v1y, v2y)
                    e3lo = min(v3y, v0y)
                    e3hi = max(v3y, v0y)
                pymin = max(min(sz - 1, v0y, v1y, v2y, v3y), 0)
                pymax = min(max(0, v0y, v1y, v2y, v3y), sz)
                yhi = min(pymax, sz - 1)
                vxs = (v0x, v1x, v2x, v3x)
                vys = (v0y, v1y, v2y, v3y)
                slopes = (slope_long, slope_cap, slope_long, slope_cap)
                # The filled part of a row is the pairs of its sorted crossings.  For a true
                # parallelogram (lw >= 2, vertices not collinear) that is one run from the
                # least to the greatest crossing of the edges the row meets (a horizontal
                # edge's line lies within it): the crossings cluster at the row's left and
                # right boundary points, and the duplicated edge ends keep the pairing across.
                # Only the corner rule can move a crossing, at vertex rows where both edges
                # are shallow: those rows, degenerate polygons and huge coordinates go
                # through polygon_generic as written.
                if (dxmin + dxmax) * dy + cap_dy * dx == 0 or max(
                    abs(x0), abs(y0), abs(bx), abs(by)
                ) > _EXACT_RUN_LIMIT:
                    _generic_rows(pad64, words, sz, vxs, vys, slopes, pymax, pymin, yhi)
                    continue
                corners = 0
                if abs(slope_long) >= _CORNER_SLOPE and abs(slope_cap) >= _CORNER_SLOPE:
                    corners = _corner_rows(vxs, vys, (e0lo, e1lo, e2lo, e3lo),
                                           (e0hi, e1hi, e2hi, e3hi), slopes, pymin, yhi, pymax,
                                           _FALSE)
                f0x = _F32(v0x)
                f1x = _F32(v1x)
                f2x = _F32(v2x)
                f3x = _F32(v3x)
                for yr in range(pymin, yhi + 1):
                    left = _F32(np.inf)
                    right = _F32(-np.inf)
                    if e0lo <= yr <= e0hi:
                        v = _F32(yr - v0y) * slope_long + f0x
                        left = min(left, v)
                        right = max(right, v)
                    if e1lo <= yr <= e1hi:
                        v = _F32(yr - v1y) * slope_cap + f1x
                        left = min(left, v)
                        right = max(right, v)
                    if e2lo <= yr <= e2hi:
                        v = _F32(yr - v2y) * slope_long + f2x
                        left = min(left, v)
                        right = max(right, v)
                    if e3lo <= yr <= e3hi:
                        v = _F32(yr - v3y) * slope_cap + f3x
                        left = min(left, v)
                        right = max(right, v)
                    if left > right:
                        continue
                    if corners != 0 and (
                        (corners & 1 and yr == v0y) or (corners & 2 and yr == v1y)
                        or (corners & 4 and yr == v2y) or (corners & 8 and yr == v3y)
                    ):
                        continue
                    lo = max(_round_up32(left), 0)
                    hi = min(_round_down32(right), sz - 1)
                    if lo <= hi:
                        w0, m0, w1, m1 = _span_words(lo, hi)
                        base = yr * words
                        pad64[np.uint64(base + w0)] |= m0
                        pad64[np.uint64(base + w1)] |= m1
                        for w in range(w0 + 1, w1):
                            pad64[np.uint64(base + w)] = _ALL
                for k in range(4):
                    if corners >> k & 1:
                        _generic_rows(pad64, words, sz, vxs, vys, slopes, pymax, vys[k], vys[k])
        # The image out, the canvas cleared for the next one, in one pass.
        if direct:
            img64 = out64[d]
            for w in range(len(img64)):
                img64[w] = pad64[w]
                pad64[w] = 0
        else:
            img = out[d]
            for r in range(sz):
                for c in range(sz):
                    img[r, c] = pad[r, c]
            for w in range(len(pad64)):
                pad64[w] = 0
    return -1, 0, 0, 0.0


def rasterize(
    drawings: Drawings, img_sz: int = 64, lw: int = 3, maximize: bool = True
) -> np.ndarray:
    """Every drawing as the notebook's ``json_to_img`` image: uint8 (N, img_sz, img_sz), 0 or 255.

    Raises ValueError naming the drawing (index, and its line in the source file if known)
    if, with ``maximize``, one has no segment (no stroke with two points or more), which the
    notebook cannot draw either (without ``maximize`` its image is black, as the notebook's);
    or if a point of one of its strokes with a segment is NaN or scales to an image
    coordinate beyond +-2**29 (``_COORD_LIMIT``), where Pillow's C int arithmetic overflows
    (its pixels are then undefined behaviour of C); the message names the point and value.
    """
    x, y = drawings.x, drawings.y
    stroke_offsets, drawing_offsets = drawings.stroke_offsets, drawings.drawing_offsets
    # The kernel trusts the offsets: check them once (a batch built by hand may be wrong).
    for name, offsets, end in (("stroke_offsets", stroke_offsets, len(x)),
                               ("drawing_offsets", drawing_offsets, len(stroke_offsets) - 1)):
        if (len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != end
                or np.any(offsets[1:] < offsets[:-1])):
            raise ValueError(f"Drawings.{name} must rise from 0 to {end}; the batch is not "
                             "consistent (build it with Drawings.from_dicts or the reader)")
    if len(y) != len(x):
        raise ValueError(f"Drawings.x and .y differ in length ({len(x)} and {len(y)})")
    return rasterize_arrays(x, y, stroke_offsets, drawing_offsets, img_sz, lw, maximize,
                            drawings.line)


def rasterize_arrays(x: np.ndarray, y: np.ndarray, stroke_offsets: np.ndarray,
                     drawing_offsets: np.ndarray, img_sz: int, lw: int, maximize: bool,
                     line: np.ndarray | None = None) -> np.ndarray:
    """`rasterize` of the flat arrays of a batch (see `Drawings`), trusted to be consistent;
    ``line`` names drawings in errors (None: a single drawing, "the drawing")."""
    if img_sz < 1:
        raise ValueError(f"img_sz must be >= 1, got {img_sz}")
    if lw < 1:
        raise ValueError(f"lw (line width) must be >= 1, got {lw}")
    n = len(drawing_offsets) - 1
    out = np.empty((n, img_sz, img_sz), dtype=np.uint8)
    out64 = np.empty((0, 0), np.uint64)
    if img_sz % 8 == 0:
        out64 = out.reshape(n, img_sz * img_sz).view(np.uint64)
    pad = np.zeros((img_sz, 8 * -(-img_sz // 8)), dtype=np.uint8)
    # Stamps pay off over many segments, for images up to 256 pixels (their coordinates stay
    # far below _STAMP_LIMIT); the pool holds every segment's stamp, up to 4 MiB.
    reach = img_sz if len(x) >= 1000 and img_sz <= 256 and 2 <= lw <= 64 else 0
    size = len(x) * (_STAMP_HEAD + 2 * (2 * reach + lw + 2)) + 1
    pool = np.empty(min(size, 1 << 20) if reach else 1, dtype=np.int32)
    pool[0] = 1
    bad, what, p, value = _rasterize_kernel(
        np.ascontiguousarray(x, dtype=np.float64),
        np.ascontiguousarray(y, dtype=np.float64),
        np.ascontiguousarray(stroke_offsets, dtype=np.int64),
        np.ascontiguousarray(drawing_offsets, dtype=np.int64),
        int(img_sz),
        int(lw),
        bool(maximize),
        _offsets_memo(lw),
        np.zeros((2 * reach + 1,) * 2 if reach else (0, 0), dtype=np.int32),
        pool,
        out,
        out64,
        pad,
        pad.reshape(-1).view(np.uint64),
    )
    if bad >= 0:
        where = f"drawing {bad}"
        if line is None:
            where = "the drawing"
        elif line[bad] > 0:
            where += f" (line {line[bad]})"
        raise ValueError(where + _refusal(x, y, stroke_offsets, drawing_offsets, bad, what, p,
                                          value))
    return out


def _refusal(x: np.ndarray, y: np.ndarray, stroke_offsets: np.ndarray,
             drawing_offsets: np.ndarray, d: int, what: int, p: int, value: float) -> str:
    """Why drawing ``d`` cannot be rasterized (the kernel's ``what``, point and value), and
    what to do."""
    if what == 0:
        return (" has no line segment (no stroke with at least two points): it cannot be "
                "rasterized with maximize=True; drop it or give it a stroke of two points or "
                "more")
    s = int(np.searchsorted(stroke_offsets, p, side="right")) - 1
    axis, raw = ("x", x[p]) if what == 1 else ("y", y[p])
    if math.isnan(raw):
        problem = f"{axis} is NaN, which Pillow's cast to a C int leaves undefined"
    else:
        problem = (f"{axis} = {float(raw)!r} scales to image coordinate {value:.7g}, not "
                   f"within -2**{_COORD_BITS} < c < 2**{_COORD_BITS}, where Pillow's C int "
                   "arithmetic overflows")
    return (f": stroke {s - int(drawing_offsets[d])} point {p - int(stroke_offsets[s])}: "
            f"{problem}: it cannot be rasterized; drop the drawing or bring its coordinates "
            "into range")


def refusals(drawings: Drawings, img_sz: int, maximize: bool) -> dict[int, str]:
    """The drawings of the batch that `rasterize` would refuse, by index: why each cannot be
    drawn exactly (no segment with ``maximize``; a point that is NaN or scales beyond what
    Pillow's C int arithmetic takes)."""
    if _surely_drawable(drawings, img_sz, maximize):
        return {}
    n = len(drawings)
    what = np.zeros(n, dtype=np.int64)
    point = np.zeros(n, dtype=np.int64)
    value = np.zeros(n, dtype=np.float64)
    x = np.ascontiguousarray(drawings.x, dtype=np.float64)
    y = np.ascontiguousarray(drawings.y, dtype=np.float64)
    offsets = np.ascontiguousarray(drawings.stroke_offsets, dtype=np.int64)
    starts = np.ascontiguousarray(drawings.drawing_offsets, dtype=np.int64)
    _refusal_kernel(x, y, offsets, starts, int(img_sz), bool(maximize), what, point, value)
    return {d: "the drawing" + _refusal(x, y, offsets, starts, d, max(0, int(what[d])),
                                        int(point[d]), float(value[d]))
            for d in np.flatnonzero(what).tolist()}


def _surely_drawable(d: Drawings, img_sz: int, maximize: bool) -> bool:
    """Whether every drawing of the batch can be drawn, told at a glance (the common case):
    each has a segment, and no coordinate is big enough to scale beyond _COORD_LIMIT
    (maximizing, a point scales to at most (|v| + 0.95 |min|) / 1 * img_sz; else v / 1024 *
    img_sz)."""
    if not len(d):
        return True
    lengths = np.diff(d.stroke_offsets)
    starts = d.drawing_offsets[:-1]
    if (np.diff(d.drawing_offsets) == 0).any() or (
            maximize and (np.maximum.reduceat(lengths, starts) < 2).any()):
        return False
    largest = d.magnitude
    reach = 2 * largest if maximize else largest / 1024
    return bool(reach * img_sz < _COORD_LIMIT / 2)  # False for NaN


def _offsets_memo(lw: int) -> np.ndarray:
    """The kernel's cache of ImagingDrawWideLine's offsets for this line width, kept across
    calls: a pure function of (|dx|, |dy|, lw), so threads filling it at once write the
    same values.  Offsets are at most ROUND_UP((lw - 1) / 2), packed in 7 bits each."""
    memo = _OFFSETS.get(lw)
    if memo is None:
        memo = _OFFSETS.setdefault(lw, np.zeros((257, 257) if lw < 250 else (0, 0), np.int32))
    return memo


_OFFSETS: dict[int, np.ndarray] = {}


def warmup() -> None:
    """Compiles (or loads from numba's cache) the kernel, before forking workers."""
    rasterize_arrays(np.array([0.0, 10.0, 20.0]), np.array([0.0, 5.0, 0.0]),
                     np.array([0, 3]), np.array([0, 1]), 8, 2, True)
