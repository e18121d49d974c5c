"""Packed img records (the builder's spool) unpack to the very bytes they were packed from."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import simplified_files

from fastdraw import compact, reference
from fastdraw.drawings import Drawings
from fastdraw.example import encode_img_records
from fastdraw.raster import rasterize
from fastdraw.tfrecord import FRAME_HEAD, FRAME_TAIL, frame_in_place


@pytest.fixture(scope="module")
def dicts() -> list[dict]:
    """Real drawings of 58 classes."""
    return [reference.convert(line) for f in simplified_files()[::6]
            for line in open(f, encoding="utf-8")]


@pytest.fixture(scope="module")
def batch(dicts) -> Drawings:
    return Drawings.from_dicts(dicts)


def _framed(batch: Drawings, images: np.ndarray):
    labels = np.arange(len(batch)) % 345
    buf, slots, pixel_at = encode_img_records(labels, images, batch, batch.timestamp,
                                              gaps=(FRAME_HEAD, FRAME_TAIL))
    frame_in_place(buf, slots)
    return buf, slots, pixel_at


@pytest.mark.parametrize(("size", "lw"), [(64, 4), (28, 2), (30, 3), (5, 1), (256, 8)])
def test_pack_then_unpack_gives_the_framed_records_back(batch, size, lw):
    """Sizes whose pixel count is not a multiple of 8 (30, 5) end in a partial bit byte."""
    images = rasterize(batch, size, lw, True)
    buf, slots, pixel_at = _framed(batch, images)
    packed = np.full(compact.packed_bound(slots), 0xEE, dtype=np.uint8)
    offsets = compact.pack(buf, slots, pixel_at, images, packed)
    sizes = np.diff(offsets)
    if size >= 28:  # what packing is for
        assert sizes.sum() < 0.5 * (slots[-1] - slots[0])
    # Unpack in another order, into a buffer full of garbage, as phase 2 interleaves them.
    order = np.random.default_rng(size).permutation(len(sizes))
    framed = np.diff(slots)[order]
    at = np.concatenate(([0], np.cumsum(framed)[:-1]))
    out = np.full(int(framed.sum()), 0xEE, dtype=np.uint8)
    compact.unpack(packed, offsets[:-1][order], sizes[order], size * size, out, at)
    expected = b"".join(buf[slots[i]:slots[i + 1]].tobytes() for i in order)
    assert out.tobytes() == expected


def test_an_image_with_grey_pixels_is_refused(dicts):
    sub = Drawings.from_dicts(dicts[:10])
    images = rasterize(sub, 64, 4, True)
    images[7, 3, 5] = 128
    buf, slots, pixel_at = _framed(sub, images)
    with pytest.raises(ValueError, match="image 7 has pixels other than 0 and 255"):
        compact.pack(buf, slots, pixel_at, images, np.empty(compact.packed_bound(slots),
                                                            dtype=np.uint8))


def test_arguments_that_do_not_match_are_refused(dicts):
    sub = Drawings.from_dicts(dicts[:4])
    images = rasterize(sub, 64, 4, True)
    buf, slots, pixel_at = _framed(sub, images)
    with pytest.raises(ValueError, match="3 records, 4 pixel offsets and 4 images"):
        compact.pack(buf, slots[:-1], pixel_at, images, np.empty(len(buf) + 99, np.uint8))
    with pytest.raises(ValueError, match="out is too small"):
        compact.pack(buf, slots, pixel_at, images, np.empty(100, np.uint8))
