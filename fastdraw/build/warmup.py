"""The kernels a build runs, compiled (or loaded from numba's cache) before workers fork, so
that every worker inherits them.

Loading takes a fraction of a second; compiling (the first run on a machine, or after an
upgrade) takes much longer, so a user who waits is told why.  On two cores or more, a forked
helper compiles the record kernels while this process compiles the others.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from fastdraw.codecs import Codec
from fastdraw.cpus import usable_cpus
from fastdraw.dataset import tfrecord
from fastdraw.kernels import unaligned
from fastdraw.kernels.jit import cached
from fastdraw.sources import Rejection, open_source

log = logging.getLogger(__name__)

COMPILE_NOTE_AFTER = 2.0  # seconds of warmup after which the user is told kernels compile


def warmup(codecs: Sequence[Codec], samples: Sequence[str | os.PathLike] = ()) -> None:
    """Compiles (or loads) the kernels a build with ``codecs`` runs; the readers' by reading
    the first drawing of one of the input files ``samples`` of each format."""
    helper = _fork_record_warmup(codecs)  # before the timer thread: fork only single-threaded
    note = threading.Timer(COMPILE_NOTE_AFTER, log.info, args=(
        "compiling fastdraw's numba kernels for this machine, once (`pip install` does it: "
        "numba's cache was empty, cleared or of another numba version)",))
    note.daemon = True
    t0 = time.monotonic()
    note.start()
    try:
        _load_kernels(codecs, samples, helper)
    finally:
        note.cancel()
        note.join()
    seconds = time.monotonic() - t0
    if seconds > COMPILE_NOTE_AFTER:
        log.info("kernels compiled in %.0f s (later runs load them from numba's cache)", seconds)
    else:
        log.debug("kernels loaded in %.2f s", seconds)


def _fork_record_warmup(codecs: Sequence[Codec]) -> int | None:
    """Forks a process that compiles the codecs' record kernels into numba's cache while this
    one compiles the others (halving a first run's wait on 2 cores); returns its pid, or None
    on a single core or when the cache has them (loading them twice, there and here, costs
    more than it saves)."""
    if (usable_cpus() < 2 or not hasattr(os, "fork")
            or cached(k for c in codecs for k in c.record_kernels())):
        return None
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for codec in codecs:
                codec.warmup_records()
            code = 0
        finally:
            os._exit(code)
    return pid


def _load_kernels(codecs: Sequence[Codec], samples: Sequence[str | os.PathLike],
                  helper: int | None) -> None:
    for codec in codecs:
        codec.warmup_drawing()
    tfrecord.warmup()
    unaligned.warmup()
    read: set[type] = set()
    for sample in samples:
        try:
            source = open_source(Path(sample))
            if type(source) not in read:
                read.add(type(source))
                for _ in source.read(limit=1, on_reject=_ignore):
                    pass
        except (OSError, ValueError):  # the worker reading it reports the problem
            pass
    if helper is not None:
        os.waitpid(helper, 0)  # whatever it managed, the calls below load or compile
    for codec in codecs:
        codec.warmup_records()


def _ignore(_: Rejection) -> None:
    """Rejections of the kernel warmup's read: the build reports them."""
