"""The notebook's bucket functions, same names, arguments and results, on fastdraw's verified
bucket client (fastdraw.sources.bucket): `list_bucket` reads every page of the listing and
`retrieve` downloads through the checked, resumable download."""

from __future__ import annotations

import os
import re
from pathlib import Path

from fastdraw.sources.bucket.download import retrieve_object
from fastdraw.sources.bucket.listing import DEFAULT_BASE_URL, list_keys


def _endpoint(base_url: str | None) -> str:
    """The storage endpoint: ``base_url``, else $FASTDRAW_BASE_URL, else the public one."""
    return base_url or os.environ.get("FASTDRAW_BASE_URL") or DEFAULT_BASE_URL


def list_bucket(bucket: str, regexp: str = ".*", *, base_url: str | None = None) -> list[str]:
    """Drop-in for the notebook's ``list_bucket``: the keys of ``bucket`` that
    ``re.match(regexp, key)`` accepts, in listing order.

    The notebook reads one page of the listing, which holds at most 1,000 keys, so on a
    bucket with more (``quickdraw_dataset`` has several thousand) it silently misses every
    key past the first page; this one follows the listing's pages and returns them all.
    ``base_url`` is the storage endpoint (default: $FASTDRAW_BASE_URL, else
    https://storage.googleapis.com).  Raises BucketError when the bucket cannot be listed,
    re.error for a bad ``regexp``.
    """
    pattern = re.compile(regexp)
    return [obj.key for obj in list_keys(_endpoint(base_url), bucket)
            if pattern.match(obj.key)]


def retrieve(bucket: str, key: str, filename: str | os.PathLike, *,
             base_url: str | None = None, progress: bool = False) -> None:
    """Drop-in for the notebook's ``retrieve``: writes object ``key`` of ``bucket`` to
    ``filename``, the same bytes.

    Unlike the notebook's ``urlretrieve`` (no check: a transfer cut short leaves a short
    file that looks complete), the bytes go to ``<filename>.part``, continued after an
    interruption, are checked against the listing's size and the server's md5 / crc32c and
    only then become ``filename``; what was verified is recorded in
    ``.fastdraw/<name>.json`` beside it, so a ``filename`` already complete is not fetched
    again.  Keys with spaces (``full/simplified/sea turtle.ndjson``) work (the notebook's
    unquoted URL fails on them in Python 3).  ``base_url`` as in `list_bucket`; ``progress``
    shows a bar.  Raises BucketError (or its ChecksumError) when the object is not in the
    bucket or cannot be downloaded intact.
    """
    retrieve_object(bucket, key, Path(filename), base_url=_endpoint(base_url), progress=progress)
