"""The ndjson scanner: a numba kernel that parses a block of lines straight into flat arrays.

It takes the common shape of a line (the six fields, plain ASCII strings, numbers without
exponent) and checks everything `check.line_problem` checks; a line it does not accept
outright is marked for `check.parse_line` to judge.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fastdraw.kernels.jit import helper, kernel
from fastdraw.sources.ndjson.check import FIELDS

_NAMES = np.frombuffer("".join(FIELDS).encode(), dtype=np.uint8)
_NAME_AT = np.full(12, -1, dtype=np.int64)  # field index by name length (all lengths differ)
_NAME_START = np.zeros(len(FIELDS), dtype=np.int64)
for _i, _f in enumerate(FIELDS):
    _NAME_AT[len(_f)] = _i
    _NAME_START[_i] = sum(len(f) for f in FIELDS[:_i])
_POW10 = np.array([float(10**k) for k in range(23)])
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_MAX_EXACT = 2**53
# Plain int64 values for the helpers' arguments: a literal int argument compiles a helper
# once for every value it takes.
_ZERO, _X, _Y, _SKIP = np.array([0, 0, 1, -1], dtype=np.int64)


@helper
def _skip_ws(b, p, e):
    while p < e and (b[p] == 32 or b[p] == 9 or b[p] == 13):
        p += 1
    return p


@helper
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


@helper
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


@helper
def _digits(b, a, z):
    """Value of the ASCII digits b[a:z] (z - a <= 18), or -1 if any byte is not a digit."""
    v = 0
    for i in range(a, z):
        c = b[i] - 48
        if c < 0 or c > 9:
            return -1
        v = v * 10 + c
    return v


@helper
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


@helper
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


@helper
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


@helper
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


@helper
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


@helper
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
        p, n, nh = _row(b, p, e, x, npt, _X, ha, hb, hp, nh)
        if n <= 0:
            return -1, ns, npt, nh
        p = _skip_ws(b, p, e)
        if p >= e or b[p] != 44:
            return -1, ns, npt, nh
        p = _skip_ws(b, p + 1, e)
        if p >= e or b[p] != 91:
            return -1, ns, npt, nh
        p, ny, nh = _row(b, p, e, y, npt, _Y, ha, hb, hp, nh)
        if ny != n:
            return -1, ns, npt, nh
        p = _skip_ws(b, p, e)
        if p < e and b[p] == 44:
            p = _skip_ws(b, p + 1, e)
            if p >= e or b[p] != 91:
                return -1, ns, npt, nh
            p, nt, nh = _row(b, p, e, x, _ZERO, _SKIP, ha, hb, hp, nh)
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


@helper
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


@kernel
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
    nu = _ZERO
    nstrokes = np.zeros(max_lines, np.int64)
    slen = np.empty(max_strokes, np.int64)
    x = np.empty(max_numbers, np.float64)
    y = np.empty(max_numbers, np.float64)
    ha = np.empty(max_numbers, np.int64)
    hb = np.empty(max_numbers, np.int64)
    hp = np.empty(max_numbers, np.int64)
    e = len(b)
    ns = npt = nh = _ZERO
    li = 0
    p = _ZERO
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


class Scan(NamedTuple):
    """What the scanner found in a block: per line (``lines`` of them) and flat arrays of the
    kept lines' strokes and points; ``hard_*``: numbers whose value needs Python's float()
    (their span in the block, and slot: point * 2 + 0 for x, 1 for y)."""

    lines: int
    starts: np.ndarray  # line i is block[starts[i]:starts[i + 1] - 1]
    good: np.ndarray  # accepted by the kernel
    kept: np.ndarray  # accepted, and recognized unless unrecognized drawings are kept
    recognized: np.ndarray
    key_id: np.ndarray
    timestamp: np.ndarray
    string_id: np.ndarray  # (lines, 2): ids of word and countrycode among the strings
    strings: int  # distinct strings in the block
    string_start: np.ndarray
    string_end: np.ndarray
    strokes_per_line: np.ndarray
    strokes: int
    stroke_length: np.ndarray
    points: int
    x: np.ndarray
    y: np.ndarray
    hard: int
    hard_start: np.ndarray
    hard_end: np.ndarray
    hard_slot: np.ndarray


def scan(block: bytes, nbytes: int, unrecognized: bool) -> Scan:
    """Scans the lines of ``block[:nbytes]`` (each ending with a newline but maybe the last)."""
    return Scan(*_scan(np.frombuffer(block, dtype=np.uint8, count=nbytes), unrecognized))
