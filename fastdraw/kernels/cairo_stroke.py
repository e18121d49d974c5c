"""cairo 1.16's stroker, as its image backend runs it for a round-capped, round-joined line.

A port of exactly the parts of cairo 1.16.0 that ``cairo_stroke`` runs for a path of
``move_to`` + ``line_to``s under a uniform scale-and-translate matrix, antialiased:

- ``cairo-fixed-private.h``: 24.8 fixed point, ``_cairo_fixed_from_double`` (round half to
  even, through its magic number);
- ``cairo-path-fixed.c``: ``_cairo_path_fixed_line_to`` (a repeated point is dropped, a
  degenerate first segment replaced, collinear same-direction segments merged);
- ``cairo-pen.c``: the pen's vertex count from the tolerance and the scaled line width, and
  ``_cairo_pen_find_active_cw/ccw_vertices``;
- ``cairo-path-stroke-polygon.c``: the stroker (faces, round joins and caps as fans of pen
  vertices, the inner join, the dot of a one-point path) and the contours it hands to
  ``_cairo_polygon_add_contour`` (``cairo-polygon.c``: horizontal edges dropped, edges
  oriented downwards).

``normalize_slope`` calls libm's ``hypot``: `glibc_hypot` is glibc 2.36's (the
non-FMA build of ``sysdeps/ieee754/dbl-64/e_hypot.c`` that x86-64 distributions ship), so
the faces do not depend on the machine's libm.  The pen's vertices (from ``cos``/``sin``)
depend only on the size and are made once in Python by `make_pen`.

The surface matrix is ``scale(s, s)`` then translations: its off-diagonal terms are 0, and
cairo's products with them only ever add a signed zero, which changes no result below, so
they are left out.  Coordinates are trusted to keep every fixed-point value far inside
int32 (the caller checks them).
"""

from __future__ import annotations

import math

import numpy as np

from fastdraw.kernels.jit import helper

# _cairo_fixed_from_double: d + 1.5 * 2**44 keeps d rounded to 1/256 in the low bits.
_MAGIC = 1.5 * 2.0 ** 44
CAIRO_TOLERANCE = 0.1  # cairo's default tolerance (device pixels)
# glibc's hypot: the range of its common path.
_LARGE_VAL = 2.0 ** 511
_TINY_VAL = 2.0 ** -459
_EPS = 2.0 ** -54
_SCALE = 2.0 ** -600

# Values for the helpers' arguments: a literal one compiles a helper once for each value.
_CCW = np.array([False])[0]
_ONE, _MINUS_ONE, _UNIT = np.array([1, -1, 256], dtype=np.int64)

# Columns of the polygon's edge array (cairo_edge_t: line.p1, line.p2, top, bottom, dir).
P1X, P1Y, P2X, P2Y, TOP, BOTTOM, DIR = range(7)


@helper
def fixed_from_double(d):
    """``_cairo_fixed_from_double``: d in 1/256 units, rounded half to even (|d| < 2**23)."""
    return np.int64(((d + _MAGIC) - _MAGIC) * 256.0)


@helper
def _hypot_kernel(ax, ay):
    """glibc's hypot kernel without FMA (ax >= ay > 0, no overflow or underflow)."""
    h = math.sqrt(ax * ax + ay * ay)
    if h <= 2.0 * ay:
        delta = h - ay
        t1 = ax * (2.0 * delta - ax)
        t2 = (delta - 2.0 * (ax - ay)) * delta
    else:
        delta = h - ax
        t1 = 2.0 * delta * (ax - 2.0 * ay)
        t2 = (4.0 * delta - ay) * ay + delta * delta
    h -= (t1 + t2) / (2.0 * h)
    return h


@helper
def glibc_hypot(x, y):
    """glibc 2.36's ``hypot`` of finite x, y, as built for x86-64 (no FMA)."""
    x = abs(x)
    y = abs(y)
    ax = y if x < y else x
    ay = x if x < y else y
    if ax > _LARGE_VAL:
        if ay <= ax * _EPS:
            return ax + ay
        return _hypot_kernel(ax * _SCALE, ay * _SCALE) / _SCALE
    if ay < _TINY_VAL:
        if ax >= ay / _EPS:
            return ax + ay
        return _hypot_kernel(ax / _SCALE, ay / _SCALE) * _SCALE
    if ay <= ax * _EPS:
        return ax + ay
    return _hypot_kernel(ax, ay)


@helper
def _normalized(dx, dy):
    """``normalize_slope``'s unit vector (dx, dy not both 0)."""
    if dx == 0.0:
        return 0.0, (1.0 if dy > 0.0 else -1.0)
    if dy == 0.0:
        return (1.0 if dx > 0.0 else -1.0), 0.0
    mag = glibc_hypot(dx, dy)
    return dx / mag, dy / mag


@helper
def face_offset(dx, dy, half_width, scale, inverse):
    """``compute_face``'s offset from a segment's point to its counter-clockwise side (the
    clockwise side is its negation), for a device slope (dx, dy) in fixed point: the slope
    normalized in device space, taken to user space (``ctm_inverse``), normalized again,
    turned by 90 degrees, scaled by half the line width and taken back (``ctm``)."""
    ux, uy = _normalized(dx / 256.0, dy / 256.0)
    ux, uy = _normalized(inverse * ux, inverse * uy)
    return (fixed_from_double(scale * (-uy * half_width)),
            fixed_from_double(scale * (ux * half_width)))


@helper
def slope_compare(adx, ady, bdx, bdy):
    """``_cairo_slope_compare``: <0, 0, >0 as slope a is less, as, more positive than b."""
    lhs = ady * bdx
    rhs = bdy * adx
    if lhs < rhs:
        return -1
    if lhs > rhs:
        return 1
    a_zero = adx == 0 and ady == 0
    b_zero = bdx == 0 and bdy == 0
    if a_zero and b_zero:
        return 0
    if a_zero:
        return 1
    if b_zero:
        return -1
    if (adx ^ bdx) < 0 or (ady ^ bdy) < 0:
        if adx > 0 or (adx == 0 and ady > 0):
            return -1
        return 1
    return 0


def pen_vertices_needed(tolerance: float, radius: float, scale: float) -> int:
    """``_cairo_pen_vertices_needed`` for the matrix scale(scale, scale) (+ translation)."""
    det = scale * scale
    if abs(det * det - 1.0) < 1 / 256:  # _cairo_matrix_has_unity_scale
        major = radius
    else:
        i = scale * scale + 0.0 * 0.0
        j = 0.0 * 0.0 + scale * scale
        f = 0.5 * (i + j)
        major = radius * math.sqrt(f + math.hypot(0.5 * (i - j), scale * 0.0 + 0.0 * scale))
    if tolerance >= 4 * major:
        return 1
    if tolerance >= major:
        return 4
    n = math.ceil(2 * math.pi / math.acos(1 - tolerance / major))
    n += n % 2
    return max(n, 4)


def make_pen(radius: float, scale: float, tolerance: float = CAIRO_TOLERANCE) -> np.ndarray:
    """``_cairo_pen_init``: int64 (n, 6) rows of vertex x, y (fixed point) and the slopes
    ``slope_cw`` (from the previous vertex) and ``slope_ccw`` (to the next); (0, 6) when the
    pen is a single point (cairo then strokes nothing)."""
    n = pen_vertices_needed(tolerance, radius, scale)
    if n <= 1:
        return np.zeros((0, 6), dtype=np.int64)
    pen = np.zeros((n, 6), dtype=np.int64)
    for i in range(n):
        theta = 2 * math.pi * i / float(n)
        pen[i, 0] = _fixed(scale * (radius * math.cos(theta)))
        pen[i, 1] = _fixed(scale * (radius * math.sin(theta)))
    for i in range(n):
        prev, nxt = pen[i - 1], pen[(i + 1) % n]
        pen[i, 2:4] = pen[i, :2] - prev[:2]
        pen[i, 4:6] = nxt[:2] - pen[i, :2]
    return pen


def _fixed(d: float) -> int:
    return int(((d + _MAGIC) - _MAGIC) * 256.0)


@helper
def _active_cw(pen, n, in_dx, in_dy, out_dx, out_dy):
    """``_cairo_pen_find_active_cw_vertices``: (start, stop)."""
    lo = 0
    hi = n
    i = (lo + hi) >> 1
    while True:
        if slope_compare(pen[i, 2], pen[i, 3], in_dx, in_dy) < 0:
            lo = i
        else:
            hi = i
        i = (lo + hi) >> 1
        if hi - lo <= 1:
            break
    if slope_compare(pen[i, 2], pen[i, 3], in_dx, in_dy) < 0:
        i += 1
        if i == n:
            i = 0
    start = i
    if slope_compare(out_dx, out_dy, pen[i, 4], pen[i, 5]) >= 0:
        lo = i
        hi = i + n
        i = (lo + hi) >> 1
        while True:
            j = i - n if i >= n else i
            if slope_compare(pen[j, 2], pen[j, 3], out_dx, out_dy) > 0:
                hi = i
            else:
                lo = i
            i = (lo + hi) >> 1
            if hi - lo <= 1:
                break
        if i >= n:
            i -= n
    return start, i


@helper
def _active_ccw(pen, n, in_dx, in_dy, out_dx, out_dy):
    """``_cairo_pen_find_active_ccw_vertices``: (start, stop)."""
    lo = 0
    hi = n
    i = (lo + hi) >> 1
    while True:
        if slope_compare(in_dx, in_dy, pen[i, 4], pen[i, 5]) < 0:
            lo = i
        else:
            hi = i
        i = (lo + hi) >> 1
        if hi - lo <= 1:
            break
    if slope_compare(in_dx, in_dy, pen[i, 4], pen[i, 5]) < 0:
        i += 1
        if i == n:
            i = 0
    start = i
    if slope_compare(pen[i, 2], pen[i, 3], out_dx, out_dy) <= 0:
        lo = i
        hi = i + n
        i = (lo + hi) >> 1
        while True:
            j = i - n if i >= n else i
            if slope_compare(out_dx, out_dy, pen[j, 4], pen[j, 5]) > 0:
                hi = i
            else:
                lo = i
            i = (lo + hi) >> 1
            if hi - lo <= 1:
                break
        if i >= n:
            i -= n
    return start, i


@helper
def _fan(pen, in_dx, in_dy, out_dx, out_dy, mx, my, clockwise, buf, nb):
    """``add_fan``: the pen's vertices between the two slopes, around (mx, my), appended to
    the contour ``buf`` (``nb`` points so far); returns the new count."""
    n = pen.shape[0]
    if clockwise:
        start, stop = _active_cw(pen, n, in_dx, in_dy, out_dx, out_dy)
        while start != stop:
            buf[nb, 0] = mx + pen[start, 0]
            buf[nb, 1] = my + pen[start, 1]
            nb += 1
            start += 1
            if start == n:
                start = 0
    else:
        start, stop = _active_ccw(pen, n, in_dx, in_dy, out_dx, out_dy)
        while start != stop:
            buf[nb, 0] = mx + pen[start, 0]
            buf[nb, 1] = my + pen[start, 1]
            nb += 1
            if start == 0:
                start = n
            start -= 1
    return nb


@helper
def _put(buf, nb, x, y):
    buf[nb, 0] = x
    buf[nb, 1] = y
    return nb + 1


@helper
def _add_contour(buf, nb, direction, edges, ne, ext):
    """``_cairo_polygon_add_contour``: an edge from each point to the next (the first from
    the first point to itself), horizontal ones dropped, oriented downwards; ``ext`` keeps
    the polygon's extents (x0, y0, x1, y1).  Returns the new edge count."""
    if nb <= 1:
        return ne
    ax = buf[0, 0]
    ay = buf[0, 1]
    for i in range(nb):
        bx = buf[i, 0]
        by = buf[i, 1]
        if ay != by:
            if ay < by:
                edges[ne, P1X] = ax
                edges[ne, P1Y] = ay
                edges[ne, P2X] = bx
                edges[ne, P2Y] = by
                edges[ne, DIR] = direction
            else:
                edges[ne, P1X] = bx
                edges[ne, P1Y] = by
                edges[ne, P2X] = ax
                edges[ne, P2Y] = ay
                edges[ne, DIR] = -direction
            top = edges[ne, P1Y]
            bottom = edges[ne, P2Y]
            edges[ne, TOP] = top
            edges[ne, BOTTOM] = bottom
            ext[1] = min(ext[1], top)
            ext[3] = max(ext[3], bottom)
            ext[0] = min(ext[0], edges[ne, P1X], edges[ne, P2X])
            ext[2] = max(ext[2], edges[ne, P1X], edges[ne, P2X])
            ne += 1
        ax = bx
        ay = by
    return ne


@helper
def path_points(ux, uy, a, b, scale, x0, y0, out):
    """The points cairo keeps of ``move_to(p[0])`` then ``line_to(p[i])`` for every i of the
    stroke (user coordinates ``ux``, ``uy``, from ``a`` to ``b``), in device fixed point:
    each user point goes through the matrix (``scale * u + x0``) and
    `fixed_from_double`; then ``_cairo_path_fixed_line_to`` drops a point equal to the
    current one, replaces the degenerate first segment, and merges a segment into the one
    before it when both have the same direction.  Writes ``out`` (n, 2); returns n (2 for a
    single point: the move and the degenerate line that makes it a dot)."""
    px = fixed_from_double(scale * ux[a] + x0)
    py = fixed_from_double(scale * uy[a] + y0)
    out[0, 0] = px
    out[0, 1] = py
    out[1, 0] = px
    out[1, 1] = py
    n = 2
    for i in range(a + 1, b):
        x = fixed_from_double(scale * ux[i] + x0)
        y = fixed_from_double(scale * uy[i] + y0)
        cx = out[n - 1, 0]
        cy = out[n - 1, 1]
        if x == cx and y == cy:
            continue
        qx = out[n - 2, 0]
        qy = out[n - 2, 1]
        if qx == cx and qy == cy:
            n -= 1  # the previous segment was degenerate: replaced
        else:
            pdx = cx - qx
            pdy = cy - qy
            sdx = x - cx
            sdy = y - cy
            if pdy * sdx == sdy * pdx and pdx * sdx + pdy * sdy >= 0:
                n -= 1  # same direction: the previous line is extended
        out[n, 0] = x
        out[n, 1] = y
        n += 1
    return n


@helper
def stroke_polygon(path, n, pen, half_width, scale, inverse, cw, ccw, edges, ext):
    """``_cairo_path_fixed_stroke_to_polygon`` of a path of ``n`` points (a move, then lines)
    with round joins and round caps: the polygon's edges into ``edges`` (in cairo's order),
    its extents into ``ext``; returns the number of edges.  ``cw`` and ``ccw`` are the
    two contours' point buffers."""
    ext[0] = ext[1] = 1 << 62
    ext[2] = ext[3] = -(1 << 62)
    ne = 0
    ncw = 0
    nccw = 0
    fx = path[0, 0]  # first_point
    fy = path[0, 1]
    # current_face: its point, device vector and ccw offset (cw is the negation).
    cpx = fx
    cpy = fy
    cdx = cdy = cox = coy = 0
    # first_face: point, vector, offset.
    ffx = ffy = fdx = fdy = fox = foy = 0
    has_initial = False
    has_current = False
    has_first = False
    for i in range(1, n):
        x = path[i, 0]
        y = path[i, 1]
        has_initial = True
        if x == cpx and y == cpy:
            continue
        dx = x - cpx
        dy = y - cpy
        ox, oy = face_offset(dx, dy, half_width, scale, inverse)
        if has_current:
            c = slope_compare(cdx, cdy, dx, dy)
            if c != 0:
                clockwise = c < 0
                # outer_join (round): a fan around the point, then the new face's side.
                if not (cox == ox and coy == oy):
                    if clockwise:
                        ncw = _fan(pen, cdx, cdy, dx, dy, cpx, cpy, clockwise, cw, ncw)
                        ncw = _put(cw, ncw, cpx - ox, cpy - oy)
                    else:
                        nccw = _fan(pen, cdx, cdy, dx, dy, cpx, cpy, clockwise, ccw, nccw)
                        nccw = _put(ccw, nccw, cpx + ox, cpy + oy)
                # inner_join: through the point to the new face's side.
                if clockwise:
                    nccw = _put(ccw, nccw, cpx, cpy)
                    nccw = _put(ccw, nccw, cpx + ox, cpy + oy)
                else:
                    ncw = _put(cw, ncw, cpx, cpy)
                    ncw = _put(cw, ncw, cpx - ox, cpy - oy)
        else:
            if not has_first:
                ffx = cpx
                ffy = cpy
                fdx = dx
                fdy = dy
                fox = ox
                foy = oy
                has_first = True
            has_current = True
            ncw = _put(cw, ncw, cpx - ox, cpy - oy)
            nccw = _put(ccw, nccw, cpx + ox, cpy + oy)
        cpx = x
        cpy = y
        cdx = dx
        cdy = dy
        cox = ox
        coy = oy
        ncw = _put(cw, ncw, x - ox, y - oy)
        nccw = _put(ccw, nccw, x + ox, y + oy)
    # add_caps
    if has_initial and not has_first and not has_current:
        # A dot: a face of slope (1, 0) at the first point, both caps, closed.
        zero = _UNIT - _UNIT
        ox, oy = face_offset(_UNIT, zero, half_width, scale, inverse)
        nccw = _fan(pen, -_UNIT, zero, _UNIT, zero, fx, fy, _CCW, ccw, nccw)
        nccw = _put(ccw, nccw, fx + ox, fy + oy)
        nccw = _fan(pen, _UNIT, zero, -_UNIT, zero, fx, fy, _CCW, ccw, nccw)
        nccw = _put(ccw, nccw, fx - ox, fy - oy)
        nccw = _put(ccw, nccw, ccw[0, 0], ccw[0, 1])
        return _add_contour(ccw, nccw, _MINUS_ONE, edges, ne, ext)
    if has_current:  # the trailing cap
        nccw = _fan(pen, cdx, cdy, -cdx, -cdy, cpx, cpy, _CCW, ccw, nccw)
        nccw = _put(ccw, nccw, cpx - cox, cpy - coy)
    ne = _add_contour(ccw, nccw, _MINUS_ONE, edges, ne, ext)
    nccw = 0
    if has_first:  # the leading cap, a contour of its own
        nccw = _put(ccw, nccw, ffx - fox, ffy - foy)
        nccw = _fan(pen, -fdx, -fdy, fdx, fdy, ffx, ffy, _CCW, ccw, nccw)
        nccw = _put(ccw, nccw, ffx + fox, ffy + foy)
        ne = _add_contour(ccw, nccw, _MINUS_ONE, edges, ne, ext)
    return _add_contour(cw, ncw, _ONE, edges, ne, ext)
