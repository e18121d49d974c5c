"""tf.data pipelines of a built dataset's records: what the later workshop notebooks read
from the ``<name>_img`` / ``<name>_stroke`` directories, and the RNN tutorial's ink records
from ``<name>_ink``.

Each reader parses whole batches with the codec's spec and decoder (one parse op per batch
is much faster).  TensorFlow is imported inside the functions only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastdraw.codecs import BitmapCodec, Codec, ImgCodec, InkCodec, StrokeCodec
from fastdraw.dataset.layout import (
    dataset_codec,
    layout_of,
    pinned,
    read_manifest,
    shard_compression,
    shard_paths,
)
from fastdraw.dataset.tfrecord import tf_compression_type


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

    compression = tf_compression_type(shard_compression(path, manifest))
    shards = shard_paths(path, split, manifest)
    files = [str(p) for p in shards]
    if shuffle:
        files = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=seed)
    records = tf.data.TFRecordDataset(files, compression_type=compression,
                                      num_parallel_reads=parallel_reads)
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


def _dataset(path: str | Path, split: str, want: type[Codec], decode_options: dict[str, Any],
             batch_size: int | None, shuffle: bool, shuffle_buffer: int, seed: int | None,
             parallel_reads: int):
    """The split's records, decoded by the dataset's codec, which must be a ``want``; read
    from the build ``path`` leads to now (layout.pinned)."""
    import tensorflow as tf

    path = pinned(path)
    manifest = read_manifest(path)
    codec = dataset_codec(path, manifest)
    if not isinstance(codec, want):
        article = "an" if codec.kind[:1] in "aeiou" else "a"
        how = (f"read it with fastdraw.data.{codec.kind}_dataset" if layout_of(codec).sharded
               else "its class files are read with np.load(path, encoding='latin1', "
                    "allow_pickle=True)")
        raise ValueError(f"{path} is {article} {codec.kind} dataset, not {want.kind}: {how}")
    spec, decode = codec.tf_decoder(**decode_options)
    records = _records(path, manifest, split, shuffle, seed, parallel_reads)
    return _pipeline(records, lambda r: decode(tf.io.parse_example(r, spec)), batch_size,
                     shuffle, shuffle_buffer, seed)


def img_dataset(path: str | Path, split: str, batch_size: int | None = None, shuffle: bool = False,
                shuffle_buffer: int = 10000, seed: int | None = None, parallel_reads: int = 1):
    """tf.data.Dataset of `(image uint8 [size, size], label int64)` from an img dataset,
    whatever its image encoding (int64, bytes, png) and its shards' compression.

    Records come in file order (shards sorted; interleaved when `parallel_reads` > 1)
    unless `shuffle`, which shuffles the shard order and then a `shuffle_buffer` of records.
    With `batch_size`, elements are batches (the last one may be smaller).
    Raises ValueError when `path` is a stroke dataset.  A split whose shards hold other
    than manifest.json's count of records (one cut off, say) raises
    tf.errors.FailedPreconditionError when read to its end; `python -m fastdraw verify`
    names the shard.  The records come from the build `path` leads to when this is called:
    if another build replaces it meanwhile, reading goes on in the old build's files
    already open and raises tf.errors.NotFoundError (naming `.<name>.build-<id>/...`) at
    the next one, never mixing two builds; make the dataset again to read the new one.
    """
    return _dataset(path, split, ImgCodec, {}, batch_size, shuffle, shuffle_buffer, seed,
                    parallel_reads)


def stroke_dataset(path: str | Path, split: str, max_len: int = 256,
                   batch_size: int | None = None, shuffle: bool = False,
                   shuffle_buffer: int = 10000, seed: int | None = None, parallel_reads: int = 1):
    """tf.data.Dataset of `(strokes float32 [max_len, 3], length int64, label int64)`.

    `strokes[i]` is `(dx, dy, z)` of the i-th delta (z == 1: a new stroke starts), zero-padded
    past `length = min(len, max_len)` and truncated beyond `max_len`.  Order, shuffling and
    batching as in `img_dataset`.  Raises ValueError when `path` is an img dataset or
    `max_len` is under 1.
    """
    if max_len < 1:
        raise ValueError(f"max_len must be at least 1 (deltas kept per drawing), not {max_len}")
    return _dataset(path, split, StrokeCodec, {"max_len": max_len}, batch_size, shuffle,
                    shuffle_buffer, seed, parallel_reads)


def ink_dataset(path: str | Path, split: str, max_len: int = 256,
                batch_size: int | None = None, shuffle: bool = False,
                shuffle_buffer: int = 10000, seed: int | None = None, parallel_reads: int = 1):
    """tf.data.Dataset of `(ink float32 [max_len, 3], length int64, class_index int64)` from an
    ink dataset (TensorFlow's RNN-tutorial records).

    `ink[i]` is `(dx, dy, end)` of the i-th row (end == 1: the stroke ends at that point),
    zero-padded past `length = min(rows, max_len)` and truncated beyond `max_len`.  Order,
    shuffling and batching as in `img_dataset`.  (The tutorial's own input function reads
    the same files: ``training.tfrecord-?????-of-?????`` for split train.)  Raises
    ValueError when `path` is not an ink dataset or `max_len` is under 1.
    """
    if max_len < 1:
        raise ValueError(f"max_len must be at least 1 (rows kept per drawing), not {max_len}")
    return _dataset(path, split, InkCodec, {"max_len": max_len}, batch_size, shuffle,
                    shuffle_buffer, seed, parallel_reads)


def bitmap_dataset(path: str | Path, split: str, batch_size: int | None = None,
                   shuffle: bool = False, shuffle_buffer: int = 10000, seed: int | None = None,
                   parallel_reads: int = 1):
    """tf.data.Dataset of `(image uint8 [size, size], label int64)` from a bitmap dataset (the
    official bitmaps, 0 to 255).  Order, shuffling and batching as in `img_dataset`.  Raises
    ValueError when `path` is a dataset of another kind."""
    return _dataset(path, split, BitmapCodec, {}, batch_size, shuffle, shuffle_buffer, seed,
                    parallel_reads)
