"""`python -m fastdraw [build]`: its arguments made into BuildOptions (classes, their files
found or downloaded, splits), the build run, and its exit code."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastdraw.cli.args import add_base_url, add_classes, classes_of
from fastdraw.cli.errors import FAILED, INTERRUPTED, OK, USAGE
from fastdraw.cpus import usable_cpus
from fastdraw.errors import (
    BadInputError,
    BuildError,
    InterruptedAfterPublish,
    OptionError,
    UnsafePathError,
    io_error,
)
from fastdraw.sources import class_file
from fastdraw.sources.base import BUCKET_FORMATS, FORMATS, bucket_format, formats_found, not_files
from fastdraw.sources.classes import (
    LIST_HINT,
    all_classes,
    sample_dir,
    unknown_categories,
    with_close_matches,
)

if TYPE_CHECKING:
    from fastdraw.build import BuildOptions

log = logging.getLogger(__name__)


def add_build(p: argparse.ArgumentParser) -> None:
    add_classes(p, required=False)
    p.add_argument("--name", help="dataset name (default: the group's name, or 'custom')")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", metavar="DIR", help="directory of class files, <class>.ndjson "
                     "or <class>.bin (plain or .gz; missing ones are downloaded unless "
                     "--offline); default ./data")
    src.add_argument("--sample", action="store_true",
                     help="use the bundled real sample of drawings (no network needed)")
    p.add_argument("--offline", action="store_true", help="never download missing class files")
    p.add_argument("--out", metavar="DIR", help="output directory (default: the data dir, "
                   "or ./data with --sample)")
    p.add_argument("--kind", default="img,stroke", metavar="img,stroke",
                   help="which datasets to build: img, stroke (the notebook's), ink "
                        "(TensorFlow's RNN-tutorial records), sketchrnn (sketch-rnn's "
                        "<class>.npz of stroke-3), bitmap (the official 28x28 bitmaps) "
                        "(default: %(default)s)")
    p.add_argument("--splits", metavar="train=N,eval=N,test=N",
                   help="examples per class and split: counts, or fractions of the smallest "
                        "class's recognized drawings (default: img train=5000,eval=1000,"
                        "test=1000, stroke 50000/10000/10000, ink train=10000,eval=1000, "
                        "sketchrnn train=70000,valid=2500,test=2500, bitmap as img; with --sample "
                        "fractions 0.7/0.15/0.15 of the same splits, ink 0.85/0.15)")
    p.add_argument("--shards", type=int, default=10, help="shards per split (default: 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split plan (default: 0)")
    p.add_argument("--img-size", type=int, default=64, help="image side in pixels (default: 64)")
    p.add_argument("--line-width", type=int, default=4, help="line width in pixels (default: 4)")
    p.add_argument("--rdp", type=float, default=2.0, metavar="EPS",
                   help="sketchrnn: simplify every stroke with Ramer-Douglas-Peucker at this "
                        "epsilon, as sketch-rnn's data was (default: %(default)s; 0 keeps every "
                        "point)")
    p.add_argument("--bitmap-size", type=int, default=28,
                   help="side of --kind bitmap's official bitmaps in pixels (default: 28)")
    p.add_argument("--no-maximize", action="store_true",
                   help="scale by 1/1024 instead of stretching each drawing to the image")
    p.add_argument("--img-encoding", choices=["int64", "bytes", "png"], default="int64",
                   help="how an image is stored: int64 pixel values (the notebook's), raw "
                        "uint8 bytes, or a 1-bit PNG (default: %(default)s)")
    p.add_argument("--compression", choices=["none", "gzip", "zlib"], default="none",
                   help="compression of the shard files, as TensorFlow's TFRecordOptions "
                        "(read them with compression_type=\"GZIP\" or \"ZLIB\"; default: "
                        "%(default)s)")
    p.add_argument("--include-unrecognized", action="store_true",
                   help="also use drawings the Quick, Draw! classifier did not recognize")
    p.add_argument("--notebook-time", action="store_true",
                   help="timestamps as the notebook's time.mktime of the local time zone "
                        "(default: UTC epoch seconds, the same on every machine)")
    p.add_argument("--workers", type=int, default=usable_cpus(),
                   help="worker processes (default: one per CPU this process may use, "
                        "%(default)s here)")
    p.add_argument("--strict", action="store_true",
                   help="stop at the first bad input line (exit code 2) instead of rejecting it")
    p.add_argument("--overwrite", action="store_true", help="replace existing datasets")
    p.add_argument("--format", choices=BUCKET_FORMATS,
                   help="read <class>.bin files (binary) or <class>.ndjson files (simplified, "
                        "raw), and download missing ones in this format of the bucket; "
                        "default: a class's file of either kind (the ndjson one where it has "
                        "both), missing ones downloaded as simplified")
    add_base_url(p)
    p.add_argument("--runner", choices=["local", "beam"], default="local",
                   help="where the build runs: this machine's worker processes (local, the "
                        "default), or Apache Beam (beam: pip install \"fastdraw[beam]\"; "
                        "--data and --out may then be URLs such as gs://bucket/dir; see "
                        "docs/beam.md)")
    p.add_argument("pipeline_args", nargs="*", metavar="-- PIPELINE_OPTIONS",
                   help="with --runner beam, Beam's pipeline options after --, such as -- "
                        "--runner=DataflowRunner --project=P --region=R "
                        "--temp_location=gs://B/tmp (default: this machine, --workers "
                        "processes)")


def _input_files(classes: list[str], data: Path, *, sample: bool, offline: bool,
                 fmt: str | None, base_url: str, data_given: bool) -> list[Path]:
    """Every class's file in ``data``: of bucket format ``fmt`` (``<class>.bin`` for binary,
    ``<class>.ndjson`` else; plain or .gz), or with None of any format, the first of
    `FORMATS` where a class has several (said once); missing ones are downloaded (in ``fmt``,
    default simplified) unless ``offline`` or ``sample``.  Names that no file and no Quick,
    Draw! category answers, and a --data that does not exist, are said before any network
    request."""
    wanted = bucket_format(fmt) if fmt else None
    if sample and wanted is not None and wanted is not FORMATS[0]:
        raise OptionError(f"--sample holds {FORMATS[0].name} files only, not --format {fmt}: "
                         "leave out --format, or give --data a directory of such files")
    found = {name: class_file(data, name, wanted) for name in classes}
    if wanted is None:
        both = [name for name in classes if len(formats_found(data, name)) > 1]
        if both:
            named = ", ".join(both[:5]) + (f" and {len(both) - 5} more" if len(both) > 5 else "")
            log.info("%s: both kinds of class file in %s (such as %s and %s); reading the %s "
                     "ones (--format binary reads the others)", named, data,
                     *(class_file(data, both[0], f).name for f in formats_found(data, both[0])[:2]),
                     FORMATS[0].name)
    missing = [name for name, path in found.items() if path is None]
    in_the_way = [path for name in missing for path in not_files(data, name)]
    if in_the_way:
        listed = ", ".join(map(str, in_the_way))
        raise BuildError(f"{listed}: not a file (a directory?) where a class file should be: "
                         "move it away, or give --data the directory that holds the class files")
    if not missing:
        return [found[name] for name in classes]  # type: ignore[misc]
    known = all_classes()
    if sample:
        named = ", ".join(with_close_matches(name, known) for name in missing)
        raise OptionError(f"not in the bundled sample: {named}; it has the {len(known)} Quick, "
                         "Draw! categories (`python -m fastdraw list --offline` lists them)")
    the_data = f"--data {data}" if data_given else f"{data} (the default --data)"
    if offline and not os.path.lexists(data):
        raise BuildError(f"{the_data} does not exist, and --offline downloads nothing: give "
                         "the directory that holds the class files (or leave out --offline to "
                         "download them into it)")
    if offline:
        text = (f"--offline, and {len(missing)} class "
                f"{'files are' if len(missing) > 1 else 'file is'} missing: "
                + ", ".join(str(data / f"{name}{(wanted or FORMATS[0]).suffixes[0]}")
                            for name in missing) + ".")
        fetchable = [name for name in missing if name in known]
        if fetchable:
            text += (f" Download {'them' if len(fetchable) > 1 else 'it'}: python -m fastdraw "
                     f"download --classes {','.join(fetchable)!r} --data {str(data)!r}"
                     + (f" --format {fmt}" if fmt else "") + " (or "
                     "leave out --offline).")
        unknown = unknown_categories(missing)
        if unknown:
            text += f" No Quick, Draw! category is named {', '.join(unknown)} ({LIST_HINT})."
        raise BuildError(text)
    unknown = unknown_categories(missing)
    if unknown:
        raise OptionError(f"no file for {', '.join(unknown)} in {data}, and no Quick, Draw! "
                         f"category has {'these names' if len(unknown) > 1 else 'that name'} "
                         f"to download: check the spelling, or put the class file in {data} "
                         f"({LIST_HINT}). Nothing was downloaded")
    from fastdraw.sources.bucket.download import ensure_downloaded

    if not os.path.lexists(data):
        log.warning("%s does not exist: creating it and downloading %s into it (give --data "
                    "DIR if the class files are elsewhere)", the_data,
                    "the class file" if len(missing) == 1 else f"the {len(missing)} class files")
    else:
        log.info("downloading %d missing class files into %s", len(missing), data)
    try:
        paths = ensure_downloaded(missing, data, fmt=fmt or "simplified", base_url=base_url,
                                  progress=sys.stderr.isatty())
    except UnsafePathError as e:  # says what to do
        raise BuildError(f"cannot download the missing class files into {data}: {e}"
                         ) from None
    except (RuntimeError, ValueError, OSError) as e:
        raise BuildError(f"cannot download the missing class files into {data}: {e}; "
                         "retry, or download them yourself and use --offline") from None
    found.update(zip(missing, paths))
    return [found[name] for name in classes]  # type: ignore[misc]


def _kinds(text: str) -> list[str]:
    from fastdraw.codecs import KINDS

    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise OptionError(f"--kind {text!r}: choose one or more of {', '.join(KINDS)}, "
                         "comma-separated")
    return [k for k in KINDS if k in kinds]


def options_from_args(args: argparse.Namespace, path: Callable[[str], Any] = Path,
                      input_files: Callable[..., list] = _input_files) -> BuildOptions:
    """BuildOptions from the build command line (resolving classes, files and splits;
    downloading missing class files unless --offline).  ``path`` makes --data and --out
    paths, ``input_files`` finds the class files (the Beam build's take URLs too)."""
    from fastdraw.build import BuildOptions
    from fastdraw.build.plan import parse_splits
    from fastdraw.codecs import CODECS

    try:
        classes = classes_of(args)
        if args.splits is not None:
            spec = parse_splits(args.splits)
            splits = {kind: spec for kind in _kinds(args.kind)}
        elif args.sample:
            splits = {kind: parse_splits(CODECS[kind].sample_splits) for kind in _kinds(args.kind)}
        else:
            splits = {kind: parse_splits(CODECS[kind].default_splits)
                      for kind in _kinds(args.kind)}
    except ValueError as e:
        raise OptionError(str(e)) from None
    name = args.name if args.name is not None else (args.group or "custom")
    if not name or "/" in name or name.startswith(".") or os.sep in name:
        raise OptionError(f"--name {name!r}: give a plain name (no '/', not starting with '.')")
    if args.sample:
        data, out = Path(sample_dir()), path(args.out or "data")
    else:
        data = path(args.data or "data")
        out = path(args.out) if args.out else data
    files = input_files(classes, data, sample=args.sample, offline=args.offline,
                        fmt=args.format, base_url=args.base_url,
                        data_given=args.data is not None)
    return BuildOptions(
        classes=classes, files=files, name=name, out=out, splits=splits, shards=args.shards,
        seed=args.seed, img_size=args.img_size, line_width=args.line_width,
        maximize=not args.no_maximize, img_encoding=args.img_encoding,
        compression=args.compression, include_unrecognized=args.include_unrecognized,
        notebook_time=args.notebook_time, rdp=args.rdp, bitmap_size=args.bitmap_size,
        workers=args.workers,
        overwrite=args.overwrite, strict=args.strict,
    )


def _run_beam(args: argparse.Namespace) -> None:
    """The build on Apache Beam (fastdraw.beam), with the pipeline options after --."""
    try:
        import fastdraw.beam as on_beam
    except ImportError as e:
        if (e.name or "").split(".")[0] != "apache_beam":
            raise
        raise BuildError('--runner beam needs Apache Beam, which is not installed: pip '
                         'install "fastdraw[beam]"') from None
    if not args.verbose:
        logging.getLogger("apache_beam").setLevel(logging.WARNING)

    def input_files(classes: list[str], data: Any, **kw: Any) -> list:
        if isinstance(data, Path):
            return _input_files(classes, data, **kw)
        return on_beam.class_files(classes, data, kw["fmt"])

    on_beam.build(options_from_args(args, on_beam.storage_path, input_files),
                  args.pipeline_args)


def run_build(args: argparse.Namespace) -> int:
    """0 when built, 1 on an error, 2 on a bad option value (or a bad line under --strict),
    130 when interrupted."""
    from fastdraw.build import build

    try:
        if args.runner == "beam":
            _run_beam(args)
        elif args.pipeline_args:
            raise OptionError(f"{' '.join(args.pipeline_args)}: pipeline options are for "
                             "--runner beam (after --); the local build takes none")
        else:
            build(options_from_args(args))
    except (BadInputError, OptionError) as e:
        log.error("%s", e)
        return USAGE
    except BuildError as e:
        log.error("%s", e)
        return FAILED
    except OSError as e:  # the main process's own reads and writes
        log.error("%s", io_error(e, f"building in {args.out or args.data or 'data'}"))
        return FAILED
    except InterruptedAfterPublish as e:
        log.error("%s", e)
        return INTERRUPTED
    except KeyboardInterrupt:
        log.error("interrupted: nothing was written (temporary files removed)")
        return INTERRUPTED
    return OK
