"""The sequence kinds against the code people run to make them, on every real drawing of the
bundled sample.

``ink``: ndjson lines to serialized RNN-tutorial Examples.  The reference is the tutorial's
own per-line work (tests/rnn_tutorial.py: ``parse_line``, then the Example ``convert_data``
builds, serialized); fastdraw reads the lines (its reader, from one file holding them all)
and encodes the batch with the ink codec.

``sketchrnn write``: drawings to a ``<class>.npz`` of stroke-3 arrays, RDP at epsilon 2.0.
The reference is the way sketch-rnn's conversion notebook makes them: the ``rdp``
package on each stroke, magenta's ``lines_to_strokes``, ``np.savez_compressed`` (zlib level
6), on the first REFERENCE_ITEMS drawings (the rdp package takes about 7 ms a drawing);
fastdraw screens (what a build checks), simplifies and encodes every drawing (RDP kernel,
stroke-3 kernel, pickled records) and writes the file with fastdraw.dataset.npz (level 1).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rnn_tutorial
import sketch_rnn
from per_item import PerItem
from realdata import simplified_files  # tests/realdata.py, on sys.path by conftest.py

from fastdraw.codecs import InkCodec, SketchRnnCodec
from fastdraw.dataset.npz import NpzWriter
from fastdraw.drawings import Drawings
from fastdraw.sources import open_source

REFERENCE_ITEMS = 500
_PER_ITEM = PerItem()
_summary = _PER_ITEM.summary()
_run = _PER_ITEM.run


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    import tensorflow  # noqa: F401 (import cost out of the timings)

    files = simplified_files()
    lines = [(j, line) for j, f in enumerate(files)
             for line in f.read_text("utf-8").splitlines()]
    every = tmp_path_factory.mktemp("lines") / "every.ndjson"
    every.write_text("".join(f"{line}\n" for _, line in lines), encoding="utf-8")
    batch = Drawings.concat(list(open_source(every).read(unrecognized=True)))
    InkCodec().warmup_records()
    SketchRnnCodec().warmup_drawing()
    SketchRnnCodec().warmup_records()
    return {"every": every, "lines": lines, "batch": batch}


def test_reference_ink_parse_line_and_example(benchmark, data):
    def run():
        return [rnn_tutorial.make_example(j, rnn_tutorial.parse_line(line)[0])
                .SerializeToString() for j, line in data["lines"]]

    _run(benchmark, "ink", len(data["lines"]), run)


def test_fastdraw_ink_read_and_encode(benchmark, data):
    codec = InkCodec()

    def run():
        return [codec.examples(0, d) for d in open_source(data["every"]).read(unrecognized=True)]

    _run(benchmark, "ink", len(data["lines"]), run)


def _points(d: Drawings, i: int) -> list[list[list[int]]]:
    return [[[int(x), int(y)] for x, y in zip(*s)] for s in d.strokes(i)]


def test_reference_sketchrnn_rdp_lines_to_strokes_savez(benchmark, data, tmp_path):
    from rdp import rdp

    batch = data["batch"]
    drawings = [_points(batch, i) for i in range(REFERENCE_ITEMS)]

    def run():
        with warnings.catch_warnings():  # numpy 2 deprecates the rdp package's np.cross
            warnings.simplefilter("ignore", DeprecationWarning)
            arrays = [sketch_rnn.lines_to_strokes([rdp(s, epsilon=2.0) for s in d])
                      .astype(np.int16) for d in drawings]
        train = np.empty(len(arrays), dtype=object)
        train[:] = arrays
        np.savez_compressed(tmp_path / "reference.npz", train=train)

    _run(benchmark, "sketchrnn write", len(drawings), run)


def test_fastdraw_sketchrnn_write(benchmark, data, tmp_path):
    codec = SketchRnnCodec(rdp=2.0)
    batch = data["batch"]
    labels = np.zeros(len(batch), dtype=np.int64)

    def run():
        codec.unusable(batch)
        pickled, at = codec.encode(labels, batch.timestamp, batch, (0, 0))
        with NpzWriter(Path(tmp_path) / "fastdraw.npz") as npz:
            with npz.array("train", len(batch)) as items:
                items.add(pickled, len(batch))

    _run(benchmark, "sketchrnn write", len(batch), run)
