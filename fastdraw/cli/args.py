"""Arguments several commands share, and the checks of path-like arguments made before any
work."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from fastdraw.sources import CLASS_FILE_SUFFIXES
from fastdraw.sources.base import BUCKET_FORMATS
from fastdraw.sources.bucket.listing import DEFAULT_BASE_URL
from fastdraw.sources.classes import resolve_classes


def add_classes(p: argparse.ArgumentParser, required: bool) -> None:
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument("--group", choices=["pets", "zoo", "animals", "all"],
                   help="a class group of the notebook (in its order), or all 345 categories")
    g.add_argument("--classes", metavar="A,B,C", help="comma-separated class names")
    g.add_argument("--classes-file", metavar="FILE",
                   help="a UTF-8 text file with one class name per line (blank lines and "
                        "lines starting with '#' are skipped)")


def classes_of(args: argparse.Namespace) -> list[str]:
    """The class names of `add_classes`' options (ValueError saying what is wrong)."""
    return resolve_classes(args.group, args.classes, args.classes_file)


def add_format(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--format", choices=BUCKET_FORMATS, default="simplified",
                   help=f"{what}: simplified (the notebook's: coordinates 0..255, strokes "
                        "simplified), raw (as drawn, with timing) or binary (the simplified "
                        "drawings packed, <class>.bin: a quarter of the bytes); default: "
                        "%(default)s")


def add_base_url(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base-url", default=os.environ.get("FASTDRAW_BASE_URL", DEFAULT_BASE_URL),
                   help="storage endpoint holding the quickdraw_dataset bucket "
                        "(default: $FASTDRAW_BASE_URL or %(default)s)")


def add_logging(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")


def data_dir_problem(data: str) -> str | None:
    """Why ``data`` cannot be the --data directory of class files, or None.

    A path that does not exist is fine (a build or download creates it), unless a file is
    in its way; an existing file is not, and neither is a directory named like a class file
    that holds none.
    """
    path = Path(data)
    what = "--data must be a directory holding <class>.ndjson files"
    named_like_class = path.name.endswith(CLASS_FILE_SUFFIXES) and not path.name.startswith(".")
    parent = repr(str(path.parent))
    if path.is_dir():
        if named_like_class and not any(e.name.endswith(CLASS_FILE_SUFFIXES)
                                        for e in _entries(path)):
            return (f"--data {data} is a directory named like a class file, and it holds no "
                    f"<class>.ndjson files: {what} (such as --data {parent}, if that is "
                    "where the class files are)")
        return None
    if path.exists():
        text = f"--data {data} is a file, not a directory: {what}"
        if named_like_class:
            text += f"; to use this class file, give its directory: --data {parent}"
        return text
    if path.is_symlink():
        return (f"--data {data} is a symbolic link to {os.readlink(path)}, which does not "
                f"exist: create that directory, or give another --data")
    existing = next((p for p in path.parents if p.exists()), None)
    if existing is not None and not existing.is_dir():
        return f"--data {data}: {existing} is a file, not a directory: {what}"
    return None


def output_file_problem(out: str, option: str) -> str | None:
    """Why the file ``out`` (given with ``option``) cannot be written, or None: a directory in
    its place, or a directory to hold it that does not exist (or is a file)."""
    path = Path(out)
    if path.is_dir():
        return (f"{option} {out} is a directory: give the path of the PNG file to write "
                "(such as one in that directory)")
    parent = path.parent
    if not parent.exists():
        return (f"{option} {out}: the directory {parent} does not exist: create it (mkdir -p "
                f"{str(parent)!r}), or give a path in an existing directory")
    if not parent.is_dir():
        return f"{option} {out}: {parent} is a file, not a directory: give another path"
    return None


def _entries(path: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except OSError:
        return []  # an unreadable directory: the command reports it when it reads
