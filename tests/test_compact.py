"""Packed img records (the builder's spool) unpack to the very bytes of their Examples."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import simplified_files

from fastdraw import compact, reference
from fastdraw.drawings import Drawings
from fastdraw.example import encode_img_examples, encode_img_packed
from fastdraw.raster import rasterize
from fastdraw.tfrecord import FRAME_HEAD, FRAME_TAIL, frame_in_place

GAPS = (FRAME_HEAD, FRAME_TAIL)


@pytest.fixture(scope="module")
def dicts() -> list[dict]:
    """Real drawings of 58 classes."""
    return [reference.convert(line) for f in simplified_files()[::6]
            for line in open(f, encoding="utf-8")]


@pytest.fixture(scope="module")
def batch(dicts) -> Drawings:
    return Drawings.from_dicts(dicts)


@pytest.mark.parametrize(("size", "lw"), [(64, 4), (28, 2), (30, 3), (5, 1), (256, 8)])
def test_unpacked_and_framed_records_are_the_framed_examples(batch, size, lw):
    """Sizes whose pixel count is not a multiple of 8 (30, 5) end in a partial bit byte."""
    images = rasterize(batch, size, lw, True)
    labels = np.arange(len(batch)) % 345
    buf, slots = encode_img_examples(labels, images, batch, batch.timestamp, gaps=GAPS)
    frame_in_place(buf, slots)
    packed, offsets, framed = encode_img_packed(labels, images, batch, batch.timestamp, GAPS)
    assert framed.tolist() == np.diff(slots).tolist()
    if size >= 28:  # what packing is for
        assert offsets[-1] < 0.5 * len(buf)
    # Unpack in another order, into a buffer full of garbage, as phase 2 interleaves them.
    order = np.random.default_rng(size).permutation(len(framed))
    at = np.concatenate(([0], np.cumsum(framed[order])[:-1]))
    out = np.full(int(framed.sum()), 0xEE, dtype=np.uint8)
    compact.unpack(packed, offsets[:-1][order], np.diff(offsets)[order], size * size, out, at)
    frame_in_place(out, np.append(at, len(out)))
    assert out.tobytes() == b"".join(buf[slots[i]:slots[i + 1]].tobytes() for i in order)


def test_packing_is_deterministic_gaps_included(dicts):
    sub = Drawings.from_dicts(dicts[:50])
    images = rasterize(sub, 64, 4, True)
    one = encode_img_packed(np.zeros(50), images, sub, sub.timestamp, GAPS)[0].tobytes()
    assert encode_img_packed(np.zeros(50), images, sub, sub.timestamp, GAPS)[0].tobytes() == one


def test_an_image_with_grey_pixels_is_refused(dicts):
    sub = Drawings.from_dicts(dicts[:10])
    images = rasterize(sub, 64, 4, True)
    images[7, 3, 5] = 128
    with pytest.raises(ValueError, match="image 7 has pixels other than 0 and 255"):
        encode_img_packed(np.zeros(10), images, sub, sub.timestamp, GAPS)
