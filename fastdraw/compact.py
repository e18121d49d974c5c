"""Records packed for the builder's spool, and unpacked to the very bytes of their Examples.

Phase 1 spools every record packed and phase 2 unpacks it here while it assembles
a shard (then frames it): the spool costs the file system about 0.4 (stroke) to an
eighth (img) of the writes and reads, and phase 1 never writes the bulky part of an
Example.

Img (``example.encode_img_packed``): most of an Example is its image as packed
varints, a byte per black pixel and two per white one (about 4.5 KB at 64x64).
Rasterized pixels are 0 or 255, so a bit says the same, an eighth of the size.  A
packed record is: uint32 ``head`` (little-endian), the record's first ``head`` bytes
(the room before the Example and the Example up to the image's varints), the pixels'
bits (pixel k of each byte in bit k, the last byte padded with zeros), then the
record's bytes after the varints (the other features and the room after them).

Stroke (``example.encode_stroke_packed``): most of an Example is its three rows of
float32 deltas, 12 bytes a point.  They follow from the drawing's points, so the
record keeps the points instead, 2 bytes a point when every coordinate is a whole
number 0..255 (as in simplified drawings), else 8 (their float32 values, which are
all the stroke encoding reads), and phase 2 computes the deltas with
``strokes.xy_deltas``, the very arithmetic of ``strokes.encode_strokes``.  A packed
record is: uint32 ``head``, ``mid`` and ``m`` (deltas) and uint8 ``width`` (1 or 4);
the record without its three float payloads (``head`` bytes up to stroke_x's, two
``mid``-byte entry heads before stroke_y's and stroke_z's, then the rest); then, if
m > 0, the m + 1 points' x and y (``width`` bytes each, float32 little-endian when 4)
and m bits of stroke_z (delta k in bit k % 8 of byte k // 8).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from fastdraw.example import PACKED_HEAD, PACKED_STROKE_HEAD, PIXEL_RUNS
from fastdraw.strokes import xy_deltas
from fastdraw.tfrecord import FRAME_HEAD, FRAME_TAIL
from fastdraw.unaligned import copy_bytes, load_u32, store_u64


def unpack(src: np.ndarray, starts: np.ndarray, sizes: np.ndarray, n_pixels: int,
           out: np.ndarray, at: np.ndarray) -> None:
    """Unpacks the packed record ``src[starts[i]:starts[i] + sizes[i]]`` of an image of
    ``n_pixels`` into ``out[at[i]:]``, for every i (``out`` must have room for them all:
    their unpacked sizes)."""
    _unpack(src, starts, sizes, n_pixels, *PIXEL_RUNS, out, at)


@njit(cache=True, nogil=True)
def _unpack(src, starts, sizes, n_pixels, runs, run_sizes, out, at):
    full = n_pixels // 8
    for i in range(len(starts)):
        s = starts[i]
        d = at[i]
        head = load_u32(src, s)
        copy_bytes(src, s + PACKED_HEAD, out, d, head)
        d += head
        q = s + PACKED_HEAD + head
        for k in range(full):
            m = src[q + k]
            store_u64(out, d, runs[m, 0])  # may write past the run: the tail comes after
            store_u64(out, d + 8, runs[m, 1])
            d += run_sizes[m]
        q += full
        if full * 8 < n_pixels:
            m = src[q]
            for k in range(n_pixels - full * 8):
                if (m >> k) & 1:
                    out[d] = 255
                    out[d + 1] = 1
                    d += 2
                else:
                    out[d] = 0
                    d += 1
            q += 1
        copy_bytes(src, q, out, d, s + sizes[i] - q)


def unpack_strokes(src: np.ndarray, starts: np.ndarray, sizes: np.ndarray, out: np.ndarray,
                   at: np.ndarray) -> None:
    """Unpacks the packed stroke record ``src[starts[i]:starts[i] + sizes[i]]`` into
    ``out[at[i]:]``, for every i (``out`` must have room for their unpacked sizes)."""
    _unpack_strokes(src, starts, sizes, out, at)


@njit(cache=True, nogil=True)
def _unpack_strokes(src, starts, sizes, out, at):
    most = 1
    for i in range(len(starts)):
        most = max(most, load_u32(src, starts[i] + 8) + 1)
    rows = np.zeros((3, most), dtype=np.float32)  # the record's deltas
    points = np.empty((2, most), dtype=np.float32)  # its points, when stored as float32
    row_bytes = rows.view(np.uint8).reshape(-1)
    point_bytes = points.view(np.uint8).reshape(-1)
    for i in range(len(starts)):
        s = starts[i]
        head = load_u32(src, s)
        mid = load_u32(src, s + 4)
        m = load_u32(src, s + 8)
        width = np.int64(src[s + 12])
        n = m + 1 if m > 0 else 0
        at_points = s + sizes[i] - 2 * width * n - (m + 7) // 8
        if m > 0:
            if width == 1:
                xy_deltas(src[at_points:], src[at_points + n:], 0, n, rows[0], rows[1], 0)
            else:
                copy_bytes(src, at_points, point_bytes, 0, 4 * n)
                copy_bytes(src, at_points + 4 * n, point_bytes, 4 * most, 4 * n)
                xy_deltas(points[0], points[1], 0, n, rows[0], rows[1], 0)
            z = at_points + 2 * width * n
            for k in range(m):
                rows[2, k] = np.float32((src[z + k // 8] >> (k % 8)) & 1)
        q = s + PACKED_STROKE_HEAD
        d = at[i]
        for r in range(3):
            size = head if r == 0 else mid
            copy_bytes(src, q, out, d, size)
            q += size
            d += size
            copy_bytes(row_bytes, 4 * most * r, out, d, 4 * m)
            d += 4 * m
        copy_bytes(src, q, out, d, at_points - q)


def warmup(kinds: Sequence[str] = ("img", "stroke")) -> None:
    """Compiles (or loads) the unpackers of ``kinds``, for the arrays the builder passes
    them."""
    from fastdraw.drawings import Drawings
    from fastdraw.example import encode_img_packed, encode_stroke_packed

    d = Drawings.from_dicts([{"drawing": [[[0, 1], [0, 1]], [[2.5], [3]]], "key_id": "1",
                              "word": "w", "countrycode": "XX", "recognized": True,
                              "timestamp": "2017-01-01 00:00:00.0 UTC"}])
    labels = np.zeros(1, dtype=np.int64)
    gaps = (FRAME_HEAD, FRAME_TAIL)
    start = np.zeros(1, dtype=np.int64)
    if "img" in kinds:
        images = np.zeros((1, 8, 8), dtype=np.uint8)
        packed, offsets, sizes = encode_img_packed(labels, images, d, d.timestamp, gaps)
        unpack(packed, offsets[:-1], np.diff(offsets), 64,
               np.zeros(int(sizes.sum()), dtype=np.uint8), start)
    if "stroke" in kinds:
        packed, offsets, sizes = encode_stroke_packed(labels, d, d.timestamp, gaps)
        unpack_strokes(packed, offsets[:-1], np.diff(offsets),
                       np.zeros(int(sizes.sum()), dtype=np.uint8), start)
