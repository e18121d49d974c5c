"""`ShardFile`: a new file written by a thread of its own, around the page cache if it can.

A build's shard files are its biggest writes.  Written the usual way, every byte is
copied into a new page-cache page, which on virtual machines can cost the kernel more CPU
time than the rest of the write phase.  With ``O_DIRECT`` the disk reads the bytes straight
from the process's buffer; a thread waits for it while the task fills the other of two
buffers.  Where the file system refuses ``O_DIRECT`` (at open or at the first write), the
file is written the usual way, still by the thread.

With ``O_DIRECT`` the writes go in whole units of UNIT bytes, each starting at a multiple
of UNIT in the file (only the last may be shorter): virtual disks are much slower for
writes that cross a 4 MiB boundary of the file, and the kernel cuts a write into requests
of at most 4 MiB (``max_sectors_kb``), so a unit of two such stretches puts two aligned
requests in flight at once (docs/performance.md has the measurements).

A compressed shard (``compression``, one of ``tfrecord.COMPRESSIONS``) is the committed bytes
deflated as TensorFlow's TFRecordWriter deflates them; ``sha256`` is of the file as written,
compressed or not.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

import numpy as np

from fastdraw.dataset.tfrecord import compressor

BLOCK = 4096  # alignment of O_DIRECT writes: buffer address, file offset and size
UNIT = 1 << 23  # O_DIRECT writes go in whole units, at multiples of UNIT in the file


def write_all(fd: int, data: bytes | memoryview | np.ndarray, offset: int | None = None
              ) -> None:
    """Writes all of ``data`` to file descriptor ``fd``: where the file is, or at ``offset``."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view) if offset is None else os.pwrite(fd, view, offset)
        view = view[n:]
        if offset is not None:
            offset += n


class ShardFile:
    """Writes a new file at ``path`` from bytes placed with ``reserve`` and ``commit``
    (deflated first, with a ``compression``): with ``O_DIRECT``, whole units go to the
    thread at once, the rest waits for the next commit or ``close``; without it, everything
    committed goes.  ``sha256`` is the file's, once closed."""

    def __init__(self, path: str | os.PathLike, compression: str = "none") -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        self.direct = hasattr(os, "O_DIRECT")
        try:
            self._fd = os.open(path, flags | (os.O_DIRECT if self.direct else 0), 0o666)
        except OSError:
            self.direct = False
            self._fd = os.open(path, flags, 0o666)
        self._bufs = [np.empty(0, dtype=np.uint8), np.empty(0, dtype=np.uint8)]
        self._cur = 0  # the buffer being filled; the other may be in the thread's hands
        self._held = 0  # bytes at its start not yet written (less than a unit)
        self._n = 0  # bytes reserved after them
        self._size = 0  # bytes committed in all
        self._thread = ThreadPoolExecutor(1)
        self._writing: Future | None = None
        self._deflate = compressor(compression)
        self._staging = np.empty(0, dtype=np.uint8)  # reserved bytes, when they are deflated
        self._digest = hashlib.sha256()
        self.sha256 = ""

    @property
    def size(self) -> int:
        """Bytes of the file as written so far (deflated, with a compression)."""
        return self._size

    def reserve(self, n: int) -> np.ndarray:
        """Room for the next ``n`` bytes, uint8 (valid until ``commit``)."""
        if self._deflate is None:
            return self._room(n)
        if self._staging.size < n:
            self._staging = np.empty(int(n * 1.25), dtype=np.uint8)
        self._n = n
        return self._staging[:n]

    def commit(self) -> None:
        """Hands the reserved bytes (deflated, with a compression) to the file."""
        if self._deflate is None:
            self._digest.update(self._bufs[self._cur][self._held:self._held + self._n])
            self._commit()
        else:
            self._append(self._deflate.compress(self._staging[:self._n]))

    def _append(self, data: bytes) -> None:
        """Bytes of the file as written (deflated ones)."""
        self._room(len(data))[:] = np.frombuffer(data, dtype=np.uint8)
        self._digest.update(data)
        self._commit()

    def _room(self, n: int) -> np.ndarray:
        """Room for the file's next ``n`` bytes, after those held."""
        self._grow(self._cur, self._held + n)
        self._n = n
        return self._bufs[self._cur][self._held:self._held + n]

    def _commit(self) -> None:
        """Hands the room's bytes' whole units to the thread (after its last write)."""
        total = self._held + self._n
        self._size += self._n
        whole = total - total % UNIT if self.direct else total
        if not whole:  # keep filling this buffer
            self._held, self._n = total, 0
            return
        self._wait()
        buf, other = self._bufs[self._cur], 1 - self._cur
        self._held = total - whole
        self._grow(other, self._held)
        self._bufs[other][:self._held] = buf[whole:total]
        self._writing = self._thread.submit(self._write, buf[:whole])
        self._cur, self._n = other, 0

    def close(self) -> None:
        """Writes what is held (with O_DIRECT a last block padded, then cut to size) and closes;
        raises the thread's error, if a write failed."""
        try:
            if self._deflate is not None:
                self._append(self._deflate.flush())
            self._wait()
            if self._held:
                pad = -self._held % BLOCK if self.direct else 0
                buf = self._bufs[self._cur]
                buf[self._held:self._held + pad] = 0
                self._write(buf[:self._held + pad])
                os.ftruncate(self._fd, self._size)
        finally:
            self._thread.shutdown()
            os.close(self._fd)
        self.sha256 = self._digest.hexdigest()

    def _wait(self) -> None:
        if self._writing is not None:
            writing, self._writing = self._writing, None
            writing.result()

    def _grow(self, k: int, n: int) -> None:
        """Gives buffer k room for n bytes and a block of padding, aligned for O_DIRECT."""
        old = self._bufs[k]
        if old.size >= n + BLOCK:
            return
        size = int(n * 1.25) + 2 * BLOCK
        raw = np.empty(size + BLOCK, dtype=np.uint8)
        skip = -raw.ctypes.data % BLOCK
        self._bufs[k] = raw[skip:skip + size]
        if k == self._cur:
            self._bufs[k][:self._held] = old[:self._held]

    def _write(self, data: np.ndarray) -> None:
        try:
            write_all(self._fd, data)
        except OSError as e:  # a file system that took O_DIRECT at open but not at write
            if not self.direct or e.errno != errno.EINVAL or os.lseek(self._fd, 0, os.SEEK_CUR):
                raise
            self.direct = False
            fcntl.fcntl(self._fd, fcntl.F_SETFL,
                        fcntl.fcntl(self._fd, fcntl.F_GETFL) & ~os.O_DIRECT)
            write_all(self._fd, data)


class StreamShard:
    """Writes a shard to ``stream`` (which it closes) from bytes placed with ``reserve`` and
    ``commit``, as `ShardFile` does to a local file, deflated first by the same compressor
    with a ``compression``: each commit writes what was reserved.  ``sha256`` and ``size``
    are of the bytes written, ``sha256`` once closed."""

    def __init__(self, stream: BinaryIO, compression: str = "none") -> None:
        self._stream = stream
        self._deflate = compressor(compression)
        self._buf = np.empty(0, dtype=np.uint8)
        self._n = 0
        self._digest = hashlib.sha256()
        self.size = 0
        self.sha256 = ""

    def reserve(self, n: int) -> np.ndarray:
        """Room for the next ``n`` bytes, uint8 (valid until ``commit``)."""
        if self._buf.size < n:
            self._buf = np.empty(int(n * 1.25), dtype=np.uint8)
        self._n = n
        return self._buf[:n]

    def commit(self) -> None:
        """Writes the reserved bytes (deflated, with a compression)."""
        data = self._buf[:self._n]
        self._write(data if self._deflate is None else self._deflate.compress(data))
        self._n = 0

    def _write(self, data: bytes | np.ndarray) -> None:
        self._digest.update(data)
        self.size += len(data)
        write_stream(self._stream, data)

    def close(self) -> None:
        """Writes what the compressor holds and closes the stream (which may be when an object
        store makes the object)."""
        if self._deflate is not None:
            self._write(self._deflate.flush())
        self._stream.close()
        self.sha256 = self._digest.hexdigest()


def write_stream(stream: BinaryIO, data: bytes | memoryview | np.ndarray) -> None:
    """Writes all of ``data`` to ``stream`` (whose write may take less than it is given)."""
    view = memoryview(data).cast("B")
    while view:
        n = stream.write(view)
        view = view[len(view) if n is None else n:]
