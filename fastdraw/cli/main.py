"""`python -m fastdraw [COMMAND] [options]`: the commands, each in its module of this package.

Without a command name, the arguments are those of `build`.  Every command module has
``add_<command>(parser)`` and ``run_<command>(args)``; it imports the work it runs inside
``run_<command>``, so `--help` stays fast and TensorFlow stays out.  This module imports
little, and `main` turns Ctrl-C into exit code 130 wherever it comes (the first ~0.3 s go
to imports), so that no command prints a KeyboardInterrupt traceback.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import logging
import os
import signal
import sys
from collections.abc import Sequence

from fastdraw.cli.errors import INTERRUPTED, USAGE

COMMANDS = {
    "build": ("fastdraw.cli.build", "build TFRecord datasets (the default command)"),
    "inspect": ("fastdraw.cli.inspect", "per-class statistics of class files, or a mosaic PNG"),
    "list": ("fastdraw.cli.bucket", "list the classes available in the public bucket"),
    "download": ("fastdraw.cli.bucket", "download class files from the public bucket"),
    "preview": ("fastdraw.cli.preview", "draw records of a built dataset into a PNG grid"),
    "verify": ("fastdraw.cli.verify", "check a built dataset's shards, CRCs, counts and labels"),
    "bitmaps": ("fastdraw.cli.bitmaps", "render the official 28x28 numpy_bitmap .npy files"),
    "compile": ("fastdraw.cli.compile", "compile fastdraw's kernels for this machine (pip "
                                        "install does it)"),
    "convert": ("fastdraw.cli.convert", "convert class files to another format (--to binary)"),
}


def _parser(name: str, module) -> argparse.ArgumentParser:
    from fastdraw.cli.args import add_logging

    text = COMMANDS[name][1]
    if name == "build":
        epilog = "other commands (each has --help):\n" + "\n".join(
            f"  python -m fastdraw {other:<9} {help_text}"
            for other, (_, help_text) in COMMANDS.items() if other != "build")
        p = argparse.ArgumentParser(
            prog="python -m fastdraw [build]",
            description="Build the notebook's Quick, Draw! TFRecord datasets (<name>_img/, "
                        "<name>_stroke/): sharded splits, labels.txt, counts.json, a manifest.",
            epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    else:
        p = argparse.ArgumentParser(prog=f"python -m fastdraw {name}", description=text)
    getattr(module, f"add_{name}")(p)
    add_logging(p)
    p.add_argument("--version", action="version", version=f"fastdraw {_version()}")
    return p


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("fastdraw")
    except metadata.PackageNotFoundError:
        return "(not installed: no version)"


def command_parser(name: str) -> argparse.ArgumentParser:
    """The argument parser of command ``name``."""
    return _parser(name, importlib.import_module(COMMANDS[name][0]))


def _argument_problem(name: str, args: argparse.Namespace) -> str | None:
    """What is wrong with the command's path-like arguments, checked before any work: a
    --data that is not a directory of class files, an inspect CLASS that is a path, a PNG to
    write whose directory does not exist.  (Build's and download's class names are checked
    with the classes they name.)"""
    from fastdraw.cli.args import data_dir_problem, output_file_problem
    from fastdraw.sources.classes import check_class_name

    if name == "preview":
        return output_file_problem(args.out, "--out")
    if name == "inspect" and args.mosaic and (problem := output_file_problem(args.mosaic,
                                                                             "--mosaic")):
        return problem

    if name == "inspect":
        try:
            for cls in args.names:
                check_class_name(cls, "CLASS")
        except ValueError as e:
            return str(e)
    data = getattr(args, "data", None)
    return data_dir_problem(data) if data else None


def _stray_words(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """What is wrong with the words the build's parser took for pipeline options before any
    ``--``: a misspelled command (the first word), or pipeline options without the ``--``."""
    before = argv[:argv.index("--")] if "--" in argv else argv
    stray = parser.parse_args(before).pipeline_args
    if not stray:
        return None
    if before[0] == stray[0]:
        close = difflib.get_close_matches(stray[0], COMMANDS, n=1)
        return (f"{stray[0]!r} is not a command"
                + (f" (did you mean {close[0]!r}?)" if close else "")
                + f"; the commands are {', '.join(COMMANDS)} (python -m fastdraw COMMAND "
                "--help)")
    return (f"{' '.join(stray)}: not an option; Beam's pipeline options go after --, with "
            "--runner beam")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # before a command could take it (imports, parsing)
        print("fastdraw: interrupted", file=sys.stderr)
        return INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    name = argv.pop(0) if argv and argv[0] in COMMANDS else "build"
    module = importlib.import_module(COMMANDS[name][0])
    parser = _parser(name, module)
    args = parser.parse_args(argv)
    if name == "build" and (stray := _stray_words(parser, argv)):
        parser.error(stray)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(processName)s %(message)s",
        stream=sys.stderr,
    )
    problem = _argument_problem(name, args)
    if problem and name == "build":  # as the build's own bad options: logged, exit code 2
        logging.getLogger("fastdraw.cli").error("%s", problem)
        return USAGE
    if problem:
        parser.error(problem)
    try:
        return getattr(module, f"run_{name}")(args)
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
