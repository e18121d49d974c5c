"""Where a build's tasks run: an `Executor` runs ``fn(task, report)`` for every task and
yields the results; ``report(n)`` tells the build's progress that n more units are done.

`ForkPool`, the local executor, runs them in forked worker processes, one pipe each.
Unlike multiprocessing.Pool, it notices a worker that dies mid-task (and fails the build
instead of hanging) and can be killed at once.  Workers are forked: they inherit the numba
kernels the main process loaded, and never import TensorFlow.  A task's progress reaches
the main process as it goes, its result or error when it ends.  Workers die with the main
process (on Linux, even when it is killed with -9); one whose main process has gone
otherwise ends quietly at its next message.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import os
import signal
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol, TypeVar

from fastdraw.errors import BadInputError, BadLineError, BuildError, TaskError, WorkerDied

log = logging.getLogger(__name__)

REPORT_EVERY = 0.2  # seconds between a worker's progress messages

T = TypeVar("T")
R = TypeVar("R")
Report = Callable[[int], None]
Task = Callable[[T, Report], R]


class Executor(Protocol):
    """Runs a build's tasks somewhere."""

    def run(self, fn: Task, tasks: Sequence[Any], progress: Report
            ) -> Iterator[tuple[int, Any]]:
        """Runs ``fn(task, report)`` for every task; yields (task index, result) as tasks
        complete.  A task's BadLineError raises BadInputError, its other errors BuildError."""


class _Reporter:
    """A worker's ``report``: sends the units done to the main process at most every
    REPORT_EVERY seconds (each message wakes the main process, which then takes its time
    from a worker when there are as many workers as cores)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._unreported = 0
        self._reported_at = 0.0

    def __call__(self, n: int) -> None:
        self._unreported += n
        if time.monotonic() - self._reported_at >= REPORT_EVERY:
            self.flush()

    def flush(self) -> None:
        """Sends the progress not yet reported (a task's last, before its reply)."""
        if self._unreported:
            self._conn.send(("progress", self._unreported))
        self._unreported, self._reported_at = 0, time.monotonic()


_parent_ends: list[Connection] = []  # main-side pipe ends, closed in every forked worker


_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Asks Linux to kill this process when its parent ends (``kill -9`` included), so that
    no orphan goes on writing into a build's temporary directory; and ends it now if the
    parent ``parent`` is already gone.  Elsewhere, orphans end at their next message."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)


def _worker_main(conn: Connection, parent: int) -> None:
    """A worker: run (function, task) pairs from the pipe until told to stop, or until the
    main process is gone (then quietly: nobody is left to tell)."""
    _die_with_parent(parent)
    for end in _parent_ends:
        end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process decides; it kills us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    report = _Reporter(conn)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        fn, task = msg
        try:
            reply = ("done", fn(task, report))
        except BadLineError as e:
            reply = ("bad", str(e))
        except TaskError as e:
            reply = ("error", str(e), traceback.format_exc())
        except Exception as e:  # every failure goes back to the main process
            reply = ("error", f"{type(e).__name__}: {e}", traceback.format_exc())
        try:
            report.flush()
            conn.send(reply)
        except OSError:  # the main process is gone
            return


class ForkPool:
    """The local `Executor`: forked worker processes, one pipe each."""

    def __init__(self, workers: int) -> None:
        ctx = mp.get_context("fork")
        self._procs: list[Any] = []
        self._conns: list[Connection] = []
        for i in range(workers):
            parent, child = ctx.Pipe()
            _parent_ends.append(parent)
            proc = ctx.Process(target=_worker_main, args=(child, os.getpid()),
                               name=f"worker-{i + 1}", daemon=True)
            proc.start()
            child.close()
            self._procs.append(proc)
            self._conns.append(parent)

    def run(self, fn: Task, tasks: Sequence[Any], progress: Report
            ) -> Iterator[tuple[int, Any]]:
        """See `Executor.run`."""
        pending = deque(enumerate(tasks))
        idle = list(range(len(self._procs)))
        busy: dict[int, int] = {}  # worker -> task index
        while pending or busy:
            while pending and idle:
                w = idle.pop()
                index, task = pending.popleft()
                busy[w] = index
                try:
                    self._conns[w].send((fn, task))
                except OSError:
                    raise self._died(w) from None
            by_conn = {self._conns[w]: w for w in busy}
            by_sentinel = {self._procs[w].sentinel: w for w in busy}
            ready = wait([*by_conn, *by_sentinel], timeout=1.0)
            for obj in ready:
                if obj in by_conn:
                    w = by_conn[obj]
                    try:
                        msg = obj.recv()
                    except (EOFError, OSError):
                        raise self._died(w) from None
                    if msg[0] == "progress":
                        progress(msg[1])
                    elif msg[0] == "done":
                        idle.append(w)
                        yield busy.pop(w), msg[1]
                    elif msg[0] == "bad":
                        raise BadInputError(msg[1])
                    else:
                        log.debug("worker traceback:\n%s", msg[2])
                        raise BuildError(msg[1])
                elif by_sentinel[obj] in busy and not self._conns[by_sentinel[obj]].poll():
                    raise self._died(by_sentinel[obj])

    def _died(self, w: int) -> WorkerDied:
        proc = self._procs[w]
        proc.join(1.0)
        code = proc.exitcode
        how = f"was killed by signal {-code}" if code is not None and code < 0 else \
            f"exited with code {code}"
        return WorkerDied(f"worker process {proc.name} (pid {proc.pid}) {how} in the middle "
                          "of a task (out of memory?); nothing was written")

    def close(self) -> None:
        """Stops idle workers politely."""
        for conn in self._conns:
            try:
                conn.send(None)
            except OSError:
                pass
        for proc in self._procs:
            proc.join(5.0)
        self.kill()

    def kill(self) -> None:
        """Kills every worker still alive, at once."""
        for proc in self._procs:
            if proc.is_alive():
                proc.kill()
        for proc in self._procs:
            proc.join()
        for conn in self._conns:
            conn.close()
            if conn in _parent_ends:
                _parent_ends.remove(conn)


@contextmanager
def worker_pool(workers: int) -> Iterator[ForkPool]:
    """A ForkPool of ``workers`` processes: closed after the block, killed if it raises."""
    pool = ForkPool(workers)
    try:
        yield pool
    except BaseException:
        pool.kill()
        raise
    pool.close()
