"""Class listing and verified, resumable downloads from the public Quick, Draw! bucket.

The notebook lists the `quickdraw_dataset` bucket with one XML request, so it sees only the
first 1000 keys, and fetches files with `urlretrieve`: no check, no resume, and a file cut
short looks complete.  Here the listing follows the XML API's paging (`marker`,
`IsTruncated`, `NextMarker`).  Each file goes to `<class>.ndjson.part`, continued with an
HTTP Range request after a dropped connection or an interrupted run, retried with backoff on
5xx answers, checked (the listed size, and the md5 / crc32c of the `x-goog-hash` header) and
only then renamed to `<class>.ndjson`.  A sidecar `.fastdraw/<class>.ndjson.json` records
what was verified, so a re-run costs one listing and no download.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import fcntl
import hashlib
import http.client
import json
import logging
import os
import random
import re
import socket
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode, urlsplit
from urllib.request import HTTPHandler, HTTPSHandler, Request, build_opener

import google_crc32c

from fastdraw.classes import classes_from_args, with_close_matches
from fastdraw.cli import DEFAULT_BASE_URL
from fastdraw.progress import terminal_bar

log = logging.getLogger(__name__)

BUCKET = "quickdraw_dataset"
FORMATS = ("simplified", "raw")
SIDECAR_DIR = ".fastdraw"
SIDECAR_FORMAT = "fastdraw-download/1"
CHUNK = 1 << 20
USER_AGENT = "fastdraw (+https://github.com/googlecreativelab/quickdraw-dataset)"


@dataclass(frozen=True)
class Retry:
    """How hard to try: failed attempts in a row before giving up, and the waits between."""

    attempts: int = 6
    backoff: float = 0.5  # first wait in seconds, doubled after each failure
    max_backoff: float = 30.0
    timeout: float = 60.0  # socket timeout of each request


RETRY = Retry()
LOG_EVERY = 10.0  # seconds between progress log lines when stderr is not a terminal


class BucketError(RuntimeError):
    """The bucket could not be listed, or a file could not be downloaded (network, HTTP)."""


class ChecksumError(BucketError):
    """A downloaded object does not match its size or hash; the bytes were not kept."""


class UnknownClassError(ValueError):
    """A requested class is not in the bucket's listing."""


@dataclass(frozen=True)
class RemoteObject:
    """One `full/<format>/<name>.ndjson` object of the listing."""

    name: str
    key: str
    size: int
    etag: str  # without quotes

    @property
    def md5_hex(self) -> str | None:
        """The md5 the listing gives: the ETag of a non-composite object is its hex md5."""
        return self.etag if re.fullmatch(r"[0-9a-f]{32}", self.etag) else None


class _Transient(Exception):
    """A failure worth retrying: a 5xx answer, a dropped connection, a short body."""


class _Stopped(Exception):
    """The run is being interrupted: leave the partial file for the next run."""


# ---------------------------------------------------------------------------- HTTP


_connecting = threading.local()  # .watch: told each socket the thread connects, if set


class _TellsItsSocket:
    """A connection that hands its socket, once connected, to this thread's
    ``_connecting.watch``."""

    def connect(self) -> None:
        super().connect()
        watch = getattr(_connecting, "watch", None)
        if watch is not None:
            watch(self.sock)


class _WatchedHTTPConnection(_TellsItsSocket, http.client.HTTPConnection):
    pass


class _WatchedHTTPSConnection(_TellsItsSocket, http.client.HTTPSConnection):
    pass


_WATCHED = {http.client.HTTPConnection: _WatchedHTTPConnection,
            http.client.HTTPSConnection: _WatchedHTTPSConnection}


class _Watching:
    """A urllib handler that opens the connections above instead of http.client's."""

    def do_open(self, http_class: type[http.client.HTTPConnection], req: Request,
                **kwargs: Any) -> http.client.HTTPResponse:
        return super().do_open(_WATCHED.get(http_class, http_class), req, **kwargs)


class _WatchedHTTPHandler(_Watching, HTTPHandler):
    pass


class _WatchedHTTPSHandler(_Watching, HTTPSHandler):
    pass


# urllib's default opener (proxies from the environment, redirects), with connections that
# tell a download their socket before the answer comes: Ctrl-C can then shut it down.
_opener = build_opener(_WatchedHTTPHandler, _WatchedHTTPSHandler)


def _open(url: str, headers: dict[str, str], timeout: float) -> http.client.HTTPResponse:
    """GET `url`; 5xx / 408 / 429 answers and network errors raise _Transient."""
    request = Request(url, headers={"User-Agent": USER_AGENT, **headers})
    try:
        return _opener.open(request, timeout=timeout)
    except HTTPError as e:
        if e.code >= 500 or e.code in (408, 429):
            e.close()
            raise _Transient(f"HTTP {e.code} {e.reason}") from None
        raise
    except (OSError, http.client.HTTPException) as e:
        raise _Transient(_describe(e)) from None


def _describe(e: BaseException) -> str:
    if isinstance(e, URLError) and not isinstance(e, HTTPError):
        return f"network error: {e.reason}"
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


class _Attempts:
    """Counts failed attempts in a row (progress resets it) and waits with backoff."""

    def __init__(self, what: str, stop: threading.Event | None = None) -> None:
        self.what = what
        self.stop = stop or threading.Event()
        self.failures = 0

    def failed(self, reason: str) -> None:
        self.failures += 1
        retry = RETRY
        if self.failures >= retry.attempts:
            raise BucketError(f"{self.what}: gave up after {self.failures} failed attempts in "
                              f"a row; last: {reason}")
        delay = min(retry.max_backoff, retry.backoff * 2 ** (self.failures - 1))
        delay *= random.uniform(0.5, 1.0)
        log.warning("%s: %s; retrying in %.1f s (attempt %d of %d)", self.what, reason, delay,
                    self.failures + 1, retry.attempts)
        if self.stop.wait(delay):
            raise _Stopped

    def progressed(self) -> None:
        self.failures = 0


def _get_bytes(url: str) -> bytes:
    """The whole body of `url`, retrying transient failures."""
    attempts = _Attempts(f"GET {url}")
    while True:
        try:
            with _open(url, {}, RETRY.timeout) as response:
                return response.read()
        except HTTPError as e:
            raise BucketError(f"GET {url}: HTTP {e.code} {e.reason}") from None
        except _Transient as e:
            attempts.failed(str(e))
        except (OSError, http.client.HTTPException) as e:
            attempts.failed(_describe(e))


# ---------------------------------------------------------------------------- listing


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child_text(element: ET.Element, name: str) -> str:
    for child in element:
        if _local_name(child.tag) == name:
            return (child.text or "").strip()
    return ""


def _bucket_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/{BUCKET}"


def _check_base_url(base_url: str) -> None:
    """A `--base-url` that is not an http(s) URL with a host fails here, naming the option,
    rather than as urllib's 'unknown url type' or as retried network errors (file:)."""
    try:
        url = urlsplit(base_url)
        ok = url.scheme in ("http", "https") and bool(url.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"--base-url (or $FASTDRAW_BASE_URL) {base_url!r} is not an http:// or "
                         f"https:// URL with a host (the public bucket's endpoint is "
                         f"{DEFAULT_BASE_URL})")


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")


def list_objects(base_url: str, fmt: str = "simplified") -> dict[str, RemoteObject]:
    """Every `full/<fmt>/<name>.ndjson` object of the bucket, keyed by class name, in listing
    order, reading every page of the XML listing."""
    _check_format(fmt)
    _check_base_url(base_url)
    prefix = f"full/{fmt}/"
    objects: dict[str, RemoteObject] = {}
    marker = ""
    while True:
        query = {"prefix": prefix, **({"marker": marker} if marker else {})}
        url = f"{_bucket_url(base_url)}?{urlencode(query)}"
        body = _get_bytes(url)
        try:
            root = ET.fromstring(body)
        except ET.ParseError as e:
            raise BucketError(f"{url} did not answer an XML bucket listing ({e}): "
                              "is --base-url a Cloud Storage endpoint?") from None
        if _local_name(root.tag) != "ListBucketResult":
            raise BucketError(f"{url} answered <{_local_name(root.tag)}>, not a "
                              "ListBucketResult: is --base-url a Cloud Storage endpoint?")
        last_key = ""
        for contents in root:
            if _local_name(contents.tag) != "Contents":
                continue
            last_key = key = _child_text(contents, "Key")
            rest = key[len(prefix):]
            if key.startswith(prefix) and rest.endswith(".ndjson") and "/" not in rest:
                name = rest[: -len(".ndjson")]
                size = _child_text(contents, "Size")
                if not size.isdigit():
                    raise BucketError(f"{url}: the listing gives {key} no valid size (<Size> "
                                      f"{size!r}): is --base-url a Cloud Storage endpoint?")
                objects[name] = RemoteObject(name, key, int(size),
                                             _child_text(contents, "ETag").strip('"'))
        if _child_text(root, "IsTruncated").lower() != "true":
            break
        next_marker = _child_text(root, "NextMarker") or last_key
        if next_marker <= marker:
            raise BucketError(f"{url}: the listing says it is truncated but gives no marker "
                              "past this page")
        marker = next_marker
    if not objects:
        raise BucketError(f"no .ndjson object under {_bucket_url(base_url)}/{prefix}: "
                          "is --base-url right?")
    return objects


def list_classes(base_url: str, fmt: str = "simplified", regex: str = ".*") -> list[str]:
    """Class names available in the bucket in format `fmt`, in listing order, keeping those in
    which `regex` matches (`re.search`)."""
    try:
        pattern = re.compile(regex)
    except re.error as e:
        raise ValueError(f"bad regex {regex!r}: {e}") from None
    return [name for name in list_objects(base_url, fmt) if pattern.search(name)]


def _check_known(classes: list[str], objects: dict[str, RemoteObject], where: str) -> None:
    unknown = [name for name in classes if name not in objects]
    if not unknown:
        return
    parts = [with_close_matches(name, objects) for name in unknown]
    raise UnknownClassError(
        f"unknown class{'es' if len(unknown) > 1 else ''} {'; '.join(parts)}: not in {where} "
        f"({len(objects)} classes; `python -m fastdraw list` shows them); nothing downloaded")


# ---------------------------------------------------------------------------- local files


def _part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _sidecar_path(dest: Path) -> Path:
    return dest.parent / SIDECAR_DIR / f"{dest.name}.json"


def _file_md5(path: Path) -> str:
    md5 = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            md5.update(chunk)
    return md5.hexdigest()


def _read_sidecar(dest: Path) -> dict | None:
    try:
        record = json.loads(_sidecar_path(dest).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("format") == SIDECAR_FORMAT else None


def _write_sidecar(obj: RemoteObject, dest: Path, md5_hex: str) -> None:
    """Records that `dest` (as it is now: size, mtime) holds `obj` with this md5.

    Only a cache of the check: where it cannot be written (a read-only data directory, a full
    disk), `dest` is still verified, and is hashed again on the next run.
    """
    path = _sidecar_path(dest)
    record = {"format": SIDECAR_FORMAT, "key": obj.key, "etag": obj.etag, "size": obj.size,
              "md5": md5_hex, "mtime_ns": dest.stat().st_mtime_ns}
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(exist_ok=True)
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", "utf-8")
        os.replace(tmp, path)
    except OSError as e:
        log.warning("%s is verified, but %s cannot be written (%s): it will be hashed again "
                    "next time", dest, path, e.strerror or e)


def _is_complete(obj: RemoteObject, dest: Path) -> bool:
    """Whether `dest` holds `obj`, checked without downloading.

    A sidecar matching the listing (key, ETag, size) and the file (size, mtime) settles it;
    a touched file is re-hashed against the sidecar's md5.  Without a sidecar, a file of the
    listed size is hashed against the listing's md5 (the ETag).  A file cut short (by an
    interrupted download outside fastdraw, say), or one of the listed size whose md5 the
    listing does not give, becomes the partial file: it is continued with a Range request and
    verified whole (a mismatch then downloads it whole once more).
    """
    if not dest.exists():
        return False
    size = dest.stat().st_size
    record = _read_sidecar(dest)
    same = record is not None and (record.get("key"), record.get("etag"), record.get("size")) == (
        obj.key, obj.etag, obj.size)
    if same and size == obj.size:
        if record.get("mtime_ns") == dest.stat().st_mtime_ns:
            return True
        if _file_md5(dest) == record.get("md5"):
            _write_sidecar(obj, dest, record["md5"])
            return True
        log.warning("%s changed since it was downloaded (md5 differs): downloading it again",
                    dest)
        return False
    if record is None and size == obj.size and obj.md5_hex is not None:
        if _file_md5(dest) == obj.md5_hex:
            log.info("%s: already complete (md5 matches the listing)", dest)
            _write_sidecar(obj, dest, obj.md5_hex)
            return True
        log.warning("%s has the listed size but not the listed md5: downloading it again", dest)
        return False
    if (size < obj.size and (record is None or same)) or (size == obj.size and record is None):
        part = _part_path(dest)
        if not part.exists() or part.stat().st_size < size:
            log.info("%s: %d of %d bytes, not verified: continuing it", dest, size, obj.size)
            os.replace(dest, part)
        return False
    log.warning("%s (%d bytes) is not the bucket's %s (%d bytes): downloading it again",
                dest, size, obj.key, obj.size)
    return False


class _Part:
    """The partial file, with the md5 and crc32c of what it holds.

    Unbuffered, so that the size and hashes describe the file even after a write failed
    halfway (a full disk): a retry or the next run continues from what is really there.
    """

    def __init__(self, path: Path, limit: int) -> None:
        self.path = path
        self.file = open(path, "ab", buffering=0)
        if self.file.tell() > limit:
            self.file.truncate(limit)
        self._rehash()

    def _rehash(self) -> None:
        self.md5 = hashlib.md5()
        self.crc32c = google_crc32c.Checksum()
        self.file.flush()
        with open(self.path, "rb") as f:
            while chunk := f.read(CHUNK):
                self.md5.update(chunk)
                self.crc32c.update(chunk)
        self.size = os.path.getsize(self.path)

    def write(self, data: bytes) -> None:
        while data:
            n = self.file.write(data)
            written, data = data[:n], data[n:]
            self.md5.update(written)
            self.crc32c.update(written)
            self.size += n

    def reset(self) -> int:
        """Empties the file; returns how many bytes were dropped."""
        dropped = self.size
        self.file.truncate(0)
        self._rehash()
        return dropped

    def close(self) -> None:
        self.file.close()


# ---------------------------------------------------------------------------- download


def _goog_hashes(values: list[str]) -> dict[str, bytes]:
    """`x-goog-hash` values (`crc32c=<b64>,md5=<b64>`, possibly several headers) -> digests."""
    hashes = {}
    for value in values:
        for item in value.split(","):
            name, _, digest = item.strip().partition("=")
            try:
                hashes[name.strip().lower()] = base64.b64decode(digest, validate=True)
            except binascii.Error:
                log.debug("ignoring an unreadable x-goog-hash item %r", item)
    return hashes


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class _Download:
    """Fetches one object into its partial file, verifies it and moves it into place."""

    def __init__(self, obj: RemoteObject, dest: Path, base_url: str, progress: _Progress,
                 stop: threading.Event) -> None:
        self.obj = obj
        self.dest = dest
        self.url = f"{_bucket_url(base_url)}/{quote(obj.key)}"
        self.progress = progress
        self.stop = stop
        self.hashes: dict[str, bytes] = {}
        self.furthest = 0  # the largest part size reached: only going past it is progress
        self.lock = threading.Lock()
        self.response: http.client.HTTPResponse | None = None  # the body being read
        self.connection: socket.socket | None = None  # connected, its answer not yet come

    def abort(self) -> None:
        """Shuts the connection in use down, so that a read blocked on a slow or stalled
        server (its answer's headers or its body) returns now (on Ctrl-C) rather than after
        the socket timeout."""
        with self.lock:
            self._shut_down()

    def _shut_down(self) -> None:
        # The body may end, and its socket close, meanwhile: then there is nothing to do.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            fd = (self.response.fileno() if self.response is not None
                  else self.connection.fileno() if self.connection is not None else -1)
            if fd >= 0:
                with socket.socket(fileno=os.dup(fd)) as sock:
                    sock.shutdown(socket.SHUT_RDWR)

    def _connected(self, sock: socket.socket) -> None:
        with self.lock:
            self.connection = sock
            if self.stop.is_set():  # interrupted while it connected
                self._shut_down()

    @contextlib.contextmanager
    def _opening(self) -> Iterator[None]:
        _connecting.watch = self._connected
        try:
            yield
        finally:
            _connecting.watch = None
            with self.lock:
                self.connection = None

    @contextlib.contextmanager
    def _reading(self, response: http.client.HTTPResponse) -> Iterator[None]:
        with self.lock:
            self.response = response
        try:
            yield
        finally:
            with self.lock:
                self.response = None

    def run(self) -> None:
        part_path = _part_path(self.dest)
        # The part is kept one byte short, so that even a complete one gets a GET whose
        # answer carries the x-goog-hash to verify it with.
        part = _Part(part_path, max(self.obj.size - 1, 0))
        try:
            whole_retry_left = True
            resumed = part.size > 0
            attempts = _Attempts(f"downloading {self.url}", self.stop)
            while True:
                try:
                    resumed |= part.size > 0
                    self._fetch(part, attempts)
                except _Transient as e:
                    attempts.failed(str(e))
                    continue
                mismatch = self._mismatch(part)
                if mismatch is None:
                    break
                if resumed and whole_retry_left:
                    log.warning("%s: %s after continuing a partial file: downloading it whole",
                                self.obj.key, mismatch)
                    self.progress.update(-part.reset())
                    self.furthest = 0
                    whole_retry_left = resumed = False
                    continue
                part.close()
                part_path.unlink()
                raise ChecksumError(f"{self.url}: {mismatch}: the object or the transfer is "
                                    f"corrupt; the bytes were not kept ({self.dest} untouched)")
            part.file.flush()
            os.fsync(part.file.fileno())
        finally:
            part.close()
        os.replace(part_path, self.dest)
        _write_sidecar(self.obj, self.dest, part.md5.hexdigest())
        log.debug("%s: %d bytes, verified", self.dest, self.obj.size)

    def _fetch(self, part: _Part, attempts: _Attempts) -> None:
        """One GET from the end of the part to the end of the object."""
        offset = part.size
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            with self._opening():
                response = _open(self.url, headers, RETRY.timeout)
        except HTTPError as e:
            if e.code == 416:
                raise BucketError(f"{self.url} is shorter than the listing said: the bucket "
                                  "changed; run again") from None
            raise BucketError(f"GET {self.url}: HTTP {e.code} {e.reason}") from None
        with response, self._reading(response):
            if response.status == 206:
                match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
                if match is None or int(match[1]) != offset:
                    raise BucketError(f"GET {self.url} with Range bytes={offset}-: answered "
                                      f"Content-Range {response.headers.get('Content-Range')}")
                total = None if match[3] == "*" else int(match[3])
            elif response.status == 200:
                if offset:
                    log.debug("%s: the server ignored Range; starting over", self.url)
                    self.progress.update(-part.reset())
                length = response.headers.get("Content-Length")
                total = int(length) if length is not None else None
            else:
                raise BucketError(f"GET {self.url}: unexpected HTTP {response.status}")
            if total is not None and total != self.obj.size:
                raise BucketError(f"{self.url} is {total} bytes, the listing said "
                                  f"{self.obj.size}: the bucket changed; run again")
            self.hashes = _goog_hashes(response.headers.get_all("x-goog-hash") or [])
            while chunk := self._read(response, part):
                if self.stop.is_set():
                    raise _Stopped
                try:
                    part.write(chunk)
                except OSError as e:
                    raise BucketError(
                        f"cannot write {part.path} ({e.strerror or e}): free some space or "
                        f"use another --data, then run again to continue from the {part.size} "
                        "bytes kept") from None
                self.progress.update(len(chunk))
                if part.size > self.furthest:
                    self.furthest = part.size
                    attempts.progressed()
        if part.size < self.obj.size:
            raise _Transient(f"connection closed after {part.size} of {self.obj.size} bytes")
        if part.size > self.obj.size:
            raise BucketError(f"{self.url} sent {part.size} bytes, the listing said "
                              f"{self.obj.size}: the bucket changed; run again")

    def _read(self, response: http.client.HTTPResponse, part: _Part) -> bytes:
        """What has arrived of the body (at most CHUNK bytes); b"" at its end.  One system
        call, so that the bytes received before a stall are kept when the read times out.
        Network failures raise _Transient (a failed write to the part is not one)."""
        try:
            return response.read1(CHUNK)
        except (OSError, http.client.HTTPException) as e:
            raise _Transient(f"connection lost after {part.size} of {self.obj.size} bytes "
                             f"({_describe(e)})") from None

    def _mismatch(self, part: _Part) -> str | None:
        """What is wrong with the complete part, or None when its hashes match."""
        expected = dict(self.hashes)
        if "md5" not in expected and self.obj.md5_hex is not None:
            expected["md5"] = bytes.fromhex(self.obj.md5_hex)
        if not {"md5", "crc32c"} & expected.keys():
            log.warning("%s: the server gives no md5 or crc32c: only the size was checked",
                        self.url)
        got = {"md5": part.md5.digest(), "crc32c": part.crc32c.digest()}
        for name in ("md5", "crc32c"):
            if name in expected and expected[name] != got[name]:
                return (f"{name} mismatch (got {base64.b64encode(got[name]).decode()}, "
                        f"the server says {base64.b64encode(expected[name]).decode()})")
        return None


class _Progress:
    """Bytes downloaded over all files: a tqdm bar on a terminal (fastdraw.progress), else a
    log line now and then."""

    def __init__(self, total: int, done: int, enabled: bool) -> None:
        self.lock = threading.Lock()
        self.total = total
        self.done = self.start_done = done
        self.start = self.last_log = time.monotonic()
        self.enabled = enabled
        self.bar = terminal_bar(total=total, initial=done, unit="B", unit_scale=True,
                                unit_divisor=1024, desc="download") if enabled else None

    def update(self, n: int) -> None:
        with self.lock:
            self.done += n
            if self.bar is not None:
                self.bar.update(n)
                return
            now = time.monotonic()
            if self.enabled and n > 0 and now - self.last_log >= LOG_EVERY:
                self.last_log = now
                log.info("%s", self.line(now))

    def line(self, now: float) -> str:
        rate = (self.done - self.start_done) / max(now - self.start, 1e-9)
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        return (f"downloaded {_mib(self.done)} of {_mib(self.total)} "
                f"({_mib(rate)}/s, ETA {eta:.0f} s)")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    @contextlib.contextmanager
    def logging_redirected(self) -> Iterator[None]:
        """Log records printed above the bar instead of through it."""
        if self.bar is None:
            yield
            return
        from tqdm.contrib.logging import logging_redirect_tqdm

        with logging_redirect_tqdm():
            yield


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def _download_all(objects: list[RemoteObject], data_dir: Path, base_url: str, jobs: int,
                  progress: bool) -> None:
    """Downloads `objects` with `jobs` threads; stops at the first failure, letting running
    downloads finish (verified files stay), and raises it."""
    done = 0
    for obj in objects:
        part = _part_path(data_dir / f"{obj.name}.ndjson")
        if part.exists():
            done += min(part.stat().st_size, max(obj.size - 1, 0))
    meter = _Progress(sum(obj.size for obj in objects), done, progress)
    stop = threading.Event()
    downloads = [_Download(obj, data_dir / f"{obj.name}.ndjson", base_url, meter, stop)
                 for obj in objects]
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="download")
    try:
        with meter.logging_redirected():
            futures = [pool.submit(download.run) for download in downloads]
            _, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for future in pending:
                future.cancel()
            wait(pending)
            errors = [f.exception() for f in futures
                      if f.done() and not f.cancelled() and f.exception() is not None]
    except BaseException:
        stop.set()
        for download in downloads:
            download.abort()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        meter.close()
    if errors:
        if len(errors) > 1:
            log.error("%d downloads failed; the first error follows", len(errors))
            for error in errors[1:]:
                log.error("%s", error)
        raise errors[0]
    if progress:
        log.info("%s", meter.line(time.monotonic()))


@contextlib.contextmanager
def _directory_lock(data_dir: Path) -> Iterator[None]:
    """Holds an exclusive `flock` on `data_dir` itself, waiting for any other run holding it.

    Two runs sharing a data directory (two builds that both need `cat`, say) would otherwise
    append to the same `.part` file, and one would move a file holding both copies into place
    as verified.  Locking the directory leaves no lock file behind; where it cannot be locked
    (some network file systems), the files are checked and fetched without the lock.
    """
    fd = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("another fastdraw run is downloading into %s: waiting for it to finish",
                        data_dir)
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as e:
            log.debug("cannot lock %s (%s): going on without the lock", data_dir, e)
        yield
    finally:
        os.close(fd)


def ensure_downloaded(classes: list[str], data_dir: str | os.PathLike, *,
                      fmt: str = "simplified", base_url: str = DEFAULT_BASE_URL, jobs: int = 4,
                      progress: bool = True) -> list[Path]:
    """Makes `data_dir/<class>.ndjson` a verified copy of the bucket's `full/<fmt>/<class>.ndjson`
    for every class, downloading only what is missing, partial, or not the bucket's object.

    Lists the bucket first: an unknown class raises UnknownClassError before anything is
    downloaded.  Another run downloading into `data_dir` is waited for.  Returns the paths, in
    the order of `classes`.  Raises BucketError (or its ChecksumError) when a download fails;
    the files verified so far stay.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    data_dir = Path(data_dir)
    objects = list_objects(base_url, fmt)
    wanted = list(dict.fromkeys(classes))
    _check_known(wanted, objects, f"{_bucket_url(base_url)}/full/{fmt}/")
    data_dir.mkdir(parents=True, exist_ok=True)
    with _directory_lock(data_dir):
        todo = [objects[name] for name in wanted
                if not _is_complete(objects[name], data_dir / f"{name}.ndjson")]
        log.info("%d of %d class files already complete in %s%s", len(wanted) - len(todo),
                 len(wanted), data_dir,
                 f"; downloading {len(todo)} ({_mib(sum(o.size for o in todo))})" if todo else "")
        if todo:
            _download_all(todo, data_dir, base_url, jobs, progress)
    return [data_dir / f"{name}.ndjson" for name in classes]


# ---------------------------------------------------------------------------- CLI


def _fail(command: str, error: BaseException) -> None:
    print(f"fastdraw {command}: error: {error}", file=sys.stderr)


def cli_list(args: argparse.Namespace) -> int:
    """`python -m fastdraw list`: class names, one per line.  Exit 2 on a bad regex, 1 when the
    bucket cannot be listed."""
    try:
        names = list_classes(args.base_url, args.format, args.regex)
    except ValueError as e:
        _fail("list", e)
        return 2
    except BucketError as e:
        _fail("list", e)
        return 1
    if not names:
        log.warning("no class matches %r", args.regex)
    sys.stdout.write("".join(f"{name}\n" for name in names))
    return 0


def cli_download(args: argparse.Namespace) -> int:
    """`python -m fastdraw download`: fetch class files.  Exit 2 on bad arguments (an unknown
    class), 1 when a download fails, 130 when interrupted (run again to resume)."""
    try:
        classes = classes_from_args(args)
        paths = ensure_downloaded(classes, args.data, fmt=args.format,
                                  base_url=args.base_url, jobs=args.jobs)
    except ValueError as e:
        _fail("download", e)
        return 2
    except (BucketError, OSError) as e:
        _fail("download", e)
        return 1
    except KeyboardInterrupt:
        _fail("download", "interrupted; partial files are kept: run again to resume")
        return 130
    log.info("%d class files ready in %s", len(paths), args.data)
    return 0
