"""The notebook's list_bucket and retrieve as drop-ins: the same keys and the same files as the
notebook's own code (fastdraw.notebook.reference), both against the local bucket server
(tests/bucket_server.py) serving the real class files."""

from __future__ import annotations

import re

import pytest
from bucket_server import LISTING, BucketServer, class_objects
from conftest import RAW, SIMPLIFIED

import fastdraw
from fastdraw.errors import BucketError, ChecksumError
from fastdraw.notebook import reference
from fastdraw.sources.bucket import transport

BUCKET = "quickdraw_dataset"


@pytest.fixture(scope="module")
def objects():
    return {**class_objects(SIMPLIFIED, "simplified"), **class_objects(RAW, "raw")}


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(transport, "RETRY", transport.Retry(attempts=4, backoff=0.001,
                                                            max_backoff=0.002, timeout=10))


def serve(objects, monkeypatch, page_size):
    """The local bucket, with the reference's endpoint pointed at it."""
    server = BucketServer(objects, page_size=page_size)
    monkeypatch.setattr(reference, "STORAGE", server.url)
    return server


@pytest.mark.parametrize("regexp", [".*", ".*ndjson$", "full/raw/s", "full/simplified/(cat|dog)"])
def test_list_bucket_gives_the_notebook_s_keys_when_they_fit_one_page(objects, monkeypatch,
                                                                      regexp):
    with serve(objects, monkeypatch, page_size=1000) as server:
        ours = fastdraw.list_bucket(BUCKET, regexp, base_url=server.url)
        theirs = reference.list_bucket(BUCKET, regexp)
    assert ours == theirs
    assert ours == [k for k in sorted(objects) if re.match(regexp, k)]
    assert len(ours) > 1


def test_list_bucket_gives_every_key_where_the_notebook_reads_one_page(objects, monkeypatch):
    # 690 keys in pages of 100: the notebook sees the first page only (the real bucket's
    # pages hold 1,000 keys, and it has several thousand).
    with serve(objects, monkeypatch, page_size=100) as server:
        ours = fastdraw.list_bucket(BUCKET, ".*ndjson$", base_url=server.url)
        theirs = reference.list_bucket(BUCKET, ".*ndjson$")
        assert len(server.listings()) == 1 + 7
    assert ours == sorted(objects) and len(ours) == 690
    assert theirs == ours[:100]


def test_list_bucket_reads_the_endpoint_from_the_environment(objects, monkeypatch):
    with serve(objects, monkeypatch, page_size=1000) as server:
        monkeypatch.setenv("FASTDRAW_BASE_URL", server.url)
        assert fastdraw.list_bucket(BUCKET, "full/simplified/cat") == [
            "full/simplified/cat.ndjson"]


def test_list_bucket_retries_what_the_notebook_dies_on(objects, monkeypatch):
    with serve(objects, monkeypatch, page_size=1000) as server:
        server.fault(LISTING, errors=1)
        with pytest.raises(OSError, match="503"):
            reference.list_bucket(BUCKET)
        server.fault(LISTING, errors=2)
        assert len(fastdraw.list_bucket(BUCKET, base_url=server.url)) == 690


def test_list_bucket_of_an_unknown_bucket_says_so(objects, monkeypatch):
    with serve(objects, monkeypatch, page_size=1000) as server:
        with pytest.raises(BucketError, match="HTTP 404"):
            fastdraw.list_bucket("no_such_bucket", base_url=server.url)


@pytest.mark.parametrize("key", ["full/simplified/cat.ndjson", "full/raw/ant.ndjson"])
def test_retrieve_writes_the_notebook_s_file(objects, monkeypatch, tmp_path, key):
    with serve(objects, monkeypatch, page_size=3) as server:
        reference.retrieve(BUCKET, key, str(tmp_path / "theirs.ndjson"))
        assert fastdraw.retrieve(BUCKET, key, str(tmp_path / "ours.ndjson"),
                                 base_url=server.url) is None
    ours = (tmp_path / "ours.ndjson").read_bytes()
    assert ours == (tmp_path / "theirs.ndjson").read_bytes() == objects[key].data


def test_retrieve_resumes_a_dropped_transfer_and_skips_a_complete_file(objects, monkeypatch,
                                                                        tmp_path):
    key = "full/simplified/cat.ndjson"
    dest = tmp_path / "cat.ndjson"
    with serve(objects, monkeypatch, page_size=3) as server:
        server.fault(key, drops=1)
        fastdraw.retrieve(BUCKET, key, dest, base_url=server.url)
        assert dest.read_bytes() == objects[key].data
        gets = server.object_gets(key)
        assert [g.range is not None for g in gets] == [False, True]
        fastdraw.retrieve(BUCKET, key, dest, base_url=server.url)
        assert len(server.object_gets(key)) == 2  # already complete: not fetched again
    assert not (tmp_path / "cat.ndjson.part").exists()


def test_retrieve_keeps_no_corrupt_bytes(objects, monkeypatch, tmp_path):
    key = "full/simplified/dog.ndjson"
    with serve(objects, monkeypatch, page_size=3) as server:
        server.fault(key, corrupt=True)
        reference.retrieve(BUCKET, key, str(tmp_path / "theirs.ndjson"))  # takes it as it is
        with pytest.raises(ChecksumError, match="md5 mismatch"):
            fastdraw.retrieve(BUCKET, key, tmp_path / "ours.ndjson", base_url=server.url)
    assert (tmp_path / "theirs.ndjson").read_bytes() != objects[key].data
    assert not (tmp_path / "ours.ndjson").exists()


def test_retrieve_handles_keys_with_spaces(objects, monkeypatch, tmp_path):
    key = "full/simplified/sea turtle.ndjson"
    with serve(objects, monkeypatch, page_size=3) as server:
        with pytest.raises(Exception, match="control characters"):
            reference.retrieve(BUCKET, key, str(tmp_path / "theirs.ndjson"))
        fastdraw.retrieve(BUCKET, key, tmp_path / "ours.ndjson", base_url=server.url)
    assert (tmp_path / "ours.ndjson").read_bytes() == objects[key].data


def test_retrieve_of_a_missing_key_names_it(objects, monkeypatch, tmp_path):
    with serve(objects, monkeypatch, page_size=3) as server:
        with pytest.raises(BucketError, match="no object 'full/simplified/catt.ndjson'"):
            fastdraw.retrieve(BUCKET, "full/simplified/catt.ndjson", tmp_path / "x",
                              base_url=server.url)
    assert list(tmp_path.iterdir()) == []
