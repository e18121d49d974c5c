"""`verify` and the tf.data readers on built datasets, against TensorFlow's own ways of reading.

The datasets are built by fastdraw from real drawings of two classes of the package's
bundled sample (eye, mouth), their lines repeated with new key_ids for volume (ROUNDS
examples per class).  Times are per record (``extra_info["items"]``).  The notebook has no
verifier, so the comparisons are peers: reading every record with
``tf.data.TFRecordDataset`` (which checks the CRCs) and parsing it with
``tf.io.parse_example`` and the full feature spec, or with ``tf.train.Example.FromString``
(the protobuf parser), record by record.

    pytest benchmarks/bench_verify.py --benchmark-min-rounds=3
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fastdraw.build import BuildOptions, build
from fastdraw.data import img_dataset, stroke_dataset
from fastdraw.dataset.layout import shard_paths
from fastdraw.dataset.verify import verify_dataset
from fastdraw.sources.classes import sample_dir

SIMPLIFIED = Path(sample_dir())  # the bundled sample: one <class>.ndjson per class
CLASSES = ["eye", "mouth"]
ROUNDS = 5000
_KEY_ID = re.compile(r'"key_id":\s*"\d+"')


def _repeated(directory: Path) -> list[Path]:
    """Each class file's recognized lines repeated to ROUNDS lines, each with a new key_id."""
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for j, name in enumerate(CLASSES):
        lines = [line for line in (SIMPLIFIED / f"{name}.ndjson").read_text("utf-8").splitlines()
                 if json.loads(line)["recognized"]]
        out = [_KEY_ID.sub(f'"key_id":"{(j + 1) * 10**9 + i}"', lines[i % len(lines)])
               for i in range(ROUNDS)]
        files.append(directory / f"{name}.ndjson")
        files[-1].write_text("\n".join(out) + "\n", "utf-8")
    return files


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bench_verify")
    splits = {"train": ROUNDS * 8 // 10, "eval": ROUNDS // 10, "test": ROUNDS // 10}
    opts = BuildOptions(classes=CLASSES, files=_repeated(root / "data"), name="bench",
                        out=root, splits={"img": splits, "stroke": splits}, workers=2,
                        progress=False)
    return {b.kind: b.path for b in build(opts)}


def _records(path: Path) -> int:
    return json.loads((path / "manifest.json").read_text())["records"]


def _files(path: Path) -> list[str]:
    return [str(p) for split in ("train", "eval", "test") for p in shard_paths(path, split)]


def _spec(kind: str):
    import tensorflow as tf

    spec = {"label": tf.io.FixedLenFeature([], tf.int64),
            "countrycode": tf.io.FixedLenFeature([], tf.string),
            "recognized": tf.io.FixedLenFeature([], tf.int64),
            "word": tf.io.FixedLenFeature([], tf.string),
            "timestamp": tf.io.FixedLenFeature([], tf.int64),
            "key_id": tf.io.FixedLenFeature([], tf.int64)}
    if kind == "img":
        spec["img_64"] = tf.io.FixedLenFeature([64 * 64], tf.int64)
    else:
        spec.update({k: tf.io.VarLenFeature(tf.float32) for k in ("stroke_x", "stroke_y",
                                                                   "stroke_z")})
        spec["stroke_len"] = tf.io.FixedLenFeature([], tf.int64)
    return spec


@pytest.mark.parametrize("kind", ["img", "stroke"])
@pytest.mark.parametrize("workers", [1, 2])
def test_fastdraw_verify(benchmark, datasets, kind, workers):
    benchmark.group = f"verify {kind}"
    benchmark.extra_info["items"] = _records(datasets[kind])
    assert benchmark(verify_dataset, datasets[kind], workers) == []


@pytest.mark.parametrize("kind", ["img", "stroke"])
def test_tf_data_parse_example(benchmark, datasets, kind):
    import tensorflow as tf

    benchmark.group = f"verify {kind}"
    benchmark.extra_info["items"] = _records(datasets[kind])
    spec = _spec(kind)

    def read() -> int:
        ds = tf.data.TFRecordDataset(_files(datasets[kind])).batch(256)
        return sum(int(tf.shape(tf.io.parse_example(b, spec)["label"])[0]) for b in ds)

    assert benchmark(read) == _records(datasets[kind])


@pytest.mark.parametrize("kind", ["img", "stroke"])
def test_protobuf_from_string(benchmark, datasets, kind):
    import tensorflow as tf

    benchmark.group = f"verify {kind}"
    benchmark.extra_info["items"] = _records(datasets[kind])

    def read() -> int:
        n = 0
        for r in tf.data.TFRecordDataset(_files(datasets[kind])).as_numpy_iterator():
            n += len(tf.train.Example.FromString(r).features.feature["label"].int64_list.value)
        return n

    assert benchmark(read) == _records(datasets[kind])


@pytest.mark.parametrize("kind", ["img", "stroke"])
def test_fastdraw_tf_data_reader(benchmark, datasets, kind):
    benchmark.group = f"tf.data read {kind}"
    benchmark.extra_info["items"] = _records(datasets[kind])
    read = img_dataset if kind == "img" else stroke_dataset

    def run() -> int:
        return sum(len(b[0]) for split in ("train", "eval", "test")
                   for b in read(datasets[kind], split, batch_size=256))

    assert benchmark(run) == _records(datasets[kind])
