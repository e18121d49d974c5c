"""Class names: the notebook's groups, the 345 Quick, Draw! categories (those of the bundled
sample), the names a command was given (`--group`, `--classes a,b` or `--classes-file FILE`)
and their checks, so that `download` and `build` read and refuse names the same way."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from importlib import resources

from fastdraw.errors import UnknownClassError

# Bytes of a class name: the names of its files (<class>.ndjson.gz.part, its download's record
# <class>.ndjson.json, a build's temporaries) must stay within a file name's 255 bytes.
MAX_NAME_BYTES = 200
MAX_CLASSES_FILE = 1 << 20  # bytes of a --classes-file: 345 names take 4 KB
# Where a user finds the names: the bundled list, so that it works without the network.
LIST_HINT = "`python -m fastdraw list --offline` lists the 345 Quick, Draw! categories"

PETS = ["cat", "dog"]

ZOO = ["elephant", "giraffe", "kangaroo", "lion", "monkey", "panda",
       "penguin", "rhinoceros", "tiger", "zebra"]

ANIMALS = ["bat", "bird", "butterfly", "camel", "cat", "cow", "crab",
           "crocodile", "dog", "dolphin", "duck", "elephant", "fish",
           "frog", "giraffe", "hedgehog", "horse", "kangaroo", "lion",
           "lobster", "monkey", "mosquito", "mouse", "octopus", "owl",
           "panda", "parrot", "penguin", "pig", "rabbit", "raccoon",
           "rhinoceros", "scorpion", "sea turtle", "shark", "sheep",
           "snail", "spider", "squirrel", "teddy-bear", "tiger",
           "whale", "zebra"]

SAMPLE_PACKAGE = "fastdraw.sample"


def sample_dir() -> str:
    """Directory of the bundled real sample (one `<class>.ndjson` per category)."""
    return str(resources.files(SAMPLE_PACKAGE))


def all_classes() -> list[str]:
    """The 345 Quick, Draw! categories (those of the bundled sample), sorted by name."""
    return sorted(
        entry.name[: -len(".ndjson")]
        for entry in resources.files(SAMPLE_PACKAGE).iterdir()
        if entry.name.endswith(".ndjson")
    )


GROUPS = {"pets": PETS, "zoo": ZOO, "animals": ANIMALS}


def group_classes(name: str) -> list[str]:
    """Classes of a named group: pets, zoo, animals or all."""
    if name == "all":
        return all_classes()
    try:
        return list(GROUPS[name])
    except KeyError:
        raise ValueError(
            f"unknown group {name!r}: choose one of {', '.join([*GROUPS, 'all'])}"
        ) from None


def resolve_classes(group: str | None = None, classes: str | None = None,
                    classes_file: str | None = None) -> list[str]:
    """Class names of a group, a comma-separated list or a file (the first given), in the
    order given.

    Names are stripped of surrounding whitespace; empty entries (and blank lines and
    ``#`` comment lines of the file) are skipped.  Raises ValueError when no option is
    given, when the result is empty, when a name repeats (it would get two labels), when a
    name is path-like (see `check_class_name`), or when the file cannot be read or is not
    UTF-8 text.
    """
    if group:
        return group_classes(group)
    if classes:
        source = "--classes"
        entries = [(name.strip(), source) for name in classes.split(",")]
    elif classes_file:
        source = f"--classes-file {classes_file}"
        entries = [(line.strip(), f"{source}, line {number}") for number, line
                   in enumerate(_read_classes_file(classes_file), 1)
                   if not line.strip().startswith("#")]
    else:
        raise ValueError("no classes given: use --group, --classes or --classes-file")
    entries = [(name, where) for name, where in entries if name]
    if not entries:
        raise ValueError(f"{source} names no class")
    seen: set[str] = set()
    for name, where in entries:
        check_class_name(name, where)
        if name in seen:
            raise ValueError(f"{source} names class {name!r} twice: give each class once")
        seen.add(name)
    return [name for name, _ in entries]


def _read_classes_file(path: str) -> list[str]:
    """The lines of a --classes-file (UTF-8, with or without a byte order mark)."""
    advice = "give a UTF-8 text file with one class name per line"
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CLASSES_FILE + 1)
    except OSError as e:
        raise ValueError(f"cannot read the classes file {path}: {e.strerror or e}: "
                         f"{advice}") from None
    if len(data) > MAX_CLASSES_FILE:
        raise ValueError(f"--classes-file {path} is larger than {MAX_CLASSES_FILE >> 20} MiB: "
                         f"not a list of class names (the 345 categories take 4 KB): {advice}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValueError(f"--classes-file {path} is UTF-16 text, not UTF-8: {advice} "
                         f"(convert it, e.g. iconv -f UTF-16 -t UTF-8 {path} > classes.txt)")
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        return data.decode("utf-8").split("\n")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ValueError(f"--classes-file {path}, line {line}, column {column}: byte "
                         f"0x{data[e.start]:02x} is not UTF-8 text: {advice} (save or "
                         "convert it as UTF-8)") from None


def class_name_problem(name: str) -> str | None:
    """What makes ``name`` unfit to be a class name, or None: it names the file
    ``<data>/<name>.ndjson`` and a line of labels.txt, so it must not hold a path separator
    ('/' or '\\'), be '.' or '..', hold a NUL or other control character, or be longer
    than a file name can be.  Names that are not Quick, Draw! categories are allowed here (a
    build may use its own files)."""
    if "/" in name or "\\" in name:
        return "holds a path separator ('/' or '\\')"
    if name in (".", ".."):
        return "is a path, not a name"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "holds a control character"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return f"is longer than a file name can be (more than {MAX_NAME_BYTES} bytes)"
    return None


def check_class_name(name: str, source: str) -> None:
    """Raises ValueError when ``name`` cannot be a class name (`class_name_problem`)."""
    bad = class_name_problem(name)
    if bad:
        raise ValueError(f"{source}: class name {name!r} {bad}: a class name is the name of "
                         "its file <class>.ndjson in the data directory, such as 'cat' or "
                         f"'sea turtle' ({LIST_HINT})")


def with_close_matches(name: str, known: Iterable[str]) -> str:
    """``'name'`` followed by up to three close matches among ``known`` (ignoring case), as a
    hint for a class name that is not there."""
    by_lower = {k.lower(): k for k in known}
    close = [by_lower[c] for c in difflib.get_close_matches(name.lower(), by_lower, n=3)]
    return f"{name!r}" + (f" (did you mean {', '.join(map(repr, close))}?)" if close else "")


def unknown_categories(names: Iterable[str]) -> list[str]:
    """The names that are not Quick, Draw! categories, each with its close matches (see
    `with_close_matches`)."""
    known = all_classes()
    known_set = set(known)
    return [with_close_matches(name, known) for name in names if name not in known_set]


def check_categories(names: Iterable[str]) -> None:
    """Raises UnknownClassError naming every name that is not a Quick, Draw! category (with
    close matches): checked against the bundled list, before any network request."""
    unknown = unknown_categories(names)
    if unknown:
        raise UnknownClassError(
            f"unknown class{'es' if len(unknown) > 1 else ''} {'; '.join(unknown)}: no Quick, "
            f"Draw! category has {'these names' if len(unknown) > 1 else 'this name'} "
            f"({LIST_HINT})")
