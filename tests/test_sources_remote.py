"""Class files named by a URL: read through the registered file system, to the same drawings
and rejections as the local file (the rejections naming the URL)."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest
from conftest import RAW, SIMPLIFIED
from test_sources_ndjson import BAD, _copy_with, _read

from fastdraw.sources import open_source, remote
from fastdraw.sources.ndjson import blocks as ndjson_blocks


class _Trickle(io.RawIOBase):
    """An object's bytes, at most 1000 a read (as a network stream may give them)."""

    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        self._pos = pos if whence == 0 else self._pos + pos if whence == 1 else len(
            self._data) + pos
        return self._pos

    def readinto(self, b) -> int:
        piece = self._data[self._pos:self._pos + min(len(b), 1000)]
        b[:len(piece)] = piece
        self._pos += len(piece)
        return len(piece)


class Store:
    """An object store in memory: URL -> bytes."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.opened: list[str] = []

    def put(self, url: str, data: bytes) -> str:
        self.objects[url] = data
        return url

    def open(self, url: str):
        self.opened.append(url)
        return _Trickle(self.objects[url])

    def size(self, url: str) -> int:
        return len(self.objects[url])


@pytest.fixture()
def store():
    s = Store()
    remote.use_remote(s)
    yield s
    remote.use_remote(None)


def _same_as_local(store: Store, path: Path, **kw) -> None:
    url = store.put(f"mem://bucket/dir/{path.name}", path.read_bytes())
    got, rejections = _read(url, **kw)
    want, local_rejections = _read(path, **kw)
    assert len(got) == len(want) > 0
    for g, w in zip(got, want):
        assert g[:6] == w[:6]
        assert all((a == b).all() for a, b in zip(g[6], w[6]))
    assert [(r.line, r.reason, r.text) for r in rejections] == [
        (r.line, r.reason, r.text) for r in local_rejections]
    assert {r.file for r in rejections} <= {url}
    assert store.opened and set(store.opened) == {url}


@pytest.mark.parametrize("name", ["cat", "eye", "sea turtle"])
def test_a_url_reads_as_the_local_file(store, name):
    _same_as_local(store, SIMPLIFIED / f"{name}.ndjson", unrecognized=True)


def test_a_raw_file_s_url_reads_as_the_local_file(store):
    _same_as_local(store, RAW / "sweater.ndjson", unrecognized=True)


def test_a_gzip_url_reads_as_the_local_file(store, tmp_path):
    path = tmp_path / "eye.ndjson.gz"
    path.write_bytes(gzip.compress((SIMPLIFIED / "eye.ndjson").read_bytes()))
    _same_as_local(store, path)


def test_bad_lines_of_a_url_are_rejected_naming_the_url(store, tmp_path):
    path, _, _ = _copy_with(tmp_path, SIMPLIFIED / "cat.ndjson",
                            {1: BAD["xy_mismatch"][0], 4: b"[1, 2"})
    _same_as_local(store, path, unrecognized=True)


def test_blocks_of_a_url_cover_the_file_once_in_tiny_blocks(store, monkeypatch):
    monkeypatch.setattr(ndjson_blocks, "_FIRST_BLOCK", 7)
    monkeypatch.setattr(ndjson_blocks, "_MAX_BLOCK", 300)
    monkeypatch.setattr(ndjson_blocks, "MAX_LINE", 2000)  # real raw lines are longer: skipped
    data = (RAW / "cat.ndjson").read_bytes()
    url = store.put("mem://b/cat.ndjson", data)
    got = list(ndjson_blocks.blocks(url))
    assert b"".join(b[:n] if not isinstance(end, ndjson_blocks.LongLine) else b"<long>"
                    for b, n, end in got) == b"".join(
        b[:n] if not isinstance(end, ndjson_blocks.LongLine) else b"<long>"
        for b, n, end in ndjson_blocks.blocks(RAW / "cat.ndjson"))
    assert any(isinstance(end, ndjson_blocks.LongLine) for _, _, end in got)


def test_most_drawings_of_a_url_comes_from_its_size(store):
    path = SIMPLIFIED / "cat.ndjson"
    url = store.put("mem://b/cat.ndjson", path.read_bytes())
    assert open_source(url).most_drawings() == open_source(path).most_drawings() > 0


def test_a_url_without_a_file_system_says_how_to_read_it():
    with pytest.raises(ValueError, match=r"mem://b/cat.ndjson: a URL, and no file system for "
                                         r"URLs.*--runner beam"):
        list(open_source("mem://b/cat.ndjson").read())


def test_a_source_keeps_a_url_as_given():
    assert str(open_source("gs://quickdraw_dataset/full/simplified/cat.ndjson").path) == \
        "gs://quickdraw_dataset/full/simplified/cat.ndjson"
    assert open_source("data/cat.ndjson").path == Path("data/cat.ndjson")
