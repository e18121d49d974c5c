"""Example encoding: fastdraw's hand-written wire format vs the notebook's tf.train.Example.

Real drawings, no repeats: the first 1000 of the simplified set for img, all 6280 for
stroke.  Groups ``example_img`` / ``example_stroke`` time the Example alone, from the same
precomputed pixels / stroke deltas: the notebook's build (``int64_list.extend`` ...) plus
``SerializeToString()`` vs fastdraw's batch encoder.  ``*_full`` groups add the raster /
stroke step on both sides (the reference's ``make_example_*`` + serialize) for context.
Each fastdraw benchmark records ``speedup_vs_reference`` in extra_info; a summary prints.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from per_item import PerItem
from realdata import simplified_files  # tests/realdata.py, on sys.path by conftest.py

from fastdraw.codecs import ImgCodec, StrokeCodec
from fastdraw.codecs.img import encode_img_examples
from fastdraw.codecs.stroke import encode_stroke_examples
from fastdraw.drawings import Drawings
from fastdraw.kernels import raster
from fastdraw.kernels.strokes import encode_strokes
from fastdraw.notebook import reference

IMG_ITEMS = 1000
_PER_ITEM = PerItem()


@pytest.fixture(scope="module")
def data() -> dict:
    import tensorflow  # noqa: F401 (import cost out of the timings)

    labels, dicts = [], []
    for label, f in enumerate(simplified_files()):
        for line in open(f, encoding="utf-8"):
            labels.append(label)
            dicts.append(reference.convert(line))
    batch = Drawings.from_dicts(dicts)
    img_batch = Drawings.from_dicts(dicts[:IMG_ITEMS])
    deltas, offsets = encode_strokes(batch)
    raster.warmup()
    ImgCodec().warmup_records()
    StrokeCodec().warmup_records()
    encode_stroke_examples(np.zeros(1), deltas[:, :offsets[1]], offsets[:2],
                           Drawings.from_dicts(dicts[:1]), batch.timestamp[:1])  # loads it
    return {
        "labels": np.array(labels), "dicts": dicts, "batch": batch, "img_batch": img_batch,
        "images": raster.rasterize(img_batch, 64, 4, True), "deltas": deltas,
        "offsets": offsets, "strokes": [reference.json_to_stroke(d) for d in dicts],
    }


_summary = _PER_ITEM.summary()
_run = _PER_ITEM.run


def _notebook_img_bytes(label: int, d: dict, img_64: np.ndarray) -> bytes:
    """make_example_img from the notebook, its pixels given, then serialized."""
    import tensorflow as tf

    example = tf.train.Example()
    example.features.feature["label"].int64_list.value.append(label)
    example.features.feature["img_64"].int64_list.value.extend(img_64)
    example.features.feature["countrycode"].bytes_list.value.append(d["countrycode"].encode())
    example.features.feature["recognized"].int64_list.value.append(int(d["recognized"]))
    example.features.feature["word"].bytes_list.value.append(d["word"].encode())
    ts = d["timestamp"]
    ts = time.mktime(time.strptime(ts[:ts.index(".")], "%Y-%m-%d %H:%M:%S"))
    example.features.feature["timestamp"].int64_list.value.append(int(ts))
    example.features.feature["key_id"].int64_list.value.append(int(d["key_id"]))
    return example.SerializeToString()


def _notebook_stroke_bytes(label: int, d: dict, stroke: np.ndarray) -> bytes:
    """make_example_stroke from the notebook, its json_to_stroke given, then serialized."""
    import tensorflow as tf

    example = tf.train.Example()
    example.features.feature["label"].int64_list.value.append(label)
    example.features.feature["stroke_x"].float_list.value.extend(stroke[0, :])
    example.features.feature["stroke_y"].float_list.value.extend(stroke[1, :])
    example.features.feature["stroke_z"].float_list.value.extend(stroke[2, :])
    example.features.feature["stroke_len"].int64_list.value.append(stroke.shape[1])
    example.features.feature["countrycode"].bytes_list.value.append(d["countrycode"].encode())
    example.features.feature["recognized"].int64_list.value.append(int(d["recognized"]))
    example.features.feature["word"].bytes_list.value.append(d["word"].encode())
    ts = d["timestamp"]
    ts = time.mktime(time.strptime(ts[:ts.index(".")], "%Y-%m-%d %H:%M:%S"))
    example.features.feature["timestamp"].int64_list.value.append(int(ts))
    example.features.feature["key_id"].int64_list.value.append(int(d["key_id"]))
    return example.SerializeToString()


def test_reference_img_example_from_pixels(benchmark, data):
    rows = list(zip(data["labels"][:IMG_ITEMS].tolist(), data["dicts"],
                    data["images"].reshape(IMG_ITEMS, -1)))
    _run(benchmark, "example_img", IMG_ITEMS,
         lambda: [_notebook_img_bytes(label, d, img) for label, d, img in rows])


def test_fastdraw_img_examples(benchmark, data):
    batch = data["img_batch"]
    _run(benchmark, "example_img", IMG_ITEMS, lambda: encode_img_examples(
        data["labels"][:IMG_ITEMS], data["images"], batch, batch.timestamp))


def test_reference_stroke_example_from_strokes(benchmark, data):
    rows = list(zip(data["labels"].tolist(), data["dicts"], data["strokes"]))
    _run(benchmark, "example_stroke", len(rows),
         lambda: [_notebook_stroke_bytes(label, d, s) for label, d, s in rows])


def test_fastdraw_stroke_examples(benchmark, data):
    batch = data["batch"]
    _run(benchmark, "example_stroke", len(batch), lambda: encode_stroke_examples(
        data["labels"], data["deltas"], data["offsets"], batch, batch.timestamp))


def test_reference_make_example_img_full(benchmark, data):
    rows = list(zip(data["labels"][:IMG_ITEMS].tolist(), data["dicts"]))
    _run(benchmark, "example_img_full", IMG_ITEMS, lambda: [
        reference.make_example_img(label, d).SerializeToString() for label, d in rows])


def test_fastdraw_rasterize_and_encode_img(benchmark, data):
    batch = data["img_batch"]

    def run():
        images = raster.rasterize(batch, 64, 4, True)
        return encode_img_examples(data["labels"][:IMG_ITEMS], images, batch, batch.timestamp)

    _run(benchmark, "example_img_full", IMG_ITEMS, run)


def test_reference_make_example_stroke_full(benchmark, data):
    rows = list(zip(data["labels"].tolist(), data["dicts"]))
    _run(benchmark, "example_stroke_full", len(rows), lambda: [
        reference.make_example_stroke(label, d).SerializeToString() for label, d in rows])


def test_fastdraw_encode_strokes_and_examples(benchmark, data):
    batch = data["batch"]

    def run():
        deltas, offsets = encode_strokes(batch)
        return encode_stroke_examples(data["labels"], deltas, offsets, batch, batch.timestamp)

    _run(benchmark, "example_stroke_full", len(batch), run)
