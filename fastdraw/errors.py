"""Every error fastdraw raises on purpose, in one place: each message says what is wrong and
what to do."""

from __future__ import annotations

import errno
from dataclasses import asdict, dataclass


@dataclass
class Rejection:
    """A bad input item: the file, its 1-based line (or item) number, what is wrong, and its
    text."""

    file: str
    line: int
    reason: str
    text: str

    def to_dict(self) -> dict:
        return asdict(self)


class BuildError(Exception):
    """A build that cannot go on; the message says what is wrong and what to do (exit code 1)."""


class BadInputError(BuildError):
    """A bad input line under --strict (exit code 2)."""


class OptionError(BuildError):
    """A bad option value, or options that do not go together: the message names the option
    (exit code 2, as for the arguments the parser itself refuses)."""


class WorkerDied(BuildError):
    """A worker process ended without answering (killed, out of memory, ...)."""


class TaskError(Exception):
    """A failure in a worker, already described with its input file."""


class InterruptedAfterPublish(KeyboardInterrupt):
    """Ctrl-C or SIGTERM that came while the finished datasets were put in place: they are."""


class BadLineError(ValueError):
    """A bad input item (strict mode, or `convert`); ``.rejection`` says which and why."""

    def __init__(self, rejection: Rejection, hint: str = "") -> None:
        self.rejection = rejection
        where = f"{rejection.file}:{rejection.line}" if rejection.line else rejection.file
        super().__init__(f"{where}: bad line: {rejection.reason} (text: "
                         f"{rejection.text[:80]!r})" + (f"; {hint}" if hint else ""))


class CorruptRecordError(ValueError):
    """A TFRecord file is damaged: bad length CRC, bad data CRC or truncated."""


class DatasetFileError(ValueError):
    """A dataset's file that is not a regular file (a pipe, a device, a directory) or is
    bigger than its kind of file can be."""


class ProtoError(ValueError):
    """A serialized Example that is not valid protobuf wire format."""


class BucketError(RuntimeError):
    """The bucket could not be listed, or a file could not be downloaded (network, HTTP)."""


class ChecksumError(BucketError):
    """A downloaded object does not match its size or hash; the bytes were not kept."""


class UnsafePathError(BucketError):
    """A path a download would write is a link, or not a regular file: it is not written
    through; the message names it and what to do."""


class UnknownClassError(ValueError):
    """A requested class is not in the bucket's listing."""


def io_error(e: OSError, doing: str) -> TaskError:
    """A failed read or write while ``doing`` (such as "writing shard PATH"), described for
    the user: the file, what went wrong and, when the disk is full, what to do."""
    text = str(e) if e.filename else f"{doing}: [Errno {e.errno}] {e.strerror}"
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        text += (". Nothing was written (temporary files removed): free space on that disk "
                 "or pass --out DIR on a larger one, then run the build again")
    return TaskError(text)
