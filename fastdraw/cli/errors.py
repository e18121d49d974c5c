"""How the commands end: their exit codes, and an error said the same way by every command."""

from __future__ import annotations

import sys

OK = 0
FAILED = 1  # the work could not be done; the message says why
USAGE = 2  # bad arguments (or, for build, a bad input line under --strict)
INTERRUPTED = 130  # Ctrl-C or SIGTERM


def fail(command: str, error: object) -> None:
    """``fastdraw COMMAND: error: ...`` on standard error."""
    print(f"fastdraw {command}: error: {error}", file=sys.stderr)
