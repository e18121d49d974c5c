"""Ramer–Douglas–Peucker line simplification of every stroke of a batch, as sketch-rnn's data
conversion runs it (the ``rdp`` package's ``rdp(points, epsilon)``, its iterative default).

Per stroke: the first and last points are kept; of the points between, the farthest from
the line through the two ends (the first one at that distance) is kept when its distance is
more than epsilon, and both halves are simplified the same way; otherwise every point
between goes.  A distance is ``|cross(end - start, start - point)| / |end - start|``, or
``|point - start|`` when the ends coincide, in float64: for whole-number coordinates under
2**24 (what the sketchrnn kind takes) every product is exact, so the kept points are the
package's whatever the order of the additions.
"""

from __future__ import annotations

import numpy as np

from fastdraw.kernels.jit import helper, kernel


@helper
def _distance(x, y, p, s, e):
    """Point p's distance to the line through points s and e (to s when they coincide)."""
    if x[s] == x[e] and y[s] == y[e]:
        dx = x[p] - x[s]
        dy = y[p] - y[s]
        return np.sqrt(dx * dx + dy * dy)
    ex = x[e] - x[s]
    ey = y[e] - y[s]
    cross = ex * (y[s] - y[p]) - ey * (x[s] - x[p])
    return abs(cross) / np.sqrt(ex * ex + ey * ey)


@kernel
def rdp_mask(x, y, stroke_offsets, epsilon):
    """bool per point: whether RDP with ``epsilon`` keeps it (within its stroke)."""
    keep = np.ones(len(x), dtype=np.bool_)
    stack = np.empty((max(len(x), 1), 2), dtype=np.int64)
    for s in range(len(stroke_offsets) - 1):
        first = stroke_offsets[s]
        last = stroke_offsets[s + 1] - 1
        if last - first < 2:
            continue
        top = 0
        stack[0, 0] = first
        stack[0, 1] = last
        top = 1
        while top > 0:
            top -= 1
            a = stack[top, 0]
            b = stack[top, 1]
            dmax = 0.0
            index = a
            for i in range(a + 1, b):
                d = _distance(x, y, i, a, b)
                if d > dmax:
                    index = i
                    dmax = d
            if dmax > epsilon:
                stack[top, 0] = a
                stack[top, 1] = index
                stack[top + 1, 0] = index
                stack[top + 1, 1] = b
                top += 2
            else:
                for i in range(a + 1, b):
                    keep[i] = False
    return keep
