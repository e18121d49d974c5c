"""Tiles laid out as one PNG-ready grid image, each tile with its label if asked."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

_LABEL_HEIGHT = 12
_GUTTER_GRAY = 64
_LABEL_GRAY = 200
MAX_PIXELS = 1 << 26  # the largest grid image: 64 megapixels (8192x8192), 64 MiB in memory


def grid_size(rows: int, cols: int, tile: int, caption: bool = False,
              gutter: int = 0) -> tuple[int, int]:
    """(width, height) in pixels of a rows x cols `grid` of `tile` px tiles."""
    cell_h = tile + (_LABEL_HEIGHT if caption else 0)
    return cols * (tile + gutter) - gutter, rows * (cell_h + gutter) - gutter


def check_grid(rows: int, cols: int, tile: int, caption: bool = False, gutter: int = 0) -> None:
    """Raises ValueError unless rows and cols are at least 1 and the grid image has at most
    MAX_PIXELS pixels (a bigger PNG takes more memory to draw than a machine may have, and
    Pillow refuses to open one as a possible decompression bomb)."""
    if rows < 1 or cols < 1:
        raise ValueError(f"--rows and --cols must be at least 1, not {rows}x{cols}")
    width, height = grid_size(rows, cols, tile, caption, gutter)
    if width * height > MAX_PIXELS:
        cell_w, cell_h = grid_size(1, 1, tile, caption, gutter)
        side = math.isqrt(MAX_PIXELS // ((cell_w + gutter) * (cell_h + gutter)))
        raise ValueError(
            f"a {rows}x{cols} grid of {tile} px tiles would be a {width}x{height} image "
            f"({width * height:,} pixels); the most is {MAX_PIXELS:,} pixels (8192x8192): "
            f"ask for fewer --rows and --cols (such as --rows {side} --cols {side})")


def grid(tiles: np.ndarray, rows: int, cols: int, labels: Sequence[str] | None = None,
         caption: bool = False, gutter: int = 0) -> Image.Image:
    """Tiles (N, sz, sz) uint8 laid out row by row on a rows x cols 'L' image.

    Missing tiles stay black.  With `labels`, each tile gets its label in the default
    font: on a strip below it when `caption`, else in its top-left corner.
    """
    n, sz = len(tiles), tiles.shape[1]
    check_grid(rows, cols, sz, labels is not None and caption, gutter)
    cell_h = sz + (_LABEL_HEIGHT if labels is not None and caption else 0)
    out = np.full((rows * (cell_h + gutter) - gutter, cols * (sz + gutter) - gutter),
                  _GUTTER_GRAY if gutter else 0, dtype=np.uint8)
    for i in range(rows * cols):
        y, x = divmod(i, cols)
        top, left = y * (cell_h + gutter), x * (sz + gutter)
        out[top:top + cell_h, left:left + sz] = 0
        if i < n:
            out[top:top + sz, left:left + sz] = tiles[i]
    img = Image.fromarray(out, "L")
    if labels is not None:
        draw = ImageDraw.Draw(img)
        for i in range(min(n, rows * cols)):
            y, x = divmod(i, cols)
            top, left = y * (cell_h + gutter), x * (sz + gutter)
            text = _fit(draw, labels[i], sz - 2)
            if caption:
                draw.text((left + 1, top + sz), text, fill=_LABEL_GRAY)
            else:
                box = draw.textbbox((left + 1, top), text)
                draw.rectangle((left, top, box[2], box[3]), fill=0)
                draw.text((left + 1, top), text, fill=_LABEL_GRAY)
    return img


def _fit(draw: ImageDraw.ImageDraw, text: str, width: int) -> str:
    """`text`, cut short (with '…') to fit `width` pixels."""
    if draw.textlength(text) <= width:
        return text
    while text and draw.textlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def save_png(img: Image.Image, path: str | Path) -> None:
    """Writes ``img`` as a PNG at ``path``, which appears only when complete: written beside
    it, then renamed (a full disk or an interrupt leaves no cut-off PNG, and a file there
    before stays whole).  A path that is not a regular file (a pipe, /dev/stdout) is written
    as it is.  An OSError names ``path``."""
    path = Path(path)
    if path.exists() and not path.is_file():
        img.save(path, format="PNG")
        return
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        img.save(tmp, format="PNG")
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise OSError(e.errno, f"cannot write {path}: {e.strerror}") from None
        raise
