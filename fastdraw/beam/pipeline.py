"""The build as Beam transforms: the local build's plan, codecs, checks and shard assembly,
with Beam's shuffle where the local build has its spool.

The steps, in order (each a named step of the pipeline):

1. ``Count`` (splits given as fractions only): every class file's usable drawings
   (`fastdraw.build.encode.count_task`), and ``Plan``: the seeded plan of every kind, in
   its layout (`fastdraw.build.checks.make_plans`), computed once, as locally, and seen by
   every later step as a side input.
2. ``Encode``, one element per class: its file read and encoded with the kinds' codecs
   (`fastdraw.build.encode.EncodedRange`); every packed record keyed by its place: (kind,
   unit, window of the unit's rounds), with its round's place in the unit and its class,
   where a unit is a shard (every class's records of it) or, in a layout of one file per
   class (sketch-rnn's), one split of one class; the class's rejected lines written to a
   scratch file; its key_ids, bucketed, for the check of drawings in two classes.
3. ``Check``: a class with too few drawings, or a drawing in two classes, stops the build
   here, before any shard is written (the steps that write take its verdict as a side input).
4. ``Assemble``, one element per window of a unit: its records in round and class order,
   unpacked and framed (`fastdraw.build.assemble.unpack_framed`); a shard of one window is
   written here, whole (compressed as the local build's shard writer compresses); a window
   of a longer shard, or of a class's split, goes to a part file.
5. ``WriteFiles``, one element per data file: its one writer, which writes its windows'
   parts in order (or finds it written by ``Assemble``), hashing it: a shard through the
   local build's shard writer (`fastdraw.build.shardfile`), a class's file through its
   (`fastdraw.dataset.npz`, in the local build's batches: `fastdraw.build.classfiles`).
6. ``Finish``: the class-names file, counts.json, rejected.ndjson, the TFDS metadata and the
   manifest of every kind (`fastdraw.build.finish.finish`).

A worker holds one window of records per element it processes: about ``Job.window_bytes``
of framed records, the window's rounds sized from the record sizes measured before the
pipeline.  Runners process several elements at once in threads of one process, so the
steps share no buffer.  Every file a step writes is its attempt's own until whole
(`NewFile`, `NewLocalFile`).  A step that stops the build writes why in the scratch
directory before it raises, so that the driver can say it as the local build does
(`read_failure`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import secrets
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.pvalue import AsSingleton, TaggedOutput

from fastdraw.beam.storage import StoragePath
from fastdraw.build.assemble import unpack_framed
from fastdraw.build.checks import (
    check_enough_drawings,
    make_plans,
    needs_counts,
    repeat_error,
    resolved_splits,
    warn_small_splits,
)
from fastdraw.build.classfiles import batch_drawings
from fastdraw.build.encode import (
    ClassRange,
    CountTask,
    EncodedRange,
    EncodeResult,
    KindJob,
    count_task,
)
from fastdraw.build.finish import Built, Written, finish
from fastdraw.build.options import BuildOptions
from fastdraw.build.plan import Plan
from fastdraw.build.shardfile import ShardFile, StreamShard, write_stream
from fastdraw.codecs import Codec
from fastdraw.dataset.layout import layout_of
from fastdraw.dataset.npz import NpzWriter
from fastdraw.errors import BadInputError, BadLineError, BuildError, io_error
from fastdraw.kernels.unaligned import gather

log = logging.getLogger(__name__)

NAMESPACE = "fastdraw"  # of the build's Beam metrics
SCRATCH = ".beam"  # the build's scratch directory, in its temporary directory
KEYS_PER_BUCKET = 1 << 20  # key_ids a bucket of the repeat check holds, on average
READ_PIECE = 8 << 20  # bytes of a part file a shard's writer reads at a time
_MIX = np.uint64(0x9E3779B97F4A7C15)  # spreads key_ids over the buckets
WORKER_MIB = "worker MiB"  # distribution: a worker's resident memory while it writes a window
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


# ---------------------------------------------------------------------------------- the job


@dataclass(frozen=True)
class Job:
    """What every step knows: the build's options and codecs, where it writes, and the
    versions its manifests record."""

    opts: BuildOptions
    codecs: dict[str, Codec]
    work: StoragePath  # the build's temporary directory: <work>/<kind>/ its datasets
    versions: dict[str, str]
    window_bytes: int  # framed bytes of a shard's window, about
    record_bytes: dict[str, int]  # framed bytes of a record of each kind, about

    def dataset(self, kind: str) -> StoragePath:
        """Where the dataset of ``kind`` is written."""
        return self.work / kind

    @property
    def scratch(self) -> StoragePath:
        return self.work / SCRATCH

    def rejections(self, label: int) -> StoragePath:
        """Where class ``label``'s rejected lines wait for its datasets' rejected.ndjson."""
        return self.scratch / f"rejected-{label:05d}.ndjson"

    def part(self, kind: str, unit: int, window: int) -> StoragePath:
        """Where window ``window`` of a unit (a shard of several windows, or a class's split)
        waits for its file's writer."""
        return self.scratch / f"{kind}-{unit:05d}-{window:06d}.part"

    @property
    def failure(self) -> StoragePath:
        """Where a step that stops the build says why."""
        return self.scratch / "failure.json"

    def window_rounds(self, kind: str) -> int:
        """Rounds of a unit a window holds (every class's record of each in a shard, one
        class's in a layout of a file per class)."""
        classes = len(self.opts.classes) if layout_of(self.codecs[kind]).sharded else 1
        return max(1, self.window_bytes // (classes * self.record_bytes[kind]))


def fail(job: Job, error: BuildError) -> NoReturn:
    """Stops the build with ``error``, saying why where the driver reads it (whole: steps
    that fail at once each put theirs in place, one after the other)."""
    with NewFile(job.failure, job.scratch, shard=False) as f:
        f.write(json.dumps({"strict": isinstance(error, BadInputError),
                            "message": str(error)}).encode("utf-8"))
    raise error


def read_failure(job: Job) -> BuildError | None:
    """Why a step stopped the build, or None."""
    try:
        text = job.failure.read_bytes()
    except (OSError, ValueError):  # none written (a BeamPath's missing object: BeamIOError)
        return None
    try:
        failure = json.loads(text)
        return (BadInputError if failure["strict"] else BuildError)(str(failure["message"]))
    except (ValueError, TypeError, KeyError):
        return BuildError(f"a step stopped the build, and what it wrote of why cannot be read "
                          f"({job.failure}: {text[:80]!r})")


# --------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class KindPlan:
    """A kind's plan and where its records go: round ``r`` is record ``place[r]`` of its shard's
    rounds; a unit's rounds go in windows of ``window`` rounds.  A unit is a shard (every
    class's records of its rounds), or in a layout of a file per class, one class's records
    of one split (shard id): unit ``label * shard_count + shard``."""

    plan: Plan
    place: np.ndarray  # int64 [rounds]
    window: int

    @property
    def per_class(self) -> bool:
        """Whether the layout has a file per class (else shard files of every class)."""
        return not self.plan.layout.sharded

    @property
    def per_shard(self) -> np.ndarray:
        return self.plan.rounds_per_shard()

    def units(self, label: int, shard: np.ndarray) -> np.ndarray:
        """The units of class ``label``'s records of shards ``shard``."""
        return shard + label * self.plan.shard_count if self.per_class else shard

    def file_of(self, unit: int) -> int:
        """The data file of a unit: its shard, or its class's file (the class's label)."""
        return unit // self.plan.shard_count if self.per_class else unit

    def windows(self, unit: int) -> int:
        """How many windows unit ``unit`` has (0 for an empty shard or split)."""
        return math.ceil(int(self.per_shard[unit % self.plan.shard_count]) / self.window)

    def pieces(self, file: int) -> list[tuple[int, int]]:
        """The (shard id, window) of every window of data file ``file``, in order."""
        if not self.per_class:
            return [(file, w) for w in range(self.windows(file))]
        return [(s, w) for s in range(self.plan.shard_count)
                for w in range(self.windows(file * self.plan.shard_count + s))]


def kind_plan(plan: Plan, window: int) -> KindPlan:
    """``plan`` with every round's place in its shard."""
    order = np.argsort(plan.shard_id, kind="stable")
    counts = plan.rounds_per_shard()
    starts = np.cumsum(counts) - counts
    place = np.empty(plan.rounds, dtype=np.int64)
    place[order] = np.arange(plan.rounds) - np.repeat(starts, counts)
    return KindPlan(plan, place, window)


def _plans(counts: list[tuple[int, int]], job: Job) -> dict[str, KindPlan]:
    """Every kind's plan: the splits resolved with the classes' ``counts`` (label, usable
    drawings) when they are fractions."""
    try:
        splits = resolved_splits(job.opts, [n for _, n in sorted(counts)])
    except BuildError as e:
        fail(job, e)
    plans = make_plans(job.opts, job.codecs, splits)
    warn_small_splits(job.opts, plans)
    return {kind: kind_plan(plan, job.window_rounds(kind)) for kind, plan in plans.items()}


class _Count(beam.DoFn):
    """A class file's usable drawings: (label, count)."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def process(self, label: int) -> Iterator[tuple[int, int]]:
        opts = self.job.opts
        path = str(opts.files[label])
        task = CountTask(opts.classes[label], path, opts.include_unrecognized, opts.strict,
                         tuple(self.job.codecs.values()))
        try:
            n, rejected = count_task(task, lambda _: None)
        except BadLineError as e:
            fail(self.job, BadInputError(str(e)))
        except (OSError, ValueError) as e:
            fail(self.job, BuildError(f"{path}: {type(e).__name__}: {e}"))
        Metrics.counter(NAMESPACE, "drawings counted").inc(n)
        if rejected.count:
            # The build lists in rejected.ndjson only those among the drawings it uses.
            log.warning("%s: %s; %d %s counted", path, rejected, n, opts.usable())
        yield label, n


# ------------------------------------------------------------------------------- encoding

RECORDS, RESULTS, KEYS = "records", "results", "keys"


class _Encode(beam.DoFn):
    """A class file read and encoded: its records by (kind, shard, window), its result, its
    key_ids by bucket."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def process(self, label: int, plans: dict[str, KindPlan]) -> Iterator[Any]:
        job, opts = self.job, self.job.opts
        jobs = tuple(KindJob(job.codecs[kind], kp.plan.rounds, kp.plan.shard_id,
                             kp.plan.shard_count) for kind, kp in plans.items())
        end = max(kp.plan.rounds for kp in plans.values())
        r = ClassRange(label, opts.classes[label], str(opts.files[label]), 0, end, True,
                       opts.include_unrecognized, opts.strict, jobs)
        try:
            with NewFile(job.rejections(label), job.scratch, shard=False) as rejected:
                encoded = EncodedRange(
                    r, lambda rejection: rejected.write(
                        (json.dumps(rejection.to_dict()) + "\n").encode("utf-8")),
                    Metrics.counter(NAMESPACE, "examples encoded").inc)
                for kj, first, buf, offsets, framed in encoded:
                    yield from _keyed(plans[kj.codec.kind], kj.codec.kind, label, first, buf,
                                      offsets, framed)
        except BadLineError as e:
            fail(job, BadInputError(str(e)))
        except OSError as e:
            fail(job, BuildError(str(io_error(e, f"encoding {r.path}"))))
        except ValueError as e:  # a file of no known format, a URL no file system reads
            fail(job, BuildError(str(e)))
        result = encoded.result
        Metrics.counter(NAMESPACE, "drawings used").inc(result.usable)
        Metrics.counter(NAMESPACE, "bad lines").inc(result.rejected.count)
        log.debug("%s: %d drawings read, %d bad lines", r.path, result.usable,
                  result.rejected.count)
        yield TaggedOutput(RESULTS, (label, result))
        buckets = _key_buckets(end * len(opts.classes))
        which = _bucket(encoded.key_ids, buckets)
        for b in np.unique(which).tolist():
            chosen = which == b
            yield TaggedOutput(KEYS, (b, (label, encoded.key_ids[chosen].tobytes(),
                                          encoded.lines[chosen].tobytes())))


def _keyed(kp: KindPlan, kind: str, label: int, first: int, buf: np.ndarray,
           offsets: np.ndarray, framed: np.ndarray
           ) -> Iterator[tuple[tuple[str, int, int], tuple[int, int, bytes, bytes, bytes]]]:
    """Packed records of rounds ``first``, ``first + 1``, ... of class ``label`` as elements
    keyed by (kind, unit, window): each holds a run of the class's records in a row of the
    window (label, place of the first, sizes and framed sizes as int32 bytes, the records)."""
    n = len(framed)
    unit = kp.units(label, kp.plan.shard_id[first:first + n].astype(np.int64))
    place = kp.place[first:first + n]
    window = place // kp.window
    key = unit * (kp.plan.rounds + 1) + window
    order = np.argsort(key, kind="stable")
    sizes = np.diff(offsets)[order]
    at = np.concatenate(([0], np.cumsum(sizes)))
    grouped = np.empty(int(at[-1]), dtype=np.uint8)
    gather(buf, offsets[:-1][order], sizes, grouped, at[:-1])
    framed = framed[order]
    key = key[order]
    bounds = [0, *(np.flatnonzero(np.diff(key)) + 1).tolist(), n]
    for a, b in zip(bounds[:-1], bounds[1:]):
        i = int(order[a])
        yield ((kind, int(unit[i]), int(window[i])),
               (label, int(place[i]), sizes[a:b].astype("<i4").tobytes(),
                framed[a:b].astype("<i4").tobytes(), grouped[at[a]:at[b]].tobytes()))


def _key_buckets(keys: int) -> int:
    """Buckets of the repeat check for about ``keys`` key_ids."""
    return max(1, math.ceil(keys / KEYS_PER_BUCKET))


def _bucket(key_ids: np.ndarray, buckets: int) -> np.ndarray:
    """Every key_id's bucket (spread evenly whatever the key_ids are)."""
    return ((key_ids.astype(np.uint64) * _MIX) >> np.uint64(32)) % np.uint64(buckets)


# -------------------------------------------------------------------------------- checking


def _first_repeat(element: tuple[int, Iterable[tuple[int, bytes, bytes]]]
                  ) -> Iterator[tuple[int, int, int, int, int]]:
    """The smallest key_id of a bucket that two classes share: (key_id, label, line, other
    label, other line), the two smallest labels; as `fastdraw.build.keys.find_repeat`."""
    _, parts = element
    parts = list(parts)
    keys = np.concatenate([np.frombuffer(k, dtype=np.int64) for _, k, _ in parts])
    lines = np.concatenate([np.frombuffer(n, dtype=np.int64) for _, _, n in parts])
    labels = np.concatenate([np.full(len(k) // 8, label, dtype=np.int64)
                             for label, k, _ in parts])
    order = np.lexsort((labels, keys))
    same = np.flatnonzero(keys[order][1:] == keys[order][:-1])
    if len(same):
        a, b = order[same[0]], order[same[0] + 1]
        yield int(keys[a]), int(labels[a]), int(lines[a]), int(labels[b]), int(lines[b])


def _check(results: list[tuple[int, EncodeResult]], job: Job, plans: dict[str, KindPlan],
           repeats: list[tuple[int, int, int, int, int]]) -> bool:
    """Stops the build, before any shard is written, as the local build stops between its
    phases: a class with too few drawings, then a drawing in two classes."""
    try:
        check_enough_drawings(job.opts, {kind: kp.plan for kind, kp in plans.items()},
                              dict(results))
        if repeats:
            raise repeat_error(job.opts, min(repeats))
    except BuildError as e:
        fail(job, e)
    return True


# -------------------------------------------------------------------------------- writing


class NewFile:
    """A file of the build written by one attempt of a step (a runner retries a failed one, and
    may run two at once): a local file is written under a name of its own in the scratch
    directory and renamed into place once whole; an object appears once its upload is
    closed.  An attempt that fails leaves neither.  Its writer: a shard writer (``shard``:
    the local build's for a local file, `StreamShard` for an object; both deflate with
    ``compression`` and give the file's ``sha256`` and ``size`` once closed), else a binary
    stream."""

    def __init__(self, path: StoragePath, scratch: StoragePath, shard: bool = True,
                 compression: str = "none") -> None:
        self.path = path
        self._tmp: Path | None = None
        self.writer: Any
        if isinstance(path, Path):
            self._tmp = Path(scratch) / f"{path.parent.name}-{path.name}.{secrets.token_hex(4)}"
            self.writer = ShardFile(self._tmp, compression) if shard else open(self._tmp, "wb")
        else:
            stream = path.open("wb")
            self.writer = StreamShard(stream, compression) if shard else stream

    def __enter__(self) -> Any:
        return self.writer

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.writer.close()
            if self._tmp is not None:
                os.replace(self._tmp, self.path)
        elif self._tmp is not None:
            try:
                self.writer.close()
            finally:
                self._tmp.unlink(missing_ok=True)
        # A failed attempt's object is never closed, so it never appears.


class NewLocalFile:
    """A file of the build that its writer makes at a local path (a zip file, whose writer
    seeks back to its headers), for one attempt of a step as `NewFile`: in the scratch
    directory for a local path, renamed into place once whole; for an object, in this
    worker's temporary directory, uploaded once whole.  ``sha256`` and ``size`` are the
    file's once in place."""

    def __init__(self, path: StoragePath, scratch: StoragePath) -> None:
        self.path = path
        if isinstance(path, Path):
            self.local = Path(scratch) / f"{path.parent.name}-{path.name}.{secrets.token_hex(4)}"
        else:
            fd, name = tempfile.mkstemp(prefix="fastdraw-", suffix=f"-{path.name}")
            os.close(fd)
            self.local = Path(name)
        self.sha256 = ""
        self.size = 0

    def __enter__(self) -> Path:
        return self.local

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            if kind is None:
                self._place()
        finally:
            self.local.unlink(missing_ok=True)

    def _place(self) -> None:
        """Hashes the local file, and puts it in place (an object's upload is closed only once
        whole: a failed one never appears)."""
        digest, size = hashlib.sha256(), 0
        upload = None if isinstance(self.path, Path) else self.path.open("wb")
        with open(self.local, "rb") as f:
            while chunk := f.read(READ_PIECE):
                digest.update(chunk)
                size += len(chunk)
                if upload is not None:
                    write_stream(upload, chunk)
        if upload is not None:
            upload.close()
        else:
            os.replace(self.local, self.path)
        self.sha256, self.size = digest.hexdigest(), size


class Piece(NamedTuple):
    """A window that ``Assemble`` wrote: of data file ``file``'s shard id ``shard`` (a class's
    file has one a split), its ``nbytes`` as a part, or (a shard of one window) the whole
    file as written, its ``sha256`` and ``size``.  A class's file's windows carry what its
    writer needs to cut its batches as the local build does: the records' bytes as packed
    (``packed``) and each one's size unpacked (``sizes``, int32)."""

    shard: int
    window: int
    nbytes: int
    sha256: str | None = None
    size: int = 0
    packed: int = 0
    sizes: bytes = b""


class _Assemble(beam.DoFn):
    """A window of a unit: its records in round and class order, unpacked (and framed, in
    shards), written as the whole shard (a shard of one window) or as a part of its file.
    Gives ((kind, file), Piece)."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def process(self, element: tuple[tuple[str, int, int], Iterable[tuple]],
                plans: dict[str, KindPlan], checked: bool
                ) -> Iterator[tuple[tuple[str, int], Piece]]:
        (kind, unit, window), runs = element
        kp, job = plans[kind], self.job
        classes = 1 if kp.per_class else len(job.opts.classes)
        shard = unit % kp.plan.shard_count
        lo = window * kp.window
        rounds = min(kp.window, int(kp.per_shard[shard]) - lo)
        runs = list(runs)
        sizes = np.frombuffer(b"".join(r[2] for r in runs), dtype="<i4").astype(np.int64)
        framed = np.frombuffer(b"".join(r[3] for r in runs), dtype="<i4").astype(np.int64)
        counts = [len(r[2]) // 4 for r in runs]
        labels = np.repeat([r[0] for r in runs], counts)
        places = np.concatenate([first + np.arange(n) for (_, first, *_), n in zip(runs, counts)])
        where = (places - lo) * classes + (0 if kp.per_class else labels)
        if len(where) != rounds * classes or not np.array_equal(
                np.sort(where), np.arange(rounds * classes)):
            raise RuntimeError(f"{kind} unit {unit}, window {window}: {len(where)} records, not "
                               f"the {rounds * classes} of its {rounds} rounds of {classes} "
                               "classes")
        src = np.empty(int(sizes.sum()), dtype=np.uint8)
        at = 0
        for r in runs:
            src[at:at + len(r[4])] = np.frombuffer(r[4], dtype=np.uint8)
            at += len(r[4])
        starts = np.cumsum(sizes) - sizes
        order = np.argsort(where)
        whole = not kp.per_class and kp.windows(unit) == 1
        path = (job.dataset(kind) / kp.plan.shard_names[unit] if whole
                else job.part(kind, unit, window))
        total = int(framed.sum())
        codec = job.codecs[kind]
        with NewFile(path, job.scratch, compression=job.opts.compression if whole else "none"
                     ) as writer:
            out = writer.reserve(total)
            if kp.per_class:  # a class's file: the records as they are, no TFRecord framing
                codec.unpack(src, starts[order], sizes[order], out,
                             np.cumsum(framed[order]) - framed[order])
            else:
                unpack_framed(codec, src, starts[order], sizes[order], framed[order], out)
            writer.commit()
            _note_memory()
        Metrics.counter(NAMESPACE, "windows written").inc()
        Metrics.counter(NAMESPACE, "examples written").inc(len(where))
        if whole:
            piece = Piece(shard, window, total, writer.sha256, writer.size)
        elif kp.per_class:
            piece = Piece(shard, window, total, packed=int(sizes.sum()),
                          sizes=framed[order].astype("<i4").tobytes())
        else:
            piece = Piece(shard, window, total)
        yield (kind, kp.file_of(unit)), piece


class _WriteFile(beam.DoFn):
    """A data file's one writer: its windows' parts in order (a shard of one window is already
    written whole, an empty shard is an empty file).  Gives (kind, file name, Written)."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def process(self, element: tuple[tuple[str, int], dict[str, list]],
                plans: dict[str, KindPlan], checked: bool
                ) -> Iterator[tuple[str, str, Written]]:
        (kind, file), joined = element
        kp = plans[kind]
        pieces = sorted(joined["pieces"])
        want = kp.pieces(file)
        if [(p.shard, p.window) for p in pieces] != want:
            raise RuntimeError(f"{kind} file {file}: windows "
                               f"{[(p.shard, p.window) for p in pieces]} came, not {want}")
        if kp.per_class:
            name = kp.plan.layout.class_file(self.job.opts.classes[file])
            written = self._class_file(kind, file, name, pieces, kp)
        else:
            name = kp.plan.shard_names[file]
            records = int(kp.per_shard[file]) * len(self.job.opts.classes)
            if len(pieces) == 1:
                written = Written(records, pieces[0].sha256, pieces[0].size)
            else:
                written = self._concatenate(kind, file, name, records, pieces)
        Metrics.counter(NAMESPACE, "files written").inc()
        log.debug("%s %s written", kind, name)
        yield kind, name, written

    def _concatenate(self, kind: str, shard: int, name: str, records: int,
                     pieces: list[Piece]) -> Written:
        """Writes the shard from its parts, in order (compressed as the build asks)."""
        job = self.job
        with NewFile(job.dataset(kind) / name, job.scratch,
                     compression=job.opts.compression) as writer:
            with _Parts([job.part(kind, shard, p.window) for p in pieces]) as parts:
                left = sum(p.nbytes for p in pieces)
                while left:
                    out = writer.reserve(min(left, READ_PIECE))
                    parts.read_into(out)
                    writer.commit()
                    _note_memory()
                    left -= len(out)
        return Written(records, writer.sha256, writer.size)

    def _class_file(self, kind: str, label: int, name: str, pieces: list[Piece],
                    kp: KindPlan) -> Written:
        """Writes class ``label``'s file from its parts, split by split, in the batches the
        local build's writer takes (fastdraw.build.classfiles)."""
        job = self.job
        placed = NewLocalFile(job.dataset(kind) / name, job.scratch)
        with placed as local, NpzWriter(local) as npz:
            for s, (split, count) in enumerate(kp.plan.splits.items()):
                mine = [p for p in pieces if p.shard == s]
                sizes = np.frombuffer(b"".join(p.sizes for p in mine), dtype="<i4")
                batch = batch_drawings(sum(p.packed for p in mine), count)
                unit = label * kp.plan.shard_count + s
                with npz.array(split, count) as items, _Parts(
                        [job.part(kind, unit, p.window) for p in mine]) as parts:
                    for a in range(0, count, batch):
                        n = min(batch, count - a)
                        out = np.empty(int(sizes[a:a + n].sum()), dtype=np.uint8)
                        parts.read_into(out)
                        items.add(out, n)
                        _note_memory()
        return Written(kp.plan.rounds, placed.sha256, placed.size)


class _Parts:
    """The part files of a data file, read one after the other as one stream."""

    def __init__(self, paths: list[StoragePath]) -> None:
        self._paths = paths
        self._f: Any = None

    def __enter__(self) -> _Parts:
        return self

    def __exit__(self, *_: object) -> None:
        if self._f is not None:
            self._f.close()

    def read_into(self, out: np.ndarray) -> None:
        """Fills ``out`` with the next bytes of the parts."""
        view = memoryview(out).cast("B")
        while view:
            if self._f is None:
                if not self._paths:
                    raise RuntimeError("the part files end early")
                self._f = self._paths.pop(0).open("rb")
            n = self._f.readinto(view)
            if n:
                view = view[n:]
            else:
                self._f.close()
                self._f = None


def _note_memory() -> None:
    """Adds this worker process's resident memory now, with a window's buffers in hand, to the
    "worker MiB" distribution (where /proc tells it)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return
    Metrics.distribution(NAMESPACE, WORKER_MIB).update(pages * _PAGE >> 20)


def _every_file(plans: dict[str, KindPlan], classes: int
                ) -> Iterator[tuple[tuple[str, int], None]]:
    for kind, kp in plans.items():
        for file in range(classes if kp.per_class else len(kp.plan.shard_names)):
            yield (kind, file), None


def _finish(files: list[tuple[str, str, Written]], job: Job, plans: dict[str, KindPlan],
            results: list[tuple[int, EncodeResult]]) -> list[Built]:
    """Every kind's metadata files and manifest (fastdraw.build.finish)."""
    by_label = dict(results)
    classes = range(len(job.opts.classes))
    return [finish(job.opts, job.codecs[kind], kp.plan, job.dataset(kind),
                   {name: w for k, name, w in files if k == kind},
                   [job.rejections(j) for j in classes],
                   [by_label[j].cutoff[kind] for j in classes], job.versions)
            for kind, kp in plans.items()]


# ------------------------------------------------------------------------------ the build


class BuildDatasets(beam.PTransform):
    """Builds every kind's dataset of ``job`` into its temporary directory; gives the `Built`
    of every kind.  Apply it to a pipeline (``pipeline | BuildDatasets(job)``); the driver
    (fastdraw.beam.driver) makes the job and publishes what it wrote."""

    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job

    def expand(self, root: beam.pvalue.PBegin) -> beam.PCollection:
        job = self.job
        labels = root | "Classes" >> beam.Create(range(len(job.opts.classes)))
        if needs_counts(job.opts):
            counts = (labels | "Count" >> beam.ParDo(_Count(job))
                      | "AllCounts" >> beam.combiners.ToList())
        else:
            counts = root | "NoCounts" >> beam.Create([[]])
        plans = AsSingleton(counts | "Plan" >> beam.Map(_plans, job))
        encoded = labels | "Encode" >> beam.ParDo(_Encode(job), plans).with_outputs(
            RESULTS, KEYS, main=RECORDS)
        results = encoded[RESULTS] | "AllResults" >> beam.combiners.ToList()
        repeats = AsSingleton(encoded[KEYS] | "GroupKeys" >> beam.GroupByKey()
                              | "Repeats" >> beam.FlatMap(_first_repeat)
                              | "AllRepeats" >> beam.combiners.ToList())
        checked = AsSingleton(results | "Check" >> beam.Map(_check, job, plans, repeats))
        pieces = (encoded[RECORDS] | "GroupWindows" >> beam.GroupByKey()
                  | "Assemble" >> beam.ParDo(_Assemble(job), plans, checked))
        classes = len(job.opts.classes)
        files = (root | "PlanFiles" >> beam.Create([None])
                 | "Files" >> beam.FlatMap(lambda _, p: _every_file(p, classes), plans))
        written = ({"pieces": pieces, "files": files} | "GroupFiles" >> beam.CoGroupByKey()
                   | "WriteFiles" >> beam.ParDo(_WriteFile(job), plans, checked))
        return (written | "AllFiles" >> beam.combiners.ToList()
                | "Finish" >> beam.FlatMap(_finish, job, plans, AsSingleton(results)))
