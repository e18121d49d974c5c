"""The build command, `python -m fastdraw [build]`: its arguments made into BuildOptions
(classes, their files found or downloaded, splits), the build run, and its exit code."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from fastdraw.build import DEFAULT_SPLITS, KINDS, SAMPLE_SPLITS, BuildOptions, build
from fastdraw.classes import CLASS_FILE_SUFFIXES, classes_from_args, with_close_matches
from fastdraw.errors import BadInputError, BuildError, InterruptedAfterPublish, io_error
from fastdraw.groups import all_classes, sample_dir
from fastdraw.plan import parse_splits

log = logging.getLogger(__name__)


def _find_file(data: Path, name: str) -> Path | None:
    for suffix in CLASS_FILE_SUFFIXES:
        path = data / f"{name}{suffix}"
        if path.is_file():
            return path
    return None


def _input_files(classes: list[str], data: Path, *, sample: bool, offline: bool, fmt: str,
                 base_url: str) -> list[Path]:
    """Every class's file in ``data`` (``<class>.ndjson`` or ``.ndjson.gz``); missing ones are
    downloaded unless ``offline`` or ``sample``."""
    found = {name: _find_file(data, name) for name in classes}
    missing = [name for name, path in found.items() if path is None]
    in_the_way = [path for name in missing for suffix in CLASS_FILE_SUFFIXES
                  if (path := data / f"{name}{suffix}").exists()]
    if in_the_way:
        listed = ", ".join(map(str, in_the_way))
        raise BuildError(f"{listed}: not a file (a directory?) where a class file should be: "
                         "move it away, or give --data the directory that holds the class files")
    if missing and sample:
        known = all_classes()
        named = ", ".join(with_close_matches(name, known) for name in missing)
        raise BuildError(f"not in the bundled sample: {named}; it has the "
                         f"{len(known)} Quick, Draw! categories (`python -m fastdraw list`)")
    if missing and offline:
        known = all_classes()
        text = (f"--offline, and {len(missing)} class "
                f"{'files are' if len(missing) > 1 else 'file is'} missing: "
                + ", ".join(str(data / f"{name}.ndjson") for name in missing) + ".")
        fetchable = [name for name in missing if name in known]
        if fetchable:
            text += (f" Download {'them' if len(fetchable) > 1 else 'it'}: python -m fastdraw "
                     f"download --classes {','.join(fetchable)!r} --data {str(data)!r} (or "
                     "leave out --offline).")
        unknown = [with_close_matches(name, known) for name in missing if name not in known]
        if unknown:
            text += (" No Quick, Draw! category is named " + ", ".join(unknown)
                     + " (`python -m fastdraw list` lists them).")
        raise BuildError(text)
    if missing:
        from fastdraw.bucket import ensure_downloaded

        log.info("downloading %d missing class files into %s", len(missing), data)
        try:
            paths = ensure_downloaded(missing, data, fmt=fmt, base_url=base_url,
                                      progress=sys.stderr.isatty())
        except (RuntimeError, ValueError, OSError) as e:
            raise BuildError(f"cannot download the missing class files into {data}: {e}; "
                             "retry, or download them yourself and use --offline") from None
        found.update(zip(missing, paths))
    return [found[name] for name in classes]  # type: ignore[misc]


def _kinds(text: str) -> list[str]:
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise BuildError(f"--kind {text!r}: choose img, stroke or img,stroke")
    return [k for k in KINDS if k in kinds]


def options_from_args(args: argparse.Namespace) -> BuildOptions:
    """BuildOptions from the build command line (resolving classes, files and splits;
    downloading missing class files unless --offline)."""
    try:
        classes = classes_from_args(args)
        if args.splits:
            spec = parse_splits(args.splits)
            splits = {kind: spec for kind in _kinds(args.kind)}
        elif args.sample:
            splits = {kind: parse_splits(SAMPLE_SPLITS) for kind in _kinds(args.kind)}
        else:
            splits = {kind: parse_splits(DEFAULT_SPLITS[kind]) for kind in _kinds(args.kind)}
    except ValueError as e:
        raise BuildError(str(e)) from None
    name = args.name or (args.group if args.group else "custom")
    if not name or "/" in name or name.startswith(".") or os.sep in name:
        raise BuildError(f"--name {name!r}: give a plain name (no '/', not starting with '.')")
    if args.sample:
        data, out = Path(sample_dir()), Path(args.out or "data")
    else:
        data = Path(args.data or "data")
        out = Path(args.out) if args.out else data
    files = _input_files(classes, data, sample=args.sample, offline=args.offline,
                         fmt=args.format, base_url=args.base_url)
    return BuildOptions(
        classes=classes, files=files, name=name, out=out, splits=splits, shards=args.shards,
        seed=args.seed, img_size=args.img_size, line_width=args.line_width,
        maximize=not args.no_maximize, include_unrecognized=args.include_unrecognized,
        notebook_time=args.notebook_time, workers=args.workers, overwrite=args.overwrite,
        strict=args.strict,
    )


def cli_build(args: argparse.Namespace) -> int:
    """`python -m fastdraw [build]`: 0 when built, 1 on an error, 2 on a bad line under
    --strict, 130 when interrupted."""
    try:
        build(options_from_args(args))
    except BadInputError as e:
        log.error("%s", e)
        return 2
    except BuildError as e:
        log.error("%s", e)
        return 1
    except OSError as e:  # the main process's own reads and writes
        log.error("%s", io_error(e, f"building in {args.out or args.data or 'data'}"))
        return 1
    except InterruptedAfterPublish as e:
        log.error("%s", e)
        return 130
    except KeyboardInterrupt:
        log.error("interrupted: nothing was written (temporary files removed)")
        return 130
    return 0
