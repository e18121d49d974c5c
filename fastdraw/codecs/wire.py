"""The ``tf.train.Example`` wire format, written by numba kernels straight from arrays.

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
second writes it.  These are the pieces every codec's kernels are made of (inlined
into them); the record kinds' kernels are in their codecs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fastdraw.drawings import Drawings
from fastdraw.kernels.buffers import joined, offsets_of
from fastdraw.kernels.jit import helper, kernel

# Feature key indices for the kernels: KEY[k] is a plain int64, where a literal int argument
# would compile a helper once for every value it takes.
KEY = np.arange(16, dtype=np.int64)


def key_table(keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Keys as one uint8 buffer plus offsets, checked to be in sorted order."""
    if list(keys) != sorted(keys):
        raise AssertionError(f"feature keys out of order: {keys}")
    return joined([k.encode() for k in keys])


@kernel
def vsize(v):
    """Bytes in the varint of uint64 ``v``."""
    n = 1
    while v >= np.uint64(128):
        v >>= np.uint64(7)
        n += 1
    return n


@helper
def put_varint(buf, pos, v):
    while v >= np.uint64(128):
        buf[pos] = np.uint8((v & np.uint64(127)) | np.uint64(128))
        v >>= np.uint64(7)
        pos += 1
    buf[pos] = np.uint8(v)
    return pos + 1


@kernel
def field_size(payload):
    """Size of a length-delimited field (one-byte tag) holding ``payload`` bytes."""
    return 1 + vsize(np.uint64(payload)) + payload


@helper
def put_field_header(buf, pos, tag, payload):
    buf[pos] = np.uint8(tag)
    return put_varint(buf, pos + 1, np.uint64(payload))


@helper
def put_span(buf, pos, src, a, b):
    dst = buf[pos:pos + b - a]
    part = src[a:b]
    for k in range(b - a):
        dst[k] = part[k]
    return pos + b - a


@helper
def key_len(key_offsets, k):
    return key_offsets[k + 1] - key_offsets[k]


@kernel
def entry_size(klen, feature):
    """Bytes of a map entry (key of klen bytes, Feature of ``feature`` bytes) in Features."""
    return field_size(field_size(klen) + field_size(feature))


@helper
def put_entry(buf, pos, keys, key_offsets, k, feature):
    """Writes map entry k's header up to its Feature's content (``feature`` bytes follow)."""
    a = key_offsets[k]
    b = key_offsets[k + 1]
    pos = put_field_header(buf, pos, 0x0A, field_size(b - a) + field_size(feature))
    pos = put_field_header(buf, pos, 0x0A, b - a)
    pos = put_span(buf, pos, keys, a, b)
    return put_field_header(buf, pos, 0x12, feature)


@kernel
def int_feature(v):
    """Feature size of a one-value Int64List."""
    return field_size(field_size(vsize(np.uint64(v))))


@helper
def put_int(buf, pos, keys, key_offsets, k, v):
    u = np.uint64(v)
    size = vsize(u)
    pos = put_entry(buf, pos, keys, key_offsets, k, field_size(field_size(size)))
    pos = put_field_header(buf, pos, 0x1A, field_size(size))
    pos = put_field_header(buf, pos, 0x0A, size)
    return put_varint(buf, pos, u)


@kernel
def bytes_feature(n):
    """Feature size of a one-value BytesList of n bytes."""
    return field_size(field_size(n))


@helper
def put_bytes(buf, pos, keys, key_offsets, k, src, a, b):
    pos = put_entry(buf, pos, keys, key_offsets, k, bytes_feature(b - a))
    pos = put_field_header(buf, pos, 0x0A, field_size(b - a))
    pos = put_field_header(buf, pos, 0x0A, b - a)
    return put_span(buf, pos, src, a, b)


@kernel
def float_feature(n):
    """Feature size of a FloatList of n values (an empty list is an empty message)."""
    return field_size(field_size(4 * n) if n > 0 else 0)


@helper
def put_float_head(buf, pos, keys, key_offsets, k, n):
    """FloatList entry k of n values, up to the values (their 4 * n bytes come next)."""
    pos = put_entry(buf, pos, keys, key_offsets, k, float_feature(n))
    pos = put_field_header(buf, pos, 0x12, field_size(4 * n) if n > 0 else 0)
    if n > 0:
        pos = put_field_header(buf, pos, 0x0A, 4 * n)
    return pos


@helper
def put_floats(buf, pos, keys, key_offsets, k, src, a, b):
    """FloatList entry of float32 values a..b, ``src`` being their little-endian bytes."""
    pos = put_float_head(buf, pos, keys, key_offsets, k, b - a)
    return put_span(buf, pos, src, 4 * a, 4 * b)


@helper
def meta_sizes(i, labels, key_id, recognized, timestamps, word_off, cc_off, key_offsets,
                k_cc, k_key_id, k_label, k_recognized, k_timestamp, k_word):
    """Bytes of the six metadata entries of example i (given the entries' key indices)."""
    return (
        entry_size(key_len(key_offsets, k_cc), bytes_feature(cc_off[i + 1] - cc_off[i]))
        + entry_size(key_len(key_offsets, k_key_id), int_feature(key_id[i]))
        + entry_size(key_len(key_offsets, k_label), int_feature(labels[i]))
        + entry_size(key_len(key_offsets, k_recognized), int_feature(recognized[i]))
        + entry_size(key_len(key_offsets, k_timestamp), int_feature(timestamps[i]))
        + entry_size(key_len(key_offsets, k_word), bytes_feature(word_off[i + 1] - word_off[i]))
    )


def pack_strings(strings: Sequence[str], what: str) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 of every string as one uint8 buffer plus offsets (N + 1,)."""
    try:
        text = "".join(strings)
        if text.isascii():  # a byte per character: one encode for the whole batch
            return np.frombuffer(text.encode(), dtype=np.uint8), offsets_of(strings)
        return joined([s.encode() for s in strings])
    except (TypeError, UnicodeEncodeError) as e:
        raise ValueError(f"every {what} must be a str encodable as UTF-8: {e}") from None


def metadata(labels: np.ndarray, drawings: Drawings, timestamps: np.ndarray) -> tuple:
    """Per-drawing kernel arguments shared by both schemas, checked for length N."""
    n = len(drawings)
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    timestamps = np.ascontiguousarray(timestamps, dtype=np.int64)
    if labels.shape != (n,) or timestamps.shape != (n,):
        raise ValueError(
            f"labels {labels.shape} and timestamps {timestamps.shape} must both be ({n},), "
            "one per drawing"
        )
    word_buf, word_off = pack_strings(drawings.word, "word")
    cc_buf, cc_off = pack_strings(drawings.countrycode, "countrycode")
    return (
        labels,
        np.ascontiguousarray(drawings.key_id, dtype=np.int64),
        np.ascontiguousarray(drawings.recognized, dtype=np.int64),
        timestamps,
        word_buf, word_off, cc_buf, cc_off,
    )


def check_gaps(gaps: tuple[int, int]) -> tuple[int, int]:
    before, after = (int(g) for g in gaps)
    if before < 0 or after < 0:
        raise ValueError(f"gaps must be two sizes >= 0, got {gaps}")
    return before, after

