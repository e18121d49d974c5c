"""The stroke codec: the notebook's stroke records, a drawing's float32 deltas for RNNs.

Each drawing's strokes are encoded as the notebook's ``json_to_stroke`` does
(fastdraw.kernels.strokes) and its Example written with the features label,
stroke_x / stroke_y / stroke_z (float32 rows of the deltas: dx, dy and 1 where a new
stroke starts), stroke_len, countrycode, recognized, word, timestamp and key_id; the bytes
equal TensorFlow's deterministic serialization of the notebook's ``make_example_stroke``
Example.

Packed for the builder's spool: most of an Example is its three rows of float32 deltas,
12 bytes a point.  They follow from the drawing's points, so the record keeps the points
instead, 2 bytes a point when every coordinate is a whole number 0..255 (as in simplified
drawings), else 8 (their float32 values, which are all the stroke encoding reads), and the
unpacker computes the deltas with ``strokes.xy_deltas``, the very arithmetic of
``strokes.encode_strokes``.  A packed record is: uint32 ``head``, ``mid`` and ``m``
(deltas) and uint8 ``width`` (1 or 4); the record without its three float payloads
(``head`` bytes up to stroke_x's, two ``mid``-byte entry heads before stroke_y's and
stroke_z's, then the rest); then, if m > 0, the m + 1 points' x and y (``width`` bytes each,
float32 little-endian when 4) and m bits of stroke_z (delta k in bit k % 8 of byte k // 8).
The width byte's top bit says that the drawing's minimum is -0.0 (fastdraw.kernels.strokes).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from fastdraw.codecs import tfds
from fastdraw.codecs.base import METADATA, Codec, RecordChecks
from fastdraw.codecs.proto import COUNT, FIRST, FLAGS, NONFINITE, NOT_BINARY
from fastdraw.codecs.wire import (
    KEY,
    check_gaps,
    entry_size,
    field_size,
    float_feature,
    int_feature,
    key_len,
    key_table,
    meta_sizes,
    metadata,
    put_bytes,
    put_field_header,
    put_float_head,
    put_floats,
    put_int,
)
from fastdraw.drawings import Drawings
from fastdraw.kernels.jit import helper, kernel
from fastdraw.kernels.strokes import (
    encode_strokes,
    negative_zero_minima,
    no_point,
    unencodable,
    xy_deltas,
)
from fastdraw.kernels.unaligned import copy_bytes, load_u32, store_u32

_ROWS = ("stroke_x", "stroke_y", "stroke_z")
LINE_WIDTH = 2  # of the strokes a picture draws


_STROKE_KEYS = ("countrycode", "key_id", "label", "recognized", "stroke_len", "stroke_x",
                "stroke_y", "stroke_z", "timestamp", "word")
_STROKE_TABLE = key_table(_STROKE_KEYS)
PACKED_STROKE_HEAD = 13  # a packed record's head: uint32 head, mid, deltas; uint8 width
NEGATIVE_ZERO_MIN = 0x80  # flag in the width byte: the drawing's minimum is -0.0


@helper
def _stroke_features(i, m, labels, key_id, recognized, timestamps, word_off, cc_off,
                     key_offsets):
    """Bytes of stroke example i's Features message, its rows holding m deltas."""
    size = meta_sizes(i, labels, key_id, recognized, timestamps, word_off, cc_off,
                      key_offsets, KEY[0], KEY[1], KEY[2], KEY[3], KEY[8], KEY[9])
    size += entry_size(key_len(key_offsets, KEY[4]), int_feature(m))
    for k in range(5, 8):
        size += entry_size(key_len(key_offsets, k), float_feature(m))
    return size


@helper
def _put_stroke_head(buf, pos, i, m, feature_size, labels, key_id, recognized, cc_buf, cc_off,
                     keys, key_offsets):
    """Stroke example i's Features header and entries before stroke_x (stroke_len is m)."""
    pos = put_field_header(buf, pos, 0x0A, feature_size)
    pos = put_bytes(buf, pos, keys, key_offsets, KEY[0], cc_buf, cc_off[i], cc_off[i + 1])
    pos = put_int(buf, pos, keys, key_offsets, KEY[1], key_id[i])
    pos = put_int(buf, pos, keys, key_offsets, KEY[2], labels[i])
    pos = put_int(buf, pos, keys, key_offsets, KEY[3], recognized[i])
    return put_int(buf, pos, keys, key_offsets, KEY[4], m)


@helper
def _put_stroke_tail(buf, pos, i, timestamps, word_buf, word_off, keys, key_offsets):
    """Stroke example i's entries after stroke_z: timestamp and word."""
    pos = put_int(buf, pos, keys, key_offsets, KEY[8], timestamps[i])
    return put_bytes(buf, pos, keys, key_offsets, KEY[9], word_buf, word_off[i], word_off[i + 1])


@kernel
def _stroke_kernel(labels, delta_bytes, delta_offsets, key_id, recognized, timestamps,
                   word_buf, word_off, cc_buf, cc_off, keys, key_offsets, before, after):
    """Stroke-schema Examples; keys: countrycode key_id label recognized stroke_len stroke_x
    stroke_y stroke_z timestamp word.  ``delta_bytes`` (3, 4 * total): float32 deltas as bytes."""
    n = len(labels)
    features = np.empty(n, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        features[i] = _stroke_features(i, delta_offsets[i + 1] - delta_offsets[i], labels,
                                       key_id, recognized, timestamps, word_off, cc_off,
                                       key_offsets)
        offsets[i + 1] = offsets[i] + before + field_size(features[i]) + after
    buf = np.empty(offsets[n], dtype=np.uint8)
    for i in range(n):
        a = delta_offsets[i]
        b = delta_offsets[i + 1]
        pos = _put_stroke_head(buf, offsets[i] + before, i, b - a, features[i], labels, key_id,
                               recognized, cc_buf, cc_off, keys, key_offsets)
        for r in range(3):
            pos = put_floats(buf, pos, keys, key_offsets, 5 + r, delta_bytes[r], a, b)
        _put_stroke_tail(buf, pos, i, timestamps, word_buf, word_off, keys, key_offsets)
    return buf, offsets


@helper
def _byte_coordinates(x, y, x_bits, y_bits, p0, p1):
    """Whether points p0..p1 have only whole coordinates 0..255 (not -0.0: its sign bit is
    set, as ``x_bits`` / ``y_bits``, the coordinates' int64 views, show): a byte holds each
    exactly, and its float32 is theirs."""
    ok = True
    for p in range(p0, p1):
        vx = x[p]
        vy = y[p]
        ok &= ((x_bits[p] >= 0) & (vx <= 255.0) & (vx == np.floor(vx))
               & (y_bits[p] >= 0) & (vy <= 255.0) & (vy == np.floor(vy)))
    return ok


@helper
def _put_coordinates(buf, pos, row, p0, p1, width, value, value_bits):
    """Writes ``row[p0:p1]`` as bytes (``width`` 1) or little-endian float32 (4), the
    latter through ``value`` (float32 (1,)) and ``value_bits``, its uint32 view."""
    if width == 1:
        for p in range(p0, p1):
            buf[pos + p - p0] = np.uint8(row[p])
    else:
        for p in range(p0, p1):
            value[0] = np.float32(row[p])
            store_u32(buf, pos + 4 * (p - p0), value_bits[0])
    return pos + width * (p1 - p0)


@kernel
def _stroke_packed_kernel(labels, x, y, stroke_offsets, drawing_offsets, negative_zero_min,
                          key_id, recognized, timestamps, word_buf, word_off, cc_buf, cc_off,
                          keys, key_offsets, before, after):
    """The stroke records of ``_stroke_kernel`` (gaps zeroed) packed as the module docstring
    describes; returns (buf, offsets, sizes with gaps and floats, -1 or the first drawing
    with no point)."""
    n = len(labels)
    features = np.empty(n, dtype=np.int64)
    widths = np.empty(n, dtype=np.int64)
    sizes = np.empty(n, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    x_bits = x.view(np.int64)
    y_bits = y.view(np.int64)
    for i in range(n):
        p0 = stroke_offsets[drawing_offsets[i]]
        p1 = stroke_offsets[drawing_offsets[i + 1]]
        if p1 == p0:
            return np.empty(0, dtype=np.uint8), offsets, sizes, i
        m = p1 - p0 - 1
        features[i] = _stroke_features(i, m, labels, key_id, recognized, timestamps, word_off,
                                       cc_off, key_offsets)
        sizes[i] = before + field_size(features[i]) + after
        widths[i] = 1 if _byte_coordinates(x, y, x_bits, y_bits, p0, p1) else 4
        points = m + 1 if m > 0 else 0
        offsets[i + 1] = (offsets[i] + PACKED_STROKE_HEAD + sizes[i] - 12 * m
                          + 2 * widths[i] * points + (m + 7) // 8)
    buf = np.empty(offsets[n], dtype=np.uint8)
    value = np.empty(1, dtype=np.float32)
    value_bits = value.view(np.uint32)
    for i in range(n):
        p0 = stroke_offsets[drawing_offsets[i]]
        p1 = stroke_offsets[drawing_offsets[i + 1]]
        m = p1 - p0 - 1
        start = offsets[i] + PACKED_STROKE_HEAD
        buf[start:start + before] = 0
        pos = _put_stroke_head(buf, start + before, i, m, features[i], labels, key_id,
                               recognized, cc_buf, cc_off, keys, key_offsets)
        pos = put_float_head(buf, pos, keys, key_offsets, KEY[5], m)
        head = pos - start
        pos = put_float_head(buf, pos, keys, key_offsets, KEY[6], m)
        mid = pos - start - head
        pos = put_float_head(buf, pos, keys, key_offsets, KEY[7], m)
        pos = _put_stroke_tail(buf, pos, i, timestamps, word_buf, word_off, keys, key_offsets)
        buf[pos:pos + after] = 0
        pos += after
        store_u32(buf, offsets[i], head)
        store_u32(buf, offsets[i] + 4, mid)
        store_u32(buf, offsets[i] + 8, m)
        buf[offsets[i] + 12] = widths[i] | (NEGATIVE_ZERO_MIN if negative_zero_min[i] else 0)
        if m == 0:
            continue
        pos = _put_coordinates(buf, pos, x, p0, p1, widths[i], value, value_bits)
        pos = _put_coordinates(buf, pos, y, p0, p1, widths[i], value, value_bits)
        buf[pos:pos + (m + 7) // 8] = 0
        for s in range(drawing_offsets[i] + 1, drawing_offsets[i + 1]):
            k = stroke_offsets[s] - p0 - 1  # the delta that jumps into stroke s
            if 0 <= k < m:
                buf[pos + k // 8] |= np.uint8(1 << (k % 8))
    return buf, offsets, sizes, -1


def encode_stroke_examples(labels: np.ndarray, deltas: np.ndarray, delta_offsets: np.ndarray,
                           drawings: Drawings, timestamps: np.ndarray, *,
                           gaps: tuple[int, int] = (0, 0)) -> tuple[np.ndarray, np.ndarray]:
    """Serialized stroke-schema Examples of a batch: (buf uint8, offsets int64 (N + 1,)).

    ``deltas`` / ``delta_offsets`` are ``strokes.encode_strokes(drawings)``; the
    features are label, stroke_x / stroke_y / stroke_z (float32 rows of the
    deltas), stroke_len, countrycode, recognized, word, timestamp and key_id,
    byte-equal to TensorFlow's deterministic serialization of the notebook's
    ``make_example_stroke`` Example; ``gaps`` as for ``encode_img_examples``.
    """
    delta_offsets = np.ascontiguousarray(delta_offsets, dtype=np.int64)
    if deltas.ndim != 2 or deltas.shape[0] != 3:
        raise ValueError(f"deltas must be (3, total), got {deltas.shape}")
    if (delta_offsets.shape != (len(drawings) + 1,) or delta_offsets[0] != 0
            or delta_offsets[-1] != deltas.shape[1] or np.any(np.diff(delta_offsets) < 0)):
        raise ValueError(
            f"delta_offsets must rise from 0 to {deltas.shape[1]} in {len(drawings) + 1} steps"
        )
    labels, key_id, recognized, timestamps, *strings = metadata(labels, drawings, timestamps)
    delta_bytes = np.ascontiguousarray(deltas, dtype="<f4").view(np.uint8)
    return _stroke_kernel(labels, delta_bytes, delta_offsets, key_id, recognized, timestamps,
                          *strings, *_STROKE_TABLE, *check_gaps(gaps))


def encode_stroke_packed(labels: np.ndarray, drawings: Drawings, timestamps: np.ndarray,
                         gaps: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The records of ``encode_stroke_examples(..., gaps=gaps)`` packed as the module
    docstring describes, points instead of float deltas: (buf uint8, offsets int64 (N + 1,), each
    record's size unpacked, gaps included).  Raises ValueError for a drawing with no point,
    as ``strokes.encode_strokes`` does."""
    labels, key_id, recognized, timestamps, *strings = metadata(labels, drawings, timestamps)
    x = np.ascontiguousarray(drawings.x, dtype=np.float64)
    y = np.ascontiguousarray(drawings.y, dtype=np.float64)
    stroke_offsets = np.ascontiguousarray(drawings.stroke_offsets, dtype=np.int64)
    drawing_offsets = np.ascontiguousarray(drawings.drawing_offsets, dtype=np.int64)
    buf, offsets, sizes, empty = _stroke_packed_kernel(
        labels, x, y, stroke_offsets, drawing_offsets,
        negative_zero_minima(x, y, stroke_offsets, drawing_offsets),
        key_id, recognized, timestamps, *strings, *_STROKE_TABLE, *check_gaps(gaps))
    if empty >= 0:
        raise no_point(drawings, empty)
    return buf, offsets, sizes


def unpack_strokes(src: np.ndarray, starts: np.ndarray, sizes: np.ndarray, out: np.ndarray,
                   at: np.ndarray) -> None:
    """Unpacks the packed stroke record ``src[starts[i]:starts[i] + sizes[i]]`` into
    ``out[at[i]:]``, for every i (``out`` must have room for their unpacked sizes)."""
    _unpack_strokes(src, starts, sizes, out, at)


@kernel
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
        width = np.int64(src[s + 12] & 0x7F)
        negative_zero_min = src[s + 12] & NEGATIVE_ZERO_MIN != 0
        n = m + 1 if m > 0 else 0
        at_points = s + sizes[i] - 2 * width * n - (m + 7) // 8
        if m > 0:
            if width == 1:
                xy_deltas(src[at_points:], src[at_points + n:], 0, n, rows[0], rows[1], 0,
                          negative_zero_min)
            else:
                copy_bytes(src, at_points, point_bytes, 0, 4 * n)
                copy_bytes(src, at_points + 4 * n, point_bytes, 4 * most, 4 * n)
                xy_deltas(points[0], points[1], 0, n, rows[0], rows[1], 0, negative_zero_min)
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


def draw_strokes(stroke: np.ndarray, size: int, lw: int = LINE_WIDTH) -> np.ndarray:
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


@dataclass(frozen=True)
class StrokeCodec(Codec):
    """The notebook's stroke records (x and y only: a raw drawing's t is left out)."""

    kind = "stroke"
    default_splits = "train=50000,eval=10000,test=10000"  # the notebook's

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> StrokeCodec:
        return cls(notebook_time=bool(options.get("notebook_time", False)))

    @classmethod
    def from_features(cls, names: Collection[str]) -> StrokeCodec | None:
        return cls() if "stroke_x" in names else None

    def features(self) -> dict[str, str]:
        return {**METADATA, "stroke_x": "float", "stroke_y": "float", "stroke_z": "float",
                "stroke_len": "int"}

    def unusable(self, drawings: Drawings) -> dict[int, str]:
        return unencodable(drawings)

    def encode(self, labels: np.ndarray, stamps: np.ndarray, drawings: Drawings,
               gaps: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        deltas, offsets = encode_strokes(drawings)
        return encode_stroke_examples(labels, deltas, offsets, drawings, stamps, gaps=gaps)

    def pack(self, labels: np.ndarray, stamps: np.ndarray, drawings: Drawings,
             gaps: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return encode_stroke_packed(labels, drawings, stamps, gaps)

    def unpack(self, src: np.ndarray, starts: np.ndarray, sizes: np.ndarray, out: np.ndarray,
               at: np.ndarray) -> None:
        unpack_strokes(src, starts, sizes, out, at)

    def tf_decoder(self, max_len: int = 256, **options: Any) -> tuple[dict, Callable]:
        """Batches of ``(strokes float32 [max_len, 3], length int64, label int64)``: the
        deltas zero-padded past ``length = min(len, max_len)`` and cut beyond ``max_len``."""
        import tensorflow as tf

        spec = {**{k: tf.io.VarLenFeature(tf.float32) for k in _ROWS},
                "label": tf.io.FixedLenFeature([], tf.int64)}

        def decode(f: dict) -> tuple:
            n = tf.shape(f["label"])[0]
            strokes = tf.stack([tf.sparse.to_dense(f[k]) for k in _ROWS], axis=-1)
            strokes = strokes[:, :max_len]
            strokes = tf.pad(strokes, [[0, 0], [0, max_len - tf.shape(strokes)[1]], [0, 0]])
            rows = tf.cast(f["stroke_x"].indices[:, 0], tf.int32)
            length = tf.math.bincount(rows, minlength=n, maxlength=n, dtype=tf.int64)
            return (tf.ensure_shape(strokes, [None, max_len, 3]), tf.minimum(length, max_len),
                    f["label"])

        return spec, decode

    def tfds_features(self, classes: int) -> dict[str, dict[str, Any]]:
        """The deltas as float32 tensors of any length, stroke_len an int64."""
        rows = {k: tfds.tensor((None,), "float32") for k in _ROWS}
        return {**super().tfds_features(classes), **rows,
                "stroke_len": tfds.tensor((), "int64")}

    def check(self, records: RecordChecks) -> None:
        table = records.table
        rows = np.stack([records.columns[k] for k in (*_ROWS, "stroke_len")])
        whole = np.flatnonzero((rows >= 0).all(axis=0))
        x, y, z, length = (table[rows[i, whole]] for i in range(4))
        lengths = np.stack([x[:, COUNT], y[:, COUNT], z[:, COUNT], length[:, FIRST]])
        records.add("stroke_x/y/z lengths differ from each other or from stroke_len",
                    whole[(lengths != lengths[3]).any(axis=0)],
                    lambda r: ", ".join(str(v) for v in lengths[:, whole == r].ravel()))
        records.add("non-finite stroke deltas",
                    whole[((x[:, FLAGS] | y[:, FLAGS]) & NONFINITE) != 0], lambda r: "")
        records.add("stroke_z values other than 0 and 1",
                    whole[(z[:, FLAGS] & (NOT_BINARY | NONFINITE)) != 0], lambda r: "")

    def picture(self, features: Mapping[str, Any], size: int) -> np.ndarray:
        """The strokes redrawn from their deltas."""
        if not all(k in features for k in _ROWS):
            raise ValueError(f"record lacks stroke_x/y/z features: {sorted(features)}")
        lengths = [len(features[k]) for k in _ROWS]
        if len(set(lengths)) > 1:
            raise ValueError(f"stroke_x, stroke_y and stroke_z have {lengths} values, not "
                             f"as many each")
        stroke = np.stack([np.asarray(features[k], dtype=np.float32) for k in _ROWS])
        if not np.isfinite(stroke).all():
            raise ValueError("stroke deltas that are not finite (NaN or infinite)")
        return draw_strokes(stroke, size)

    def warmup_drawing(self) -> None:
        """Nothing to compile: the stroke deltas are computed by the record kernels."""

    def warmup_records(self) -> None:
        d = self.warmup_batch()
        labels = np.zeros(1, dtype=np.int64)
        packed, offsets, sizes = encode_stroke_packed(labels, d, d.timestamp, (0, 0))
        unpack_strokes(packed, offsets[:-1], np.diff(offsets),
                       np.zeros(int(sizes.sum()), dtype=np.uint8), np.zeros(1, dtype=np.int64))

    def record_kernels(self) -> list:
        return [_stroke_packed_kernel, _unpack_strokes]
