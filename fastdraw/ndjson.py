"""Streaming reader of Quick, Draw! ndjson files: every line checked, good ones as flat `Drawings`.

`read_drawings` reads a file (plain or gzip) in big binary blocks and hands
each block to a numba kernel that parses the common shape of a line (the six
fields, plain ASCII strings, numbers without exponent) straight into flat
arrays, checking everything the exact checker checks.  Any line the kernel
does not accept outright is parsed again with orjson and judged by
`line_problem`, the single definition of a good line: it is either kept (an
unusual but valid line) or rejected with a reason.  A bad line is never an
exception that ends a run and never skipped silently: it becomes a
`Rejection` handed to ``on_reject`` (default: a logged warning), or a
`BadLineError` in strict mode.

`convert`, `loaditer` and `loadn` are the notebook's functions with the same
results on good lines (dicts from orjson, strokes as ``np.array(stroke)``),
with the same checks; `loaditer` logs and skips bad lines instead of dying on
them, `convert` raises BadLineError saying what is wrong.
"""

from __future__ import annotations

import gzip
import itertools
import logging
import os
import stat
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import orjson
from numba import njit

from fastdraw import reference
from fastdraw.drawings import Drawings, utc_seconds

log = logging.getLogger(__name__)

FIELDS = ("word", "countrycode", "timestamp", "recognized", "key_id", "drawing")
TEXT_LIMIT = 200
INT64_MAX = 2**63 - 1
_FIRST_BLOCK = 1 << 16
_MAX_BLOCK = 1 << 20
_NUMBER_TYPES = frozenset((int, float))  # exact types: bool is not a number here
_LONE_CR = (", after a line ends with a carriage return (\\r) alone: this reader ends lines at "
            "\\n only (convert old Mac line endings to \\n)")
_CUT_OFF = ("cut off: the file ends in the middle of this line (an interrupted download? "
            "download the file again): ")


@dataclass
class Rejection:
    """A bad input line: the file, its 1-based line number, what is wrong, and its text."""

    file: str
    line: int
    reason: str
    text: str

    def to_dict(self) -> dict:
        return asdict(self)


class BadLineError(ValueError):
    """A bad input line (strict mode, or `convert`); ``.rejection`` says which and why."""

    def __init__(self, rejection: Rejection, hint: str = "") -> None:
        self.rejection = rejection
        where = f"{rejection.file}:{rejection.line}" if rejection.line else rejection.file
        super().__init__(f"{where}: bad line: {rejection.reason} (text: "
                         f"{rejection.text[:80]!r})" + (f"; {hint}" if hint else ""))


_STRICT_HINT = ("fix or delete the line, or leave out strict mode (--strict) to skip bad lines "
                "(a build lists them in rejected.ndjson)")


def _text(raw: bytes | str) -> str:
    if isinstance(raw, bytes):
        raw = raw.rstrip(b"\r").decode("utf-8", "replace")
    return raw[:TEXT_LIMIT]


def _short(value: object) -> str:
    text = orjson.dumps(value).decode() if value is None or type(value) in (bool, list, dict) \
        else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _stroke_problem(i: int, stroke: object) -> tuple[str | None, int]:
    """What is wrong with stroke ``i`` (None if nothing), and its number of points."""
    if type(stroke) is not list or len(stroke) not in (2, 3) \
            or any(type(row) is not list for row in stroke):
        return (f"stroke {i} is not a list of 2 (x, y) or 3 (x, y, t) lists: {_short(stroke)}",
                0)
    n = len(stroke[0])
    if n == 0:
        return f"stroke {i} is empty", 0
    for name, row in zip("yt", stroke[1:]):
        if len(row) != n:
            return f"stroke {i}: {name} has {len(row)} values but x has {n}", n
    for name, row in zip("xy", stroke):
        if not _NUMBER_TYPES.issuperset(map(type, row)):
            j, v = next((j, v) for j, v in enumerate(row) if type(v) not in _NUMBER_TYPES)
            return f"stroke {i}: {name}[{j}] is not a number: {_short(v)}", n
    return None, n


def line_problem(obj: object) -> str | None:
    """What is wrong with a parsed line (None if it is a good drawing).

    orjson already refuses NaN, Infinity and numbers that overflow to
    infinity (e.g. 1e999), so every number that gets here is finite.
    """
    if type(obj) is not dict:
        return f"not a JSON object: {_short(obj)}"
    missing = [f for f in FIELDS if f not in obj]
    if missing:
        return "missing field" + ("s " if len(missing) > 1 else " ") + ", ".join(missing)
    for field in ("word", "countrycode"):
        if type(obj[field]) is not str:
            return f"{field} is not a string: {_short(obj[field])}"
    if type(obj["recognized"]) is not bool:
        return f"recognized is not true or false: {_short(obj['recognized'])}"
    key = obj["key_id"]
    if type(key) is str:
        if not (key.isascii() and key.isdigit()):
            return f"key_id is not a string of decimal digits: {_short(key)}"
        if int(key) > INT64_MAX:
            return f"key_id {key} does not fit in int64"
    elif type(key) is int:
        if not -INT64_MAX - 1 <= key <= INT64_MAX:
            return f"key_id {key} does not fit in int64"
    else:
        return f"key_id is not a string of decimal digits: {_short(key)}"
    ts = obj["timestamp"]
    if type(ts) is not str:
        return f"timestamp is not a string: {_short(ts)}"
    try:
        utc_seconds(ts)
    except ValueError as e:
        return str(e)
    drawing = obj["drawing"]
    if type(drawing) is not list:
        return f"drawing is not a list of strokes: {_short(drawing)}"
    if not drawing:
        return "drawing has no strokes"
    longest = 0
    for i, stroke in enumerate(drawing):
        problem, n = _stroke_problem(i, stroke)
        if problem:
            return problem
        longest = max(longest, n)
    if longest < 2:
        return "drawing has no segment: every stroke is a single point"
    return None


def parse_line(raw: bytes | str, cut_off: bool = False) -> tuple[dict | None, str | None]:
    """Parse and check one line: (the parsed object, None) or (None, what is wrong).

    ``cut_off``: the line is the last of a file that does not end with a newline; it is
    called cut off if it ends before its JSON (or its last UTF-8 character) does.
    """
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        reason = f"not valid JSON: {e.msg} at column {e.colno}"  # orjson's line is always 1
        text = e.doc or ""
        ends_early = e.pos >= len(text.rstrip(" \t\r\n"))  # the text ran out: cut off?
        if not ends_early and text[:e.pos].rstrip(" \t").endswith("\r"):
            reason += _LONE_CR  # Python's text mode (the notebook's open()) ends a line there
        if isinstance(raw, bytes):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as u:
                reason = f"not valid UTF-8: byte 0x{raw[u.start]:02x} at column {u.start + 1}"
                ends_early = u.end == len(raw) and u.reason == "unexpected end of data"
        return None, (_CUT_OFF + reason if cut_off and ends_early else reason)
    problem = line_problem(obj)
    return (None, problem) if problem else (obj, None)


# --- reading: blocks of whole lines ---------------------------------------------------------


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
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


# Bytes of a line's six field names with their quotes, colons, commas and braces: no good
# line is shorter.
_SHORTEST_LINE = len('{"word":,"countrycode":,"timestamp":,"recognized":,"key_id":,"drawing":}')
_GZIP_MAX_RATIO = 1032  # the most deflate expands data


def most_drawings(path: str | Path) -> int:
    """The most good lines file ``path`` can hold, from its size alone (a quick bound that
    catches a request for far more drawings than a file has before any is read)."""
    size = os.path.getsize(path)
    return size * (_GZIP_MAX_RATIO if _is_gzip(path) else 1) // _SHORTEST_LINE


def _blocks(path: str | Path) -> Iterator[tuple[bytes, int, str | None]]:
    """(data, n, end): the file in blocks of whole lines, ``data[:n]``, each ending with a
    newline (end None; data may hold more after them); then its last line if the file does
    not end with a newline (end "", n = len(data)), or what is left of the last line if the
    gzip data breaks off (end: the gzip error; the data may be empty)."""
    _check_regular(path)
    return _gzip_blocks(path) if _is_gzip(path) else _plain_blocks(path)


def _plain_blocks(path: str | Path) -> Iterator[tuple[bytes, int, str | None]]:
    """`_blocks` of a plain file: each block is read once, at the end of the previous one's
    whole lines, so no byte is copied twice (the partial line at a block's end is read
    again, with the next block)."""
    size = _FIRST_BLOCK
    pos = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        while True:
            data = os.pread(fd, size, pos)
            end = data.rfind(b"\n") + 1
            if end:
                yield data, end, None
                pos += end
                size = min(size * 2, _MAX_BLOCK)
            elif len(data) == size:  # a line longer than the block
                size *= 2
            else:
                if data:
                    yield data, len(data), ""
                return
    finally:
        os.close(fd)


def _gzip_blocks(path: str | Path) -> Iterator[tuple[bytes, int, str | None]]:
    """`_blocks` of a gzip file.  Reads with read1, so a gzip error loses at most one
    decompressed piece (tens of KB)."""
    size = _FIRST_BLOCK
    pieces: list[bytes] = []  # read and not yet yielded
    held = 0
    broken = None
    with gzip.open(path, "rb") as f:
        while True:
            try:
                data = f.read1(size)
            except (EOFError, gzip.BadGzipFile, zlib.error) as e:
                broken = str(e) or type(e).__name__
                break
            if not data:
                break
            pieces.append(data)
            held += len(data)
            end = data.rfind(b"\n") + 1 if held >= size else 0
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


def _judge_last(raw: bytes, end: str) -> tuple[dict | None, str | None]:
    """`parse_line` for the last piece of a file that does not end with a newline."""
    if end:
        return None, (f"the gzip data breaks off here ({end}): the file is cut off or corrupt; "
                      "download it again")
    return parse_line(raw, cut_off=True)


def iter_lines(path: str | Path) -> Iterator[tuple[int, bytes, str | None]]:
    """(line number, line without its newline, end as in `_blocks`) for every line."""
    number = 1
    for data, n, end in _blocks(path):
        lines = [data] if end is not None else data[:n].split(b"\n")[:-1]
        for raw in lines:
            yield number, raw, end
            number += 1


# --- the numba kernel -----------------------------------------------------------------------

_NAMES = np.frombuffer("".join(FIELDS).encode(), dtype=np.uint8)
_NAME_AT = np.full(12, -1, dtype=np.int64)  # field index by name length (all lengths differ)
_NAME_START = np.zeros(len(FIELDS), dtype=np.int64)
for _i, _f in enumerate(FIELDS):
    _NAME_AT[len(_f)] = _i
    _NAME_START[_i] = sum(len(f) for f in FIELDS[:_i])
_POW10 = np.array([float(10**k) for k in range(23)])
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_MAX_EXACT = 2**53


# The kernel's helpers take arrays but never allocate one, so they are compiled without
# numba's reference counting: with it, every call increments and decrements each array
# argument atomically, which cost more than parsing the numbers of a short row (a stroke's
# row holds ~8; measured 26 -> 13 ns a number).
_helper = njit(cache=True, nogil=True, _nrt=False)


@_helper
def _skip_ws(b, p, e):
    while p < e and (b[p] == 32 or b[p] == 9 or b[p] == 13):
        p += 1
    return p


@_helper
def _string_end(b, p, e):
    """Index of the closing quote of the string starting after b[p - 1]; -1 unless it is
    plain printable ASCII without escapes."""
    while p < e:
        c = b[p]
        if c == 34:
            return p
        if c < 32 or c > 126 or c == 92:
            return -1
        p += 1
    return -1


@_helper
def _field(b, a, z):
    """Index in FIELDS of the key b[a:z], or -1."""
    n = z - a
    if n < 4 or n > 11:
        return -1
    f = _NAME_AT[n]
    if f < 0:
        return -1
    s = _NAME_START[f]
    for i in range(n):
        if b[a + i] != _NAMES[s + i]:
            return -1
    return f


@_helper
def _digits(b, a, z):
    """Value of the ASCII digits b[a:z] (z - a <= 18), or -1 if any byte is not a digit."""
    v = 0
    for i in range(a, z):
        c = b[i] - 48
        if c < 0 or c > 9:
            return -1
        v = v * 10 + c
    return v


@_helper
def _timestamp(b, a, z):
    """UTC epoch seconds of 'YYYY-MM-DD HH:MM:SS[.fff] UTC' in b[a:z]; -2**63 if not one."""
    bad = -(2**63)
    if z - a < 23 or b[a + 4] != 45 or b[a + 7] != 45 or b[a + 10] != 32 \
            or b[a + 13] != 58 or b[a + 16] != 58:
        return bad
    if b[z - 4] != 32 or b[z - 3] != 85 or b[z - 2] != 84 or b[z - 1] != 67:
        return bad
    if z - a > 23:
        if z - a == 24 or b[a + 19] != 46 or _digits(b, a + 20, z - 4) < 0:
            return bad
    year = _digits(b, a, a + 4)
    month = _digits(b, a + 5, a + 7)
    day = _digits(b, a + 8, a + 10)
    hour = _digits(b, a + 11, a + 13)
    minute = _digits(b, a + 14, a + 16)
    second = _digits(b, a + 17, a + 19)
    if year < 1 or month < 1 or month > 12 or day < 1 or hour < 0 or hour > 23 \
            or minute < 0 or minute > 59 or second < 0 or second > 59:
        return bad
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if day > _DAYS_IN_MONTH[month] + (1 if month == 2 and leap else 0):
        return bad
    y = year - 1 if month <= 2 else year
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month - 3 if month > 2 else month + 9) + 2) // 5 + day - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    return days * 86400 + hour * 3600 + minute * 60 + second


@_helper
def _key_id(b, a, z):
    """Value of the 1 to 19 ASCII digits b[a:z] if it fits in int64, else -1."""
    n = z - a
    if n < 1 or n > 19:
        return -1
    v = _digits(b, a, z - 1 if n == 19 else z)
    if v < 0 or n < 19:
        return v
    d = b[z - 1] - 48
    if d < 0 or d > 9 or v > (2**63 - 1 - d) // 10:
        return -1
    return v * 10 + d


@_helper
def _intern(b, a, z, table, ustart, uend, nu):
    """(id, distinct strings so far) of the string b[a:z] among the distinct strings
    ``b[ustart[i]:uend[i]]`` of the block, found through ``table`` (open addressing on an
    FNV-1a hash, id + 1 per slot, 0: empty), which has room for every string of the block."""
    h = -3750763034362895579  # FNV-1a offset basis (as int64); products wrap around
    for i in range(a, z):
        h = (h ^ b[i]) * 1099511628211
    mask = len(table) - 1
    j = h & mask
    n = z - a
    while True:
        u = table[j] - 1
        if u < 0:
            ustart[nu] = a
            uend[nu] = z
            table[j] = nu + 1
            return nu, nu + 1
        if uend[u] - ustart[u] == n:
            s = ustart[u]
            i = 0
            while i < n and b[s + i] == b[a + i]:
                i += 1
            if i == n:
                return u, nu
        j = (j + 1) & mask


@_helper
def _number(b, p, e):
    """Parse the JSON number at b[p]: (end, value, kind), kind 0: exact value, 1: value needs
    Python's float() (too many digits), -1: not a number the kernel takes (bad, or with an
    exponent, or over 300 characters)."""
    start = p
    neg = p < e and b[p] == 45
    if neg:
        p += 1
    if p >= e:
        return p, 0.0, -1
    m = 0
    nd = 0  # significant digits seen
    k = 0  # digits after the point
    c = b[p]
    if c == 48:
        p += 1
    elif 49 <= c <= 57:
        while p < e and 48 <= b[p] <= 57:
            if nd < 19:
                m = m * 10 + (b[p] - 48)
            nd += 1
            p += 1
    else:
        return p, 0.0, -1
    if p < e and (b[p] == 44 or b[p] == 93) and nd <= 15:  # an integer before , or ]
        return p, float(-m if neg else m), 0
    frac = p < e and b[p] == 46
    if frac:
        p += 1
        q = p
        while p < e and 48 <= b[p] <= 57:
            d = b[p] - 48
            if nd < 19:
                m = m * 10 + d
            if nd or d:
                nd += 1
            k += 1
            p += 1
        if p == q:
            return p, 0.0, -1
    if (p < e and (b[p] == 101 or b[p] == 69)) or p - start > 300:
        return p, 0.0, -1
    if nd > 18 or m > _MAX_EXACT or k > 22:
        return p, 0.0, 1
    v = float(m)
    if k:
        v = v / _POW10[k]
    if neg and (frac or m != 0):
        v = -v
    return p, v, 0


@_helper
def _row(b, p, e, out, o, which, ha, hb, hp, nh):
    """Parse the list of numbers at b[p] == '[' into out[o:] (which: 0 x, 1 y, -1 not kept):
    (end, count, hard numbers so far), count -1 if the kernel does not take it."""
    p = _skip_ws(b, p + 1, e)
    if p < e and b[p] == 93:
        return p + 1, 0, nh
    n = 0
    while True:
        c = b[p] if p < e else 0
        if 48 <= c <= 57:  # fast path: a short plain integer followed by , or ]
            m = c - 48
            q = p + 1
            while q < e and 48 <= b[q] <= 57:
                m = m * 10 + (b[q] - 48)
                q += 1
            if q - p <= 15 and (c != 48 or q == p + 1) and q < e \
                    and (b[q] == 44 or b[q] == 93):
                if which >= 0:
                    out[o + n] = m
                n += 1
                if b[q] == 93:
                    return q + 1, n, nh
                p = q + 1
                if p < e and 48 <= b[p] <= 57:
                    continue
                p = _skip_ws(b, p, e)
                continue
        q, v, kind = _number(b, p, e)
        if kind < 0 or (kind == 1 and which < 0):
            return q, -1, nh
        if which >= 0:
            out[o + n] = v
            if kind == 1:
                ha[nh] = p
                hb[nh] = q
                hp[nh] = (o + n) * 2 + which
                nh += 1
        n += 1
        p = _skip_ws(b, q, e)
        if p >= e:
            return p, -1, nh
        if b[p] == 93:
            return p + 1, n, nh
        if b[p] != 44:
            return p, -1, nh
        p = _skip_ws(b, p + 1, e)


@_helper
def _drawing(b, p, e, x, y, slen, ns, npt, ha, hb, hp, nh):
    """Parse a good drawing at b[p] == '[': (end, strokes, points, hard numbers so far), or
    end -1 if the kernel does not take it."""
    if b[p] != 91:
        return -1, ns, npt, nh
    p = _skip_ws(b, p + 1, e)
    seg = False
    while True:
        if p >= e or b[p] != 91:
            return -1, ns, npt, nh
        p = _skip_ws(b, p + 1, e)
        if p >= e or b[p] != 91:
            return -1, ns, npt, nh
        p, n, nh = _row(b, p, e, x, npt, 0, ha, hb, hp, nh)
        if n <= 0:
            return -1, ns, npt, nh
        p = _skip_ws(b, p, e)
        if p >= e or b[p] != 44:
            return -1, ns, npt, nh
        p = _skip_ws(b, p + 1, e)
        if p >= e or b[p] != 91:
            return -1, ns, npt, nh
        p, ny, nh = _row(b, p, e, y, npt, 1, ha, hb, hp, nh)
        if ny != n:
            return -1, ns, npt, nh
        p = _skip_ws(b, p, e)
        if p < e and b[p] == 44:
            p = _skip_ws(b, p + 1, e)
            if p >= e or b[p] != 91:
                return -1, ns, npt, nh
            p, nt, nh = _row(b, p, e, x, 0, -1, ha, hb, hp, nh)
            if nt != n:
                return -1, ns, npt, nh
            p = _skip_ws(b, p, e)
        if p >= e or b[p] != 93:
            return -1, ns, npt, nh
        slen[ns] = n
        ns += 1
        npt += n
        seg = seg or n > 1
        p = _skip_ws(b, p + 1, e)
        if p < e and b[p] == 44:
            p = _skip_ws(b, p + 1, e)
        elif p < e and b[p] == 93 and seg:
            return p + 1, ns, npt, nh
        else:
            return -1, ns, npt, nh


@_helper
def _bounds(b):
    """Upper bounds of the lines, strokes and numbers in b: newlines + 1, '[' / 3 + 1 (a stroke
    opens 3 lists) and ',' + ']' + 1 (a number is followed by one of them, but the last one
    the kernel writes before it gives up on a line)."""
    lines = strokes = numbers = 0
    for c in b:
        lines += c == 10
        strokes += c == 91
        numbers += (c == 44) + (c == 93)
    return lines + 1, strokes // 3 + 1, numbers + 1


@njit(cache=True, nogil=True)
def _scan(b, unrecognized):
    """Parse every line of b (lines end with a newline, the last one may not).

    Per line: its start, kernel-accepted flag, kept flag (accepted, and recognized unless
    ``unrecognized``), recognized, key_id, timestamp, ids of word and
    countrycode among the distinct strings (spans) of the block, number of strokes; the
    kept lines' strokes (lengths) and points (x, y); and the numbers that need Python's
    float() (span, slot: point * 2 + (0 for x, 1 for y)).  No token takes a newline, so
    parsing a line never runs past its end.
    """
    max_lines, max_strokes, max_numbers = _bounds(b)
    starts = np.empty(max_lines, np.int64)
    good = np.zeros(max_lines, np.bool_)
    kept = np.zeros(max_lines, np.bool_)
    rec = np.zeros(max_lines, np.bool_)
    key = np.zeros(max_lines, np.int64)
    ts = np.zeros(max_lines, np.int64)
    sid = np.zeros((max_lines, 2), np.int64)
    ustart = np.empty(2 * max_lines, np.int64)
    uend = np.empty(2 * max_lines, np.int64)
    size = 1
    while size < 4 * max_lines:
        size *= 2
    table = np.zeros(size, np.int64)
    nu = 0
    nstrokes = np.zeros(max_lines, np.int64)
    slen = np.empty(max_strokes, np.int64)
    x = np.empty(max_numbers, np.float64)
    y = np.empty(max_numbers, np.float64)
    ha = np.empty(max_numbers, np.int64)
    hb = np.empty(max_numbers, np.int64)
    hp = np.empty(max_numbers, np.int64)
    e = len(b)
    ns = npt = nh = 0
    li = 0
    p = 0
    while p < e:
        starts[li] = p
        q = _skip_ws(b, p, e)
        ok = q < e and b[q] == 123
        seen = 0
        ns1, npt1, nh1 = ns, npt, nh
        if ok:
            q = _skip_ws(b, q + 1, e)
        while ok:
            ok = False
            if q >= e or b[q] != 34:
                break
            z = _string_end(b, q + 1, e)
            f = _field(b, q + 1, z) if z > 0 else -1
            if f < 0 or seen & (1 << f):
                break
            seen |= 1 << f
            q = _skip_ws(b, z + 1, e)
            if q >= e or b[q] != 58:
                break
            q = _skip_ws(b, q + 1, e)
            if q >= e:
                break
            if f == 3:  # recognized
                if e - q >= 4 and b[q] == 116 and b[q + 1] == 114 and b[q + 2] == 117 \
                        and b[q + 3] == 101:
                    rec[li] = True
                    q += 4
                elif e - q >= 5 and b[q] == 102 and b[q + 1] == 97 and b[q + 2] == 108 \
                        and b[q + 3] == 115 and b[q + 4] == 101:
                    rec[li] = False
                    q += 5
                else:
                    break
            elif f == 5:  # drawing
                q, ns1, npt1, nh1 = _drawing(b, q, e, x, y, slen, ns1, npt1, ha, hb, hp, nh1)
                if q < 0:
                    break
                nstrokes[li] = ns1 - ns
            else:
                if b[q] != 34:
                    break
                z = _string_end(b, q + 1, e)
                if z < 0:
                    break
                if f == 0 or f == 1:  # word, countrycode
                    sid[li, f], nu = _intern(b, q + 1, z, table, ustart, uend, nu)
                elif f == 2:  # timestamp
                    ts[li] = _timestamp(b, q + 1, z)
                    if ts[li] == -(2**63):
                        break
                else:  # key_id
                    key[li] = _key_id(b, q + 1, z)
                    if key[li] < 0:
                        break
                q = z + 1
            q = _skip_ws(b, q, e)
            if q < e and b[q] == 44:
                q = _skip_ws(b, q + 1, e)
                ok = True
            elif q < e and b[q] == 125:
                q = _skip_ws(b, q + 1, e)
                ok = (q == e or b[q] == 10) and seen == 63
                break
        if ok:
            good[li] = True
            if rec[li] or unrecognized:
                kept[li] = True
                ns, npt, nh = ns1, npt1, nh1
        else:
            q = max(q, p)
            while q < e and b[q] != 10:
                q += 1
        li += 1
        p = q + 1
    if li < max_lines:
        starts[li] = p  # so that line i is b[starts[i]:starts[i + 1] - 1]
    return (li, starts, good, kept, rec, key, ts, sid, nu, ustart, uend, nstrokes, ns, slen, npt,
            x, y, nh, ha, hb, hp)


# --- batches --------------------------------------------------------------------------------


def _offsets(lengths: np.ndarray) -> np.ndarray:
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def _ranges(first: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Concatenation of arange(f, f + c) for every (f, c)."""
    ends = np.cumsum(count)
    return np.arange(ends[-1] if len(ends) else 0) + np.repeat(first - (ends - count), count)


def _select(d: Drawings, idx: np.ndarray) -> Drawings:
    """Drawings ``idx`` of ``d`` (any order), with arrays of their own."""
    s_first = d.drawing_offsets[idx]
    s_count = d.drawing_offsets[idx + 1] - s_first
    strokes = _ranges(s_first, s_count)
    p_first = d.stroke_offsets[strokes]
    p_count = d.stroke_offsets[strokes + 1] - p_first
    points = _ranges(p_first, p_count)
    rows = idx.tolist()
    return Drawings(
        x=d.x[points], y=d.y[points],
        stroke_offsets=_offsets(p_count), drawing_offsets=_offsets(s_count),
        key_id=d.key_id[idx], timestamp=d.timestamp[idx], recognized=d.recognized[idx],
        word=[d.word[i] for i in rows], countrycode=[d.countrycode[i] for i in rows],
        line=d.line[idx],
    )


def _concat(parts: list[Drawings]) -> Drawings:
    """One batch of the drawings of ``parts``, in order."""
    if len(parts) == 1:
        return parts[0]
    points = np.cumsum([0] + [len(p.x) for p in parts])
    strokes = np.cumsum([0] + [len(p.stroke_offsets) - 1 for p in parts])
    return Drawings(
        x=np.concatenate([p.x for p in parts]), y=np.concatenate([p.y for p in parts]),
        stroke_offsets=np.concatenate(
            [p.stroke_offsets[:-1] + o for p, o in zip(parts, points)] + [points[-1:]]),
        drawing_offsets=np.concatenate(
            [p.drawing_offsets[:-1] + o for p, o in zip(parts, strokes)] + [strokes[-1:]]),
        key_id=np.concatenate([p.key_id for p in parts]),
        timestamp=np.concatenate([p.timestamp for p in parts]),
        recognized=np.concatenate([p.recognized for p in parts]),
        word=[w for p in parts for w in p.word],
        countrycode=[c for p in parts for c in p.countrycode],
        line=np.concatenate([p.line for p in parts]),
    )


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
    (n, starts, good, kept, rec, key, ts, sid, nu, ustart, uend, nstrokes, ns, slen, npt, x, y,
     nh, ha, hb, hp) = _scan(np.frombuffer(block, dtype=np.uint8, count=nbytes), unrecognized)
    x, y = x[:npt], y[:npt]
    if nh:
        slots = hp[:nh]
        values = np.array([float(block[a:b]) for a, b in zip(ha[:nh].tolist(), hb[:nh].tolist())])
        in_x = slots % 2 == 0
        x[slots[in_x] // 2] = values[in_x]
        y[slots[~in_x] // 2] = values[~in_x]
    ok = np.flatnonzero(kept[:n])
    spans = zip(ustart[:nu].tolist(), uend[:nu].tolist())
    strings = np.array([names[block[a:z]] for a, z in spans], dtype=object)
    found = Drawings(
        x=x, y=y, stroke_offsets=_offsets(slen[:ns]), drawing_offsets=_offsets(nstrokes[ok]),
        key_id=key[ok], timestamp=ts[ok], recognized=rec[ok],
        word=strings[sid[ok, 0]].tolist(), countrycode=strings[sid[ok, 1]].tolist(),
        line=ok + first,
    )
    rejections = []
    others = [found]
    for i in np.flatnonzero(~good[:n]).tolist():
        raw = block[starts[i]:starts[i + 1] - 1]
        obj, reason = parse_line(raw)
        if reason:
            rejections.append(Rejection(file, first + i, reason, _text(raw)))
        elif obj["recognized"] or unrecognized:
            others.append(_one(obj, first + i))
    if len(others) > 1:
        found = _concat(others)
        found = _select(found, np.argsort(found.line, kind="stable"))
    return found, rejections, n


def _one(obj: dict, line: int) -> Drawings:
    one = Drawings.from_dicts([obj])
    one.line[0] = line
    return one


def _read_last(raw: bytes, line: int, end: str, file: str,
               unrecognized: bool) -> tuple[Drawings, list[Rejection]]:
    """`_read_block` for the last piece of a file that does not end with a newline."""
    obj, reason = _judge_last(raw, end)
    if reason:
        return Drawings.from_dicts([]), [Rejection(file, line, reason, _text(raw))]
    if obj["recognized"] or unrecognized:
        return _one(obj, line), []
    return Drawings.from_dicts([]), []


def _warn(rejection: Rejection) -> None:
    log.warning("%s:%d: skipped bad line: %s", rejection.file, rejection.line, rejection.reason)


def read_drawings(
    path: str | Path,
    *,
    chunk_size: int = 1024,
    unrecognized: bool = False,
    limit: int | None = None,
    on_reject: Callable[[Rejection], None] | None = None,
    strict: bool = False,
) -> Iterator[Drawings]:
    """Stream the good drawings of an ndjson(.gz) file as `Drawings` chunks, in file order.

    Chunks hold ``chunk_size`` drawings (the last one may hold fewer); only recognized
    drawings unless ``unrecognized``; at most ``limit`` drawings in all (bad lines after the
    last drawing taken are not reported, and reading stops at the end of its block).  Each
    bad line goes to ``on_reject`` (default: a logged warning), in file order, before the
    chunks of its block; with ``strict`` the first one raises BadLineError instead.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    if limit is not None and limit <= 0:
        return
    report = on_reject or _warn
    file = str(path)
    names = _Names()
    pending: list[Drawings] = []
    have = 0
    left = limit
    first = 1
    for block, nbytes, end in _blocks(path):
        if end is None:
            found, rejections, lines = _read_block(block, nbytes, first, file, names,
                                                   unrecognized)
            first += lines
        else:
            found, rejections = _read_last(block, first, end, file, unrecognized)
        if left is not None and len(found) >= left:
            found = found.slice(0, left, copy=True)
            rejections = [r for r in rejections if r.line < found.line[-1]]
        for rejection in rejections:
            if strict:
                raise BadLineError(rejection, _STRICT_HINT)
            report(rejection)
        pending.append(found)
        have += len(found)
        if have >= chunk_size:
            batch = _concat(pending)
            full = have - have % chunk_size
            for i in range(0, full, chunk_size):
                yield batch.slice(i, i + chunk_size)
            pending = [batch.slice(full, have)]
            have -= full
        if left is not None:
            left -= len(found)
            if left == 0:
                break
    if have:
        yield _concat(pending)


def warmup() -> None:
    """Compile (or load from numba's cache) the reader's kernel, e.g. before forking workers."""
    line = (b'{"word":"cat","countrycode":"US","timestamp":"2017-03-02 23:25:10.07453 UTC",'
            b'"recognized":true,"key_id":"5201136883597312","drawing":[[[1,2.5],[3,4]]]}\n')
    _read_block(line, len(line), 1, "<warmup>", _Names(), False)


# --- the notebook's functions -----------------------------------------------------------------


def class_path(data_path: str | Path, name: str) -> Path:
    """``<data_path>/<name>.ndjson``, or ``<name>.ndjson.gz`` if only that one exists."""
    plain = Path(data_path) / f"{name}.ndjson"
    packed = Path(data_path) / f"{name}.ndjson.gz"
    return packed if not plain.exists() and packed.exists() else plain


def _arrays(obj: dict) -> dict:
    obj["drawing"] = [np.array(stroke) for stroke in obj["drawing"]]
    return obj


def convert(line: str | bytes) -> dict:
    """The notebook's convert: one line as a dict, each stroke as ``np.array(stroke)``.

    Raises BadLineError (a ValueError) saying what is wrong with a bad line.
    """
    obj, reason = parse_line(line)
    if reason:
        raise BadLineError(Rejection("<line>", 0, reason, _text(line)))
    return _arrays(obj)


def loaditer(name: str, unrecognized: bool = False,
             data_path: str | Path = reference.DATA_PATH) -> Iterator[dict]:
    """The notebook's loaditer: the drawings of ``<data_path>/<name>.ndjson`` (or .ndjson.gz)
    as `convert` dicts, in file order, recognized ones only unless ``unrecognized``.

    A bad line is logged as a warning (file, line, reason) and skipped.  The kernel checks
    each block of lines first, so only the lines it does not take go through `line_problem`.
    """
    path = class_path(data_path, name)
    number = 0
    for block, nbytes, end in _blocks(path):
        if end is not None:
            lines, good, rec = [block], [False], [False]
        else:
            n, _, ok, _, r = _scan(np.frombuffer(block, dtype=np.uint8, count=nbytes), True)[:5]
            lines, good, rec = block.split(b"\n")[:n], ok[:n].tolist(), r[:n].tolist()
        for raw, kernel_ok, recognized in zip(lines, good, rec):
            number += 1
            if kernel_ok:
                if recognized or unrecognized:
                    yield _arrays(orjson.loads(raw))
                continue
            obj, reason = parse_line(raw) if end is None else _judge_last(raw, end)
            if reason:
                _warn(Rejection(str(path), number, reason, _text(raw)))
            elif obj["recognized"] or unrecognized:
                yield _arrays(obj)


def loadn(name: str, n: int, unrecognized: bool = False,
          data_path: str | Path = reference.DATA_PATH) -> list[dict]:
    """The notebook's loadn: the first ``n`` drawings `loaditer` yields."""
    return list(itertools.islice(loaditer(name, unrecognized, data_path), 0, n))
