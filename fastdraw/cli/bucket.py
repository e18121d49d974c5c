"""`python -m fastdraw list` and `download`: the public bucket's classes, and verified,
resumable downloads of their files."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from fastdraw.cli.args import add_base_url, add_classes, add_format, classes_of
from fastdraw.cli.errors import FAILED, INTERRUPTED, OK, USAGE, fail
from fastdraw.errors import BucketError
from fastdraw.sources.classes import all_classes

log = logging.getLogger(__name__)


def add_list(p: argparse.ArgumentParser) -> None:
    p.add_argument("--regex", default=".*", help="only class names matching this regex")
    add_format(p, "the bucket's format")
    p.add_argument("--offline", action="store_true",
                   help="print the 345 Quick, Draw! categories bundled with fastdraw (sorted), "
                        "without asking the bucket; every category is there in every format")
    add_base_url(p)


def run_list(args: argparse.Namespace) -> int:
    """Class names, one per line.  Exit 2 on a bad regex, 1 when the bucket cannot be
    listed."""
    from fastdraw.sources.bucket.listing import list_classes, matching

    try:
        if args.offline:
            names = matching(all_classes(), args.regex)
        else:
            names = list_classes(args.base_url, args.format, args.regex)
    except ValueError as e:
        fail("list", e)
        return USAGE
    except BucketError as e:
        fail("list", f"{e}. Without the network, `python -m fastdraw list --offline` prints "
                     "the 345 categories bundled with fastdraw")
        return FAILED
    if not names:
        log.warning("no class matches %r", args.regex)
    sys.stdout.write("".join(f"{name}\n" for name in names))
    return OK


def add_download(p: argparse.ArgumentParser) -> None:
    add_classes(p, required=True)
    p.add_argument("--data", metavar="DIR", default="data",
                   help="download into this directory (default: %(default)s)")
    add_format(p, "the bucket's format")
    p.add_argument("--jobs", type=int, default=4, help="parallel downloads (default: %(default)s)")
    add_base_url(p)


def run_download(args: argparse.Namespace) -> int:
    """Fetches class files.  Exit 2 on bad arguments (an unknown class), 1 when a download
    fails, 130 when interrupted (run again to resume)."""
    from fastdraw.sources.bucket.download import ensure_downloaded

    try:
        classes = classes_of(args)
        if not os.path.lexists(args.data):
            log.info("--data %s does not exist: creating it for the class files", args.data)
        paths = ensure_downloaded(classes, args.data, fmt=args.format,
                                  base_url=args.base_url, jobs=args.jobs)
    except ValueError as e:
        fail("download", e)
        return USAGE
    except (BucketError, OSError) as e:
        fail("download", e)
        return FAILED
    except KeyboardInterrupt:
        fail("download", "interrupted; partial files are kept: run again to resume")
        return INTERRUPTED
    log.info("%d class files ready in %s", len(paths), args.data)
    return OK
