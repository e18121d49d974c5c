"""TFRecord files without TensorFlow: framing, a buffered writer and a checking reader.

Each record is framed as TensorFlow's ``record_writer.cc`` does::

    uint64 length (little-endian) | uint32 masked CRC32C of those 8 bytes
    data[length]                  | uint32 masked CRC32C of data

with ``mask(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8 (mod 2**32)``.
CRC32C comes from ``google-crc32c`` (Google's maintained C library, using the
CPU's CRC instructions); framing many records calls its C function from a numba
kernel, with no Python work per record.
"""

from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Iterator

import google_crc32c
import numpy as np
from numba import njit

from fastdraw.unaligned import gather, store_u32, store_u64

_MASK_DELTA = 0xA282EAD8
_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")


class CorruptRecordError(ValueError):
    """A TFRecord file is damaged: bad length CRC, bad data CRC or truncated."""


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


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True, inline="always")
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


def read_records(path: str | os.PathLike, check_crc: bool = True) -> Iterator[bytes]:
    """Yields the records of a TFRecord file in order.

    With ``check_crc`` every length and data CRC is verified.  A damaged file
    raises CorruptRecordError naming the file, the record's byte offset and the
    problem; a length running past the end of the file is reported as truncated.
    """
    path = os.fspath(path)
    with open(path, "rb", buffering=1 << 20) as f:
        size = os.fstat(f.fileno()).st_size
        offset = 0
        while offset < size:
            header = f.read(_HEADER.size)
            if len(header) < _HEADER.size:
                _corrupt(path, offset, f"truncated: {len(header)} of 12 header bytes")
            length, length_crc = _HEADER.unpack(header)
            if check_crc and masked_crc32c(header[:8]) != length_crc:
                _corrupt(path, offset, "bad length CRC")
            end = offset + _HEADER.size + length + _FOOTER.size
            if end > size:
                _corrupt(path, offset, f"truncated: the record needs {end - size} more bytes "
                                       f"than the file's {size}")
            record = f.read(length)
            (data_crc,) = _FOOTER.unpack(f.read(_FOOTER.size))
            if check_crc and masked_crc32c(record) != data_crc:
                _corrupt(path, offset, "bad data CRC")
            yield record
            offset = end


def _corrupt(path: str, offset: int, what: str) -> None:
    raise CorruptRecordError(
        f"{path}: record at byte offset {offset}: {what}; the file is damaged "
        "(rebuild or download it again)"
    )
