"""`python -m fastdraw bitmaps`: the official 28x28 ``numpy_bitmap`` files (or another size in
the same style) rendered from class files, one ``<class>.npy`` per class."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from fastdraw.cli.args import add_classes, classes_of
from fastdraw.cli.errors import FAILED, INTERRUPTED, OK, USAGE
from fastdraw.cpus import usable_cpus
from fastdraw.errors import (
    BadInputError,
    BuildError,
    InterruptedAfterPublish,
    OptionError,
    io_error,
)

log = logging.getLogger(__name__)


def add_bitmaps(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Render the official Quick, Draw! numpy_bitmap files from class files: "
        "<out>/<class>.npy, uint8 (n, size*size), row i the i-th drawing of the class file "
        "(the official layout and order: unrecognized drawings included unless "
        "--recognized-only), byte for byte Google's cairo rendering at 28 px; "
        "<out>/<class>.lines.npy gives each row's line in the class file, and "
        "<out>/<class>.rejected.ndjson, written when some are, lists the lines that have "
        "no row (bad lines).")
    add_classes(p, required=True)
    p.add_argument("--data", metavar="DIR", required=True,
                   help="directory of the class files, <class>.ndjson (simplified format) or "
                        "<class>.bin (`python -m fastdraw download` fetches them)")
    p.add_argument("--out", metavar="DIR", required=True, help="output directory")
    p.add_argument("--size", type=int, default=28,
                   help="image side in pixels (default: %(default)s, the official size)")
    p.add_argument("--recognized-only", action="store_true",
                   help="leave out the drawings the game did not recognize")
    p.add_argument("--workers", type=int, default=usable_cpus(),
                   help="worker processes, one class each at a time (default: one per CPU "
                        "this process may use, %(default)s here)")
    p.add_argument("--strict", action="store_true",
                   help="stop at the first bad input line (exit code 2) instead of "
                        "rejecting it")
    p.add_argument("--overwrite", action="store_true", help="replace existing .npy files")


def _class_files(classes: list[str], data: Path) -> list[Path]:
    """Every class's file in ``data``; BuildError naming the missing ones and how to get them."""
    from fastdraw.sources.base import class_file, class_file_names, formats_found

    found = [class_file(data, name) for name in classes]
    for name, path in zip(classes, found):
        if path is not None and len(kinds := formats_found(data, name)) > 1:
            log.info("%s: both %s are its class files; reading %s (%s.lines.npy gives the "
                     "rows' lines in it)", name,
                     " and ".join(str(class_file(data, name, f)) for f in kinds), path, name)
    missing = [name for name, path in zip(classes, found) if path is None]
    if missing:
        raise BuildError(
            f"no class file in {data} for {', '.join(missing)} "
            f"({'; '.join(class_file_names(name) for name in missing)}): download "
            f"{'them' if len(missing) > 1 else 'it'} with `python -m "
            f"fastdraw download --classes {','.join(missing)} --data {data}`, or give --data "
            "the directory that holds the class files")
    return found  # type: ignore[return-value]


def run_bitmaps(args: argparse.Namespace) -> int:
    """0 when written, 1 on an error, 2 on a bad option value (or a bad line under --strict),
    130 when interrupted."""
    from fastdraw.build.bitmaps import BitmapOptions, write_bitmaps

    try:
        try:
            classes = classes_of(args)
        except ValueError as e:
            raise OptionError(str(e)) from None
        files = _class_files(classes, Path(args.data))
        write_bitmaps(BitmapOptions(
            classes=classes, files=files, out=Path(args.out), size=args.size,
            recognized_only=args.recognized_only, workers=args.workers, strict=args.strict,
            overwrite=args.overwrite))
    except ValueError as e:
        log.error("%s", e)
        return FAILED
    except (BadInputError, OptionError) as e:
        log.error("%s", e)
        return USAGE
    except BuildError as e:
        log.error("%s", e)
        return FAILED
    except OSError as e:
        log.error("%s", io_error(e, f"writing bitmaps into {args.out}"))
        return FAILED
    except InterruptedAfterPublish as e:
        log.error("%s", e)
        return INTERRUPTED
    except KeyboardInterrupt:
        log.error("interrupted: nothing was written (temporary files removed)")
        return INTERRUPTED
    return OK
