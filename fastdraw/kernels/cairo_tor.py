"""cairo 1.16's antialiasing scan converter and its 8-bit compositing of a white stroke.

A port of ``cairo-tor-scan-converter.c`` (the converter the image backend's spans
compositor runs for ``CAIRO_ANTIALIAS_DEFAULT``, ``GOOD`` and ``BEST``) with the
non-zero winding rule, followed by ``_fill_xrgb32_lerp_opaque_spans`` of
``cairo-image-compositor.c``: OVER of opaque white onto the ARGB32 surface, one 8-bit
``lerp`` per pixel, of which one colour channel is kept.

The converter samples each pixel row on a grid of 256 x 15 (GRID_X x GRID_Y): a row where
no edge starts, ends or crosses another is covered analytically (``full_row``), any other
is sampled in 15 sub-rows (``sub_row``).  Which rows take which path depends on the order
of the active edge list, ties included, so the list is kept exactly as cairo keeps it: a
doubly linked list (``next``/``prev`` columns of the edge array), new edges sorted and
merged in by cairo's own merge sort.  The per-pixel cells that cairo keeps in a sorted
list are a dense row here (cairo's list stays sorted, so the sums are the same); the
16-bit cell arithmetic wraps as cairo's ``int16_t`` fields do.
"""

from __future__ import annotations

import numpy as np

from fastdraw.kernels.cairo_stroke import BOTTOM, DIR, P1X, P1Y, P2X, P2Y, TOP
from fastdraw.kernels.jit import helper

GRID_X = 256
GRID_Y = 15
_INT_MIN = -(1 << 31)
_INT_MAX = (1 << 31) - 1
_NIL = -1
# Values for the helpers' arguments (a literal one compiles a helper once for each value):
# sort_edges' UINT_MAX (no limit), the signs of a left and a right edge.
_LEVELS, _PLUS, _MINUS = np.array([1 << 40, 1, -1], dtype=np.int64)
# Rows of the converter's edge array (struct edge): the clipped top, the sub-rows left, the
# direction, the rounded x of the current sample (cell), the x position and the steps per
# sub-row and per row as quotient and remainder of dy, dy, and the active list's links.
YTOP, LEFT, EDIR, CELL, XQ, XR, DQ, DR, FQ, FR, DY, NEXT, PREV = range(13)
EDGE_ROWS = 13
# The active list's state: its least height left and whether every edge is vertical.
MIN_HEIGHT, IS_VERTICAL = range(2)


@helper
def _cdiv(a, b):
    """C's integer division (truncates towards zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


@helper
def _step(e, i, q, r):
    """Advances edge ``i``'s x by the step in rows ``q``/``r`` (``step``, ``full_step``)."""
    dy = e[DY, i]
    if dy == 0:
        return
    xq = e[XQ, i] + e[q, i]
    xr = e[XR, i] + e[r, i]
    carry = np.int64(xr >= dy) - np.int64(xr < 0)  # without branches: they mispredict
    xq += carry
    xr -= carry * dy
    e[XQ, i] = xq
    e[XR, i] = xr
    e[CELL, i] = xq + np.int64(xr >= dy >> 1)


@helper
def _add_edge(e, n, p1x, p1y, p2x, p2y, top, bottom, direction, ymin, ymax, buckets):
    """``polygon_add_edge``: edge ``n`` of the converter from a polygon edge, clipped to the
    rows [ymin, ymax) of the grid and put in the bucket of its first pixel row; returns the
    new edge count."""
    ytop = (GRID_Y * top + (1 << 7)) >> 8
    if ytop < ymin:
        ytop = ymin
    ybot = (GRID_Y * bottom + (1 << 7)) >> 8
    if ybot > ymax:
        ybot = ymax
    if ybot <= ytop:
        return n
    e[YTOP, n] = ytop
    e[LEFT, n] = ybot - ytop
    if p2y > p1y:
        e[EDIR, n] = direction
        ax, ay, bx, by = p1x, p1y, p2x, p2y
    else:
        e[EDIR, n] = -direction
        ax, ay, bx, by = p2x, p2y, p1x, p1y
    if bx == ax:
        e[CELL, n] = ax
        e[XQ, n] = ax
        e[XR, n] = 0
        e[DQ, n] = e[DR, n] = e[FQ, n] = e[FR, n] = 0
        e[DY, n] = 0
    else:
        ex = (bx - ax) * GRID_X
        ey = (by - ay) * GRID_Y * (2 << 8)
        q = _cdiv(ex * (2 << 8), ey)
        e[DQ, n] = q
        e[DR, n] = ex * (2 << 8) - q * ey
        t = (2 * ytop + 1) << 8
        t -= ay * GRID_Y * 2
        t *= ex
        q = _cdiv(t, ey)
        xr = t - q * ey
        xq = q + ax
        if xr < 0:
            xq -= 1
            xr += ey
        elif xr >= ey:
            xq += 1
            xr -= ey
        e[XQ, n] = xq
        e[XR, n] = xr
        if e[LEFT, n] >= GRID_Y:
            t = ex * (2 * GRID_Y << 8)
            q = _cdiv(t, ey)
            e[FQ, n] = q
            e[FR, n] = t - q * ey
        else:
            e[FQ, n] = e[FR, n] = 0
        e[CELL, n] = xq + (1 if xr >= ey // 2 else 0)
        e[DY, n] = ey
    b = (ytop - ymin) // GRID_Y
    e[NEXT, n] = buckets[b]
    buckets[b] = n
    return n + 1


@helper
def _merge(e, a, b):
    """``merge_sorted_edges`` of the lists starting at ``a`` and ``b`` (``b`` not empty):
    the merged list's head, with cairo's order among equal cells."""
    prev = e[PREV, a]
    owner = _NIL  # whose NEXT the next edge goes into (_NIL: the merged list's head)
    head = _NIL
    from_a = True
    if e[CELL, a] <= e[CELL, b]:
        head = a
    else:
        head = b
        e[PREV, b] = prev
        from_a = False
    while True:
        if from_a:
            x = e[CELL, b]
            while a != _NIL and e[CELL, a] <= x:
                prev = a
                owner = a
                a = e[NEXT, a]
            e[PREV, b] = prev
            if owner == _NIL:
                head = b
            else:
                e[NEXT, owner] = b
            if a == _NIL:
                return head
        from_a = True
        x = e[CELL, a]
        while b != _NIL and e[CELL, b] <= x:
            prev = b
            owner = b
            b = e[NEXT, b]
        e[PREV, a] = prev
        if owner == _NIL:
            head = a
        else:
            e[NEXT, owner] = a
        if b == _NIL:
            return head


@helper
def _sort(e, lst, level):
    """``sort_edges``: (the rest of the list, the head of its first 2**(level + 1) edges
    sorted)."""
    other = e[NEXT, lst]
    if other == _NIL:
        return _NIL, lst
    rest = e[NEXT, other]
    if e[CELL, lst] <= e[CELL, other]:
        head = lst
        e[NEXT, other] = _NIL
    else:
        head = other
        e[PREV, other] = e[PREV, lst]
        e[NEXT, other] = lst
        e[PREV, lst] = other
        e[NEXT, lst] = _NIL
    i = level - level
    while i < level and rest != _NIL:
        rest, other = _sort(e, rest, i)
        head = _merge(e, head, other)
        i += 1
    return rest, head


@helper
def _merge_in(e, head, edges):
    """``active_list_merge_edges_from_bucket``: the unsorted list ``edges`` sorted and
    merged into the active list after sentinel ``head``."""
    _, edges = _sort(e, edges, _LEVELS)
    e[NEXT, head] = _merge(e, e[NEXT, head], edges)


@helper
def _unlink(e, i):
    e[NEXT, e[PREV, i]] = e[NEXT, i]
    e[PREV, e[NEXT, i]] = e[PREV, i]


@helper
def _cell(x, xmin, w):
    """The dense cell index of pixel column x: 0 gathers every column left of the box (only
    their heights count), w + 1 every column right of it (ignored)."""
    return min(max(x - xmin + 1, 0), w + 1)


@helper
def _add_subspan(cells, x1, x2, xmin, w):
    """``cell_list_add_subspan``: a sub-row's coverage of [x1, x2) in grid units."""
    if x1 == x2:
        return
    ix1 = x1 >> 8
    fx1 = x1 & 255
    ix2 = x2 >> 8
    fx2 = x2 & 255
    if ix1 != ix2:
        c = _cell(ix1, xmin, w)
        cells[0, c] += 2 * fx1
        cells[1, c] += 1
        c = _cell(ix2, xmin, w)
        cells[0, c] -= 2 * fx2
        cells[1, c] -= 1
    else:
        cells[0, _cell(ix1, xmin, w)] += 2 * (fx1 - fx2)


@helper
def _back_half(q, r, dq, dr, dy):
    """An x position moved back by half a sub-row's step (a position of ``dy`` != 0)."""
    q -= _cdiv(dq, 2)
    r -= _cdiv(dr, 2)
    if r < 0:
        q -= 1
        r += dy
    elif r >= dy:
        q += 1
        r -= dy
    return q, r


@helper
def _render_edge(e, i, sign, cells, xmin, w):
    """``cell_list_render_edge``: the exact coverage of edge ``i`` over a whole pixel row
    (no edge starts, ends or crosses another in it), and its step to the next row."""
    dy = e[DY, i]
    x1q = e[XQ, i]
    x1r = e[XR, i]
    _step(e, i, FQ, FR)
    x2q = e[XQ, i]
    x2r = e[XR, i]
    if dy != 0:
        x1q, x1r = _back_half(x1q, x1r, e[DQ, i], e[DR, i], dy)
        x2q, x2r = _back_half(x2q, x2r, e[DQ, i], e[DR, i], dy)
    ix1 = x1q >> 8
    fx1 = x1q & 255
    ix2 = x2q >> 8
    fx2 = x2q & 255
    if ix1 == ix2:
        c = _cell(ix1, xmin, w)
        cells[1, c] += sign * GRID_Y
        cells[0, c] += sign * (fx1 + fx2) * GRID_Y
        return
    if ix2 < ix1:
        ix1, ix2 = ix2, ix1
        fx1, fx2 = fx2, fx1
        x1q, x2q = x2q, x1q
        x1r, x2r = x2r, x1r
    dx = (x2q - x1q) * dy + (x2r - x1r)
    t = (ix1 + 1) * GRID_X * dy
    t -= x1q * dy + x1r
    t *= GRID_Y
    yq = _cdiv(t, dx)
    yr = t - yq * dx
    c = _cell(ix1, xmin, w)
    cells[0, c] += sign * yq * (GRID_X + fx1)
    cells[1, c] += sign * yq
    last = yq
    if ix1 + 1 < ix2:
        t = GRID_Y * GRID_X * dy
        sq = _cdiv(t, dx)
        sr = t - sq * dx
        ix1 += 1
        while True:
            yq += sq
            yr += sr
            if yr >= dx:
                yq += 1
                yr -= dx
            c = _cell(ix1, xmin, w)
            cells[0, c] += sign * (yq - last) * GRID_X
            cells[1, c] += sign * (yq - last)
            last = yq
            ix1 += 1
            if ix1 == ix2:
                break
    c = _cell(ix2, xmin, w)
    cells[0, c] += sign * (GRID_Y - last) * fx2
    cells[1, c] += sign * (GRID_Y - last)


@helper
def _can_do_full_row(e, head, tail, st):
    """``can_do_full_row``: no edge ends within the next row and their order holds."""
    if st[MIN_HEIGHT] <= 0:
        least = _INT_MAX
        vertical = 1
        i = e[NEXT, head]
        while i != _NIL:
            least = min(least, e[LEFT, i])
            if e[DY, i] != 0:
                vertical = 0
            i = e[NEXT, i]
        st[IS_VERTICAL] = vertical
        st[MIN_HEIGHT] = least
    if st[MIN_HEIGHT] < GRID_Y:
        return False
    prev_x = _INT_MIN
    i = e[NEXT, head]
    while i != tail:
        dy = e[DY, i]
        if dy != 0:
            xq = e[XQ, i] + e[FQ, i]
            xr = e[XR, i] + e[FR, i]
            if xr < 0:
                xq -= 1
                xr += dy
            elif xr >= dy:
                xq += 1
                xr -= dy
            cell = xq + (1 if xr >= dy // 2 else 0)
        else:
            cell = e[CELL, i]
        if cell < prev_x:
            return False
        prev_x = cell
        i = e[NEXT, i]
    return True


@helper
def _full_row(e, head, tail, st, cells, xmin, w):
    """``full_row`` (non-zero winding): each span between a left edge and the right edge
    that brings the winding back to 0 rendered exactly, every edge stepped a row."""
    left = e[NEXT, head]
    while left != tail:
        e[LEFT, left] -= GRID_Y
        if e[LEFT, left] == 0:
            _unlink(e, left)
            st[MIN_HEIGHT] = -1
        winding = e[EDIR, left]
        right = e[NEXT, left]
        while True:
            e[LEFT, right] -= GRID_Y
            if e[LEFT, right] == 0:
                _unlink(e, right)
                st[MIN_HEIGHT] = -1
            winding += e[EDIR, right]
            if winding == 0 and e[CELL, e[NEXT, right]] != e[CELL, right]:
                break
            _step(e, right, FQ, FR)
            right = e[NEXT, right]
        _render_edge(e, left, _PLUS, cells, xmin, w)
        _render_edge(e, right, _MINUS, cells, xmin, w)
        left = e[NEXT, right]


@helper
def _sub_row(e, head, tail, st, cells, xmin, w):
    """``sub_row`` (non-zero winding): one sub-row's spans between the edges, then each
    edge stepped and moved back into order (or dropped when it ends)."""
    i = e[NEXT, head]
    xstart = _INT_MIN
    prev_x = _INT_MIN
    winding = 0
    while i != tail:
        nxt = e[NEXT, i]
        xend = e[CELL, i]
        e[LEFT, i] -= 1
        if e[LEFT, i] != 0:
            _step(e, i, DQ, DR)
            cell = e[CELL, i]
            if cell < prev_x:
                pos = e[PREV, i]
                e[NEXT, pos] = nxt
                e[PREV, nxt] = pos
                while True:
                    pos = e[PREV, pos]
                    if not cell < e[CELL, pos]:
                        break
                e[PREV, e[NEXT, pos]] = i
                e[NEXT, i] = e[NEXT, pos]
                e[PREV, i] = pos
                e[NEXT, pos] = i
            else:
                prev_x = cell
            st[MIN_HEIGHT] = -1
        else:
            _unlink(e, i)
        winding += e[EDIR, i]
        if winding == 0:
            if e[CELL, nxt] != xend:
                _add_subspan(cells, xstart, xend, xmin, w)
                xstart = _INT_MIN
        elif xstart == _INT_MIN:
            xstart = xend
        i = nxt


@helper
def _mul(x, a):
    """The compositor's ``mul8x2_8`` of one channel: x * a / 255, its way."""
    t = x * a + 0x7F
    return (t + (t >> 8)) >> 8


@helper
def _blit(cells, w, surface, y0, y1, xmin):
    """``blit_a8`` and ``_fill_xrgb32_lerp_opaque_spans``: the cells' coverage of rows
    [y0, y1) as 8-bit alpha, white composited OVER each pixel of ``surface``; the cells
    are cleared."""
    cover = cells[1, 0]
    cells[1, 0] = 0
    cells[0, 0] = 0
    for c in range(1, w + 1):
        cover += cells[1, c]
        area = ((cover * (2 * GRID_X) - cells[0, c] + 32768) & 0xFFFF) - 32768
        cells[0, c] = 0
        cells[1, c] = 0
        a = ((area + (area << 4) + 256) >> 9) & 255
        x = xmin + c - 1
        # cairo skips a = 0 and writes white where a = 255: the lerp gives the same there.
        white = _mul(255, a)
        for y in range(y0, y1):
            surface[y, x] = min(white + _mul(np.int64(surface[y, x]), 255 - a), 255)
    cells[0, w + 1] = 0
    cells[1, w + 1] = 0


@helper
def fill_polygon(edges, n, ext, box, surface, e, buckets, sub, cells, st):
    """Scan-converts the polygon's ``n`` edges (extents ``ext``) in the pixel box ``box``
    (x0, y0, x1, y1: the compositor's, within the surface) and composites the white stroke
    onto ``surface`` (one channel of the ARGB32 image).  Work arrays: ``e`` (EDGE_ROWS,
    >= n + 2),
    ``buckets`` (>= rows of the surface), ``sub`` (GRID_Y), ``cells`` (2, >= width + 2),
    ``st`` (2)."""
    if n == 0 or ext[2] <= ext[0]:  # _cairo_polygon_is_empty
        return
    x0 = box[0]
    y0 = box[1]
    x1 = box[2]
    y1 = box[3]
    if x0 >= x1 or y0 >= y1:
        return
    ymin = y0 * GRID_Y
    ymax = y1 * GRID_Y
    rows = y1 - y0
    w = x1 - x0
    for r in range(rows):
        buckets[r] = _NIL
    m = 0
    for k in range(n):
        m = _add_edge(e, m, edges[k, P1X], edges[k, P1Y], edges[k, P2X], edges[k, P2Y],
                      edges[k, TOP], edges[k, BOTTOM], edges[k, DIR], ymin, ymax, buckets)
    head = e.shape[1] - 2
    tail = head + 1
    e[LEFT, head] = _INT_MAX
    e[DY, head] = 0
    e[CELL, head] = _INT_MIN
    e[PREV, head] = _NIL
    e[NEXT, head] = tail
    e[PREV, tail] = head
    e[NEXT, tail] = _NIL
    e[CELL, tail] = _INT_MAX
    e[LEFT, tail] = _INT_MAX
    e[DY, tail] = 0
    st[MIN_HEIGHT] = 0
    st[IS_VERTICAL] = 1
    for k in range(GRID_Y):
        sub[k] = _NIL
    i = 0
    while i < rows:
        j = i + 1
        # polygon_fill_buckets: the row's new edges into their sub-rows' buckets.
        deepest = 0
        k = buckets[i]
        while k != _NIL:
            nxt = e[NEXT, k]
            s = e[YTOP, k] - (i + y0) * GRID_Y
            if sub[s] != _NIL:
                e[PREV, sub[s]] = k
            e[NEXT, k] = sub[s]
            e[PREV, k] = _NIL
            sub[s] = k
            st[MIN_HEIGHT] = min(st[MIN_HEIGHT], e[LEFT, k])
            if e[DY, k] != 0:
                st[IS_VERTICAL] = 0
            deepest = max(deepest, s)
            k = nxt
        full = False
        if deepest == 0:
            if sub[0] != _NIL:
                _merge_in(e, head, sub[0])
                sub[0] = _NIL
            if e[NEXT, head] == tail:
                st[MIN_HEIGHT] = _INT_MAX
                st[IS_VERTICAL] = 1
                while j < rows and buckets[j] == _NIL:
                    j += 1
                i = j
                continue
            full = _can_do_full_row(e, head, tail, st)
        if full:
            _full_row(e, head, tail, st, cells, x0, w)
            if st[IS_VERTICAL]:
                while j < rows and buckets[j] == _NIL and st[MIN_HEIGHT] >= 2 * GRID_Y:
                    st[MIN_HEIGHT] -= GRID_Y
                    j += 1
                if j != i + 1:  # step_edges
                    k = e[NEXT, head]
                    while k != tail:
                        e[LEFT, k] -= (j - (i + 1)) * GRID_Y
                        if e[LEFT, k] == 0:
                            _unlink(e, k)
                            st[MIN_HEIGHT] = -1
                        k = e[NEXT, k]
        else:
            for s in range(GRID_Y):
                if sub[s] != _NIL:
                    _merge_in(e, head, sub[s])
                    sub[s] = _NIL
                _sub_row(e, head, tail, st, cells, x0, w)
        _blit(cells, w, surface, i + y0, j + y0, x0)
        st[MIN_HEIGHT] -= GRID_Y
        i = j
