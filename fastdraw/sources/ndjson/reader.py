"""The ndjson source: a Quick, Draw! ndjson(.gz) file, every line checked, good ones as `Drawings`.

The file is read in big binary blocks of whole lines (`blocks`); the numba scanner
(`scan`) parses the common shape of a line straight into flat arrays; any line it does not
accept outright is parsed again with orjson and judged by `check.line_problem`, the single
definition of a good line: it is either kept (an unusual but valid line) or rejected with
a reason.  A bad line is never an exception that ends a run and never skipped silently: it
becomes a `Rejection` handed to ``on_reject``, or a BadLineError in strict mode.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import orjson

from fastdraw.drawings import Drawings, offsets
from fastdraw.errors import Rejection
from fastdraw.sources.base import Source
from fastdraw.sources.ndjson.blocks import End, blocks, iter_lines, judge_last, most_drawings
from fastdraw.sources.ndjson.check import line_text, parse_line
from fastdraw.sources.ndjson.scan import scan


class _Names(dict):
    """bytes -> str, decoded once: word and countrycode repeat from line to line."""

    def __missing__(self, raw: bytes) -> str:
        if len(self) > 100_000:
            self.clear()
        text = self[raw] = raw.decode("ascii")
        return text


def _read_block(block: bytes, nbytes: int, first: int, file: str, names: _Names,
                unrecognized: bool) -> tuple[Drawings, list[Rejection], int]:
    """The good drawings of a block of whole lines, ``block[:nbytes]`` (in line order; only
    recognized ones unless ``unrecognized``), its bad lines and its number of lines;
    ``first`` is the number of its first line."""
    s = scan(block, nbytes, unrecognized)
    n = s.lines
    x, y = s.x[:s.points], s.y[:s.points]
    if s.hard:
        slots = s.hard_slot[:s.hard]
        values = np.array([float(block[a:b]) for a, b in zip(s.hard_start[:s.hard].tolist(),
                                                             s.hard_end[:s.hard].tolist())])
        in_x = slots % 2 == 0
        x[slots[in_x] // 2] = values[in_x]
        y[slots[~in_x] // 2] = values[~in_x]
    ok = np.flatnonzero(s.kept[:n])
    spans = zip(s.string_start[:s.strings].tolist(), s.string_end[:s.strings].tolist())
    strings = np.array([names[block[a:z]] for a, z in spans], dtype=object)
    found = Drawings(
        x=x, y=y, stroke_offsets=offsets(s.stroke_length[:s.strokes]),
        drawing_offsets=offsets(s.strokes_per_line[ok]),
        key_id=s.key_id[ok], timestamp=s.timestamp[ok], recognized=s.recognized[ok],
        word=strings[s.string_id[ok, 0]].tolist(),
        countrycode=strings[s.string_id[ok, 1]].tolist(), line=ok + first,
    )
    rejections = []
    others = [found]
    for i in np.flatnonzero(~s.good[:n]).tolist():
        raw = block[s.starts[i]:s.starts[i + 1] - 1]
        obj, reason = parse_line(raw)
        if reason:
            rejections.append(Rejection(file, first + i, reason, line_text(raw)))
        elif obj["recognized"] or unrecognized:
            others.append(_one(obj, first + i))
    if len(others) > 1:
        found = Drawings.concat(others)
        found = found.take(np.argsort(found.line, kind="stable"))
    return found, rejections, n


def _one(obj: dict, line: int) -> Drawings:
    one = Drawings.from_dicts([obj])
    one.line[0] = line
    return one


def _read_last(raw: bytes, line: int, end: End, file: str,
               unrecognized: bool) -> tuple[Drawings, list[Rejection]]:
    """`_read_block` for a piece that `blocks` yields apart (see `judge_last`)."""
    obj, reason = judge_last(raw, end)
    if reason:
        return Drawings.from_dicts([]), [Rejection(file, line, reason, line_text(raw))]
    if obj["recognized"] or unrecognized:
        return _one(obj, line), []
    return Drawings.from_dicts([]), []


class NdjsonSource(Source):
    """A Quick, Draw! ndjson file, plain or gzip (told by its first bytes)."""

    def batches(self, unrecognized: bool) -> Iterator[tuple[Drawings, list[Rejection]]]:
        file = str(self.path)
        names = _Names()
        first = 1
        for block, nbytes, end in blocks(self.path):
            if end is None:
                found, rejections, lines = _read_block(block, nbytes, first, file, names,
                                                       unrecognized)
                first += lines
            else:
                found, rejections = _read_last(block, first, end, file, unrecognized)
                first += 1
            yield found, rejections

    def most_drawings(self) -> int:
        return most_drawings(self.path)

    def fields(self, line: int) -> dict:
        raw = next(raw for number, raw, _ in iter_lines(self.path) if number == line)
        return orjson.loads(raw)

    def items(self) -> int:
        n = 0
        for block, nbytes, end in blocks(self.path):
            n += block.count(b"\n", 0, nbytes) if end is None else 1
        return n


def warmup() -> None:
    """Compile (or load from numba's cache) the reader's kernel, e.g. before forking workers."""
    line = (b'{"word":"cat","countrycode":"US","timestamp":"2017-03-02 23:25:10.07453 UTC",'
            b'"recognized":true,"key_id":"5201136883597312","drawing":[[[1,2.5],[3,4]]]}\n')
    _read_block(line, len(line), 1, "<warmup>", _Names(), False)

