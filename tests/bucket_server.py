"""A local stand-in for the public `quickdraw_dataset` bucket (Cloud Storage XML API).

Serves the paged XML listing (`prefix`, `marker`, `IsTruncated`, `NextMarker`) and objects
with Range support and `x-goog-hash` headers, on 127.0.0.1, from real class files.  Faults
can be injected per object (or for the listing): 503 answers, connections cut mid-body,
stalls, corrupted bytes, Range ignored, no size in the listing, a body that never ends;
objects can pose as composite ones (no md5, ETag not an md5).  The listing itself can be
hostile (`endless`): a listing that never ends.  Every request is recorded, so tests can
tell what the client asked for.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

import google_crc32c
import realdata

BUCKET = "quickdraw_dataset"
LISTING = ""  # the fault key of the listing requests
GENERATION = 1500000000000000
# A hostile listing gives up after this many pages, so that a client that never stops fails
# its test (on the requests it made) instead of hanging it.
ENDLESS_GIVES_UP = 5_000
ENDLESS_BODY_GIVES_UP = 64 << 20  # bytes an endless body sends before the server gives up
ENDLESS = ("new-keys", "no-keys", "same-keys", "same-marker")


@dataclass
class Faults:
    """What goes wrong with one object (or the listing), consumed request by request."""

    errors: int = 0  # answer 503 this many times
    drops: int = 0  # cut the connection halfway through the body this many times
    stalls: int = 0  # send half the body, then nothing until the server stops, this many times
    silences: int = 0  # send nothing, not even the headers, until the server stops, this many times
    corrupt: bool = False  # serve one flipped byte, with the true object's hashes
    composite: bool = False  # no md5 in x-goog-hash, ETag not an md5 (a composed object)
    ignore_range: bool = False  # answer 200 and the whole object to a Range request
    bad_size: bool = False  # list the object with an empty <Size>
    endless: bool = False  # no Content-Length, and the object's bytes again and again after it


@dataclass
class Request:
    method: str
    key: str | None  # None for a listing
    query: dict[str, str]
    range: str | None
    status: int
    sent: int = 0  # body bytes written


@dataclass(frozen=True)
class Object:
    """An object's bytes and their digests (computed once)."""

    data: bytes
    md5: bytes = field(init=False)
    crc32c: bytes = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "md5", hashlib.md5(self.data).digest())
        object.__setattr__(self, "crc32c", google_crc32c.Checksum(self.data).digest())


def class_objects(directory: Path, fmt: str) -> dict[str, Object]:
    """Every `<class>.ndjson` of a directory as the bucket's `full/<fmt>/` keys (fails if the
    directory holds none)."""
    return {f"full/{fmt}/{path.name}": Object(path.read_bytes())
            for path in realdata.files(directory)}


_MADE_UP = Object(b"")  # what an endless listing's made-up keys are listed as


class BucketServer:
    """The fake bucket on 127.0.0.1 at a free port; a context manager starts and stops it."""

    def __init__(self, objects: dict[str, Object], page_size: int = 3,
                 hash_style: str = "separate", next_marker: bool = True,
                 delay: float = 0.0, endless: str | None = None) -> None:
        assert endless is None or endless in ENDLESS, endless
        self.objects = dict(objects)
        self.page_size = page_size
        # A listing that always says IsTruncated, past the real objects: with page_size new
        # made-up keys a page and a new NextMarker ("new-keys"), no keys and a new NextMarker
        # ("no-keys"), the first page's keys again under a new NextMarker ("same-keys"), or
        # the marker it was asked for as NextMarker ("same-marker").
        self.endless = endless
        self.pages_listed = 0
        self.hash_style = hash_style  # "separate" x-goog-hash headers, or one "joined"
        self.next_marker = next_marker  # False: S3 style, the client uses the last Key
        self.delay = delay  # seconds before each object body (to observe parallel downloads)
        self.faults: dict[str, Faults] = {}
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.stalled = threading.Event()  # set when a stall begins
        self.stopping = threading.Event()  # ends the stalls
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.bucket = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,),
                                       daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> BucketServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()

    def fault(self, key: str, **faults: object) -> None:
        self.faults[key] = Faults(**faults)

    def put(self, key: str, data: bytes) -> None:
        """Replaces an object (a new generation in the real bucket)."""
        self.objects[key] = Object(data)

    def object_gets(self, key: str | None = None) -> list[Request]:
        return [r for r in self.requests if r.key is not None and key in (None, r.key)]

    def listings(self) -> list[Request]:
        return [r for r in self.requests if r.key is None]


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read `BucketServer.requests` instead."""

    @property
    def bucket(self) -> BucketServer:
        return self.server.bucket

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        if path in (f"/{BUCKET}", f"/{BUCKET}/"):
            self._listing(query)
        elif path.startswith(f"/{BUCKET}/"):
            self._object(path[len(BUCKET) + 2:], query)
        else:
            self._error(None, query, 404, "NoSuchBucket")

    def _record(self, key: str | None, query: dict[str, str], status: int) -> Request:
        request = Request("GET", key, query, self.headers.get("Range"), status)
        self.bucket.requests.append(request)
        return request

    def _error(self, key: str | None, query: dict[str, str], status: int, code: str,
               headers: dict[str, str] | None = None) -> None:
        self._record(key, query, status)
        body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code></Error>"
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/xml; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def _take(self, key: str, what: str) -> bool:
        """Consumes one `what` fault of `key`, if any is left."""
        with self.bucket.lock:
            faults = self.bucket.faults.get(key)
            if faults is None or getattr(faults, what) <= 0:
                return False
            setattr(faults, what, getattr(faults, what) - 1)
            return True

    def _listing(self, query: dict[str, str]) -> None:
        if self._take(LISTING, "errors"):
            self._error(None, query, 503, "ServiceUnavailable")
            return
        prefix, marker = query.get("prefix", ""), query.get("marker", "")
        size = min(self.bucket.page_size, int(query.get("max-keys", 1000)))
        keys = [k for k in sorted(self.bucket.objects) if k.startswith(prefix) and k > marker]
        page, truncated = keys[:size], len(keys) > size
        next_key = page[-1] if page else marker
        with self.bucket.lock:
            number = self.bucket.pages_listed = self.bucket.pages_listed + 1
        if self.bucket.endless and number <= ENDLESS_GIVES_UP:
            page, next_key, truncated = self._endless_page(prefix, marker, page, size, number)
        entries = []
        for key in page:
            obj = self.bucket.objects.get(key, _MADE_UP)
            faults = self.bucket.faults.get(key, Faults())
            entries.append(
                f"<Contents><Key>{escape(key)}</Key><Generation>{GENERATION}</Generation>"
                f"<MetaGeneration>1</MetaGeneration>"
                f"<LastModified>2017-03-09T00:00:00.000Z</LastModified>"
                f"<ETag>{escape(self._etag(key, obj), {chr(34): '&quot;'})}</ETag>"
                f"<Size>{'' if faults.bad_size else len(obj.data)}</Size></Contents>")
        next_marker = (f"<NextMarker>{escape(next_key)}</NextMarker>"
                       if truncated and self.bucket.next_marker else "")
        body = (
            "<?xml version='1.0' encoding='UTF-8'?>"
            "<ListBucketResult xmlns='http://doc.s3.amazonaws.com/2006-03-01'>"
            f"<Name>{BUCKET}</Name><Prefix>{escape(prefix)}</Prefix>"
            f"<Marker>{escape(marker)}</Marker>{next_marker}"
            f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
            + "".join(entries) + "</ListBucketResult>"
        ).encode()
        request = self._record(None, query, 200)
        self.send_response(200)
        self.send_header("Content-Type", "application/xml; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        request.sent = len(body)

    def _endless_page(self, prefix: str, marker: str, page: list[str], size: int,
                      number: int) -> tuple[list[str], str, bool]:
        """(keys, NextMarker, truncated) of page `number` of a listing that never ends."""
        mode = self.bucket.endless
        if mode == "same-marker":
            return page, marker, True
        made_up = f"{prefix}~{number:09d}"  # sorts after every real key, and grows
        if mode == "same-keys":
            return [k for k in sorted(self.bucket.objects) if k.startswith(prefix)][:size], \
                made_up, True
        if mode == "no-keys":
            return [], made_up, True
        keys = [f"{made_up}-{i}.ndjson" for i in range(size)]
        return keys, keys[-1], True

    def _etag(self, key: str, obj: Object) -> str:
        faults = self.bucket.faults.get(key)
        if faults is not None and faults.composite:
            return '"' + base64.b64encode(obj.crc32c).decode() + '"'
        return '"' + obj.md5.hex() + '"'

    def _object(self, key: str, query: dict[str, str]) -> None:
        obj = self.bucket.objects.get(key)
        if obj is None:
            self._error(key, query, 404, "NoSuchKey")
            return
        if self._take(key, "errors"):
            self._error(key, query, 503, "ServiceUnavailable")
            return
        faults = self.bucket.faults.get(key, Faults())
        data = obj.data
        if faults.corrupt and data:
            middle = len(data) // 2
            data = data[:middle] + bytes([data[middle] ^ 0x20]) + data[middle + 1:]
        total = len(data)
        start, status, headers = 0, 200, {}
        requested = None if faults.ignore_range else self.headers.get("Range")
        if requested is not None:
            first, _, last = requested.removeprefix("bytes=").partition("-")
            start = int(first)
            end = int(last) if last else total - 1
            if start >= total:
                self._error(key, query, 416, "InvalidRange",
                            {"Content-Range": f"bytes */{total}"})
                return
            end = min(end, total - 1)
            data = data[start:end + 1]
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{total}"
        hashes = [f"crc32c={base64.b64encode(obj.crc32c).decode()}"]
        if not faults.composite:
            hashes.append(f"md5={base64.b64encode(obj.md5).decode()}")
        request = self._record(key, query, status)
        if self._take(key, "silences"):
            self.bucket.stalled.set()
            self.bucket.stopping.wait()
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/x-ndjson")
        if not faults.endless:
            self.send_header("Content-Length", str(len(data)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", self._etag(key, obj))
        self.send_header("x-goog-generation", str(GENERATION))
        self.send_header("x-goog-stored-content-length", str(total))
        self.send_header("x-goog-stored-content-encoding", "identity")
        if self.bucket.hash_style == "joined":
            self.send_header("x-goog-hash", ",".join(hashes))
        else:
            for value in hashes:
                self.send_header("x-goog-hash", value)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        with self.bucket.lock:
            self.bucket.active += 1
            self.bucket.max_active = max(self.bucket.max_active, self.bucket.active)
        try:
            time.sleep(self.bucket.delay)
            if self._take(key, "stalls"):
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                request.sent = len(data) // 2
                self.bucket.stalled.set()
                self.bucket.stopping.wait()
                return
            if faults.endless:
                self.close_connection = True
                while request.sent < ENDLESS_BODY_GIVES_UP and not self.bucket.stopping.is_set():
                    self.wfile.write(data)
                    request.sent += len(data)
                return
            if self._take(key, "drops"):
                self.wfile.write(data[: len(data) // 2])
                request.sent = len(data) // 2
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(data)
            request.sent = len(data)
        finally:
            with self.bucket.lock:
                self.bucket.active -= 1
