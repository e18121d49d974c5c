"""The builder's errors: each message says what is wrong and what to do."""

from __future__ import annotations

import errno


class BuildError(Exception):
    """A build that cannot go on; the message says what is wrong and what to do (exit code 1)."""


class BadInputError(BuildError):
    """A bad input line under --strict (exit code 2)."""


class WorkerDied(BuildError):
    """A worker process ended without answering (killed, out of memory, ...)."""


class TaskError(Exception):
    """A failure in a worker, already described with its input file."""


class InterruptedAfterPublish(KeyboardInterrupt):
    """Ctrl-C or SIGTERM that came while the finished datasets were put in place: they are."""


def io_error(e: OSError, doing: str) -> TaskError:
    """A failed read or write while ``doing`` (such as "writing shard PATH"), described for
    the user: the file, what went wrong and, when the disk is full, what to do."""
    text = str(e) if e.filename else f"{doing}: [Errno {e.errno}] {e.strerror}"
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        text += (". Nothing was written (temporary files removed): free space on that disk "
                 "or pass --out DIR on a larger one, then run the build again")
    return TaskError(text)
