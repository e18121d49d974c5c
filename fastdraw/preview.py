"""PNG pictures of drawings: the notebook's mosaic ("tableau") and previews of built datasets.

`inspect --mosaic` shows source drawings as the notebook's section 3 does (64 px tiles,
line width 4, maximized, shuffled); `preview` decodes the records of a built dataset back
into pictures, so that what was written can be seen: img records as their pixels, stroke
records redrawn from their deltas.  Neither imports TensorFlow.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from fastdraw.data import IMG_FEATURE_RE, read_labels, shard_paths
from fastdraw.groups import sample_dir
from fastdraw.ndjson import read_drawings
from fastdraw.proto import parse_example
from fastdraw.raster import rasterize
from fastdraw.tfrecord import read_records

log = logging.getLogger(__name__)

MOSAIC_TILE = 64
MOSAIC_LINE_WIDTH = 4
PREVIEW_TILE = 64
STROKE_LINE_WIDTH = 2
_LABEL_HEIGHT = 12
_GUTTER = 2
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


def _class_file(data_dir: Path, name: str) -> Path:
    for suffix in (".ndjson", ".ndjson.gz"):
        if (data_dir / f"{name}{suffix}").exists():
            return data_dir / f"{name}{suffix}"
    raise FileNotFoundError(f"{data_dir}: no {name}.ndjson (or .ndjson.gz) for class {name!r}; "
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
    counts = [sum(len(chunk) for chunk in read_drawings(f, limit=n))
              for f in files]
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
        for chunk in read_drawings(file, limit=n, on_reject=lambda r: None):  # told above
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


def cli_mosaic(args: argparse.Namespace) -> int:
    """`inspect CLASS... --mosaic FILE.png [--data DIR] [--rows R --cols C --seed S]`.

    Exit 2 on a bad grid size (under 1, or an image over MAX_PIXELS), 1 when the drawings
    cannot be read or the PNG written.
    """
    try:
        check_grid(args.rows, args.cols, MOSAIC_TILE)
    except ValueError as e:
        _fail("inspect", e)
        return 2
    try:
        img = mosaic(args.classes, args.data, args.rows, args.cols, args.seed)
        img.save(args.mosaic, format="PNG")
    except (OSError, ValueError) as e:
        _fail("inspect", e)
        return 1
    print(f"wrote {args.mosaic} ({img.width}x{img.height}, {len(args.classes)} classes)")
    return 0


def _fail(command: str, error: object) -> None:
    print(f"fastdraw {command}: error: {error}", file=sys.stderr)


def strokes_from_deltas(stroke: np.ndarray) -> list[np.ndarray]:
    """The strokes, as (2, k) float64 point arrays, of a (3, n) delta array (dx, dy, z).

    Points are the cumulative sum of (dx, dy), shifted so that x and y each start at 0:
    the encoded drawing's normalized points, less the per-axis minimum (deltas do not keep
    where the drawing was).  A point whose delta has z == 1 starts a new stroke (the move
    onto it was a pen lift).
    """
    xy = np.concatenate([np.zeros((2, 1)), np.cumsum(stroke[:2].astype(np.float64), axis=1)],
                        axis=1)
    xy -= xy.min(axis=1, keepdims=True)
    starts = np.concatenate([[0], np.flatnonzero(stroke[2] == 1) + 1, [xy.shape[1]]])
    return [xy[:, a:b] for a, b in itertools.pairwise(starts)]


def draw_strokes(stroke: np.ndarray, size: int = PREVIEW_TILE,
                 lw: int = STROKE_LINE_WIDTH) -> np.ndarray:
    """A (3, n) delta array drawn back as a centred (size, size) uint8 picture.

    x and y share one scale (the encoding normalized them together, so the aspect is
    kept); pen lifts are not drawn.
    """
    img = Image.new("L", (size, size))
    strokes = strokes_from_deltas(stroke)
    points = np.concatenate(strokes, axis=1)
    extent = points.max(axis=1, keepdims=True)
    scale = (size - 1 - lw) / max(float(extent.max()), 1e-9)
    offset = (size - 1 - extent * scale) / 2
    draw = ImageDraw.Draw(img)
    for s in strokes:
        xy = [tuple(p) for p in (s * scale + offset).T]
        if len(xy) == 1:
            draw.point(xy, fill=255)
        else:
            draw.line(xy, fill=255, width=lw, joint="curve")
    return np.asarray(img)


def dataset_tiles(path: str | Path, split: str, n: int,
                  on_tile_size: Callable[[int], None] | None = None
                  ) -> tuple[np.ndarray, list[str]]:
    """The first `n` records of a split (file order) as tiles, with their labels' class names.

    `on_tile_size` gets the first tile's size as soon as it is known (and may raise).
    A record that cannot be drawn raises ValueError naming its shard and index.
    """
    labels = read_labels(path)
    tiles, names = [], []
    records = ((shard, i, r) for shard in shard_paths(path, split)
               for i, r in enumerate(read_records(shard)))
    for shard, i, record in itertools.islice(records, n):
        try:
            features = parse_example(record)
            tiles.append(_tile(features))
        except ValueError as e:
            raise ValueError(f"{shard}: record {i}: {e}; `python -m fastdraw verify {path}` "
                             f"checks every record") from e
        label = int(features["label"][0]) if len(features.get("label", [])) else -1
        names.append(labels[label] if 0 <= label < len(labels) else f"label {label}?")
        if on_tile_size is not None and len(tiles) == 1:
            on_tile_size(tiles[0].shape[0])
    if not tiles:
        raise ValueError(f"{path}: split {split!r} has no records")
    return np.stack(tiles), names


_STROKE_FEATURES = ("stroke_x", "stroke_y", "stroke_z")


def _tile(features: dict) -> np.ndarray:
    for name, values in features.items():
        if m := IMG_FEATURE_RE.fullmatch(name):
            sz = int(m[1])
            if len(values) != sz * sz:
                raise ValueError(f"feature {name} has {len(values)} values, not {sz * sz}")
            img = np.asarray(values, dtype=np.int64).clip(0, 255).astype(np.uint8)
            img = img.reshape(sz, sz)
            scale = -(-PREVIEW_TILE // sz)
            return np.kron(img, np.ones((scale, scale), dtype=np.uint8)) if scale > 1 else img
    if all(k in features for k in _STROKE_FEATURES):
        lengths = [len(features[k]) for k in _STROKE_FEATURES]
        if len(set(lengths)) > 1:
            raise ValueError(f"stroke_x, stroke_y and stroke_z have {lengths} values, not "
                             f"as many each")
        stroke = np.stack([np.asarray(features[k], dtype=np.float32) for k in _STROKE_FEATURES])
        if not np.isfinite(stroke).all():
            raise ValueError("stroke deltas that are not finite (NaN or infinite)")
        return draw_strokes(stroke)
    raise ValueError(f"record has neither img_<size> nor stroke_x/y/z features: {sorted(features)}")


def preview(path: str | Path, split: str = "train", rows: int = 8, cols: int = 8) -> Image.Image:
    """A labelled grid of the first rows * cols records of a built dataset's split."""
    check_grid(rows, cols, PREVIEW_TILE, caption=True, gutter=_GUTTER)  # before reading any
    tiles, names = dataset_tiles(  # images over 64 px are bigger tiles: checked again
        path, split, rows * cols,
        lambda size: check_grid(rows, cols, size, caption=True, gutter=_GUTTER))
    return grid(tiles, rows, cols, names, caption=True, gutter=_GUTTER)


def cli_preview(args: argparse.Namespace) -> int:
    """`preview DATASET_DIR --split S --out FILE.png [--rows R --cols C]`.

    Exit 2 on a bad grid size (under 1, or an image over MAX_PIXELS), 1 when the dataset
    cannot be read or the PNG written (or its images are so big that the grid is too).
    """
    try:
        check_grid(args.rows, args.cols, PREVIEW_TILE, caption=True, gutter=_GUTTER)
    except ValueError as e:
        _fail("preview", e)
        return 2
    try:
        img = preview(args.dataset, args.split, args.rows, args.cols)
        img.save(args.out, format="PNG")
    except (OSError, ValueError) as e:
        _fail("preview", e)
        return 1
    print(f"wrote {args.out} ({img.width}x{img.height}, split {args.split} of {args.dataset})")
    return 0
