"""The img codec: the notebook's image records, ``img_<size>`` in one of three encodings.

Each drawing is rasterized (fastdraw.kernels.raster) and its Example written with the
features label, ``img_<size>``, countrycode, recognized, word, timestamp and key_id.  The
image's ``encoding`` (ENCODINGS) decides its feature:

- ``int64`` (the notebook's, the default): the size x size pixels, row by row, as packed
  int64 varints (a byte per black pixel, two per white one); the bytes equal TensorFlow's
  deterministic serialization of the notebook's ``make_example_img`` Example;
- ``bytes``: one bytes value, the size x size pixels as uint8, row by row;
- ``png``: one bytes value, the image as a 1-bit grayscale PNG (fastdraw.codecs.png).

Packed for the builder's spool: rasterized pixels are 0 or 255, so a bit says the same as
a pixel's varint or byte, an eighth of the size or less.  A packed int64 or bytes record
is: uint32 ``head`` (little-endian), the record's first ``head`` bytes (the room before the
Example and the Example up to the image's pixels), the pixels' bits (pixel k of each byte
in bit k, the last byte padded with zeros), then the record's bytes after the pixels (the
other features and the room after them).  A png record is packed as itself (its room
zeroed): it is small, and its PNG is made in phase 1, in the workers.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from fastdraw.codecs import png, tfds
from fastdraw.codecs.base import METADATA, Codec, RecordChecks
from fastdraw.codecs.proto import COUNT, ITEM_LEN, ITEM_START, MAX, MIN
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
    put_entry,
    put_field_header,
    put_int,
)
from fastdraw.drawings import Drawings
from fastdraw.kernels import raster
from fastdraw.kernels.jit import helper, kernel
from fastdraw.kernels.raster import rasterize
from fastdraw.kernels.unaligned import (
    copy_bytes,
    gather,
    load_u32,
    load_u64,
    store_u32,
    store_u64,
)

_FEATURE = re.compile(r"img_(\d+)")
MAX_SIZE = 32767  # pixels a side: an Example's 2 bytes a pixel stay under 2 GiB
MAX_LINE_WIDTH = 1 << 30  # the widest line Pillow's C int arithmetic draws without overflow
ENCODINGS = ("int64", "bytes", "png")  # of an image's feature: see the module docstring


_IMG_KEYS = ("countrycode", "{img}", "key_id", "label", "recognized", "timestamp", "word")


def _img_table(img_size: int) -> tuple[np.ndarray, np.ndarray]:
    return key_table([k.format(img=f"img_{img_size}") for k in _IMG_KEYS])


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


def _byte_table() -> tuple[np.ndarray, np.ndarray]:
    """The same as ``_run_table`` for pixels written as bytes: 8 bytes each 0 or 255."""
    runs = np.zeros((256, 2), dtype="<u8")
    bits = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little")
    runs[:, 0] = (bits * np.uint8(255)).view("<u8")[:, 0]
    return runs, np.full(256, 8, dtype=np.int64)


PIXEL_RUNS = _run_table()
BYTE_RUNS = _byte_table()
_WORDWISE = sys.byteorder == "little"  # the run table assumes little-endian words
_HIGH_BITS = 0x8080808080808080
_GATHER = 0x0102040810204080  # multiplier collecting 8 bits, one per byte, into the top byte
_BYTE_SUM = 0x0101010101010101  # multiplier summing 8 bytes (no carries: each 0 or 1) there
_PIXEL_SLACK = 16  # spare bytes after the buffer: a run's two 8-byte stores may pass the end
PACKED_HEAD = 4  # a packed record's uint32 head (see the module docstring)


@helper
def _gather_bits(ones):
    """uint64 ``ones``'s bytes, each 0 or 1, as the bits of one byte (byte k in bit k): the
    multiply moves each into the top byte, with no carries between them."""
    return (ones * np.uint64(_GATHER)) >> np.uint64(56)


@helper
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


@helper
def _put_pixel_bytes(buf, pos, pixels, a, b):
    """Writes ``pixels[a:b]`` as packed varints one by one (may write one byte past)."""
    for j in range(a, b):
        v = pixels[j]
        buf[pos] = v
        buf[pos + 1] = 1
        pos += 1 + (v >> 7)
    return pos


@kernel
def _img_kernel(labels, pixels, key_id, recognized, timestamps, word_buf, word_off,
                cc_buf, cc_off, keys, key_offsets, runs, run_sizes, before, after, bits, raw):
    """Img-schema Examples; keys: countrycode img key_id label recognized timestamp word.

    The pixels as int64 varints, or with ``raw`` as one bytes value.  With ``bits``, each
    record is written packed as the module docstring describes (the gaps zeroed); returns
    (buf, offsets, sizes with gaps and pixels, -1 or the first image with a pixel neither 0
    nor 255)."""
    n = len(labels)
    n_pixels = pixels.shape[1]
    n_bits = (n_pixels + 7) // 8
    packed = np.empty(n, dtype=np.int64)  # varint bytes of each image's pixels
    features = np.empty(n, dtype=np.int64)  # bytes of each Features message
    sizes = np.empty(n, dtype=np.int64)  # bytes of each record with its gaps
    offsets = np.zeros(n + 1, dtype=np.int64)
    list_tag = 0x0A if raw else 0x1A  # the Feature's bytes_list or int64_list
    for i in range(n):
        packed[i] = n_pixels if raw else n_pixels + _count_high(pixels[i])
        features[i] = meta_sizes(i, labels, key_id, recognized, timestamps, word_off, cc_off,
                                 key_offsets, KEY[0], KEY[2], KEY[3], KEY[4], KEY[5], KEY[6])
        features[i] += entry_size(key_len(key_offsets, KEY[1]),
                                  field_size(field_size(packed[i])))
        sizes[i] = before + field_size(features[i]) + after
        offsets[i + 1] = offsets[i] + (sizes[i] - packed[i] + n_bits + PACKED_HEAD if bits
                                       else sizes[i])
    buf = np.empty(offsets[n] + _PIXEL_SLACK, dtype=np.uint8)
    for i in range(n):
        start = offsets[i] + PACKED_HEAD if bits else offsets[i]
        if bits:
            buf[start:start + before] = 0
        pos = put_field_header(buf, start + before, 0x0A, features[i])
        pos = put_bytes(buf, pos, keys, key_offsets, KEY[0], cc_buf, cc_off[i], cc_off[i + 1])
        pos = put_entry(buf, pos, keys, key_offsets, KEY[1], field_size(field_size(packed[i])))
        pos = put_field_header(buf, pos, list_tag, field_size(packed[i]))
        pos = put_field_header(buf, pos, 0x0A, packed[i])
        if bits:
            store_u32(buf, offsets[i], pos - start)  # the packed record's head
            pos = _put_bits(buf, pos, pixels[i])
            if pos < 0:
                return buf[:offsets[n]], offsets, sizes, i
        elif raw:
            buf[pos:pos + n_pixels] = pixels[i]
            pos += n_pixels
        else:
            pos = _put_pixels(buf, pos, pixels[i], runs, run_sizes)
        pos = put_int(buf, pos, keys, key_offsets, KEY[2], key_id[i])
        pos = put_int(buf, pos, keys, key_offsets, KEY[3], labels[i])
        pos = put_int(buf, pos, keys, key_offsets, KEY[4], recognized[i])
        pos = put_int(buf, pos, keys, key_offsets, KEY[5], timestamps[i])
        pos = put_bytes(buf, pos, keys, key_offsets, KEY[6], word_buf, word_off[i], word_off[i + 1])
        if bits:
            buf[pos:pos + after] = 0
    return buf[:offsets[n]], offsets, sizes, -1


@kernel
def _blob_kernel(labels, blob, blob_off, key_id, recognized, timestamps, word_buf, word_off,
                 cc_buf, cc_off, keys, key_offsets, before, after):
    """Img-schema Examples whose image is one bytes value, ``blob[blob_off[i]:blob_off[i +
    1]]`` (a PNG), each in a slot with ``before`` and ``after`` bytes of room, zeroed."""
    n = len(labels)
    features = np.empty(n, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        features[i] = meta_sizes(i, labels, key_id, recognized, timestamps, word_off, cc_off,
                                 key_offsets, KEY[0], KEY[2], KEY[3], KEY[4], KEY[5], KEY[6])
        features[i] += entry_size(key_len(key_offsets, KEY[1]),
                                  bytes_feature(blob_off[i + 1] - blob_off[i]))
        offsets[i + 1] = offsets[i] + before + field_size(features[i]) + after
    buf = np.empty(offsets[n], dtype=np.uint8)
    for i in range(n):
        buf[offsets[i]:offsets[i] + before] = 0
        pos = put_field_header(buf, offsets[i] + before, 0x0A, features[i])
        pos = put_bytes(buf, pos, keys, key_offsets, KEY[0], cc_buf, cc_off[i], cc_off[i + 1])
        pos = put_bytes(buf, pos, keys, key_offsets, KEY[1], blob, blob_off[i], blob_off[i + 1])
        pos = put_int(buf, pos, keys, key_offsets, KEY[2], key_id[i])
        pos = put_int(buf, pos, keys, key_offsets, KEY[3], labels[i])
        pos = put_int(buf, pos, keys, key_offsets, KEY[4], recognized[i])
        pos = put_int(buf, pos, keys, key_offsets, KEY[5], timestamps[i])
        pos = put_bytes(buf, pos, keys, key_offsets, KEY[6], word_buf, word_off[i], word_off[i + 1])
        buf[pos:pos + after] = 0
    return buf, offsets


@helper
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


@helper
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


def encode_img_examples(labels: np.ndarray, images: np.ndarray, drawings: Drawings,
                        timestamps: np.ndarray, *, gaps: tuple[int, int] = (0, 0),
                        encoding: str = "int64") -> tuple[np.ndarray, np.ndarray]:
    """Serialized img-schema Examples of a batch: (buf uint8, offsets int64 (N + 1,)).

    Example i is ``buf[offsets[i]:offsets[i + 1]]``, with features label, ``img_<sz>``
    (images uint8 (N, sz, sz) in ``encoding``, one of ENCODINGS), countrycode, recognized,
    word, timestamp (``timestamps``, epoch seconds) and key_id; with the int64 encoding
    byte-equal to TensorFlow's deterministic serialization of the notebook's
    ``make_example_img`` Example.  With ``gaps=(before, after)`` that slot also holds
    ``before`` unwritten bytes ahead of the Example and ``after`` behind it (room for
    ``tfrecord.frame_in_place``).  A png image's pixels must each be 0 or 255.
    """
    if check_encoding(encoding) == "png":
        return _encode_png(labels, images, drawings, timestamps, gaps)
    buf, offsets, _, _ = _encode_img(labels, images, drawings, timestamps, gaps, False,
                                     encoding == "bytes")
    return buf, offsets


def encode_img_packed(labels: np.ndarray, images: np.ndarray, drawings: Drawings,
                      timestamps: np.ndarray, gaps: tuple[int, int], encoding: str = "int64"
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The records of ``encode_img_examples(..., gaps=gaps, encoding=encoding)`` packed as
    the module docstring describes: (buf uint8, offsets int64 (N + 1,), each record's size
    unpacked, gaps included).  Every pixel must be 0 or 255, as rasterized ones are."""
    if check_encoding(encoding) == "png":
        buf, offsets = _encode_png(labels, images, drawings, timestamps, gaps)
        return buf, offsets, np.diff(offsets)
    buf, offsets, sizes, bad = _encode_img(labels, images, drawings, timestamps, gaps, True,
                                           encoding == "bytes")
    if bad >= 0:
        raise ValueError(f"image {bad} has pixels other than 0 and 255: it cannot be packed")
    return buf, offsets, sizes


def _checked_images(images: np.ndarray, drawings: Drawings) -> None:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must be uint8 (N, sz, sz), got {images.dtype} {images.shape}")
    if len(images) != len(drawings):
        raise ValueError(f"{len(images)} images for {len(drawings)} drawings")


def _encode_img(labels: np.ndarray, images: np.ndarray, drawings: Drawings,
                timestamps: np.ndarray, gaps: tuple[int, int], bits: bool, raw: bool) -> tuple:
    _checked_images(images, drawings)
    labels, key_id, recognized, timestamps, *strings = metadata(labels, drawings, timestamps)
    pixels = np.ascontiguousarray(images).reshape(len(images), -1)
    return _img_kernel(labels, pixels, key_id, recognized, timestamps, *strings,
                       *_img_table(images.shape[1]), *PIXEL_RUNS, *check_gaps(gaps), bits, raw)


def _encode_png(labels: np.ndarray, images: np.ndarray, drawings: Drawings,
                timestamps: np.ndarray, gaps: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    _checked_images(images, drawings)
    labels, key_id, recognized, timestamps, *strings = metadata(labels, drawings, timestamps)
    blob, blob_off = png.encode_pngs(images)
    return _blob_kernel(labels, blob, blob_off, key_id, recognized, timestamps, *strings,
                        *_img_table(images.shape[1]), *check_gaps(gaps))


def unpack(src: np.ndarray, starts: np.ndarray, sizes: np.ndarray, n_pixels: int,
           out: np.ndarray, at: np.ndarray, encoding: str = "int64") -> None:
    """Unpacks the packed record ``src[starts[i]:starts[i] + sizes[i]]`` of an image of
    ``n_pixels`` in ``encoding`` into ``out[at[i]:]``, for every i (``out`` must have room
    for them all: their unpacked sizes)."""
    if check_encoding(encoding) == "png":
        gather(src, starts, sizes, out, at)
    elif encoding == "bytes":
        _unpack(src, starts, sizes, n_pixels, *BYTE_RUNS, 1, out, at)
    else:
        _unpack(src, starts, sizes, n_pixels, *PIXEL_RUNS, 2, out, at)


@kernel
def _unpack(src, starts, sizes, n_pixels, runs, run_sizes, white_size, out, at):
    """``unpack`` of int64 (``white_size`` 2: a white pixel is the varint FF 01) or bytes
    (1) records; ``runs`` / ``run_sizes`` give the bytes of 8 pixels."""
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
                    out[d + 1] = 1  # a varint's second byte, overwritten after a byte
                    d += white_size
                else:
                    out[d] = 0
                    d += 1
            q += 1
        copy_bytes(src, q, out, d, s + sizes[i] - q)


def _tf_png_pixels(size: int) -> Callable:
    """TensorFlow ops decoding a batch of PNGs as ``png.encode_pngs`` writes them (signature
    and IHDR, one IDAT chunk, IEND; filter 0 on every row) at once: the zlib streams
    inflated by one op, the bits spread to 0/255 bytes by a table.  tf.io.decode_png gives
    the same pixels (the tests check every drawing) one image at a time, at about twice
    the CPU (docs/performance.md).  A PNG not of that layout, or whose data inflates to other
    than its rows, raises InvalidArgumentError."""
    import tensorflow as tf

    head, stride = png.header(size, size), 1 + (size + 7) // 8
    idat, tail = len(head) + 8, 4 + len(png.IEND)  # the IDAT's data; its CRC and IEND after
    table = tf.constant(np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1)
                        * np.uint8(255))
    big_endian = tf.constant([1 << 24, 1 << 16, 1 << 8, 1], tf.int32)
    fault = (f"not the {size}x{size} 1-bit PNG a build writes: check the dataset with "
             "python -m fastdraw verify")

    def pixels(data: Any) -> Any:
        n = tf.strings.length(data)
        length = tf.reduce_sum(tf.cast(tf.io.decode_raw(
            tf.strings.substr(data, tf.fill(tf.shape(n), len(head)), tf.fill(tf.shape(n), 4)),
            tf.uint8), tf.int32) * big_endian, axis=1)
        layout = tf.reduce_all((tf.strings.substr(data, 0, len(head)) == head)
                               & (tf.strings.substr(data, -len(png.IEND), len(png.IEND))
                                  == png.IEND) & (length == n - idat - tail))
        zlib_data = tf.strings.substr(data, tf.fill(tf.shape(n), idat), n - idat - tail)
        with tf.control_dependencies([tf.debugging.assert_equal(layout, True, message=fault)]):
            inflated = tf.io.decode_compressed(zlib_data, "ZLIB")
        # Each image's rows, no more and no fewer: others would shift the batch's images.
        with tf.control_dependencies([tf.debugging.assert_equal(
                tf.strings.length(inflated), size * stride, message=fault)]):
            raw = tf.io.decode_raw(inflated, tf.uint8)
        rows = tf.reshape(raw, [-1, size, stride])
        with tf.control_dependencies([tf.debugging.assert_equal(
                tf.reduce_max(rows[:, :, 0], axis=None), tf.constant(0, tf.uint8),
                message=fault)]):
            spread = tf.gather(table, tf.cast(rows[:, :, 1:], tf.int32))
        return tf.reshape(spread, [-1, size, 8 * (stride - 1)])[:, :, :size]

    return pixels


def check_encoding(encoding: str) -> str:
    """``encoding`` if it is one of ENCODINGS, else ValueError naming them."""
    if encoding not in ENCODINGS:
        raise ValueError(f"image encoding {encoding!r} is none this version of fastdraw knows "
                         f"({', '.join(ENCODINGS)})")
    return encoding


@dataclass(frozen=True)
class ImgCodec(Codec):
    """Images of ``size`` x ``size`` pixels drawn with lines ``line_width`` wide, each drawing
    stretched to the image (``maximize``) or scaled by 1/1024, as the notebook's
    ``json_to_img``, in feature ``img_<size>`` as ``encoding`` (one of ENCODINGS: see the
    module docstring)."""

    kind = "img"
    default_splits = "train=5000,eval=1000,test=1000"  # the notebook's
    recorded_options = (*Codec.recorded_options, "img_encoding")
    size: int = 64
    line_width: int = 4
    maximize: bool = True
    encoding: str = "int64"

    def __post_init__(self) -> None:
        check_encoding(self.encoding)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> ImgCodec:
        return cls(size=int(options.get("img_size", 64)),
                   line_width=int(options.get("line_width", 4)),
                   maximize=bool(options.get("maximize", True)),
                   notebook_time=bool(options.get("notebook_time", False)),
                   encoding=str(options.get("img_encoding", "int64")))

    @classmethod
    def from_features(cls, names: Collection[str]) -> ImgCodec | None:
        sizes = [int(m[1]) for name in names if (m := _FEATURE.fullmatch(name))]
        return cls(size=sizes[0]) if sizes else None

    @property
    def feature(self) -> str:
        """The image's feature name."""
        return f"img_{self.size}"

    def features(self) -> dict[str, str]:
        return {**METADATA, self.feature: "int" if self.encoding == "int64" else "bytes"}

    def made_with(self) -> dict[str, Any]:
        return {"png": png.settings()} if self.encoding == "png" else {}

    def check_options(self) -> None:
        if not 1 <= self.size <= MAX_SIZE:
            raise ValueError(f"--img-size must be 1 to {MAX_SIZE} pixels, not {self.size} (a "
                             "larger image's Example could pass the 2 GiB that TensorFlow "
                             "reads: its pixels take up to 2 bytes each)")
        if not 1 <= self.line_width <= MAX_LINE_WIDTH:
            raise ValueError(f"--line-width must be 1 to {MAX_LINE_WIDTH} pixels, not "
                             f"{self.line_width} (Pillow's C int arithmetic draws wider lines "
                             "wrongly, or refuses them)")

    @property
    def working_bytes(self) -> int:
        return self.size * self.size

    def max_record_bytes(self) -> int:
        return super().max_record_bytes() + 2 * self.size * self.size  # 2 bytes: a varint's

    def unusable(self, drawings: Drawings) -> dict[int, str]:
        return raster.refusals(drawings, self.size, self.maximize)

    def images(self, drawings: Drawings) -> np.ndarray:
        """The batch's images, uint8 (N, size, size)."""
        return rasterize(drawings, self.size, self.line_width, self.maximize)

    def encode(self, labels: np.ndarray, stamps: np.ndarray, drawings: Drawings,
               gaps: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        return encode_img_examples(labels, self.images(drawings), drawings, stamps, gaps=gaps,
                                   encoding=self.encoding)

    def pack(self, labels: np.ndarray, stamps: np.ndarray, drawings: Drawings,
             gaps: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return encode_img_packed(labels, self.images(drawings), drawings, stamps, gaps,
                                 self.encoding)

    def unpack(self, src: np.ndarray, starts: np.ndarray, sizes: np.ndarray, out: np.ndarray,
               at: np.ndarray) -> None:
        unpack(src, starts, sizes, self.size * self.size, out, at, self.encoding)

    def tf_decoder(self, **options: Any) -> tuple[dict, Callable]:
        """Batches of ``(image uint8 [size, size], label int64)``, whatever the encoding."""
        import tensorflow as tf

        size, feature, encoding = self.size, self.feature, self.encoding
        spec = {feature: (tf.io.FixedLenFeature([size * size], tf.int64) if encoding == "int64"
                          else tf.io.FixedLenFeature([], tf.string)),
                "label": tf.io.FixedLenFeature([], tf.int64)}
        png_pixels = _tf_png_pixels(size) if encoding == "png" else None

        def decode(f: dict) -> tuple:
            if encoding == "int64":
                pixels = tf.cast(f[feature], tf.uint8)
            elif encoding == "bytes":
                pixels = tf.io.decode_raw(f[feature], tf.uint8)
            else:
                pixels = png_pixels(f[feature])
            return tf.reshape(pixels, [-1, size, size]), f["label"]

        return spec, decode

    def tfds_features(self, classes: int) -> dict[str, dict[str, Any]]:
        """The image as ``tfds.features.Image`` (shape (size, size, 1)) for png, else as a
        uint8 ``Tensor`` (size, size); the label a ``ClassLabel``."""
        size = self.size
        if self.encoding == "png":
            own = tfds.image((size, size, 1), "png")
        else:
            own = tfds.tensor((size, size), "uint8",
                              "bytes" if self.encoding == "bytes" else "none")
        return {**super().tfds_features(classes), self.feature: own}

    def supervised_keys(self) -> tuple[str, str] | None:
        return self.feature, "label"

    def check(self, records: RecordChecks) -> None:
        size, name = self.size, self.feature
        table, row = records.table, records.columns[name]
        with_image, count = records.column(name, COUNT)
        if self.encoding == "int64":
            _, lo = records.column(name, MIN)
            _, hi = records.column(name, MAX)
            records.add(f"image of the wrong size (not {size}x{size} pixels)",
                        with_image[count != size * size],
                        lambda r: f"{table[row[r], COUNT]} values")
            records.add("pixels outside 0..255",
                        with_image[(count > 0) & ((lo < 0) | (hi > 255))],
                        lambda r: f"range {table[row[r], MIN]}..{table[row[r], MAX]}")
            return
        records.add("image that is not one bytes value", with_image[count != 1],
                    lambda r: f"{table[row[r], COUNT]} values")
        one, length = with_image[count == 1], table[row[with_image[count == 1]], ITEM_LEN]
        if self.encoding == "bytes":
            records.add(f"image of the wrong size (not {size}x{size} pixels)",
                        one[length != size * size], lambda r: f"{table[row[r], ITEM_LEN]} bytes")
            return
        problems = {}
        for r in one.tolist():
            start = table[row[r], ITEM_START]
            try:
                png.read_png(records.buf[start:start + table[row[r], ITEM_LEN]].tobytes(), size)
            except ValueError as e:
                problems[r] = str(e)
        records.add(f"image that is not the {size}x{size} 1-bit PNG a build writes",
                    np.array(sorted(problems), dtype=np.int64), lambda r: problems[r])

    def picture(self, features: Mapping[str, Any], size: int) -> np.ndarray:
        """The image, enlarged by a whole factor to at least ``size`` pixels a side."""
        img = self._pixels(features.get(self.feature, []))
        scale = -(-size // self.size)
        return np.kron(img, np.ones((scale, scale), dtype=np.uint8)) if scale > 1 else img

    def _pixels(self, values: Any) -> np.ndarray:
        """A record's image feature as uint8 (size, size); ValueError when it is not one."""
        sz, name = self.size, self.feature
        if self.encoding == "int64":
            if len(values) != sz * sz:
                raise ValueError(f"feature {name} has {len(values)} values, not {sz * sz}")
            return np.asarray(values, dtype=np.int64).clip(0, 255).astype(np.uint8).reshape(sz, sz)
        if len(values) != 1 or not isinstance(values[0], bytes):
            raise ValueError(f"feature {name} has {len(values)} values, not one bytes value")
        if self.encoding == "bytes":
            if len(values[0]) != sz * sz:
                raise ValueError(f"feature {name} has {len(values[0])} bytes, not {sz * sz}")
            return np.frombuffer(values[0], dtype=np.uint8).reshape(sz, sz)
        try:
            with Image.open(io.BytesIO(values[0])) as img:  # its header only, not its pixels
                if img.size != (sz, sz):
                    raise ValueError(f"a {img.size[0]}x{img.size[1]} image, not {sz}x{sz}")
                img.load()
                return np.asarray(img.convert("L"))
        except Exception as e:  # Pillow's errors for a bad file are of many classes
            raise ValueError(f"feature {name} is not a PNG Pillow reads ({e})") from None

    def warmup_drawing(self) -> None:
        raster.warmup()

    def warmup_records(self) -> None:
        d = self.warmup_batch()
        labels = np.zeros(1, dtype=np.int64)
        image = np.zeros((1, 8, 8), dtype=np.uint8)
        encode_img_examples(labels, image, d, d.timestamp, encoding=self.encoding)
        packed, offsets, sizes = encode_img_packed(labels, image, d, d.timestamp, (0, 0),
                                                   self.encoding)
        unpack(packed, offsets[:-1], np.diff(offsets), 64,
               np.zeros(int(sizes.sum()) + 16, dtype=np.uint8), np.zeros(1, dtype=np.int64),
               self.encoding)

    def record_kernels(self) -> list:
        return [_blob_kernel if self.encoding == "png" else _img_kernel,
                gather if self.encoding == "png" else _unpack]
