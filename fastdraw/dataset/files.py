"""A dataset's files opened for reading: regular files only, read within a bound.

A named pipe given as ``labels.txt`` would block its reader forever, ``/dev/zero`` never
ends, and a file of gigabytes would be read whole: every reader of a dataset (verify, the
tf.data readers, preview) opens its files here, which refuses anything but a regular file
(without blocking on a pipe) and reads a whole file only up to the bound that file's kind
allows.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from fastdraw.errors import DatasetFileError

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def not_regular(file: Path, mode: int) -> DatasetFileError:
    """The error for ``file``, whose ``stat`` mode is not a regular file's."""
    what = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    if os.path.islink(file):
        what += f" (a symbolic link to {os.readlink(file)})"
    return DatasetFileError(f"{file}: {what}, not a regular file (a dataset holds the regular "
                            "files its build wrote); rebuild the dataset")


def check_regular(file: Path) -> None:
    """Raises DatasetFileError unless ``file`` is (or links to) a regular file; OSError
    (FileNotFoundError, say) when it cannot be looked at."""
    mode = os.stat(file).st_mode
    if not stat.S_ISREG(mode):
        raise not_regular(file, mode)


def open_regular(file: str | os.PathLike, buffering: int = -1) -> BinaryIO:
    """``file`` opened for reading in binary, or DatasetFileError if it is not a regular file.

    The check is made on the open file (no other file can take its place in between), and
    a named pipe is opened without waiting for a writer.
    """
    fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise not_regular(Path(file), mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=buffering)
    except BaseException:
        os.close(fd)
        raise


def size_text(n: int) -> str:
    """Bytes for people: 512 bytes, 16 MiB, 4.0 GiB."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}".replace(".0 ", " ")
    return f"{n} bytes"


def too_big(file: Path, size: str, limit: int, holds: str) -> DatasetFileError:
    """The error for ``file`` of ``size`` (a text: '4 GiB', 'over 16 MiB') over ``limit``."""
    return DatasetFileError(f"{file}: {size}, more than the {size_text(limit)} a {file.name} "
                            f"may take ({holds}); it is not the file a build writes: rebuild "
                            "the dataset")


def read_bounded(file: Path, limit: int, holds: str) -> bytes:
    """The bytes of regular file ``file``, or DatasetFileError when it is not a regular file or
    holds more than ``limit`` bytes (``holds`` says what the file holds, for the message)."""
    with open_regular(file) as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise too_big(file, size_text(size), limit, holds)
        data = f.read(limit + 1)
    if len(data) > limit:  # it grew while being read
        raise too_big(file, f"over {size_text(limit)}", limit, holds)
    return data
