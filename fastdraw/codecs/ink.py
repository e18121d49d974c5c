"""The ink codec: TensorFlow's RNN-tutorial records ("Recurrent Neural Networks for Drawing
Classification", tensorflow/models tutorials/rnn/quickdraw/create_dataset.py).

Each Example holds the tutorial's three features: ``class_index`` (int64, the label),
``ink`` (float32, the (points - 1) x 3 rows flattened) and ``shape`` (int64, [points - 1, 3]).
The ink is the script's ``parse_line`` bit for bit: the drawing's points as float32, x and y
each normalized by their own minimum and range (``(v - min) / (max - min)``, a range of 0
taken as 1), then differenced point to point, the third column 1 at each stroke's last
point; the first point's row is dropped.  Every step is one float32 operation, repeated here
in the same order.  The bytes are TensorFlow's deterministic serialization of that Example
(the script's own ``SerializeToString()`` orders the features differently in each process).

One bit the arithmetic does not settle: when an axis's smallest coordinate is zero and one
of them is -0.0, the sign of numpy's ``np.min(..., axis=0)`` decides the sign of zero
deltas; `negative_zero_minima` asks numpy itself, on the script's own array, for those
rare drawings.

The spool keeps a record as its Example's bytes (``pack`` is ``encode``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from fastdraw.codecs.base import Codec, RecordChecks
from fastdraw.codecs.proto import COUNT, FIRST, FLAGS, MAX, MIN, NONFINITE
from fastdraw.codecs.stroke import draw_strokes
from fastdraw.codecs.wire import (
    KEY,
    check_gaps,
    entry_size,
    field_size,
    float_feature,
    int_feature,
    key_len,
    key_table,
    put_entry,
    put_field_header,
    put_float_head,
    put_int,
    put_span,
    put_varint,
    vsize,
)
from fastdraw.drawings import Drawings
from fastdraw.kernels.jit import helper, kernel
from fastdraw.kernels.unaligned import gather

_INK_KEYS = ("class_index", "ink", "shape")
_INK_TABLE = key_table(_INK_KEYS)
NEGATIVE_ZERO_X, NEGATIVE_ZERO_Y = 1, 2  # flags: the axis's minimum is -0.0


@helper
def ink_rows(x, y, p0, p1, last, flags, out, c):
    """The ink of points p0..p1 (p1 - p0 - 1 rows of dx, dy, end) into ``out[c:]`` (float32,
    3 values a row): parse_line's arithmetic, one float32 operation at a time.  ``last[p]``
    says whether point p ends its stroke; ``flags`` whether each axis's zero minimum is
    -0.0."""
    one = np.float32(1.0)
    lo_x = np.float32(x[p0])
    hi_x = lo_x
    lo_y = np.float32(y[p0])
    hi_y = lo_y
    for p in range(p0 + 1, p1):
        vx = np.float32(x[p])
        vy = np.float32(y[p])
        lo_x = min(lo_x, vx)
        hi_x = max(hi_x, vx)
        lo_y = min(lo_y, vy)
        hi_y = max(hi_y, vy)
    if lo_x == 0:
        lo_x = np.float32(-0.0) if flags & NEGATIVE_ZERO_X else np.float32(0.0)
    if lo_y == 0:
        lo_y = np.float32(-0.0) if flags & NEGATIVE_ZERO_Y else np.float32(0.0)
    scale_x = np.float32(hi_x - lo_x)
    scale_y = np.float32(hi_y - lo_y)
    if scale_x == 0:
        scale_x = one
    if scale_y == 0:
        scale_y = one
    prev_x = np.float32(np.float32(np.float32(x[p0]) - lo_x) / scale_x)
    prev_y = np.float32(np.float32(np.float32(y[p0]) - lo_y) / scale_y)
    for p in range(p0 + 1, p1):
        cur_x = np.float32(np.float32(np.float32(x[p]) - lo_x) / scale_x)
        cur_y = np.float32(np.float32(np.float32(y[p]) - lo_y) / scale_y)
        out[c] = np.float32(cur_x - prev_x)
        out[c + 1] = np.float32(cur_y - prev_y)
        out[c + 2] = one if last[p] else np.float32(0.0)
        c += 3
        prev_x = cur_x
        prev_y = cur_y


@kernel
def shape_feature(m):
    """Feature size of the Int64List [m, 3]."""
    return field_size(field_size(vsize(np.uint64(m)) + 1))


@helper
def _put_shape(buf, pos, keys, key_offsets, k, m):
    """The shape entry: Int64List [m, 3], packed."""
    payload = vsize(np.uint64(m)) + 1
    pos = put_entry(buf, pos, keys, key_offsets, k, field_size(field_size(payload)))
    pos = put_field_header(buf, pos, 0x1A, field_size(payload))
    pos = put_field_header(buf, pos, 0x0A, payload)
    pos = put_varint(buf, pos, np.uint64(m))
    buf[pos] = np.uint8(3)
    return pos + 1


@kernel
def _ink_kernel(labels, x, y, stroke_offsets, drawing_offsets, flags, keys, key_offsets,
                before, after):
    """Ink-schema Examples (keys: class_index ink shape) with ``before`` / ``after`` gaps:
    (buf, offsets, -1 or the first drawing with no point)."""
    n = len(labels)
    offsets = np.zeros(n + 1, dtype=np.int64)
    rows = np.zeros(n + 1, dtype=np.int64)
    last = np.zeros(len(x), dtype=np.bool_)
    for s in range(len(stroke_offsets) - 1):
        if stroke_offsets[s + 1] > stroke_offsets[s]:
            last[stroke_offsets[s + 1] - 1] = True
    features = np.empty(n, dtype=np.int64)
    for i in range(n):
        p0 = stroke_offsets[drawing_offsets[i]]
        p1 = stroke_offsets[drawing_offsets[i + 1]]
        if p1 == p0:
            return np.empty(0, dtype=np.uint8), offsets, i
        m = p1 - p0 - 1
        rows[i + 1] = rows[i] + m
        features[i] = (entry_size(key_len(key_offsets, KEY[0]), int_feature(labels[i]))
                       + entry_size(key_len(key_offsets, KEY[1]), float_feature(3 * m))
                       + entry_size(key_len(key_offsets, KEY[2]), shape_feature(m)))
        offsets[i + 1] = offsets[i] + before + field_size(features[i]) + after
    ink = np.empty(3 * rows[n], dtype=np.float32)
    for i in range(n):
        ink_rows(x, y, stroke_offsets[drawing_offsets[i]], stroke_offsets[drawing_offsets[i + 1]],
                 last, flags[i], ink, 3 * rows[i])
    ink_bytes = ink.view(np.uint8)
    buf = np.empty(offsets[n], dtype=np.uint8)
    for i in range(n):
        start = offsets[i]
        buf[start:start + before] = 0
        m = rows[i + 1] - rows[i]
        pos = put_field_header(buf, start + before, 0x0A, features[i])
        pos = put_int(buf, pos, keys, key_offsets, KEY[0], labels[i])
        pos = put_float_head(buf, pos, keys, key_offsets, KEY[1], 3 * m)
        pos = put_span(buf, pos, ink_bytes, 12 * rows[i], 12 * rows[i + 1])
        pos = _put_shape(buf, pos, keys, key_offsets, KEY[2], m)
        buf[pos:pos + after] = 0
    return buf, offsets, -1


def negative_zero_minima(x: np.ndarray, y: np.ndarray, stroke_offsets: np.ndarray,
                         drawing_offsets: np.ndarray) -> np.ndarray:
    """uint8 flags per drawing (NEGATIVE_ZERO_X, NEGATIVE_ZERO_Y): whether parse_line's
    ``np.min(np_ink[:, 0:2], axis=0)`` is -0.0 on that axis; asked of numpy, on the script's
    (points, 3) float32 array, for the drawings that hold a -0.0 coordinate."""
    n = len(drawing_offsets) - 1
    out = np.zeros(n, dtype=np.uint8)
    x32 = x.astype(np.float32)
    y32 = y.astype(np.float32)
    negative_zero = ((x32 == 0) & np.signbit(x32)) | ((y32 == 0) & np.signbit(y32))
    if not negative_zero.any():
        return out
    points = stroke_offsets[drawing_offsets]
    for d in np.unique(np.searchsorted(points, np.flatnonzero(negative_zero), "right") - 1):
        a, b = points[d], points[d + 1]
        ink = np.zeros((b - a, 3), dtype=np.float32)
        ink[:, 0], ink[:, 1] = x32[a:b], y32[a:b]
        lower = np.signbit(np.min(ink[:, 0:2], axis=0))
        out[d] = NEGATIVE_ZERO_X * lower[0] + NEGATIVE_ZERO_Y * lower[1]
    return out


def encode_ink_examples(labels: np.ndarray, drawings: Drawings, *,
                        gaps: tuple[int, int] = (0, 0)) -> tuple[np.ndarray, np.ndarray]:
    """Serialized ink-schema Examples of a batch: (buf uint8, offsets int64 (N + 1,)), each
    with ``gaps`` unwritten (zero) bytes before and after.  Raises ValueError for a drawing
    with no point."""
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    if labels.shape != (len(drawings),):
        raise ValueError(f"labels {labels.shape} must be ({len(drawings)},), one per drawing")
    x = np.ascontiguousarray(drawings.x, dtype=np.float64)
    y = np.ascontiguousarray(drawings.y, dtype=np.float64)
    stroke_offsets = np.ascontiguousarray(drawings.stroke_offsets, dtype=np.int64)
    drawing_offsets = np.ascontiguousarray(drawings.drawing_offsets, dtype=np.int64)
    buf, offsets, empty = _ink_kernel(
        labels, x, y, stroke_offsets, drawing_offsets,
        negative_zero_minima(x, y, stroke_offsets, drawing_offsets), *_INK_TABLE,
        *check_gaps(gaps))
    if empty >= 0:
        where = f" (line {drawings.line[empty]})" if drawings.line[empty] > 0 else ""
        raise ValueError(f"drawing {empty}{where} has no point, so it has no ink; drop it "
                         "before encoding")
    return buf, offsets


def unencodable_ink(drawings: Drawings) -> dict[int, str]:
    """The drawings whose ink would not be finite numbers, by index, and why: a coordinate
    that overflows float32, or an axis's span that does (parse_line's arithmetic)."""
    out: dict[int, str] = {}
    points = drawings.stroke_offsets[drawings.drawing_offsets]
    with np.errstate(over="ignore", invalid="ignore"):
        for name, row in (("x", drawings.x), ("y", drawings.y)):
            row32 = row.astype(np.float32)
            for p in np.flatnonzero(~np.isfinite(row32)).tolist():
                d = int(np.searchsorted(points, p, "right")) - 1
                out.setdefault(d, f"the drawing's {name} = {float(row[p])!r} overflows float32 "
                                  "(the tutorial's ink arithmetic): its ink would not be "
                                  "finite numbers; drop the drawing or bring its coordinates "
                                  "into range")
            nonempty = np.flatnonzero(points[:-1] < points[1:])
            if not len(nonempty) or not len(row32):
                continue
            starts = points[:-1][nonempty]
            lo = np.minimum.reduceat(row32, starts)
            hi = np.maximum.reduceat(row32, starts)
            span = hi - lo
            for k in np.flatnonzero(np.isfinite(lo) & np.isfinite(hi)
                                    & ~np.isfinite(span)).tolist():
                d = int(nonempty[k])
                out.setdefault(d, f"the drawing's {name} coordinates span "
                                  f"{float(hi[k]) - float(lo[k]):.7g}, which overflows float32 "
                                  "(the tutorial's ink arithmetic): its ink would not be finite "
                                  "numbers; drop the drawing or bring its coordinates into "
                                  "range")
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class InkCodec(Codec):
    """TensorFlow's RNN-tutorial records: class_index, ink and shape (x and y only: a raw
    drawing's t is left out, as the tutorial's parse_line does)."""

    kind = "ink"
    default_splits = "train=10000,eval=1000"  # the tutorial's observations per class
    sample_splits = "train=0.85,eval=0.15"
    layout = "rnn-tutorial"
    label_feature = "class_index"
    recorded_options = ()

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> InkCodec:
        return cls()

    @classmethod
    def from_features(cls, names: Collection[str]) -> InkCodec | None:
        return cls() if "ink" in names and "class_index" in names else None

    def features(self) -> dict[str, str]:
        return {"class_index": "int", "ink": "float", "shape": "int"}

    def metadata(self) -> dict[str, str]:
        return {"class_index": "int"}

    def unusable(self, drawings: Drawings) -> dict[int, str]:
        return unencodable_ink(drawings)

    def encode(self, labels: np.ndarray, stamps: np.ndarray, drawings: Drawings,
               gaps: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        return encode_ink_examples(labels, drawings, gaps=gaps)

    def pack(self, labels: np.ndarray, stamps: np.ndarray, drawings: Drawings,
             gaps: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        buf, offsets = encode_ink_examples(labels, drawings, gaps=gaps)
        return buf, offsets, np.diff(offsets)

    def unpack(self, src: np.ndarray, starts: np.ndarray, sizes: np.ndarray, out: np.ndarray,
               at: np.ndarray) -> None:
        gather(src, np.ascontiguousarray(starts, dtype=np.int64),
               np.ascontiguousarray(sizes, dtype=np.int64), out,
               np.ascontiguousarray(at, dtype=np.int64))

    def tf_decoder(self, max_len: int = 256, **options: Any) -> tuple[dict, Callable]:
        """Batches of ``(ink float32 [max_len, 3], length int64, class_index int64)``: the
        rows zero-padded past ``length = min(rows, max_len)`` and cut beyond ``max_len``."""
        import tensorflow as tf

        spec = {"ink": tf.io.VarLenFeature(tf.float32),
                "shape": tf.io.FixedLenFeature([2], tf.int64),
                "class_index": tf.io.FixedLenFeature([], tf.int64)}

        def decode(f: dict) -> tuple:
            n = tf.shape(f["class_index"])[0]
            ink = tf.reshape(tf.sparse.to_dense(f["ink"]), [n, -1, 3])[:, :max_len]
            ink = tf.pad(ink, [[0, 0], [0, max_len - tf.shape(ink)[1]], [0, 0]])
            return (tf.ensure_shape(ink, [None, max_len, 3]),
                    tf.minimum(f["shape"][:, 0], max_len), f["class_index"])

        return spec, decode

    def check(self, records: RecordChecks) -> None:
        table = records.table
        ink_at, shape_at = records.columns["ink"], records.columns["shape"]
        whole = np.flatnonzero((ink_at >= 0) & (shape_at >= 0))
        ink, shape = table[ink_at[whole]], table[shape_at[whole]]
        second = shape[:, MIN] + shape[:, MAX] - shape[:, FIRST]
        records.add("shape is not [rows, 3]",
                    whole[(shape[:, COUNT] != 2) | (second != 3) | (shape[:, FIRST] < 0)],
                    lambda r: f"{shape[whole == r][0, COUNT]} values")
        records.add("ink holds other than 3 x shape[0] values",
                    whole[(shape[:, COUNT] == 2) & (ink[:, COUNT] != 3 * shape[:, FIRST])],
                    lambda r: f"{ink[whole == r][0, COUNT]} values, shape[0] "
                              f"{shape[whole == r][0, FIRST]}")
        records.add("non-finite ink values", whole[(ink[:, FLAGS] & NONFINITE) != 0],
                    lambda r: "")

    def picture(self, features: Mapping[str, Any], size: int) -> np.ndarray:
        """The strokes redrawn from the ink (each axis was normalized on its own, so the
        drawing's aspect is not kept)."""
        if "ink" not in features:
            raise ValueError(f"record lacks the ink feature: {sorted(features)}")
        ink = np.asarray(features["ink"], dtype=np.float32)
        if len(ink) % 3:
            raise ValueError(f"ink holds {len(ink)} values, not rows of 3")
        if not np.isfinite(ink).all():
            raise ValueError("ink values that are not finite (NaN or infinite)")
        rows = ink.reshape(-1, 3).T.copy()
        # A stroke ends where a row's third value is 1; stroke deltas mark where one starts.
        rows[2] = np.concatenate([[0.0], rows[2, :-1]]).astype(np.float32)
        return draw_strokes(rows, size)

    def warmup_drawing(self) -> None:
        """Nothing to compile: the ink is computed by the record kernel."""

    def warmup_records(self) -> None:
        d = self.warmup_batch()
        buf, offsets = encode_ink_examples(np.zeros(1, dtype=np.int64), d)
        self.unpack(buf, offsets[:-1], np.diff(offsets), np.empty(len(buf), dtype=np.uint8),
                    np.zeros(1, dtype=np.int64))

    def record_kernels(self) -> list:
        return [_ink_kernel, gather]
