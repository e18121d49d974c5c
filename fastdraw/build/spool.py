"""The builder's spool: packed records waiting on disk between its two phases.

Phase 1 appends every class range's records to one file per shard
(``<spool>/.spool-<class>-<range>-<shard>.rec``, packed by the kind's codec) and
their sizes to one file for the range, ``<spool>/.spool-<class>-<range>.len`` (int32
pairs: as spooled, and once framed), in which every shard has its own stretch, placed
from the plan's count of its records.  Phase 2 reads a shard's records of every class back
round by round.  Nothing is buffered in the process beyond one chunk or window, so
memory does not grow with the input.

The spool's files sit in the dataset's own temporary directory, not in directories of
their own: removing a directory frees its blocks, and on a file system mounted with
``discard`` that waits until the disk has taken every byte written before it, while files
deleted before their pages reach the disk free nothing (docs/performance.md).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from fastdraw.build.shardfile import write_all
from fastdraw.kernels.unaligned import gather

PREFIX = ".spool-"  # of the spool's file names
MAX_OPEN = 128  # spool files a task keeps open (more: opened per write or read)
READ_AHEAD = 1 << 16  # record sizes a shard reader reads at a time, all classes together

_scratch: dict[str, np.ndarray] = {}


def scratch(name: str, n: int) -> np.ndarray:
    """``n`` bytes of this process's buffer ``name``, reused by every chunk, window and task
    (fresh pages cost a page fault each); it only grows, to the largest need."""
    buf = _scratch.get(name)
    if buf is None or buf.size < n:
        buf = _scratch[name] = np.empty(int(n * 1.25), dtype=np.uint8)
    return buf[:n]


class SpoolSource(NamedTuple):
    """Where one class range's records of one shard are: ``records`` of them in file
    ``rec``, their size pairs in file ``sizes`` from pair ``first`` on."""

    rec: str
    records: int
    sizes: str
    first: int


def spool_sources(spool: str | Path, label: int, part: int, shard_id: np.ndarray,
                  shards: int) -> list[SpoolSource]:
    """Every shard's SpoolSource for range ``part`` of class ``label``'s rounds, whose
    rounds go to shards ``shard_id``."""
    counts = np.bincount(shard_id, minlength=shards)
    firsts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    base = os.path.join(spool, f"{PREFIX}{label:05d}-{part:03d}")
    return [SpoolSource(f"{base}-{s:05d}.rec", int(counts[s]), f"{base}.len", int(firsts[s]))
            for s in range(shards)]


def rejections_path(spool: str | Path, label: int) -> Path:
    """Where phase 1 leaves class ``label``'s rejected lines."""
    return Path(spool) / f"{PREFIX}rejected-{label:05d}.ndjson"


def remove_spool(spool: str | Path) -> None:
    """Deletes what is left of the spool in directory ``spool`` (its files, not the
    directory)."""
    with os.scandir(spool) as entries:
        for entry in entries:
            if entry.name.startswith(PREFIX):
                os.unlink(entry.path)


class SpoolWriter:
    """Appends one class range's records to the spool files of their shards."""

    def __init__(self, spool: str, label: int, part: int, shard_id: np.ndarray,
                 shards: int) -> None:
        """``shard_id``: the shard of every round of the range, in order."""
        self._sources = spool_sources(spool, label, part, shard_id, shards)
        self._keep_open = shards <= MAX_OPEN
        self._fds: dict[int, int] = {}  # shard -> its .rec, while open
        self._sizes_fd = -1
        self._written = np.zeros(shards, dtype=np.int64)  # records per shard so far
        # Per shard: bytes in its .rec (freed once the shard is written) and bytes of its
        # records once framed.
        self.spooled = np.zeros(shards, dtype=np.int64)
        self.framed = np.zeros(shards, dtype=np.int64)

    def add(self, buf: np.ndarray, offsets: np.ndarray, framed: np.ndarray,
            shard_id: np.ndarray) -> None:
        """Record i, ``buf[offsets[i]:offsets[i + 1]]`` (``framed[i]`` bytes once framed),
        goes to shard ``shard_id[i]``."""
        order = np.argsort(shard_id, kind="stable")
        sids, sizes, framed = shard_id[order], np.diff(offsets)[order], framed[order]
        at = np.concatenate(([0], np.cumsum(sizes)))
        grouped = scratch("grouped", int(at[-1]))  # the records shard by shard
        gather(buf, offsets[:-1][order], sizes, grouped, at[:-1])
        pairs = np.empty((len(sids), 2), dtype="<i4")
        pairs[:, 0], pairs[:, 1] = sizes, framed
        pairs = pairs.reshape(-1).view(np.uint8)
        bounds = np.concatenate(([0], np.flatnonzero(np.diff(sids)) + 1, [len(sids)]))
        firsts = bounds[:-1]  # of each shard's run of records
        self.spooled[sids[firsts]] += np.add.reduceat(sizes, firsts)
        self.framed[sids[firsts]] += np.add.reduceat(framed, firsts, dtype=np.int64)
        bounds, at = bounds.tolist(), at.tolist()
        if self._sizes_fd < 0:
            self._sizes_fd = os.open(self._sources[0].sizes, os.O_WRONLY | os.O_CREAT, 0o666)
        for a, b in zip(bounds[:-1], bounds[1:]):
            s = int(sids[a])
            src = self._sources[s]
            if self._written[s] + b - a > src.records:
                raise ValueError(f"shard {s} gets more records than its {src.records}")
            if s not in self._fds:
                self._fds[s] = os.open(src.rec, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
            write_all(self._fds[s], grouped[at[a]:at[b]])
            write_all(self._sizes_fd, pairs[8 * a:8 * b],
                      8 * (src.first + int(self._written[s])))
            self._written[s] += b - a
            if not self._keep_open:
                os.close(self._fds.pop(s))

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        if self._sizes_fd >= 0:
            os.close(self._sizes_fd)
            self._sizes_fd = -1


class _ClassSpool:
    """One class's records of one shard: those of its ranges of rounds, in order."""

    def __init__(self, sources: Sequence[SpoolSource], keep_open: bool) -> None:
        self._sources = [s for s in sources if s.records > 0]
        self._keep_open = keep_open
        self.nbytes = sum(os.path.getsize(s.rec) for s in self._sources)
        self._len_at = (0, 0)  # (source, record) of the next sizes to read
        self._i = 0  # source of the next bytes to read
        self._k = 0  # records read from it
        self._pos = 0  # bytes read from it
        self._fd = -1  # its .rec, while kept open

    def sizes(self, n: int) -> np.ndarray:
        """The sizes of its next ``n`` records, (n, 2) int32: as spooled and framed."""
        parts = []
        i, k = self._len_at
        while n > 0:
            src = self._sources[i]
            m = min(n, src.records - k)
            raw = np.fromfile(src.sizes, dtype="<i4", count=2 * m, offset=8 * (src.first + k))
            if len(raw) != 2 * m:
                raise RuntimeError(f"spool {src.sizes} is truncated")
            parts.append(raw)
            i, k, n = (i + 1, 0, n - m) if k + m == src.records else (i, k + m, n - m)
        self._len_at = (i, k)
        return np.concatenate(parts).reshape(-1, 2)

    def read_into(self, out: memoryview, sizes: np.ndarray) -> None:
        """The bytes of its next ``len(sizes)`` records (``sizes``: as spooled) into ``out``."""
        n = len(sizes)
        while n > 0:
            src = self._sources[self._i]
            count = src.records
            m = min(n, count - self._k)
            # The rest of out, unless the records go on in the next source:
            nbytes = len(out) if m == n else int(sizes[len(sizes) - n:len(sizes) - n + m].sum())
            if self._fd < 0:
                self._fd = os.open(src.rec, os.O_RDONLY)
            view, out = out[:nbytes], out[nbytes:]
            while view:
                got = os.preadv(self._fd, [view], self._pos)
                if got == 0:
                    raise RuntimeError(f"spool {src.rec} is truncated")
                view, self._pos = view[got:], self._pos + got
            self._k += m
            n -= m
            if self._k == count or not self._keep_open:
                self.close()
            if self._k == count:
                self._i, self._k, self._pos = self._i + 1, 0, 0

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def remove(self) -> None:
        self.close()
        for src in self._sources:
            os.unlink(src.rec)


class ShardReader:
    """Reads one shard's records of every class back, a window of rounds at a time: record
    sizes for all classes at once (READ_AHEAD in all), then each class's bytes of the
    window with one read."""

    def __init__(self, sources: Sequence[Sequence[SpoolSource]], rounds: int) -> None:
        """``sources``: per class, where its records are, in round order; ``rounds`` records
        in all."""
        keep_open = len(sources) <= MAX_OPEN
        self._classes = [_ClassSpool(s, keep_open) for s in sources]
        self._left = rounds  # rounds whose sizes are still to be read
        self._ahead = np.empty((len(sources), 0, 2), dtype=np.int32)  # sizes read, not taken
        self._taken = self._ahead[:, :, 0]  # spooled sizes of the last take, whose bytes come next
        self.nbytes = sum(c.nbytes for c in self._classes)

    def take(self, w: int) -> tuple[np.ndarray, np.ndarray]:
        """The sizes of the next rounds, at most ``w``, (classes, rounds) int64 each: as
        spooled and framed; their bytes come with ``read_into``."""
        if self._ahead.shape[1] == 0:
            k = min(max(w, READ_AHEAD // max(1, len(self._classes))), self._left)
            self._ahead = np.stack([c.sizes(k) for c in self._classes])
            self._left -= k
        sizes, self._ahead = self._ahead[:, :w], self._ahead[:, w:]
        self._taken = sizes[:, :, 0]
        sizes = sizes.astype(np.int64)
        return sizes[:, :, 0], sizes[:, :, 1]

    def read_into(self, out: np.ndarray, base: Sequence[int]) -> None:
        """The bytes of the last ``take``'s records into ``out``, class ``j``'s from
        ``base[j]`` on (up to the next class's)."""
        view = memoryview(out)
        ends = [*base[1:], len(out)]
        for c, a, b, sizes in zip(self._classes, base, ends, self._taken):
            c.read_into(view[a:b], sizes)

    def close(self) -> None:
        """Closes the spool files it holds open."""
        for c in self._classes:
            c.close()

    def remove(self) -> None:
        """Closes and deletes the shard's record files (read by this shard's writer only; the
        sizes files, shared by the shards of a range, go with ``remove_spool``)."""
        for c in self._classes:
            c.remove()
