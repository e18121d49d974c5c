"""Packed records (the builder's spool) unpack to the very bytes of their Examples."""

from __future__ import annotations

import numpy as np
import pytest
import realdata
from conftest import simplified_files

from fastdraw.codecs import img, stroke
from fastdraw.codecs.img import encode_img_examples, encode_img_packed
from fastdraw.codecs.stroke import encode_stroke_examples, encode_stroke_packed
from fastdraw.dataset.tfrecord import FRAME_HEAD, FRAME_TAIL, frame_in_place
from fastdraw.drawings import Drawings
from fastdraw.kernels.raster import rasterize
from fastdraw.kernels.strokes import encode_strokes
from fastdraw.notebook import reference

GAPS = (FRAME_HEAD, FRAME_TAIL)


@pytest.fixture(scope="module")
def dicts() -> list[dict]:
    """Real drawings of 58 classes."""
    return [reference.convert(line) for f in simplified_files()[::6]
            for line in open(f, encoding="utf-8")]


@pytest.fixture(scope="module")
def batch(dicts) -> Drawings:
    return Drawings.from_dicts(dicts)


@pytest.mark.parametrize("encoding", img.ENCODINGS)
@pytest.mark.parametrize(("size", "lw"), [(64, 4), (28, 2), (30, 3), (5, 1), (256, 8)])
def test_unpacked_and_framed_records_are_the_framed_examples(batch, size, lw, encoding):
    """Sizes whose pixel count is not a multiple of 8 (30, 5) end in a partial bit byte."""
    images = rasterize(batch, size, lw, True)
    labels = np.arange(len(batch)) % 345
    buf, slots = encode_img_examples(labels, images, batch, batch.timestamp, gaps=GAPS,
                                     encoding=encoding)
    frame_in_place(buf, slots)
    packed, offsets, framed = encode_img_packed(labels, images, batch, batch.timestamp, GAPS,
                                                encoding)
    assert framed.tolist() == np.diff(slots).tolist()
    if size >= 28 and encoding != "png":  # what packing is for (a png is packed as itself)
        assert offsets[-1] < 0.5 * len(buf)
    # Unpack in another order, into a buffer full of garbage, as phase 2 interleaves them.
    order = np.random.default_rng(size).permutation(len(framed))
    at = np.concatenate(([0], np.cumsum(framed[order])[:-1]))
    out = np.full(int(framed.sum()), 0xEE, dtype=np.uint8)
    img.unpack(packed, offsets[:-1][order], np.diff(offsets)[order], size * size, out, at,
               encoding)
    frame_in_place(out, np.append(at, len(out)))
    assert out.tobytes() == b"".join(buf[slots[i]:slots[i + 1]].tobytes() for i in order)


@pytest.mark.parametrize("encoding", img.ENCODINGS)
def test_packing_is_deterministic_gaps_included(dicts, encoding):
    sub = Drawings.from_dicts(dicts[:50])
    images = rasterize(sub, 64, 4, True)
    one = encode_img_packed(np.zeros(50), images, sub, sub.timestamp, GAPS, encoding)[0]
    two = encode_img_packed(np.zeros(50), images, sub, sub.timestamp, GAPS, encoding)[0]
    assert two.tobytes() == one.tobytes()


@pytest.mark.parametrize("encoding", img.ENCODINGS)
def test_an_image_with_grey_pixels_is_refused(dicts, encoding):
    sub = Drawings.from_dicts(dicts[:10])
    images = rasterize(sub, 64, 4, True)
    images[7, 3, 5] = 128
    with pytest.raises(ValueError, match="image 7 has pixels other than 0 and 255"):
        encode_img_packed(np.zeros(10), images, sub, sub.timestamp, GAPS, encoding)


def _framed_strokes(labels: np.ndarray, batch: Drawings) -> list[bytes]:
    deltas, delta_offsets = encode_strokes(batch)
    buf, slots = encode_stroke_examples(labels, deltas, delta_offsets, batch, batch.timestamp,
                                        gaps=GAPS)
    frame_in_place(buf, slots)
    return [buf[slots[i]:slots[i + 1]].tobytes() for i in range(len(batch))]


def _unpacked_strokes(labels: np.ndarray, batch: Drawings, order: np.ndarray) -> list[bytes]:
    """Packs the batch, unpacks its records in ``order`` into a buffer full of garbage (as
    phase 2 interleaves them) and frames them."""
    packed, offsets, framed = encode_stroke_packed(labels, batch, batch.timestamp, GAPS)
    at = np.concatenate(([0], np.cumsum(framed[order])[:-1]))
    out = np.full(int(framed.sum()), 0xEE, dtype=np.uint8)
    stroke.unpack_strokes(packed, offsets[:-1][order], np.diff(offsets)[order], out, at)
    ends = np.append(at, len(out))
    frame_in_place(out, ends)
    return [out[ends[k]:ends[k + 1]].tobytes() for k in range(len(order))]


def test_unpacked_and_framed_stroke_records_are_the_framed_examples(batch):
    labels = np.arange(len(batch)) % 345
    want = _framed_strokes(labels, batch)
    order = np.random.default_rng(1).permutation(len(batch))
    assert _unpacked_strokes(labels, batch, order) == [want[i] for i in order]
    packed = encode_stroke_packed(labels, batch, batch.timestamp, GAPS)[0]
    assert len(packed) < 0.5 * sum(map(len, want))  # what packing is for (0.43 here)


def test_raw_drawings_keep_their_coordinates_as_float32(batch):
    """Raw coordinates pass 255 (and a stroke may hold a single point): 4 bytes each."""
    raw = Drawings.from_dicts([reference.convert(line) for f in realdata.raw_files()[::15]
                               for line in open(f, encoding="utf-8")])
    assert raw.x.max() > 255
    labels = np.arange(len(raw))
    want = _framed_strokes(labels, raw)
    assert _unpacked_strokes(labels, raw, np.arange(len(raw))) == want


@pytest.mark.parametrize("coordinates", [
    [[[5], [7]]],  # one point: no delta, empty float lists
    [[[0, 255], [255, 0]], [[3], [4]], [[9, 9], [1, 1]]],  # a one-point stroke in the middle
    [[[0.0, 1.5, 2.25], [0.0, 0.0, -1.0]]],  # fractions and negatives
    [[[-0.0, 3.0], [0.0, 3.0]]],  # -0.0 is not the byte 0: it can change a delta's sign
    [[[1e9, -1e9, 3.4e38], [1e-9, 0.1, 256.0]]],  # float32 rounds them; the encoder too
])
def test_unusual_coordinates_round_trip(coordinates):
    drawing = {"drawing": coordinates, "key_id": "123", "word": "cat", "countrycode": "FR",
               "recognized": False, "timestamp": "2017-03-01 10:11:12.5 UTC"}
    one = Drawings.from_dicts([drawing] * 3)
    labels = np.array([0, 7, 300])
    assert _unpacked_strokes(labels, one, np.array([2, 0, 1])) == [
        _framed_strokes(labels, one)[i] for i in (2, 0, 1)]


def test_a_drawing_with_no_point_is_refused_like_encode_strokes(dicts):
    sub = Drawings.from_dicts(dicts[:3] + [{**dicts[3], "drawing": []}])
    with pytest.raises(ValueError, match="drawing 3 has no point"):
        encode_stroke_packed(np.zeros(4), sub, sub.timestamp, GAPS)
    with pytest.raises(ValueError, match="drawing 3 has no point"):
        encode_strokes(sub)
