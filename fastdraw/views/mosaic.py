"""The notebook's mosaic ("tableau") of source drawings: `inspect --mosaic`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from fastdraw.kernels.raster import rasterize
from fastdraw.sources import class_file, open_source
from fastdraw.sources.base import class_file_names
from fastdraw.sources.classes import sample_dir
from fastdraw.views.grid import check_grid, grid

log = logging.getLogger(__name__)

MOSAIC_TILE = 64
MOSAIC_LINE_WIDTH = 4
MAX_SEED = 2**32 - 1  # numpy's RandomState takes seeds 0 to this


def _class_file(data_dir: Path, name: str) -> Path:
    path = class_file(data_dir, name)
    if path is not None:
        return path
    raise FileNotFoundError(f"{data_dir}: no {class_file_names(name)} for class {name!r}; "
                            f"download it first (python -m fastdraw download --classes {name!r})")


def mosaic(classes: Sequence[str], data_dir: str | Path | None = None, rows: int = 10,
           cols: int = 10, seed: int = 0) -> Image.Image:
    """The notebook's tableau: rows * cols recognized drawings per class, shuffled, rasterized.

    As in the notebook, the first rows * cols recognized drawings of each class are
    concatenated and permuted (`np.random.RandomState(seed).permutation`, i.e. the notebook's
    `np.random.permutation` after `np.random.seed(seed)`); the first rows * cols are drawn
    as 64 px tiles with line width 4.  With several classes each tile is labelled.
    """
    check_grid(rows, cols, MOSAIC_TILE)
    data_dir = Path(data_dir if data_dir is not None else sample_dir())
    n = rows * cols
    files = [_class_file(data_dir, name) for name in classes]
    # A first read counts the drawings, so that only the n drawn are rasterized (memory for
    # n tiles, not for n per class); the second reads the same drawings, in the same order.
    counts = [sum(len(chunk) for chunk in open_source(f).read(limit=n)) for f in files]
    if not sum(counts):
        raise ValueError(f"{data_dir}: no recognized drawings of {', '.join(classes)}")
    order = np.random.RandomState(seed).permutation(sum(counts))[:n]
    if len(order) < n:
        log.info("only %d drawings for %d tiles: the rest stay black", len(order), n)
    slot = np.full(sum(counts), -1, dtype=np.int64)  # each drawing's tile, -1: not drawn
    slot[order] = np.arange(len(order))
    tiles = np.zeros((len(order), MOSAIC_TILE, MOSAIC_TILE), dtype=np.uint8)
    labels = [""] * len(order)
    start = 0
    for name, file, count in zip(classes, files, counts):
        seen = 0
        for chunk in open_source(file).read(limit=n, on_reject=lambda r: None):  # told above
            tile = slot[start + seen:start + seen + len(chunk)]
            drawn = np.flatnonzero(tile >= 0)
            if len(drawn):
                images = rasterize(chunk, img_sz=MOSAIC_TILE, lw=MOSAIC_LINE_WIDTH, maximize=True)
                tiles[tile[drawn]] = images[drawn]
                for t in tile[drawn].tolist():
                    labels[t] = name
            seen += len(chunk)
        if seen != count:
            raise ValueError(f"{file}: changed while it was read ({count} drawings, then "
                             f"{seen}); try again")
        start += count
    return grid(tiles, rows, cols, labels if len(classes) > 1 else None)
