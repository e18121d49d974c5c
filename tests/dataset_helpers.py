"""Small datasets of real drawings, built by fastdraw, for the preview, verify and data tests;
the tiles of a grid picture, for the preview, mosaic and grid tests."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from conftest import SIMPLIFIED

from fastdraw.build import BuildOptions, build
from fastdraw.notebook import reference

CLASSES = ["cat", "eye", "sea turtle"]
SPLITS = {"train": 5, "eval": 2, "test": 2}
SHARDS = 2


def built_datasets(root: Path) -> dict[str, Path]:
    """`<root>/test_img` and `<root>/test_stroke`: CLASSES with SPLITS in SHARDS shards."""
    opts = BuildOptions(
        classes=CLASSES, files=[SIMPLIFIED / f"{c}.ndjson" for c in CLASSES], name="test",
        out=root, splits={"img": dict(SPLITS), "stroke": dict(SPLITS)}, shards=SHARDS,
        workers=1, progress=False,
    )
    return {b.kind: b.path for b in build(opts)}


def drawings_by_key() -> dict[int, dict]:
    """Every recognized drawing of CLASSES (notebook dicts), by key_id."""
    return {int(d["key_id"]): d for c in CLASSES
            for d in reference.loaditer(c, data_path=SIMPLIFIED)}


def tiles_of(img: np.ndarray, sz: int, rows: int, cols: int, pitch_y: int | None = None,
             pitch_x: int | None = None) -> list[np.ndarray]:
    """The rows x cols tiles (sz x sz) of a grid picture, row by row, `pitch_y` / `pitch_x`
    pixels apart (default: sz, no gutter)."""
    py, px = pitch_y or sz, pitch_x or sz
    return [img[y * py:y * py + sz, x * px:x * px + sz]
            for y, x in itertools.product(range(rows), range(cols))]
