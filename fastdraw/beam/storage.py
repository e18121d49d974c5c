"""Paths of the Beam build: a local path is a `pathlib.Path`; a URL (``gs://bucket/dir``,
``s3://...``) is a `BeamPath`, read and written through Apache Beam's file systems, which an
object store stands behind (no directories, no links, no rename of a prefix).

Importing this module makes the class files of URLs readable (fastdraw.sources.remote), in
the driver and in every worker that unpickles the build's steps.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO, BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from fastdraw.errors import BuildError
from fastdraw.sources import CLASS_FILE_SUFFIXES, remote

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


def class_files(classes: list[str], data: BeamPath) -> list[str]:
    """Every class's file in ``data`` (``<class>.ndjson``, or another suffix of the input
    formats), found with one listing: their URLs."""
    names = {p.name for p in data.objects() if p.parent == data}
    found, missing = [], []
    for name in classes:
        suffix = next((s for s in CLASS_FILE_SUFFIXES if f"{name}{s}" in names), None)
        if suffix is None:
            missing.append(str(data / f"{name}.ndjson"))
        else:
            found.append(str(data / f"{name}{suffix}"))
    if missing:
        raise BuildError(f"{len(missing)} class file{'s are' if len(missing) > 1 else ' is'} "
                         f"missing: {', '.join(missing[:5])}"
                         + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                         + " (the public bucket holds gs://quickdraw_dataset/full/simplified/"
                         "<class>.ndjson): check --data and --classes")
    return found


class BeamFiles:
    """The class files of URLs, through Beam's file systems (`remote.RemoteFiles`)."""

    def open(self, url: str) -> BinaryIO:
        return FileSystems.open(url, compression_type=RAW)

    def size(self, url: str) -> int:
        return BeamPath(url).size()


remote.use_remote(BeamFiles())
