"""The bitmap dataset kind (`fastdraw.codecs.bitmap`): TensorFlow's bytes for every real
drawing, the build, verify, the tf.data reader and preview through the codec."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from build_helpers import options
from realdata import OFFICIAL, SIMPLIFIED, simplified_files

from fastdraw.build import build
from fastdraw.codecs import CODECS, codec_for, codec_of_features
from fastdraw.codecs.bitmap import BitmapCodec, encode_bitmap_examples
from fastdraw.codecs.proto import parse_example
from fastdraw.data import bitmap_dataset, img_dataset
from fastdraw.dataset.tfrecord import read_records
from fastdraw.dataset.verify import verify_dataset
from fastdraw.drawings import Drawings
from fastdraw.kernels.bitmap import official_bitmaps
from fastdraw.sources import read_drawings
from fastdraw.views.preview import preview

SPLITS = {"train": 3, "eval": 1, "test": 1}


def _tf_example(label: int, d: Drawings, i: int, image: np.ndarray) -> bytes:
    example = tf.train.Example()
    f = example.features.feature
    f["label"].int64_list.value.append(label)
    f[f"bitmap_{image.shape[0]}"].bytes_list.value.append(image.tobytes())
    f["countrycode"].bytes_list.value.append(d.countrycode[i].encode())
    f["recognized"].int64_list.value.append(int(d.recognized[i]))
    f["word"].bytes_list.value.append(d.word[i].encode())
    f["timestamp"].int64_list.value.append(int(d.timestamp[i]))
    f["key_id"].int64_list.value.append(int(d.key_id[i]))
    return example.SerializeToString(deterministic=True)


@pytest.mark.parametrize("size", [28, 5])
def test_examples_are_tf_bytes_for_every_drawing(size):
    for label, path in enumerate(simplified_files()[::7]):
        for d in read_drawings(path, unrecognized=True):
            images = official_bitmaps(d, size)
            labels = np.full(len(d), label)
            buf, offsets = encode_bitmap_examples(labels, images, d, d.timestamp)
            for i in range(len(d)):
                assert buf[offsets[i]:offsets[i + 1]].tobytes() == \
                    _tf_example(label, d, i, images[i])


def test_packed_records_unpack_to_the_examples_with_their_gaps():
    d = next(read_drawings(SIMPLIFIED / "eye.ndjson"))
    codec = BitmapCodec()
    gaps = (12, 4)
    examples, slots = codec.examples(7, d, gaps)
    buf, offsets, sizes = codec.packed(7, d, gaps)
    out = np.full(int(sizes.sum()), 0xAB, dtype=np.uint8)
    at = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    codec.unpack(buf, offsets[:-1], np.diff(offsets), out, at)
    assert np.array_equal(np.diff(slots), sizes)
    for i in range(len(d)):
        slot = out[at[i]:at[i] + sizes[i]]
        assert slot[gaps[0]:len(slot) - gaps[1]].tobytes() == \
            examples[slots[i] + gaps[0]:slots[i + 1] - gaps[1]].tobytes()


def test_the_codec_is_named_by_its_options_and_features():
    assert CODECS["bitmap"] is BitmapCodec
    assert codec_for("bitmap", {"bitmap_size": 64}) == BitmapCodec(size=64)
    assert codec_for("bitmap", {}) == BitmapCodec(size=28)
    assert codec_of_features({"bitmap_28", "label", "word"}) == BitmapCodec(size=28)
    with pytest.raises(ValueError, match="--bitmap-size must be 1 to 4096"):
        BitmapCodec(size=0).check_options()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A bitmap (and img) build of three real classes, one with a drawing the renderer
    refuses (a coordinate beyond +-2**20)."""
    tmp = tmp_path_factory.mktemp("bitmap")
    data = tmp / "data"
    data.mkdir()
    lines = (OFFICIAL / "cat.ndjson").read_text().splitlines()
    beyond = json.loads(lines[1])
    beyond["drawing"] = [[[0, 4e6], [0, 10]]]
    beyond["key_id"] = "1"
    lines.insert(1, json.dumps(beyond))
    (data / "cat.ndjson").write_text("\n".join(lines) + "\n")
    files = [data / "cat.ndjson", OFFICIAL / "eye.ndjson", OFFICIAL / "fish.ndjson"]
    opts = options(["cat", "eye", "fish"], files, tmp / "out",
                   {"bitmap": dict(SPLITS), "img": dict(SPLITS)}, shards=2,
                   include_unrecognized=True, name="t")
    return {b.kind: b.path for b in build(opts)}


def test_a_build_writes_the_official_rows(built):
    rows = {name: np.load(OFFICIAL / f"{name}_numpy_bitmap_rows0-24.npy")
            for name in ("cat", "eye", "fish")}
    keys = {name: [json.loads(line)["key_id"] for line in
                   (OFFICIAL / f"{name}.ndjson").read_text().splitlines()]
            for name in rows}
    seen = 0
    for shard in sorted(built["bitmap"].glob("*-of-*")):
        for record in read_records(shard):
            f = parse_example(record)
            name = f["word"][0].decode()
            row = keys[name].index(str(int(f["key_id"][0])))
            assert f["bitmap_28"][0] == rows[name][row].tobytes()
            seen += 1
    assert seen == 15


def test_a_drawing_the_renderer_refuses_is_a_rejected_line(built):
    rejected = [json.loads(line) for line in
                (built["bitmap"] / "rejected.ndjson").read_text().splitlines()]
    assert [(r["line"], r["reason"][:15]) for r in rejected] == [(2, "bitmap records:")]
    assert "is not a finite coordinate within +-2**20" in rejected[0]["reason"]


def test_verify_accepts_the_build(built):
    assert verify_dataset(built["bitmap"]) == []


@pytest.mark.parametrize("edit, detail", [
    (lambda v: v.__setitem__(0, v[0][:-1]), "1 values, the first of 783 bytes"),
    (lambda v: v.append(b"x" * 784), "2 values, the first of 784 bytes"),
])
def test_verify_finds_a_bitmap_of_the_wrong_size(built, tmp_path, edit, detail):
    import shutil

    dataset = Path(shutil.copytree(built["bitmap"], tmp_path / "bitmap"))
    shard = sorted(p.name for p in dataset.glob("train-*"))[0]
    records = [r.numpy() for r in tf.data.TFRecordDataset(str(dataset / shard))]
    example = tf.train.Example.FromString(records[0])
    edit(example.features.feature["bitmap_28"].bytes_list.value)
    records[0] = example.SerializeToString()
    with tf.io.TFRecordWriter(str(dataset / shard)) as w:
        for r in records:
            w.write(r)
    found = [p for p in verify_dataset(dataset) if "sha256" not in p]
    assert found == [f"{shard}: bitmap of the wrong size (not one value of 28x28 bytes) in 1 "
                     f"record (first: record 0: {detail})"]


def test_the_tf_reader_gives_the_bitmaps(built):
    images, labels = next(iter(bitmap_dataset(built["bitmap"], "train", batch_size=100)))
    assert images.dtype == tf.uint8 and images.shape == (9, 28, 28)
    assert sorted(labels.numpy().tolist()) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert int(images.numpy().max()) == 255 and len(np.unique(images.numpy())) > 2


def test_the_img_reader_refuses_a_bitmap_dataset(built):
    with pytest.raises(ValueError, match="is a bitmap dataset, not img.*bitmap_dataset"):
        img_dataset(built["bitmap"], "train")
    with pytest.raises(ValueError, match="is an img dataset, not bitmap"):
        bitmap_dataset(built["img"], "train")


def test_preview_draws_the_bitmaps(built):
    picture = np.asarray(preview(built["bitmap"], "train", rows=1, cols=3).convert("L"))
    assert len(np.unique(picture)) > 50  # cairo's antialiased grey levels, not just 0 and 255


def test_the_manifest_names_the_size_only_for_bitmap_builds(built):
    bitmap_manifest = json.loads((built["bitmap"] / "manifest.json").read_text())
    img_manifest = json.loads((built["img"] / "manifest.json").read_text())
    assert bitmap_manifest["kind"] == "bitmap"
    assert bitmap_manifest["options"]["bitmap_size"] == 28
    assert "bitmap_size" not in img_manifest["options"]  # each kind records its own options
    assert "img_size" not in bitmap_manifest["options"]
