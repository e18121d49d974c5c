"""TFRecord files without TensorFlow: framing, a buffered writer and a checking reader.

Each record is framed as TensorFlow's ``record_writer.cc`` does::

    uint64 length (little-endian) | uint32 masked CRC32C of those 8 bytes
    data[length]                  | uint32 masked CRC32C of data

with ``mask(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8 (mod 2**32)``.
CRC32C comes from ``google-crc32c`` (Google's maintained C library, using the
CPU's CRC instructions); framing many records calls its C function from a numba
kernel, with no Python work per record.

A file may be compressed whole, as TensorFlow's ``TFRecordOptions(compression_type="GZIP")``
or ``"ZLIB"`` write it (one deflate stream of the framed records, with the settings of
TensorFlow's ``ZlibCompressionOptions``; the same zlib gives the same bytes): COMPRESSIONS
names them, ``compressor`` makes one, and the readers take ``compression``.  The records
inside are the same bytes either way.
"""

from __future__ import annotations

import ctypes
import io
import os
import struct
import zlib
from collections.abc import Callable, Iterator

import google_crc32c
import numpy as np

from fastdraw.dataset.files import open_regular
from fastdraw.errors import CorruptRecordError
from fastdraw.kernels.buffers import joined
from fastdraw.kernels.jit import helper, kernel
from fastdraw.kernels.unaligned import copy_bytes, gather, load_u32, load_u64, store_u32, store_u64

_MASK_DELTA = 0xA282EAD8
_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC32C of ``data`` (bytes)."""
    crc = google_crc32c.value(bytes(data))
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def _mask(crc: np.ndarray) -> np.ndarray:
    """``masked_crc32c``'s mask of many CRCs (uint64 array) at once."""
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def _append_framed(parts: list[bytes], record: bytes) -> None:
    length = struct.pack("<Q", len(record))
    parts.append(length)
    parts.append(_FOOTER.pack(masked_crc32c(length)))
    parts.append(record)
    parts.append(_FOOTER.pack(masked_crc32c(record)))


COMPRESSIONS = ("none", "gzip", "zlib")  # of a TFRecord file; TensorFlow's "", "GZIP", "ZLIB"
_WINDOW_BITS = {"gzip": 16 + zlib.MAX_WBITS, "zlib": zlib.MAX_WBITS}
# TensorFlow's ZlibCompressionOptions: the level zlib's default (Z_DEFAULT_COMPRESSION, 6),
# mem_level 9 (zlib's own default is 8), the default strategy, and no flush before the end.
ZLIB_LEVEL, ZLIB_MEM_LEVEL = zlib.Z_DEFAULT_COMPRESSION, 9


def check_compression(compression: str) -> str:
    """``compression`` if it is one of COMPRESSIONS, else ValueError naming them."""
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression {compression!r} is none this version of fastdraw knows: "
                         f"choose one of {', '.join(COMPRESSIONS)}")
    return compression


def tf_compression_type(compression: str) -> str:
    """The ``compression_type`` of ``tf.data.TFRecordDataset`` and ``tf.io.TFRecordOptions``
    that reads or writes a file of ``compression``."""
    return {"none": "", "gzip": "GZIP", "zlib": "ZLIB"}[check_compression(compression)]


def compressor(compression: str) -> zlib._Compress | None:
    """A compressor writing what TensorFlow's TFRecordWriter writes with that compression
    type (None for "none"): feed it the framed records, in any pieces, then flush it."""
    if check_compression(compression) == "none":
        return None
    return zlib.compressobj(ZLIB_LEVEL, zlib.DEFLATED, _WINDOW_BITS[compression],
                            ZLIB_MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY)


def compression_settings(compression: str) -> dict[str, object]:
    """What makes a compressed file's bytes, for a dataset's manifest: the zlib that ran and
    its settings ({} for "none")."""
    if check_compression(compression) == "none":
        return {}
    return {"zlib": zlib.ZLIB_RUNTIME_VERSION, "level": 6, "mem_level": ZLIB_MEM_LEVEL,
            "window_bits": zlib.MAX_WBITS, "strategy": "default",
            "as": f"tf.io.TFRecordOptions(compression_type={tf_compression_type(compression)!r})"}


MAX_RECORD = (1 << 31) - 1  # bytes: the most a protocol buffer (a tf.train.Example) can take
_HEADERS = np.dtype([("length", "<u8"), ("crc", "<u4")])  # packed: 12 bytes a record
FRAME_HEAD = _HEADERS.itemsize  # framing bytes before a record: its length and that's CRC
FRAME_TAIL = _FOOTER.size  # framing bytes after it: the data's CRC


def frame_in_place(buf: np.ndarray, slots: np.ndarray) -> None:
    """Writes the TFRecord framing of records laid out with room for it.

    Slot i, ``buf[slots[i]:slots[i + 1]]``, is FRAME_HEAD free bytes, record i, then
    FRAME_TAIL free bytes (the layout the Example encoders write with ``gaps``); after
    the call each slot is the framed record, so the slots together are a TFRecord file.
    No record is copied: CRC32C reads them where they lie.
    """
    if buf.dtype != np.uint8 or buf.ndim != 1 or not buf.flags.c_contiguous:
        raise ValueError("buf must be a contiguous 1-d uint8 array")
    bounds = np.asarray(slots, dtype=np.int64)
    n = len(bounds) - 1
    if n < 0 or bounds[0] < 0 or bounds[-1] > len(buf) or np.any(
            np.diff(bounds) < FRAME_HEAD + FRAME_TAIL):
        raise ValueError("slots must rise by at least 16 bytes within buf")
    if _EXTEND is not None:
        _frame_kernel(_EXTEND, buf, bounds)
        return
    value = google_crc32c.value
    starts = bounds[:-1].tolist()
    ends = bounds[1:].tolist()
    headers = np.empty(n, dtype=_HEADERS)
    headers["length"] = np.diff(bounds) - (FRAME_HEAD + FRAME_TAIL)
    lengths = headers["length"].tobytes()
    headers["crc"] = _mask(np.fromiter((value(lengths[8 * i:8 * i + 8]) for i in range(n)),
                                       dtype=np.uint64, count=n))
    footers = _mask(np.fromiter(
        (value(buf[a + FRAME_HEAD:e - FRAME_TAIL]) for a, e in zip(starts, ends)),
        dtype=np.uint64, count=n)).astype("<u4")
    buf[(bounds[:-1, None] + np.arange(FRAME_HEAD)).ravel()] = headers.view(np.uint8)
    buf[(bounds[1:, None] - np.arange(FRAME_TAIL, 0, -1)).ravel()] = footers.view(np.uint8)


def _crc32c_extend() -> ctypes._CFuncPtr | None:
    """google-crc32c's C function ``crc32c_extend(crc, data, size)`` for numba kernels, or
    None (the package's pure-Python fallback, or a build without the symbol): then framing
    calls ``google_crc32c.value`` record by record."""
    if google_crc32c.implementation != "c":
        return None
    try:
        from google_crc32c import _crc32c

        extend = ctypes.CDLL(_crc32c.__file__).crc32c_extend  # found in the library it links
    except (ImportError, OSError, AttributeError):
        return None
    # The data pointer as an address (size_t has a pointer's width where wheels exist).
    extend.argtypes = [ctypes.c_uint32, ctypes.c_size_t, ctypes.c_size_t]
    extend.restype = ctypes.c_uint32
    return extend


_EXTEND = _crc32c_extend()


@kernel
def _frame_kernel(extend, buf, slots):
    """``frame_in_place`` with ``extend`` (crc32c_extend) called on the records in place."""
    base = np.uint64(buf.ctypes.data)
    for i in range(len(slots) - 1):
        a = slots[i]
        e = slots[i + 1]
        n = e - a - FRAME_HEAD - FRAME_TAIL
        store_u64(buf, a, np.uint64(n))
        store_u32(buf, a + 8, _masked(extend(0, base + np.uint64(a), 8)))
        store_u32(buf, e - FRAME_TAIL, _masked(extend(0, base + np.uint64(a + FRAME_HEAD), n)))


@helper
def _masked(crc):
    c = np.uint64(crc)
    return (((c >> np.uint64(15)) | (c << np.uint64(17))) + np.uint64(_MASK_DELTA)) \
        & np.uint64(0xFFFFFFFF)


def warmup() -> None:
    """Compiles (or loads) the framing kernel, before forking workers."""
    buf = np.zeros(20, dtype=np.uint8)
    frame_in_place(buf, np.array([0, 20], dtype=np.int64))


def frame_records(buf: np.ndarray, offsets: np.ndarray) -> bytes:
    """TFRecord framing of many records at once: record i is ``buf[offsets[i]:offsets[i + 1]]``.

    Returns the bytes of a TFRecord file holding them in order.  (Encoders that leave
    room for the framing skip this copy: see ``frame_in_place``.)
    """
    data = np.ascontiguousarray(buf, dtype=np.uint8)
    offsets = np.asarray(offsets, dtype=np.int64)
    slots = offsets - offsets[0] + (FRAME_HEAD + FRAME_TAIL) * np.arange(len(offsets))
    out = np.empty(int(slots[-1]), dtype=np.uint8)
    gather(data, offsets[:-1], np.diff(offsets), out, slots[:-1] + FRAME_HEAD)
    frame_in_place(out, slots)
    return out.tobytes()


class TFRecordWriter:
    """Writes TFRecord files, in large writes made only of whole records.

    Records are kept in memory until ``buffer_size`` bytes are pending, then
    written in one call, so a file is a sequence of whole records between
    flushes.  Use as a context manager or call ``close()``.
    """

    def __init__(self, path: str | os.PathLike, buffer_size: int = 4 << 20) -> None:
        self.path = os.fspath(path)
        self._file = open(self.path, "wb", buffering=0)
        self._pending: list[bytes | memoryview] = []
        self._pending_size = 0
        self._buffer_size = buffer_size

    def write(self, record: bytes) -> None:
        """Frames and writes one record (a serialized Example, say)."""
        parts: list[bytes] = []
        _append_framed(parts, record)
        self.write_framed(b"".join(parts))

    def write_framed(self, data: bytes | memoryview) -> None:
        """Writes bytes that are already whole framed records (``frame_records`` output)."""
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= self._buffer_size:
            self.flush()

    def flush(self) -> None:
        """Writes every pending record to the file."""
        view = memoryview(b"".join(self._pending))
        self._pending.clear()
        self._pending_size = 0
        while view:
            view = view[self._file.write(view):]

    def close(self) -> None:
        """Flushes and closes the file (a second call does nothing)."""
        if not self._file.closed:
            try:
                self.flush()
            finally:
                self._file.close()

    def __enter__(self) -> TFRecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_records(path: str | os.PathLike, check_crc: bool = True,
                 compression: str = "none", max_record: int = MAX_RECORD) -> Iterator[bytes]:
    """Yields the records of a TFRecord file in order.

    With ``check_crc`` every length and data CRC is verified.  A damaged file
    raises CorruptRecordError naming the file, the record's byte offset and the
    problem; a length running past the end of the file is reported as truncated, one over
    ``max_record`` (MAX_RECORD, or less: a codec's `max_record_bytes`) as such, before it is
    read.  A path that is not a regular file raises DatasetFileError.
    ``compression`` (one of COMPRESSIONS) is the file's; offsets are then in its inflated
    stream, and a damaged or cut stream raises CorruptRecordError too.
    """
    path = os.fspath(path)
    check_compression(compression)
    with open_regular(path, buffering=1 << 20) as raw:
        size = os.fstat(raw.fileno()).st_size if compression == "none" else None
        f = raw if size is not None else io.BufferedReader(
            _Inflating(raw, path, compression), 1 << 20)
        offset = 0
        while size is None or offset < size:
            header = f.read(_HEADER.size)
            if size is None and not header:
                return
            if len(header) < _HEADER.size:
                _corrupt(path, offset, f"truncated: {len(header)} of 12 header bytes",
                         compression)
            length, length_crc = _HEADER.unpack(header)
            if check_crc and masked_crc32c(header[:8]) != length_crc:
                _corrupt(path, offset, "bad length CRC", compression)
            end = offset + _HEADER.size + length + _FOOTER.size
            if size is not None and end > size:
                _corrupt(path, offset, f"truncated: the record needs {end - size} more bytes "
                                       f"than the file's {size}")
            if length > max_record:
                _too_long(path, offset, length, max_record, compression)
            record = _read_exact(f, length + _FOOTER.size)
            if len(record) < length + _FOOTER.size:
                _corrupt(path, offset, f"truncated: the record needs "
                                       f"{length + _FOOTER.size - len(record)} more bytes "
                                       "than the stream holds", compression)
            (data_crc,) = _FOOTER.unpack(record[length:])
            record = record[:length]
            if check_crc and masked_crc32c(record) != data_crc:
                _corrupt(path, offset, "bad data CRC", compression)
            yield record
            offset = end


def _read_exact(f: io.BufferedIOBase, n: int) -> bytes:
    """Up to ``n`` bytes of ``f``, fewer only at its end: read in pieces, so that a length
    that lies takes no more memory than the bytes that are there."""
    if n <= _PIECE:
        return f.read(n)
    parts = []
    while n > 0 and (part := f.read(min(n, _PIECE))):
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


_PIECE = 16 << 20


class _Inflating(io.RawIOBase):
    """The inflated content of compressed file ``raw``, read a piece at a time; the file's
    own bytes go to ``on_bytes`` as they are read.  A damaged stream, one cut short or one
    followed by more bytes raises CorruptRecordError."""

    def __init__(self, raw: io.BufferedIOBase, path: str, compression: str,
                 on_bytes: Callable[[memoryview], None] | None = None) -> None:
        super().__init__()
        self._raw, self._path, self._compression = raw, path, compression
        self._on_bytes = on_bytes
        self._inflate = zlib.decompressobj(_WINDOW_BITS[compression])
        self._pending = b""  # file bytes read, not yet inflated
        self._read = 0  # file bytes read

    def readable(self) -> bool:
        return True

    def readinto(self, view: memoryview) -> int:  # type: ignore[override]
        if not len(view):  # (a max_length of 0 would mean no limit)
            return 0
        while not self._inflate.eof:
            if not self._pending:
                self._pending = self._raw.read(1 << 20)
                if not self._pending:
                    self._bad(f"the {self._compression} stream ends before its end (the file "
                              "is cut short)")
                self._read += len(self._pending)
                if self._on_bytes is not None:
                    self._on_bytes(memoryview(self._pending))
            try:
                out = self._inflate.decompress(self._pending, len(view))
            except zlib.error as e:
                self._bad(f"not a valid {self._compression} stream ({e})")
            self._pending = self._inflate.unconsumed_tail
            if out:
                view[:len(out)] = out
                return len(out)
        extra = len(self._inflate.unused_data)  # the last piece's bytes after the end
        while chunk := self._raw.read(1 << 20):  # read to the end: every byte is hashed
            extra += len(chunk)
            if self._on_bytes is not None:
                self._on_bytes(memoryview(chunk))
        if extra:
            self._bad(f"{extra} more bytes after the end of its {self._compression} stream")
        return 0

    def _bad(self, what: str) -> None:
        raise CorruptRecordError(f"{self._path}: {what}, within its first {self._read} bytes; "
                                 "the file is damaged (rebuild or download it again)")


WINDOW = 8 << 20  # bytes read_windows reads at a time (a bigger record gets a bigger window)
_BAD_FRAME = ("", "bad length CRC", "bad data CRC")


def read_windows(path: str | os.PathLike, window: int | None = None, check_crc: bool = True,
                 on_bytes: Callable[[memoryview], None] | None = None,
                 compression: str = "none", max_record: int = MAX_RECORD
                 ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The records of a TFRecord file a window at a time, in order, in memory that does not
    grow with the file: ``(buf, offsets)``, record i of the window being
    ``buf[offsets[i]:offsets[i + 1]]`` (uint8 and int64 views, valid until the next window).

    Same checks and errors as ``read_records`` (the good records before a damaged one are
    yielded first), ``compression`` and ``max_record`` as there.  ``on_bytes`` gets every
    byte of the file (as it is on disk, compressed or not) read so far, once and in order
    (to hash the file in the same pass; without google-crc32c's C library, or with
    ``check_crc`` off, the whole file after the records).  ``window``: bytes read at a time,
    WINDOW by default.
    """
    window = window or WINDOW
    if not check_crc or _EXTEND is None:  # no C CRC for the kernel: record by record
        yield from _windows_of(read_records(path, check_crc, compression, max_record), window)
        if on_bytes is not None:
            with open_regular(path) as f:
                while chunk := f.read(window):
                    on_bytes(memoryview(chunk))
        return
    path = os.fspath(path)
    check_compression(compression)
    with open_regular(path, buffering=0) as f:
        if compression == "none":
            size: int | None = os.fstat(f.fileno()).st_size
            source: io.RawIOBase = f
        else:  # the inflated stream, whose size is known only at its end
            size, source = None, _Inflating(f, path, compression, on_bytes)
            on_bytes = None
        block, out, offsets = _window_arrays(max(window, FRAME_HEAD + FRAME_TAIL))
        held = 0  # bytes at the start of block that begin the next frame
        at = 0  # the file offset of block[0]
        while True:
            got = source.readinto(memoryview(block)[held:]) or 0
            if got and on_bytes is not None:
                on_bytes(memoryview(block)[held:held + got])
            n = held + got
            records, used, bad = _unframe_kernel(_EXTEND, block, n, out, offsets)
            if records and max_record < n:  # a record longer than the bound may be whole here
                sizes = np.diff(offsets[:records + 1])
                if (long := np.flatnonzero(sizes > max_record)).size:
                    i = int(long[0])
                    if i:
                        yield out[:offsets[i]], offsets[:i + 1]
                    _too_long(path, at + int(offsets[i]) + i * (FRAME_HEAD + FRAME_TAIL),
                              int(sizes[i]), max_record, compression)
            if records:
                yield out[:offsets[records]], offsets[:records + 1]
            if bad:
                _corrupt(path, at + used, _BAD_FRAME[bad], compression)
            held = n - used
            if got == 0:
                if held >= FRAME_HEAD:
                    need = FRAME_HEAD + int(block[used:used + 8].view("<u8")[0]) + FRAME_TAIL
                    _corrupt(path, at + used, f"truncated: the record needs {need - held} more "
                                              "bytes than the stream holds", compression)
                if held:
                    _corrupt(path, at + used, f"truncated: {held} of 12 header bytes",
                             compression)
                return
            block[:held] = block[used:n]
            at += used
            if held >= FRAME_HEAD:  # a frame whose header is whole did not fit: how big is it?
                length = int(block[:8].view("<u8")[0])
                need = FRAME_HEAD + length + FRAME_TAIL
                if size is not None and at + need > size:
                    _corrupt(path, at, f"truncated: the record needs {at + need - size} more "
                                       f"bytes than the file's {size}")
                if length > max_record:
                    _too_long(path, at, length, max_record, compression)
                if need > len(block):
                    # An inflated stream's size is unknown: its window grows by doublings as
                    # the bytes come, so a length that lies costs no more than they are.
                    grown, out, offsets = _window_arrays(
                        need if size is not None else min(need, 2 * len(block)))
                    grown[:held] = block[:held]
                    block = grown


def warmup_reader() -> None:
    """Compiles (or loads) ``read_windows``' kernel, before forking workers that read."""
    parts: list[bytes] = []
    _append_framed(parts, b"")
    frame = np.frombuffer(b"".join(parts), dtype=np.uint8).copy()
    if _EXTEND is not None:
        _unframe_kernel(_EXTEND, frame, len(frame), np.empty(len(frame), dtype=np.uint8),
                        np.empty(2, dtype=np.int64))


def _window_arrays(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A block of ``size`` file bytes, and room for the records and offsets it can hold."""
    return (np.empty(size, dtype=np.uint8), np.empty(size, dtype=np.uint8),
            np.empty(size // (FRAME_HEAD + FRAME_TAIL) + 2, dtype=np.int64))


def _windows_of(records: Iterator[bytes], window: int
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``read_windows``' windows made of records one by one (the good ones before an error
    first)."""
    batch: list[bytes] = []
    held = 0
    try:
        for record in records:
            batch.append(record)
            held += len(record)
            if held >= window:
                yield joined(batch)
                batch, held = [], 0
    except CorruptRecordError:
        if batch:
            yield joined(batch)
        raise
    if batch:
        yield joined(batch)


@kernel
def _unframe_kernel(extend, block, n, out, offsets):
    """Copies the records of the whole frames at the start of ``block[:n]`` into ``out``,
    checking both CRCs with ``extend`` (crc32c_extend); ``offsets[:records + 1]`` delimit
    them.  Returns (records, bytes used, 0 or the _BAD_FRAME code of the frame at used)."""
    base = np.uint64(block.ctypes.data)
    pos = 0
    records = 0
    offsets[0] = 0
    while pos + FRAME_HEAD <= n:
        if _masked(extend(0, base + np.uint64(pos), 8)) != load_u32(block, pos + 8):
            return records, pos, 1
        length = load_u64(block, pos)
        room = n - pos - FRAME_HEAD - FRAME_TAIL
        if room < 0 or length > np.uint64(room):
            break
        size = np.int64(length)
        data = pos + FRAME_HEAD
        if _masked(extend(0, base + np.uint64(data), size)) != load_u32(block, data + size):
            return records, pos, 2
        copy_bytes(block, data, out, offsets[records], size)
        offsets[records + 1] = offsets[records] + size
        records += 1
        pos = data + size + FRAME_TAIL
    return records, pos, 0


def _too_long(path: str, offset: int, length: int, limit: int, compression: str = "none"
              ) -> None:
    what = ("a tf.train.Example (a protocol buffer) can take" if limit >= MAX_RECORD else
            "a record of this dataset's kind can take")
    _corrupt(path, offset, f"its length, {length} bytes, is more than the {limit} {what}",
             compression)


def _corrupt(path: str, offset: int, what: str, compression: str = "none") -> None:
    where = "" if compression == "none" else f" of its inflated {compression} stream"
    raise CorruptRecordError(
        f"{path}: record at byte offset {offset}{where}: {what}; the file is damaged "
        "(rebuild or download it again)"
    )
