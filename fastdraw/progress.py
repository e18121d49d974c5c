"""Progress of a long job (a build's phases, downloads): a tqdm bar when stderr is a terminal
that can show one, else a log line every LOG_EVERY seconds."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)

LOG_EVERY = 10.0  # seconds between progress log lines when stderr is not a terminal


def size_text(n: int) -> str:
    """Bytes for people: 512 B, 3.4 MiB, 4.21 GiB."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.{2 if unit == 'GiB' else 1}f} {unit}"
    return f"{n} B"


def terminal_bar(**tqdm_args: Any) -> Any | None:
    """A tqdm bar on stderr, or None when stderr is not a terminal or reports no width (a
    pseudo-terminal nobody sized, where the bar would print as nothing): callers then log
    progress lines instead."""
    if not sys.stderr.isatty():
        return None
    try:
        if os.get_terminal_size(sys.stderr.fileno()).columns <= 0:
            return None
    except (OSError, ValueError):  # a terminal-like object without a real descriptor
        pass
    from tqdm import tqdm

    return tqdm(file=sys.stderr, dynamic_ncols=True, **tqdm_args)


class Progress:
    """How much of ``total`` is done, told to the user as it goes (from any thread).

    ``unit`` names what is counted ("ex", "files"); "B" counts bytes, shown in MiB.
    With ``show`` False nothing is shown.
    """

    def __init__(self, what: str, total: int, unit: str, show: bool = True, *,
                 initial: int = 0) -> None:
        self.what, self.total, self.unit, self.show = what, total, unit, show
        self.done = self._start_done = initial
        self._lock = threading.Lock()
        self._start = self._last = time.monotonic()
        in_bytes = unit == "B"
        self.bar = terminal_bar(total=total, initial=initial, desc=what, unit=unit,
                                unit_scale=in_bytes, unit_divisor=1024 if in_bytes else 1000
                                ) if show else None

    def update(self, n: int) -> None:
        with self._lock:
            self.done += n
            if self.bar is not None:
                self.bar.update(n)
                return
            now = time.monotonic()
            if self.show and n > 0 and now - self._last >= LOG_EVERY:
                self._last = now
                log.info("%s", self.line(now))

    def line(self, now: float | None = None) -> str:
        """Where the job stands: done of total, the rate so far and the time left."""
        now = time.monotonic() if now is None else now
        rate = (self.done - self._start_done) / max(now - self._start, 1e-9)
        eta = (self.total - self.done) / rate if rate > 0 else math.inf
        percent = 100 * self.done / max(1, self.total)
        if self.unit == "B":
            done, rate_text = f"{_mib(self.done)} of {_mib(self.total)}", f"{_mib(rate)}/s"
        else:
            done = f"{self.done} of {self.total} {self.unit}"
            rate_text = f"{rate:.0f} {self.unit}/s"
        return f"{self.what}: {done} ({percent:.0f}%), {rate_text}, ETA {eta:.0f} s"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    @contextlib.contextmanager
    def logging_redirected(self) -> Iterator[None]:
        """Log records printed above the bar instead of through it."""
        if self.bar is None:
            yield
            return
        from tqdm.contrib.logging import logging_redirect_tqdm

        with logging_redirect_tqdm():
            yield


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"
