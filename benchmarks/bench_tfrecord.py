"""TFRecord writing and reading: fastdraw (google-crc32c) vs tf.io.TFRecordWriter / tf.data.

Records: the img-schema Examples (about 4.5 KB each) of the first 1000 real simplified
drawings, no repeats, written to a temporary file each round.  ``tfrecord_write``: one
``frame_records`` + ``write_framed`` per batch (as the builder writes) vs TF's writer per
record; ``tfrecord_write_each``: fastdraw's writer per record; ``tfrecord_read``: reading
back with every CRC checked vs ``tf.data.TFRecordDataset``.  Each fastdraw benchmark
records ``speedup_vs_reference`` in extra_info; a summary prints.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from per_item import PerItem
from realdata import simplified_files  # tests/realdata.py, on sys.path by conftest.py

from fastdraw.codecs.img import encode_img_examples
from fastdraw.dataset.tfrecord import TFRecordWriter, frame_records, read_records
from fastdraw.drawings import Drawings
from fastdraw.kernels import raster
from fastdraw.notebook import reference

ITEMS = 1000
_PER_ITEM = PerItem()


@pytest.fixture(scope="module")
def examples() -> tuple:
    """(buf, offsets, list of records) of ITEMS img Examples."""
    dicts = [reference.convert(line) for f in simplified_files()
             for line in open(f, encoding="utf-8")][:ITEMS]
    batch = Drawings.from_dicts(dicts)
    buf, offsets = encode_img_examples(
        [0] * ITEMS, raster.rasterize(batch, 64, 4, True), batch, batch.timestamp)
    return buf, offsets, [buf[a:b].tobytes() for a, b in zip(offsets[:-1], offsets[1:])]


@pytest.fixture(scope="module")
def tf():
    import tensorflow

    return tensorflow


_summary = _PER_ITEM.summary()
_run = _PER_ITEM.run


def _tf_write(tf, path: Path, records: list[bytes]) -> None:
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)


def test_reference_tf_writer(benchmark, tf, examples, tmp_path):
    _run(benchmark, "tfrecord_write", ITEMS,
         lambda: _tf_write(tf, tmp_path / "tf.tfrecord", examples[2]))


def test_fastdraw_frame_and_write(benchmark, examples, tmp_path):
    def run():
        with TFRecordWriter(tmp_path / "ours.tfrecord") as writer:
            writer.write_framed(frame_records(examples[0], examples[1]))

    _run(benchmark, "tfrecord_write", ITEMS, run)


def test_reference_tf_writer_each(benchmark, tf, examples, tmp_path):
    _run(benchmark, "tfrecord_write_each", ITEMS,
         lambda: _tf_write(tf, tmp_path / "tf.tfrecord", examples[2]))


def test_fastdraw_writer_each(benchmark, examples, tmp_path):
    def run():
        with TFRecordWriter(tmp_path / "ours.tfrecord") as writer:
            for record in examples[2]:
                writer.write(record)

    _run(benchmark, "tfrecord_write_each", ITEMS, run)


def test_reference_tf_data_read(benchmark, tf, examples, tmp_path):
    _tf_write(tf, tmp_path / "tf.tfrecord", examples[2])
    _run(benchmark, "tfrecord_read", ITEMS, lambda: [
        r.numpy() for r in tf.data.TFRecordDataset(str(tmp_path / "tf.tfrecord"))])


def test_fastdraw_read_records(benchmark, tf, examples, tmp_path):
    _tf_write(tf, tmp_path / "tf.tfrecord", examples[2])
    _run(benchmark, "tfrecord_read", ITEMS,
         lambda: list(read_records(tmp_path / "tf.tfrecord")))
