"""Parallel, deterministic dataset builder: `python -m fastdraw [build]`.

A build writes the notebook's datasets: in every round of the seeded plan
(fastdraw.plan) one example of every class, in class order, goes into one
shard file; class ``j``'s example in round ``r`` is its ``r``-th usable drawing.

The main process plans and never touches example bytes.  A pool of forked
workers (fastdraw.pool) does the rest in two phases, turning drawings into
records with fastdraw.records:

1. encode, one task per class (or per class and range of rounds where workers
   would otherwise idle: fewer classes than workers, or the last wave of
   tasks holding fewer classes than workers): stream the class file with
   ``ndjson.read_drawings(limit=needed)``, rasterize / encode the chunks with
   the numba kernels (one read feeds both kinds) into records packed as
   fastdraw.compact describes (a bit per pixel, points instead of float deltas)
   and append each one to the spool file of its shard (fastdraw.spool),
   rejected lines to a per-class file;
2. write, one task per shard file: stream the spool files of its shard, one
   window of rounds at a time, interleave them round by round in class order,
   unpack and frame them, and write the shard, hashing it on the way.

The short-class check sits between the phases, so a short class stops the build
before any shard exists; so does the disk-space check, which phase 1's exact count
of every shard's bytes makes possible.  Everything is built in ``.<name>_<kind>.tmp-XXXX``
beside the target and renamed into place when complete; a failed or
interrupted build removes it.  Memory stays flat: chunks and write windows are
bounded and records wait on disk, whatever the input size.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import json
import logging
import math
import multiprocessing as mp
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numba
import numpy as np

from fastdraw import compact, example, raster, tfrecord, unaligned
from fastdraw.classes import CLASS_FILE_SUFFIXES, classes_from_args, with_close_matches
from fastdraw.cpus import usable_cpus
from fastdraw.errors import BadInputError, BuildError, InterruptedAfterPublish, TaskError
from fastdraw.groups import all_classes, sample_dir
from fastdraw.ndjson import BadLineError, Rejection, most_drawings, read_drawings
from fastdraw.plan import Plan, make_plan, parse_splits, resolve_splits
from fastdraw.pool import Pool, report, worker_pool
from fastdraw.progress import terminal_bar
from fastdraw.records import Encoding
from fastdraw.shardfile import ShardFile
from fastdraw.spool import ShardReader, SpoolSource, SpoolWriter, scratch, spool_sources
from fastdraw.tfrecord import frame_in_place

log = logging.getLogger(__name__)

KINDS = ("img", "stroke")
FORMAT = "fastdraw-dataset/1"
DEFAULT_SPLITS = {"img": "train=5000,eval=1000,test=1000",
                  "stroke": "train=50000,eval=10000,test=10000"}
SAMPLE_SPLITS = "train=0.7,eval=0.15,test=0.15"

CHUNK = 4096  # drawings a worker reads and encodes at a time (512 made phase 1 15% slower)
CHUNK_PIXELS = 4096 * 64 * 64  # at most this many pixels in a chunk's images (16 MiB)
MIN_RANGE = 2048  # fewest rounds worth a task of its own when classes are split into ranges
WINDOW = 1 << 22  # framed bytes a phase-2 task interleaves at a time (each costs a read per class)
SPACE_SLACK = 1 << 20  # bytes a build keeps free beyond its shards: files' last blocks, manifests
LOG_EVERY = 10.0  # seconds between progress log lines when stderr is not a terminal
MAX_IMG_SIZE = 32767  # pixels a side: an Example's 2 bytes a pixel stay under 2 GiB
COMPILE_NOTE_AFTER = 2.0  # seconds of warmup after which the user is told kernels compile


def _io_error(e: OSError, doing: str) -> TaskError:
    """A failed read or write while ``doing`` (such as "writing shard PATH"), described for
    the user: the file, what went wrong and, when the disk is full, what to do."""
    text = str(e) if e.filename else f"{doing}: [Errno {e.errno}] {e.strerror}"
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        text += (". Nothing was written (temporary files removed): free space on that disk "
                 "or pass --out DIR on a larger one, then run the build again")
    return TaskError(text)


@dataclass
class BuildOptions:
    """Everything a build depends on.  ``splits`` maps each kind to build to its split spec
    (counts per class, or Fractions of the smallest class's usable drawings)."""

    classes: list[str]
    files: list[Path]  # one input file per class
    name: str
    out: Path
    splits: dict[str, dict[str, int] | dict[str, Fraction]]
    shards: int = 10
    seed: int = 0
    img_size: int = 64
    line_width: int = 4
    maximize: bool = True
    include_unrecognized: bool = False
    notebook_time: bool = False
    workers: int = 1
    overwrite: bool = False
    strict: bool = False
    progress: bool = True  # a tqdm bar when stderr is a terminal


@dataclass
class Built:
    """What a build wrote for one kind."""

    kind: str
    path: Path
    counts: dict[str, int]  # examples per split, all classes
    rejected: int


# ------------------------------------------------------------------------------- kernels


def warmup(kinds: Sequence[str] = KINDS, sample: str | os.PathLike | None = None) -> None:
    """Compiles (or loads from numba's cache) the kernels a build of ``kinds`` runs, before
    forking workers; the reader's by reading the first drawing of ``sample``, an input file.

    Loading takes a fraction of a second; compiling (the first run on a machine, or after an
    upgrade) takes about half a minute, so a user who waits that long is told why.
    """
    helper = _fork_example_warmup(kinds)  # before the timer thread: fork only single-threaded
    note = threading.Timer(COMPILE_NOTE_AFTER, log.info, args=(
        "compiling fastdraw's numba kernels for this machine: about half a minute, once "
        "(later runs load them from numba's cache)",))
    note.daemon = True
    t0 = time.monotonic()
    note.start()
    try:
        _load_kernels(kinds, sample, helper)
    finally:
        note.cancel()
        note.join()
    if time.monotonic() - t0 > COMPILE_NOTE_AFTER:
        log.info("kernels ready in %.0f s", time.monotonic() - t0)


def _fork_example_warmup(kinds: Sequence[str]) -> int | None:
    """Forks a process that compiles the Example kernels and the unpackers into numba's
    cache while this one compiles the others (halving a first run's wait on 2 cores);
    returns its pid, or None on a single core or when the cache has them (loading them
    twice, there and here, cost ~70 ms)."""
    if usable_cpus() < 2 or not hasattr(os, "fork") or _cached(kinds):
        return None
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            example.warmup(kinds)
            compact.warmup(kinds)
            code = 0
        finally:
            os._exit(code)
    return pid


def _cached(kinds: Sequence[str]) -> bool:
    """Whether numba's cache index has the helper's kernels of ``kinds``, newer than their
    source (else, or if numba's internals differ, they are assumed to need compiling)."""
    kernels = [*((example._img_kernel, compact._unpack) if "img" in kinds else ()),
               *((example._stroke_packed_kernel, compact._unpack_strokes)
                 if "stroke" in kinds else ())]
    try:
        return all(os.path.getmtime(k._cache._cache_file._index_path)
                   >= os.path.getmtime(k.py_func.__code__.co_filename) for k in kernels)
    except (AttributeError, OSError):
        return False


def _load_kernels(kinds: Sequence[str], sample: str | os.PathLike | None,
                  helper: int | None) -> None:
    if "img" in kinds:
        raster.warmup()
    tfrecord.warmup()
    unaligned.warmup()
    if sample is not None:
        try:
            for _ in read_drawings(sample, limit=1, on_reject=_ignore):
                pass
        except (OSError, ValueError):  # the worker reading it reports the problem
            pass
    if helper is not None:
        os.waitpid(helper, 0)  # whatever it managed, the call below loads or compiles
    example.warmup(kinds)
    compact.warmup(kinds)



# ------------------------------------------------------------------------------- phase 0: count


@dataclass(frozen=True)
class _CountTask:
    path: str
    unrecognized: bool
    strict: bool


@dataclass
class _Rejected:
    """A file's bad lines as far as it was read: how many, and the last one."""

    count: int = 0
    last: Rejection | None = None

    def add(self, r: Rejection) -> None:
        self.count += 1
        self.last = r

    def __str__(self) -> str:
        assert self.last is not None, "said only of a file with bad lines"
        which = "line" if self.count == 1 else "the last at line"
        return f"{_lines(self.count, 'bad')}, {which} {self.last.line}: {self.last.reason}"


def _count_task(t: _CountTask) -> tuple[int, _Rejected]:
    """Usable drawings in a class file (for splits given as fractions), and its bad lines."""
    n = 0
    rejected = _Rejected()
    for d in read_drawings(t.path, chunk_size=4096, unrecognized=t.unrecognized,
                           on_reject=rejected.add, strict=t.strict):
        n += len(d)
    return n, rejected


def _ignore(_: Rejection) -> None:
    """Rejections of the kernel warmup's read: the build reports them."""


# ------------------------------------------------------------------------------- phase 1: encode


@dataclass(frozen=True)
class _KindJob:
    """One kind's share of an encode task."""

    encoding: Encoding
    spool: str  # spool directory of this kind
    rounds: int  # examples per class of this kind
    shard_id: np.ndarray  # int32, shard of rounds [task.start, min(task.end, rounds))
    shards: int  # shard files of this kind


@dataclass(frozen=True)
class _EncodeTask:
    label: int
    path: str
    part: int  # range index within the class
    start: int  # first round (= usable drawing index) encoded
    end: int  # one past the last; drawings are read up to here
    last: bool  # the class's last range: reports rejections and cut-off lines
    unrecognized: bool
    strict: bool
    jobs: tuple[_KindJob, ...]
    rejections: str  # where the last range writes the class's rejected lines (JSON lines)


@dataclass
class _EncodeResult:
    usable: int  # usable drawings read (at most task.end)
    rejected: _Rejected = field(default_factory=_Rejected)  # the last range's bad lines
    cutoff: dict[str, int] = field(default_factory=dict)  # kind -> line of its last drawing
    # kind -> int64 (2, shards): per shard, bytes in its spool record files and bytes its
    # records take framed
    nbytes: dict[str, np.ndarray] = field(default_factory=dict)


def _encode_task(t: _EncodeTask) -> _EncodeResult:
    """Phase 1 for one class (range): read, encode, frame and spool its records."""
    writers = {job.encoding.kind: SpoolWriter(job.spool, t.label, t.part, job.shard_id,
                                              job.shards)
               for job in t.jobs}
    result = _EncodeResult(usable=0)
    t0 = time.monotonic()
    try:
        try:
            _encode_into(t, writers, result)
        finally:
            for w in writers.values():
                w.close()
    except BadLineError:
        raise
    except OSError as e:  # reading the class file, or writing the spool
        raise _io_error(e, f"encoding {t.path} into the spool in "
                           f"{os.path.dirname(t.jobs[0].spool)}") from e
    except Exception as e:
        raise TaskError(f"{t.path}: {type(e).__name__}: {e}") from e
    result.nbytes = {kind: np.stack([w.spooled, w.framed]) for kind, w in writers.items()}
    log.debug("%s: rounds %d-%d encoded (%d drawings read) in %.2f s", t.path, t.start,
              min(t.end, result.usable), result.usable, time.monotonic() - t0)
    return result


def _chunk_size(t: _EncodeTask) -> int:
    """Drawings per chunk: CHUNK, or fewer when the chunk's images would pass CHUNK_PIXELS
    (a worker's working set stays bounded for large --img-size)."""
    pixels = [job.encoding.img_size ** 2 for job in t.jobs if job.encoding.kind == "img"]
    return max(1, min([CHUNK, *(CHUNK_PIXELS // p for p in pixels)]))


def _encode_into(t: _EncodeTask, writers: dict[str, SpoolWriter], result: _EncodeResult) -> None:
    """Streams the class file; encodes the task's rounds of every kind into ``writers``."""
    with open(t.rejections, "w", encoding="utf-8") if t.last else nullcontext() as rejected:

        def on_reject(r: Rejection) -> None:
            if rejected is not None:
                rejected.write(json.dumps(r.to_dict()) + "\n")
                result.rejected.add(r)

        for d in read_drawings(t.path, chunk_size=_chunk_size(t), unrecognized=t.unrecognized,
                               limit=t.end, on_reject=on_reject, strict=t.strict):
            g0 = result.usable
            result.usable += len(d)
            done = 0
            for job in t.jobs:
                kind = job.encoding.kind
                if g0 < job.rounds <= result.usable:
                    result.cutoff[kind] = int(d.line[job.rounds - 1 - g0])
                lo, hi = max(t.start, g0), min(t.end, job.rounds, result.usable)
                if lo >= hi:
                    continue
                buf, offsets, framed = job.encoding.spooled(t.label, d.slice(lo - g0, hi - g0))
                writers[kind].add(buf, offsets, framed, job.shard_id[lo - t.start:hi - t.start])
                done += hi - lo
            report(done)


# ------------------------------------------------------------------------------- phase 2: write


@dataclass(frozen=True)
class _WriteTask:
    path: str  # the shard file to write
    rounds: int  # rounds in this shard
    sources: tuple[tuple[SpoolSource, ...], ...]  # per class: its ranges' records, in order
    pixels: int  # pixels of an img record's image; 0: stroke records


def _write_task(t: _WriteTask) -> str:
    """Phase 2 for one shard: interleave its records round by round in class order, write
    the shard; returns its sha256."""
    reader = ShardReader(t.sources, t.rounds)
    digest = hashlib.sha256()
    try:
        _write_shard(t, reader, digest.update)
    except OSError as e:
        raise _io_error(e, f"writing shard {t.path}") from e
    finally:
        reader.close()
    reader.remove()  # frees their page cache early and spreads the deletes over the workers
    return digest.hexdigest()


def _write_shard(t: _WriteTask, reader: ShardReader, hash_update: Callable[[Any], None]
                 ) -> None:
    """Writes shard ``t.path`` from ``reader``, a window of rounds at a time, passing its
    bytes to ``hash_update`` on the way."""
    classes = len(t.sources)
    # Bytes of a round once framed: guessed for the first window (an image's pixels take 1
    # or 2 bytes, not a bit), then as the windows so far had them.
    per_round = reader.nbytes / max(1, t.rounds) + classes * t.pixels
    shard = ShardFile(t.path)
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
            at = np.concatenate(([0], np.cumsum(framed)[:-1]))
            if t.pixels:
                compact.unpack(src, starts, sizes, t.pixels, out, at)
            else:
                compact.unpack_strokes(src, starts, sizes, out, at)
            frame_in_place(out, np.append(at, len(out)))
            hash_update(out)
            shard.commit()
            done += w
            written += len(out)
            per_round = written / done
            report(w * classes)
    finally:
        shard.close()


# ------------------------------------------------------------------------------- progress


class _Progress:
    """A tqdm bar on a terminal (fastdraw.progress), else a log line every LOG_EVERY seconds."""

    def __init__(self, what: str, total: int, unit: str, show: bool) -> None:
        self.what, self.total, self.unit = what, total, unit
        self.done = 0
        self.t0 = self._last = time.monotonic()
        self.bar = terminal_bar(total=total, desc=what, unit=unit, unit_scale=True) \
            if show else None

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.monotonic()
        if now - self._last >= LOG_EVERY and self.done:
            self._last = now
            rate = self.done / (now - self.t0)
            eta = (self.total - self.done) / rate if rate else math.inf
            log.info("%s: %d/%d %s (%.0f%%), %.0f %s/s, ETA %.0f s", self.what, self.done,
                     self.total, self.unit, 100 * self.done / max(1, self.total), rate,
                     self.unit, eta)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ------------------------------------------------------------------------------- the build


def _target(opts: BuildOptions, kind: str) -> Path:
    return opts.out / f"{opts.name}_{kind}"


def _check_img_options(opts: BuildOptions) -> None:
    if not 1 <= opts.img_size <= MAX_IMG_SIZE:
        raise BuildError(f"--img-size must be 1 to {MAX_IMG_SIZE} pixels, not {opts.img_size} "
                         "(a larger image's Example could pass the 2 GiB that TensorFlow "
                         "reads: its pixels take up to 2 bytes each)")
    if opts.line_width < 1:
        raise BuildError(f"--line-width must be at least 1 pixel, not {opts.line_width}")


def _check_targets(opts: BuildOptions) -> None:
    for kind in opts.splits:
        target = _target(opts, kind)
        if (target.exists() or target.is_symlink()) and not opts.overwrite:
            raise BuildError(f"{target} already exists: pass --overwrite to replace it "
                             "(or choose another --name or --out)")


def _class_ranges(needed: int, classes: int, workers: int) -> list[list[tuple[int, int]]]:
    """The round ranges of every class's encode tasks: one range a class, unless workers would
    idle beside the last tasks.  With fewer classes than workers every class is split; else
    the last ``classes % workers`` classes are, each into enough ranges to fill that last
    wave of tasks.  A range reads its file from the start, so ranges are never shorter than
    MIN_RANGE rounds."""

    def split(parts: int) -> list[tuple[int, int]]:
        parts = max(1, min(parts, needed // MIN_RANGE))
        return [(needed * p // parts, needed * (p + 1) // parts) for p in range(parts)]

    if classes < workers:
        return [split(math.ceil(workers / classes))] * classes
    left = classes % workers
    return [split(1)] * (classes - left) + [split(math.ceil(workers / max(1, left)))] * left


def _usable(opts: BuildOptions) -> str:
    return "usable drawings" if opts.include_unrecognized else "recognized drawings"


def _check_files_can_hold(opts: BuildOptions) -> None:
    """Stops a build whose split counts ask for more drawings per class than some file's size
    allows (such as a typo in --splits) before the plan takes its time and memory."""
    needed = max((sum(s.values()) for s in opts.splits.values()
                  if not any(isinstance(v, Fraction) for v in s.values())), default=0)
    small = [(path, most) for path in opts.files if (most := most_drawings(path)) < needed]
    if small:
        raise BuildError(
            f"--splits asks for {needed} drawings per class, more than "
            + ", ".join(f"{path} can hold (at most {most}, from its size)" for path, most in small)
            + ". Nothing was written: ask for fewer examples per class with --splits (counts, "
            "or fractions such as train=0.7,eval=0.15,test=0.15)")


def _fraction_splits(opts: BuildOptions, pool: Pool) -> dict[str, dict[str, int]]:
    """Resolves splits given as fractions by counting every class's usable drawings."""
    if not any(isinstance(v, Fraction) for s in opts.splits.values() for v in s.values()):
        return {kind: resolve_splits(s, 0) for kind, s in opts.splits.items()}
    tasks = [_CountTask(str(p), opts.include_unrecognized, opts.strict) for p in opts.files]
    counts = [0] * len(tasks)
    progress = _Progress("count", len(tasks), "files", opts.progress)
    try:
        for i, (n, rejected) in pool.run(_count_task, tasks, progress.update):
            counts[i] = n
            progress.update(1)
            if rejected.count:
                # The build lists in rejected.ndjson only those among the drawings it uses.
                log.warning("%s: %s; %d %s counted", tasks[i].path, rejected, n, _usable(opts))
    finally:
        progress.close()
    smallest = min(counts)
    j = counts.index(smallest)
    log.info("smallest class: %r with %d %s", opts.classes[j], smallest, _usable(opts))
    out = {}
    for kind, spec in opts.splits.items():
        out[kind] = resolve_splits(spec, smallest)
        if sum(out[kind].values()) == 0:
            raise BuildError(f"the smallest class, {opts.classes[j]!r}, has {smallest} "
                             f"{_usable(opts)}: the split fractions give no example; "
                             "give the splits as counts, or add drawings")
    return out


def build(opts: BuildOptions) -> list[Built]:
    """Builds ``<out>/<name>_<kind>/`` for every kind of ``opts.splits``; see the module doc."""
    if len(opts.files) != len(opts.classes):
        raise ValueError("one input file per class")
    if opts.workers < 1:
        raise BuildError(f"--workers must be at least 1, not {opts.workers}")
    if opts.shards < 1:
        raise BuildError(f"--shards must be at least 1, not {opts.shards}")
    if "img" in opts.splits:
        _check_img_options(opts)
    if opts.workers > (cpus := usable_cpus()):
        log.warning("%d workers, and this process may use %d CPU%s: the workers will take "
                    "turns, which makes the build slower, not faster (--workers %d is the "
                    "default)", opts.workers, cpus, "" if cpus == 1 else "s", cpus)
    _check_targets(opts)
    if opts.out.exists() and not opts.out.is_dir():
        raise BuildError(f"--out {opts.out} is a file: give a directory (one that does not "
                         "exist yet is created)")
    _check_files_can_hold(opts)
    try:
        opts.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BuildError(f"cannot create --out {opts.out}: {e.strerror}"
                         + (f" ({e.filename})" if e.filename and str(e.filename) != str(opts.out)
                            else "") + ": give a directory you can write to") from None
    t0 = time.monotonic()
    warmup(list(opts.splits), opts.files[0])
    tmp: dict[str, Path] = {}
    previous = _interrupt_on_sigterm()
    try:
        mode = _dir_mode()
        for kind in opts.splits:
            try:
                tmp[kind] = Path(tempfile.mkdtemp(prefix=f".{opts.name}_{kind}.tmp-",
                                                  dir=opts.out))
            except OSError as e:
                raise BuildError(f"cannot write in --out {opts.out}: {e.strerror}: give a "
                                 "directory you can write to") from None
            tmp[kind].chmod(mode)  # mkdtemp's 0700 would stick to the published dataset
            (tmp[kind] / ".spool").mkdir()
        with _mp_logging(), worker_pool(opts.workers) as pool:
            splits = _fraction_splits(opts, pool)
            plans = {kind: make_plan(s, opts.shards, opts.seed) for kind, s in splits.items()}
            # Phase 1 spools every class range's records in files that phase 2 reads back.
            ranges = _class_ranges(max(plan.rounds for plan in plans.values()),
                                   len(opts.classes), opts.workers)
            cutoffs, nbytes = _encode(opts, plans, ranges, tmp, pool)
            _check_space(opts, nbytes)
            hashes = _write(opts, plans, ranges, tmp, pool,
                            sum(int(n[1].sum()) for n in nbytes.values()))
        rejections = _rejection_files(opts, tmp)
        built = [_finish(opts, kind, plans[kind], tmp[kind], hashes[kind], rejections,
                         cutoffs[kind]) for kind in plans]
        for path in tmp.values():
            shutil.rmtree(path / ".spool")
        _publish(opts, tmp)
    except BaseException:
        for path in tmp.values():
            shutil.rmtree(path, ignore_errors=True)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    _summary(opts, built, time.monotonic() - t0)
    return built


def _rejection_files(opts: BuildOptions, tmp: dict[str, Path]) -> list[Path]:
    """Where phase 1 leaves every class's rejected lines (in the first kind's spool)."""
    spool = tmp[next(iter(tmp))] / ".spool"
    return [spool / f"rejected-{j:05d}.ndjson" for j in range(len(opts.classes))]


def _dir_mode() -> int:
    """A new directory's usual mode under the process umask."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o777 & ~umask


def _encode(opts: BuildOptions, plans: dict[str, Plan], ranges: list[list[tuple[int, int]]],
            tmp: dict[str, Path], pool: Pool
            ) -> tuple[dict[str, list[int]], dict[str, np.ndarray]]:
    """Phase 1, a task per class range; returns every kind's per-class cut-off line for
    rejected.ndjson, and its shards' bytes ((2, shards) int64: spooled, and to write)."""
    rejections = _rejection_files(opts, tmp)
    tasks = []
    for j, path in enumerate(opts.files):
        for part, (a, b) in enumerate(ranges[j]):
            jobs = tuple(
                _KindJob(Encoding(kind, opts.img_size, opts.line_width, opts.maximize,
                                   opts.notebook_time),
                         str(tmp[kind] / ".spool"), plan.rounds,
                         plan.shard_id[a:min(b, plan.rounds)], len(plan.shard_names))
                for kind, plan in plans.items())
            tasks.append(_EncodeTask(j, str(path), part, a, b, part == len(ranges[j]) - 1,
                                     opts.include_unrecognized, opts.strict, jobs,
                                     str(rejections[j])))
    tasks.sort(key=lambda t: -t.end)  # the longest reads first
    total = sum(plan.rounds for plan in plans.values()) * len(opts.classes)
    log.info("encoding %d examples of %d classes (%s) with %d workers", total,
             len(opts.classes), ", ".join(plans), opts.workers)
    t0 = time.monotonic()
    progress = _Progress("encode", total, "ex", opts.progress)
    results: dict[int, _EncodeResult] = {}
    nbytes = {kind: np.zeros((2, len(plan.shard_names)), dtype=np.int64)
              for kind, plan in plans.items()}
    try:
        for i, result in pool.run(_encode_task, tasks, progress.update):
            if tasks[i].last:
                results[tasks[i].label] = result
            for kind, n in result.nbytes.items():
                nbytes[kind] += n
    finally:
        progress.close()
    short = []
    for kind, plan in plans.items():
        few = [(opts.classes[j], r) for j, r in sorted(results.items())
               if r.usable < plan.rounds]
        if few:
            split_text = "+".join(f"{s}={n}" for s, n in plan.splits.items())
            short.append(f"{kind} needs {plan.rounds} {_usable(opts)} per class ({split_text}); "
                         "too few in " + ", ".join(
                             f"{c!r} ({r.usable}" + (f"; {r.rejected}" if r.rejected.count
                                                     else "") + ")" for c, r in few))
    if short:
        raise BuildError("not enough drawings: " + "; ".join(short) + ". Nothing was written: "
                         "ask for fewer examples per class with --splits (counts, or fractions "
                         "such as train=0.7,eval=0.15,test=0.15)"
                         + ("" if opts.include_unrecognized else
                            ", or add --include-unrecognized"))
    log.info("encoded in %.2f s; the shards will take %s", time.monotonic() - t0,
             ", ".join(f"{_size(int(n[1].sum()))} ({kind})" for kind, n in nbytes.items()))
    return ({kind: [results[j].cutoff[kind] for j in range(len(opts.classes))]
             for kind in plans}, nbytes)


def _check_space(opts: BuildOptions, nbytes: dict[str, np.ndarray]) -> None:
    """Stops the build before phase 2 if the shards cannot fit beside the spool.

    A write task frees its shard's spool record files only when the shard is complete, so
    at worst the disk must hold every shard, less the record files of finished ones: all
    the shards' bytes less all the record files, plus those of the ``workers`` biggest
    shards in flight.
    """
    spooled = np.concatenate([n[0] for n in nbytes.values()])
    framed = int(sum(int(n[1].sum()) for n in nbytes.values()))
    in_flight = int(np.sort(spooled)[::-1][:opts.workers].sum())
    need = max(0, framed - int(spooled.sum()) + in_flight) + SPACE_SLACK
    free = shutil.disk_usage(opts.out).free
    if need > free:
        raise BuildError(
            f"not enough disk space in {opts.out}: the shards take {_size(framed)} "
            f"({_size(need)} more than the spool they replace) and {_size(free)} is free. "
            "Nothing was written (temporary files removed): free space there or pass "
            "--out DIR on a larger disk, then run the build again")


def _size(n: int) -> str:
    """Bytes for people: 512 B, 3.4 MiB, 4.21 GiB."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.{2 if unit == 'GiB' else 1}f} {unit}"
    return f"{n} B"


def _write(opts: BuildOptions, plans: dict[str, Plan], ranges: list[list[tuple[int, int]]],
           tmp: dict[str, Path], pool: Pool, nbytes: int) -> dict[str, dict[str, str]]:
    """Phase 2, a task per shard file, reading the spool of phase 1's class ``ranges``
    (``nbytes``: what phase 1 counted the shards would take); returns every kind's shard
    sha256s."""
    tasks, names = [], []
    for kind, plan in plans.items():
        spool = tmp[kind] / ".spool"
        # As the encode tasks' SpoolWriters placed them:
        where = [[spool_sources(spool, j, p, plan.shard_id[a:min(b, plan.rounds)],
                                len(plan.shard_names)) for p, (a, b) in enumerate(ranges[j])]
                 for j in range(len(opts.classes))]
        per_shard = plan.rounds_per_shard()
        for s, shard in enumerate(plan.shard_names):
            sources = tuple(tuple(part[s] for part in parts) for parts in where)
            tasks.append(_WriteTask(str(tmp[kind] / shard), int(per_shard[s]), sources,
                                    opts.img_size ** 2 if kind == "img" else 0))
            names.append((kind, shard))
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i].rounds)
    total = sum(t.rounds for t in tasks) * len(opts.classes)
    t0 = time.monotonic()
    progress = _Progress("write", total, "ex", opts.progress)
    hashes: dict[str, dict[str, str]] = {kind: {} for kind in plans}
    try:
        for i, digest in pool.run(_write_task, [tasks[i] for i in order], progress.update):
            kind, shard = names[order[i]]
            hashes[kind][shard] = digest
    finally:
        progress.close()
    seconds = time.monotonic() - t0
    # The rate says when the disk, not the workers, sets the pace of this phase.
    log.info("wrote %d shard files (%s) in %.2f s, %.0f MB/s", len(tasks), _size(nbytes),
             seconds, nbytes / max(seconds, 1e-9) / 1e6)
    return hashes


def _finish(opts: BuildOptions, kind: str, plan: Plan, tmp: Path, hashes: dict[str, str],
            rejections: list[Path], cutoff: list[int]) -> Built:
    """Writes labels.txt, counts.json, rejected.ndjson and manifest.json of one kind."""
    import fastdraw

    classes = len(opts.classes)
    (tmp / "labels.txt").write_text("\n".join(opts.classes), encoding="utf-8")
    counts = {split: n * classes for split, n in plan.splits.items()}
    (tmp / "counts.json").write_text(json.dumps(counts), encoding="utf-8")
    rejected = 0
    with open(tmp / "rejected.ndjson", "w", encoding="utf-8") as out:
        for src, cut in zip(rejections, cutoff):
            with open(src, encoding="utf-8") as f:
                for line in f:
                    if json.loads(line)["line"] < cut:
                        out.write(line)
                        rejected += 1
    per_shard = plan.rounds_per_shard()
    manifest = {
        "format": FORMAT,
        "kind": kind,
        "name": opts.name,
        "classes": list(opts.classes),
        "options": {
            "splits": plan.splits, "shards": opts.shards, "seed": opts.seed,
            "img_size": opts.img_size, "line_width": opts.line_width, "maximize": opts.maximize,
            "include_unrecognized": opts.include_unrecognized,
            "notebook_time": opts.notebook_time,
        },
        "versions": {"fastdraw": fastdraw.__version__, "numpy": np.__version__,
                     "numba": numba.__version__},
        "records": plan.rounds * classes,
        "rejected": rejected,
        "shards": {shard: {"records": int(per_shard[s]) * classes, "sha256": hashes[shard]}
                   for s, shard in enumerate(plan.shard_names)},
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, sort_keys=True, indent=2) + "\n",
                                       encoding="utf-8")
    return Built(kind, _target(opts, kind), counts, rejected)


def _publish(opts: BuildOptions, tmp: dict[str, Path]) -> None:
    """Renames every complete temporary directory into place; an old dataset (--overwrite)
    is moved aside first and removed once the new ones are in place.  Ctrl-C and SIGTERM
    wait until every kind is swapped, so the datasets are all old or all new; one that
    came meanwhile raises InterruptedAfterPublish."""
    for kind in tmp:
        target = _target(opts, kind)
        if (target.exists() or target.is_symlink()) and not opts.overwrite:
            raise BuildError(f"{target} appeared during the build: pass --overwrite to "
                             "replace it")
    published = False
    try:
        with _signals_deferred():
            old = []
            for kind, path in tmp.items():
                target = _target(opts, kind)
                if target.exists() or target.is_symlink():
                    old.append(path.with_name(path.name.replace(".tmp-", ".old-")))
                    os.replace(target, old[-1])
                os.replace(path, target)
            for path in old:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            published = True
    except KeyboardInterrupt:
        if published:
            raise InterruptedAfterPublish(
                "interrupted once the build was complete: "
                + ", ".join(str(_target(opts, kind)) for kind in tmp)
                + " are in place and whole") from None
        raise


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM are held back inside the block and raised again on leaving it.

    Python-level handlers, not a thread signal mask: a process-wide signal may go to any
    thread that does not block it, and Python runs its handler in the main thread anyway.
    """
    held: list[int] = []
    signals = (signal.SIGINT, signal.SIGTERM)
    try:
        previous = [signal.signal(s, lambda signum, _: held.append(signum)) for s in signals]
    except ValueError:  # not the main thread: signals cannot reach this code there
        previous = []
    try:
        yield
    finally:
        for s, handler in zip(signals, previous):
            signal.signal(s, handler)
        if held:
            signal.raise_signal(held[0])


def _summary(opts: BuildOptions, built: list[Built], seconds: float) -> None:
    total = 0
    for b in built:
        n = sum(b.counts.values())
        total += n
        log.info("%s: %s (%d classes, %d examples), %s", b.path,
                 ", ".join(f"{s} {c}" for s, c in b.counts.items()), len(opts.classes), n,
                 _lines(b.rejected, "rejected"))
        if b.rejected:
            log.warning("%s skipped: see %s", _lines(b.rejected, "bad input"),
                        b.path / "rejected.ndjson")
    log.info("built %d examples in %.1f s (%.0f examples/s)", total, seconds,
             total / max(seconds, 1e-9))


def _lines(n: int, what: str) -> str:
    return f"{n} {what} line" if n == 1 else f"{n} {what} lines"


def _interrupt_on_sigterm() -> Any:
    """SIGTERM interrupts the build like Ctrl-C (so it cleans up); returns the old handler."""
    try:
        return signal.signal(signal.SIGTERM, signal.default_int_handler)
    except ValueError:  # not the main thread: leave signals alone
        return None


@contextmanager
def _mp_logging() -> Iterator[None]:
    """Routes the workers' log records through the main process's handlers.

    Workers log per-task details at DEBUG only; unless those are enabled (-v) there is
    nothing to route, and the handler is left out: closing it costs up to 0.2 s (its
    receiver thread polls), which is serial time in every build.  (A stray worker warning
    would still reach stderr, through the handler it inherited.)
    """
    import multiprocessing_logging

    root = logging.getLogger()
    if (not root.handlers or mp.get_start_method() != "fork"
            or not log.isEnabledFor(logging.DEBUG)):
        yield
        return
    multiprocessing_logging.install_mp_handler(root)
    wrapped = [h for h in root.handlers
               if isinstance(h, multiprocessing_logging.MultiProcessingHandler)]
    try:
        yield
    finally:
        multiprocessing_logging.uninstall_mp_handler(root)
        for h in wrapped:
            h.close()


# ------------------------------------------------------------------------------- CLI


def _find_file(data: Path, name: str) -> Path | None:
    for suffix in CLASS_FILE_SUFFIXES:
        path = data / f"{name}{suffix}"
        if path.is_file():
            return path
    return None


def _input_files(classes: list[str], data: Path, *, sample: bool, offline: bool, fmt: str,
                 base_url: str) -> list[Path]:
    """Every class's file in ``data`` (``<class>.ndjson`` or ``.ndjson.gz``); missing ones are
    downloaded unless ``offline`` or ``sample``."""
    found = {name: _find_file(data, name) for name in classes}
    missing = [name for name, path in found.items() if path is None]
    if missing and sample:
        known = all_classes()
        named = ", ".join(with_close_matches(name, known) for name in missing)
        raise BuildError(f"not in the bundled sample: {named}; it has the "
                         f"{len(known)} Quick, Draw! categories (`python -m fastdraw list`)")
    if missing and offline:
        known = all_classes()
        text = (f"--offline, and {len(missing)} class "
                f"{'files are' if len(missing) > 1 else 'file is'} missing: "
                + ", ".join(str(data / f"{name}.ndjson") for name in missing) + ".")
        fetchable = [name for name in missing if name in known]
        if fetchable:
            text += (f" Download {'them' if len(fetchable) > 1 else 'it'}: python -m fastdraw "
                     f"download --classes {','.join(fetchable)!r} --data {str(data)!r} (or "
                     "leave out --offline).")
        unknown = [with_close_matches(name, known) for name in missing if name not in known]
        if unknown:
            text += (" No Quick, Draw! category is named " + ", ".join(unknown)
                     + " (`python -m fastdraw list` lists them).")
        raise BuildError(text)
    if missing:
        from fastdraw.bucket import ensure_downloaded

        log.info("downloading %d missing class files into %s", len(missing), data)
        try:
            paths = ensure_downloaded(missing, data, fmt=fmt, base_url=base_url,
                                      progress=sys.stderr.isatty())
        except (RuntimeError, ValueError, OSError) as e:
            raise BuildError(f"cannot download the missing class files into {data}: {e}; "
                             "retry, or download them yourself and use --offline") from None
        found.update(zip(missing, paths))
    return [found[name] for name in classes]  # type: ignore[misc]


def _kinds(text: str) -> list[str]:
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise BuildError(f"--kind {text!r}: choose img, stroke or img,stroke")
    return [k for k in KINDS if k in kinds]


def options_from_args(args: argparse.Namespace) -> BuildOptions:
    """BuildOptions from the build command line (resolving classes, files and splits;
    downloading missing class files unless --offline)."""
    try:
        classes = classes_from_args(args)
        if args.splits:
            spec = parse_splits(args.splits)
            splits = {kind: spec for kind in _kinds(args.kind)}
        elif args.sample:
            splits = {kind: parse_splits(SAMPLE_SPLITS) for kind in _kinds(args.kind)}
        else:
            splits = {kind: parse_splits(DEFAULT_SPLITS[kind]) for kind in _kinds(args.kind)}
    except ValueError as e:
        raise BuildError(str(e)) from None
    name = args.name or (args.group if args.group else "custom")
    if not name or "/" in name or name.startswith(".") or os.sep in name:
        raise BuildError(f"--name {name!r}: give a plain name (no '/', not starting with '.')")
    if args.sample:
        data, out = Path(sample_dir()), Path(args.out or "data")
    else:
        data = Path(args.data or "data")
        out = Path(args.out) if args.out else data
    files = _input_files(classes, data, sample=args.sample, offline=args.offline,
                         fmt=args.format, base_url=args.base_url)
    return BuildOptions(
        classes=classes, files=files, name=name, out=out, splits=splits, shards=args.shards,
        seed=args.seed, img_size=args.img_size, line_width=args.line_width,
        maximize=not args.no_maximize, include_unrecognized=args.include_unrecognized,
        notebook_time=args.notebook_time, workers=args.workers, overwrite=args.overwrite,
        strict=args.strict,
    )


def cli_build(args: argparse.Namespace) -> int:
    """`python -m fastdraw [build]`: 0 when built, 1 on an error, 2 on a bad line under
    --strict, 130 when interrupted."""
    try:
        build(options_from_args(args))
    except BadInputError as e:
        log.error("%s", e)
        return 2
    except BuildError as e:
        log.error("%s", e)
        return 1
    except OSError as e:  # the main process's own reads and writes
        log.error("%s", _io_error(e, f"building in {args.out or args.data or 'data'}"))
        return 1
    except InterruptedAfterPublish as e:
        log.error("%s", e)
        return 130
    except KeyboardInterrupt:
        log.error("interrupted: nothing was written (temporary files removed)")
        return 130
    return 0
