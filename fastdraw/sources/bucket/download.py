"""Verified, resumable downloads of class files from the public Quick, Draw! bucket.

The notebook lists the `quickdraw_dataset` bucket with one XML request, so it sees only the
first 1000 keys, and fetches files with `urlretrieve`: no check, no resume, and a file cut
short looks complete.  Here the listing follows the XML API's paging (`marker`,
`IsTruncated`, `NextMarker`).  Each file (`<class>.ndjson`, or `<class>.bin` of the binary
format) goes to `<class>.ndjson.part` (`.bin.part`), continued with an HTTP Range request
after a dropped connection or an interrupted run, retried with backoff on 5xx answers,
checked (the listed size, and the md5 / crc32c of the `x-goog-hash` header) and only then
renamed to `<class>.ndjson`.  A sidecar `.fastdraw/<class>.ndjson.json` records
what was verified, so a re-run costs one listing and no download.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import http.client
import json
import logging
import os
import re
import socket
import stat
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import quote

import google_crc32c

from fastdraw.errors import BucketError, ChecksumError, UnknownClassError, UnsafePathError
from fastdraw.progress import Progress
from fastdraw.sources.bucket import transport
from fastdraw.sources.bucket.datadir import (
    SidecarUnwritable,
    check_part,
    link_target,
    lstat,
    open_part,
    read_sidecar,
    same_file,
    what_is,
    write_sidecar,
)
from fastdraw.sources.bucket.listing import (
    BUCKET,
    DEFAULT_BASE_URL,
    RemoteObject,
    bucket_url,
    check_known,
    list_keys,
    list_objects,
)
from fastdraw.sources.bucket.transport import (
    Attempts,
    Stopped,
    Transient,
    connecting,
    describe,
    open_url,
)
from fastdraw.sources.classes import check_categories

log = logging.getLogger(__name__)

SIDECAR_FORMAT = "fastdraw-download/1"
CHUNK = 1 << 20


def _part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _file_md5(path: Path) -> str:
    """The md5 of a regular file (checked on the open descriptor: never a pipe's wait)."""
    md5 = hashlib.md5()
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafePathError(f"{path}: not a file any more: run again")
        while chunk := f.read(CHUNK):
            md5.update(chunk)
    return md5.hexdigest()


def _read_sidecar(dest: Path) -> dict | None:
    data = read_sidecar(dest.parent, f"{dest.name}.json")
    try:
        record = json.loads(data) if data is not None else None
    except ValueError:
        return None
    return record if isinstance(record, dict) and record.get("format") == SIDECAR_FORMAT else None


def _write_sidecar(obj: RemoteObject, dest: Path, md5_hex: str, mtime_ns: int) -> None:
    """Records that `dest` (as it is now: size, mtime) holds `obj` with this md5.

    Only a cache of the check: where it cannot be written (a read-only data directory, a full
    disk, a `.fastdraw` that is a link), `dest` is still verified, and is hashed again on the
    next run.
    """
    record = {"format": SIDECAR_FORMAT, "key": obj.key, "etag": obj.etag, "size": obj.size,
              "md5": md5_hex, "mtime_ns": mtime_ns}
    text = json.dumps(record, indent=1, sort_keys=True) + "\n"
    try:
        write_sidecar(dest.parent, f"{dest.name}.json", text.encode("utf-8"))
    except SidecarUnwritable as e:
        log.warning("%s is verified, but %s: it will be hashed again next time", dest, e)


def _holds(obj: RemoteObject, dest: Path, st: os.stat_result) -> tuple[bool, str, bool]:
    """Whether `dest` (a regular file, `st` its stat) holds `obj`, checked without
    downloading: (holds, why not, whether the file can be continued).

    A sidecar matching the listing (key, ETag, size) and the file (size, mtime) settles it;
    a touched file is re-hashed against the sidecar's md5.  Without a sidecar, a file of the
    listed size is hashed against the listing's md5 (the ETag).  A file cut short (by an
    interrupted download outside fastdraw, say), or one of the listed size whose md5 the
    listing does not give, can be continued with a Range request and verified whole (a
    mismatch then downloads it whole once more).
    """
    size = st.st_size
    record = _read_sidecar(dest)
    same = record is not None and (record.get("key"), record.get("etag"), record.get("size")) == (
        obj.key, obj.etag, obj.size)
    if same and size == obj.size:
        if record.get("mtime_ns") == st.st_mtime_ns:
            return True, "", False
        if _file_md5(dest) == record.get("md5"):
            _write_sidecar(obj, dest, record["md5"], st.st_mtime_ns)
            return True, "", False
        return False, "changed since it was downloaded (its md5 differs)", False
    if record is None and size == obj.size and obj.md5_hex is not None:
        if _file_md5(dest) == obj.md5_hex:
            log.info("%s: already complete (md5 matches the listing)", dest)
            _write_sidecar(obj, dest, obj.md5_hex, st.st_mtime_ns)
            return True, "", False
        return False, "has the listed size but not the listed md5", False
    if (size < obj.size and (record is None or same)) or (size == obj.size and record is None):
        return False, f"holds {size} of {obj.size} bytes, not verified", True
    return False, f"is not the bucket's {obj.key} ({size} bytes; the listing says {obj.size})", \
        False


def _is_complete(obj: RemoteObject, dest: Path) -> bool:
    """Whether `dest` holds `obj`, checked without downloading; when it does not, it is
    left to be replaced by the download, or moved to the partial file to be continued.

    Nothing is written through a link (see `datadir`): a link at the partial file, a class
    file that is a link not leading to a copy of `obj`, or a pipe or directory in the way
    raises UnsafePathError.  A file with other hard links is downloaded anew, not continued.
    """
    part = _part_path(dest)
    part_st = check_part(part, dest.name)
    st = lstat(dest)
    if st is None:
        return False
    linked = stat.S_ISLNK(st.st_mode)
    if linked:
        try:
            st = dest.stat()
        except OSError as e:
            why = ("which does not exist" if isinstance(e, FileNotFoundError)
                   else f"which cannot be read ({e.strerror or e})")
            raise UnsafePathError(_link_refused(dest, why)) from None
    if not stat.S_ISREG(st.st_mode):
        if linked:
            raise UnsafePathError(_link_refused(dest, f"which is {what_is(st.st_mode)}, not a "
                                                      "file"))
        raise UnsafePathError(f"{dest}: {what_is(st.st_mode)}, not a file, where the class file "
                              "goes: move it away (or give another --data) and run again")
    holds, why, continuable = _holds(obj, dest, st)
    if holds:
        return True
    if linked:
        raise UnsafePathError(_link_refused(dest, f"which {why}"))
    if not continuable:
        log.warning("%s %s: downloading it again", dest, why)
    elif st.st_nlink > 1:
        log.info("%s %s, and has other names (hard links): downloading it anew, they keep "
                 "their bytes", dest, why)
    elif part_st is None or part_st.st_size < st.st_size:
        log.info("%s %s: continuing it", dest, why)
        os.replace(dest, part)
    return False


def _link_refused(dest: Path, why: str) -> str:
    return (f"{dest}: a symbolic link to {link_target(dest)}, {why}: fastdraw never writes "
            f"through a link. Remove the link (rm {str(dest)!r}) to download the file here, or "
            "make it point to a complete copy")


class _Part:
    """The partial file, with the md5 and crc32c of what it holds.

    Written straight to its descriptor (no buffer), so that the size and hashes describe the
    file even after a write failed halfway (a full disk): a retry or the next run continues
    from what is really there.  Opened by `datadir.open_part`: never through a link.
    """

    def __init__(self, path: Path, class_file: str, limit: int) -> None:
        self.path = path
        self.fd = open_part(path, class_file)
        if os.fstat(self.fd).st_size > limit:
            os.ftruncate(self.fd, limit)
        self._rehash()

    def _rehash(self) -> None:
        self.md5 = hashlib.md5()
        self.crc32c = google_crc32c.Checksum()
        self.size = 0
        while chunk := os.pread(self.fd, CHUNK, self.size):
            self.md5.update(chunk)
            self.crc32c.update(chunk)
            self.size += len(chunk)

    def write(self, data: bytes) -> None:
        while data:
            n = os.write(self.fd, data)
            written, data = data[:n], data[n:]
            self.md5.update(written)
            self.crc32c.update(written)
            self.size += n

    def reset(self) -> int:
        """Empties the file; returns how many bytes were dropped."""
        dropped = self.size
        os.ftruncate(self.fd, 0)
        self._rehash()
        return dropped

    def move_to(self, dest: Path) -> int:
        """Syncs the part and renames it to `dest`; returns its mtime (ns).  The part's name
        must still be this file: one swapped meanwhile (for a link) is not moved."""
        os.fsync(self.fd)
        st = os.fstat(self.fd)
        if not same_file(st, lstat(self.path)):
            raise UnsafePathError(f"{self.path} was replaced during the download: it was not "
                                  f"moved to {dest}; run again")
        os.replace(self.path, dest)
        return st.st_mtime_ns

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


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

    def __init__(self, obj: RemoteObject, dest: Path, base_url: str, progress: Progress,
                 stop: threading.Event, bucket: str = BUCKET) -> None:
        self.obj = obj
        self.dest = dest
        self.url = f"{bucket_url(base_url, bucket)}/{quote(obj.key)}"
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
        connecting.watch = self._connected
        try:
            yield
        finally:
            connecting.watch = None
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
        part = _Part(part_path, self.dest.name, max(self.obj.size - 1, 0))
        try:
            whole_retry_left = True
            resumed = part.size > 0
            attempts = Attempts(f"downloading {self.url}", self.stop)
            while True:
                try:
                    resumed |= part.size > 0
                    self._fetch(part, attempts)
                except Transient as e:
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
            mtime_ns = part.move_to(self.dest)
        finally:
            part.close()
        _write_sidecar(self.obj, self.dest, part.md5.hexdigest(), mtime_ns)
        log.debug("%s: %d bytes, verified", self.dest, self.obj.size)

    def _fetch(self, part: _Part, attempts: Attempts) -> None:
        """One GET from the end of the part to the end of the object."""
        offset = part.size
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            with self._opening():
                response = open_url(self.url, headers, transport.RETRY.timeout)
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
                    raise Stopped
                if part.size + len(chunk) > self.obj.size:  # never written: a body may not end
                    raise BucketError(f"{self.url} sent more than the {self.obj.size} bytes the "
                                      "listing said: the bucket changed; run again")
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
            raise Transient(f"connection closed after {part.size} of {self.obj.size} bytes")

    def _read(self, response: http.client.HTTPResponse, part: _Part) -> bytes:
        """What has arrived of the body (at most CHUNK bytes); b"" at its end.  One system
        call, so that the bytes received before a stall are kept when the read times out.
        Network failures raise Transient (a failed write to the part is not one)."""
        try:
            return response.read1(CHUNK)
        except (OSError, http.client.HTTPException) as e:
            raise Transient(f"connection lost after {part.size} of {self.obj.size} bytes "
                             f"({describe(e)})") from None

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


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def _download_all(objects: list[RemoteObject], data_dir: Path, base_url: str, jobs: int,
                  progress: bool) -> None:
    """Downloads `objects` with `jobs` threads; stops at the first failure, letting running
    downloads finish (verified files stay), and raises it."""
    done = 0
    for obj in objects:
        part = lstat(_part_path(data_dir / obj.file))
        if part is not None and stat.S_ISREG(part.st_mode):
            done += min(part.st_size, max(obj.size - 1, 0))
    meter = Progress("download", sum(obj.size for obj in objects), "B", progress, initial=done)
    stop = threading.Event()
    downloads = [_Download(obj, data_dir / obj.file, base_url, meter, stop)
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
        log.info("%s", meter.line())


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
    """Makes `data_dir/<class>.ndjson` (`.bin` for binary) a verified copy of the bucket's
    `full/<fmt>/` object of every class, downloading only what is missing, partial, or not
    the bucket's object.

    An unknown class raises UnknownClassError before anything is downloaded: one that is
    not a Quick, Draw! category before any network request, one the bucket does not list
    after listing it.  Another run downloading into `data_dir` is waited for.  Returns the paths, in
    the order of `classes`.  Raises BucketError (or its ChecksumError) when a download fails;
    the files verified so far stay.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    data_dir = Path(data_dir)
    wanted = list(dict.fromkeys(classes))
    try:
        check_categories(wanted)
    except UnknownClassError as e:
        raise UnknownClassError(f"{e}; nothing downloaded") from None
    objects = list_objects(base_url, fmt)
    check_known(wanted, objects, fmt, f"{bucket_url(base_url)}/full/{fmt}/")
    data_dir.mkdir(parents=True, exist_ok=True)
    with _directory_lock(data_dir):
        todo, refused = [], []
        for name in wanted:
            try:
                if not _is_complete(objects[name], data_dir / objects[name].file):
                    todo.append(objects[name])
            except UnsafePathError as e:
                refused.append(str(e))
        if refused:
            raise UnsafePathError("; ".join(refused) + "; nothing downloaded")
        log.info("%d of %d class files already complete in %s%s", len(wanted) - len(todo),
                 len(wanted), data_dir,
                 f"; downloading {len(todo)} ({_mib(sum(o.size for o in todo))})" if todo else "")
        if todo:
            _download_all(todo, data_dir, base_url, jobs, progress)
    return [data_dir / objects[name].file for name in classes]


def retrieve_object(bucket: str, key: str, dest: str | os.PathLike, *,
                    base_url: str = DEFAULT_BASE_URL, progress: bool = False) -> Path:
    """Makes ``dest`` a verified copy of object ``key`` of ``bucket``, as `ensure_downloaded`
    does for class files: listed first (its size and md5), fetched into ``<dest>.part``,
    continued after an interruption, checked, then moved into place; a ``dest`` already
    complete is not fetched again.  Raises BucketError when the bucket has no such key."""
    dest = Path(dest)
    listed = [obj for obj in list_keys(base_url, bucket, key) if obj.key == key]
    if not listed:
        raise BucketError(f"no object {key!r} in {bucket_url(base_url, bucket)} (the listing "
                          f"of prefix {key!r} does not have it); nothing downloaded")
    obj = listed[0]
    with _directory_lock(dest.parent):
        if _is_complete(obj, dest):
            return dest
        part = _part_path(dest)
        done = min(part.stat().st_size, max(obj.size - 1, 0)) if part.exists() else 0
        meter = Progress("download", obj.size, "B", progress, initial=done)
        try:
            with meter.logging_redirected():
                _Download(obj, dest, base_url, meter, threading.Event(), bucket).run()
        finally:
            meter.close()
    return dest
