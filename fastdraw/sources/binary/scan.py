"""The binary scanner: a numba kernel that reads the whole records of a block of a `.bin` file
straight into the arrays of a `Drawings` batch, checking each one.

A record (the official layout, little-endian): ``key_id`` uint64, ``countrycode`` 2 bytes,
``recognized`` int8, ``timestamp`` uint32, ``n_strokes`` uint16, then per stroke ``n_points``
uint16, ``x`` uint8[n_points], ``y`` uint8[n_points].  Records follow each other with
nothing between them, so a record's counts are what say where the next one starts.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fastdraw.kernels.jit import kernel
from fastdraw.kernels.unaligned import copy_bytes, load_u64, store_u64

HEADER = 17  # bytes before a record's first stroke
SHORTEST = HEADER + 2 + 2 * 2  # the shortest good record: one stroke of two points
# What is wrong with a record, the first problem found (its detail says more).
GOOD, BAD_COUNTRY, BAD_RECOGNIZED, BIG_KEY, NO_STROKES, EMPTY_STROKE, NO_SEGMENT = range(7)
# Why the records of a block end before its end: the block ends inside the next one's header,
# or inside its strokes (``where``: the stroke whose count or points are not all there).
WHOLE, IN_HEADER, IN_STROKES = range(3)


@kernel
def _scan(b, unrecognized, first, limit):
    """Reads the whole records at the start of ``b``, numbered from ``first``, up to the
    one that makes ``limit`` kept.

    One pass: a record's header is checked, then its strokes are walked, their points
    copied as they go (when the record is to be kept: good and, unless ``unrecognized``,
    recognized); a record found bad among its strokes is dropped from the arrays again.
    Points are copied as bytes, eight at a time (a stroke holds 2 to 20), into arrays with
    room for the bytes a last copy writes past its stroke's end.
    """
    n = len(b)
    most = n // HEADER + 1
    start = np.empty(most + 1, np.int64)
    status = np.empty(most, np.int64)
    detail = np.empty(most, np.int64)
    line = np.empty(most, np.int64)
    key = np.empty(most, np.int64)
    ts = np.empty(most, np.int64)
    recognized = np.empty(most, np.bool_)
    country = np.empty(most, np.int64)
    drawing_offsets = np.empty(most + 1, np.int64)
    stroke_offsets = np.empty(n // 2 + 1, np.int64)
    xb = np.empty(n // 2 + 8, np.uint8)
    yb = np.empty(n // 2 + 8, np.uint8)
    drawing_offsets[0] = 0
    stroke_offsets[0] = 0
    records = drawings = strokes = points = bad = 0
    end = WHOLE
    where = 0
    p = 0
    while p < n:
        if n - p < HEADER:
            end = IN_HEADER
            break
        ns = np.int64(b[p + 15]) | (np.int64(b[p + 16]) << 8)
        c0 = b[p + 8]
        c1 = b[p + 9]
        rec = b[p + 10]
        st = GOOD
        det = 0
        if c0 < 32 or c0 > 126 or c1 < 32 or c1 > 126:
            st = BAD_COUNTRY
        elif rec > 1:
            st = BAD_RECOGNIZED
            det = rec
        elif b[p + 7] > 127:
            st = BIG_KEY
        elif ns == 0:
            st = NO_STROKES
        keep = st == GOOD and (unrecognized or rec == 1)
        q = p + HEADER
        s = strokes
        o = points
        longest = 0
        for k in range(ns):
            if n - q < 2:
                end = IN_STROKES
                where = k
                break
            m = np.int64(b[q]) | (np.int64(b[q + 1]) << 8)
            q += 2
            if n - q < 2 * m:
                end = IN_STROKES
                where = k
                break
            if m == 0 and st == GOOD:
                st = EMPTY_STROKE
                det = k
                keep = False
            if keep:
                if n - q >= 2 * m + 8:
                    i = 0
                    while i < m:
                        store_u64(xb, o + i, load_u64(b, q + i))
                        store_u64(yb, o + i, load_u64(b, q + m + i))
                        i += 8
                else:  # near the block's end: no byte past it is read
                    copy_bytes(b, q, xb, o, m)
                    copy_bytes(b, q + m, yb, o, m)
                o += m
                s += 1
                stroke_offsets[s] = o
            longest = max(longest, m)
            q += 2 * m
        if end != WHOLE:
            break
        if st == GOOD and longest < 2:
            st = NO_SEGMENT
            keep = False
        start[records] = p
        status[records] = st
        detail[records] = det
        bad += st != GOOD
        if keep:
            v = np.int64(0)
            for i in range(8):
                v |= np.int64(b[p + i]) << (8 * i)
            key[drawings] = v
            country[drawings] = np.int64(c0) | (np.int64(c1) << 8)
            recognized[drawings] = rec == 1
            ts[drawings] = (np.int64(b[p + 11]) | (np.int64(b[p + 12]) << 8)
                            | (np.int64(b[p + 13]) << 16) | (np.int64(b[p + 14]) << 24))
            line[drawings] = first + records
            drawings += 1
            drawing_offsets[drawings] = s
            strokes = s
            points = o
        records += 1
        p = q
        if drawings == limit:
            break
    start[records] = p
    return (records, start[:records + 1], status[:records], detail[:records], bad, end, where,
            line[:drawings], key[:drawings], ts[:drawings], recognized[:drawings],
            country[:drawings], drawing_offsets[:drawings + 1], stroke_offsets[:strokes + 1],
            xb[:points], yb[:points])


class Scan(NamedTuple):
    """What the scanner read of a block: its ``records`` whole records (their starts, and
    where it stopped: at the block's end, after the record that made its limit kept, or
    before one the block does not hold whole: `WHOLE`, or `IN_HEADER` / `IN_STROKES` and the
    stroke), what is wrong with each (`GOOD` or a problem, with its detail; ``bad`` of them
    not good), and the kept records as a `Drawings` batch's arrays, their points as bytes."""

    records: int
    start: np.ndarray
    status: np.ndarray
    detail: np.ndarray
    bad: int
    end: int
    where: int
    line: np.ndarray  # the kept records' numbers
    key_id: np.ndarray
    timestamp: np.ndarray
    recognized: np.ndarray
    country: np.ndarray  # the two country code bytes, the first in the low byte
    drawing_offsets: np.ndarray
    stroke_offsets: np.ndarray
    x: np.ndarray  # uint8
    y: np.ndarray  # uint8


def scan(block: np.ndarray, unrecognized: bool, first: int = 1, limit: int = -1) -> Scan:
    """Scans the whole records at the start of ``block`` (contiguous uint8), numbered from
    ``first``, up to the one that makes ``limit`` kept (-1: no limit)."""
    return Scan(*_scan(block, unrecognized, first, limit))
