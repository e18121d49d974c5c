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
from collections.abc import Callable, Iterator
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
    """One kind's share of a class range."""

    codec: Codec
    rounds: int  # examples per class of this kind
    shard_id: np.ndarray  # int32, shard of rounds [range.start, min(range.end, rounds))
    shards: int  # shard files of this kind


@dataclass(frozen=True)
class ClassRange:
    """Rounds ``start``-``end`` of one class (one range of them): what to read, and which
    records of every kind to make of it."""

    label: int
    name: str  # the class
    path: str
    start: int  # first round (= usable drawing index) encoded
    end: int  # one past the last; drawings are read up to here
    last: bool  # the class's last range: reports rejections and cut-off lines
    unrecognized: bool
    strict: bool
    jobs: tuple[KindJob, ...]


@dataclass(frozen=True)
class EncodeTask:
    """Encode one class range into the spool."""

    range: ClassRange
    part: int  # range index within the class
    spools: tuple[str, ...]  # per job, where its kind's spool goes: its dataset's temporary dir
    rejections: str  # where the last range writes the class's rejected lines (JSON lines)
    keys: str  # where it writes the key_ids of the drawings it uses (fastdraw.build.keys)


@dataclass
class EncodeResult:
    """What an encode task read and spooled."""

    usable: int  # usable drawings read (at most range.end)
    rejected: Rejected = field(default_factory=Rejected)  # the last range's bad lines
    cutoff: dict[str, int] = field(default_factory=dict)  # kind -> line of its last drawing
    # kind -> int64 (2, shards): per shard, bytes in its spool record files and bytes its
    # records take framed
    nbytes: dict[str, np.ndarray] = field(default_factory=dict)


def encode_task(t: EncodeTask, report: Report) -> EncodeResult:
    """Phase 1 for one class range: read, encode and spool its records."""
    r = t.range
    writers = {job.codec.kind: SpoolWriter(spool, r.label, t.part, job.shard_id, job.shards)
               for job, spool in zip(r.jobs, t.spools)}
    t0 = time.monotonic()
    try:
        try:
            with open(t.rejections, "w", encoding="utf-8") if r.last else nullcontext() as out:
                encoded = EncodedRange(
                    r, lambda rejection: out.write(json.dumps(rejection.to_dict()) + "\n"),
                    report)
                for job, first, buf, offsets, framed in encoded:
                    shard_id = job.shard_id[first - r.start:first - r.start + len(framed)]
                    writers[job.codec.kind].add(buf, offsets, framed, shard_id)
            write_keys(t.keys, encoded.key_ids, encoded.lines)
        finally:
            for w in writers.values():
                w.close()
    except BadLineError:
        raise
    except OSError as e:  # reading the class file, or writing the spool
        raise io_error(e, f"encoding {r.path} into the spool in {t.spools[0]}") from e
    except Exception as e:
        raise TaskError(f"{r.path}: {type(e).__name__}: {e}") from e
    result = encoded.result
    result.nbytes = {kind: np.stack([w.spooled, w.framed]) for kind, w in writers.items()}
    log.debug("%s: rounds %d-%d encoded (%d drawings read) in %.2f s", r.path, r.start,
              min(r.end, result.usable), result.usable, time.monotonic() - t0)
    return result


def chunk_size(r: ClassRange) -> int:
    """Drawings per chunk: CHUNK, or fewer when a codec's working memory for the chunk would
    pass CHUNK_BYTES (a worker's working set stays bounded for large --img-size)."""
    per_drawing = [job.codec.working_bytes for job in r.jobs if job.codec.working_bytes]
    return max(1, min([CHUNK, *(CHUNK_BYTES // n for n in per_drawing)]))


# A kind's packed records of rounds first, first + 1, ...: (job, first, buf, offsets, framed),
# as Codec.packed gives them (with room for the TFRecord framing).
Packed = tuple[KindJob, int, np.ndarray, np.ndarray, np.ndarray]


class EncodedRange:
    """A class range's records: iterating it streams the class file and gives every kind's
    packed records of the range's rounds, chunk by chunk in round order (each valid until
    the next is taken).  The last range's bad lines go to ``on_reject``.  Once iterated,
    ``result`` says what was read, and ``key_ids`` and ``lines`` (int64) name the drawings of
    its rounds."""

    def __init__(self, r: ClassRange, on_reject: Callable[[Rejection], None],
                 report: Report) -> None:
        self.range = r
        self.result = EncodeResult(usable=0)
        self.key_ids = self.lines = np.zeros(0, np.int64)
        self._on_reject = on_reject
        self._report = report

    def _rejected(self, rejection: Rejection) -> None:
        if self.range.last:
            self._on_reject(rejection)
            self.result.rejected.add(rejection)

    def __iter__(self) -> Iterator[Packed]:
        r, result = self.range, self.result
        screen = Screen(r.name, r.path, [job.codec for job in r.jobs])
        key_ids, lines = [], []
        for d in open_source(r.path).read(chunk_size=chunk_size(r), unrecognized=r.unrecognized,
                                          limit=r.end, on_reject=self._rejected,
                                          strict=r.strict, screen=screen):
            g0 = result.usable
            result.usable += len(d)
            a, b = max(r.start, g0) - g0, min(r.end, result.usable) - g0
            key_ids.append(d.key_id[a:b])
            lines.append(d.line[a:b])
            done = 0
            for job in r.jobs:
                kind = job.codec.kind
                if g0 < job.rounds <= result.usable:
                    result.cutoff[kind] = int(d.line[job.rounds - 1 - g0])
                lo, hi = max(r.start, g0), min(r.end, job.rounds, result.usable)
                if lo >= hi:
                    continue
                buf, offsets, framed = job.codec.packed(r.label, d.slice(lo - g0, hi - g0),
                                                        (FRAME_HEAD, FRAME_TAIL))
                yield job, lo, buf, offsets, framed
                done += hi - lo
            self._report(done)
        if key_ids:
            self.key_ids, self.lines = np.concatenate(key_ids), np.concatenate(lines)
