"""Bucket listing and downloads against a local fake of the bucket serving the real class files.

No outside network: tests/bucket_server.py serves the test data's real class files (SIMPLIFIED,
the bundled sample, and RAW, from tests/data/raw.tar.xz) as the bucket's full/simplified/ and
full/raw/ objects, three keys per listing page.
"""

from __future__ import annotations

import fcntl
import io
import json
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import realdata
from bucket_server import LISTING, BucketServer, Object, class_objects
from conftest import RAW, SIMPLIFIED

from fastdraw import progress
from fastdraw.cli.main import main
from fastdraw.errors import BucketError, ChecksumError, UnknownClassError, UnsafePathError
from fastdraw.sources.bucket import download as download_mod
from fastdraw.sources.bucket import listing as listing_mod
from fastdraw.sources.bucket import transport
from fastdraw.sources.bucket.download import ensure_downloaded
from fastdraw.sources.bucket.listing import list_classes, list_objects

PAGE = 3


@pytest.fixture(scope="module")
def objects() -> dict[str, Object]:
    return {**class_objects(SIMPLIFIED, "simplified"), **class_objects(RAW, "raw")}


@pytest.fixture()
def server(objects):
    with BucketServer(objects, page_size=PAGE) as srv:
        yield srv


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(transport, "RETRY", transport.Retry(attempts=4, backoff=0.001,
                                                            max_backoff=0.002, timeout=10))


def key(name: str, fmt: str = "simplified") -> str:
    return f"full/{fmt}/{name}.ndjson"


def source(name: str, directory: Path = SIMPLIFIED) -> bytes:
    return (directory / f"{name}.ndjson").read_bytes()


def names_in(directory: Path) -> list[str]:
    """Class names of a data directory, in the bucket's order: by key (so "baseball bat"
    comes before "baseball", a space sorting before the dot of ".ndjson")."""
    return [p.name[: -len(".ndjson")] for p in realdata.files(directory)]


def fetch(server: BucketServer, classes: list[str], data: Path, **kw) -> list[Path]:
    return ensure_downloaded(classes, data, base_url=server.url, progress=False, **kw)


# ---------------------------------------------------------------------------- listing


@pytest.mark.parametrize("fmt,directory", [("simplified", SIMPLIFIED), ("raw", RAW)])
def test_list_follows_every_page(server, fmt, directory):
    expected = names_in(directory)
    assert list_classes(server.url, fmt) == expected
    listings = server.listings()
    assert len(listings) == math.ceil(len(expected) / PAGE) > 1
    assert all(r.query["prefix"] == f"full/{fmt}/" for r in listings)
    assert "marker" not in listings[0].query
    assert [r.query["marker"] for r in listings[1:]] == [
        key(name, fmt) for name in expected[PAGE - 1:-1:PAGE]]


def test_list_without_next_marker_continues_from_the_last_key(objects):
    with BucketServer(objects, page_size=PAGE, next_marker=False) as srv:
        assert list_classes(srv.url) == names_in(SIMPLIFIED)


def test_list_objects_sizes_and_etags(server):
    listed = list_objects(server.url)
    cat = listed["cat"]
    assert cat.key == key("cat")
    assert cat.size == len(source("cat"))
    assert cat.md5_hex is not None and len(cat.md5_hex) == 32


def test_list_retries_503(server):
    server.fault(LISTING, errors=2)
    assert list_classes(server.url, regex="^cat$") == ["cat"]
    assert [r.status for r in server.listings()[:3]] == [503, 503, 200]


def test_cli_list_regex(server, capsys):
    assert main(["list", "--regex", "^(cat|dog)$", "--base-url", server.url]) == 0
    assert capsys.readouterr().out == "cat\ndog\n"
    assert main(["list", "--regex", " ", "--format", "raw", "--base-url", server.url]) == 0
    assert capsys.readouterr().out.splitlines() == [n for n in names_in(RAW) if " " in n]


@pytest.mark.parametrize("base_url", ["storage.googleapis.com", "http://[::1", "file:///tmp",
                                      "https://"])
def test_cli_bad_base_url_names_the_option(base_url, tmp_path, capsys):
    assert main(["list", "--base-url", base_url]) == 2
    assert main(["download", "--classes", "cat", "--data", str(tmp_path),
                 "--base-url", base_url]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"fastdraw {command}: error: --base-url (or $FASTDRAW_BASE_URL) {base_url!r} "
                   "is not an http:// or https:// URL with a host (the public bucket's endpoint is "
                   "https://storage.googleapis.com)" for command in ("list", "download")]
    assert list(tmp_path.iterdir()) == []


def test_cli_list_malformed_size(server, tmp_path, capsys):
    server.fault(key("cat"), bad_size=True)
    assert main(["list", "--base-url", server.url]) == 1
    err = capsys.readouterr().err
    assert f"the listing gives {key('cat')} no valid size (<Size> '')" in err
    with pytest.raises(BucketError, match="no valid size"):
        fetch(server, ["dog"], tmp_path)


def test_cli_list_bad_regex_and_bad_endpoint(server, capsys):
    assert main(["list", "--regex", "(", "--base-url", server.url]) == 2
    assert "bad regex '('" in capsys.readouterr().err
    assert main(["list", "--base-url", server.url + "/nowhere"]) == 1
    assert "HTTP 404" in capsys.readouterr().err


# A listing that never ends (always IsTruncated, a new NextMarker) used to be followed
# forever, silently: 15,000 requests in 20 s.  The test server gives up after ENDLESS_GIVES_UP
# pages, so that on such a client these tests fail on the requests made instead of hanging.


@pytest.mark.parametrize("mode,page_size,message", [
    ("new-keys", 3, f"the listing goes on past {listing_mod.MAX_PAGES} pages"),
    ("new-keys", 100, f"the listing goes on past {listing_mod.MAX_KEYS} keys (page 201)"),
    ("no-keys", 3, f"the listing goes on past {listing_mod.MAX_PAGES} pages (0 keys)"),
    ("same-keys", 3, f"page 2 of the listing gives {key('The Eiffel Tower')} again: it would "
                     "never end"),
    ("same-marker", 3, "page 2 of the listing gives the same marker again "
                       f"('{key('The Mona Lisa')}'): it would never end"),
])
def test_endless_listing_ends_with_an_error(objects, mode, page_size, message):
    with BucketServer(objects, page_size=page_size, endless=mode) as srv:
        with pytest.raises(BucketError) as info:
            list_objects(srv.url)
        requests = len(srv.listings())
    assert requests <= listing_mod.MAX_PAGES
    assert str(info.value).startswith(f"{srv.url}/quickdraw_dataset/full/simplified/: {message}")
    assert str(info.value).endswith("is --base-url a Cloud Storage endpoint serving the "
                                    "quickdraw_dataset bucket?")


def test_endless_listing_says_how_far_it_is(objects, monkeypatch, caplog):
    monkeypatch.setattr(listing_mod, "PROGRESS_EVERY", 0.0)
    with BucketServer(objects, page_size=PAGE, endless="no-keys") as srv:
        with caplog.at_level(logging.INFO, logger="fastdraw"), pytest.raises(BucketError):
            list_objects(srv.url)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("listing ")]
    assert lines[0].startswith(f"listing {srv.url}/quickdraw_dataset/full/simplified/: page 1, "
                               "0 keys so far (")
    assert len(lines) == listing_mod.MAX_PAGES


@pytest.mark.parametrize("command", ["list", "download"])
def test_cli_endless_listing_fails_in_bounded_time(objects, tmp_path, command):
    # As a user runs it: a subprocess, its exit code and message, and how long it took.
    argv = ["download", "--classes", "cat", "--data", str(tmp_path)] if command == "download" \
        else ["list"]
    with BucketServer(objects, page_size=PAGE, endless="new-keys") as srv:
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "fastdraw", *argv, "--base-url", srv.url],
                              capture_output=True, text=True, timeout=120)
        took = time.monotonic() - started
        requests = len(srv.listings())
    assert done.returncode == 1, done.stderr
    assert (f"fastdraw {command}: error: {srv.url}/quickdraw_dataset/full/simplified/: the "
            f"listing goes on past {listing_mod.MAX_PAGES} pages") in done.stderr
    assert requests == listing_mod.MAX_PAGES and took < 60
    assert list(tmp_path.iterdir()) == []


def test_overlong_listing_page_is_not_read_whole(objects, monkeypatch):
    monkeypatch.setattr(listing_mod, "MAX_PAGE_BYTES", 1000)
    with BucketServer(objects, page_size=PAGE) as srv:
        with pytest.raises(BucketError, match="the answer is longer than 1000 bytes"):
            list_objects(srv.url)


# ---------------------------------------------------------------------------- downloads


@pytest.mark.parametrize("hash_style", ["separate", "joined"])
def test_download_is_byte_equal(objects, tmp_path, hash_style):
    classes = ["dog", "The Eiffel Tower", "cat"]
    with BucketServer(objects, page_size=PAGE, hash_style=hash_style) as srv:
        paths = fetch(srv, classes, tmp_path, jobs=2)
    assert paths == [tmp_path / f"{name}.ndjson" for name in classes]
    for name, path in zip(classes, paths):
        assert path.read_bytes() == source(name)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [".fastdraw", *(f"{name}.ndjson" for name in classes)])
    record = json.loads((tmp_path / ".fastdraw" / "cat.ndjson.json").read_text())
    assert (record["key"], record["size"]) == (key("cat"), len(source("cat")))


def test_download_raw_format(server, tmp_path):
    (path,) = fetch(server, ["ant"], tmp_path, fmt="raw")
    assert path.read_bytes() == source("ant", RAW)
    assert [r.key for r in server.object_gets()] == [key("ant", "raw")]


def test_rerun_downloads_nothing(server, tmp_path):
    fetch(server, ["cat", "dog"], tmp_path)
    assert len(server.object_gets()) == 2
    fetch(server, ["cat", "dog"], tmp_path)
    assert main(["download", "--group", "pets", "--data", str(tmp_path),
                 "--base-url", server.url]) == 0
    assert len(server.object_gets()) == 2
    assert len(server.listings()) == 3 * math.ceil(len(names_in(SIMPLIFIED)) / PAGE)


def test_touched_file_is_rehashed_not_downloaded(server, tmp_path):
    (path,) = fetch(server, ["cat"], tmp_path)
    os.utime(path, ns=(0, 0))
    fetch(server, ["cat"], tmp_path)
    assert len(server.object_gets()) == 1
    data = bytearray(path.read_bytes())
    data[10] ^= 0x01  # same size, other bytes: no longer the bucket's object
    path.write_bytes(bytes(data))
    fetch(server, ["cat"], tmp_path)
    assert len(server.object_gets()) == 2
    assert path.read_bytes() == source("cat")


def test_changed_object_is_downloaded_again(server, tmp_path):
    (path,) = fetch(server, ["cat"], tmp_path)
    server.put(key("cat"), source("dog"))
    fetch(server, ["cat"], tmp_path)
    assert path.read_bytes() == source("dog")
    assert [r.range for r in server.object_gets()] == [None, None]


def test_dropped_connections_resume_with_range(server, tmp_path):
    server.fault(key("cat"), drops=2)
    (path,) = fetch(server, ["cat"], tmp_path)
    assert path.read_bytes() == source("cat")
    gets = server.object_gets()
    assert [r.status for r in gets] == [200, 206, 206]
    size = len(source("cat"))
    assert gets[1].range == f"bytes={size // 2}-"
    assert gets[2].range == f"bytes={size // 2 + (size - size // 2) // 2}-"
    assert sum(r.sent for r in gets) == size


def test_bytes_received_before_a_stall_are_kept(server, tmp_path, monkeypatch):
    # Reads of a whole CHUNK (1 MiB) used to lose what had arrived when the socket timed out.
    monkeypatch.setattr(transport, "RETRY", transport.Retry(attempts=4, backoff=0.001,
                                                            max_backoff=0.002, timeout=1.0))
    server.fault(key("cat"), stalls=1)
    (path,) = fetch(server, ["cat"], tmp_path)
    assert path.read_bytes() == source("cat")
    size = len(source("cat"))
    assert [(r.range, r.status) for r in server.object_gets()] == [(None, 200),
                                                                   (f"bytes={size // 2}-", 206)]


def test_503_is_retried(server, tmp_path):
    server.fault(key("cat"), errors=3)
    (path,) = fetch(server, ["cat"], tmp_path)
    assert path.read_bytes() == source("cat")
    assert [r.status for r in server.object_gets()] == [503, 503, 503, 200]


def test_gives_up_after_bounded_attempts(server, tmp_path):
    server.fault(key("cat"), errors=100)
    with pytest.raises(BucketError, match="gave up after 4 failed attempts.*HTTP 503"):
        fetch(server, ["cat"], tmp_path)
    assert len(server.object_gets()) == 4
    assert not (tmp_path / "cat.ndjson").exists()


def test_endless_drops_give_up_but_keep_the_part(server, tmp_path):
    server.fault(key("cat"), drops=100)
    with pytest.raises(BucketError, match="gave up"):
        fetch(server, ["cat"], tmp_path, jobs=1)
    part = tmp_path / "cat.ndjson.part"
    assert 0 < part.stat().st_size < len(source("cat"))
    server.fault(key("cat"))
    fetch(server, ["cat"], tmp_path)
    assert (tmp_path / "cat.ndjson").read_bytes() == source("cat")
    assert not part.exists()


def test_drops_without_range_support_give_up(server, tmp_path):
    # Each 200 restarts the part, so its bytes are not progress: this used to retry forever.
    server.fault(key("cat"), drops=100, ignore_range=True)
    with pytest.raises(BucketError, match="gave up after 4 failed attempts"):
        fetch(server, ["cat"], tmp_path)
    assert [(r.range is None, r.status) for r in server.object_gets()] == [
        (True, 200)] + [(False, 200)] * 3


def test_part_file_is_continued_with_range(server, tmp_path):
    data = source("cat")
    (tmp_path / "cat.ndjson.part").write_bytes(data[:1000])
    (path,) = fetch(server, ["cat"], tmp_path)
    assert path.read_bytes() == data
    (get,) = server.object_gets()
    assert (get.range, get.status, get.sent) == ("bytes=1000-", 206, len(data) - 1000)


def test_truncated_local_file_is_repaired(server, tmp_path):
    data = source("cat")
    (tmp_path / "cat.ndjson").write_bytes(data[:len(data) // 3])
    (path,) = fetch(server, ["cat"], tmp_path)
    assert path.read_bytes() == data
    (get,) = server.object_gets()
    assert get.range == f"bytes={len(data) // 3}-"


def test_overlong_part_is_cut_and_verified_with_one_byte(server, tmp_path):
    data = source("cat")
    (tmp_path / "cat.ndjson.part").write_bytes(data + b"junk")
    (path,) = fetch(server, ["cat"], tmp_path)
    assert path.read_bytes() == data
    (get,) = server.object_gets()
    assert (get.range, get.sent) == (f"bytes={len(data) - 1}-", 1)


FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails (EFBIG)
resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))
from fastdraw.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_failed_write_is_not_retried_and_the_part_stays_consistent(server, tmp_path):
    # A full disk used to pass for a lost connection, retried, while the part's hashes no
    # longer described its bytes.  A file size limit makes the part's writes fail at 3000.
    done = subprocess.run([sys.executable, "-c", FULL_DISK, "download", "--classes", "cat",
                           "--data", str(tmp_path), "--base-url", server.url],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    part = tmp_path / "cat.ndjson.part"
    assert f"cannot write {part} (File too large): free some space" in done.stderr
    assert "continue from the 3000 bytes kept" in done.stderr
    assert len(server.object_gets()) == 1
    assert part.read_bytes() == source("cat")[:3000]
    (path,) = fetch(server, ["cat"], tmp_path)
    assert path.read_bytes() == source("cat")
    assert server.object_gets()[-1].range == "bytes=3000-"


def test_verified_files_stay_when_another_fails(server, tmp_path):
    server.fault(key("cat"), corrupt=True)
    with pytest.raises(ChecksumError, match="cat"):
        fetch(server, ["dog", "cat"], tmp_path, jobs=1)
    assert (tmp_path / "dog.ndjson").read_bytes() == source("dog")
    assert not (tmp_path / "cat.ndjson").exists()
    fetch(server, ["dog"], tmp_path)
    assert [r.key for r in server.object_gets()] == [key("dog"), key("cat")]


def test_waits_for_another_run_downloading_into_the_same_directory(server, tmp_path):
    # Two runs appending to one cat.ndjson.part used to leave a cat.ndjson holding both copies.
    waiting = threading.Event()

    class OnWait(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "another fastdraw run" in record.getMessage():
                waiting.set()

    handler = OnWait()
    logging.getLogger("fastdraw.sources.bucket.download").addHandler(handler)
    other_run = os.open(tmp_path, os.O_RDONLY)
    try:
        fcntl.flock(other_run, fcntl.LOCK_EX)
        runner = threading.Thread(target=fetch, args=(server, ["cat"], tmp_path))
        runner.start()
        waited = waiting.wait(5)
        gets_while_waiting = len(server.object_gets())
        (tmp_path / "cat.ndjson").write_bytes(source("cat"))  # the other run's download
    finally:
        os.close(other_run)
        logging.getLogger("fastdraw.sources.bucket.download").removeHandler(handler)
    runner.join(5)
    assert waited and gets_while_waiting == 0
    assert not runner.is_alive()
    assert server.object_gets() == []
    assert (tmp_path / "cat.ndjson").read_bytes() == source("cat")


def test_complete_file_without_sidecar_is_verified_by_the_listing(server, tmp_path):
    (tmp_path / "cat.ndjson").write_bytes(source("cat"))
    fetch(server, ["cat"], tmp_path)
    assert server.object_gets() == []
    assert (tmp_path / ".fastdraw" / "cat.ndjson.json").exists()


def test_sidecar_that_cannot_be_written_is_not_an_error(server, tmp_path, caplog):
    # As in a read-only data directory (root ignores permissions: a file blocks .fastdraw/).
    (tmp_path / ".fastdraw").write_text("")
    (tmp_path / "cat.ndjson").write_bytes(source("cat"))
    paths = fetch(server, ["cat", "dog"], tmp_path)
    assert [p.read_bytes() for p in paths] == [source("cat"), source("dog")]
    assert [r.key for r in server.object_gets()] == [key("dog")]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith(f"{tmp_path / 'cat.ndjson'} is verified, but ") for m in warnings)
    assert any(m.startswith(f"{tmp_path / 'dog.ndjson'} is verified, but ") for m in warnings)


def test_sidecar_directory_that_cannot_be_made_is_not_an_error(server, tmp_path, monkeypatch,
                                                               caplog):
    # A read-only data directory (root ignores permissions: mkdir is made to fail here).
    real_mkdir = os.mkdir

    def refused(path, *args, **kwargs):
        if str(path).endswith(".fastdraw"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", refused)
    (path,) = fetch(server, ["cat"], tmp_path)
    assert path.read_bytes() == source("cat")
    assert (f"{path} is verified, but {tmp_path / '.fastdraw'} cannot be written (Permission "
            "denied): it will be hashed again next time") in caplog.text


def test_wrong_part_is_downloaded_whole_again(server, tmp_path):
    data = source("cat")
    (tmp_path / "cat.ndjson.part").write_bytes(source("dog")[:1000])
    (path,) = fetch(server, ["cat"], tmp_path)
    assert path.read_bytes() == data
    assert [(r.range, r.status) for r in server.object_gets()] == [("bytes=1000-", 206),
                                                                   (None, 200)]


def test_md5_mismatch_is_rejected(server, tmp_path):
    server.fault(key("cat"), corrupt=True)
    with pytest.raises(ChecksumError, match=r"cat\.ndjson: md5 mismatch.*not kept"):
        fetch(server, ["cat"], tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert len(server.object_gets()) == 1


def test_a_body_longer_than_the_listed_size_is_not_written_past_it(server, tmp_path):
    """A server that sends the object without a Content-Length and never stops: the download
    stops at the listed size, it does not fill the disk."""
    server.fault(key("cat"), endless=True)
    with pytest.raises(BucketError, match=r"cat\.ndjson sent more than the \d+ bytes the listing "
                                          "said"):
        fetch(server, ["cat"], tmp_path)
    assert not (tmp_path / "cat.ndjson").exists()
    assert (tmp_path / "cat.ndjson.part").stat().st_size <= len(source("cat"))


def test_composite_object_is_verified_by_crc32c(server, tmp_path):
    server.fault(key("cat"), composite=True)
    assert list_objects(server.url)["cat"].md5_hex is None
    (path,) = fetch(server, ["cat"], tmp_path)
    assert path.read_bytes() == source("cat")
    # A complete copy without sidecar: the listing gives no md5, one byte brings x-goog-hash.
    (tmp_path / ".fastdraw" / "cat.ndjson.json").unlink()
    fetch(server, ["cat"], tmp_path)
    assert server.object_gets()[-1].range == f"bytes={len(source('cat')) - 1}-"
    assert path.read_bytes() == source("cat")
    server.fault(key("dog"), composite=True, corrupt=True)
    with pytest.raises(ChecksumError, match="crc32c mismatch"):
        fetch(server, ["dog"], tmp_path)
    assert not (tmp_path / "dog.ndjson").exists()


def test_unknown_class_names_it_and_close_matches(server, tmp_path):
    with pytest.raises(UnknownClassError) as info:
        fetch(server, ["cat", "dgo", "the eiffel tower"], tmp_path)
    message = str(info.value)
    assert "'dgo' (did you mean " in message and "'dog'" in message
    assert "'the eiffel tower' (did you mean 'The Eiffel Tower'" in message
    assert "'cat'" not in message
    assert server.requests == []  # the names are checked before the bucket is listed
    assert list(tmp_path.iterdir()) == []


def test_a_category_the_bucket_lacks_is_named_after_the_listing(objects, tmp_path):
    with BucketServer({k: v for k, v in objects.items() if k != key("cat", "raw")},
                      page_size=PAGE) as srv:
        with pytest.raises(UnknownClassError) as info:
            fetch(srv, ["dog", "cat"], tmp_path, fmt="raw")
        assert srv.object_gets() == []
    assert str(info.value) == (
        "unknown class 'cat' (did you mean 'hat', 'castle', 'carrot'?): not in "
        f"{srv.url}/quickdraw_dataset/full/raw/ (344 classes; "
        "`python -m fastdraw list --format raw` shows them); nothing downloaded")


def test_downloads_run_in_parallel(objects, tmp_path):
    classes = ["ant", "bee", "cat", "dog"]
    with BucketServer(objects, page_size=PAGE, delay=0.2) as srv:
        fetch(srv, classes, tmp_path, jobs=4)
        assert srv.max_active > 1
    for name in classes:
        assert (tmp_path / f"{name}.ndjson").read_bytes() == source(name)


def test_progress_log_lines_without_terminal(server, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(progress, "LOG_EVERY", 0.0)
    with caplog.at_level(logging.INFO, logger="fastdraw"):  # fastdraw.progress and the download's
        ensure_downloaded(["cat"], tmp_path, base_url=server.url, progress=True)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("download: ")]
    assert any(r.name == "fastdraw.progress" for r in caplog.records
               if r.getMessage().startswith("download: "))
    total = len(source("cat")) / 2**20
    assert lines and lines[-1].startswith(f"download: {total:.1f} MiB of {total:.1f} MiB (")
    assert "ETA" in lines[-1]


def test_progress_bar_on_a_terminal(server, tmp_path, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    ensure_downloaded(["cat"], tmp_path, base_url=server.url, progress=True)
    assert "download: 100%" in terminal.getvalue()
    assert "B/s" in terminal.getvalue()


@pytest.mark.parametrize("fault", ["stalls", "silences"])
def test_ctrl_c_does_not_wait_for_a_stalled_server(server, tmp_path, fault):
    # Ctrl-C used to wait for the socket timeout (60 s) of a download blocked on a read: of
    # the body (stalls), or of the headers (silences).
    server.fault(key("cat"), **{fault: 1})
    proc = subprocess.Popen([sys.executable, "-m", "fastdraw", "download", "--classes", "cat",
                             "--data", str(tmp_path), "--base-url", server.url],
                            stderr=subprocess.PIPE, text=True)
    try:
        assert server.stalled.wait(30)
        interrupted = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert time.monotonic() - interrupted < 5
    assert proc.returncode == 130
    assert "interrupted; partial files are kept: run again to resume" in err
    assert not (tmp_path / "cat.ndjson").exists()
    (path,) = fetch(server, ["cat"], tmp_path)
    assert path.read_bytes() == source("cat")


# ---------------------------------------------------------------------------- CLI


def test_cli_download_end_to_end(server, tmp_path, capsys, caplog):
    data = tmp_path / "data"
    with caplog.at_level(logging.INFO):
        assert main(["download", "--classes", "cat, The Mona Lisa", "--data", str(data),
                     "--jobs", "2", "--base-url", server.url]) == 0
    assert caplog.messages[0] == f"--data {data} does not exist: creating it for the class files"
    classes_file = tmp_path / "classes.txt"
    classes_file.write_text("dog\n\nant\n")
    assert main(["download", "--classes-file", str(classes_file), "--format", "raw",
                 "--data", str(tmp_path / "raw"), "--base-url", server.url]) == 0
    assert (data / "cat.ndjson").read_bytes() == source("cat")
    assert (data / "The Mona Lisa.ndjson").read_bytes() == source("The Mona Lisa")
    for name in ("dog", "ant"):
        assert (tmp_path / "raw" / f"{name}.ndjson").read_bytes() == source(name, RAW)


def test_cli_download_errors(server, tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["download", "--classes", "cat,zebar", "--data", str(data),
                 "--base-url", server.url]) == 2
    err = capsys.readouterr().err
    assert "unknown class 'zebar' (did you mean 'zebra'" in err
    assert server.object_gets() == []
    server.fault(key("cat"), corrupt=True)
    assert main(["download", "--classes", "cat", "--data", str(data),
                 "--base-url", server.url]) == 1
    assert "md5 mismatch" in capsys.readouterr().err
    assert not (data / "cat.ndjson").exists()


def test_base_url_from_environment(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FASTDRAW_BASE_URL", server.url)
    assert main(["list", "--regex", "^cat$"]) == 0
    assert capsys.readouterr().out == "cat\n"


# ---------------------------------------------------------------------------- links and odd files
# A download never writes through a link: a path it would create, append to, rename or write
# that is a symbolic link (or a file with other hard links) leaves what it leads to untouched.

VICTIM = b"a file outside the data directory\n"


def planted(tmp_path: Path, name: str, target_exists: bool = True) -> tuple[Path, Path]:
    """(data directory, victim): ``data/<name>`` is a symbolic link to ``../victim``."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    victim = tmp_path / "victim"
    if target_exists:
        victim.write_bytes(VICTIM)
    (data / name).parent.mkdir(parents=True, exist_ok=True)
    (data / name).symlink_to(os.path.relpath(victim, (data / name).parent))
    return data, victim


@pytest.mark.parametrize("target_exists", [True, False], ids=["to a file", "dangling"])
def test_link_at_the_part_file_is_refused(server, tmp_path, target_exists):
    # It used to be appended to (the victim overwritten with cat's bytes, or created), and
    # then renamed into place: data/cat.ndjson became a link to the victim.
    data, victim = planted(tmp_path, "cat.ndjson.part", target_exists)
    with pytest.raises(UnsafePathError) as info:
        fetch(server, ["dog", "cat"], data)
    part = data / "cat.ndjson.part"
    assert str(info.value).startswith(f"{part}: a symbolic link (to ../victim) where fastdraw "
                                      "keeps the partial download of cat.ndjson: fastdraw never "
                                      "writes through a link. Remove it")
    assert victim.read_bytes() == VICTIM if target_exists else not victim.exists()
    assert part.is_symlink() and not (data / "cat.ndjson").exists()
    assert server.object_gets() == []  # refused before any download


@pytest.mark.parametrize("target_exists", [True, False], ids=["to a file", "dangling"])
def test_link_at_the_class_file_that_is_not_the_object_is_refused(server, tmp_path,
                                                                  target_exists):
    # A link to a short file used to be moved to the part and appended to: the victim got
    # cat's bytes.  A dangling one was replaced by the download, unsaid.
    data, victim = planted(tmp_path, "cat.ndjson", target_exists)
    with pytest.raises(UnsafePathError) as info:
        fetch(server, ["cat"], data)
    cat = data / "cat.ndjson"
    why = (f"which holds {len(VICTIM)} of {len(source('cat'))} bytes, not verified"
           if target_exists else "which does not exist")
    assert str(info.value) == (
        f"{cat}: a symbolic link to ../victim, {why}: fastdraw never writes through a link. "
        f"Remove the link (rm '{cat}') to download the file here, or make it point to a "
        "complete copy; nothing downloaded")
    assert victim.read_bytes() == VICTIM if target_exists else not victim.exists()
    assert cat.is_symlink() and not (data / "cat.ndjson.part").exists()
    assert server.object_gets() == []


def test_link_to_a_complete_copy_is_used_as_it_is(server, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    (store / "cat.ndjson").write_bytes(source("cat"))
    data = tmp_path / "data"
    data.mkdir()
    (data / "cat.ndjson").symlink_to(store / "cat.ndjson")
    (path,) = fetch(server, ["cat"], data)
    assert path.is_symlink() and path.read_bytes() == source("cat")
    fetch(server, ["cat"], data)  # the sidecar written for it the first time settles it
    assert server.object_gets() == []


def test_symlinked_sidecar_directory_is_not_written_through(server, tmp_path, caplog):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    data = tmp_path / "data"
    data.mkdir()
    (data / ".fastdraw").symlink_to(elsewhere)
    (path,) = fetch(server, ["cat"], data)
    assert path.read_bytes() == source("cat")
    assert list(elsewhere.iterdir()) == []
    assert (data / ".fastdraw").is_symlink()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (f"{path} is verified, but {data / '.fastdraw'} is a symbolic link (to {elsewhere}), "
            "and fastdraw writes only into a real directory there (remove the link to let it "
            "record verified files): it will be hashed again next time") in warnings


@pytest.mark.parametrize("name", ["cat.ndjson.json.tmp", "cat.ndjson.json"])
def test_link_in_the_sidecar_directory_is_not_written_through(server, tmp_path, name):
    # A link at the sidecar's temporary file used to be written through (the victim got the
    # JSON) and then renamed over the sidecar.
    data, victim = planted(tmp_path, f".fastdraw/{name}")
    (path,) = fetch(server, ["cat"], data)
    assert path.read_bytes() == source("cat")
    assert victim.read_bytes() == VICTIM
    sidecar = data / ".fastdraw" / "cat.ndjson.json"
    assert not sidecar.is_symlink()
    assert json.loads(sidecar.read_text())["key"] == key("cat")


def test_class_file_with_other_hard_links_is_not_continued_in_place(server, tmp_path):
    # A short file with a second name used to be continued in place: the other name changed.
    data = tmp_path / "data"
    data.mkdir()
    other = tmp_path / "other"
    other.write_bytes(source("cat")[:1000])
    os.link(other, data / "cat.ndjson")
    (path,) = fetch(server, ["cat"], data)
    assert path.read_bytes() == source("cat")
    assert other.read_bytes() == source("cat")[:1000]
    assert [r.range for r in server.object_gets()] == [None]


def test_part_file_with_other_hard_links_is_refused(server, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    other = tmp_path / "other"
    other.write_bytes(VICTIM)
    os.link(other, data / "cat.ndjson.part")
    with pytest.raises(UnsafePathError, match=r"cat\.ndjson\.part: a file with 2 hard links "
                                              "where fastdraw keeps the partial download"):
        fetch(server, ["cat"], data)
    assert other.read_bytes() == VICTIM
    assert server.object_gets() == []


@pytest.mark.parametrize("name", ["cat.ndjson", "cat.ndjson.part"])
@pytest.mark.parametrize("what", ["a pipe", "a directory"])
def test_pipe_or_directory_in_the_way_is_refused(server, tmp_path, name, what):
    # A pipe used to be opened for appending: the download waited forever for a reader.
    # A directory at cat.ndjson used to be renamed to the part and failed as IsADirectoryError.
    data = tmp_path / "data"
    data.mkdir()
    path = data / name
    os.mkfifo(path) if what == "a pipe" else path.mkdir()
    done = subprocess.run([sys.executable, "-m", "fastdraw", "download", "--classes", "cat",
                           "--data", str(data), "--base-url", server.url],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert f"fastdraw download: error: {path}: {what}, not a file" in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in data.iterdir()) == [name]
    assert server.object_gets() == []


def test_build_says_what_to_do_with_a_planted_link(server, tmp_path, caplog):
    data, victim = planted(tmp_path, "cat.ndjson.part")
    with caplog.at_level(logging.ERROR):
        assert main(["--classes", "cat", "--data", str(data), "--base-url", server.url,
                     "--out", str(tmp_path / "out"), "--splits", "train=3"]) == 1
    part = data / "cat.ndjson.part"
    assert (f"cannot download the missing class files into {data}: {part}: a symbolic link (to "
            f"../victim) where fastdraw keeps the partial download of cat.ndjson: fastdraw never "
            f"writes through a link. Remove it (rm '{part}') and run again; nothing "
            "downloaded\n") in caplog.text
    assert "retry" not in caplog.text
    assert victim.read_bytes() == VICTIM and not (tmp_path / "out").exists()


def test_part_swapped_for_a_link_during_the_download_is_not_moved(server, tmp_path,
                                                                  monkeypatch):
    # The rename into place used to move whatever had the part's name: here a link.
    data = tmp_path / "data"
    data.mkdir()
    victim = tmp_path / "victim"
    victim.write_bytes(VICTIM)
    part = data / "cat.ndjson.part"
    verify = download_mod._Download._mismatch

    def swap_then_verify(self, downloaded):
        part.rename(tmp_path / "moved-away")
        part.symlink_to(victim)
        return verify(self, downloaded)

    monkeypatch.setattr(download_mod._Download, "_mismatch", swap_then_verify)
    with pytest.raises(UnsafePathError, match=f"{part} was replaced during the download: it was "
                                              "not moved to .*cat.ndjson; run again"):
        fetch(server, ["cat"], data)
    assert not (data / "cat.ndjson").exists() and victim.read_bytes() == VICTIM


def test_pipe_as_a_sidecar_does_not_block(server, tmp_path):
    # The sidecar used to be read with read_text: a pipe there made the run wait forever.
    data = tmp_path / "data"
    (data / ".fastdraw").mkdir(parents=True)
    (data / "cat.ndjson").write_bytes(source("cat"))
    os.mkfifo(data / ".fastdraw" / "cat.ndjson.json")
    done = subprocess.run([sys.executable, "-m", "fastdraw", "download", "--classes", "cat",
                           "--data", str(data), "--base-url", server.url],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert server.object_gets() == []  # verified by the listing's md5
    sidecar = data / ".fastdraw" / "cat.ndjson.json"
    assert json.loads(sidecar.read_text())["key"] == key("cat")  # the pipe replaced
