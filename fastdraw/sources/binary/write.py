"""Writing `.bin` files: drawings as the official binary records, and a class file converted
(`python -m fastdraw convert --to binary`).

A record holds what the binary format can hold exactly: integer coordinates 0 to 255 (the
simplified format's), a two-character printable ASCII country code, a key_id that is not
negative, the timestamp's whole seconds from 1970 to 2106, at most 65535 strokes of at most
65535 points, and no word (the file's name says the class).  A drawing it cannot hold is
a rejected line, never written changed: a raw drawing among simplified ones included (its
strokes' t row would be lost).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import orjson

from fastdraw.drawings import Drawings
from fastdraw.errors import Rejection
from fastdraw.kernels.jit import kernel
from fastdraw.sources.base import Source, open_source
from fastdraw.sources.binary.scan import HEADER
from fastdraw.sources.ndjson.blocks import iter_lines
from fastdraw.sources.ndjson.check import TEXT_LIMIT

UINT16 = 0xFFFF
UINT32 = 0xFFFFFFFF
# A row of numbers, then the opening of another row in the same stroke: a stroke of three
# rows (x, y, t) has it, one of two rows (x, y) never; the line is then parsed to be sure.
_THIRD_ROW = re.compile(rb"\][ \t\r]*,[ \t\r]*\[[^\[\]]*\][ \t\r]*,[ \t\r]*\[")


@kernel
def _encode(x, y, stroke_offsets, drawing_offsets, key_id, country, recognized, timestamp):
    """The records of every drawing, back to back (uint8)."""
    n = len(key_id)
    strokes = len(stroke_offsets) - 1
    size = n * HEADER + 2 * strokes + 2 * stroke_offsets[strokes]
    out = np.empty(size, np.uint8)
    q = 0
    for d in range(n):
        k = key_id[d]
        for i in range(8):
            out[q + i] = (k >> (8 * i)) & 255
        out[q + 8] = country[d] & 255
        out[q + 9] = country[d] >> 8
        out[q + 10] = 1 if recognized[d] else 0
        t = timestamp[d]
        for i in range(4):
            out[q + 11 + i] = (t >> (8 * i)) & 255
        s0 = drawing_offsets[d]
        s1 = drawing_offsets[d + 1]
        out[q + 15] = (s1 - s0) & 255
        out[q + 16] = (s1 - s0) >> 8
        q += HEADER
        for s in range(s0, s1):
            a = stroke_offsets[s]
            m = stroke_offsets[s + 1] - a
            out[q] = m & 255
            out[q + 1] = m >> 8
            q += 2
            for i in range(m):
                out[q + i] = np.uint8(x[a + i])
                out[q + m + i] = np.uint8(y[a + i])
            q += 2 * m
    return out


def encode_records(d: Drawings) -> bytes:
    """The official binary records of drawings that `unwritable` finds nothing wrong with."""
    country = np.array([ord(c[0]) | ord(c[1]) << 8 for c in d.countrycode], dtype=np.int64)
    return _encode(d.x, d.y, d.stroke_offsets, d.drawing_offsets, d.key_id, country,
                   d.recognized, d.timestamp).tobytes()


def _coordinate_problem(d: Drawings) -> dict[int, str]:
    """Drawings with a coordinate a record cannot hold exactly: drawing -> what is wrong."""
    reasons: dict[int, str] = {}
    for name, values in (("x", d.x), ("y", d.y)):
        bad = np.flatnonzero(~((values >= 0) & (values <= 255) & (values == np.floor(values))
                               & ~np.signbit(values)))
        if not len(bad):
            continue
        stroke = np.searchsorted(d.stroke_offsets, bad, side="right") - 1
        drawing = np.searchsorted(d.drawing_offsets, stroke, side="right") - 1
        for p, s, i in zip(bad.tolist(), stroke.tolist(), drawing.tolist()):
            if i not in reasons:
                k = s - int(d.drawing_offsets[i])
                j = p - int(d.stroke_offsets[s])
                reasons[i] = (f"stroke {k}: {name}[{j}] is {float(values[p])!r}: a binary "
                              "record holds integer coordinates 0 to 255 (the simplified "
                              "format's)")
    return reasons


def unwritable(d: Drawings, word: str) -> dict[int, str]:
    """What keeps each drawing that a record of class ``word``'s file cannot hold exactly out
    of it: drawing -> the reason."""
    reasons = _coordinate_problem(d)
    strokes = np.diff(d.drawing_offsets)
    long_stroke = np.zeros(len(d), dtype=bool)
    long_stroke[np.searchsorted(d.drawing_offsets, np.flatnonzero(
        np.diff(d.stroke_offsets) > UINT16), side="right") - 1] = True
    for i in range(len(d)):
        if d.word[i] != word:
            problem = (f"word {d.word[i]!r} is not the class {word!r}: a binary file holds one "
                       "class, named by its file")
        elif not (len(c := d.countrycode[i]) == 2 and c.isascii() and c.isprintable()):
            problem = f"countrycode {c!r} is not 2 printable ASCII characters"
        elif d.key_id[i] < 0:
            problem = f"key_id {int(d.key_id[i])} is negative: a binary record's is unsigned"
        elif not 0 <= d.timestamp[i] <= UINT32:
            problem = (f"timestamp {int(d.timestamp[i])} (epoch seconds) is outside a binary "
                       "record's, 1970 to 2106")
        elif strokes[i] > UINT16:
            problem = f"{int(strokes[i])} strokes, more than the {UINT16} a binary record holds"
        elif long_stroke[i]:
            problem = f"a stroke of more than the {UINT16} points a binary record holds"
        else:
            continue
        reasons.setdefault(i, problem)
    return dict(sorted(reasons.items()))


class _TimeRows:
    """The drawings of an ndjson file whose strokes have a t row (a raw drawing), asked of
    chunks in file order: its lines are read once, beside the source, one at a time."""

    def __init__(self, path: str | Path) -> None:
        self.lines: Iterator[tuple[int, bytes, object]] = iter_lines(path)
        self.number = 0

    def __call__(self, d: Drawings) -> dict[int, str]:
        reasons: dict[int, str] = {}
        for i, line in enumerate(d.line.tolist()):
            raw = b""
            while self.number < line:
                self.number, raw, _ = next(self.lines)
            if _THIRD_ROW.search(raw):
                timed = [k for k, stroke in enumerate(orjson.loads(raw)["drawing"])
                         if len(stroke) > 2]
                if timed:
                    reasons[i] = (f"stroke {timed[0]} has a t row (a raw drawing): a binary "
                                  "record holds the simplified format's x and y only, its times "
                                  "would be lost")
        return reasons


class _Writable:
    """The screen of a conversion (`fastdraw.sources.base.Screen`): drawings a record of
    class ``word``'s file can hold, and a Rejection for each of the others."""

    def __init__(self, word: str, file: str) -> None:
        self.word = word
        self.file = file
        self.time_rows = _TimeRows(file)

    def __call__(self, d: Drawings) -> tuple[Drawings, list[Rejection]]:
        reasons = dict(sorted((self.time_rows(d) | unwritable(d, self.word)).items()))
        if not reasons:
            return d, []
        lines = d.line.tolist()
        rejections = [Rejection(self.file, lines[i], reason,
                                orjson.dumps(d.record(i)).decode()[:TEXT_LIMIT])
                      for i, reason in reasons.items()]
        keep = np.setdiff1d(np.arange(len(d)), np.fromiter(reasons, dtype=np.int64))
        return d.take(keep), rejections


def convert_to_binary(src: str | Path, dst: str | Path, word: str,
                      on_reject: Callable[[Rejection], None]) -> int:
    """Writes ``dst``, the `.bin` file of the good drawings of ndjson class file ``src`` (of
    class ``word``) that a record can hold, in file order; every other line goes to
    ``on_reject``.  ``dst`` appears only when complete (written beside it, then renamed).
    Returns the number of drawings written.  Raises ValueError for a raw-format file (its
    strokes' t would be lost)."""
    dst = Path(dst)
    source = open_source(src)
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    _refuse_raw(source)
    written = 0
    try:
        with open(tmp, "wb") as f:
            for d in source.read(chunk_size=8192, unrecognized=True, on_reject=on_reject,
                                 screen=_Writable(word, str(src))):
                f.write(encode_records(d))
                written += len(d)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return written


def _refuse_raw(source: Source) -> None:
    """Raises ValueError if the file's first good line is of the raw format."""
    first = next(iter(source.read(limit=1, unrecognized=True, on_reject=_ignore)), None)
    if first is None:
        return
    line = int(first.line[0])
    if any(len(stroke) > 2 for stroke in source.fields(line)["drawing"]):
        raise ValueError(f"{source.path} holds raw drawings (line {line}'s strokes have a t "
                         "row, and their coordinates are not the simplified format's 0 to "
                         "255): a binary file holds simplified drawings; convert the "
                         "simplified class file instead")


def _ignore(_: Rejection) -> None:
    """Rejections of the first look at a file: the conversion reports them."""
