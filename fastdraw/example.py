"""Hand-written ``tf.train.Example`` encoder: protobuf wire format straight from arrays.

The bytes equal TensorFlow's ``example.SerializeToString(deterministic=True)`` of
the notebook's Examples.  Layout (example.proto / feature.proto)::

    Example   { Features features = 1; }
    Features  { map<string, Feature> feature = 1; }   entries in sorted key order
              (entry: string key = 1; Feature value = 2; both always written)
    Feature   { oneof { BytesList bytes_list = 1; FloatList float_list = 2;
                        Int64List int64_list = 3; } }
    *List     { repeated value = 1; }  int64 as packed varints (a negative one is
              10 bytes), float as packed little-endian float32, bytes one by one

Every message is length-prefixed, so a first pass sizes each example and a
second writes it.  TensorFlow is imported only by the drop-ins that return
``tf.train.Example`` objects.
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Sequence

import numpy as np
from numba import njit

from fastdraw.buffers import joined, offsets_of
from fastdraw.drawings import Drawings, notebook_seconds
from fastdraw.strokes import json_to_stroke, no_point
from fastdraw.unaligned import load_u64, store_u32, store_u64

# Feature keys in the order the kernels write them: sorted, as deterministic serialization
# orders map entries.  "{img}" stands for img_<size>, which sorts between these two neighbours
# for any size.
_IMG_KEYS = ("countrycode", "{img}", "key_id", "label", "recognized", "timestamp", "word")
_STROKE_KEYS = ("countrycode", "key_id", "label", "recognized", "stroke_len", "stroke_x",
                "stroke_y", "stroke_z", "timestamp", "word")


def _key_table(keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Keys as one uint8 buffer plus offsets, checked to be in sorted order."""
    if list(keys) != sorted(keys):
        raise AssertionError(f"feature keys out of order: {keys}")
    return joined([k.encode() for k in keys])


_STROKE_TABLE = _key_table(_STROKE_KEYS)


def _img_table(img_size: int) -> tuple[np.ndarray, np.ndarray]:
    return _key_table([k.format(img=f"img_{img_size}") for k in _IMG_KEYS])


@njit(cache=True, nogil=True)
def _vsize(v):
    """Bytes in the varint of uint64 ``v``."""
    n = 1
    while v >= np.uint64(128):
        v >>= np.uint64(7)
        n += 1
    return n


@njit(cache=True, nogil=True, inline="always")
def _put_varint(buf, pos, v):
    while v >= np.uint64(128):
        buf[pos] = np.uint8((v & np.uint64(127)) | np.uint64(128))
        v >>= np.uint64(7)
        pos += 1
    buf[pos] = np.uint8(v)
    return pos + 1


@njit(cache=True, nogil=True)
def _field(payload):
    """Size of a length-delimited field (one-byte tag) holding ``payload`` bytes."""
    return 1 + _vsize(np.uint64(payload)) + payload


@njit(cache=True, nogil=True, inline="always")
def _put_field_header(buf, pos, tag, payload):
    buf[pos] = np.uint8(tag)
    return _put_varint(buf, pos + 1, np.uint64(payload))


@njit(cache=True, nogil=True, inline="always")
def _put_span(buf, pos, src, a, b):
    dst = buf[pos:pos + b - a]
    part = src[a:b]
    for k in range(b - a):
        dst[k] = part[k]
    return pos + b - a


@njit(cache=True, nogil=True, inline="always")
def _klen(key_offsets, k):
    return key_offsets[k + 1] - key_offsets[k]


@njit(cache=True, nogil=True)
def _entry(klen, feature):
    """Bytes of a map entry (key of klen bytes, Feature of ``feature`` bytes) in Features."""
    return _field(_field(klen) + _field(feature))


@njit(cache=True, nogil=True, inline="always")
def _put_entry(buf, pos, keys, key_offsets, k, feature):
    """Writes map entry k's header up to its Feature's content (``feature`` bytes follow)."""
    a = key_offsets[k]
    b = key_offsets[k + 1]
    pos = _put_field_header(buf, pos, 0x0A, _field(b - a) + _field(feature))
    pos = _put_field_header(buf, pos, 0x0A, b - a)
    pos = _put_span(buf, pos, keys, a, b)
    return _put_field_header(buf, pos, 0x12, feature)


@njit(cache=True, nogil=True)
def _int_feature(v):
    """Feature size of a one-value Int64List."""
    return _field(_field(_vsize(np.uint64(v))))


@njit(cache=True, nogil=True, inline="always")
def _put_int(buf, pos, keys, key_offsets, k, v):
    u = np.uint64(v)
    size = _vsize(u)
    pos = _put_entry(buf, pos, keys, key_offsets, k, _field(_field(size)))
    pos = _put_field_header(buf, pos, 0x1A, _field(size))
    pos = _put_field_header(buf, pos, 0x0A, size)
    return _put_varint(buf, pos, u)


@njit(cache=True, nogil=True)
def _bytes_feature(n):
    """Feature size of a one-value BytesList of n bytes."""
    return _field(_field(n))


@njit(cache=True, nogil=True, inline="always")
def _put_bytes(buf, pos, keys, key_offsets, k, src, a, b):
    pos = _put_entry(buf, pos, keys, key_offsets, k, _bytes_feature(b - a))
    pos = _put_field_header(buf, pos, 0x0A, _field(b - a))
    pos = _put_field_header(buf, pos, 0x0A, b - a)
    return _put_span(buf, pos, src, a, b)


@njit(cache=True, nogil=True)
def _float_feature(n):
    """Feature size of a FloatList of n values (an empty list is an empty message)."""
    return _field(_field(4 * n) if n > 0 else 0)


@njit(cache=True, nogil=True, inline="always")
def _put_float_head(buf, pos, keys, key_offsets, k, n):
    """FloatList entry k of n values, up to the values (their 4 * n bytes come next)."""
    pos = _put_entry(buf, pos, keys, key_offsets, k, _float_feature(n))
    pos = _put_field_header(buf, pos, 0x12, _field(4 * n) if n > 0 else 0)
    if n > 0:
        pos = _put_field_header(buf, pos, 0x0A, 4 * n)
    return pos


@njit(cache=True, nogil=True, inline="always")
def _put_floats(buf, pos, keys, key_offsets, k, src, a, b):
    """FloatList entry of float32 values a..b, ``src`` being their little-endian bytes."""
    pos = _put_float_head(buf, pos, keys, key_offsets, k, b - a)
    return _put_span(buf, pos, src, 4 * a, 4 * b)


@njit(cache=True, nogil=True, inline="always")
def _meta_sizes(i, labels, key_id, recognized, timestamps, word_off, cc_off, key_offsets,
                k_cc, k_key_id, k_label, k_recognized, k_timestamp, k_word):
    """Bytes of the six metadata entries of example i (given the entries' key indices)."""
    return (
        _entry(_klen(key_offsets, k_cc), _bytes_feature(cc_off[i + 1] - cc_off[i]))
        + _entry(_klen(key_offsets, k_key_id), _int_feature(key_id[i]))
        + _entry(_klen(key_offsets, k_label), _int_feature(labels[i]))
        + _entry(_klen(key_offsets, k_recognized), _int_feature(recognized[i]))
        + _entry(_klen(key_offsets, k_timestamp), _int_feature(timestamps[i]))
        + _entry(_klen(key_offsets, k_word), _bytes_feature(word_off[i + 1] - word_off[i]))
    )


def _run_table() -> tuple[np.ndarray, np.ndarray]:
    """Varints of 8 pixels that are each 0 or 255, indexed by which are 255 (bit k: the
    k-th pixel, as ``_gather_bits`` orders them): (two little-endian uint64 (256, 2),
    byte counts (256,))."""
    runs = np.zeros((256, 16), dtype=np.uint8)
    sizes = np.zeros(256, dtype=np.int64)
    for m in range(256):
        varints = b"".join(b"\xff\x01" if m >> k & 1 else b"\x00" for k in range(8))
        runs[m, :len(varints)] = np.frombuffer(varints, dtype=np.uint8)
        sizes[m] = len(varints)
    return runs.view("<u8"), sizes


PIXEL_RUNS = _run_table()
_WORDWISE = sys.byteorder == "little"  # the run table assumes little-endian words
_HIGH_BITS = 0x8080808080808080
_GATHER = 0x0102040810204080  # multiplier collecting 8 bits, one per byte, into the top byte
_BYTE_SUM = 0x0101010101010101  # multiplier summing 8 bytes (no carries: each 0 or 1) there
_PIXEL_SLACK = 16  # spare bytes after the buffer: a run's two 8-byte stores may pass the end
PACKED_HEAD = 4  # a packed img record's uint32 head (fastdraw.compact)
PACKED_STROKE_HEAD = 13  # a packed stroke record's head: uint32 head, mid, deltas; uint8 width


@njit(cache=True, nogil=True, inline="always")
def _gather_bits(ones):
    """uint64 ``ones``'s bytes, each 0 or 1, as the bits of one byte (byte k in bit k): the
    multiply moves each into the top byte, with no carries between them."""
    return (ones * np.uint64(_GATHER)) >> np.uint64(56)


@njit(cache=True, nogil=True, inline="always")
def _put_pixels(buf, pos, pixels, runs, run_sizes):
    """Writes uint8 ``pixels`` as packed varints (a value >= 128 takes a second byte, 1).

    Eight pixels at a time when each is 0 or 255, as rasterized drawings are: a table
    gives their varints, written with two 8-byte stores; other values byte by byte.
    """
    n = len(pixels)
    j = 0
    while _WORDWISE and j + 8 <= n:
        w = load_u64(pixels, j)
        ones = (w & np.uint64(_HIGH_BITS)) >> np.uint64(7)
        if ones * np.uint64(255) == w:
            m = _gather_bits(ones)
            store_u64(buf, pos, runs[m, 0])
            store_u64(buf, pos + 8, runs[m, 1])
            pos += run_sizes[m]
        else:
            pos = _put_pixel_bytes(buf, pos, pixels, j, j + 8)
        j += 8
    return _put_pixel_bytes(buf, pos, pixels, j, n)


@njit(cache=True, nogil=True, inline="always")
def _put_pixel_bytes(buf, pos, pixels, a, b):
    """Writes ``pixels[a:b]`` as packed varints one by one (may write one byte past)."""
    for j in range(a, b):
        v = pixels[j]
        buf[pos] = v
        buf[pos + 1] = 1
        pos += 1 + (v >> 7)
    return pos


@njit(cache=True, nogil=True)
def _img_kernel(labels, pixels, key_id, recognized, timestamps, word_buf, word_off,
                cc_buf, cc_off, keys, key_offsets, runs, run_sizes, before, after, bits):
    """Img-schema Examples; keys: countrycode img key_id label recognized timestamp word.

    With ``bits``, each record is written packed as fastdraw.compact describes (the gaps
    zeroed); returns (buf, offsets, sizes with gaps and varints, -1 or the first image
    with a pixel neither 0 nor 255)."""
    n = len(labels)
    n_pixels = pixels.shape[1]
    n_bits = (n_pixels + 7) // 8
    packed = np.empty(n, dtype=np.int64)  # varint bytes of each image's pixels
    features = np.empty(n, dtype=np.int64)  # bytes of each Features message
    sizes = np.empty(n, dtype=np.int64)  # bytes of each record with its gaps
    offsets = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        packed[i] = n_pixels + _count_high(pixels[i])
        features[i] = _meta_sizes(i, labels, key_id, recognized, timestamps, word_off, cc_off,
                                  key_offsets, 0, 2, 3, 4, 5, 6)
        features[i] += _entry(_klen(key_offsets, 1), _field(_field(packed[i])))
        sizes[i] = before + _field(features[i]) + after
        offsets[i + 1] = offsets[i] + (sizes[i] - packed[i] + n_bits + PACKED_HEAD if bits
                                       else sizes[i])
    buf = np.empty(offsets[n] + _PIXEL_SLACK, dtype=np.uint8)
    for i in range(n):
        start = offsets[i] + PACKED_HEAD if bits else offsets[i]
        if bits:
            buf[start:start + before] = 0
        pos = _put_field_header(buf, start + before, 0x0A, features[i])
        pos = _put_bytes(buf, pos, keys, key_offsets, 0, cc_buf, cc_off[i], cc_off[i + 1])
        pos = _put_entry(buf, pos, keys, key_offsets, 1, _field(_field(packed[i])))
        pos = _put_field_header(buf, pos, 0x1A, _field(packed[i]))
        pos = _put_field_header(buf, pos, 0x0A, packed[i])
        if bits:
            store_u32(buf, offsets[i], pos - start)  # the packed record's head
            pos = _put_bits(buf, pos, pixels[i])
            if pos < 0:
                return buf[:offsets[n]], offsets, sizes, i
        else:
            pos = _put_pixels(buf, pos, pixels[i], runs, run_sizes)
        pos = _put_int(buf, pos, keys, key_offsets, 2, key_id[i])
        pos = _put_int(buf, pos, keys, key_offsets, 3, labels[i])
        pos = _put_int(buf, pos, keys, key_offsets, 4, recognized[i])
        pos = _put_int(buf, pos, keys, key_offsets, 5, timestamps[i])
        pos = _put_bytes(buf, pos, keys, key_offsets, 6, word_buf, word_off[i], word_off[i + 1])
        if bits:
            buf[pos:pos + after] = 0
    return buf[:offsets[n]], offsets, sizes, -1


@njit(cache=True, nogil=True, inline="always")
def _count_high(pixels):
    """How many of uint8 ``pixels`` are 128 or more (a varint byte more each): eight at a
    time, their top bits summed by one multiply."""
    n = len(pixels)
    high = 0
    j = 0
    while _WORDWISE and j + 8 <= n:
        ones = (load_u64(pixels, j) & np.uint64(_HIGH_BITS)) >> np.uint64(7)
        high += (ones * np.uint64(_BYTE_SUM)) >> np.uint64(56)
        j += 8
    for k in range(j, n):
        high += pixels[k] >> 7
    return high


@njit(cache=True, nogil=True, inline="always")
def _put_bits(buf, pos, pixels):
    """Writes pixels that are each 0 or 255 as bits (pixel k of a byte in bit k, the last
    byte padded with zeros); returns -1 if one is neither."""
    n = len(pixels)
    j = 0
    while _WORDWISE and j + 8 <= n:
        w = load_u64(pixels, j)
        ones = (w & np.uint64(_HIGH_BITS)) >> np.uint64(7)
        if ones * np.uint64(255) != w:
            return -1
        buf[pos] = _gather_bits(ones)
        pos += 1
        j += 8
    while j < n:
        m = 0
        for k in range(min(8, n - j)):
            v = pixels[j + k]
            if v == 255:
                m |= 1 << k
            elif v != 0:
                return -1
        buf[pos] = m
        pos += 1
        j += 8
    return pos


@njit(cache=True, nogil=True, inline="always")
def _stroke_features(i, m, labels, key_id, recognized, timestamps, word_off, cc_off,
                     key_offsets):
    """Bytes of stroke example i's Features message, its rows holding m deltas."""
    size = _meta_sizes(i, labels, key_id, recognized, timestamps, word_off, cc_off,
                       key_offsets, 0, 1, 2, 3, 8, 9)
    size += _entry(_klen(key_offsets, 4), _int_feature(m))
    for k in range(5, 8):
        size += _entry(_klen(key_offsets, k), _float_feature(m))
    return size


@njit(cache=True, nogil=True, inline="always")
def _put_stroke_head(buf, pos, i, m, feature_size, labels, key_id, recognized, cc_buf, cc_off,
                     keys, key_offsets):
    """Stroke example i's Features header and entries before stroke_x (stroke_len is m)."""
    pos = _put_field_header(buf, pos, 0x0A, feature_size)
    pos = _put_bytes(buf, pos, keys, key_offsets, 0, cc_buf, cc_off[i], cc_off[i + 1])
    pos = _put_int(buf, pos, keys, key_offsets, 1, key_id[i])
    pos = _put_int(buf, pos, keys, key_offsets, 2, labels[i])
    pos = _put_int(buf, pos, keys, key_offsets, 3, recognized[i])
    return _put_int(buf, pos, keys, key_offsets, 4, m)


@njit(cache=True, nogil=True, inline="always")
def _put_stroke_tail(buf, pos, i, timestamps, word_buf, word_off, keys, key_offsets):
    """Stroke example i's entries after stroke_z: timestamp and word."""
    pos = _put_int(buf, pos, keys, key_offsets, 8, timestamps[i])
    return _put_bytes(buf, pos, keys, key_offsets, 9, word_buf, word_off[i], word_off[i + 1])


@njit(cache=True, nogil=True)
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
        offsets[i + 1] = offsets[i] + before + _field(features[i]) + after
    buf = np.empty(offsets[n], dtype=np.uint8)
    for i in range(n):
        a = delta_offsets[i]
        b = delta_offsets[i + 1]
        pos = _put_stroke_head(buf, offsets[i] + before, i, b - a, features[i], labels, key_id,
                               recognized, cc_buf, cc_off, keys, key_offsets)
        for r in range(3):
            pos = _put_floats(buf, pos, keys, key_offsets, 5 + r, delta_bytes[r], a, b)
        _put_stroke_tail(buf, pos, i, timestamps, word_buf, word_off, keys, key_offsets)
    return buf, offsets


@njit(cache=True, nogil=True, inline="always")
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


@njit(cache=True, nogil=True, inline="always")
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


@njit(cache=True, nogil=True)
def _stroke_packed_kernel(labels, x, y, stroke_offsets, drawing_offsets, key_id, recognized,
                          timestamps, word_buf, word_off, cc_buf, cc_off, keys, key_offsets,
                          before, after):
    """The stroke records of ``_stroke_kernel`` (gaps zeroed) packed as fastdraw.compact
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
        sizes[i] = before + _field(features[i]) + after
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
        pos = _put_float_head(buf, pos, keys, key_offsets, 5, m)
        head = pos - start
        pos = _put_float_head(buf, pos, keys, key_offsets, 6, m)
        mid = pos - start - head
        pos = _put_float_head(buf, pos, keys, key_offsets, 7, m)
        pos = _put_stroke_tail(buf, pos, i, timestamps, word_buf, word_off, keys, key_offsets)
        buf[pos:pos + after] = 0
        pos += after
        store_u32(buf, offsets[i], head)
        store_u32(buf, offsets[i] + 4, mid)
        store_u32(buf, offsets[i] + 8, m)
        buf[offsets[i] + 12] = widths[i]
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


def _pack_strings(strings: Sequence[str], what: str) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 of every string as one uint8 buffer plus offsets (N + 1,)."""
    try:
        text = "".join(strings)
        if text.isascii():  # a byte per character: one encode for the whole batch
            return np.frombuffer(text.encode(), dtype=np.uint8), offsets_of(strings)
        return joined([s.encode() for s in strings])
    except (TypeError, UnicodeEncodeError) as e:
        raise ValueError(f"every {what} must be a str encodable as UTF-8: {e}") from None


def _metadata(labels: np.ndarray, drawings: Drawings, timestamps: np.ndarray) -> tuple:
    """Per-drawing kernel arguments shared by both schemas, checked for length N."""
    n = len(drawings)
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    timestamps = np.ascontiguousarray(timestamps, dtype=np.int64)
    if labels.shape != (n,) or timestamps.shape != (n,):
        raise ValueError(
            f"labels {labels.shape} and timestamps {timestamps.shape} must both be ({n},), "
            "one per drawing"
        )
    word_buf, word_off = _pack_strings(drawings.word, "word")
    cc_buf, cc_off = _pack_strings(drawings.countrycode, "countrycode")
    return (
        labels,
        np.ascontiguousarray(drawings.key_id, dtype=np.int64),
        np.ascontiguousarray(drawings.recognized, dtype=np.int64),
        timestamps,
        word_buf, word_off, cc_buf, cc_off,
    )


def encode_img_examples(labels: np.ndarray, images: np.ndarray, drawings: Drawings,
                        timestamps: np.ndarray, *, gaps: tuple[int, int] = (0, 0)
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Serialized img-schema Examples of a batch: (buf uint8, offsets int64 (N + 1,)).

    Example i is ``buf[offsets[i]:offsets[i + 1]]``, byte-equal to TensorFlow's
    deterministic serialization of the notebook's ``make_example_img`` Example
    with features label, ``img_<sz>`` (images uint8 (N, sz, sz), flattened),
    countrycode, recognized, word, timestamp (``timestamps``, epoch seconds) and key_id.
    With ``gaps=(before, after)`` that slot also holds ``before`` unwritten bytes ahead
    of the Example and ``after`` behind it (room for ``tfrecord.frame_in_place``).
    """
    buf, offsets, _, _ = _encode_img(labels, images, drawings, timestamps, gaps, False)
    return buf, offsets


def encode_img_packed(labels: np.ndarray, images: np.ndarray, drawings: Drawings,
                      timestamps: np.ndarray, gaps: tuple[int, int]
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The records of ``encode_img_examples(..., gaps=gaps)`` packed as fastdraw.compact
    describes, one bit per pixel: (buf uint8, offsets int64 (N + 1,), each record's size
    unpacked, gaps included).  Every pixel must be 0 or 255, as rasterized ones are."""
    buf, offsets, sizes, bad = _encode_img(labels, images, drawings, timestamps, gaps, True)
    if bad >= 0:
        raise ValueError(f"image {bad} has pixels other than 0 and 255: it cannot be packed")
    return buf, offsets, sizes


def _encode_img(labels: np.ndarray, images: np.ndarray, drawings: Drawings,
                timestamps: np.ndarray, gaps: tuple[int, int], bits: bool) -> tuple:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must be uint8 (N, sz, sz), got {images.dtype} {images.shape}")
    if len(images) != len(drawings):
        raise ValueError(f"{len(images)} images for {len(drawings)} drawings")
    labels, key_id, recognized, timestamps, *strings = _metadata(labels, drawings, timestamps)
    pixels = np.ascontiguousarray(images).reshape(len(images), -1)
    return _img_kernel(labels, pixels, key_id, recognized, timestamps, *strings,
                       *_img_table(images.shape[1]), *PIXEL_RUNS, *_gaps(gaps), bits)


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
    labels, key_id, recognized, timestamps, *strings = _metadata(labels, drawings, timestamps)
    delta_bytes = np.ascontiguousarray(deltas, dtype="<f4").view(np.uint8)
    return _stroke_kernel(labels, delta_bytes, delta_offsets, key_id, recognized, timestamps,
                          *strings, *_STROKE_TABLE, *_gaps(gaps))


def encode_stroke_packed(labels: np.ndarray, drawings: Drawings, timestamps: np.ndarray,
                         gaps: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The records of ``encode_stroke_examples(..., gaps=gaps)`` packed as fastdraw.compact
    describes, points instead of float deltas: (buf uint8, offsets int64 (N + 1,), each
    record's size unpacked, gaps included).  Raises ValueError for a drawing with no point,
    as ``strokes.encode_strokes`` does."""
    labels, key_id, recognized, timestamps, *strings = _metadata(labels, drawings, timestamps)
    buf, offsets, sizes, empty = _stroke_packed_kernel(
        labels, np.ascontiguousarray(drawings.x, dtype=np.float64),
        np.ascontiguousarray(drawings.y, dtype=np.float64),
        np.ascontiguousarray(drawings.stroke_offsets, dtype=np.int64),
        np.ascontiguousarray(drawings.drawing_offsets, dtype=np.int64),
        key_id, recognized, timestamps, *strings, *_STROKE_TABLE, *_gaps(gaps))
    if empty >= 0:
        raise no_point(drawings, empty)
    return buf, offsets, sizes


def _gaps(gaps: tuple[int, int]) -> tuple[int, int]:
    before, after = (int(g) for g in gaps)
    if before < 0 or after < 0:
        raise ValueError(f"gaps must be two sizes >= 0, got {gaps}")
    return before, after


def _timestamps(drawings: Drawings, notebook_time: bool) -> np.ndarray:
    if not notebook_time:
        return drawings.timestamp
    return np.array([notebook_seconds(int(t)) for t in drawings.timestamp], dtype=np.int64)


def _int64_label(label: object) -> int:
    """The label as the notebook's ``int64_list.value.append(label)`` takes it: an integer in
    int64's range, else the TypeError or ValueError protobuf raises (never a wrapped value)."""
    if not isinstance(label, numbers.Integral) or isinstance(label, (bool, np.bool_)):
        raise TypeError(f"label {label!r} has type {type(label).__name__}: it must be an "
                        "integer")
    if not -(1 << 63) <= int(label) < 1 << 63:
        raise ValueError(f"label {label} is out of int64's range")
    return int(label)


def make_example_img(label: int, drawing: dict, *, notebook_time: bool = False):
    """Drop-in for the notebook's ``make_example_img``: a ``tf.train.Example``.

    Rendered at 64x64 with line width 4, maximized, as the notebook does.  The
    timestamp is UTC epoch seconds (the notebook under TZ=UTC; fractional
    seconds optional); ``notebook_time=True`` reproduces the notebook's
    local-time ``time.mktime`` instead.
    """
    import tensorflow as tf

    from fastdraw.raster import rasterize

    label = _int64_label(label)
    drawings = Drawings.from_dicts([drawing])
    images = rasterize(drawings, 64, 4, True)
    buf, _ = encode_img_examples(np.array([label]), images, drawings,
                                 _timestamps(drawings, notebook_time))
    return tf.train.Example.FromString(buf.tobytes())


def make_example_stroke(label: int, drawing: dict, *, notebook_time: bool = False):
    """Drop-in for the notebook's ``make_example_stroke``: a ``tf.train.Example``.

    Timestamps as in ``make_example_img``; strokes as in ``json_to_stroke`` (the raw
    format's t is the notebook's third row, stroke_z).
    """
    import tensorflow as tf

    return tf.train.Example.FromString(stroke_example(label, drawing, notebook_time).tobytes())


def stroke_example(label: int, drawing: dict, notebook_time: bool = False,
                   gaps: tuple[int, int] = (0, 0)) -> np.ndarray:
    """``make_example_stroke``'s Example, serialized (uint8), with ``gaps`` around it."""
    label = _int64_label(label)
    rows = json_to_stroke(drawing)
    drawings = Drawings.from_dicts([drawing])
    buf, _ = encode_stroke_examples(np.array([label]), rows[:3].astype(np.float32),
                                    np.array([0, rows.shape[1]]), drawings,
                                    _timestamps(drawings, notebook_time), gaps=gaps)
    return buf


def warmup(kinds: Sequence[str] = ("img", "stroke")) -> None:
    """Compile (or load from cache) the Example kernels a build of ``kinds`` runs."""
    drawings = Drawings.from_dicts([{
        "drawing": [[[0, 1], [0, 1]]], "key_id": "1", "timestamp": "2017-01-01 00:00:00 UTC",
        "recognized": True, "word": "w", "countrycode": "US",
    }])
    if "img" in kinds:
        encode_img_examples(np.zeros(1), np.zeros((1, 2, 2), np.uint8), drawings,
                            drawings.timestamp)
    if "stroke" in kinds:
        encode_stroke_packed(np.zeros(1), drawings, drawings.timestamp, (0, 0))
