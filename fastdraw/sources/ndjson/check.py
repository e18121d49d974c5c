"""The single definition of a good ndjson line: parse one line, say what is wrong with it.

The numba scanner (`scan.py`) takes the common shape of a line straight into arrays; any
line it does not accept outright is judged here, with orjson: either kept (an unusual but
valid line) or rejected with a reason that says what is wrong.
"""

from __future__ import annotations

import orjson

from fastdraw.drawings import utc_seconds

FIELDS = ("word", "countrycode", "timestamp", "recognized", "key_id", "drawing")
TEXT_LIMIT = 200  # characters of a bad line kept in its Rejection
INT64_MAX = 2**63 - 1
_NUMBER_TYPES = frozenset((int, float))  # exact types: bool is not a number here
_LONE_CR = (", after a line ends with a carriage return (\\r) alone: this reader ends lines at "
            "\\n only (convert old Mac line endings to \\n)")
_CUT_OFF = ("cut off: the file ends in the middle of this line (an interrupted download? "
            "download the file again): ")

def line_text(raw: bytes | str) -> str:
    """A line's text as a Rejection keeps it: decoded, its first TEXT_LIMIT characters."""
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
        digits = key.lstrip("0")  # leading zeros, however many, change nothing
        if len(digits) > len(str(INT64_MAX)) or int(digits or "0") > INT64_MAX:
            return f"key_id {key if len(key) <= 40 else key[:37] + '...'} does not fit in int64"
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
