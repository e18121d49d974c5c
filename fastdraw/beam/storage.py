"""Paths of the Beam build: a local path is a `pathlib.Path`; a URL (``gs://bucket/dir``,
``s3://...``) is a `BeamPath`, read and written through Apache Beam's file systems, which an
object store stands behind (no directories, no links, no rename of a prefix).

Importing this module makes the class files of URLs readable (fastdraw.sources.remote), in
the driver and in every worker that unpickles the build's steps.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO, BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from fastdraw.errors import BuildError
from fastdraw.sources import FORMATS, remote
from fastdraw.sources.base import bucket_format

log = logging.getLogger(__name__)

RAW = CompressionTypes.UNCOMPRESSED  # objects are read and written as they are stored


class BeamPath:
    """A URL, with the few `pathlib.Path` methods the build uses on its paths."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def __truediv__(self, name: str) -> BeamPath:
        return BeamPath(FileSystems.join(self.url, name))

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"BeamPath({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BeamPath) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    @property
    def name(self) -> str:
        return FileSystems.split(self.url)[1]

    @property
    def parent(self) -> BeamPath:
        return BeamPath(FileSystems.split(self.url)[0])

    def open(self, mode: str = "r", encoding: str | None = None) -> IO:
        """The object for reading (``r``, ``rb``) or writing (``w``, ``wb``): written objects
        appear when closed."""
        binary: BinaryIO
        if mode.startswith("r"):
            binary = FileSystems.open(self.url, compression_type=RAW)
        elif mode.startswith("w"):
            binary = FileSystems.create(self.url, compression_type=RAW)
        else:
            raise ValueError(f"mode {mode!r}: a BeamPath opens for reading or writing")
        return binary if "b" in mode else io.TextIOWrapper(binary, encoding=encoding)

    def read_bytes(self) -> bytes:
        with self.open("rb") as f:
            return f.read()

    def write_bytes(self, data: bytes) -> int:
        with self.open("wb") as f:
            f.write(data)
        return len(data)

    def exists(self) -> bool:
        """Whether the object exists, or (a directory's URL) any object under it."""
        return FileSystems.exists(self.url) or bool(self.objects())

    def objects(self) -> list[BeamPath]:
        """Every object under this URL taken as a directory, at any depth, sorted."""
        found = FileSystems.match([FileSystems.join(self.url, "**")])[0].metadata_list
        return sorted((BeamPath(m.path) for m in found), key=str)

    def size(self) -> int:
        return FileSystems.get_filesystem(self.url).size(self.url)


StoragePath = Path | BeamPath


def storage_path(path: str | os.PathLike) -> StoragePath:
    """A BeamPath for a URL, else a Path."""
    text = os.fspath(path) if not isinstance(path, BeamPath) else path.url
    return BeamPath(text) if remote.is_url(text) else Path(text)


def delete(paths: Iterable[BeamPath]) -> None:
    """Deletes the objects."""
    urls = [p.url for p in paths]
    if urls:
        FileSystems.delete(urls)


def move(sources: list[BeamPath], targets: list[BeamPath]) -> None:
    """Moves the objects (an object store copies each one and deletes the original)."""
    if sources:
        FileSystems.rename([p.url for p in sources], [p.url for p in targets])


def class_files(classes: list[str], data: BeamPath, fmt: str | None = None) -> list[str]:
    """Every class's file in ``data``, found with one listing, as the local build finds them
    (fastdraw.cli.build): of bucket format ``fmt`` (``<class>.bin`` for binary,
    ``<class>.ndjson`` else; plain or .gz), or with None of any format, the first of
    `FORMATS` where a class has several (said once): their URLs."""
    wanted = bucket_format(fmt) if fmt else None
    names = {p.name for p in data.objects() if p.parent == data}
    found, missing, both = [], [], []
    for name in classes:
        have = [f for f in ([wanted] if wanted else FORMATS)
                if any(f"{name}{s}" in names for s in f.suffixes)]
        if not have:
            missing.append(str(data / f"{name}{(wanted or FORMATS[0]).suffixes[0]}"))
            continue
        if len(have) > 1:
            both.append(name)
        found.append(str(data / next(f"{name}{s}" for s in have[0].suffixes
                                     if f"{name}{s}" in names)))
    if missing:
        example = f"full/{fmt or 'simplified'}/<class>{(wanted or FORMATS[0]).suffixes[0]}"
        raise BuildError(f"{len(missing)} class file{'s are' if len(missing) > 1 else ' is'} "
                         f"missing: {', '.join(missing[:5])}"
                         + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                         + f" (the public bucket holds gs://quickdraw_dataset/{example}): "
                         "check --data, --classes and --format")
    if both:
        log.info("%s: both kinds of class file in %s; reading the %s ones (--format binary "
                 "reads the others)", ", ".join(both[:5]) + (
                     f" and {len(both) - 5} more" if len(both) > 5 else ""), data,
                 FORMATS[0].name)
    return found


class BeamFiles:
    """The class files of URLs, through Beam's file systems (`remote.RemoteFiles`)."""

    def open(self, url: str) -> BinaryIO:
        return FileSystems.open(url, compression_type=RAW)

    def size(self, url: str) -> int:
        return BeamPath(url).size()


remote.use_remote(BeamFiles())
