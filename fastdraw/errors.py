"""The builder's errors: each message says what is wrong and what to do."""


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
