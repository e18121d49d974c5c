"""Phase 1 of a build: a class file's records into the spool.

An encode task streams one class file (or one range of its rounds) from its source,
encodes every chunk of drawings with each kind's codec into packed records, and appends
each record to the spool file of its shard (fastdraw.build.spool); the class's last range
writes its rejected lines beside them.  A count task only counts a file's usable drawings,
for splits given as fractions.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np

from fastdraw.build.executor import Report
from fastdraw.build.keys import write_keys
from fastdraw.build.screen import Screen
from fastdraw.build.spool import SpoolWriter
from fastdraw.codecs import Codec
from fastdraw.dataset.tfrecord import FRAME_HEAD, FRAME_TAIL
from fastdraw.errors import BadLineError, TaskError, io_error
from fastdraw.sources import Rejection, open_source

log = logging.getLogger(__name__)

CHUNK = 4096  # drawings a worker reads and encodes at a time (512 made phase 1 15% slower)
CHUNK_BYTES = 4096 * 64 * 64  # at most this much codec working memory a chunk (16 MiB)


def plural(n: int, noun: str) -> str:
    """How many, for people: "1 class", "3 classes"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}{'es' if noun.endswith('s') else 's'}"


def count_lines(n: int, what: str) -> str:
    """How many lines, for people: "1 bad line", "3 bad lines"."""
    return plural(n, f"{what} line")


# ------------------------------------------------------------------------------- counting


@dataclass(frozen=True)
class CountTask:
    """Count the usable drawings of one class file."""

    name: str  # the class
    path: str
    unrecognized: bool
    strict: bool
    codecs: tuple[Codec, ...]  # of the kinds built: a drawing one cannot encode is not usable


@dataclass
class Rejected:
    """A file's bad lines as far as it was read: how many, and the last one."""

    count: int = 0
    last: Rejection | None = None

    def add(self, r: Rejection) -> None:
        self.count += 1
        self.last = r

    def __str__(self) -> str:
        assert self.last is not None, "said only of a file with bad lines"
        which = "line" if self.count == 1 else "the last at line"
        return f"{count_lines(self.count, 'bad')}, {which} {self.last.line}: {self.last.reason}"


def count_task(t: CountTask, report: Report) -> tuple[int, Rejected]:
    """Usable drawings in a class file (for splits given as fractions), and its bad lines."""
    n = 0
    rejected = Rejected()
    for d in open_source(t.path).read(chunk_size=4096, unrecognized=t.unrecognized,
                                      on_reject=rejected.add, strict=t.strict,
                                      screen=Screen(t.name, t.path, t.codecs)):
        n += len(d)
    return n, rejected


# ------------------------------------------------------------------------------- encoding


@dataclass(frozen=True)
class KindJob:
    """One kind's share of an encode task."""

    codec: Codec
    spool: str  # where this kind's spool goes: its dataset's temporary directory
    rounds: int  # examples per class of this kind
    shard_id: np.ndarray  # int32, shard of rounds [task.start, min(task.end, rounds))
    shards: int  # shard files of this kind


@dataclass(frozen=True)
class EncodeTask:
    """Encode one class's rounds ``start``-``end`` (one range of them) into the spool."""

    label: int
    name: str  # the class
    path: str
    part: int  # range index within the class
    start: int  # first round (= usable drawing index) encoded
    end: int  # one past the last; drawings are read up to here
    last: bool  # the class's last range: reports rejections and cut-off lines
    unrecognized: bool
    strict: bool
    jobs: tuple[KindJob, ...]
    rejections: str  # where the last range writes the class's rejected lines (JSON lines)
    keys: str  # where it writes the key_ids of the drawings it uses (fastdraw.build.keys)


@dataclass
class EncodeResult:
    """What an encode task read and spooled."""

    usable: int  # usable drawings read (at most task.end)
    rejected: Rejected = field(default_factory=Rejected)  # the last range's bad lines
    cutoff: dict[str, int] = field(default_factory=dict)  # kind -> line of its last drawing
    # kind -> int64 (2, shards): per shard, bytes in its spool record files and bytes its
    # records take framed
    nbytes: dict[str, np.ndarray] = field(default_factory=dict)


def encode_task(t: EncodeTask, report: Report) -> EncodeResult:
    """Phase 1 for one class (range): read, encode and spool its records."""
    writers = {job.codec.kind: SpoolWriter(job.spool, t.label, t.part, job.shard_id, job.shards)
               for job in t.jobs}
    result = EncodeResult(usable=0)
    t0 = time.monotonic()
    try:
        try:
            _encode_into(t, writers, result, report)
        finally:
            for w in writers.values():
                w.close()
    except BadLineError:
        raise
    except OSError as e:  # reading the class file, or writing the spool
        raise io_error(e, f"encoding {t.path} into the spool in {t.jobs[0].spool}") from e
    except Exception as e:
        raise TaskError(f"{t.path}: {type(e).__name__}: {e}") from e
    result.nbytes = {kind: np.stack([w.spooled, w.framed]) for kind, w in writers.items()}
    log.debug("%s: rounds %d-%d encoded (%d drawings read) in %.2f s", t.path, t.start,
              min(t.end, result.usable), result.usable, time.monotonic() - t0)
    return result


def chunk_size(t: EncodeTask) -> int:
    """Drawings per chunk: CHUNK, or fewer when a codec's working memory for the chunk would
    pass CHUNK_BYTES (a worker's working set stays bounded for large --img-size)."""
    per_drawing = [job.codec.working_bytes for job in t.jobs if job.codec.working_bytes]
    return max(1, min([CHUNK, *(CHUNK_BYTES // n for n in per_drawing)]))


def _encode_into(t: EncodeTask, writers: dict[str, SpoolWriter], result: EncodeResult,
                 report: Report) -> None:
    """Streams the class file; encodes the task's rounds of every kind into ``writers``."""
    with open(t.rejections, "w", encoding="utf-8") if t.last else nullcontext() as rejected:

        def on_reject(r: Rejection) -> None:
            if rejected is not None:
                rejected.write(json.dumps(r.to_dict()) + "\n")
                result.rejected.add(r)

        screen = Screen(t.name, t.path, [job.codec for job in t.jobs])
        key_ids, lines = [], []
        for d in open_source(t.path).read(chunk_size=chunk_size(t), unrecognized=t.unrecognized,
                                          limit=t.end, on_reject=on_reject, strict=t.strict,
                                          screen=screen):
            g0 = result.usable
            result.usable += len(d)
            a, b = max(t.start, g0) - g0, min(t.end, result.usable) - g0
            key_ids.append(d.key_id[a:b])
            lines.append(d.line[a:b])
            done = 0
            for job in t.jobs:
                kind = job.codec.kind
                if g0 < job.rounds <= result.usable:
                    result.cutoff[kind] = int(d.line[job.rounds - 1 - g0])
                lo, hi = max(t.start, g0), min(t.end, job.rounds, result.usable)
                if lo >= hi:
                    continue
                buf, offsets, framed = job.codec.packed(t.label, d.slice(lo - g0, hi - g0),
                                                        (FRAME_HEAD, FRAME_TAIL))
                writers[kind].add(buf, offsets, framed, job.shard_id[lo - t.start:hi - t.start])
                done += hi - lo
            report(done)
        write_keys(t.keys, np.concatenate(key_ids or [np.zeros(0, np.int64)]),
                   np.concatenate(lines or [np.zeros(0, np.int64)]))


