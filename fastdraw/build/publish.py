"""Putting a finished build in place: temporary directories renamed to their targets, with
Ctrl-C and SIGTERM held meanwhile, so an interrupted build leaves all old or all new
datasets and never one that looks complete but is not."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastdraw.errors import BuildError, InterruptedAfterPublish


def dir_mode() -> int:
    """A new directory's usual mode under the process umask."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o777 & ~umask


def interrupt_on_sigterm() -> Any:
    """SIGTERM interrupts the build like Ctrl-C (so it cleans up); returns the old handler."""
    try:
        return signal.signal(signal.SIGTERM, signal.default_int_handler)
    except ValueError:  # not the main thread: leave signals alone
        return None


def publish(moves: dict[Path, Path], overwrite: bool) -> None:
    """Renames every complete temporary directory to its target (``moves``: temporary ->
    target); an old dataset (``overwrite``) is moved aside first and removed once the new
    ones are in place.  Ctrl-C and SIGTERM wait until every target is swapped, so the
    datasets are all old or all new; one that came meanwhile raises
    InterruptedAfterPublish."""
    for target in moves.values():
        if (target.exists() or target.is_symlink()) and not overwrite:
            raise BuildError(f"{target} appeared during the build: pass --overwrite to "
                             "replace it")
    published = False
    try:
        with signals_deferred():
            old = []
            for path, target in moves.items():
                if target.exists() or target.is_symlink():
                    old.append(path.with_name(path.name.replace(".tmp-", ".old-")))
                    os.replace(target, old[-1])
                os.replace(path, target)
            for path in old:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            published = True
    except KeyboardInterrupt:
        if published:
            raise InterruptedAfterPublish(
                "interrupted once the build was complete: "
                + ", ".join(str(target) for target in moves.values())
                + " are in place and whole") from None
        raise


@contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM are held back inside the block and raised again on leaving it.

    Python-level handlers, not a thread signal mask: a process-wide signal may go to any
    thread that does not block it, and Python runs its handler in the main thread anyway.
    """
    held: list[int] = []
    signals = (signal.SIGINT, signal.SIGTERM)
    try:
        previous = [signal.signal(s, lambda signum, _: held.append(signum)) for s in signals]
    except ValueError:  # not the main thread: signals cannot reach this code there
        previous = []
    try:
        yield
    finally:
        for s, handler in zip(signals, previous):
            signal.signal(s, handler)
        if held:
            signal.raise_signal(held[0])
