"""Command line: `python -m fastdraw [build] [options]` and its other commands.

Without a command name, the arguments are those of `build`.  Each command's
handler lives in the module that does the work and is imported only when
that command runs, so `--help` stays fast and TensorFlow stays out.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from fastdraw.cpus import usable_cpus

COMMANDS = {
    "build": ("fastdraw.build_cli", "cli_build", "build TFRecord datasets (the default command)"),
    "inspect": ("fastdraw.stats", "cli_inspect",
                "per-class statistics of ndjson files, or a mosaic PNG"),
    "list": ("fastdraw.bucket", "cli_list", "list the classes available in the public bucket"),
    "download": ("fastdraw.bucket", "cli_download", "download class files from the public bucket"),
    "preview": ("fastdraw.preview", "cli_preview",
                "draw records of a built dataset into a PNG grid"),
    "verify": ("fastdraw.verify", "cli_verify",
               "check a built dataset's shards, CRCs, counts and labels"),
}

DEFAULT_BASE_URL = "https://storage.googleapis.com"


def _add_classes(p: argparse.ArgumentParser, required: bool) -> None:
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument("--group", choices=["pets", "zoo", "animals", "all"],
                   help="a class group of the notebook (in its order), or all 345 categories")
    g.add_argument("--classes", metavar="A,B,C", help="comma-separated class names")
    g.add_argument("--classes-file", metavar="FILE",
                   help="a UTF-8 text file with one class name per line (blank lines and "
                        "lines starting with '#' are skipped)")


def _add_base_url(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base-url", default=os.environ.get("FASTDRAW_BASE_URL", DEFAULT_BASE_URL),
                   help="storage endpoint holding the quickdraw_dataset bucket "
                        "(default: $FASTDRAW_BASE_URL or %(default)s)")


def _add_logging(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")


def build_parser() -> argparse.ArgumentParser:
    epilog = "other commands (each has --help):\n" + "\n".join(
        f"  python -m fastdraw {name:<9} {text}" for name, (_, _, text) in COMMANDS.items()
        if name != "build"
    )
    p = argparse.ArgumentParser(
        prog="python -m fastdraw [build]",
        description="Build the notebook's Quick, Draw! TFRecord datasets (<name>_img/, "
                    "<name>_stroke/): sharded splits, labels.txt, counts.json, a manifest.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_classes(p, required=False)
    p.add_argument("--name", help="dataset name (default: the group's name, or 'custom')")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", metavar="DIR", help="directory of <class>.ndjson files "
                     "(missing ones are downloaded unless --offline); default ./data")
    src.add_argument("--sample", action="store_true",
                     help="use the bundled real sample of drawings (no network needed)")
    p.add_argument("--offline", action="store_true", help="never download missing class files")
    p.add_argument("--out", metavar="DIR", help="output directory (default: the data dir, "
                   "or ./data with --sample)")
    p.add_argument("--kind", default="img,stroke", metavar="img,stroke",
                   help="which datasets to build (default: %(default)s)")
    p.add_argument("--splits", metavar="train=N,eval=N,test=N",
                   help="examples per class and split: counts, or fractions of the smallest "
                        "class's recognized drawings (default: img 5000/1000/1000, stroke "
                        "50000/10000/10000; with --sample 0.7/0.15/0.15)")
    p.add_argument("--shards", type=int, default=10, help="shards per split (default: 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split plan (default: 0)")
    p.add_argument("--img-size", type=int, default=64, help="image side in pixels (default: 64)")
    p.add_argument("--line-width", type=int, default=4, help="line width in pixels (default: 4)")
    p.add_argument("--no-maximize", action="store_true",
                   help="scale by 1/1024 instead of stretching each drawing to the image")
    p.add_argument("--include-unrecognized", action="store_true",
                   help="also use drawings the Quick, Draw! classifier did not recognize")
    p.add_argument("--notebook-time", action="store_true",
                   help="timestamps as the notebook's time.mktime (local time zone) instead of UTC")
    p.add_argument("--workers", type=int, default=usable_cpus(),
                   help="worker processes (default: one per CPU this process may use, "
                        "%(default)s here)")
    p.add_argument("--strict", action="store_true",
                   help="stop at the first bad input line (exit code 2) instead of rejecting it")
    p.add_argument("--overwrite", action="store_true", help="replace existing datasets")
    p.add_argument("--format", choices=["simplified", "raw"], default="simplified",
                   help="format of files to download (default: %(default)s)")
    _add_base_url(p)
    _add_logging(p)
    return p


def command_parser(name: str) -> argparse.ArgumentParser:
    text = COMMANDS[name][2]
    p = argparse.ArgumentParser(prog=f"python -m fastdraw {name}", description=text)
    if name == "inspect":
        p.add_argument("classes", nargs="+", metavar="CLASS", help="class names")
        p.add_argument("--data", metavar="DIR", help="directory of <class>.ndjson files "
                       "(default: the bundled sample)")
        p.add_argument("--json", action="store_true", help="print one JSON object keyed by class")
        p.add_argument("--mosaic", metavar="FILE.png", help="write a mosaic of drawings instead")
        p.add_argument("--rows", type=int, default=10, help="mosaic rows (default: 10)")
        p.add_argument("--cols", type=int, default=10, help="mosaic columns (default: 10)")
        p.add_argument("--seed", type=int, default=0, help="seed of the mosaic's shuffle")
    elif name == "list":
        p.add_argument("--regex", default=".*", help="only class names matching this regex")
        p.add_argument("--format", choices=["simplified", "raw"], default="simplified")
        _add_base_url(p)
    elif name == "download":
        _add_classes(p, required=True)
        p.add_argument("--data", metavar="DIR", default="data",
                       help="download into this directory (default: %(default)s)")
        p.add_argument("--format", choices=["simplified", "raw"], default="simplified")
        p.add_argument("--jobs", type=int, default=4,
                       help="parallel downloads (default: %(default)s)")
        _add_base_url(p)
    elif name == "preview":
        p.add_argument("dataset", metavar="DATASET_DIR", help="a built <name>_img or _stroke dir")
        p.add_argument("--split", default="train", help="split to show (default: %(default)s)")
        p.add_argument("--out", metavar="FILE.png", required=True, help="PNG to write")
        p.add_argument("--rows", type=int, default=8, help="grid rows (default: 8)")
        p.add_argument("--cols", type=int, default=8, help="grid columns (default: 8)")
    elif name == "verify":
        p.add_argument("dataset", metavar="DATASET_DIR", help="a built dataset directory")
    _add_logging(p)
    return p


def _argument_problem(name: str, args: argparse.Namespace) -> str | None:
    """What is wrong with the command's path-like arguments, checked before any work: a
    --data that is not a directory of class files, an inspect CLASS that is a path.
    (Build's and download's class names are checked by `classes_from_args`.)"""
    if name == "inspect":
        from fastdraw.classes import check_class_name

        try:
            for cls in args.classes:
                check_class_name(cls, "CLASS")
        except ValueError as e:
            return str(e)
    data = getattr(args, "data", None)
    return data_dir_problem(data) if data else None


def data_dir_problem(data: str) -> str | None:
    """Why ``data`` cannot be the --data directory of <class>.ndjson files, or None.

    A path that does not exist is fine (a build or download creates it), unless a file is
    in its way; an existing file is not, and neither is a directory named like a class file
    that holds none.
    """
    from fastdraw.classes import CLASS_FILE_SUFFIXES as suffixes

    path = Path(data)
    what = "--data must be a directory holding <class>.ndjson files"
    named_like_class = path.name.endswith(suffixes) and not path.name.startswith(".")
    parent = repr(str(path.parent))
    if path.is_dir():
        if named_like_class and not any(e.name.endswith(suffixes) for e in _entries(path)):
            return (f"--data {data} is a directory named like a class file, and it holds no "
                    f"<class>.ndjson files: {what} (such as --data {parent}, if that is "
                    "where the class files are)")
        return None
    if path.exists():
        text = f"--data {data} is a file, not a directory: {what}"
        if named_like_class:
            text += f"; to use this class file, give its directory: --data {parent}"
        return text
    existing = next((p for p in path.parents if p.exists()), None)
    if existing is not None and not existing.is_dir():
        return f"--data {data}: {existing} is a file, not a directory: {what}"
    return None


def _entries(path: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except OSError:
        return []  # an unreadable directory: the command reports it when it reads


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        name = argv.pop(0)
    else:
        name = "build"
    parser = build_parser() if name == "build" else command_parser(name)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(processName)s %(message)s",
        stream=sys.stderr,
    )
    problem = _argument_problem(name, args)
    if problem and name == "build":  # as the build's own errors: logged, exit code 1
        logging.getLogger("fastdraw.cli").error("%s", problem)
        return 1
    if problem:
        parser.error(problem)
    module, func, _ = COMMANDS[name]
    handler = getattr(importlib.import_module(module), func)
    try:
        return handler(args)
    except BrokenPipeError:
        return _reader_gone()


def _reader_gone() -> int:
    """The end of a pipe that stopped reading (``| head``): no traceback, and the exit code of
    a process that SIGPIPE ended.  Standard output goes to /dev/null, so that Python's
    flush at exit does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE
