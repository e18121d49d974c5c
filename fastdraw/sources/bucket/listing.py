"""The bucket's listing through its XML API, read page by page: every object under a prefix
(`list_keys`), and every class file of a format with its size and md5 (`list_objects`)."""

from __future__ import annotations

import logging
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from fastdraw.errors import BucketError, UnknownClassError
from fastdraw.sources.base import BUCKET_FORMATS, bucket_format
from fastdraw.sources.bucket.transport import get_bytes
from fastdraw.sources.classes import with_close_matches

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://storage.googleapis.com"
BUCKET = "quickdraw_dataset"
FORMATS = BUCKET_FORMATS  # full/<format>/: simplified, raw (ndjson), binary (.bin)
# The bucket holds about 2,100 objects; a format's listing is its 345 class files, on one
# page.  A listing past these bounds is not the Quick, Draw! bucket's and is not followed.
MAX_PAGES = 1_000
MAX_KEYS = 20_000
MAX_PAGE_BYTES = 16 << 20  # a page of 1,000 keys is about 600 KB
PROGRESS_EVERY = 2.0  # seconds between log lines of a listing that takes long


@dataclass(frozen=True)
class RemoteObject:
    """One `full/<format>/<name><suffix>` object of the listing (.ndjson, or .bin)."""

    name: str
    key: str
    size: int
    etag: str  # without quotes

    @property
    def file(self) -> str:
        """The name of its class file: ``<name><suffix>``."""
        return self.key.rsplit("/", 1)[-1]

    @property
    def md5_hex(self) -> str | None:
        """The md5 the listing gives: the ETag of a non-composite object is its hex md5."""
        return self.etag if re.fullmatch(r"[0-9a-f]{32}", self.etag) else None


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child_text(element: ET.Element, name: str) -> str:
    for child in element:
        if _local_name(child.tag) == name:
            return (child.text or "").strip()
    return ""


def bucket_url(base_url: str, bucket: str = BUCKET) -> str:
    return f"{base_url.rstrip('/')}/{bucket}"


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


def list_keys(base_url: str, bucket: str = BUCKET, prefix: str = "") -> list[RemoteObject]:
    """Every object of ``bucket`` whose key starts with ``prefix``, in listing order, reading
    every page of the XML listing (``marker``, ``IsTruncated``, ``NextMarker``).  Each
    object's ``name`` is its key.

    A listing that would not end raises BucketError: one that repeats a marker or a key, or
    goes past MAX_PAGES pages or MAX_KEYS keys.  One that takes long says how far it is.
    """
    _check_base_url(base_url)
    where = f"{bucket_url(base_url, bucket)}/{prefix}"
    objects: list[RemoteObject] = []
    seen: set[str] = set()
    marker = ""
    start = last_said = time.monotonic()
    for page in range(1, MAX_PAGES + 1):
        query = {**({"prefix": prefix} if prefix else {}), **({"marker": marker} if marker else {})}
        url = (f"{bucket_url(base_url, bucket)}?{urlencode(query)}" if query
               else bucket_url(base_url, bucket))
        root = _listing_page(url)
        last_key = ""
        for contents in root:
            if _local_name(contents.tag) != "Contents":
                continue
            last_key = key = _child_text(contents, "Key")
            if key in seen:
                raise BucketError(f"{where}: page {page} of the listing gives {key} again: it "
                                  f"would never end{_NOT_THE_BUCKET}")
            seen.add(key)
            if len(seen) > MAX_KEYS:
                raise BucketError(f"{where}: the listing goes on past {MAX_KEYS} keys (page "
                                  f"{page}): {_BUCKET_SIZE}{_NOT_THE_BUCKET}")
            size = _child_text(contents, "Size")
            if not size.isdigit():
                raise BucketError(f"{url}: the listing gives {key} no valid size (<Size> "
                                  f"{size!r}): is --base-url a Cloud Storage endpoint?")
            objects.append(RemoteObject(key, key, int(size),
                                        _child_text(contents, "ETag").strip('"')))
        if _child_text(root, "IsTruncated").lower() != "true":
            return objects
        next_marker = _child_text(root, "NextMarker") or last_key
        if not next_marker:
            raise BucketError(f"{url}: the listing says it is truncated but gives no marker "
                              "to go on from")
        if next_marker <= marker:
            said = "the same marker again" if next_marker == marker else "an earlier marker"
            raise BucketError(f"{where}: page {page} of the listing gives {said} "
                              f"({next_marker!r}): it would never end{_NOT_THE_BUCKET}")
        marker = next_marker
        now = time.monotonic()
        if now - last_said >= PROGRESS_EVERY:
            last_said = now
            log.info("listing %s: page %d, %d keys so far (%.0f s)", where, page, len(seen),
                     now - start)
    raise BucketError(f"{where}: the listing goes on past {MAX_PAGES} pages ({len(seen)} "
                      f"keys): {_BUCKET_SIZE}{_NOT_THE_BUCKET}")


def list_objects(base_url: str, fmt: str = "simplified") -> dict[str, RemoteObject]:
    """Every `full/<fmt>/<name><suffix>` object of the bucket (.ndjson, or .bin for binary),
    keyed by class name, in listing order (`list_keys` of the format's folder)."""
    _check_format(fmt)
    prefix = f"full/{fmt}/"
    suffix = bucket_format(fmt).suffixes[0]
    where = f"{bucket_url(base_url)}/{prefix}"
    objects: dict[str, RemoteObject] = {}
    for obj in list_keys(base_url, BUCKET, prefix):
        rest = obj.key[len(prefix):]
        if obj.key.startswith(prefix) and rest.endswith(suffix) and "/" not in rest:
            name = rest[: -len(suffix)]
            objects[name] = RemoteObject(name, obj.key, obj.size, obj.etag)
    if not objects:
        raise BucketError(f"no {suffix} object under {where}: is --base-url right?")
    return objects


_BUCKET_SIZE = "the Quick, Draw! bucket lists a format's 345 class files on one page"
_NOT_THE_BUCKET = "; is --base-url a Cloud Storage endpoint serving the quickdraw_dataset bucket?"


def _listing_page(url: str) -> ET.Element:
    """One page of the XML listing, parsed."""
    body = get_bytes(url, MAX_PAGE_BYTES)
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise BucketError(f"{url} did not answer an XML bucket listing ({e}): "
                          "is --base-url a Cloud Storage endpoint?") from None
    if _local_name(root.tag) != "ListBucketResult":
        raise BucketError(f"{url} answered <{_local_name(root.tag)}>, not a "
                          "ListBucketResult: is --base-url a Cloud Storage endpoint?")
    return root


def list_classes(base_url: str, fmt: str = "simplified", regex: str = ".*") -> list[str]:
    """Class names available in the bucket in format `fmt`, in listing order, keeping those in
    which `regex` matches (`re.search`)."""
    matching([], regex)  # a bad regex fails before the listing
    return matching(list_objects(base_url, fmt), regex)


def matching(names: Iterable[str], regex: str) -> list[str]:
    """The names in which `regex` matches (`re.search`); ValueError for a bad regex."""
    try:
        pattern = re.compile(regex)
    except re.error as e:
        raise ValueError(f"bad regex {regex!r}: {e}") from None
    return [name for name in names if pattern.search(name)]


def check_known(classes: list[str], objects: dict[str, RemoteObject], fmt: str,
                where: str) -> None:
    """Raises UnknownClassError naming the classes the listing `objects` lacks."""
    unknown = [name for name in classes if name not in objects]
    if not unknown:
        return
    parts = [with_close_matches(name, objects) for name in unknown]
    raise UnknownClassError(
        f"unknown class{'es' if len(unknown) > 1 else ''} {'; '.join(parts)}: not in {where} "
        f"({len(objects)} classes; `python -m fastdraw list --format {fmt}` shows them); "
        "nothing downloaded")
