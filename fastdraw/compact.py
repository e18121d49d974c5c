"""Img records packed for the builder's spool: one bit per pixel instead of a varint.

Most of an img Example is its image as packed varints, a byte per black pixel and
two per white one (about 4.5 KB at 64x64).  Rasterized pixels are 0 or 255, so a
bit says the same: phase 1 encodes records packed (``example.encode_img_packed``),
about an eighth of the size, and phase 2 unpacks them here to the very bytes of the
Example while it assembles a shard (then frames them).  The spool costs the file
system an eighth of the writes and reads, and phase 1 never writes the varints.

A packed record is: uint32 ``head`` (little-endian), the record's first ``head``
bytes (the room before the Example and the Example up to the image's varints), the
pixels' bits (pixel k of each byte in bit k, the last byte padded with zeros), then
the record's bytes after the varints (the other features and the room after them).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fastdraw.example import PACKED_HEAD, PIXEL_RUNS
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


def warmup() -> None:
    """Compiles (or loads) the kernel, for the arrays the builder passes it."""
    from fastdraw.drawings import Drawings
    from fastdraw.example import encode_img_examples, encode_img_packed

    images = np.zeros((1, 8, 8), dtype=np.uint8)
    images[0, 2:5] = 255
    d = Drawings.from_dicts([{"drawing": [[[0, 1], [0, 1]]], "key_id": "1", "word": "w",
                              "countrycode": "XX", "recognized": True,
                              "timestamp": "2017-01-01 00:00:00.0 UTC"}])
    labels = np.zeros(1, dtype=np.int64)
    gaps = (FRAME_HEAD, FRAME_TAIL)
    packed, offsets, sizes = encode_img_packed(labels, images, d, d.timestamp, gaps)
    out = np.zeros(int(sizes.sum()), dtype=np.uint8)
    unpack(packed, offsets[:-1], np.diff(offsets), 64, out, np.zeros(1, dtype=np.int64))
    buf, _ = encode_img_examples(labels, images, d, d.timestamp, gaps=gaps)
    if out[FRAME_HEAD:-FRAME_TAIL].tobytes() != buf[FRAME_HEAD:-FRAME_TAIL].tobytes():
        raise AssertionError("packed img records do not unpack to their Examples")
