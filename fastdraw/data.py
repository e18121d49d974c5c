"""Reading built datasets: the directory's metadata, and tf.data pipelines of its records.

`img_dataset` / `stroke_dataset` give what the later workshop notebooks read
from the `<name>_img` / `<name>_stroke` directories.  TensorFlow is imported
inside them only, so the metadata helpers (used by preview and verify) stay
TensorFlow-free.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastdraw.proto import parse_example
from fastdraw.tfrecord import read_records

SHARD_RE = re.compile(r"(?P<split>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})")
IMG_FEATURE_RE = re.compile(r"img_(\d+)")


def read_manifest(path: str | Path) -> dict[str, Any] | None:
    """The dataset's manifest.json, or None when it has none.

    Raises ValueError naming the file when it is not a JSON object (a damaged or
    hand-edited manifest would otherwise fail later, far from its cause).
    """
    file = Path(path) / "manifest.json"
    if not file.exists():
        return None
    try:
        manifest = json.loads(file.read_text("utf-8"))
    except ValueError as e:  # bad JSON or bad UTF-8
        raise ValueError(f"{file}: not valid JSON ({e}); rebuild the dataset, or check it "
                         f"with: python -m fastdraw verify {path}") from e
    if not isinstance(manifest, dict):
        raise ValueError(f"{file}: not a JSON object; rebuild the dataset, or check it "
                         f"with: python -m fastdraw verify {path}")
    return manifest


def read_labels(path: str | Path) -> list[str]:
    """Class names of labels.txt, in label order."""
    file = Path(path) / "labels.txt"
    if not file.exists():
        raise FileNotFoundError(f"{file}: no labels.txt; is {path} a built dataset directory?")
    return file.read_text("utf-8").split("\n")


def shard_paths(path: str | Path, split: str) -> list[Path]:
    """The split's shard files, sorted: those the manifest lists, else those on disk."""
    return _shard_paths(Path(path), split, read_manifest(path))


def _shard_paths(path: Path, split: str, manifest: dict[str, Any] | None) -> list[Path]:
    if manifest is not None and "shards" in manifest:
        names = [n for n in manifest["shards"] if (m := SHARD_RE.fullmatch(n)) and
                 m["split"] == split]
    else:
        names = [p.name for p in path.glob(f"{split}-*-of-*")
                 if (m := SHARD_RE.fullmatch(p.name)) and m["split"] == split]
    if not names:
        raise FileNotFoundError(f"{path}: no shards of split {split!r} "
                                f"(expected files {split}-00000-of-NNNNN)")
    return [path / n for n in sorted(names)]


def img_size(path: str | Path) -> int:
    """Image side of an img dataset: manifest options.img_size, else its records' img_<size>."""
    return _img_size(path, read_manifest(path))


def _img_size(path: str | Path, manifest: dict[str, Any] | None) -> int:
    if manifest is not None and "img_size" in manifest.get("options", {}):
        return int(manifest["options"]["img_size"])
    shard, features = _first_record(path)
    for name in features:
        if m := IMG_FEATURE_RE.fullmatch(name):
            return int(m[1])
    raise ValueError(f"{shard}: its first record has no img_<size> feature; "
                     f"is {path} an img dataset?")


def dataset_kind(path: str | Path) -> str:
    """The dataset's kind, "img" or "stroke": manifest.json's, else told by its first record."""
    return _dataset_kind(path, read_manifest(path))


def _dataset_kind(path: str | Path, manifest: dict[str, Any] | None) -> str:
    if manifest is not None and manifest.get("kind") in ("img", "stroke"):
        return manifest["kind"]
    shard, features = _first_record(path)
    if "stroke_x" in features:
        return "stroke"
    if any(IMG_FEATURE_RE.fullmatch(name) for name in features):
        return "img"
    raise ValueError(f"{shard}: its first record has neither img_<size> nor stroke_x "
                     f"features ({', '.join(sorted(features))}); is {path} a built dataset?")


def _check_kind(path: str | Path, manifest: dict[str, Any] | None, want: str) -> None:
    """Raises ValueError unless `path` is a `want` dataset (the other kind's records would be
    read as empty strokes, or fail deep inside TensorFlow)."""
    kind = _dataset_kind(path, manifest)
    if kind != want:
        raise ValueError(f"{path} is a {kind} dataset, not {want}: read it with "
                         f"fastdraw.data.{kind}_dataset")


def _first_record(path: str | Path) -> tuple[Path, dict]:
    """(shard, features) of the first record of the first shard, in name order, that has one."""
    names = sorted(p.name for p in Path(path).iterdir() if SHARD_RE.fullmatch(p.name))
    if not names:
        raise FileNotFoundError(f"{path}: no shard files")
    for name in names:
        for record in read_records(Path(path) / name):
            return Path(path) / name, parse_example(record)
    raise ValueError(f"{path}: its shards hold no records")


def _split_records(manifest: dict[str, Any] | None, shards: list[Path]) -> int | None:
    """The shards' count of records in manifest.json, or None when it does not give them all."""
    try:
        counts = [manifest["shards"][shard.name]["records"] for shard in shards]
    except (KeyError, TypeError):
        return None
    return sum(counts) if all(isinstance(n, int) and n >= 0 for n in counts) else None


def _records(path: str | Path, manifest: dict[str, Any] | None, split: str, shuffle: bool,
             seed: int | None, parallel_reads: int):
    """The split's serialized records, their count checked against manifest.json's
    (TensorFlow reads a shard cut off at a record boundary, or inside a record's header,
    as a whole file: its lost records would go unnoticed).  One count for the split, not
    one a shard: reading shard by shard would double the time spent per record."""
    import tensorflow as tf

    shards = _shard_paths(Path(path), split, manifest)
    files = [str(p) for p in shards]
    if shuffle:
        files = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=seed)
    records = tf.data.TFRecordDataset(files, num_parallel_reads=parallel_reads)
    count = _split_records(manifest, shards)
    if count is None:  # a dataset without a manifest (made by the notebook, say)
        return records
    return records.apply(tf.data.experimental.assert_cardinality(count))


def _pipeline(records, decode, batch_size: int | None, shuffle: bool, shuffle_buffer: int,
              seed: int | None):
    """Shuffles, batches, then parses whole batches (one parse op per batch is much faster)."""
    import tensorflow as tf

    if shuffle:
        records = records.shuffle(shuffle_buffer, seed=seed)
    if batch_size is None:
        return records.map(lambda r: tuple(t[0] for t in decode(tf.reshape(r, [1]))),
                           num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return records.batch(batch_size).map(decode, num_parallel_calls=tf.data.AUTOTUNE,
                                         deterministic=True)


def img_dataset(path: str | Path, split: str, batch_size: int | None = None, shuffle: bool = False,
                shuffle_buffer: int = 10000, seed: int | None = None, parallel_reads: int = 1):
    """tf.data.Dataset of `(image uint8 [size, size], label int64)` from an img dataset.

    Records come in file order (shards sorted; interleaved when `parallel_reads` > 1)
    unless `shuffle`, which shuffles the shard order and then a `shuffle_buffer` of records.
    With `batch_size`, elements are batches (the last one may be smaller).
    Raises ValueError when `path` is a stroke dataset.  A split whose shards hold other
    than manifest.json's count of records (one cut off, say) raises
    tf.errors.FailedPreconditionError when read to its end; `python -m fastdraw verify`
    names the shard.
    """
    import tensorflow as tf

    manifest = read_manifest(path)
    _check_kind(path, manifest, "img")
    size = _img_size(path, manifest)
    spec = {
        f"img_{size}": tf.io.FixedLenFeature([size * size], tf.int64),
        "label": tf.io.FixedLenFeature([], tf.int64),
    }

    def decode(serialized):
        f = tf.io.parse_example(serialized, spec)
        image = tf.reshape(tf.cast(f[f"img_{size}"], tf.uint8), [-1, size, size])
        return image, f["label"]

    records = _records(path, manifest, split, shuffle, seed, parallel_reads)
    return _pipeline(records, decode, batch_size, shuffle, shuffle_buffer, seed)


def stroke_dataset(path: str | Path, split: str, max_len: int = 256,
                   batch_size: int | None = None, shuffle: bool = False,
                   shuffle_buffer: int = 10000, seed: int | None = None, parallel_reads: int = 1):
    """tf.data.Dataset of `(strokes float32 [max_len, 3], length int64, label int64)`.

    `strokes[i]` is `(dx, dy, z)` of the i-th delta (z == 1: a new stroke starts), zero-padded
    past `length = min(len, max_len)` and truncated beyond `max_len`.  Order, shuffling and
    batching as in `img_dataset`.  Raises ValueError when `path` is an img dataset or
    `max_len` is under 1.
    """
    import tensorflow as tf

    if max_len < 1:
        raise ValueError(f"max_len must be at least 1 (deltas kept per drawing), not {max_len}")
    manifest = read_manifest(path)
    _check_kind(path, manifest, "stroke")
    spec = {
        "stroke_x": tf.io.VarLenFeature(tf.float32),
        "stroke_y": tf.io.VarLenFeature(tf.float32),
        "stroke_z": tf.io.VarLenFeature(tf.float32),
        "label": tf.io.FixedLenFeature([], tf.int64),
    }

    def decode(serialized):
        f = tf.io.parse_example(serialized, spec)
        n = tf.shape(serialized)[0]
        strokes = tf.stack([tf.sparse.to_dense(f[k]) for k in ("stroke_x", "stroke_y",
                                                                "stroke_z")], axis=-1)
        strokes = strokes[:, :max_len]
        strokes = tf.pad(strokes, [[0, 0], [0, max_len - tf.shape(strokes)[1]], [0, 0]])
        rows = tf.cast(f["stroke_x"].indices[:, 0], tf.int32)
        length = tf.math.bincount(rows, minlength=n, maxlength=n, dtype=tf.int64)
        return tf.ensure_shape(strokes, [None, max_len, 3]), tf.minimum(length, max_len), f["label"]

    records = _records(path, manifest, split, shuffle, seed, parallel_reads)
    return _pipeline(records, decode, batch_size, shuffle, shuffle_buffer, seed)
