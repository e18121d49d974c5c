"""The binary source: a Quick, Draw! `.bin` file (plain or gzip), every record checked, the good
ones as `Drawings`.

The file is read through one buffer, a block at a time: about the bytes of a batch of
drawings (the reader's chunk size), judged from the records read so far.  The numba
scanner (`scan`) reads a block's whole records into flat arrays, up to the batch's size,
and the rest of the block waits for the next read.  A record holds no word: every drawing
gets the class the file is named after (``cat.bin``: ``cat``).

A bad item is never an exception that ends a run and never skipped silently: it becomes a
`Rejection` whose ``line`` is the record's number in the file (1-based, as a line's in an
ndjson file), whose ``reason`` starts with that number and the record's byte offset, and
whose ``text`` is the record's first bytes in hex.

- A record whose counts hold together but whose values do not (a country code that is not
  two printable ASCII characters, a ``recognized`` other than 0 or 1, a key_id past int64,
  no stroke, a stroke of no point, no segment) is rejected alone, and the next record is
  read where its counts end it, as the official parser reads it: a bad value never moves
  the reading of the records after it.  (The counts are all that frame the records: a
  damaged count moves it, and what is read from there is checked like any record.)
- A record that the file ends inside (its header, or its strokes as their counts say) is
  the end of what can be read: the rest of the file, from the record's first byte, is one
  rejected item with its offset and length.  So is what follows the place where a gzip
  stream breaks off.
- A record longer than MAX_RECORD bytes (a real one is about 120) is not held: it is
  skipped, its counts followed to its end, and rejected, so memory stays bounded whatever
  the file holds.

A URL's object is read the same way, through the file system behind it
(fastdraw.sources.remote).
"""

from __future__ import annotations

import gzip
import os
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from fastdraw.drawings import Drawings
from fastdraw.errors import Rejection
from fastdraw.sources.base import MAX_ITEM, Source, class_of_file
from fastdraw.sources.binary import scan as bs
from fastdraw.sources.remote import input_size, is_url, open_input

FIRST_BLOCK = 1 << 12  # the fewest bytes read at a time
MAX_BLOCK = 1 << 22  # the most, but for a long record
BATCH = 4096  # good drawings a batch holds unless asked for another size
GUESS = 128  # bytes a drawing takes before any is read (a real record: about 117)
MAX_RECORD = MAX_ITEM  # bytes of the longest record read (8 MiB)
TEXT_BYTES = 100  # a rejected item's first bytes kept in its text, in hex (200 characters)
_GZIP_MAX_RATIO = 1032  # the most deflate expands data
_CUT_HINT = "the file is cut off or corrupt (an interrupted download?): download it again"


@cache
def _countries() -> np.ndarray:
    """Country code text by its two bytes (the first in the low byte), for the printable
    ASCII pairs the scanner accepts."""
    table = np.full(1 << 16, None, dtype=object)
    for a in range(32, 127):
        for b in range(32, 127):
            table[a | b << 8] = chr(a) + chr(b)
    return table


def _check_regular(path: str | Path) -> None:
    """Refuses a directory, pipe, socket or device, naming it (a pipe would wait for a
    writer, a device could be endless)."""
    mode = os.stat(path).st_mode  # a missing file raises FileNotFoundError, naming it
    if stat.S_ISDIR(mode):
        raise ValueError(f"{path}: a directory, not a file: give the path of a .bin "
                         "(or .bin.gz) file")
    if not stat.S_ISREG(mode):
        what = ("a pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "a device")
        raise ValueError(f"{path}: {what}, not a file: save the data to a file first and "
                         "read that")


def _is_gzip(path: str | Path) -> bool:
    with open_input(path) as f:
        return f.read(2) == b"\x1f\x8b"


class _Bytes:
    """A file's bytes (gunzipped if it is gzip) through one buffer: ``fill`` reads, the held
    bytes are ``view()``, ``consume`` drops them from the front.  ``offset`` is the byte
    offset in the (uncompressed) file of the first byte held."""

    def __init__(self, path: str | Path) -> None:
        self._object = None  # a URL's object, which self.file reads
        if is_url(path):
            self.gzip = _is_gzip(path)
            self._object = open_input(path)
            self.file = gzip.GzipFile(fileobj=self._object) if self.gzip else self._object
        else:
            _check_regular(path)
            self.gzip = _is_gzip(path)
            self.file = gzip.open(path, "rb") if self.gzip else open(path, "rb", buffering=0)
        self.buf = bytearray(FIRST_BLOCK)
        self.head = self.tail = 0
        self.offset = 0
        self.eof = False
        self.broken: str | None = None  # why the gzip data ends early

    @property
    def held(self) -> int:
        return self.tail - self.head

    @property
    def done(self) -> bool:
        return self.eof or self.broken is not None

    def view(self) -> np.ndarray:
        return np.frombuffer(self.buf, dtype=np.uint8, count=self.held, offset=self.head)

    def consume(self, n: int) -> None:
        self.head += n
        self.offset += n

    def fill(self, size: int) -> None:
        """Reads until ``size`` bytes are held, or to the end of the data."""
        if len(self.buf) < size:
            buf = bytearray(size)
            buf[:self.held] = memoryview(self.buf)[self.head:self.tail]
            self.buf, self.head, self.tail = buf, 0, self.held
        elif len(self.buf) - self.head < size:
            held = self.held
            self.buf[:held] = self.buf[self.head:self.tail]
            self.head, self.tail = 0, held
        while self.held < size and not self.done:
            view = memoryview(self.buf)[self.tail:self.head + size]
            try:
                n = self.file.readinto1(view) if self.gzip else self.file.readinto(view)
            except (EOFError, gzip.BadGzipFile, zlib.error) as e:
                self.broken = str(e) or type(e).__name__
                break
            if not n:
                self.eof = True
            self.tail += n

    def skip(self, n: int) -> int:
        """Drops the next ``n`` bytes, reading past what is held; returns how many there
        were (fewer at the end of the data)."""
        left = n
        while True:
            take = min(left, self.held)
            self.consume(take)
            left -= take
            if not left or self.done:
                return n - left
            self.head = self.tail = 0
            self.fill(min(left, len(self.buf)))

    def close(self) -> None:
        self.file.close()
        if self._object is not None:
            self._object.close()


@dataclass(frozen=True)
class _Block:
    """Whole records read: ``view`` (valid until the next piece) from file offset
    ``offset``, the first one numbered ``first``."""

    view: np.ndarray
    scan: bs.Scan
    first: int
    offset: int


def _hex(data: bytes | np.ndarray) -> str:
    return bytes(data[:TEXT_BYTES]).hex()


def _pieces(path: str | Path, unrecognized: bool, size: int) -> Iterator[_Block | Rejection]:
    """The file in order: blocks of whole records, each holding ``size`` kept drawings where
    the file has them, and the items that are not records (a record too long to hold, the
    rest of a file cut inside a record)."""
    file = str(path)
    stream = _Bytes(path)
    try:
        read = kept = 0
        want = _bytes_for(size, GUESS)
        first = 1
        while True:
            stream.fill(want)
            if not stream.held:
                if stream.broken is not None:
                    yield Rejection(file, first, f"record {first} at byte {stream.offset}: the "
                                    f"gzip data breaks off here ({stream.broken}): {_CUT_HINT}",
                                    "")
                return
            view = stream.view()
            s = bs.scan(view, unrecognized, first, size)
            if s.records:
                yield _Block(view, s, first, stream.offset)
                first += s.records
                stream.consume(int(s.start[-1]))
                read += int(s.start[-1])
                kept += len(s.line)
                want = _bytes_for(size, read / max(kept, 1))
            if s.end == bs.WHOLE:
                continue
            if stream.done:
                yield _cut(file, first, stream, s)
                return
            if s.records:
                continue
            if stream.held < MAX_RECORD:
                want = min(2 * stream.held, MAX_RECORD)
            else:
                yield _skip_long(file, first, stream)
                first += 1
    finally:
        stream.close()


def _bytes_for(size: int, per_drawing: float) -> int:
    """The bytes to hold for a block of ``size`` kept drawings, at ``per_drawing`` bytes a
    kept drawing so far (a quarter more, so that a block seldom runs out before)."""
    return max(FIRST_BLOCK, min(int(size * per_drawing * 1.25), MAX_BLOCK))


def _cut(file: str, number: int, stream: _Bytes, s: bs.Scan) -> Rejection:
    """The rest of a file that ends inside record ``number`` (what is held), as one item."""
    view = stream.view()
    if s.end == bs.IN_HEADER:
        what = f"its header needs {bs.HEADER} bytes and {stream.held} remain"
    else:
        strokes = int(view[15]) | int(view[16]) << 8
        what = (f"its n_strokes is {strokes}, and the count or points of its stroke "
                f"{s.where} run past the end of the file")
    return _rest(file, number, stream.offset, stream.held, what, stream.broken, _hex(view))


def _rest(file: str, number: int, offset: int, length: int, what: str, broken: str | None,
          text: str) -> Rejection:
    """The rest of the file from record ``number`` at ``offset``, ``length`` bytes, as one
    rejected item."""
    end = (f"the gzip data breaks off inside it ({broken})" if broken is not None
           else "the file ends inside it")
    return Rejection(file, number, f"record {number} at byte {offset}: {end}: {what}; the "
                     f"{length} bytes from byte {offset} to the end are rejected as one item: "
                     + _CUT_HINT, text)


def _skip_long(file: str, number: int, stream: _Bytes) -> Rejection:
    """Record ``number``, longer than MAX_RECORD, skipped by following its counts."""
    offset = stream.offset
    view = stream.view()
    text = _hex(view)
    strokes = int(view[15]) | int(view[16]) << 8
    length = stream.skip(bs.HEADER)
    for k in range(strokes):
        stream.fill(2)
        if stream.held < 2:
            length += stream.skip(2)
            return _rest(file, number, offset, length, f"its n_strokes is {strokes}, and the "
                         f"count of its stroke {k} runs past the end of the file", stream.broken,
                         text)
        head = stream.view()
        points = int(head[0]) | int(head[1]) << 8
        got = stream.skip(2 + 2 * points)
        length += got
        if got < 2 + 2 * points:
            return _rest(file, number, offset, length, f"its n_strokes is {strokes}, and the "
                         f"points of its stroke {k} run past the end of the file",
                         stream.broken, text)
    return Rejection(file, number, f"record {number} at byte {offset}: a record of {length} "
                     f"bytes, longer than the {MAX_RECORD} this reader reads (a real one is "
                     "about 120): not read; is this a Quick, Draw! .bin file?", text)


def _problem(status: int, detail: int, view: np.ndarray) -> str:
    """What is wrong with a record (`bs.scan`'s status and detail; ``view``: its bytes)."""
    if status == bs.BAD_COUNTRY:
        return (f"the country code, bytes {bytes(view[8:10])!r}, is not 2 printable ASCII "
                "characters")
    if status == bs.BAD_RECOGNIZED:
        return f"recognized is {detail - 256 if detail > 127 else detail}, not 0 or 1"
    if status == bs.BIG_KEY:
        return f"key_id {int.from_bytes(bytes(view[:8]), 'little')} does not fit in int64"
    if status == bs.NO_STROKES:
        return "drawing has no strokes (n_strokes is 0)"
    if status == bs.EMPTY_STROKE:
        return f"stroke {detail} is empty (its n_points is 0)"
    return "drawing has no segment: every stroke is a single point"


def _read_block(block: _Block, file: str, word: str) -> tuple[Drawings, list[Rejection]]:
    """The kept drawings of a block (in record order) and its bad records."""
    s = block.scan
    found = Drawings(
        x=s.x.astype(np.float64), y=s.y.astype(np.float64), stroke_offsets=s.stroke_offsets,
        drawing_offsets=s.drawing_offsets, key_id=s.key_id, timestamp=s.timestamp,
        recognized=s.recognized, word=[word] * len(s.line),
        countrycode=_countries()[s.country].tolist(), line=s.line,
    )
    rejections = []
    if s.bad:
        for i in np.flatnonzero(s.status != bs.GOOD).tolist():
            a, z = int(s.start[i]), int(s.start[i + 1])
            raw = block.view[a:z]
            rejections.append(Rejection(
                file, block.first + i, f"record {block.first + i} at byte {block.offset + a}: "
                + _problem(int(s.status[i]), int(s.detail[i]), raw), _hex(raw)))
    return found, rejections


def record_fields(raw: bytes | np.ndarray) -> dict:
    """One whole record's fields as the file holds them (the official parser's names and
    values; the strokes as ``drawing``: [[x...], [y...]] per stroke)."""
    raw = bytes(raw)
    strokes = []
    q = bs.HEADER
    for _ in range(int.from_bytes(raw[15:17], "little")):
        m = int.from_bytes(raw[q:q + 2], "little")
        strokes.append([list(raw[q + 2:q + 2 + m]), list(raw[q + 2 + m:q + 2 + 2 * m])])
        q += 2 + 2 * m
    return {"key_id": int.from_bytes(raw[:8], "little"),
            "countrycode": raw[8:10].decode("latin-1"),
            "recognized": int.from_bytes(raw[10:11], "little", signed=True),
            "timestamp": int.from_bytes(raw[11:15], "little"), "drawing": strokes}


class BinarySource(Source):
    """A Quick, Draw! `.bin` file, plain or gzip (told by its first bytes)."""

    def batches(self, unrecognized: bool) -> Iterator[tuple[Drawings, list[Rejection]]]:
        return self.sized_batches(unrecognized, BATCH)

    def sized_batches(self, unrecognized: bool, size: int
                      ) -> Iterator[tuple[Drawings, list[Rejection]]]:
        file = str(self.path)
        word = class_of_file(self.path)
        for piece in _pieces(self.path, unrecognized, size):
            if isinstance(piece, Rejection):
                yield Drawings.from_dicts([]), [piece]
            else:
                yield _read_block(piece, file, word)

    def most_drawings(self) -> int:
        if not is_url(self.path):
            _check_regular(self.path)
        size = input_size(self.path)
        return size * (_GZIP_MAX_RATIO if _is_gzip(self.path) else 1) // bs.SHORTEST

    def fields(self, line: int) -> dict:
        for piece in _pieces(self.path, True, BATCH):
            if isinstance(piece, _Block) and piece.first <= line < piece.first + piece.scan.records:
                i = line - piece.first
                return record_fields(piece.view[piece.scan.start[i]:piece.scan.start[i + 1]])
        raise ValueError(f"{self.path}: no whole record {line}")

    def items(self) -> int:
        last = 0
        for piece in _pieces(self.path, False, BATCH):
            last = (piece.line if isinstance(piece, Rejection)
                    else piece.first + piece.scan.records - 1)
        return last


def warmup() -> None:
    """Compile (or load from numba's cache) the reader's kernel, e.g. before forking workers."""
    record = bytes(8) + b"US\x01" + bytes(4) + b"\x01\x00\x02\x00" + bytes(4)
    bs.scan(np.frombuffer(record, dtype=np.uint8), False, 1)
