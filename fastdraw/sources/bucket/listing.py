"""The bucket's listing through its XML API: every class file of a format, with its size and
md5, read page by page."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from fastdraw.errors import BucketError, UnknownClassError
from fastdraw.sources.base import BUCKET_FORMATS, bucket_format
from fastdraw.sources.bucket.transport import get_bytes
from fastdraw.sources.classes import with_close_matches

DEFAULT_BASE_URL = "https://storage.googleapis.com"
BUCKET = "quickdraw_dataset"
FORMATS = BUCKET_FORMATS  # full/<format>/: simplified, raw (ndjson), binary (.bin)


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


def bucket_url(base_url: str) -> str:
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
    """Every `full/<fmt>/<name><suffix>` object of the bucket (.ndjson, or .bin for binary),
    keyed by class name, in listing order, reading every page of the XML listing."""
    _check_format(fmt)
    _check_base_url(base_url)
    prefix = f"full/{fmt}/"
    suffix = bucket_format(fmt).suffixes[0]
    objects: dict[str, RemoteObject] = {}
    marker = ""
    while True:
        query = {"prefix": prefix, **({"marker": marker} if marker else {})}
        url = f"{bucket_url(base_url)}?{urlencode(query)}"
        body = get_bytes(url)
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
            if key.startswith(prefix) and rest.endswith(suffix) and "/" not in rest:
                name = rest[: -len(suffix)]
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
        raise BucketError(f"no {suffix} object under {bucket_url(base_url)}/{prefix}: "
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


def check_known(classes: list[str], objects: dict[str, RemoteObject], where: str) -> None:
    unknown = [name for name in classes if name not in objects]
    if not unknown:
        return
    parts = [with_close_matches(name, objects) for name in unknown]
    raise UnknownClassError(
        f"unknown class{'es' if len(unknown) > 1 else ''} {'; '.join(parts)}: not in {where} "
        f"({len(objects)} classes; `python -m fastdraw list` shows them); nothing downloaded")
