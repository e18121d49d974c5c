"""`python -m fastdraw inspect CLASS...`: what is in class files, or the notebook's mosaic of
their drawings (``--mosaic FILE.png``).

The class files are found as the build finds them: in ``--data`` (default ./data), or in the
bundled sample with ``--sample``; the classes are named as the build's are (``--group``,
``--classes``, ``--classes-file``), or as CLASS arguments.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from fastdraw.cli.args import add_classes, classes_of
from fastdraw.cli.errors import FAILED, OK, USAGE, fail
from fastdraw.sources import class_file
from fastdraw.sources.base import class_file_names
from fastdraw.sources.classes import LIST_HINT, check_class_name, sample_dir, unknown_categories

DEFAULT_DATA = "data"


def add_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="*", metavar="CLASS",
                   help="class names (or give --group, --classes or --classes-file)")
    add_classes(p, required=False)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", metavar="DIR", help="directory of class files, <class>.ndjson or "
                     f"<class>.bin, as for a build (default: ./{DEFAULT_DATA})")
    src.add_argument("--sample", action="store_true",
                     help="inspect the bundled real sample of drawings instead")
    p.add_argument("--json", action="store_true", help="print one JSON object keyed by class")
    p.add_argument("--mosaic", metavar="FILE.png", help="write a mosaic of drawings instead")
    p.add_argument("--rows", type=int, default=10, help="mosaic rows (default: 10)")
    p.add_argument("--cols", type=int, default=10, help="mosaic columns (default: 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the mosaic's shuffle")


def inspect_classes(args: argparse.Namespace) -> list[str]:
    """The classes to inspect: the CLASS arguments, or those of --group, --classes or
    --classes-file (exactly one way); ValueError saying what is wrong."""
    given = [f"--{o.replace('_', '-')}" for o in ("group", "classes", "classes_file")
             if getattr(args, o)]
    if args.names and given:
        raise ValueError(f"give the classes as CLASS arguments or with {given[0]}, not both")
    if not args.names and not given:
        raise ValueError("no classes given: name them (CLASS arguments), or use --group, "
                         "--classes or --classes-file")
    if not args.names:
        return classes_of(args)
    for name in args.names:
        check_class_name(name, "CLASS")  # (checked before any work by cli.main too)
    return list(dict.fromkeys(args.names))


def _data(args: argparse.Namespace) -> tuple[Path, str]:
    """The directory of class files, and how to name it in a message."""
    if args.sample:
        return Path(sample_dir()), "the bundled sample"
    if args.data is not None:
        return Path(args.data), f"--data {args.data}"
    return Path(DEFAULT_DATA), f"{DEFAULT_DATA} (the default --data)"


def run_inspect(args: argparse.Namespace) -> int:
    """Exit 2 on bad arguments (a bad mosaic grid size: under 1, or an image over
    MAX_PIXELS), 1 when a class file is missing or unreadable or the PNG cannot be written."""
    try:
        classes = inspect_classes(args)
    except ValueError as e:
        fail("inspect", e)
        return USAGE
    if args.mosaic:
        from fastdraw.views.grid import check_grid
        from fastdraw.views.mosaic import MAX_SEED, MOSAIC_TILE

        try:
            check_grid(args.rows, args.cols, MOSAIC_TILE)
        except ValueError as e:
            fail("inspect", e)
            return USAGE
        if not 0 <= args.seed <= MAX_SEED:
            fail("inspect", f"--seed must be 0 to {MAX_SEED} (numpy's seeds), not {args.seed}")
            return USAGE
    data, where = _data(args)
    paths = {name: class_file(data, name) for name in classes}
    missing = [name for name, path in paths.items() if path is None]
    unknown = unknown_categories(missing)
    if unknown:
        fail("inspect", f"no file for {', '.join(unknown)} in {where}, and no Quick, Draw! "
                        f"category has {'these names' if len(unknown) > 1 else 'that name'} "
                        f"to download ({LIST_HINT})")
        return FAILED
    if not os.path.isdir(data):
        fail("inspect", f"{where} does not exist: give --data DIR (the directory of the class "
                        "files), or --sample to inspect the bundled sample; class files are "
                        "downloaded with: python -m fastdraw download --classes "
                        f"{','.join(classes)!r} --data {str(data)!r}")
        return FAILED
    if missing:
        names = ", ".join(repr(m) for m in missing)
        files = "; ".join(class_file_names(m, data) for m in missing)
        if args.sample:
            fail("inspect", f"no file for class {names} in {where} (looked for {files})")
            return FAILED
        fail("inspect", f"no file for class {names} in {where} (looked for {files}); download "
                        f"it with: python -m fastdraw download --classes "
                        f"{','.join(missing)!r} --data {str(data)!r}")
        return FAILED
    if args.mosaic:
        return _mosaic(args, classes, data)
    from fastdraw.views.stats import class_stats, format_stats

    try:
        stats = {name: class_stats(path, name) for name, path in paths.items()}
    except OSError as e:
        fail("inspect", e)
        return FAILED
    if args.json:
        print(json.dumps(stats))
    else:
        print("\n\n".join(format_stats(name, s) for name, s in stats.items()))
    return OK


def _mosaic(args: argparse.Namespace, classes: list[str], data: Path) -> int:
    """Exit 1 when the drawings cannot be read or the PNG written."""
    from fastdraw.views.grid import save_png
    from fastdraw.views.mosaic import mosaic

    try:
        img = mosaic(classes, data, args.rows, args.cols, args.seed)
        save_png(img, args.mosaic)
    except (OSError, ValueError) as e:
        fail("inspect", e)
        return FAILED
    print(f"wrote {args.mosaic} ({img.width}x{img.height}, {len(classes)} classes)")
    return OK
