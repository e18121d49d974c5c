"""The builder's spool: packed records waiting on disk between its two phases.

Phase 1 appends every class's records to one file per shard
(``<spool>/<class>-<range>-<shard>.rec``, packed as fastdraw.compact describes) and
their sizes to ``.len`` (int32 pairs: as spooled, and once framed).  Phase 2 reads a
shard's files of every class back round by round.  Nothing is buffered in the
process beyond one chunk or window, so memory does not grow with the input.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fastdraw.shardfile import write_all
from fastdraw.unaligned import gather

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


def spool_prefix(spool: str | Path, label: int, part: int, shard: int) -> str:
    """Path of class ``label``'s spool files (without .rec/.len) for range ``part`` of its
    rounds and shard ``shard``."""
    return os.path.join(spool, f"{label:05d}-{part:03d}-{shard:05d}")


class SpoolWriter:
    """Appends one class range's records to the spool files of their shards."""

    def __init__(self, spool: str, label: int, part: int, shards: int) -> None:
        self._prefix = [spool_prefix(spool, label, part, s) for s in range(shards)]
        self._keep_open = shards <= MAX_OPEN
        self._fds: dict[int, tuple[int, int]] = {}
        # Per shard: bytes spooled (.rec and .len) and bytes of its records once framed.
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
        self.spooled[sids[firsts]] += np.add.reduceat(sizes, firsts) + 8 * np.diff(bounds)
        self.framed[sids[firsts]] += np.add.reduceat(framed, firsts, dtype=np.int64)
        bounds, at = bounds.tolist(), at.tolist()
        for a, b in zip(bounds[:-1], bounds[1:]):
            s = int(sids[a])
            if s not in self._fds:
                flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
                self._fds[s] = (os.open(self._prefix[s] + ".rec", flags, 0o666),
                                os.open(self._prefix[s] + ".len", flags, 0o666))
            rec, lens = self._fds[s]
            write_all(rec, grouped[at[a]:at[b]])
            write_all(lens, pairs[8 * a:8 * b])
            if not self._keep_open:
                self._close(s)

    def _close(self, s: int) -> None:
        for fd in self._fds.pop(s):
            os.close(fd)

    def close(self) -> None:
        for s in list(self._fds):
            self._close(s)


class _ClassSpool:
    """One class's records of one shard: the spool files of its ranges of rounds, in order."""

    def __init__(self, sources: Sequence[tuple[str, int]], keep_open: bool) -> None:
        self._sources = [s for s in sources if s[1] > 0]
        self._keep_open = keep_open
        self.nbytes = sum(os.path.getsize(p + ".rec") for p, _ in self._sources)
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
            prefix, count = self._sources[i]
            m = min(n, count - k)
            raw = np.fromfile(prefix + ".len", dtype="<i4", count=2 * m, offset=8 * k)
            if len(raw) != 2 * m:
                raise RuntimeError(f"spool {prefix}.len is truncated")
            parts.append(raw)
            i, k, n = (i + 1, 0, n - m) if k + m == count else (i, k + m, n - m)
        self._len_at = (i, k)
        return np.concatenate(parts).reshape(-1, 2)

    def read_into(self, out: memoryview, sizes: np.ndarray) -> None:
        """The bytes of its next ``len(sizes)`` records (``sizes``: as spooled) into ``out``."""
        n = len(sizes)
        while n > 0:
            prefix, count = self._sources[self._i]
            m = min(n, count - self._k)
            # The rest of out, unless the records go on in the next source:
            nbytes = len(out) if m == n else int(sizes[len(sizes) - n:len(sizes) - n + m].sum())
            if self._fd < 0:
                self._fd = os.open(prefix + ".rec", os.O_RDONLY)
            view, out = out[:nbytes], out[nbytes:]
            while view:
                got = os.preadv(self._fd, [view], self._pos)
                if got == 0:
                    raise RuntimeError(f"spool {prefix}.rec is truncated")
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
        for prefix, _ in self._sources:
            os.unlink(prefix + ".rec")
            os.unlink(prefix + ".len")


class ShardReader:
    """Reads one shard's records of every class back, a window of rounds at a time: record
    sizes for all classes at once (READ_AHEAD in all), then each class's bytes of the
    window with one read."""

    def __init__(self, sources: Sequence[Sequence[tuple[str, int]]], rounds: int) -> None:
        """``sources``: per class, its (spool prefix, records) in round order, ``rounds``
        records in all."""
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
        """Closes and deletes the spool files (each is read by one shard writer only)."""
        for c in self._classes:
            c.remove()
