"""`python -m fastdraw inspect CLASS...`: what is in class files, or the notebook's mosaic of
their drawings (``--mosaic FILE.png``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fastdraw.cli.errors import FAILED, OK, USAGE, fail
from fastdraw.sources import class_file
from fastdraw.sources.base import class_file_names
from fastdraw.sources.classes import all_classes, sample_dir, with_close_matches


def add_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("classes", nargs="+", metavar="CLASS", help="class names")
    p.add_argument("--data", metavar="DIR", help="directory of class files, <class>.ndjson "
                   "or <class>.bin (default: the bundled sample)")
    p.add_argument("--json", action="store_true", help="print one JSON object keyed by class")
    p.add_argument("--mosaic", metavar="FILE.png", help="write a mosaic of drawings instead")
    p.add_argument("--rows", type=int, default=10, help="mosaic rows (default: 10)")
    p.add_argument("--cols", type=int, default=10, help="mosaic columns (default: 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the mosaic's shuffle")


def run_inspect(args: argparse.Namespace) -> int:
    """Exit 1 when a class file is missing or unreadable (2: a bad mosaic grid size)."""
    if args.mosaic:
        return _mosaic(args)
    from fastdraw.views.stats import class_stats, format_stats

    data = Path(args.data if args.data is not None else sample_dir())
    paths = {name: class_file(data, name) for name in args.classes}
    missing = [name for name, path in paths.items() if path is None]
    where = "the bundled sample" if args.data is None else str(data)
    categories = all_classes()
    unknown = [name for name in missing if name not in categories]
    if unknown:
        names = ", ".join(with_close_matches(name, categories) for name in unknown)
        fail("inspect", f"no file for {names} in {where}, and no Quick, Draw! category has "
                        "that name to download (`python -m fastdraw list` lists them)")
        return FAILED
    if missing:
        names = ", ".join(repr(m) for m in missing)
        files = "; ".join(class_file_names(m, data) for m in missing)
        target = "data" if args.data is None else str(data)
        then = ", then add --data data" if args.data is None else ""
        fail("inspect", f"no file for class {names} in {where} (looked for {files}); "
                        f"download it with: python -m fastdraw download --classes "
                        f"{','.join(missing)!r} --data {target!r}{then}")
        return FAILED
    try:
        stats = {name: class_stats(path) for name, path in paths.items()}
    except OSError as e:
        fail("inspect", e)
        return FAILED
    if args.json:
        print(json.dumps(stats))
    else:
        print("\n\n".join(format_stats(name, s) for name, s in stats.items()))
    return OK


def _mosaic(args: argparse.Namespace) -> int:
    """Exit 2 on a bad grid size (under 1, or an image over MAX_PIXELS), 1 when the drawings
    cannot be read or the PNG written."""
    from fastdraw.views.grid import check_grid
    from fastdraw.views.mosaic import MOSAIC_TILE, mosaic

    try:
        check_grid(args.rows, args.cols, MOSAIC_TILE)
    except ValueError as e:
        fail("inspect", e)
        return USAGE
    try:
        img = mosaic(args.classes, args.data, args.rows, args.cols, args.seed)
        img.save(args.mosaic, format="PNG")
    except (OSError, ValueError) as e:
        fail("inspect", e)
        return FAILED
    print(f"wrote {args.mosaic} ({img.width}x{img.height}, {len(args.classes)} classes)")
    return OK
