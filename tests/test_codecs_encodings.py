"""The image encodings (int64, bytes, png) give the same pixels: real drawings of the bundled
sample, at the (size, line width) pairs the raster tests use, decode from their png records
with tf.io.decode_png and with Pillow, from their int64 records (fastdraw's parser) and from
their bytes records, to exactly the pixels their int64 record holds; and what reads the
records (the tf.data decoder, preview's picture, verify's PNG check) takes all three.

Coverage follows the raster tests': every drawing at the pairs they check on every drawing
(64 px lw 4 and 3, 28 px lw 1), and every pair of their grid (sizes 28-256, widths 1-8) on a
rotating slice of 1,000 drawings, so that each drawing is decoded at about 10 pairs.  With
FASTDRAW_EVERY_DRAWING=1 (as CI runs it) every pair takes every drawing: 48 pairs x 6,280
drawings x 3 encodings (4.6 minutes on a loaded 2-core machine).
"""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
import pytest
from conftest import simplified_lines
from PIL import Image
from test_kernels_raster import SIZES, WIDTHS

from fastdraw.codecs import ImgCodec, png
from fastdraw.codecs.img import ENCODINGS, encode_img_examples
from fastdraw.codecs.proto import parse_example
from fastdraw.drawings import Drawings
from fastdraw.notebook import reference

PAIRS = [(sz, lw) for sz in SIZES for lw in WIDTHS]
EVERY_DRAWING = [(64, 4), (64, 3), (28, 1)]  # the pairs the raster tests check on every drawing
SLICE = 1000  # drawings of a grid pair, unless FASTDRAW_EVERY_DRAWING is set
CHUNK = 1000  # drawings decoded at a time (a 256 px image is 64 KiB three times over)


@pytest.fixture(scope="module")
def drawings() -> Drawings:
    """Every real drawing of the bundled sample (6,280)."""
    return Drawings.from_dicts([reference.convert(line) for line in simplified_lines()])


@pytest.fixture(scope="module")
def tf_png():
    """tf.io.decode_png over a batch of PNGs, both cores decoding."""
    import tensorflow as tf

    def decode(pngs: list[bytes], size: int) -> np.ndarray:
        images = tf.data.Dataset.from_tensor_slices(pngs).map(
            lambda data: tf.io.decode_png(data, channels=1), num_parallel_calls=2)
        out = np.concatenate([b.numpy() for b in images.batch(CHUNK)])
        assert out.shape == (len(pngs), size, size, 1)
        return out[..., 0]

    return decode


def _values(buf: np.ndarray, slots: np.ndarray) -> list[bytes]:
    return [buf[slots[i]:slots[i + 1]].tobytes() for i in range(len(slots) - 1)]


def _records(codec: ImgCodec, drawings: Drawings) -> list[bytes]:
    return _values(*codec.examples(0, drawings))


def _tf_decoded(codec: ImgCodec, records: list[bytes]) -> np.ndarray:
    """The images of fastdraw.data's decoder (the codec's tf_decoder) of these records."""
    import tensorflow as tf

    spec, decode = codec.tf_decoder()
    return decode(tf.io.parse_example(tf.constant(records), spec))[0].numpy()


def _decode_all(drawings: Drawings, tf_png, sz: int, lw: int) -> None:
    """Every drawing's records in each encoding decode to its int64 record's pixels."""
    feature = f"img_{sz}"
    for a in range(0, len(drawings), CHUNK):
        batch = drawings.slice(a, min(a + CHUNK, len(drawings)))
        images = ImgCodec(size=sz, line_width=lw).images(batch)
        assert set(np.unique(images)) <= {0, 255}
        int64, raw, pngs = (_values(*encode_img_examples(
            np.zeros(len(batch)), images, batch, batch.timestamp, encoding=e))
            for e in ENCODINGS)
        # The int64 record's values and the bytes record's value are the pixels.
        assert all(np.array_equal(parse_example(r)[feature], p.ravel())
                   for r, p in zip(int64, images))
        assert all(parse_example(r)[feature] == [p.tobytes()] for r, p in zip(raw, images))
        data = [parse_example(r)[feature][0] for r in pngs]
        assert np.array_equal(tf_png(data, sz), images), "tf.io.decode_png"
        for e, records in zip(ENCODINGS, (int64, raw, pngs)):
            assert np.array_equal(_tf_decoded(ImgCodec(size=sz, encoding=e), records), images), \
                f"fastdraw.data's decoder of {e}"
        pil = [Image.open(io.BytesIO(d)) for d in data]
        assert {p.mode for p in pil} == {"1"}
        assert np.array_equal(np.stack([np.asarray(p.convert("L")) for p in pil]), images), \
            "Pillow"


@pytest.mark.parametrize("sz, lw", EVERY_DRAWING, ids=[f"{s}-lw{w}" for s, w in EVERY_DRAWING])
def test_every_drawing_decodes_to_the_int64_records_pixels(drawings, tf_png, sz, lw):
    _decode_all(drawings, tf_png, sz, lw)


@pytest.mark.parametrize("k", range(len(PAIRS)), ids=[f"{s}-lw{w}" for s, w in PAIRS])
def test_every_pair_decodes_to_the_int64_records_pixels(drawings, tf_png, k):
    sz, lw = PAIRS[k]
    if os.environ.get("FASTDRAW_EVERY_DRAWING"):
        _decode_all(drawings, tf_png, sz, lw)
        return
    order = np.random.default_rng(5).permutation(len(drawings))
    picked = np.sort(order[(k * SLICE + np.arange(SLICE)) % len(drawings)])
    _decode_all(drawings.take(picked), tf_png, sz, lw)


def test_pngs_are_1_bit_grayscale_and_deterministic(drawings):
    batch = drawings.slice(0, 500)
    images = ImgCodec().images(batch)
    buf, offsets = png.encode_pngs(images)
    again = [png.encode_pngs(images[i:i + 7])[0].tobytes() for i in range(0, 500, 7)]
    assert b"".join(again) == buf.tobytes()  # the same bytes however the batch is cut
    first = buf[offsets[0]:offsets[1]].tobytes()
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    assert first[12:29] == b"IHDR" + bytes.fromhex("00000040 00000040 01 00 00 00 00")
    assert np.array_equal(png.read_png(first, 64), images[0])
    settings = png.settings()
    assert settings["zlib"] == zlib.ZLIB_RUNTIME_VERSION and settings["bit_depth"] == 1


def _png(size: int = 8) -> bytes:
    image = np.zeros((1, size, size), dtype=np.uint8)
    image[0, 2:5, 1:7] = 255
    buf, _ = png.encode_pngs(image)
    return buf.tobytes()


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x10]) + data[at + 1:]


@pytest.mark.parametrize("damage, message", [
    (lambda d: d[1:], "no PNG signature"),
    (lambda d: _flip(d, 20), "chunk b'IHDR' at byte 8 has a bad CRC"),
    (lambda d: _flip(d, 45), "chunk b'IDAT' at byte 33 has a bad CRC"),
    (lambda d: d[:-5], "a chunk at byte"),
    (lambda d: d + b"\0", "a chunk at byte"),
])
def test_a_damaged_png_is_named(damage, message):
    assert np.array_equal(png.read_png(_png(), 8)[2], [0, 255, 255, 255, 255, 255, 255, 0])
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        png.read_png(damage(_png()), 8)


def test_a_png_of_another_size_depth_or_filter_is_named():
    with pytest.raises(ValueError, match="not a 9x9 1-bit grayscale PNG"):
        png.read_png(_png(), 9)
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(buf, format="PNG")  # 8-bit
    with pytest.raises(ValueError, match="not a 8x8 1-bit grayscale PNG"):
        png.read_png(buf.getvalue(), 8)
    rows = zlib.compress(bytes([2, 0] * 8))  # filter type 2 (Up)
    idat = len(rows).to_bytes(4, "big") + b"IDAT" + rows
    idat += zlib.crc32(idat[4:]).to_bytes(4, "big")
    head = _png()[:33]
    with pytest.raises(ValueError, match="row 0 has filter type 2"):
        png.read_png(head + idat + _png()[-12:], 8)


def test_an_unknown_encoding_names_the_choices():
    with pytest.raises(ValueError, match=r"image encoding 'jpeg' is none this version of "
                                         r"fastdraw knows \(int64, bytes, png\)"):
        ImgCodec(encoding="jpeg")
    with pytest.raises(ValueError, match="image encoding 'webp'"):
        ImgCodec.from_options({"img_encoding": "webp"})


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_the_features_the_decoder_and_the_picture_follow_the_encoding(drawings, encoding):
    import tensorflow as tf

    codec = ImgCodec(size=28, line_width=2, encoding=encoding)
    batch = drawings.slice(100, 164)
    images = codec.images(batch)
    assert codec.features()["img_28"] == ("int" if encoding == "int64" else "bytes")
    records = _records(codec, batch)
    spec, decode = codec.tf_decoder()
    pixels, labels = decode(tf.io.parse_example(tf.constant(records), spec))
    assert pixels.dtype == tf.uint8 and np.array_equal(pixels.numpy(), images)
    assert labels.numpy().tolist() == [0] * 64
    picture = codec.picture(parse_example(records[5]), 64)
    assert np.array_equal(picture, np.kron(images[5], np.ones((3, 3), np.uint8)))


def _with_png(value: bytes) -> bytes:
    """A record whose img_8 is ``value``."""
    from fastdraw.codecs.img import _blob_kernel, _img_table
    from fastdraw.codecs.wire import metadata

    d = Drawings.from_dicts([{"drawing": [[[0, 1], [0, 1]]], "key_id": "1", "word": "w",
                              "countrycode": "XX", "recognized": True,
                              "timestamp": "2017-01-01 00:00:00.0 UTC"}])
    labels, key_id, recognized, stamps, *strings = metadata(np.zeros(1), d, d.timestamp)
    blob = np.frombuffer(value, dtype=np.uint8)
    buf, _ = _blob_kernel(labels, blob, np.array([0, len(blob)]), key_id, recognized, stamps,
                          *strings, *_img_table(8), 0, 0)
    return buf.tobytes()


@pytest.mark.parametrize("make", [
    lambda: _png()[:33] + _png()[33:-12] + b"\0\0\0\0tEXt" + bytes(4) + _png()[-12:],
    lambda: (lambda b: (Image.fromarray(np.zeros((8, 8), np.uint8)).save(b, "PNG"),
                        b.getvalue())[1])(io.BytesIO()),
    lambda: _png()[:-1],
])
def test_the_tf_decoder_refuses_a_png_not_of_the_layout_a_build_writes(make):
    import tensorflow as tf

    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="not the 8x8 1-bit PNG a build writes: check the dataset with "
                             "python -m fastdraw verify"):
        _tf_decoded(ImgCodec(size=8, encoding="png"), [_with_png(make())])
    assert _tf_decoded(ImgCodec(size=8, encoding="png"), [_with_png(_png())]).shape == (1, 8, 8)


@pytest.mark.parametrize("rows", [16, 4], ids=["twice-the-rows", "half-the-rows"])
def test_the_tf_decoder_refuses_a_png_whose_data_is_not_its_rows(rows):
    import tensorflow as tf

    data = zlib.compress(bytes(rows * 2))  # rows of 8 pixels: a filter byte and one of bits
    other = png.header(8, 8) + struct.pack(">I", len(data)) + b"IDAT" + data + \
        struct.pack(">I", zlib.crc32(b"IDAT" + data)) + png.IEND
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="not the 8x8 1-bit PNG a build writes: check the dataset with "
                             "python -m fastdraw verify"):
        _tf_decoded(ImgCodec(size=8, encoding="png"), [_with_png(other)] * 2)


@pytest.mark.parametrize("encoding, value, message", [
    ("bytes", [b"\0" * 10], "feature img_28 has 10 bytes, not 784"),
    ("bytes", [b"a", b"b"], "feature img_28 has 2 values, not one bytes value"),
    ("png", [b"not a png"], "feature img_28 is not a PNG Pillow reads"),
    ("png", [_png(8)], "feature img_28 is not a PNG Pillow reads .a 8x8 image, not 28x28"),
])
def test_a_picture_of_a_bad_image_is_a_clear_error(encoding, value, message):
    with pytest.raises(ValueError, match=message):
        ImgCodec(size=28, encoding=encoding).picture({"img_28": value}, 64)


def test_a_picture_of_a_huge_png_is_refused_before_its_pixels_are_decoded(monkeypatch):
    from PIL import PngImagePlugin

    huge = io.BytesIO()
    Image.new("1", (9000, 9000)).save(huge, "PNG")  # 10 KB for 81 MB of decoded pixels
    decoded = []
    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load",
                        lambda self: decoded.append(self.size))
    with pytest.raises(ValueError, match="a 9000x9000 image, not 28x28"):
        ImgCodec(size=28, encoding="png").picture({"img_28": [huge.getvalue()]}, 64)
    assert decoded == []
