"""The official bitmaps' recipe drawn by cairo itself (cairocffi over the system's libcairo):
the tests' oracle for `fastdraw.kernels.bitmap`, and a peer in its benchmark.

The recipe (issue 19 of googlecreativelab/quickdraw-dataset, checked on the official rows):
antialiased round-capped, round-joined white lines of width 16 on a black ARGB32 surface,
``scale(size / 304)``, ``translate(24, 24)``, the drawing centred by
``translate((256 - max x) / 2, (256 - max y) / 2)``, each stroke ``move_to`` its first
point, ``line_to`` each point (the first one included) and stroked on its own; one channel
kept.  The official rows are cairo 1.16's: `CAIRO` is None (with `WHY_NOT` saying why)
where cairocffi cannot load a libcairo 1.16.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CAIRO = None
WHY_NOT = ""
try:
    import cairocffi
except ImportError as e:  # not installed
    WHY_NOT = f"cairocffi is not installed ({e})"
except OSError as e:  # installed, but no libcairo on the machine
    WHY_NOT = f"cairocffi finds no libcairo ({e})"
else:
    _version = cairocffi.cairo_version_string()
    if _version.startswith("1.16."):
        CAIRO = cairocffi
    else:
        WHY_NOT = f"the official rows are cairo 1.16's; this machine's libcairo is {_version}"


def cairo_bitmap(strokes: Sequence[Sequence[Sequence[float]]], size: int = 28) -> np.ndarray:
    """One drawing (strokes of [x list, y list]) as cairo draws it: uint8 (size, size)."""
    cairo = CAIRO
    total = 256 + 2 * 16 + 16
    surface = cairo.ImageSurface(cairo.FORMAT_ARGB32, size, size)
    ctx = cairo.Context(surface)
    ctx.set_antialias(cairo.ANTIALIAS_DEFAULT)
    ctx.set_line_cap(cairo.LINE_CAP_ROUND)
    ctx.set_line_join(cairo.LINE_JOIN_ROUND)
    ctx.set_line_width(16)
    ctx.scale(size / total, size / total)
    ctx.translate(16 + 16 / 2, 16 + 16 / 2)
    ctx.set_source_rgb(0, 0, 0)
    ctx.paint()
    strokes = [s for s in strokes if len(s[0])]
    if strokes:
        mx = max(max(s[0]) for s in strokes)
        my = max(max(s[1]) for s in strokes)
        ctx.translate((256 - mx) / 2.0, (256 - my) / 2.0)
    ctx.set_source_rgb(1, 1, 1)
    for xs, ys in strokes:
        ctx.move_to(xs[0], ys[0])
        for x, y in zip(xs, ys):
            ctx.line_to(x, y)
        ctx.stroke()
    surface.flush()
    data = np.frombuffer(surface.get_data(), np.uint8)
    return data.reshape(size, surface.get_stride() // 4, 4)[:, :size, 0].copy()
