"""Phase 2 of a build: a shard file interleaved from the spool.

A write task streams its shard's records of every class back from the spool
(fastdraw.build.spool), one window of rounds at a time, puts them round by round in class
order, unpacks them to the Example's bytes (the kind's codec), frames them (`unpack_framed`,
which the Beam build's windows share) and writes the shard (fastdraw.build.shardfile, which
compresses it if asked), hashing it on the way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fastdraw.build.executor import Report
from fastdraw.build.shardfile import ShardFile
from fastdraw.build.spool import ShardReader, SpoolSource, scratch
from fastdraw.codecs import Codec
from fastdraw.dataset.tfrecord import frame_in_place
from fastdraw.errors import io_error

WINDOW = 1 << 22  # framed bytes a write task interleaves at a time (each costs a read per class)


@dataclass(frozen=True)
class WriteTask:
    """Write one shard file from the spool."""

    path: str  # the shard file to write
    rounds: int  # rounds in this shard
    sources: tuple[tuple[SpoolSource, ...], ...]  # per class: its ranges' records, in order
    codec: Codec  # the records' kind
    compression: str = "none"  # of the shard file (fastdraw.dataset.tfrecord.COMPRESSIONS)


def unpack_framed(codec: Codec, src: np.ndarray, starts: np.ndarray, sizes: np.ndarray,
                  framed: np.ndarray, out: np.ndarray) -> None:
    """Packed records ``src[starts[i]:starts[i] + sizes[i]]``, in order, unpacked by ``codec``
    and framed into ``out`` (uint8, ``framed.sum()`` bytes: record i takes ``framed[i]``), which
    then holds them as a piece of a TFRecord file."""
    at = np.concatenate(([0], np.cumsum(framed)[:-1]))
    codec.unpack(src, starts, sizes, out, at)
    frame_in_place(out, np.append(at, len(out)))


def write_task(t: WriteTask, report: Report) -> str:
    """Phase 2 for one shard: interleave its records round by round in class order, write
    the shard; returns its sha256."""
    reader = ShardReader(t.sources, t.rounds)
    try:
        digest = _write_shard(t, reader, report)
    except OSError as e:
        raise io_error(e, f"writing shard {t.path}") from e
    finally:
        reader.close()
    reader.remove()  # frees their page cache early and spreads the deletes over the workers
    return digest


def _write_shard(t: WriteTask, reader: ShardReader, report: Report) -> str:
    """Writes shard ``t.path`` from ``reader``, a window of rounds at a time; returns its
    sha256."""
    classes = len(t.sources)
    # Bytes of a round once framed: guessed for the first window (the records unpacked
    # take more room than packed: an image's pixels 1 or 2 bytes, not a bit), then as the
    # windows so far had them.
    per_round = reader.nbytes / max(1, t.rounds) + classes * t.codec.working_bytes
    shard = ShardFile(t.path, t.compression)
    try:
        done = written = 0
        while done < t.rounds:
            sizes, framed = reader.take(min(max(1, int(WINDOW // max(1.0, per_round))),
                                            t.rounds - done))  # (classes, rounds) each
            block = sizes.sum(axis=1)
            base = np.concatenate(([0], np.cumsum(block)[:-1]))
            src = scratch("spooled", int(block.sum()))
            reader.read_into(src, base.tolist())
            # Round by round, in class order:
            starts = (base[:, None] + np.cumsum(sizes, axis=1) - sizes).T.ravel()
            w = sizes.shape[1]
            sizes, framed = sizes.T.ravel(), framed.T.ravel()
            out = shard.reserve(int(framed.sum()))
            unpack_framed(t.codec, src, starts, sizes, framed, out)
            shard.commit()
            done += w
            written += len(out)
            per_round = written / done
            report(w * classes)
    finally:
        shard.close()
    return shard.sha256
