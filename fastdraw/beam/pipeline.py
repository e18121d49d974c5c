"""The build as Beam transforms: the local build's plan, codecs, checks and shard assembly,
with Beam's shuffle where the local build has its spool.

The steps, in order (each a named step of the pipeline):

1. ``Count`` (splits given as fractions only): every class file's usable drawings
   (`fastdraw.build.encode.count_task`), and ``Plan``: the seeded plan of every kind
   (`fastdraw.build.plan.make_plan`), computed once, as locally, and seen by every later
   step as a side input.
2. ``Encode``, one element per class: its file read and encoded with the kinds' codecs
   (`fastdraw.build.encode.EncodedRange`); every packed record keyed by its place: (kind,
   shard, window of the shard's rounds), with its round's place in the shard and its class;
   the class's rejected lines written to a scratch file; its key_ids, bucketed, for the
   check of drawings in two classes.
3. ``Check``: a class with too few drawings, or a drawing in two classes, stops the build
   here, before any shard is written (the steps that write take its verdict as a side input).
4. ``Assemble``, one element per window of a shard: its records (all classes) in round and
   class order, unpacked and framed (`fastdraw.build.assemble.unpack_framed`); a shard of one
   window is written here, whole; a window of a longer shard goes to a part file.
5. ``WriteShards``, one element per shard: its one writer, which writes its windows' parts
   in order (or finds it written by ``Assemble``), hashing it.
6. ``Finish``: labels.txt, counts.json, rejected.ndjson and the manifest of every kind
   (`fastdraw.build.finish.finish`).

A worker holds one window of records per element it processes: about ``Job.window_bytes``
of framed records, the window's rounds sized from the record sizes measured before the
pipeline.  Runners process several elements at once in threads of one process, so the
steps share no buffer.  Every file a step writes is its attempt's own until whole
(`NewFile`).  A step that stops the build writes why in the scratch directory before it
raises, so that the driver can say it as the local build does (`read_failure`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

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
from fastdraw.build.shardfile import ShardFile, StreamShard
from fastdraw.codecs import Codec
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

    def part(self, kind: str, shard: int, window: int) -> StoragePath:
        """Where window ``window`` of a shard of several waits for the shard's writer."""
        return self.scratch / f"{kind}-{shard:05d}-{window:06d}.part"

    @property
    def failure(self) -> StoragePath:
        """Where a step that stops the build says why."""
        return self.scratch / "failure.json"

    def window_rounds(self, kind: str) -> int:
        """Rounds of a shard a window holds (every class's record of each)."""
        return max(1, self.window_bytes // (len(self.opts.classes) * self.record_bytes[kind]))


def fail(job: Job, error: BuildError) -> NoReturn:
    """Stops the build with ``error``, saying why where the driver reads it."""
    job.failure.write_bytes(json.dumps({"strict": isinstance(error, BadInputError),
                                        "message": str(error)}).encode("utf-8"))
    raise error


def read_failure(job: Job) -> BuildError | None:
    """Why a step stopped the build, or None."""
    try:
        text = job.failure.read_bytes()
    except (OSError, ValueError):  # none written (a BeamPath's missing object: BeamIOError)
        return None
    failure = json.loads(text)
    return (BadInputError if failure["strict"] else BuildError)(failure["message"])


# --------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class KindPlan:
    """A kind's plan and where its records go: round ``r`` is record ``place[r]`` of its shard's
    rounds; a shard's rounds go in windows of ``window`` rounds."""

    plan: Plan
    place: np.ndarray  # int64 [rounds]
    window: int

    @property
    def per_shard(self) -> np.ndarray:
        return self.plan.rounds_per_shard()

    def windows(self, shard: int) -> int:
        """How many windows shard ``shard`` has (0 for an empty shard)."""
        return math.ceil(int(self.per_shard[shard]) / self.window)


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
    keyed by (kind, shard, window): each holds a run of the class's records in a row of the
    window (label, place of the first, sizes and framed sizes as int32 bytes, the records)."""
    n = len(framed)
    shard = kp.plan.shard_id[first:first + n].astype(np.int64)
    place = kp.place[first:first + n]
    window = place // kp.window
    order = np.argsort(shard * (kp.plan.rounds + 1) + window, kind="stable")
    sizes = np.diff(offsets)[order]
    at = np.concatenate(([0], np.cumsum(sizes)))
    grouped = np.empty(int(at[-1]), dtype=np.uint8)
    gather(buf, offsets[:-1][order], sizes, grouped, at[:-1])
    framed = framed[order]
    key = (shard * (kp.plan.rounds + 1) + window)[order]
    bounds = [0, *(np.flatnonzero(np.diff(key)) + 1).tolist(), n]
    for a, b in zip(bounds[:-1], bounds[1:]):
        i = int(order[a])
        yield ((kind, int(shard[i]), int(window[i])),
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
    the local build's for a local file, `StreamShard` for an object), else a binary
    stream."""

    def __init__(self, path: StoragePath, scratch: StoragePath, shard: bool = True) -> None:
        self.path = path
        self._tmp: Path | None = None
        self.writer: Any
        if isinstance(path, Path):
            self._tmp = Path(scratch) / f"{path.parent.name}-{path.name}.{secrets.token_hex(4)}"
            self.writer = ShardFile(self._tmp) if shard else open(self._tmp, "wb")
        else:
            stream = path.open("wb")
            self.writer = StreamShard(stream) if shard else stream

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


class _Assemble(beam.DoFn):
    """A window of a shard: its records in round and class order, unpacked and framed, written
    as the whole shard (a shard of one window) or as a part of it.  Gives ((kind, shard),
    (window, bytes, sha256 of a whole shard or None))."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def process(self, element: tuple[tuple[str, int, int], Iterable[tuple]],
                plans: dict[str, KindPlan], checked: bool
                ) -> Iterator[tuple[tuple[str, int], tuple[int, int, str | None]]]:
        (kind, shard, window), runs = element
        kp, classes = plans[kind], len(self.job.opts.classes)
        lo = window * kp.window
        rounds = min(kp.window, int(kp.per_shard[shard]) - lo)
        runs = list(runs)
        sizes = np.frombuffer(b"".join(r[2] for r in runs), dtype="<i4").astype(np.int64)
        framed = np.frombuffer(b"".join(r[3] for r in runs), dtype="<i4").astype(np.int64)
        counts = [len(r[2]) // 4 for r in runs]
        labels = np.repeat([r[0] for r in runs], counts)
        places = np.concatenate([first + np.arange(n) for (_, first, *_), n in zip(runs, counts)])
        where = (places - lo) * classes + labels
        name = kp.plan.shard_names[shard]
        if len(where) != rounds * classes or not np.array_equal(
                np.sort(where), np.arange(rounds * classes)):
            raise RuntimeError(f"{kind} {name}, window {window}: {len(where)} records, not the "
                               f"{rounds * classes} of its {rounds} rounds of {classes} classes")
        src = np.empty(int(sizes.sum()), dtype=np.uint8)
        at = 0
        for r in runs:
            src[at:at + len(r[4])] = np.frombuffer(r[4], dtype=np.uint8)
            at += len(r[4])
        starts = np.cumsum(sizes) - sizes
        order = np.argsort(where)
        whole = kp.windows(shard) == 1
        path = self.job.dataset(kind) / name if whole else self.job.part(kind, shard, window)
        total = int(framed.sum())
        with NewFile(path, self.job.scratch) as writer:
            out = writer.reserve(total)
            unpack_framed(self.job.codecs[kind], src, starts[order], sizes[order],
                          framed[order], out)
            digest = hashlib.sha256(out).hexdigest() if whole else None
            writer.commit()
            _note_memory()
        Metrics.counter(NAMESPACE, "windows written").inc()
        Metrics.counter(NAMESPACE, "examples written").inc(len(where))
        yield (kind, shard), (window, total, digest)


class _WriteShard(beam.DoFn):
    """A shard's one writer: its windows' parts in order (a shard of one window is already
    written whole, an empty shard is an empty file).  Gives (kind, shard name, sha256,
    bytes)."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def process(self, element: tuple[tuple[str, int], dict[str, list]],
                plans: dict[str, KindPlan], checked: bool
                ) -> Iterator[tuple[str, str, str, int]]:
        (kind, shard), joined = element
        kp = plans[kind]
        name = kp.plan.shard_names[shard]
        windows = sorted(joined["windows"])
        if [w for w, _, _ in windows] != list(range(kp.windows(shard))):
            raise RuntimeError(f"{kind} {name}: windows {[w for w, _, _ in windows]} came, not "
                               f"the {kp.windows(shard)} of its rounds")
        if len(windows) == 1:
            digest = windows[0][2]
        else:
            digest = self._concatenate(kind, shard, self.job.dataset(kind) / name, windows)
        Metrics.counter(NAMESPACE, "shards written").inc()
        log.debug("%s %s written", kind, name)
        yield kind, name, digest, sum(nbytes for _, nbytes, _ in windows)

    def _concatenate(self, kind: str, shard: int, path: StoragePath,
                     windows: list[tuple[int, int, str | None]]) -> str:
        """Writes the shard from its parts, in order; returns its sha256."""
        digest = hashlib.sha256()
        with NewFile(path, self.job.scratch) as writer:
            for window, nbytes, _ in windows:
                with self.job.part(kind, shard, window).open("rb") as part:
                    left = nbytes
                    while left:
                        out = writer.reserve(min(left, READ_PIECE))
                        _read_into(part, out)
                        digest.update(out)
                        writer.commit()
                        _note_memory()
                        left -= len(out)
        return digest.hexdigest()


def _note_memory() -> None:
    """Adds this worker process's resident memory now, with a window's buffers in hand, to the
    "worker MiB" distribution (where /proc tells it)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return
    Metrics.distribution(NAMESPACE, WORKER_MIB).update(pages * _PAGE >> 20)


def _read_into(f: Any, out: np.ndarray) -> None:
    """Fills ``out`` from ``f``."""
    view = memoryview(out).cast("B")
    while view:
        n = f.readinto(view)
        if not n:
            raise RuntimeError(f"{getattr(f, 'name', f)}: a part file ends early")
        view = view[n:]


def _every_shard(plans: dict[str, KindPlan]) -> Iterator[tuple[tuple[str, int], int]]:
    for kind, kp in plans.items():
        for shard in range(len(kp.plan.shard_names)):
            yield (kind, shard), kp.windows(shard)


def _finish(shards: list[tuple[str, str, str, int]], job: Job, plans: dict[str, KindPlan],
            results: list[tuple[int, EncodeResult]]) -> list[Built]:
    """Every kind's metadata files and manifest (fastdraw.build.finish)."""
    by_label = dict(results)
    classes = range(len(job.opts.classes))
    built = []
    for kind, kp in plans.items():
        records = {name: int(n) * len(classes)
                   for name, n in zip(kp.plan.shard_names, kp.per_shard)}
        written = {name: Written(records[name], digest, nbytes)
                   for k, name, digest, nbytes in shards if k == kind}
        built.append(finish(job.opts, job.codecs[kind], kp.plan, job.dataset(kind), written,
                            [job.rejections(j) for j in classes],
                            [by_label[j].cutoff[kind] for j in classes], job.versions))
    return built


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
        windows = (encoded[RECORDS] | "GroupWindows" >> beam.GroupByKey()
                   | "Assemble" >> beam.ParDo(_Assemble(job), plans, checked))
        shards = (root | "PlanShards" >> beam.Create([None])
                  | "Shards" >> beam.FlatMap(lambda _, p: _every_shard(p), plans))
        hashes = ({"windows": windows, "shards": shards} | "GroupShards" >> beam.CoGroupByKey()
                  | "WriteShards" >> beam.ParDo(_WriteShard(job), plans, checked))
        return (hashes | "AllShards" >> beam.combiners.ToList()
                | "Finish" >> beam.FlatMap(_finish, job, plans, AsSingleton(results)))
