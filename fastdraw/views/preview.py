"""Records of a built dataset drawn back into a labelled grid (`preview`): each record as its
codec draws it, so that what was written can be seen.  TensorFlow-free."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from fastdraw.codecs.proto import parse_example
from fastdraw.dataset.layout import (
    dataset_codec,
    pinned,
    read_labels,
    read_manifest,
    shard_compression,
    shard_paths,
)
from fastdraw.dataset.tfrecord import MAX_RECORD, read_records
from fastdraw.views.grid import check_grid, grid

PREVIEW_TILE = 64
GUTTER = 2


def dataset_tiles(path: str | Path, split: str, n: int,
                  on_tile_size: Callable[[int], None] | None = None
                  ) -> tuple[np.ndarray, list[str]]:
    """The first `n` records of a split (file order) as tiles, with their labels' class names.

    `on_tile_size` gets the first tile's size as soon as it is known (and may raise).
    A record that cannot be drawn raises ValueError naming its shard and index.  Reads the
    build `path` leads to when called (FileNotFoundError if another build replaces it).
    """
    path = pinned(path)
    labels = read_labels(path)
    manifest = read_manifest(path)
    codec = dataset_codec(path, manifest)
    compression = shard_compression(path, manifest)
    tiles, names = [], []
    bound = codec.max_record_bytes() if manifest is not None else MAX_RECORD  # a build's
    records = ((shard, i, r) for shard in shard_paths(path, split, manifest)
               for i, r in enumerate(read_records(shard, compression=compression,
                                                  max_record=bound)))
    for shard, i, record in itertools.islice(records, n):
        try:
            features = parse_example(record)
            tiles.append(codec.picture(features, PREVIEW_TILE))
        except ValueError as e:
            raise ValueError(f"{shard}: record {i}: {e}; `python -m fastdraw verify {path}` "
                             f"checks every record") from e
        found = features.get(codec.label_feature, [])
        label = int(found[0]) if len(found) else -1
        names.append(labels[label] if 0 <= label < len(labels) else f"label {label}?")
        if on_tile_size is not None and len(tiles) == 1:
            on_tile_size(tiles[0].shape[0])
    if not tiles:
        raise ValueError(f"{path}: split {split!r} has no records")
    return np.stack(tiles), names


def preview(path: str | Path, split: str = "train", rows: int = 8, cols: int = 8) -> Image.Image:
    """A labelled grid of the first rows * cols records of a built dataset's split; a split of
    fewer records gets a grid just big enough for them (as few rows, then columns, as hold
    them)."""
    check_grid(rows, cols, PREVIEW_TILE, caption=True, gutter=GUTTER)  # before reading any
    tiles, names = dataset_tiles(  # images over 64 px are bigger tiles: checked again
        path, split, rows * cols,
        lambda size: check_grid(rows, cols, size, caption=True, gutter=GUTTER))
    rows = min(rows, -(-len(tiles) // cols))
    cols = min(cols, -(-len(tiles) // rows))
    return grid(tiles, rows, cols, names, caption=True, gutter=GUTTER)
