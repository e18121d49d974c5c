"""The sketchrnn codec: sketch-rnn's stroke-3 drawings, as its ``<class>.npz`` files hold them.

A drawing is an int16 (points, 3) array of rows ``(dx, dy, pen_lifted)``: the first row is
the first point's offset from the origin, every other one the offset from the point
before; ``pen_lifted`` is 1 on the last point of each stroke (magenta's sketch_rnn
``lines_to_strokes``).  With ``rdp`` > 0 every stroke is first simplified with
Ramer–Douglas–Peucker (fastdraw.kernels.rdp) at that epsilon; 0 keeps the points.  The
cumulative sums of the rows give back the (simplified) points exactly.

A record in the builder's spool is the drawing's rows (int16 little-endian); unpacked it
is the array as a pickle of it sits inside the split's object array in the ``.npy``
(fastdraw.dataset.npz writes the rest): ``_reconstruct(ndarray, (0,), b'b')`` given the
state ``(1, (points, 3), int16, False, rows)``, its globals and dtype taken from the
pickle's memo (MEMO_*), as pickle itself would write it after the first drawing.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from fastdraw.codecs.base import Codec, RecordChecks
from fastdraw.codecs.stroke import draw_strokes
from fastdraw.drawings import Drawings
from fastdraw.kernels.jit import helper, kernel
from fastdraw.kernels.rdp import rdp_mask
from fastdraw.kernels.unaligned import copy_bytes

MEMO_RECONSTRUCT, MEMO_ARGS, MEMO_INT16 = 0, 4, 6  # pickle memo slots the items refer to
INT16_MIN, INT16_MAX = -32768, 32767
COORDINATE_LIMIT = 1 << 24  # whole numbers below this: exact in RDP's float64 arithmetic
ROW_BYTES = 6


@helper
def put_pickled_int(buf, pos, v):
    if v < 256:
        buf[pos] = 0x4B  # K: BININT1
        buf[pos + 1] = np.uint8(v)
        return pos + 2
    if v < 65536:
        buf[pos] = 0x4D  # M: BININT2
        buf[pos + 1] = np.uint8(v & 0xFF)
        buf[pos + 2] = np.uint8(v >> 8)
        return pos + 3
    buf[pos] = 0x4A  # J: BININT
    for k in range(4):
        buf[pos + 1 + k] = np.uint8((v >> (8 * k)) & 0xFF)
    return pos + 5


@helper
def _put_item(buf, pos, src, a, rows):
    """The pickle of int16 (rows, 3) array whose bytes are ``src[a:a + 6 * rows]``: 16 bytes,
    2, 3 or 5 for ``rows``, 2 or 5 for the data's length, and the data (`SketchRnnCodec.pack`
    counts them)."""
    data = ROW_BYTES * rows
    buf[pos] = 0x68  # h: BINGET _reconstruct
    buf[pos + 1] = MEMO_RECONSTRUCT
    buf[pos + 2] = 0x68  # h: BINGET (ndarray, (0,), b'b')
    buf[pos + 3] = MEMO_ARGS
    buf[pos + 4] = 0x52  # R: REDUCE
    buf[pos + 5] = 0x28  # (: MARK of the state
    buf[pos + 6] = 0x4B  # K 1: its version
    buf[pos + 7] = 1
    pos = put_pickled_int(buf, pos + 8, rows)
    buf[pos] = 0x4B  # K 3
    buf[pos + 1] = 3
    buf[pos + 2] = 0x86  # TUPLE2: the shape
    buf[pos + 3] = 0x68  # h: BINGET int16
    buf[pos + 4] = MEMO_INT16
    buf[pos + 5] = 0x89  # NEWFALSE: not Fortran order
    pos += 6
    if data < 256:
        buf[pos] = 0x43  # C: SHORT_BINBYTES
        buf[pos + 1] = np.uint8(data)
        pos += 2
    else:
        buf[pos] = 0x42  # B: BINBYTES
        for k in range(4):
            buf[pos + 1 + k] = np.uint8((data >> (8 * k)) & 0xFF)
        pos += 5
    copy_bytes(src, a, buf, pos, data)
    pos += data
    buf[pos] = 0x74  # t: TUPLE (the state)
    buf[pos + 1] = 0x62  # b: BUILD
    return pos + 2


@kernel
def _stroke3_kernel(x, y, keep, stroke_offsets, drawing_offsets):
    """Every drawing's stroke-3 rows of its kept points: (int16 rows (total, 3), offsets in
    rows (N + 1,), -1 or the first drawing with a value beyond int16)."""
    n = len(drawing_offsets) - 1
    offsets = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        p0 = stroke_offsets[drawing_offsets[i]]
        p1 = stroke_offsets[drawing_offsets[i + 1]]
        kept = 0
        for p in range(p0, p1):
            kept += keep[p]
        offsets[i + 1] = offsets[i] + kept
    rows = np.zeros((offsets[n], 3), dtype=np.int16)
    bad = -1
    for i in range(n):
        r = offsets[i]
        px = 0.0
        py = 0.0
        for s in range(drawing_offsets[i], drawing_offsets[i + 1]):
            last = -1
            for p in range(stroke_offsets[s], stroke_offsets[s + 1]):
                if keep[p]:
                    last = p
            for p in range(stroke_offsets[s], stroke_offsets[s + 1]):
                if not keep[p]:
                    continue
                dx = x[p] - px
                dy = y[p] - py
                if not (INT16_MIN <= dx <= INT16_MAX and INT16_MIN <= dy <= INT16_MAX):
                    if bad < 0:
                        bad = i
                    dx = 0.0
                    dy = 0.0
                rows[r, 0] = np.int16(dx)
                rows[r, 1] = np.int16(dy)
                rows[r, 2] = 1 if p == last else 0
                px = x[p]
                py = y[p]
                r += 1
    return rows, offsets, bad


@kernel
def _unpack_kernel(src, starts, sizes, out, at):
    for i in range(len(starts)):
        _put_item(out, at[i], src, starts[i], sizes[i] // ROW_BYTES)


def stroke3(drawings: Drawings, epsilon: float) -> tuple[np.ndarray, np.ndarray]:
    """Every drawing's stroke-3 rows (int16 (total, 3)) and their offsets (N + 1,), its
    strokes simplified with RDP at ``epsilon`` first (0: every point kept).  Raises
    ValueError for a drawing that `unencodable_stroke3` names."""
    x = np.ascontiguousarray(drawings.x, dtype=np.float64)
    y = np.ascontiguousarray(drawings.y, dtype=np.float64)
    stroke_offsets = np.ascontiguousarray(drawings.stroke_offsets, dtype=np.int64)
    keep = rdp_mask(x, y, stroke_offsets, float(epsilon)) if epsilon > 0 else \
        np.ones(len(x), dtype=np.bool_)
    rows, offsets, bad = _stroke3_kernel(x, y, keep, stroke_offsets,
                                         np.ascontiguousarray(drawings.drawing_offsets,
                                                              dtype=np.int64))
    if bad >= 0:
        raise ValueError(f"drawing {bad} has offsets beyond int16: drop it before encoding")
    return rows, offsets


def unencodable_stroke3(drawings: Drawings, epsilon: float) -> dict[int, str]:
    """The drawings stroke-3 cannot hold exactly, by index, and why: a coordinate that is not
    a whole number, or of 2**24 or more, or an offset beyond int16."""
    out: dict[int, str] = {}
    points = drawings.stroke_offsets[drawings.drawing_offsets]
    for name, row in (("x", drawings.x), ("y", drawings.y)):
        bad = (row != np.floor(row)) | (np.abs(row) >= COORDINATE_LIMIT)
        for p in np.flatnonzero(bad).tolist():
            d = int(np.searchsorted(points, p, "right")) - 1
            out.setdefault(d, f"the drawing's {name} = {float(row[p])!r} is not a whole number "
                              f"under 2**24: stroke-3 holds whole-number int16 offsets (build "
                              "sketchrnn from simplified drawings, whose coordinates are "
                              "0..255)")
    rest = np.setdiff1d(np.arange(len(drawings)), np.fromiter(out, dtype=np.int64))
    if len(rest):
        part = drawings.take(rest)
        x = np.ascontiguousarray(part.x, dtype=np.float64)
        y = np.ascontiguousarray(part.y, dtype=np.float64)
        keep = rdp_mask(x, y, part.stroke_offsets, float(epsilon)) if epsilon > 0 else \
            np.ones(len(x), dtype=np.bool_)
        while True:
            _, _, bad = _stroke3_kernel(x, y, keep, part.stroke_offsets, part.drawing_offsets)
            if bad < 0:
                break
            out[int(rest[bad])] = ("an offset between two of the drawing's points is beyond "
                                   "int16 (-32768..32767), which stroke-3 holds")
            a, b = part.stroke_offsets[part.drawing_offsets[bad:bad + 2]]
            keep[a:b] = False  # the drawing gives no more rows: look past it
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class SketchRnnCodec(Codec):
    """sketch-rnn's stroke-3 drawings, simplified with RDP at ``rdp`` (0: not simplified)."""

    kind = "sketchrnn"
    default_splits = "train=70000,valid=2500,test=2500"  # the published files'
    sample_splits = "train=0.7,valid=0.15,test=0.15"
    layout = "sketch-rnn"
    recorded_options = ("rdp",)
    rdp: float = 2.0

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> SketchRnnCodec:
        return cls(rdp=float(options.get("rdp", 2.0)))

    @classmethod
    def from_features(cls, names: Collection[str]) -> SketchRnnCodec | None:
        return None  # its records are not Examples

    def features(self) -> dict[str, str]:
        return {}

    def metadata(self) -> dict[str, str]:
        return {}

    def check_options(self) -> None:
        if not (self.rdp >= 0 and np.isfinite(self.rdp)):
            raise ValueError(f"--rdp {self.rdp}: give the Ramer-Douglas-Peucker epsilon, a "
                             "number of at least 0 (0 keeps every point; sketch-rnn's data "
                             "used 2.0)")

    def unusable(self, drawings: Drawings) -> dict[int, str]:
        return unencodable_stroke3(drawings, self.rdp)

    def encode(self, labels: np.ndarray, stamps: np.ndarray, drawings: Drawings,
               gaps: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Each drawing's pickled stroke-3 array (no gaps: not a TFRecord)."""
        buf, offsets, sizes = self.pack(labels, stamps, drawings, gaps)
        out = np.empty(int(sizes.sum()), dtype=np.uint8)
        at = np.concatenate(([0], np.cumsum(sizes)))
        self.unpack(buf, offsets[:-1], np.diff(offsets), out, at[:-1])
        return out, at

    def pack(self, labels: np.ndarray, stamps: np.ndarray, drawings: Drawings,
             gaps: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each drawing's stroke-3 rows as int16 little-endian bytes, and its pickle's size."""
        rows, offsets = stroke3(drawings, self.rdp)
        counts = np.diff(offsets)
        data = ROW_BYTES * counts
        sizes = (16 + np.where(counts < 256, 2, np.where(counts < 65536, 3, 5))
                 + np.where(data < 256, 2, 5) + data)
        return (np.ascontiguousarray(rows, dtype="<i2").view(np.uint8).reshape(-1),
                offsets * ROW_BYTES, sizes)

    def unpack(self, src: np.ndarray, starts: np.ndarray, sizes: np.ndarray, out: np.ndarray,
               at: np.ndarray) -> None:
        _unpack_kernel(src, np.ascontiguousarray(starts, dtype=np.int64),
                       np.ascontiguousarray(sizes, dtype=np.int64), out,
                       np.ascontiguousarray(at, dtype=np.int64))

    def tf_decoder(self, **options: Any) -> tuple[dict, Callable]:
        raise ValueError("a sketchrnn dataset is sketch-rnn's <class>.npz files, not "
                         "TFRecords: read them with np.load(path, encoding='latin1', "
                         "allow_pickle=True)")

    def check(self, records: RecordChecks) -> None:
        """Nothing: verify checks its .npz files (fastdraw.dataset.npz), not Examples."""

    def picture(self, features: Mapping[str, Any], size: int) -> np.ndarray:
        """A stroke-3 array (``features["strokes"]``) drawn back."""
        rows = np.asarray(features["strokes"], dtype=np.float32)
        if rows.ndim != 2 or rows.shape[1] != 3 or not len(rows):
            raise ValueError(f"strokes of shape {rows.shape}, not (points, 3)")
        # Delta k moves from point k - 1 to k, onto a new stroke if the pen lifted after k - 1.
        return draw_strokes(np.vstack([rows[1:, :2].T, rows[None, :-1, 2]]), size)

    def warmup_drawing(self) -> None:
        rdp_mask(np.zeros(3), np.zeros(3), np.array([0, 3]), 2.0)

    def warmup_records(self) -> None:
        d = Drawings.from_dicts([{"drawing": [[[0, 1, 5], [0, 1, 0]], [[2], [3]]],
                                  "key_id": "1", "word": "w", "countrycode": "XX",
                                  "recognized": True, "timestamp": "2017-01-01 00:00:00 UTC"}])
        self.encode(np.zeros(1, dtype=np.int64), d.timestamp, d, (0, 0))

    def record_kernels(self) -> list:
        return [_stroke3_kernel, _unpack_kernel]
