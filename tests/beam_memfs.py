"""An object store in this process's memory as a Beam file system (``memfs://bucket/key``):
no directories, no links, rename as copy and delete, as an object store has them.  Importing
the module registers it with Beam (it is read by the steps of a pipeline that runs in this
process: Beam's in-memory mode)."""

from __future__ import annotations

import io

from apache_beam.io.filesystem import BeamIOError, FileMetadata, FileSystem

OBJECTS: dict[str, bytes] = {}


class _Upload(io.BytesIO):
    """An object being written: it appears whole when closed."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def close(self) -> None:
        if not self.closed:
            OBJECTS[self.path] = self.getvalue()
        super().close()


def _missing(path: str) -> BeamIOError:
    return BeamIOError(f"no object {path}", {path: FileNotFoundError(path)})


class MemFileSystem(FileSystem):
    @classmethod
    def scheme(cls) -> str:
        return "memfs"

    def join(self, basepath: str, *paths: str) -> str:
        return "/".join([basepath.rstrip("/"), *(p.strip("/") for p in paths)])

    def split(self, path: str) -> tuple[str, str]:
        head, _, tail = path.rstrip("/").rpartition("/")
        return head, tail

    def mkdirs(self, path: str) -> None:
        pass

    def has_dirs(self) -> bool:
        return False

    def _list(self, dir_or_prefix: str):
        for key in sorted(OBJECTS):
            if key.startswith(dir_or_prefix):
                yield FileMetadata(key, len(OBJECTS[key]), 0.0)

    def create(self, path, mime_type="application/octet-stream", compression_type=None):
        return _Upload(path)

    def open(self, path, mime_type="application/octet-stream", compression_type=None):
        if path not in OBJECTS:
            raise _missing(path)
        return io.BufferedReader(io.BytesIO(OBJECTS[path]))

    def copy(self, source_file_names, destination_file_names) -> None:
        for src, dst in zip(source_file_names, destination_file_names):
            if src not in OBJECTS:
                raise _missing(src)
            OBJECTS[dst] = OBJECTS[src]

    def rename(self, source_file_names, destination_file_names) -> None:
        self.copy(source_file_names, destination_file_names)
        for src in source_file_names:
            del OBJECTS[src]

    def exists(self, path: str) -> bool:
        return path in OBJECTS

    def size(self, path: str) -> int:
        if path not in OBJECTS:
            raise _missing(path)
        return len(OBJECTS[path])

    def last_updated(self, path: str) -> float:
        return 0.0

    def checksum(self, path: str) -> str:
        return str(self.size(path))

    def metadata(self, path: str) -> FileMetadata:
        return FileMetadata(path, self.size(path), 0.0)

    def delete(self, paths) -> None:
        for path in paths:
            if path not in OBJECTS:
                raise _missing(path)
            del OBJECTS[path]


def under(prefix: str) -> dict[str, bytes]:
    """The objects under ``prefix`` (a URL taken as a directory), by their name there."""
    start = prefix.rstrip("/") + "/"
    return {key[len(start):]: data for key, data in OBJECTS.items() if key.startswith(start)}
