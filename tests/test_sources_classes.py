"""`resolve_classes` (through the CLI's `classes_of`): the --group / --classes / --classes-file
options of download and build."""

from __future__ import annotations

import argparse
import re

import pytest

from fastdraw.cli.args import classes_of
from fastdraw.cli.main import command_parser
from fastdraw.errors import UnknownClassError
from fastdraw.sources.classes import (
    ZOO,
    all_classes,
    check_categories,
    resolve_classes,
    unknown_categories,
)


def parse(*argv: str) -> argparse.Namespace:
    return command_parser("download").parse_args(list(argv))


def test_group():
    assert classes_of(parse("--group", "zoo")) == ZOO
    assert classes_of(parse("--group", "all")) == all_classes()


def test_classes_are_stripped_in_order():
    args = parse("--classes", " The Mona Lisa,cat ,, dog")
    assert classes_of(args) == ["The Mona Lisa", "cat", "dog"]
    assert resolve_classes(classes=" The Mona Lisa,cat ,, dog") == ["The Mona Lisa", "cat", "dog"]


def test_classes_file(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_bytes("\ufeffsea turtle\r\n\r\n  cat  \r\ndog".encode())
    assert classes_of(parse("--classes-file", str(path))) == ["sea turtle", "cat", "dog"]


@pytest.mark.parametrize("text,message", [
    ("cat\ndog\ncat\n", "names class 'cat' twice"),
    ("\n  \n", "names no class"),
])
def test_bad_classes_file(tmp_path, text, message):
    path = tmp_path / "classes.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"--classes-file {path}.* {message}"):
        classes_of(parse("--classes-file", str(path)))


def test_missing_classes_file(tmp_path):
    path = tmp_path / "missing.txt"
    with pytest.raises(ValueError, match=f"cannot read the classes file {path}"):
        classes_of(parse("--classes-file", str(path)))


def test_no_classes():
    with pytest.raises(ValueError, match="no classes given"):
        resolve_classes(group=None, classes=None, classes_file=None)
    with pytest.raises(ValueError, match="no classes given"):
        classes_of(argparse.Namespace(group=None, classes=None, classes_file=None))
    with pytest.raises(ValueError, match="--classes names no class"):
        classes_of(parse("--classes", " , "))


def test_classes_file_comment_lines_are_skipped(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_text("# my pets\ncat\n   # not this one: dog\n\nsea turtle\n", encoding="utf-8")
    assert classes_of(parse("--classes-file", str(path))) == ["cat", "sea turtle"]
    path.write_text("# only a comment\n", encoding="utf-8")
    with pytest.raises(ValueError, match=f"--classes-file {path} names no class"):
        classes_of(parse("--classes-file", str(path)))


def test_classes_file_help_says_comments_are_skipped():
    text = " ".join(command_parser("download").format_help().split())
    assert "lines starting with '#' are skipped" in text
    assert "UTF-8 text file with one class name per line" in text


def test_non_utf8_classes_file_names_file_and_line(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_bytes("cat\ndog\nsea turtle\nbeb\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError) as info:
        classes_of(parse("--classes-file", str(path)))
    message = str(info.value)
    assert message.startswith(f"--classes-file {path}, line 4, column 4: byte 0xe9 is not "
                              "UTF-8 text: give a UTF-8 text file with one class name per line")
    assert "codec" not in message


def test_utf16_classes_file_is_named_as_such(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_bytes("cat\ndog\n".encode("utf-16"))
    with pytest.raises(ValueError, match=f"--classes-file {path} is UTF-16 text, not UTF-8: "
                                         "give a UTF-8 text file with one class name per line"):
        classes_of(parse("--classes-file", str(path)))


def test_classes_file_that_is_a_directory(tmp_path):
    with pytest.raises(ValueError, match=f"cannot read the classes file {tmp_path}: "
                                         ".*: give a UTF-8 text file with one class name"):
        classes_of(parse("--classes-file", str(tmp_path)))


def test_classes_file_larger_than_any_list_of_names_is_not_read_whole(tmp_path):
    """A file of a megabyte of names (a data file given by mistake, or /dev/zero) is refused
    from its first megabyte, not read into memory whole."""
    path = tmp_path / "classes.txt"
    path.write_text("".join(f"class {i:07d}\n" for i in range(100_000)), encoding="utf-8")
    with pytest.raises(ValueError, match=f"--classes-file {path} is larger than 1 MiB: not a "
                                         "list of class names"):
        classes_of(parse("--classes-file", str(path)))


@pytest.mark.parametrize("name,problem", [
    ("../simplified/cat", "holds a path separator"),
    ("/etc/passwd", "holds a path separator"),
    ("sub\\cat", "holds a path separator"),
    (".", "is a path, not a name"),
    ("..", "is a path, not a name"),
    ("ca\x00t", "holds a control character"),
    ("ca\x1bt", "holds a control character"),
    ("a" * 300, "is longer than a file name can be"),
])
def test_path_like_class_names_are_refused(tmp_path, name, problem):
    with pytest.raises(ValueError, match=f"^--classes: class name {re.escape(repr(name))} "
                                         f"{problem}[^:]*: a class name is the name of its file"):
        classes_of(parse("--classes", f"cat,{name}"))
    path = tmp_path / "classes.txt"
    path.write_text(f"cat\n# comment\n{name}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=f"^--classes-file {re.escape(str(path))}, line 3: "
                                         f"class name {re.escape(repr(name))} {problem}"):
        classes_of(parse("--classes-file", str(path)))


def test_names_that_are_not_categories_are_still_allowed():
    # Only path-like names are refused: a build may use its own <class>.ndjson files.
    args = parse("--classes", "my.doodles,..cat,cat..,#tag")
    assert classes_of(args) == ["my.doodles", "..cat", "cat..", "#tag"]


def test_names_are_checked_against_the_bundled_categories():
    check_categories(["cat", "The Mona Lisa", "sea turtle"])
    assert unknown_categories(["cat", "dgo", "Cat"]) == [
        "'dgo' (did you mean 'dragon', 'dog'?)", "'Cat' (did you mean 'cat', 'hat', 'castle'?)"]
    with pytest.raises(UnknownClassError, match=re.escape(
            "unknown class 'sea turtel' (did you mean 'sea turtle'?): no Quick, Draw! category "
            "has this name (`python -m fastdraw list --offline` lists the 345 Quick, Draw! "
            "categories)")):
        check_categories(["cat", "sea turtel"])
