"""An ndjson file (plain or gzip) in big binary blocks of whole lines, for the scanner.

A file is read in blocks that end at a newline, so that a kernel can parse whole lines;
its last line may lack its newline, and a gzip stream that breaks off is said where it
breaks.  A line longer than MAX_LINE bytes is not held: it is skipped and said as such
(real lines are a few KB), so memory stays bounded whatever the file holds.  Only regular
files are read: blocks are read at offsets.  A URL's object is read the same way, through the
file system behind it (fastdraw.sources.remote).
"""

from __future__ import annotations

import gzip
import os
import stat
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from fastdraw.sources.base import MAX_ITEM
from fastdraw.sources.ndjson.check import TEXT_LIMIT, parse_line
from fastdraw.sources.remote import input_size, is_url, open_input

_FIRST_BLOCK = 1 << 16
_MAX_BLOCK = 1 << 20
MAX_LINE = MAX_ITEM  # bytes of the longest line read (8 MiB; the longest real ones: ~40 KB)
_SKIP = 1 << 20  # bytes read at a time while skipping a line longer than MAX_LINE


@dataclass(frozen=True)
class LongLine:
    """A line longer than MAX_LINE that was skipped: its length, without its newline."""

    length: int


End = str | LongLine | None


def _check_regular(path: str | Path) -> None:
    """Refuses a directory, pipe, socket or device: the reader reads a file in blocks at
    offsets (a pipe's bytes would be lost to the gzip check, or the read would wait for a
    writer)."""
    mode = os.stat(path).st_mode  # a missing file raises FileNotFoundError, naming it
    if stat.S_ISDIR(mode):
        raise ValueError(f"{path}: a directory, not a file: give the path of an .ndjson "
                         "(or .ndjson.gz) file")
    if not stat.S_ISREG(mode):
        what = ("a pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "a device")
        raise ValueError(f"{path}: {what}, not a file: ndjson files are read in blocks at "
                         "offsets; save the data to a file first and read that")


def _is_gzip(path: str | Path) -> bool:
    with open_input(path) as f:
        return f.read(2) == b"\x1f\x8b"


# Bytes of a line's six field names with their quotes, colons, commas and braces: no good
# line is shorter.
_SHORTEST_LINE = len('{"word":,"countrycode":,"timestamp":,"recognized":,"key_id":,"drawing":}')
_GZIP_MAX_RATIO = 1032  # the most deflate expands data


def most_drawings(path: str | Path) -> int:
    """The most good lines file ``path`` can hold, from its size alone (a quick bound that
    catches a request for far more drawings than a file has before any is read)."""
    size = input_size(path)
    return size * (_GZIP_MAX_RATIO if _is_gzip(path) else 1) // _SHORTEST_LINE


def blocks(path: str | Path) -> Iterator[tuple[bytes, int, End]]:
    """(data, n, end): the file in blocks of whole lines, ``data[:n]``, each ending with a
    newline (end None; data may hold more after them); a line longer than MAX_LINE as its
    first TEXT_LIMIT bytes (end: a LongLine, n its length); then its last line if the file
    does not end with a newline (end "", n = len(data)), or what is left of the last line
    if the gzip data breaks off (end: the gzip error; the data may be empty)."""
    if not is_url(path):
        _check_regular(path)
    return _gzip_blocks(path) if _is_gzip(path) else _plain_blocks(path)


def _plain_blocks(path: str | Path) -> Iterator[tuple[bytes, int, End]]:
    """`blocks` of a plain file (local: read with pread; a URL's object: with seek and read)."""
    if is_url(path):
        with open_input(path) as f:
            yield from _blocks_at(lambda size, pos: _read_at(f, size, pos))
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        yield from _blocks_at(lambda size, pos: os.pread(fd, size, pos))
    finally:
        os.close(fd)


def _read_at(f: BinaryIO, size: int, pos: int) -> bytes:
    """Up to ``size`` bytes of ``f`` from ``pos`` (fewer only at its end)."""
    f.seek(pos)
    parts, left = [], size
    while left and (part := f.read(left)):
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _blocks_at(read_at: Callable[[int, int], bytes]) -> Iterator[tuple[bytes, int, End]]:
    """`blocks` of plain bytes that ``read_at(size, pos)`` reads: each block is read once, at
    the end of the previous one's whole lines, so no byte is copied twice (the partial line at
    a block's end is read again, with the next block)."""
    size = _FIRST_BLOCK
    pos = 0
    while True:
        data = read_at(size, pos)
        end = data.rfind(b"\n") + 1
        if end:
            yield data, end, None
            pos += end
            size = min(size * 2, _MAX_BLOCK)
        elif len(data) > MAX_LINE:  # too long a line: skipped up to its newline
            length = len(data)
            while (chunk := read_at(_SKIP, pos + length)) and b"\n" not in chunk:
                length += len(chunk)
            length += chunk.find(b"\n") if chunk else 0
            yield data[:TEXT_LIMIT], length, LongLine(length)
            if not chunk:
                return
            pos += length + 1
            size = _FIRST_BLOCK
        elif len(data) == size:  # a line longer than the block
            size = min(size * 2, MAX_LINE + 1)
        else:
            if data:
                yield data, len(data), ""
            return


def _gzip_blocks(path: str | Path) -> Iterator[tuple[bytes, int, End]]:
    """`blocks` of a gzip file.  Reads with read1, so a gzip error loses at most one
    decompressed piece (tens of KB)."""
    size = _FIRST_BLOCK
    pieces: list[bytes] = []  # read and not yet yielded
    held = 0
    line = 0  # bytes of the line in progress, at the end of pieces (no newline yet)
    broken = None
    with open_input(path) as raw, gzip.GzipFile(fileobj=raw, mode="rb") as f:
        while True:
            try:
                data = f.read1(size)
            except (EOFError, gzip.BadGzipFile, zlib.error) as e:
                broken = str(e) or type(e).__name__
                break
            if not data:
                break
            first = data.find(b"\n")
            if line + (first if first >= 0 else len(data)) > MAX_LINE:
                # Too long a line: the whole lines before it, then it, skipped to its newline.
                if held > line:
                    yield b"".join(pieces), held - line, None
                head = (b"".join(pieces)[held - line:] + data[:TEXT_LIMIT])[:TEXT_LIMIT]
                length, pieces, held = line, [], 0
                try:
                    while first < 0:
                        length += len(data)
                        data = f.read1(_SKIP)
                        first = data.find(b"\n") if data else len(data)
                        if not data:
                            break
                except (EOFError, gzip.BadGzipFile, zlib.error) as e:
                    broken, data, first = str(e) or type(e).__name__, b"", 0
                length += max(first, 0)
                yield head, length, LongLine(length)
                if not data:
                    break
                data = data[first + 1:]
                line = 0
                if not data:
                    continue
            pieces.append(data)
            held += len(data)
            cut = data.rfind(b"\n") + 1
            line = len(data) - cut if cut else line + len(data)
            end = cut if held >= size else 0
            if end:
                block = b"".join(pieces[:-1] + [data[:end]])
                yield block, len(block), None
                pieces = [data[end:]] if end < len(data) else []
                held = len(data) - end
                size = min(size * 2, _MAX_BLOCK)
    rest = b"".join(pieces)
    end = rest.rfind(b"\n") + 1
    if end:
        yield rest, end, None
    if broken is not None:
        yield rest[end:], len(rest) - end, broken
    elif end < len(rest):
        yield rest[end:], len(rest) - end, ""


def judge_last(raw: bytes, end: End) -> tuple[dict | None, str | None]:
    """`parse_line` for a piece that `blocks` yields apart: a line too long to read, or the
    last piece of a file that does not end with a newline."""
    if isinstance(end, LongLine):
        return None, (f"a line of {end.length} bytes, longer than the {MAX_LINE} this reader "
                      "reads (a real line is a few KB): not read; is this a Quick, Draw! file?")
    if end:
        return None, (f"the gzip data breaks off here ({end}): the file is cut off or corrupt; "
                      "download it again")
    return parse_line(raw, cut_off=True)


def iter_lines(path: str | Path) -> Iterator[tuple[int, bytes, End]]:
    """(line number, line without its newline, end as in `blocks`) for every line."""
    number = 1
    for data, n, end in blocks(path):
        lines = [data] if end is not None else data[:n].split(b"\n")[:-1]
        for raw in lines:
            yield number, raw, end
            number += 1
