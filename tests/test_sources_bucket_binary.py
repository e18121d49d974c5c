"""The bucket's binary files (`full/binary/<class>.bin`): listed, downloaded and checked as the
ndjson ones are, and fetched by a build that reads binary files.

A local fake of the bucket (tests/bucket_server.py) serves the sample's classes as the
simplified ndjson and, converted by the tests' reference packer, as binary files.
"""

from __future__ import annotations

import json
import math

import orjson
import pytest
from binary_reference import official_drawings, pack_line
from bucket_server import BucketServer, Object, class_objects
from conftest import SIMPLIFIED
from golden_builds import digests

from fastdraw.cli.main import main
from fastdraw.errors import ChecksumError
from fastdraw.sources.bucket import transport
from fastdraw.sources.bucket.download import ensure_downloaded
from fastdraw.sources.bucket.listing import list_classes, list_objects

PAGE = 3


def _binary(name: str) -> bytes:
    lines = (SIMPLIFIED / f"{name}.ndjson").read_bytes().splitlines()
    return b"".join(pack_line(orjson.loads(x)) for x in lines)


@pytest.fixture(scope="module")
def objects() -> dict[str, Object]:
    binary = {f"full/binary/{p.name[:-len('.ndjson')]}.bin": Object(_binary(p.stem))
              for p in sorted(SIMPLIFIED.glob("*.ndjson"))}
    assert len(binary) == 345
    return {**class_objects(SIMPLIFIED, "simplified"), **binary}


@pytest.fixture()
def server(objects):
    with BucketServer(objects, page_size=PAGE) as srv:
        yield srv


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(transport, "RETRY", transport.Retry(attempts=4, backoff=0.001,
                                                            max_backoff=0.002, timeout=10))


def _key(name: str) -> str:
    return f"full/binary/{name}.bin"


def _fetch(server, classes, data, **kw):
    return ensure_downloaded(classes, data, fmt="binary", base_url=server.url, progress=False,
                             **kw)


def test_the_binary_listing_has_the_classes_of_the_simplified_one(server, capsys):
    names = list_classes(server.url, "binary")
    assert sorted(names) == sorted(list_classes(server.url, "simplified")) and len(names) == 345
    listings = [r for r in server.listings() if r.query["prefix"] == "full/binary/"]
    assert len(listings) == math.ceil(345 / PAGE)
    cat = list_objects(server.url, "binary")["cat"]
    assert (cat.key, cat.size, cat.file) == (_key("cat"), len(_binary("cat")), "cat.bin")
    assert main(["list", "--format", "binary", "--regex", "^(cat|dog)$",
                 "--base-url", server.url]) == 0
    assert capsys.readouterr().out == "cat\ndog\n"


def test_binary_files_download_byte_equal_and_a_rerun_fetches_nothing(server, tmp_path):
    classes = ["dog", "The Eiffel Tower", "cat"]
    paths = _fetch(server, classes, tmp_path, jobs=2)
    assert paths == [tmp_path / f"{name}.bin" for name in classes]
    for name, path in zip(classes, paths):
        assert path.read_bytes() == _binary(name)
        assert len(official_drawings(path)) == len(
            (SIMPLIFIED / f"{name}.ndjson").read_bytes().splitlines())
    record = json.loads((tmp_path / ".fastdraw" / "cat.bin.json").read_text())
    assert (record["key"], record["size"]) == (_key("cat"), len(_binary("cat")))
    _fetch(server, classes, tmp_path)
    assert main(["download", "--classes", "cat,dog", "--format", "binary", "--data",
                 str(tmp_path), "--base-url", server.url]) == 0
    assert sorted(r.key for r in server.object_gets()) == sorted(map(_key, classes))


def test_a_dropped_binary_download_resumes_with_range(server, tmp_path):
    server.fault(_key("eye"), drops=1)
    (path,) = _fetch(server, ["eye"], tmp_path)
    assert path.read_bytes() == _binary("eye")
    gets = server.object_gets()
    assert [r.status for r in gets] == [200, 206]
    assert gets[1].range == f"bytes={len(_binary('eye')) // 2}-"


def test_a_partial_binary_file_is_continued(server, tmp_path):
    (tmp_path / "eye.bin.part").write_bytes(_binary("eye")[:1000])
    (path,) = _fetch(server, ["eye"], tmp_path)
    assert path.read_bytes() == _binary("eye")
    assert [r.range for r in server.object_gets()] == ["bytes=1000-"]


@pytest.mark.parametrize("composite", [False, True])
def test_a_corrupt_binary_download_is_not_kept(server, tmp_path, composite):
    server.fault(_key("cat"), corrupt=True, composite=composite)
    with pytest.raises(ChecksumError, match=("crc32c" if composite else "md5") + " mismatch"):
        _fetch(server, ["cat"], tmp_path)
    assert not (tmp_path / "cat.bin").exists() and not (tmp_path / "cat.bin.part").exists()


def test_a_build_with_format_binary_downloads_the_missing_bin_files(server, tmp_path):
    classes = "cat,dog,eye"
    args = ["--classes", classes, "--kind", "img,stroke", "--splits",
            "train=0.7,eval=0.15,test=0.15", "--shards", "2", "--name", "p", "--base-url",
            server.url]
    assert main([*args, "--data", str(tmp_path / "bin"), "--format", "binary"]) == 0
    assert sorted(p.name for p in (tmp_path / "bin").glob("*.bin")) == [
        "cat.bin", "dog.bin", "eye.bin"]
    assert {r.key for r in server.object_gets()} == {_key(c) for c in classes.split(",")}
    assert main([*args, "--data", str(tmp_path / "nd")]) == 0
    assert not list((tmp_path / "nd").glob("*.bin"))
    for kind in ("img", "stroke"):
        assert digests(tmp_path / "bin" / f"p_{kind}") == digests(tmp_path / "nd" / f"p_{kind}")
