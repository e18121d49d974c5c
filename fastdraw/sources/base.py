"""Where drawings come from: a `Source` reads one class file into `Drawings` batches.

A data directory holds one file per class, ``<class><suffix>``; the suffix says which
format reads it (`FORMATS`).  A new input format is one new module with a `Source`
subclass, registered in `FORMATS`; everything downstream sees only `Drawings`.
"""

from __future__ import annotations

import importlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from fastdraw.drawings import Drawings
from fastdraw.errors import BadLineError, Rejection
from fastdraw.sources.remote import input_path

log = logging.getLogger(__name__)


def warn(rejection: Rejection) -> None:
    """The default ``on_reject``: a logged warning naming the file, line and reason."""
    log.warning("%s:%d: skipped bad line: %s", rejection.file, rejection.line, rejection.reason)


# Bytes of the longest item (an ndjson line, a binary record) a reader passes on: what bounds
# every record a build writes of one drawing (`fastdraw.codecs.base.Codec.max_record_bytes`).
MAX_ITEM = 1 << 23
# The most points such an item holds: a binary record takes 2 bytes a point (an ndjson line
# at least 4: "x," and "y,").
MAX_POINTS = MAX_ITEM // 2

STRICT_HINT = ("fix or delete the line, or leave out strict mode (--strict) to skip bad lines "
               "(a build lists them in rejected.ndjson)")

# Bytes of points (x and y) and text a chunk gathers from batches before it is yielded short
# of its drawings: a chunk of hostile drawings (a million points, or a countrycode of
# megabytes, each) would otherwise hold gigabytes.  4096 real drawings take a few MB.
CHUNK_BYTES = 1 << 26


def _nbytes(d: Drawings) -> int:
    return 16 * len(d.x) + sum(map(len, d.countrycode)) + sum(map(len, d.word))


# A screen takes a batch of good drawings and returns those to keep and a Rejection for
# each of the others (a build's: drawings a codec cannot encode, repeats, ...).
Screen = Callable[[Drawings], tuple[Drawings, list[Rejection]]]


class Source(ABC):
    """One class file of drawings, read in file order: a local path, or a URL whose bytes come
    from `fastdraw.sources.remote` (open it with ``remote.open_input(self.path)``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = input_path(path)

    @abstractmethod
    def batches(self, unrecognized: bool) -> Iterator[tuple[Drawings, list[Rejection]]]:
        """The file in batches, in file order: each batch's good drawings (only recognized
        ones unless ``unrecognized``) and its bad items."""

    def sized_batches(self, unrecognized: bool, size: int
                      ) -> Iterator[tuple[Drawings, list[Rejection]]]:
        """`batches`, of ``size`` good drawings each where the source can choose (a batch of
        a reader's chunk size reaches it without a copy); by default `batches`."""
        return self.batches(unrecognized)

    def read(self, *, chunk_size: int = 1024, unrecognized: bool = False,
             limit: int | None = None, on_reject: Callable[[Rejection], None] | None = None,
             strict: bool = False, screen: Screen | None = None) -> Iterator[Drawings]:
        """The good drawings as `Drawings` chunks of ``chunk_size`` (the last may be smaller,
        and so may one that gathered CHUNK_BYTES: memory stays bounded), in file order: only
        recognized ones unless ``unrecognized``, those ``screen`` keeps,
        at most ``limit`` in all.  Each bad item (the file's, or screened out) goes to
        ``on_reject`` (default: `warn`) in file order, before the chunk that follows it;
        with ``strict`` the first raises BadLineError.  Bad items after the last drawing
        taken are not reported, and reading stops at the end of its batch."""
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        if limit is not None and limit <= 0:
            return
        report = on_reject or warn
        pending: list[Drawings] = []
        have = held = 0
        left = limit
        for found, rejections in self.sized_batches(unrecognized, min(chunk_size,
                                                                      limit or chunk_size)):
            if screen is not None and len(found):
                found, screened = screen(found)
                if screened:
                    rejections = sorted([*rejections, *screened], key=lambda r: r.line)
            if left is not None and len(found) >= left:
                found = found.slice(0, left, copy=True)
                rejections = [r for r in rejections if r.line < found.line[-1]]
            for rejection in rejections:
                if strict:
                    raise BadLineError(rejection, STRICT_HINT)
                report(rejection)
            if have + len(found) < chunk_size:
                if len(found):  # an empty batch's arrays may be views of a whole block's
                    pending.append(found)
                have += len(found)
                held += _nbytes(found)
                if held >= CHUNK_BYTES:
                    yield Drawings.concat(pending)
                    pending, have, held = [], 0, 0
            else:
                # Only the first chunk is copied together; the others are slices of the batch.
                start = chunk_size - have
                yield Drawings.concat([*pending, found.slice(0, start)])
                while len(found) - start >= chunk_size:
                    yield found.slice(start, start + chunk_size)
                    start += chunk_size
                have = len(found) - start
                pending = [found.slice(start, len(found))] if have else []
                held = _nbytes(pending[0]) if have else 0
            if left is not None:
                left -= len(found)
                if left == 0:
                    break
        if have:
            yield Drawings.concat(pending)

    @abstractmethod
    def most_drawings(self) -> int:
        """The most drawings the file can hold, from its size alone: a quick bound that
        catches a request for far more drawings than a file has before any is read."""

    @abstractmethod
    def fields(self, line: int) -> dict:
        """The fields of item ``line`` (1-based) as the file holds them."""

    @abstractmethod
    def items(self) -> int:
        """The number of the file's last item (line or record, good or bad) as `batches`
        numbers them: the total of a progress counted in ``Drawings.line``.  Reads the whole
        file."""


@dataclass(frozen=True)
class Format:
    """An input format: the suffixes of its class files, the Source that reads them, and the
    directories of the public bucket (``full/<directory>/<class><suffixes[0]>``) that serve
    such files."""

    name: str
    suffixes: tuple[str, ...]
    source: str  # "module:Class", imported when a file of this format is opened
    bucket: tuple[str, ...] = ()

    def open(self, path: str | Path) -> Source:
        module, name = self.source.split(":")
        return getattr(importlib.import_module(module), name)(path)


FORMATS = (
    Format("ndjson", (".ndjson", ".ndjson.gz"), "fastdraw.sources.ndjson.reader:NdjsonSource",
           ("simplified", "raw")),
    Format("binary", (".bin", ".bin.gz"), "fastdraw.sources.binary.reader:BinarySource",
           ("binary",)),
)
CLASS_FILE_SUFFIXES = tuple(s for f in FORMATS for s in f.suffixes)
BUCKET_FORMATS = tuple(d for f in FORMATS for d in f.bucket)  # what --format names


def class_of_file(path: str | Path) -> str:
    """The class a class file holds, from its name: ``cat.ndjson.gz`` or ``cat.bin`` -> cat."""
    name = Path(path).name
    suffix = next((s for s in sorted(CLASS_FILE_SUFFIXES, key=len, reverse=True)
                   if name.endswith(s)), "")
    return name[:len(name) - len(suffix)] or name


def format_named(name: str) -> Format:
    """The input format called ``name`` (ndjson, binary)."""
    return next(fmt for fmt in FORMATS if fmt.name == name)


def bucket_format(directory: str) -> Format:
    """The format of the files the bucket serves under ``full/<directory>/`` (a --format
    value: simplified, raw or binary)."""
    for fmt in FORMATS:
        if directory in fmt.bucket:
            return fmt
    raise ValueError(f"unknown format {directory!r}: choose one of {', '.join(BUCKET_FORMATS)}")


def open_source(path: str | Path) -> Source:
    """The Source that reads ``path``, chosen by its suffix."""
    name = Path(path).name
    for fmt in FORMATS:
        if name.endswith(fmt.suffixes):
            return fmt.open(path)
    raise ValueError(f"{path}: not a class file of a known format (its name should end with "
                     f"{', '.join(CLASS_FILE_SUFFIXES)})")


def read_drawings(path: str | Path, **options) -> Iterator[Drawings]:
    """`Source.read` of the file at ``path``."""
    return open_source(path).read(**options)


def class_file(data: str | Path, name: str, fmt: Format | None = None) -> Path | None:
    """Class ``name``'s file in directory ``data``: the first suffix of ``fmt`` (default: of
    `FORMATS`, in order) that names a regular file there, or None."""
    for suffix in fmt.suffixes if fmt is not None else CLASS_FILE_SUFFIXES:
        path = Path(data) / f"{name}{suffix}"
        if path.is_file():
            return path
    return None


def class_file_names(name: str, data: str | Path | None = None) -> str:
    """The names class ``name``'s file may have (paths in ``data`` if given), for messages:
    ``cat.ndjson or cat.bin (plain or .gz)``."""
    where = Path(data) if data is not None else Path()
    return " or ".join(str(where / f"{name}{fmt.suffixes[0]}") for fmt in FORMATS) + \
        " (plain or .gz)"


def formats_found(data: str | Path, name: str) -> list[Format]:
    """The formats of which class ``name`` has a file in directory ``data``."""
    return [fmt for fmt in FORMATS if class_file(data, name, fmt) is not None]


def not_files(data: str | Path, name: str) -> list[Path]:
    """Paths named like class ``name``'s file in ``data`` that are not files (directories)."""
    return [path for suffix in CLASS_FILE_SUFFIXES
            if (path := Path(data) / f"{name}{suffix}").exists() and not path.is_file()]
