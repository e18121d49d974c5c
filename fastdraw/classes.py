"""The class names a command was given: `--group`, `--classes a,b` or `--classes-file FILE`.

Shared by `download` and `build`, so both read the same three options the same way and
name an unknown class the same way.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Iterable
from pathlib import Path

from fastdraw.groups import group_classes


def classes_from_args(args: argparse.Namespace) -> list[str]:
    """Class names from `args.group`, `args.classes` or `args.classes_file`, in the order given.

    Names are stripped of surrounding whitespace; empty entries (and blank lines of the
    file) are skipped.  Raises ValueError when no option is given, when the result is
    empty, when a name repeats (it would get two labels), or when the file cannot be read.
    """
    if getattr(args, "group", None):
        return group_classes(args.group)
    if getattr(args, "classes", None):
        source = "--classes"
        names = [name.strip() for name in args.classes.split(",")]
    elif getattr(args, "classes_file", None):
        source = f"--classes-file {args.classes_file}"
        try:
            text = Path(args.classes_file).read_text("utf-8-sig")
        except OSError as e:
            raise ValueError(f"cannot read the classes file {args.classes_file}: "
                             f"{e.strerror or e}") from None
        names = [line.strip() for line in text.splitlines()]
    else:
        raise ValueError("no classes given: use --group, --classes or --classes-file")
    names = [name for name in names if name]
    if not names:
        raise ValueError(f"{source} names no class")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{source} names class {name!r} twice: give each class once")
        seen.add(name)
    return names


def with_close_matches(name: str, known: Iterable[str]) -> str:
    """``'name'`` followed by up to three close matches among ``known`` (ignoring case), as a
    hint for a class name that is not there."""
    by_lower = {k.lower(): k for k in known}
    close = [by_lower[c] for c in difflib.get_close_matches(name.lower(), by_lower, n=3)]
    return f"{name!r}" + (f" (did you mean {', '.join(map(repr, close))}?)" if close else "")
