"""The tests' references for `.bin` files, in plain Python.

- `official_drawings`: a port of the official parser (the Quick, Draw! dataset's
  ``examples/binary_file_parser.py``): per drawing, ``key_id`` uint64, ``countrycode`` 2
  bytes, ``recognized`` int8, ``timestamp`` uint32, ``n_strokes`` uint16, then per stroke
  ``n_points`` uint16 and ``n_points`` bytes of x, then of y; it stops at the first record
  the file does not hold whole, as the official one does.
- `pack`: one record, field by field, with struct (for files made to order).
- `expected`: what fastdraw's binary source should make of any bytes, by the rules of
  fastdraw/sources/binary/reader.py, walked record by record: the good drawings kept, and
  every bad item with its number and byte offset.
"""

from __future__ import annotations

import struct
from pathlib import Path

_HEADER = struct.Struct("<Q2sbIH")  # key_id, countrycode, recognized, timestamp, n_strokes


def _unpack_drawing(f) -> dict:
    """One record from binary file ``f``; struct.error where the file ends inside it."""
    key_id, countrycode, recognized, timestamp, n_strokes = _HEADER.unpack(f.read(_HEADER.size))
    image = []
    for _ in range(n_strokes):
        (n_points,) = struct.unpack("<H", f.read(2))
        x = struct.unpack(f"{n_points}B", f.read(n_points))
        y = struct.unpack(f"{n_points}B", f.read(n_points))
        image.append((x, y))
    return {"key_id": key_id, "countrycode": countrycode, "recognized": recognized,
            "timestamp": timestamp, "image": image}


def official_drawings(path: str | Path) -> list[dict]:
    """Every record of ``path`` as the official parser reads it."""
    out = []
    with open(path, "rb") as f:
        while True:
            try:
                out.append(_unpack_drawing(f))
            except struct.error:
                return out


def pack(key_id: int, countrycode: bytes, recognized: int, timestamp: int,
         strokes: list[tuple[list[int], list[int]]], n_strokes: int | None = None) -> bytes:
    """One record (``n_strokes``: the count written, if not the number of strokes)."""
    out = [_HEADER.pack(key_id, countrycode, recognized, timestamp,
                        len(strokes) if n_strokes is None else n_strokes)]
    for x, y in strokes:
        out.append(struct.pack("<H", len(x)) + bytes(x) + bytes(y))
    return b"".join(out)


def pack_line(obj: dict) -> bytes:
    """The record of a simplified ndjson line (parsed), its timestamp to the second."""
    from fastdraw.drawings import utc_seconds

    return pack(int(obj["key_id"]), obj["countrycode"].encode("ascii"), int(obj["recognized"]),
                utc_seconds(obj["timestamp"]), [(s[0], s[1]) for s in obj["drawing"]])


def expected(data: bytes, unrecognized: bool = True) -> tuple[list[tuple], list[tuple]]:
    """By the reader's rules: the kept drawings as (number, key_id, countrycode, recognized,
    timestamp, strokes) and the bad items as (number, offset, what): a bad record's problem,
    or "cut" for the rest of a file that ends inside a record."""
    kept, bad = [], []
    p = number = 0
    while p < len(data):
        number += 1
        if len(data) - p < _HEADER.size:
            bad.append((number, p, "cut"))
            break
        key_id, cc, rec, ts, n_strokes = _HEADER.unpack_from(data, p)
        q = p + _HEADER.size
        strokes = []
        for _ in range(n_strokes):
            if len(data) - q < 2:
                break
            (m,) = struct.unpack_from("<H", data, q)
            if len(data) - q - 2 < 2 * m:
                break
            strokes.append((list(data[q + 2:q + 2 + m]), list(data[q + 2 + m:q + 2 + 2 * m])))
            q += 2 + 2 * m
        if len(strokes) < n_strokes:
            bad.append((number, p, "cut"))
            break
        if not all(32 <= c <= 126 for c in cc):
            problem = "country"
        elif rec not in (0, 1):
            problem = "recognized"
        elif key_id >= 2**63:
            problem = "key_id"
        elif not strokes:
            problem = "no strokes"
        elif any(not x for x, _ in strokes):
            problem = "empty stroke"
        elif max(len(x) for x, _ in strokes) < 2:
            problem = "no segment"
        else:
            problem = None
        if problem:
            bad.append((number, p, problem))
        elif rec or unrecognized:
            kept.append((number, key_id, cc.decode("ascii"), bool(rec), ts, strokes))
        p = q
    return kept, bad
