"""`python -m fastdraw bitmaps`: the official ``numpy_bitmap`` files, rendered from the class
files (fastdraw.kernels.bitmap), one ``.npy`` per class.

``<out>/<class>.npy`` holds uint8 (n, size * size): row i is the i-th drawing of the class
file that was rendered, in file order; with every line good and unrecognized drawings
included (the default), that is line i + 1, the official layout and order.
``<out>/<class>.lines.npy`` (int64, n) gives each row's 1-based line in the class file, so
that rows match lines whatever was left out: bad lines (reported, counted and listed with
their reason in ``<out>/<class>.rejected.ndjson``: a rejected line has no row), drawings
the renderer refuses (a coordinate out of range), and with ``recognized_only`` the
drawings the game did not recognize.

One task per class runs in the forked workers (fastdraw.build.executor.ForkPool).  A task
streams its class file in chunks, renders each chunk and appends its rows to a hidden
temporary ``.npy`` whose header, written first for a row count of 0, is rewritten for the
final count at the end: memory stays bounded whatever the class size.  When every class is
done the files are renamed into place (Ctrl-C and SIGTERM wait until they all are); a
failed or interrupted run removes its temporary files and leaves no file that looks
complete (a run killed outright leaves hidden ``.<class>.*.tmp-*`` files, which the next
run into the same directory removes).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import struct
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fastdraw.build.encode import plural
from fastdraw.build.executor import Report, worker_pool
from fastdraw.build.publish import holding_turn, signals_deferred
from fastdraw.build.screen import drawing_text
from fastdraw.build.warmup import warmup
from fastdraw.codecs.bitmap import BitmapCodec
from fastdraw.cpus import usable_cpus
from fastdraw.drawings import Drawings
from fastdraw.errors import BuildError, InterruptedAfterPublish, OptionError, io_error
from fastdraw.kernels import bitmap
from fastdraw.progress import Progress
from fastdraw.sources import Rejection, open_source

log = logging.getLogger(__name__)

CHUNK = 4096  # drawings rendered at a time
CHUNK_BYTES = 16 << 20  # at most this much image memory a chunk
_HEADER = 128  # bytes of every .npy header written here (room for any row count)
SHOWN = 20  # rejected lines logged per class; its rejected.ndjson lists them all


@dataclass(frozen=True)
class BitmapOptions:
    """What `write_bitmaps` renders: each class's file, into ``out``."""

    classes: list[str]
    files: list[Path]
    out: Path
    size: int = 28
    recognized_only: bool = False
    workers: int = 1
    strict: bool = False
    overwrite: bool = False
    progress: bool = True


@dataclass(frozen=True)
class BitmapTask:
    """Render one class file into temporary files of ``out`` ending with ``suffix``."""

    name: str
    path: str
    out: str
    suffix: str
    size: int
    unrecognized: bool
    strict: bool
    lines: int  # items (lines, records) in the file: the task's progress is in them


@dataclass
class Rendered:
    """What a task wrote: its rows and rejected lines, and the first rejection."""

    rows: int
    rejected: int
    first: Rejection | None


def outputs(out: Path, name: str) -> tuple[Path, Path, Path]:
    """A class's files: its rows, their line numbers, its rejected lines."""
    return out / f"{name}.npy", out / f"{name}.lines.npy", out / f"{name}.rejected.ndjson"


def npy_header(shape: tuple[int, ...], dtype: str) -> bytes:
    """A .npy (version 1.0) header of exactly _HEADER bytes for a C-order array."""
    text = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape!r}, }}"
    body = text.ljust(_HEADER - 10 - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body.encode("latin1")


class _NpyAppender:
    """A .npy file written row block by row block; its header says the rows at `close`."""

    def __init__(self, path: Path, row_shape: tuple[int, ...], dtype: str) -> None:
        self.path, self.row_shape, self.dtype = path, row_shape, dtype
        self.rows = 0
        self.file = open(path, "wb")  # noqa: SIM115 (closed by close)
        self.file.write(npy_header((0, *row_shape), dtype))

    def append(self, block: np.ndarray) -> None:
        self.file.write(np.ascontiguousarray(block).data)
        self.rows += len(block)

    def close(self) -> None:
        self.file.seek(0)
        self.file.write(npy_header((self.rows, *self.row_shape), self.dtype))
        self.file.close()


def _screen(size: int, file: str):
    """The screen (`fastdraw.sources.base.Screen`) that rejects what the renderer refuses."""

    def screen(d: Drawings) -> tuple[Drawings, list[Rejection]]:
        refused = bitmap.refusals(d, size)
        if not refused:
            return d, []
        lines = d.line.tolist()
        rejections = [Rejection(file, lines[i], f"bitmap: {reason}", drawing_text(d, i))
                      for i, reason in sorted(refused.items())]
        keep = np.setdiff1d(np.arange(len(d)), np.fromiter(refused, dtype=np.int64))
        return d.take(keep), rejections

    return screen


def bitmap_task(t: BitmapTask, report: Report) -> Rendered:
    """Renders a class file into its temporary files; reports drawings rendered."""
    rows_path, lines_path, rejected_path = (Path(str(p) + t.suffix) for p in
                                            _hidden(Path(t.out), t.name))
    chunk = max(1, min(CHUNK, CHUNK_BYTES // (t.size * t.size)))
    rendered = Rendered(0, 0, None)
    rejected_file = None
    done = 0  # lines read

    def on_reject(r: Rejection) -> None:
        nonlocal rejected_file
        if rejected_file is None:
            rejected_file = open(rejected_path, "w", encoding="utf-8")  # noqa: SIM115
        rejected_file.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
        rendered.rejected += 1
        if rendered.first is None:
            rendered.first = r
        if rendered.rejected <= SHOWN:
            log.warning("%s:%d: no row for this line: %s", r.file, r.line, r.reason)

    try:
        rows = _NpyAppender(rows_path, (t.size * t.size,), "|u1")
        lines = _NpyAppender(lines_path, (), "<i8")
        try:
            for d in open_source(t.path).read(chunk_size=chunk, unrecognized=t.unrecognized,
                                              on_reject=on_reject, strict=t.strict,
                                              screen=_screen(t.size, t.path)):
                images = bitmap.official_bitmaps(d, t.size)
                rows.append(images.reshape(len(d), -1))
                lines.append(d.line.astype("<i8"))
                report(int(d.line[-1]) - done)
                done = int(d.line[-1])
            report(t.lines - done)
        finally:
            rows.close()
            lines.close()
            if rejected_file is not None:
                rejected_file.close()
    except OSError as e:
        raise io_error(e, f"rendering {t.path} into {t.out}") from None
    rendered.rows = rows.rows
    return rendered


def _hidden(out: Path, name: str) -> tuple[Path, ...]:
    """The class's files as hidden temporaries (before a suffix is added)."""
    return tuple(p.with_name(f".{p.name}.tmp-") for p in outputs(out, name))


def _leftovers(out: Path, classes: list[str]) -> list[Path]:
    """Temporary files a killed run left for these classes."""
    if not out.is_dir():
        return []
    prefixes = tuple(p.name for name in classes for p in _hidden(out, name))
    return [p for p in out.iterdir() if p.name.startswith(prefixes)]


def write_bitmaps(opts: BitmapOptions) -> list[Rendered]:
    """Renders every class file into ``opts.out`` (see the module doc); returns what each
    class got."""
    if len(opts.files) != len(opts.classes):
        raise ValueError("one input file per class")
    if opts.workers < 1:
        raise OptionError(f"--workers must be at least 1, not {opts.workers}")
    if not 1 <= opts.size <= 4096:
        raise OptionError(f"--size {opts.size}: give an image side from 1 to 4096 pixels")
    if opts.out.exists() and not opts.out.is_dir():
        raise BuildError(f"--out {opts.out} is a file: give a directory (one that does not "
                         "exist yet is created)")
    owner: dict[str, str] = {}
    for name in opts.classes:
        for path in outputs(opts.out, name):
            if (other := owner.setdefault(path.name, name)) != name:
                raise BuildError(f"{path.name} would be the file of class {other!r} and of "
                                 f"class {name!r}: render the two into separate --out "
                                 "directories")
    _refuse_existing(opts)
    try:
        opts.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BuildError(f"cannot create --out {opts.out}: {e.strerror}: give a directory "
                         "you can write to") from None
    with _taking_turns(opts.out) as locked:
        _refuse_existing(opts)  # the run this one waited for may have written them
        return _render(opts, locked)


def _refuse_existing(opts: BitmapOptions) -> None:
    """BuildError if a class's file exists and ``opts.overwrite`` is not set."""
    existing = [p for name in opts.classes for p in outputs(opts.out, name) if p.exists()]
    if existing and not opts.overwrite:
        shown = ", ".join(map(str, existing[:3])) + (", ..." if len(existing) > 3 else "")
        raise BuildError(f"{shown} already exist{'s' if len(existing) == 1 else ''}: pass "
                         "--overwrite to replace them, or choose another --out")


def _taking_turns(out: Path) -> AbstractContextManager[bool]:
    """Holds a lock on directory ``out`` for the block, waiting for a run that holds it: runs
    into one directory take turns, so that none removes the temporary files of another as
    a killed run's.  Yields False (after a warning) where the file system cannot lock."""
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    return holding_turn(fd, out, f"another bitmaps run into {out} is running: waiting for it "
                                 "to end",
                        "do not run two bitmaps runs into it at once; the temporary files of "
                        "killed runs are named, not removed")


def _render(opts: BitmapOptions, locked: bool) -> list[Rendered]:
    """`write_bitmaps` once its checks are made, holding its turn in ``opts.out`` (if
    ``locked``: then the temporary files of the classes there are killed runs')."""
    for path in _leftovers(opts.out, opts.classes):
        if locked:
            log.info("removing %s, left by an earlier run that was killed", path)
            path.unlink(missing_ok=True)
        else:
            log.info("%s may be left by an earlier run that was killed: remove it if no "
                     "other run is writing it", path)
    if opts.workers > (cpus := usable_cpus()):
        log.warning("%d workers, and this process may use %d CPU%s: the workers will take "
                    "turns", opts.workers, cpus, "" if cpus == 1 else "s")
    t0 = time.monotonic()
    warmup([BitmapCodec(size=opts.size)], opts.files)
    suffix = secrets.token_hex(4)
    counts = [open_source(p).items() for p in opts.files]
    tasks = [BitmapTask(name, str(path), str(opts.out), suffix, opts.size,
                        not opts.recognized_only, opts.strict, n)
             for name, path, n in zip(opts.classes, opts.files, counts)]
    total = sum(counts)
    temporaries = [Path(str(p) + suffix) for name in opts.classes
                   for p in _hidden(opts.out, name)]
    results: list[Rendered | None] = [None] * len(tasks)
    progress = Progress("bitmaps", total, "lines", opts.progress)
    placed = False
    try:
        with progress.logging_redirected(), worker_pool(min(opts.workers, len(tasks))) as pool:
            order = sorted(range(len(tasks)), key=lambda j: -opts.files[j].stat().st_size)
            for k, result in pool.run(bitmap_task, [tasks[j] for j in order], progress.update):
                results[order[k]] = result
        with signals_deferred():
            _put_in_place(opts, suffix)
            placed = True
    except BaseException as e:
        if placed and isinstance(e, KeyboardInterrupt):
            raise InterruptedAfterPublish(
                f"interrupted once every file was written: the files of "
                f"{plural(len(opts.classes), 'class')} are in place in {opts.out}, "
                "whole") from None
        for path in temporaries:
            path.unlink(missing_ok=True)
        raise
    finally:
        progress.close()
    done = [r for r in results if r is not None]
    _summary(opts, done, time.monotonic() - t0)
    return done


def _put_in_place(opts: BitmapOptions, suffix: str) -> None:
    """Renames every class's temporary files over its files."""
    for name in opts.classes:
        for tmp, final in zip(_hidden(opts.out, name), outputs(opts.out, name)):
            tmp = Path(str(tmp) + suffix)
            if tmp.exists():
                os.replace(tmp, final)
            elif final.exists():  # no rejected line this time: an old list would lie
                final.unlink()


def _summary(opts: BitmapOptions, results: list[Rendered], seconds: float) -> None:
    rows = sum(r.rows for r in results)
    log.info("wrote %d rows of %dx%d bitmaps for %s into %s in %.1f s (%.0f rows/s)",
             rows, opts.size, opts.size, plural(len(results), "class"), opts.out, seconds,
             rows / max(seconds, 1e-9))
    for name, r in zip(opts.classes, results):
        if r.rejected:
            log.warning("%s: %d line%s rejected, with no row (the first, line %d: %s); "
                        "%s lists them, %s gives each row's line", name, r.rejected,
                        "" if r.rejected == 1 else "s", r.first.line, r.first.reason,
                        outputs(opts.out, name)[2], outputs(opts.out, name)[1])


__all__ = ["BitmapOptions", "Rendered", "npy_header", "outputs", "write_bitmaps"]
