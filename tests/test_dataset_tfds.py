"""Every built dataset carries the metadata with which TensorFlow Datasets reads it as it is:
``tfds.builder_from_directory(path)`` (the real tensorflow-datasets) gives the examples
fastdraw.data gives, ClassLabel names from labels.txt and counts.json's split sizes; the
files are the bytes TFDS itself writes for that metadata; verify checks them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from build_helpers import SAMPLE, options

from fastdraw.build import build
from fastdraw.codecs.proto import parse_example
from fastdraw.data import bitmap_dataset, img_dataset, stroke_dataset
from fastdraw.dataset import layout
from fastdraw.dataset.tfrecord import read_records
from fastdraw.dataset.verify import check, verify_dataset

tfds = pytest.importorskip("tensorflow_datasets")  # the test extra installs it

CLASSES = ["cat", "eye", "sea turtle", "The Mona Lisa"]
SPLITS = {"train": 5, "eval": 2, "test": 1}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """img datasets in each encoding (png also gzip-compressed), a stroke and a bitmap
    dataset."""
    out = {}
    for encoding, compression in (("int64", "none"), ("bytes", "none"), ("png", "none"),
                                  ("png", "gzip")):
        root = tmp_path_factory.mktemp(f"{encoding}-{compression}")
        kinds = ["img", "stroke", "bitmap"] if encoding == "int64" else ["img"]
        opts = options(CLASSES, [SAMPLE / f"{c}.ndjson" for c in CLASSES], root,
                       {kind: dict(SPLITS) for kind in kinds}, shards=3, workers=1,
                       img_encoding=encoding, compression=compression, name="my-zoo")
        for b in build(opts):
            out[b.kind if b.kind != "img" else f"{encoding}-{compression}"] = b.path
    return out


IMG = ["int64-none", "bytes-none", "png-none"]


def _tfds_features(name: str):
    """The FeaturesDict TFDS itself makes of the features fastdraw describes."""
    f = tfds.features
    scalar = f.Tensor(shape=(), dtype=np.int64)
    meta = {"label": f.ClassLabel(names=CLASSES), "countrycode": f.Text(), "word": f.Text(),
            "recognized": scalar, "timestamp": scalar, "key_id": scalar}
    if name == "stroke":
        rows = {k: f.Tensor(shape=(None,), dtype=np.float32)
                for k in ("stroke_x", "stroke_y", "stroke_z")}
        return f.FeaturesDict({**meta, **rows, "stroke_len": scalar})
    if name == "bitmap":
        return f.FeaturesDict({**meta, "bitmap_28": f.Tensor(shape=(28, 28), dtype=np.uint8,
                                                             encoding=f.Encoding.BYTES)})
    image = {"int64": f.Tensor(shape=(64, 64), dtype=np.uint8),
             "bytes": f.Tensor(shape=(64, 64), dtype=np.uint8, encoding=f.Encoding.BYTES),
             "png": f.Image(shape=(64, 64, 1), encoding_format="png")}[name.split("-")[0]]
    return f.FeaturesDict({**meta, "img_64": image})


@pytest.mark.parametrize("name", [*IMG, "png-gzip", "stroke", "bitmap"])
def test_the_files_are_the_bytes_tfds_writes(built, name, tmp_path):
    from google.protobuf import json_format
    from tensorflow_datasets.core.proto import dataset_info_pb2

    path = built[name]
    features = _tfds_features(name)
    features.save_config(str(tmp_path))  # TFDS's features.json and label.labels.txt
    assert (path / "features.json").read_bytes() == (tmp_path / "features.json").read_bytes()
    # TFDS ends the names with a newline, labels.txt does not: it reads both the same.
    assert (tmp_path / "label.labels.txt").read_text().splitlines() == CLASSES
    assert (path / "label.labels.txt").read_bytes() == (path / "labels.txt").read_bytes()
    assert (path / "label.labels.txt").read_text().splitlines() == CLASSES
    text = (path / "dataset_info.json").read_text()
    proto = json_format.Parse(text, dataset_info_pb2.DatasetInfo())
    assert json_format.MessageToJson(proto, sort_keys=True) == text
    assert proto.name == f"my_zoo_{name if name in ('stroke', 'bitmap') else 'img'}"
    assert [s.filepath_template for s in proto.splits] == ["{SPLIT}-{SHARD_X_OF_Y}"] * 3


def _tfds_examples(path: Path, split: str) -> list[dict]:
    builder = tfds.builder_from_directory(str(path))
    return [{k: v.numpy() for k, v in e.items()} for e in builder.as_dataset(split=split)]


@pytest.mark.parametrize("name", IMG)
def test_tfds_reads_each_encoding_as_fastdraw_data_does(built, name):
    path = built[name]
    builder = tfds.builder_from_directory(str(path))
    counts = json.loads((path / "counts.json").read_text())
    assert {s: builder.info.splits[s].num_examples for s in counts} == counts
    assert builder.info.features["label"].names == (path / "labels.txt").read_text().split("\n")
    for split in counts:
        got = _tfds_examples(path, split)
        want = [(image.numpy(), int(label)) for image, label in img_dataset(path, split)]
        assert len(got) == len(want) == counts[split]
        shape = (64, 64, 1) if name.startswith("png") else (64, 64)
        assert all(g["img_64"].shape == shape and g["img_64"].dtype == np.uint8 for g in got)
        assert all(np.array_equal(g["img_64"].reshape(64, 64), w[0]) and g["label"] == w[1]
                   for g, w in zip(got, want))
        records = [parse_example(r) for shard in layout.shard_paths(path, split)
                   for r in read_records(shard)]
        assert [(g["key_id"], g["word"], g["countrycode"], g["recognized"], g["timestamp"])
                for g in got] == [(r["key_id"][0], r["word"][0], r["countrycode"][0],
                                   r["recognized"][0], r["timestamp"][0]) for r in records]
    image, label = next(iter(builder.as_dataset(split="train", as_supervised=True)))
    assert image.shape[:2] == (64, 64) and label.dtype.name == "int64"


def test_tfds_reads_the_stroke_features_as_fastdraw_data_does(built):
    path = built["stroke"]
    for split in SPLITS:
        got = _tfds_examples(path, split)
        want = [[t.numpy() for t in e] for e in stroke_dataset(path, split, max_len=512)]
        assert len(got) == len(want) == SPLITS[split] * len(CLASSES)
        for g, (strokes, length, label) in zip(got, want):
            rows = np.stack([g["stroke_x"], g["stroke_y"], g["stroke_z"]], axis=1)
            assert g["stroke_len"] == length == len(rows) and g["label"] == label
            assert np.array_equal(rows, strokes[:length])


def test_tfds_reads_the_official_bitmaps_as_fastdraw_data_does(built):
    path = built["bitmap"]
    for split in SPLITS:
        got = _tfds_examples(path, split)
        want = [(image.numpy(), int(label)) for image, label in bitmap_dataset(path, split)]
        assert len(got) == len(want) == SPLITS[split] * len(CLASSES)
        assert all(g["bitmap_28"].dtype == np.uint8 and np.array_equal(g["bitmap_28"], w[0])
                   and g["label"] == w[1] for g, w in zip(got, want))
    assert any(w.max() > 0 for w, _ in want)  # real drawings, not blank images
    image, label = next(iter(tfds.builder_from_directory(str(path)).as_dataset(
        split="train", as_supervised=True)))
    assert image.shape == (28, 28) and label.dtype.name == "int64"


def test_a_compressed_dataset_gives_tfds_its_info_and_how_to_read_it(built):
    """TFDS reads TFRecord files uncompressed only: it gets the dataset's info, features
    and label names, and what its description says reads the records."""
    import tensorflow as tf

    path = built["png-gzip"]
    builder = tfds.builder_from_directory(str(path))
    assert builder.info.splits["train"].num_examples == 5 * len(CLASSES)
    assert "tf.data.TFRecordDataset(builder.info.splits[split].filepaths, " \
           "compression_type='GZIP')" in builder.info.description
    files = [str(p) for p in builder.info.splits["train"].filepaths]
    read = tf.data.TFRecordDataset(files, compression_type="GZIP").map(
        builder.info.features.deserialize_example)
    got = [(e["img_64"].numpy()[..., 0], int(e["label"])) for e in read]
    want = [(image.numpy(), int(label)) for image, label in img_dataset(path, "train")]
    assert all(np.array_equal(g[0], w[0]) and g[1] == w[1] for g, w in zip(got, want))
    assert len(got) == len(want) == 5 * len(CLASSES)


def test_a_build_imports_neither_tfds_nor_tensorflow(tmp_path):
    code = ("import sys\nfrom fastdraw.cli import main\n"
            f"assert main(['--classes', 'cat,eye', '--sample', '--out', {str(tmp_path)!r}, "
            "'--img-encoding', 'png', '--compression', 'gzip', '--workers', '1']) == 0\n"
            "print(sorted(m for m in ('tensorflow', 'tensorflow_datasets') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-2] == "[]"
    assert (tmp_path / "custom_img" / "dataset_info.json").is_file()


@pytest.fixture()
def dataset(built, tmp_path) -> Path:
    return Path(shutil.copytree(built["int64-none"], tmp_path / "img"))


@pytest.mark.parametrize("name", ["dataset_info.json", "features.json", "label.labels.txt"])
def test_a_changed_tfds_file_fails_verify(dataset, name):
    file = dataset / name
    data = file.read_bytes()
    for at in range(0, len(data), max(1, len(data) // 60)):
        file.write_bytes(data[:at] + bytes([data[at] ^ 1]) + data[at + 1:])
        problems = check(dataset, workers=1).problems
        assert any(p.startswith(f"{name}: sha256 ") for p in problems), at
    file.unlink()
    assert verify_dataset(dataset) == [f"{name}: missing"]


def test_tfds_metadata_that_disagrees_with_the_manifest_is_named(dataset):
    """Sealed anew after the change (as a faulty build would have written it): the seal holds,
    the comparison with what the build writes for the manifest does not."""
    info = json.loads((dataset / "dataset_info.json").read_text())
    was = info["splits"][2]["shardLengths"][0]
    info["splits"][2]["shardLengths"][0] = "99"
    data = json.dumps(info, indent=2, sort_keys=True).encode()
    (dataset / "dataset_info.json").write_bytes(data)
    manifest = layout.read_manifest(dataset)
    manifest["files"]["dataset_info.json"] = layout.file_entry(
        len(data), __import__("hashlib").sha256(data).hexdigest())
    del manifest["manifest_sha256"]
    layout.write_manifest(dataset, manifest)
    assert verify_dataset(dataset) == [
        "dataset_info.json: not the TFDS metadata the build writes for this dataset's manifest, "
        f"labels and shards (splits[2].shardLengths[0] is the string \"99\", not the string "
        f"\"{was}\"), so TFDS would read the dataset wrong; rebuild the dataset"]
