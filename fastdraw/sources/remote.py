"""Class files named by a URL (``gs://quickdraw_dataset/full/simplified/cat.ndjson``): their
bytes come from the file systems an executor registers (fastdraw.beam registers Apache
Beam's); a plain path is a local file, read as before.

A `Source` opens its file with `open_input` and sizes it with `input_size`, so that every
input format reads local files and URLs alike.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import BinaryIO, Protocol

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


class RemoteFiles(Protocol):
    """The file systems behind URLs."""

    def open(self, url: str) -> BinaryIO:
        """The object's bytes as stored (never decompressed), seekable."""

    def size(self, url: str) -> int:
        """The object's size in bytes."""


_remote: RemoteFiles | None = None


def is_url(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a URL (``scheme://...``) rather than a local path."""
    return isinstance(path, str) and _URL.match(path) is not None


def input_path(path: str | os.PathLike) -> str | Path:
    """``path`` as a Source keeps it: a URL as its text (a Path would fold its ``//``), else
    a Path."""
    return path if is_url(path) else Path(path)


def use_remote(files: RemoteFiles | None) -> None:
    """Reads URLs through ``files`` from now on (None: URLs cannot be read)."""
    global _remote
    _remote = files


def _files(url: str) -> RemoteFiles:
    if _remote is None:
        raise ValueError(f"{url}: a URL, and no file system for URLs is set up in this process: "
                         "URLs are read by the Apache Beam build (--runner beam; "
                         'pip install "fastdraw[beam]"), or download the class files and give '
                         "their directory")
    return _remote


def open_input(path: str | os.PathLike) -> BinaryIO:
    """The bytes of class file ``path`` (a local path or a URL), as stored."""
    path = os.fspath(path)
    if is_url(path):
        return _files(path).open(path)
    return open(path, "rb")


def input_size(path: str | os.PathLike) -> int:
    """The size in bytes of class file ``path`` (a local path or a URL)."""
    path = os.fspath(path)
    if is_url(path):
        return _files(path).size(path)
    return os.path.getsize(path)
