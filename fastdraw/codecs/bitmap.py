"""The bitmap codec: the official Quick, Draw! bitmaps, ``bitmap_<size>`` as size x size raw
bytes.

Each drawing is rendered as the official ``numpy_bitmap`` files render it
(fastdraw.kernels.bitmap: cairo 1.16's antialiased pixels, 0 to 255) and its Example
written with the features ``bitmap_<size>`` (one bytes value: the pixels row by row, a byte
each), countrycode, key_id, label, recognized, timestamp and word (the notebook's metadata,
as the img records have them), in the sorted key order of TensorFlow's deterministic
serialization.  The spool keeps records as they are (raw bytes do not pack further).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from fastdraw.codecs import tfds
from fastdraw.codecs.base import METADATA, Codec, RecordChecks
from fastdraw.codecs.proto import COUNT, ITEM_LEN
from fastdraw.codecs.wire import (
    KEY,
    bytes_feature,
    check_gaps,
    entry_size,
    field_size,
    key_len,
    key_table,
    meta_sizes,
    metadata,
    put_bytes,
    put_field_header,
    put_int,
)
from fastdraw.drawings import Drawings
from fastdraw.kernels import bitmap
from fastdraw.kernels.jit import kernel
from fastdraw.kernels.unaligned import copy_bytes

_FEATURE = re.compile(r"bitmap_(\d+)")
MAX_SIZE = 4096  # pixels a side (the renderer's limit)
_KEYS = ("{bitmap}", "countrycode", "key_id", "label", "recognized", "timestamp", "word")


def _table(size: int) -> tuple[np.ndarray, np.ndarray]:
    return key_table([k.format(bitmap=f"bitmap_{size}") for k in _KEYS])


@kernel
def _bitmap_kernel(labels, pixels, key_id, recognized, timestamps, word_buf, word_off,
                   cc_buf, cc_off, keys, key_offsets, before, after):
    """Bitmap-schema Examples, each in a slot with ``before`` and ``after`` bytes around it
    (zeroed); keys: bitmap countrycode key_id label recognized timestamp word."""
    n = len(labels)
    n_pixels = pixels.shape[1]
    features = np.empty(n, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        features[i] = meta_sizes(i, labels, key_id, recognized, timestamps, word_off, cc_off,
                                 key_offsets, KEY[1], KEY[2], KEY[3], KEY[4], KEY[5], KEY[6])
        features[i] += entry_size(key_len(key_offsets, KEY[0]), bytes_feature(n_pixels))
        offsets[i + 1] = offsets[i] + before + field_size(features[i]) + after
    buf = np.empty(offsets[n], dtype=np.uint8)
    for i in range(n):
        buf[offsets[i]:offsets[i] + before] = 0
        pos = put_field_header(buf, offsets[i] + before, 0x0A, features[i])
        pos = put_bytes(buf, pos, keys, key_offsets, KEY[0], pixels[i], 0, n_pixels)
        pos = put_bytes(buf, pos, keys, key_offsets, KEY[1], cc_buf, cc_off[i], cc_off[i + 1])
        pos = put_int(buf, pos, keys, key_offsets, KEY[2], key_id[i])
        pos = put_int(buf, pos, keys, key_offsets, KEY[3], labels[i])
        pos = put_int(buf, pos, keys, key_offsets, KEY[4], recognized[i])
        pos = put_int(buf, pos, keys, key_offsets, KEY[5], timestamps[i])
        pos = put_bytes(buf, pos, keys, key_offsets, KEY[6], word_buf, word_off[i], word_off[i + 1])
        buf[pos:pos + after] = 0
    return buf, offsets


def encode_bitmap_examples(labels: np.ndarray, images: np.ndarray, drawings: Drawings,
                           timestamps: np.ndarray, *, gaps: tuple[int, int] = (0, 0)
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Serialized bitmap-schema Examples of a batch: (buf uint8, offsets int64 (N + 1,)),
    slot i holding ``gaps[0]`` zero bytes, Example i (features ``bitmap_<sz>``: images
    uint8 (N, sz, sz) as raw bytes, and the metadata) and ``gaps[1]`` zero bytes."""
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must be uint8 (N, sz, sz), got {images.dtype} {images.shape}")
    if len(images) != len(drawings):
        raise ValueError(f"{len(images)} images for {len(drawings)} drawings")
    labels, key_id, recognized, timestamps, *strings = metadata(labels, drawings, timestamps)
    pixels = np.ascontiguousarray(images).reshape(len(images), -1)
    return _bitmap_kernel(labels, pixels, key_id, recognized, timestamps, *strings,
                          *_table(images.shape[1]), *check_gaps(gaps))


@kernel
def _unpack(src, starts, sizes, out, at):
    for i in range(len(starts)):
        copy_bytes(src, starts[i], out, at[i], sizes[i])


@dataclass(frozen=True)
class BitmapCodec(Codec):
    """The official bitmaps of ``size`` x ``size`` pixels (28: Google's ``numpy_bitmap``)."""

    kind = "bitmap"
    default_splits = "train=5000,eval=1000,test=1000"
    recorded_options = ("bitmap_size", "notebook_time")
    size: int = 28

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> BitmapCodec:
        return cls(size=int(options.get("bitmap_size", 28)),
                   notebook_time=bool(options.get("notebook_time", False)))

    @classmethod
    def from_features(cls, names: Collection[str]) -> BitmapCodec | None:
        sizes = [int(m[1]) for name in names if (m := _FEATURE.fullmatch(name))]
        return cls(size=sizes[0]) if sizes else None

    @property
    def feature(self) -> str:
        """The image's feature name."""
        return f"bitmap_{self.size}"

    def features(self) -> dict[str, str]:
        return {**METADATA, self.feature: "bytes"}

    def tfds_features(self, classes: int) -> dict[str, dict[str, Any]]:
        """The bitmap as a uint8 ``Tensor`` (size, size) kept as its raw bytes."""
        return {**super().tfds_features(classes),
                self.feature: tfds.tensor((self.size, self.size), "uint8", "bytes")}

    def supervised_keys(self) -> tuple[str, str] | None:
        return self.feature, "label"

    def check_options(self) -> None:
        if not 1 <= self.size <= MAX_SIZE:
            raise ValueError(f"--bitmap-size must be 1 to {MAX_SIZE} pixels, not {self.size}")

    @property
    def working_bytes(self) -> int:
        return self.size * self.size

    def max_record_bytes(self) -> int:
        return super().max_record_bytes() + 2 * self.size * self.size  # 2 bytes: a varint's

    def unusable(self, drawings: Drawings) -> dict[int, str]:
        return bitmap.refusals(drawings, self.size)

    def images(self, drawings: Drawings) -> np.ndarray:
        """The batch's bitmaps, uint8 (N, size, size)."""
        return bitmap.official_bitmaps(drawings, self.size)

    def encode(self, labels: np.ndarray, stamps: np.ndarray, drawings: Drawings,
               gaps: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        return encode_bitmap_examples(labels, self.images(drawings), drawings, stamps,
                                      gaps=gaps)

    def pack(self, labels: np.ndarray, stamps: np.ndarray, drawings: Drawings,
             gaps: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        buf, offsets = self.encode(labels, stamps, drawings, gaps)
        return buf, offsets, np.diff(offsets)

    def unpack(self, src: np.ndarray, starts: np.ndarray, sizes: np.ndarray, out: np.ndarray,
               at: np.ndarray) -> None:
        _unpack(src, starts, sizes, out, at)

    def tf_decoder(self, **options: Any) -> tuple[dict, Callable]:
        """Batches of ``(image uint8 [size, size], label int64)``."""
        import tensorflow as tf

        size, feature = self.size, self.feature
        spec = {feature: tf.io.FixedLenFeature([], tf.string),
                "label": tf.io.FixedLenFeature([], tf.int64)}

        def decode(f: dict) -> tuple:
            return (tf.reshape(tf.io.decode_raw(f[feature], tf.uint8), [-1, size, size]),
                    f["label"])

        return spec, decode

    def check(self, records: RecordChecks) -> None:
        size, table, row = self.size, records.table, records.columns[self.feature]
        with_image, count = records.column(self.feature, COUNT)
        _, length = records.column(self.feature, ITEM_LEN)
        records.add(f"bitmap of the wrong size (not one value of {size}x{size} bytes)",
                    with_image[(count != 1) | (length != size * size)],
                    lambda r: f"{table[row[r], COUNT]} values, the first of "
                              f"{table[row[r], ITEM_LEN]} bytes")

    def picture(self, features: Mapping[str, Any], size: int) -> np.ndarray:
        """The bitmap, enlarged by a whole factor to at least ``size`` pixels a side."""
        values = features.get(self.feature, [])
        sz = self.size
        if len(values) != 1 or len(values[0]) != sz * sz:
            raise ValueError(f"feature {self.feature} is not one value of {sz * sz} bytes")
        img = np.frombuffer(values[0], dtype=np.uint8).reshape(sz, sz)
        scale = -(-size // sz)
        return np.kron(img, np.ones((scale, scale), dtype=np.uint8)) if scale > 1 else img

    def warmup_drawing(self) -> None:
        bitmap.warmup()

    def warmup_records(self) -> None:
        d = Drawings.from_dicts([{"drawing": [[[0, 1], [0, 1]]], "key_id": "1", "word": "w",
                                  "countrycode": "XX", "recognized": True,
                                  "timestamp": "2017-01-01 00:00:00.0 UTC"}])
        buf, offsets = encode_bitmap_examples(np.zeros(1, dtype=np.int64),
                                              np.zeros((1, 2, 2), np.uint8), d, d.timestamp)
        _unpack(buf, offsets[:-1], np.diff(offsets), np.zeros(len(buf), dtype=np.uint8),
                np.zeros(1, dtype=np.int64))

    def record_kernels(self) -> list:
        return [_bitmap_kernel, _unpack]
