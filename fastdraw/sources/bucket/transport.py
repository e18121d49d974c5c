"""The HTTP layer of the bucket client: GET with retries and backoff, and connections that a
download can shut down at once (on Ctrl-C) however stalled the server is."""

from __future__ import annotations

import http.client
import logging
import random
import threading
from dataclasses import dataclass
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import HTTPHandler, HTTPSHandler, Request, build_opener

from fastdraw.errors import BucketError

log = logging.getLogger(__name__)

USER_AGENT = "fastdraw (+https://github.com/googlecreativelab/quickdraw-dataset)"


@dataclass(frozen=True)
class Retry:
    """How hard to try: failed attempts in a row before giving up, and the waits between."""

    attempts: int = 6
    backoff: float = 0.5  # first wait in seconds, doubled after each failure
    max_backoff: float = 30.0
    timeout: float = 60.0  # socket timeout of each request


RETRY = Retry()


class Transient(Exception):
    """A failure worth retrying: a 5xx answer, a dropped connection, a short body."""


class Stopped(Exception):
    """The run is being interrupted: leave the partial file for the next run."""


connecting = threading.local()  # .watch: told each socket the thread connects, if set


class _TellsItsSocket:
    """A connection that hands its socket, once connected, to this thread's
    ``connecting.watch``."""

    def connect(self) -> None:
        super().connect()
        watch = getattr(connecting, "watch", None)
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


def open_url(url: str, headers: dict[str, str], timeout: float) -> http.client.HTTPResponse:
    """GET `url`; 5xx / 408 / 429 answers and network errors raise Transient."""
    request = Request(url, headers={"User-Agent": USER_AGENT, **headers})
    try:
        return _opener.open(request, timeout=timeout)
    except HTTPError as e:
        if e.code >= 500 or e.code in (408, 429):
            e.close()
            raise Transient(f"HTTP {e.code} {e.reason}") from None
        raise
    except (OSError, http.client.HTTPException) as e:
        raise Transient(describe(e)) from None


def describe(e: BaseException) -> str:
    if isinstance(e, URLError) and not isinstance(e, HTTPError):
        return f"network error: {e.reason}"
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


class Attempts:
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
            raise Stopped

    def progressed(self) -> None:
        self.failures = 0


def get_bytes(url: str, limit: int) -> bytes:
    """The whole body of `url`, retrying transient failures; BucketError when it is longer
    than `limit` bytes (read no further)."""
    attempts = Attempts(f"GET {url}")
    while True:
        try:
            with open_url(url, {}, RETRY.timeout) as response:
                body = response.read(limit + 1)
            if len(body) > limit:
                raise BucketError(f"GET {url}: the answer is longer than {limit} bytes, more "
                                  "than any answer of the bucket: is --base-url right?")
            return body
        except HTTPError as e:
            raise BucketError(f"GET {url}: HTTP {e.code} {e.reason}") from None
        except Transient as e:
            attempts.failed(str(e))
        except (OSError, http.client.HTTPException) as e:
            attempts.failed(describe(e))
