"""The notebook's ``make_sharded_files``, fast: the same arguments, loop and files (records
serialized deterministically), plus the ``counts.json`` the later workshop notebooks read."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from fastdraw.build.plan import rand_key
from fastdraw.codecs import Codec, ImgCodec, StrokeCodec
from fastdraw.dataset import layout
from fastdraw.dataset.tfrecord import FRAME_HEAD, FRAME_TAIL, TFRecordWriter, frame_in_place
from fastdraw.drawings import Drawings
from fastdraw.notebook import dropins

_BLOCK = 256  # rounds the drop-in encodes at a time


def _fast_codec(make_example: Callable) -> Codec | None:
    """fastdraw's own make_example_* get the batch encoders (same bytes, no tf round trip)."""
    if make_example is dropins.make_example_img:
        return ImgCodec(size=64, line_width=4, maximize=True, notebook_time=True)
    if make_example is dropins.make_example_stroke:
        return StrokeCodec(notebook_time=True)
    return None


def make_sharded_files(make_example, path, classes, iters, splits,
                       shards=10, overwrite=False, report_dt=10):
    """Drop-in for the notebook's ``make_sharded_files``: same arguments, same files.

    Draws the splits from the global ``random`` (seed it to reproduce a run) and
    decrements ``splits`` as the notebook does, so it writes the notebook's shard files
    ``<split>-%05d-of-%05d`` holding the same records in the same order (each parses to
    the notebook's tf.train.Example) and the same ``labels.txt``.  Each record's bytes are
    ``example.SerializeToString(deterministic=True)`` (the features sorted by name), the
    same on every run: the notebook's ``SerializeToString()`` orders them differently in
    every Python process (protobuf's map order), so its files have no fixed bytes to
    match.  With fastdraw's own ``make_example_img`` / ``make_example_stroke`` the
    drawings are encoded in batches straight to those bytes; any other ``make_example`` is
    called per drawing.  When every round is written it adds ``counts.json``, the records
    of every split (``{"train": ..., ...}``, as a build writes it), which the later
    workshop notebooks read.  Returns the number of examples written.
    """
    assert len(iters) == len(classes)
    counts = {split: n * len(classes) for split, n in splits.items()}
    if not os.path.exists(path):
        os.makedirs(path)
    paths = {
        split: [f"{path}/{layout.shard_name(split, i, shards)}" for i in range(shards)]
        for split in splits
    }
    assert overwrite or not os.path.exists(list(paths.values())[0][0])
    writers = {split: [TFRecordWriter(p) for p in ps] for split, ps in paths.items()}
    codec = _fast_codec(make_example)
    try:
        if codec is None:
            examples = _rounds_per_example(make_example, iters, splits, writers, shards, report_dt)
        else:
            examples = _rounds_in_blocks(codec, iters, splits, writers, shards, report_dt)
    finally:
        for split_writers in writers.values():
            for writer in split_writers:
                writer.close()
    layout.write_labels(Path(path), classes)
    layout.write_counts(Path(path), counts)
    return examples


class _Reporter:
    """The notebook's 'processed i/n' lines every ``report_dt`` seconds."""

    def __init__(self, n: int, report_dt: float) -> None:
        self.n, self.dt, self.t0 = n, report_dt, time.time()

    def __call__(self, i: int) -> None:
        if self.dt > 0 and time.time() - self.t0 > self.dt:
            print(f"processed {i}/{self.n} ({100. * i / self.n:.2f}%)")
            self.t0 = time.time()


def _rounds_per_example(make_example: Callable, iters: Sequence, splits: dict[str, int],
                        writers: dict[str, list[TFRecordWriter]], shards: int,
                        report_dt: float) -> int:
    n = sum(splits.values())
    report = _Reporter(n, report_dt)
    examples = 0
    for i in range(n):
        split = rand_key(splits, random)
        writer = writers[split][splits[split] % shards]
        for j in range(len(iters)):
            writer.write(make_example(j, next(iters[j])).SerializeToString(deterministic=True))
            examples += 1
        report(i)
    return examples


def _rounds_in_blocks(codec: Codec, iters: Sequence, splits: dict[str, int],
                      writers: dict[str, list[TFRecordWriter]], shards: int,
                      report_dt: float) -> int:
    """The notebook's loop, drawing and pulling round by round as it does, but encoding
    ``_BLOCK`` rounds of every class at once.  If an iterator runs out, everything the
    notebook would have written before that is written, then StopIteration propagates."""
    n = sum(splits.values())
    report = _Reporter(n, report_dt)
    examples = 0
    i = 0
    while i < n:
        block: list[TFRecordWriter] = []
        pulled: list[list[dict]] = [[] for _ in iters]
        stop: StopIteration | None = None
        try:
            while i < n and len(block) < _BLOCK:
                split = rand_key(splits, random)
                block.append(writers[split][splits[split] % shards])
                for j, it in enumerate(iters):
                    pulled[j].append(next(it))
                report(i)
                i += 1
        except StopIteration as e:
            stop = e
        framed = []
        for j, drawings in enumerate(pulled):
            if not drawings:
                framed.append((b"", np.zeros(1, dtype=np.int64)))
                continue
            if isinstance(codec, StrokeCodec) and any(dropins.with_more_rows(d["drawing"])
                                                      for d in drawings):
                buf, slots = _stroke_records_one_by_one(j, drawings)
            else:
                buf, slots = codec.examples(j, Drawings.from_dicts(drawings),
                                            (FRAME_HEAD, FRAME_TAIL))
                frame_in_place(buf, slots)
            framed.append((memoryview(buf), slots))
        for r, writer in enumerate(block):
            for data, bounds in framed:
                if r + 1 < len(bounds):
                    writer.write_framed(data[bounds[r]:bounds[r + 1]])
                    examples += 1
        if stop is not None:
            raise stop
    return examples


def _stroke_records_one_by_one(label: int, drawings: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """The framed stroke records, one drawing at a time through the notebook's arithmetic
    (``json_to_stroke``), for strokes the batch kernel does not take (raw ones, with t)."""
    bufs = [dropins.stroke_example(label, d, gaps=(FRAME_HEAD, FRAME_TAIL)) for d in drawings]
    slots = np.cumsum([0, *(len(b) for b in bufs)])
    buf = np.concatenate(bufs)
    frame_in_place(buf, slots)
    return buf, slots
