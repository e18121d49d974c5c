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
  oriented downwards, the polygon's extents);
- where a stroke's extents pass the image's edge, cairo's clipping of that polygon to the
  image (``_add_clipped_edge``, ``cairo-polygon.c``; its ``_cairo_edge_compute_intersection``
  functions, ``cairo-fixed-private.h``) and the stroker's skipping of fans far outside it.

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
# A stroke's clipping (int64 array): whether the polygon is limited, the limit box (x1, y1,
# x2, y2, fixed point) and the stroker's bounds (the box grown by the line's reach).
CLIPPED, LX1, LY1, LX2, LY2, BX1, BY1, BX2, BY2 = range(9)


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
def _fan(pen, in_dx, in_dy, out_dx, out_dy, mx, my, clockwise, buf, nb, clip):
    """``add_fan``: the pen's vertices between the two slopes, around (mx, my), appended to
    the contour ``buf`` (``nb`` points so far); none where the polygon is clipped and (mx,
    my) lies outside the stroker's bounds.  Returns the new count."""
    n = pen.shape[0]
    if clip[CLIPPED] and not (clip[BX1] <= mx <= clip[BX2] and clip[BY1] <= my <= clip[BY2]):
        return nb
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
def _x_for_y(p1x, p1y, p2x, p2y, y):
    """``_cairo_edge_compute_intersection_x_for_y`` (C's truncating division)."""
    if y == p1y:
        return p1x
    if y == p2y:
        return p2x
    dy = p2y - p1y
    if dy == 0:
        return p1x
    return p1x + _tdiv((y - p1y) * (p2x - p1x), dy)


@helper
def _y_for_x(p1x, p1y, p2x, p2y, x):
    """``_cairo_edge_compute_intersection_y_for_x``."""
    if x == p1x:
        return p1y
    if x == p2x:
        return p2y
    dx = p2x - p1x
    if dx == 0:
        return p1y
    return p1y + _tdiv((x - p1x) * (p2y - p1y), dx)


@helper
def _tdiv(a, b):
    """C's integer division (truncates towards zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


@helper
def _add_edge(edges, ne, ext, p1x, p1y, p2x, p2y, top, bottom, direction):
    """``_add_edge``: the edge (its line, the rows [top, bottom) it covers, its direction)
    and the polygon's extents; returns the new edge count."""
    edges[ne, P1X] = p1x
    edges[ne, P1Y] = p1y
    edges[ne, P2X] = p2x
    edges[ne, P2Y] = p2y
    edges[ne, TOP] = top
    edges[ne, BOTTOM] = bottom
    edges[ne, DIR] = direction
    ext[1] = min(ext[1], top)
    ext[3] = max(ext[3], bottom)
    if p1x < ext[0] or p1x > ext[2]:
        x = p1x if top == p1y else _x_for_y(p1x, p1y, p2x, p2y, top)
        ext[0] = min(ext[0], x)
        ext[2] = max(ext[2], x)
    if p2x < ext[0] or p2x > ext[2]:
        x = p2x if bottom == p2y else _x_for_y(p1x, p1y, p2x, p2y, bottom)
        ext[0] = min(ext[0], x)
        ext[2] = max(ext[2], x)
    return ne + 1


@helper
def _add_clipped_edge(edges, ne, ext, p1x, p1y, p2x, p2y, top, bottom, direction, clip):
    """``_add_clipped_edge`` with one limit box: the part of the edge inside the box's rows,
    an edge left (right) of the box replaced by the box's left (right) side, so that the
    winding inside the box stays as it was; returns the new edge count."""
    lx1 = clip[LX1]
    ly1 = clip[LY1]
    lx2 = clip[LX2]
    ly2 = clip[LY2]
    if top >= ly2 or bottom <= ly1:
        return ne
    top_y = max(top, ly1)
    bot_y = min(bottom, ly2)
    pleft = min(p1x, p2x)
    pright = max(p1x, p2x)
    if lx1 <= pleft and pright <= lx2:
        return _add_edge(edges, ne, ext, p1x, p1y, p2x, p2y, top_y, bot_y, direction)
    if pright <= lx1:
        return _add_edge(edges, ne, ext, lx1, ly1, lx1, ly2, top_y, bot_y, direction)
    if lx2 <= pleft:
        return _add_edge(edges, ne, ext, lx2, ly1, lx2, ly2, top_y, bot_y, direction)
    if (p1x <= p2x) == (p1y <= p2y):  # top left to bottom right
        if pleft >= lx1:
            left_y = top_y
        else:
            left_y = _y_for_x(p1x, p1y, p2x, p2y, lx1)
            if _x_for_y(p1x, p1y, p2x, p2y, left_y) < lx1:
                left_y += 1
        left_y = min(left_y, bot_y)
        if top_y < left_y:
            ne = _add_edge(edges, ne, ext, lx1, ly1, lx1, ly2, top_y, left_y, direction)
            top_y = left_y
        if pright <= lx2:
            right_y = bot_y
        else:
            right_y = _y_for_x(p1x, p1y, p2x, p2y, lx2)
            if _x_for_y(p1x, p1y, p2x, p2y, right_y) > lx2:
                right_y -= 1
        right_y = max(right_y, top_y)
        if bot_y > right_y:
            ne = _add_edge(edges, ne, ext, lx2, ly1, lx2, ly2, right_y, bot_y, direction)
            bot_y = right_y
    else:
        if pright <= lx2:
            right_y = top_y
        else:
            right_y = _y_for_x(p1x, p1y, p2x, p2y, lx2)
            if _x_for_y(p1x, p1y, p2x, p2y, right_y) > lx2:
                right_y += 1
        right_y = min(right_y, bot_y)
        if top_y < right_y:
            ne = _add_edge(edges, ne, ext, lx2, ly1, lx2, ly2, top_y, right_y, direction)
            top_y = right_y
        if pleft >= lx1:
            left_y = bot_y
        else:
            left_y = _y_for_x(p1x, p1y, p2x, p2y, lx1)
            if _x_for_y(p1x, p1y, p2x, p2y, left_y) < lx1:
                left_y -= 1
        left_y = max(left_y, top_y)
        if bot_y > left_y:
            ne = _add_edge(edges, ne, ext, lx1, ly1, lx1, ly2, left_y, bot_y, direction)
            bot_y = left_y
    if top_y != bot_y:
        ne = _add_edge(edges, ne, ext, p1x, p1y, p2x, p2y, top_y, bot_y, direction)
    return ne


@helper
def _add_contour(buf, nb, direction, edges, ne, ext, clip):
    """``_cairo_polygon_add_contour``: an edge from each point to the next (the first from
    the first point to itself), horizontal ones dropped, oriented downwards, clipped where
    ``clip`` says; ``ext`` keeps the polygon's extents (x0, y0, x1, y1).  Returns the new
    edge count."""
    if nb <= 1:
        return ne
    ax = buf[0, 0]
    ay = buf[0, 1]
    for i in range(nb):
        bx = buf[i, 0]
        by = buf[i, 1]
        if ay != by:
            if ay < by:
                p1x, p1y, p2x, p2y, d = ax, ay, bx, by, direction
            else:
                p1x, p1y, p2x, p2y, d = bx, by, ax, ay, -direction
            if not clip[CLIPPED]:
                ne = _add_edge(edges, ne, ext, p1x, p1y, p2x, p2y, p1y, p2y, d)
            elif p2y > clip[LY1] and p1y < clip[LY2]:
                ne = _add_clipped_edge(edges, ne, ext, p1x, p1y, p2x, p2y, p1y, p2y, d, clip)
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
def stroke_polygon(path, n, pen, half_width, scale, inverse, cw, ccw, edges, ext, clip):
    """``_cairo_path_fixed_stroke_to_polygon`` of a path of ``n`` points (a move, then lines)
    with round joins and round caps, clipped as ``clip`` says: the polygon's edges into
    ``edges`` (in cairo's order), its extents into ``ext``; returns the number of edges.
    ``cw`` and ``ccw`` are the two contours' point buffers (see `edge_room` for the room
    ``edges`` needs)."""
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
                        ncw = _fan(pen, cdx, cdy, dx, dy, cpx, cpy, clockwise, cw, ncw, clip)
                        ncw = _put(cw, ncw, cpx - ox, cpy - oy)
                    else:
                        nccw = _fan(pen, cdx, cdy, dx, dy, cpx, cpy, clockwise, ccw, nccw, clip)
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
        nccw = _fan(pen, -_UNIT, zero, _UNIT, zero, fx, fy, _CCW, ccw, nccw, clip)
        nccw = _put(ccw, nccw, fx + ox, fy + oy)
        nccw = _fan(pen, _UNIT, zero, -_UNIT, zero, fx, fy, _CCW, ccw, nccw, clip)
        nccw = _put(ccw, nccw, fx - ox, fy - oy)
        nccw = _put(ccw, nccw, ccw[0, 0], ccw[0, 1])
        return _add_contour(ccw, nccw, _MINUS_ONE, edges, ne, ext, clip)
    if has_current:  # the trailing cap
        nccw = _fan(pen, cdx, cdy, -cdx, -cdy, cpx, cpy, _CCW, ccw, nccw, clip)
        nccw = _put(ccw, nccw, cpx - cox, cpy - coy)
    ne = _add_contour(ccw, nccw, _MINUS_ONE, edges, ne, ext, clip)
    nccw = 0
    if has_first:  # the leading cap, a contour of its own
        nccw = _put(ccw, nccw, ffx - fox, ffy - foy)
        nccw = _fan(pen, -fdx, -fdy, fdx, fdy, ffx, ffy, _CCW, ccw, nccw, clip)
        nccw = _put(ccw, nccw, ffx + fox, ffy + foy)
        ne = _add_contour(ccw, nccw, _MINUS_ONE, edges, ne, ext, clip)
    return _add_contour(cw, ncw, _ONE, edges, ne, ext, clip)
