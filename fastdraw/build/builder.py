"""Parallel, deterministic dataset builder: `python -m fastdraw [build]`.

A build writes the notebook's datasets: in every round of the seeded plan
(fastdraw.build.plan) one example of every class, in class order, goes into one
shard file; class ``j``'s example in round ``r`` is its ``r``-th usable drawing.

The main process plans and never touches example bytes.  An executor (the
forked workers of fastdraw.build.executor) does the rest in two phases, turning
drawings into records with each kind's codec (fastdraw.codecs):

1. encode (fastdraw.build.encode), one task per class (or per class and range of
   rounds where workers would otherwise idle: fewer classes than workers, or the last
   wave of tasks holding fewer classes than workers): stream the class file from its
   source (``limit=needed``), screened (fastdraw.build.screen: what a codec cannot encode
   exactly, another class's word, a repeated key_id are rejected lines), encode the
   chunks with every kind's codec (one read feeds all kinds) into packed records (a bit
   per pixel, points instead of float deltas)
   and append each one to the spool file of its shard (fastdraw.build.spool),
   rejected lines to a per-class file;
2. write (fastdraw.build.assemble), one task per shard file: stream the spool files of
   its shard, one window of rounds at a time, interleave them round by round in class
   order, unpack and frame them, and write the shard, hashing it on the way.

The short-class check sits between the phases, so a short class stops the build
before any shard exists; so do the check that no drawing is in two class files
(fastdraw.build.keys) and the disk-space check, which phase 1's exact count
of every shard's bytes makes possible.  Builds of one name in one directory take turns; each
works in ``.<name>.tmp-<id>/<kind>/`` beside its targets and makes it the current build when
complete (fastdraw.build.publish); a failed or interrupted build removes it, a killed one
leaves it to the next build of the name.  Memory stays flat: chunks and write windows are
bounded and records wait on disk, whatever the input size.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from fastdraw.build.assemble import WriteTask, write_task
from fastdraw.build.checks import (
    check_enough_drawings,
    check_files_can_hold,
    checked_codecs,
    make_plans,
    needs_counts,
    repeat_error,
    resolved_splits,
    warn_small_splits,
)
from fastdraw.build.classfiles import ClassFileTask, write_class_file
from fastdraw.build.encode import (
    ClassRange,
    CountTask,
    EncodeResult,
    EncodeTask,
    KindJob,
    count_task,
    encode_task,
    plural,
)
from fastdraw.build.executor import Executor, Report, worker_pool
from fastdraw.build.finish import Built, Written, finish, summary
from fastdraw.build.finish import versions as manifest_versions
from fastdraw.build.keys import find_repeat, keys_path
from fastdraw.build.options import BuildOptions
from fastdraw.build.plan import Plan, class_ranges
from fastdraw.build.publish import (
    current_link_problem,
    interrupt_on_sigterm,
    name_problem,
    new_workdir,
    publish,
    remove_leftovers,
    taking_turns,
    target_problem,
)
from fastdraw.build.spool import rejections_path, remove_spool, spool_sources
from fastdraw.build.warmup import warmup
from fastdraw.codecs import Codec
from fastdraw.cpus import usable_cpus
from fastdraw.errors import BuildError, InterruptedAfterPublish, OptionError
from fastdraw.progress import Progress, size_text

log = logging.getLogger(__name__)

SPACE_SLACK = 1 << 20  # bytes a build keeps free beyond its shards: files' last blocks, manifests


# ------------------------------------------------------------------------------- the build


def check_targets(opts: BuildOptions) -> None:
    """Stops a build whose datasets cannot be published where they go (see
    fastdraw.build.publish.target_problem)."""
    if problem := name_problem(opts.name) or current_link_problem(opts.out, opts.name):
        raise BuildError(problem)
    for kind in opts.splits:
        if problem := target_problem(opts.target(kind), opts.name, kind, opts.overwrite):
            raise BuildError(problem)


def _fraction_splits(opts: BuildOptions, codecs: dict[str, Codec], pool: Executor
                     ) -> dict[str, dict[str, int]]:
    """Resolves splits given as fractions by counting every class's usable drawings."""
    if not needs_counts(opts):
        return resolved_splits(opts, [])
    tasks = [CountTask(name, str(p), opts.include_unrecognized, opts.strict,
                       tuple(codecs.values())) for name, p in zip(opts.classes, opts.files)]
    counts = [0] * len(tasks)
    progress = Progress("count", len(tasks), "files", opts.progress)
    try:
        for i, (n, rejected) in pool.run(count_task, tasks, progress.update):
            counts[i] = n
            progress.update(1)
            if rejected.count:
                # The build lists in rejected.ndjson only those among the drawings it uses.
                log.warning("%s: %s; %d %s counted", tasks[i].path, rejected, n, opts.usable())
    finally:
        progress.close()
    return resolved_splits(opts, counts)


def check_out(opts: BuildOptions) -> None:
    """Stops a build whose --out is a file, or whose datasets cannot go there."""
    check_targets(opts)
    if opts.out.exists() and not opts.out.is_dir():
        raise BuildError(f"--out {opts.out} is a file: give a directory (one that does not "
                         "exist yet is created)")


def make_out(opts: BuildOptions) -> None:
    """Creates the --out directory, if it does not exist."""
    try:
        opts.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BuildError(f"cannot create --out {opts.out}: {e.strerror}"
                         + (f" ({e.filename})" if e.filename and str(e.filename) != str(opts.out)
                            else "") + ": give a directory you can write to") from None


def build(opts: BuildOptions) -> list[Built]:
    """Builds ``<out>/<name>_<kind>/`` for every kind of ``opts.splits``; see the module doc."""
    if opts.workers < 1:
        raise OptionError(f"--workers must be at least 1, not {opts.workers}")
    codecs = checked_codecs(opts)
    if opts.workers > (cpus := usable_cpus()):
        log.warning("%d workers, and this process may use %d CPU%s: the workers will take "
                    "turns, which makes the build slower, not faster (--workers %d is the "
                    "default)", opts.workers, cpus, "" if cpus == 1 else "s", cpus)
    check_out(opts)
    check_files_can_hold(opts)
    make_out(opts)
    versions = manifest_versions()
    previous = interrupt_on_sigterm()
    built = None
    try:
        with taking_turns(opts.out, opts.name) as locked:
            warmup(list(codecs.values()), opts.files)
            t0 = time.monotonic()  # the build's own time, the kernels' apart (logged there)
            remove_leftovers(opts.out, opts.name, locked)
            check_targets(opts)  # again: the build that held the lock may have made them
            built = _build_in(opts, codecs, versions)
        summary(opts, built, time.monotonic() - t0)
    except KeyboardInterrupt as e:
        if built is None or isinstance(e, InterruptedAfterPublish):
            raise
        raise InterruptedAfterPublish(
            "interrupted once the build was complete: "
            + ", ".join(str(opts.target(kind)) for kind in opts.splits)
            + " are in place and whole") from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return built


def _build_in(opts: BuildOptions, codecs: dict[str, Codec], versions: dict[str, str]
              ) -> list[Built]:
    """The build in a new ``.<name>.tmp-<id>`` of ``opts.out``, published when complete and
    removed if anything fails or interrupts it."""
    try:
        work = new_workdir(opts.out, opts.name)
    except OSError as e:
        raise BuildError(f"cannot write in --out {opts.out}: {e.strerror}: give a "
                         "directory you can write to") from None
    try:
        tmp = {}
        for kind in opts.splits:
            tmp[kind] = work / kind
            tmp[kind].mkdir()
        with _mp_logging(), worker_pool(opts.workers) as pool:
            splits = _fraction_splits(opts, codecs, pool)
            plans = make_plans(opts, codecs, splits)
            warn_small_splits(opts, plans)
            # Phase 1 spools every class range's records in files that phase 2 reads back.
            ranges = class_ranges(max(plan.rounds for plan in plans.values()),
                                  len(opts.classes), opts.workers)
            cutoffs, nbytes = _encode(opts, codecs, plans, ranges, tmp, pool)
            _check_repeats(opts, ranges, tmp)
            _check_space(opts, nbytes)
            written = _write(opts, codecs, plans, ranges, tmp, pool,
                             sum(int(n[1].sum()) for n in nbytes.values()))
        rejections = _rejection_files(opts, tmp)
        built = [finish(opts, codecs[kind], plans[kind], tmp[kind], written[kind], rejections,
                        cutoffs[kind], versions) for kind in plans]
        for path in tmp.values():
            remove_spool(path)
        publish(work, opts.name, {kind: opts.target(kind) for kind in tmp}, opts.overwrite)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return built


def _spool(tmp: dict[str, Path]) -> Path:
    """Where phase 1 leaves what is not any kind's: the first kind's temporary directory."""
    return tmp[next(iter(tmp))]


def _rejection_files(opts: BuildOptions, tmp: dict[str, Path]) -> list[Path]:
    """Where phase 1 leaves every class's rejected lines."""
    return [rejections_path(_spool(tmp), j) for j in range(len(opts.classes))]


def _check_repeats(opts: BuildOptions, ranges: list[list[tuple[int, int]]],
                   tmp: dict[str, Path]) -> None:
    """Stops the build before any shard is written if two class files share a drawing (its
    key_id): it would be in two places of the dataset, maybe in two splits."""
    files = [(j, keys_path(_spool(tmp), j, part)) for j in range(len(opts.classes))
             for part in range(len(ranges[j]))]
    repeat = find_repeat(files)
    if repeat is not None:
        raise repeat_error(opts, repeat)


def _encode(opts: BuildOptions, codecs: dict[str, Codec], plans: dict[str, Plan],
            ranges: list[list[tuple[int, int]]], tmp: dict[str, Path], pool: Executor
            ) -> tuple[dict[str, list[int]], dict[str, np.ndarray]]:
    """Phase 1, a task per class range; returns every kind's per-class cut-off line for
    rejected.ndjson, and its shards' bytes ((2, shards) int64: spooled, and to write)."""
    rejections = _rejection_files(opts, tmp)
    tasks = []
    for j, path in enumerate(opts.files):
        for part, (a, b) in enumerate(ranges[j]):
            jobs = tuple(KindJob(codecs[kind], plan.rounds, plan.shard_id[a:min(b, plan.rounds)],
                                 plan.shard_count) for kind, plan in plans.items())
            r = ClassRange(j, opts.classes[j], str(path), a, b, part == len(ranges[j]) - 1,
                           opts.include_unrecognized, opts.strict, jobs)
            tasks.append(EncodeTask(r, part, tuple(str(tmp[kind]) for kind in plans),
                                    str(rejections[j]), str(keys_path(_spool(tmp), j, part))))
    tasks.sort(key=lambda t: -t.range.end)  # the longest reads first
    total = sum(plan.rounds for plan in plans.values()) * len(opts.classes)
    log.info("encoding %d examples of %s (%s) with %d workers", total,
             plural(len(opts.classes), "class"), ", ".join(plans), opts.workers)
    t0 = time.monotonic()
    progress = Progress("encode", total, "ex", opts.progress)
    results: dict[int, EncodeResult] = {}
    nbytes = {kind: np.zeros((2, plan.shard_count), dtype=np.int64)
              for kind, plan in plans.items()}
    try:
        for i, result in pool.run(encode_task, tasks, progress.update):
            if tasks[i].range.last:
                results[tasks[i].range.label] = result
            for kind, n in result.nbytes.items():
                nbytes[kind] += n
    finally:
        progress.close()
    check_enough_drawings(opts, plans, results)
    log.info("encoded in %.2f s; the shards will take %s%s", time.monotonic() - t0,
             ", ".join(f"{size_text(int(n[1].sum()))} ({kind})" for kind, n in nbytes.items()),
             f" before {opts.compression} compression" if opts.compression != "none" else "")
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
            f"not enough disk space in {opts.out}: the shards take {size_text(framed)}, "
            f"{size_text(need - SPACE_SLACK)} more than the spool they replace; with "
            f"{size_text(SPACE_SLACK)} kept free for the other files, the build needs "
            f"{size_text(need)} and {size_text(free)} is free. Nothing was written (temporary "
            "files removed): free space there or pass --out DIR on a larger disk, then run "
            "the build again")


def _write(opts: BuildOptions, codecs: dict[str, Codec], plans: dict[str, Plan],
           ranges: list[list[tuple[int, int]]], tmp: dict[str, Path], pool: Executor,
           nbytes: int) -> dict[str, dict[str, Written]]:
    """Phase 2, a task per data file (a shard, or a class's file in a layout of one file per
    class), reading the spool of phase 1's class ``ranges`` (``nbytes``: what phase 1
    counted the files would take); returns every kind's data files, each with its records,
    sha256 and size."""
    tasks: list[WriteTask | ClassFileTask] = []
    names: list[tuple[str, str, int]] = []  # kind, file, records
    classes = len(opts.classes)
    for kind, plan in plans.items():
        # As the encode tasks' SpoolWriters placed them:
        where = [[spool_sources(tmp[kind], j, p, plan.shard_id[a:min(b, plan.rounds)],
                                plan.shard_count) for p, (a, b) in enumerate(ranges[j])]
                 for j in range(classes)]
        if plan.layout.sharded:
            per_shard = plan.rounds_per_shard()
            for s, shard in enumerate(plan.shard_names):
                sources = tuple(tuple(part[s] for part in parts) for parts in where)
                tasks.append(WriteTask(str(tmp[kind] / shard), int(per_shard[s]), sources,
                                       codecs[kind], opts.compression))
                names.append((kind, shard, int(per_shard[s]) * classes))
            continue
        for j, name in enumerate(opts.classes):
            file = plan.layout.class_file(name)
            sources = tuple(tuple(part[s] for part in where[j]) for s in range(len(plan.splits)))
            tasks.append(ClassFileTask(str(tmp[kind] / file), tuple(plan.splits.items()),
                                       sources, codecs[kind]))
            names.append((kind, file, plan.rounds))
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i].rounds)
    total = sum(records for _, _, records in names)
    t0 = time.monotonic()
    progress = Progress("write", total, "ex", opts.progress)
    written: dict[str, dict[str, Written]] = {kind: {} for kind in plans}
    try:
        for i, digest in pool.run(_write_task, [tasks[i] for i in order], progress.update):
            kind, file, records = names[order[i]]
            written[kind][file] = Written(records, digest,
                                          os.path.getsize(tmp[kind] / file))
    finally:
        progress.close()
    seconds = time.monotonic() - t0
    # The rate says when the disk, not the workers, sets the pace of this phase.
    shard_files = sum(isinstance(t, WriteTask) for t in tasks)
    files = " and ".join(f"{n} {what}" for n, what in ((shard_files, "shard files"), (
        len(tasks) - shard_files, "class files")) if n)
    log.info("wrote %s (%s) in %.2f s, %.0f MB/s", files, size_text(nbytes), seconds,
             nbytes / max(seconds, 1e-9) / 1e6)
    return written


def _write_task(t: WriteTask | ClassFileTask, report: Report) -> str:
    """Phase 2's task of either kind of data file; returns the file's sha256."""
    if isinstance(t, ClassFileTask):
        return write_class_file(t, report)
    return write_task(t, report)


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


