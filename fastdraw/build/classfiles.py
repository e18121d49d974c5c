"""Phase 2 of a build for layouts of one file per class (sketch-rnn's ``<class>.npz``).

A class-file task streams one class's records back from the spool, split by split in the
plan's round order, one window at a time (`batch_drawings`, which the Beam build's writer
takes too: a window is one batch of the array's pickle, so it shapes the file's bytes),
unpacks them with the kind's codec (a drawing's pickle) and writes them as that split's array
of the class's file (fastdraw.dataset.npz), then hashes the file.  The plan of such a kind
has one shard id per split, so the spool holds each split's records of a class in one place.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from fastdraw.build.assemble import WINDOW
from fastdraw.build.executor import Report
from fastdraw.build.spool import ShardReader, SpoolSource, scratch
from fastdraw.codecs import Codec
from fastdraw.dataset.npz import NpzWriter
from fastdraw.errors import io_error


@dataclass(frozen=True)
class ClassFileTask:
    """Write one class's file from the spool."""

    path: str  # the class's file to write
    splits: tuple[tuple[str, int], ...]  # each split's name and drawings, in order
    sources: tuple[tuple[SpoolSource, ...], ...]  # per split: its records' ranges, in order
    codec: Codec

    @property
    def rounds(self) -> int:
        return sum(n for _, n in self.splits)


def batch_drawings(nbytes: int, count: int) -> int:
    """Drawings of a class's split written at a time (one batch of its array's pickle): a
    WINDOW of their ``nbytes`` as packed, ``count`` drawings in all."""
    return max(1, int(WINDOW // max(1.0, nbytes / max(1, count))))


def write_class_file(t: ClassFileTask, report: Report) -> str:
    """Writes the class's file, every split's drawings in round order; returns its sha256."""
    try:
        with NpzWriter(t.path) as npz:
            for (name, count), sources in zip(t.splits, t.sources):
                reader = ShardReader([sources], count)
                try:
                    with npz.array(name, count) as items:
                        done = 0
                        batch = batch_drawings(reader.nbytes, count)
                        while done < count:
                            sizes, unpacked = reader.take(min(batch, count - done))
                            src = scratch("spooled", int(sizes.sum()))
                            reader.read_into(src, [0])
                            out = scratch("unpacked", int(unpacked.sum()))
                            at = np.concatenate(([0], np.cumsum(unpacked[0])[:-1]))
                            starts = np.concatenate(([0], np.cumsum(sizes[0])[:-1]))
                            t.codec.unpack(src, starts, sizes[0], out, at)
                            items.add(out, sizes.shape[1])
                            done += sizes.shape[1]
                            report(sizes.shape[1])
                finally:
                    reader.close()
                reader.remove()
        digest = hashlib.sha256()
        with open(t.path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except OSError as e:
        raise io_error(e, f"writing {t.path}") from e
    return digest.hexdigest()
