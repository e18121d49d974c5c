"""Framed img records packed for the builder's spool: one bit per pixel instead of a varint.

Most of an img Example is its image as packed varints, a byte per black pixel and
two per white one (about 4.5 KB at 64x64).  Rasterized pixels are 0 or 255, so a
bit says the same: phase 1 spools packed records, about a fifth of the size, and
phase 2 unpacks them to the very same bytes as it assembles a shard.  The spool
then costs the file system a fifth of the writes and reads.

A packed record is: uint32 ``head`` (little-endian), the framed record's first
``head`` bytes (frame header and the Example up to the image's varints), the
pixels' bits (pixel k of each byte in bit k, the last byte padded with zeros), then
the record's bytes after the varints (the other features and the frame footer).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fastdraw.example import PIXEL_RUNS, gather_bits
from fastdraw.unaligned import copy_bytes, load_u64, store_u64

_HEAD = 4  # bytes of the uint32 head
_HIGH_BITS = 0x8080808080808080


def pack(buf: np.ndarray, slots: np.ndarray, pixel_at: np.ndarray, images: np.ndarray,
         out: np.ndarray) -> np.ndarray:
    """Packs framed img record i, ``buf[slots[i]:slots[i + 1]]`` whose varints of
    ``images[i]`` start at ``pixel_at[i]``, into ``out`` (at least ``packed_bound`` bytes);
    returns the packed records' offsets in ``out`` (N + 1,)."""
    pixels = np.ascontiguousarray(images, dtype=np.uint8).reshape(len(images), -1)
    if len(slots) != len(pixels) + 1 or len(pixel_at) != len(pixels):
        raise ValueError(f"{len(slots) - 1} records, {len(pixel_at)} pixel offsets and "
                         f"{len(pixels)} images")
    if len(out) < packed_bound(slots):
        raise ValueError("out is too small")
    offsets = np.zeros(len(pixels) + 1, dtype=np.int64)
    bad = _pack(buf, slots, pixel_at, pixels, out, offsets)
    if bad >= 0:
        raise ValueError(f"image {bad} has pixels other than 0 and 255: it cannot be packed")
    return offsets


def packed_bound(slots: np.ndarray) -> int:
    """Bytes that packing the records of ``slots`` can need at most (bits never take more
    room than varints; the head and a padded last byte add at most 5 bytes a record)."""
    return int(slots[-1] - slots[0]) + (_HEAD + 1) * (len(slots) - 1)


@njit(cache=True, nogil=True)
def _pack(buf, slots, pixel_at, pixels, out, offsets):
    """Returns -1, or the first image with a pixel neither 0 nor 255."""
    n_pixels = pixels.shape[1]
    pos = 0
    for i in range(len(pixel_at)):
        s = slots[i]
        head = pixel_at[i] - s
        for k in range(_HEAD):
            out[pos + k] = (head >> (8 * k)) & 0xFF
        copy_bytes(buf, s, out, pos + _HEAD, head)
        pos += _HEAD + head
        row = pixels[i]
        white = 0
        j = 0
        while j + 8 <= n_pixels:
            w = load_u64(row, j)
            ones = (w & np.uint64(_HIGH_BITS)) >> np.uint64(7)
            if ones * np.uint64(255) != w:
                return i
            m = np.int64(gather_bits(ones))
            out[pos] = m
            white += _popcount8(m)
            pos += 1
            j += 8
        if j < n_pixels:
            m = 0
            for k in range(n_pixels - j):
                v = row[j + k]
                if v == 255:
                    m |= 1 << k
                    white += 1
                elif v != 0:
                    return i
            out[pos] = m
            pos += 1
        tail = pixel_at[i] + n_pixels + white  # the varints take a byte per pixel, 2 if white
        copy_bytes(buf, tail, out, pos, slots[i + 1] - tail)
        pos += slots[i + 1] - tail
        offsets[i + 1] = pos
    return -1


@njit(cache=True, nogil=True, inline="always")
def _popcount8(m):
    m = (m & 0x55) + ((m >> 1) & 0x55)
    m = (m & 0x33) + ((m >> 2) & 0x33)
    return (m & 0x0F) + (m >> 4)


def unpack(src: np.ndarray, starts: np.ndarray, sizes: np.ndarray, n_pixels: int,
           out: np.ndarray, at: np.ndarray) -> None:
    """Unpacks the packed record ``src[starts[i]:starts[i] + sizes[i]]`` of an image of
    ``n_pixels`` into the framed record at ``out[at[i]:]``, for every i (``out`` must
    have room for them all: their framed sizes)."""
    _unpack(src, starts, sizes, n_pixels, *PIXEL_RUNS, out, at)


@njit(cache=True, nogil=True)
def _unpack(src, starts, sizes, n_pixels, runs, run_sizes, out, at):
    full = n_pixels // 8
    for i in range(len(starts)):
        s = starts[i]
        d = at[i]
        head = 0
        for k in range(_HEAD):
            head |= np.int64(src[s + k]) << (8 * k)
        copy_bytes(src, s + _HEAD, out, d, head)
        d += head
        q = s + _HEAD + head
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
    """Compiles (or loads) both kernels, for the arrays the builder passes them."""
    from fastdraw.drawings import Drawings
    from fastdraw.example import encode_img_records
    from fastdraw.tfrecord import FRAME_HEAD, FRAME_TAIL

    images = np.zeros((1, 8, 8), dtype=np.uint8)
    images[0, 2:5] = 255
    d = Drawings.from_dicts([{"drawing": [[[0, 1], [0, 1]]], "key_id": "1", "word": "w",
                              "countrycode": "XX", "recognized": True,
                              "timestamp": "2017-01-01 00:00:00.0 UTC"}])
    buf, slots, pixel_at = encode_img_records(np.zeros(1, dtype=np.int64), images, d,
                                              d.timestamp, gaps=(FRAME_HEAD, FRAME_TAIL))
    packed = np.empty(packed_bound(slots), dtype=np.uint8)
    offsets = pack(buf, slots, pixel_at, images, packed)
    out = np.empty(len(buf), dtype=np.uint8)
    unpack(packed, offsets[:-1], np.diff(offsets), 64, out, slots[:-1])
    if out.tobytes() != buf.tobytes():
        raise AssertionError("packing img records does not round-trip")
