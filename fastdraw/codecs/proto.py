"""A small, TensorFlow-free parser of serialized `tf.train.Example` protos.

`preview` and `verify` read every record of a built dataset; importing
TensorFlow for that would cost seconds before the first byte is read.  The
wire format of an Example is tiny (Features -> map<string, Feature> -> one of
BytesList / FloatList / Int64List), so it is parsed here directly.  Repeated
numbers are accepted packed (what TensorFlow writes) and unpacked, as the
protobuf spec requires of a parser; packed runs are decoded with numpy.
"""

from __future__ import annotations

import numpy as np

from fastdraw.errors import ProtoError
from fastdraw.kernels.jit import helper, kernel
from fastdraw.kernels.unaligned import load_u64

FeatureValue = list[bytes] | np.ndarray

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5
_EMPTY_INT64 = np.zeros(0, dtype=np.int64)
_SMALL_RUN = 32  # packed varint runs up to this many bytes are decoded in Python (faster)


def parse_example(data: bytes) -> dict[str, FeatureValue]:
    """Features of one serialized `tf.train.Example`, by name.

    A bytes_list becomes `list[bytes]`, a float_list a float32 array, an
    int64_list an int64 array; a Feature with no list set becomes `[]`.
    Raises ProtoError naming the byte offset of the first malformed field.
    """
    features: dict[str, FeatureValue] = {}
    for field, wire, start, end in _fields(data, 0, len(data)):
        if field == 1 and wire == _LEN:
            for f, w, s, e in _fields(data, start, end):
                if f == 1 and w == _LEN:
                    name, value = _map_entry(data, s, e)
                    features[name] = value
    return features


def _map_entry(data: bytes, start: int, end: int) -> tuple[str, FeatureValue]:
    name = b""
    value: FeatureValue = []
    for field, wire, s, e in _fields(data, start, end):
        if field == 1 and wire == _LEN:
            name = data[s:e]
        elif field == 2 and wire == _LEN:
            value = _feature(data, s, e)
    try:
        return name.decode("utf-8"), value
    except UnicodeDecodeError:
        raise ProtoError(f"feature name {name!r} at byte {start} is not UTF-8") from None


def _feature(data: bytes, start: int, end: int) -> FeatureValue:
    """The Feature's list; a list given twice is merged (concatenated), as protobuf merges."""
    value: FeatureValue = []
    kind = 0
    for field, wire, s, e in _fields(data, start, end):
        if wire != _LEN or not 1 <= field <= 3:
            continue
        if field == 1:
            part: FeatureValue = [data[fs:fe] for f, w, fs, fe in _fields(data, s, e)
                                  if f == 1 and w == _LEN]
        else:
            part = _float_list(data, s, e) if field == 2 else _int64_list(data, s, e)
        if field != kind:
            value, kind = part, field
        elif field == 1:
            value = [*value, *part]
        else:
            value = np.concatenate([value, part])
    return value


def _float_list(data: bytes, start: int, end: int) -> np.ndarray:
    parts = []
    for field, wire, s, e in _fields(data, start, end):
        if field != 1:
            continue
        if wire == _LEN:
            if (e - s) % 4:
                raise ProtoError(f"packed floats at byte {s}: {e - s} bytes is not a multiple of 4")
            parts.append(np.frombuffer(data, dtype="<f4", count=(e - s) // 4, offset=s))
        elif wire == _I32:
            parts.append(np.frombuffer(data, dtype="<f4", count=1, offset=s))
    if not parts:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(parts).astype(np.float32)


def _int64_list(data: bytes, start: int, end: int) -> np.ndarray:
    parts = []
    for field, wire, s, e in _fields(data, start, end):
        if field != 1:
            continue
        if wire == _LEN:
            if e - s > _SMALL_RUN:
                parts.append(decode_varints(
                    np.frombuffer(data, dtype=np.uint8, count=e - s, offset=s), s))
                continue
            values = []
            while s < e:
                v, s = _varint(data, s, e)
                values.append(v)
            parts.append(np.array(values, dtype=np.uint64).view(np.int64))
        elif wire == _VARINT:
            parts.append(np.array([_varint(data, s, e)[0]], dtype=np.uint64).view(np.int64))
    if not parts:
        return _EMPTY_INT64
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def decode_varints(buf: np.ndarray, offset: int = 0) -> np.ndarray:
    """int64 values of a packed run of varints (uint8 array); `offset` only names errors."""
    out = np.empty(len(buf), dtype=np.uint64)
    n = _decode_varints_kernel(buf, out)
    if n == -1:
        raise ProtoError(f"packed varints at byte {offset}: the last varint is truncated")
    if n == -2:
        raise ProtoError(f"packed varints at byte {offset}: a varint is longer than 10 bytes")
    return out[:n].view(np.int64)


@kernel
def _decode_varints_kernel(buf, out):
    """Decodes buf into out; returns the count, -1 if the last varint is cut, -2 if overlong."""
    n = 0
    value = np.uint64(0)
    shift = 0
    for b in buf:
        if shift >= 70:
            return -2
        value |= np.uint64(b & 0x7F) << np.uint64(shift)
        if b < 0x80:
            out[n] = value
            n += 1
            value = np.uint64(0)
            shift = 0
        else:
            shift += 7
    if shift:
        return -1
    return n


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    start = pos
    while True:
        if pos >= end:
            raise ProtoError(f"varint at byte {start} runs past the end of its message")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7
        if shift >= 70:
            raise ProtoError(f"varint at byte {start} is longer than 10 bytes")


def _fields(data: bytes, pos: int, end: int) -> list[tuple[int, int, int, int]]:
    """(field number, wire type, value start, value end) of each field in data[pos:end]."""
    out = []
    while pos < end:
        at = pos
        key = data[pos]
        if key < 0x80:
            pos += 1
        else:
            key, pos = _varint(data, pos, end)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise ProtoError(f"field number 0 at byte {at}")
        if wire == _LEN:
            if pos >= end:
                raise ProtoError(f"field {field} at byte {at} runs past the end of its message")
            n = data[pos]
            if n < 0x80:
                start = pos + 1
            else:
                n, start = _varint(data, pos, end)
            pos = start + n
        elif wire == _VARINT:
            start = pos
            _, pos = _varint(data, pos, end)
        elif wire == _I32:
            start, pos = pos, pos + 4
        elif wire == _I64:
            start, pos = pos, pos + 8
        else:
            raise ProtoError(f"unsupported wire type {wire} at byte {at}")
        if pos > end:
            raise ProtoError(f"field {field} at byte {at} runs past the end of its message")
        out.append((field, wire, start, pos))
    return out


# Columns of `scan_examples`' table: one row per feature (map entry) of every record.
REC, NAME_START, NAME_LEN, NAME_HASH, KIND, COUNT, FIRST, MIN, MAX, FLAGS = range(10)
ITEM_START, ITEM_LEN, ITEM_HASH = 10, 11, 12
_COLUMNS = 13
KIND_NONE, KIND_BYTES, KIND_FLOAT, KIND_INT64 = 0, 1, 2, 3
NONFINITE, NOT_BINARY = 1, 2  # FLAGS bits of a float list: some value is inf/nan, or not 0/1
SCAN_ERRORS = {
    1: "a varint runs past the end of its message",
    2: "a varint is longer than 10 bytes",
    3: "a field runs past the end of its message",
    4: "an unsupported wire type",
    5: "field number 0",
    6: "packed floats whose length is not a multiple of 4",
}


def scan_examples(buf: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Summaries of the features of many serialized Examples, for checks in bulk.

    Record i is `buf[offsets[i]:offsets[i + 1]]` (uint8).  Returns `(table, errors)`:
    `table` int64 (rows, 13) has one row per feature of every valid record, in order, with
    the columns REC (record index), NAME_START / NAME_LEN (in buf), NAME_HASH (`name_hash`),
    KIND, COUNT (values), FIRST (first int64 value), MIN / MAX (of int64 values), FLAGS (of
    float values), ITEM_START / ITEM_LEN / ITEM_HASH (first bytes value).  `errors` int64
    (n, 2) holds for each record 0, or a SCAN_ERRORS code and the byte offset in the record
    (such records have no rows).  Same merging rules as `parse_example`.
    """
    return _scan_kernel(np.ascontiguousarray(buf, dtype=np.uint8),
                        np.ascontiguousarray(offsets, dtype=np.int64))


def warmup() -> None:
    """Compiles (or loads) ``scan_examples``' kernel, before forking workers."""
    scan_examples(np.zeros(0, dtype=np.uint8), np.zeros(1, dtype=np.int64))


def name_hash(name: bytes) -> int:
    """The FNV-1a hash scan_examples gives a name or bytes value (as int64)."""
    return int(_fnv(np.frombuffer(name, dtype=np.uint8), 0, len(name)))


@kernel
def _fnv(buf, start, n):
    h = np.uint64(0xCBF29CE484222325)
    for i in range(start, start + n):
        h = (h ^ np.uint64(buf[i])) * np.uint64(0x100000001B3)
    return np.int64(h)


@kernel
def _read_varint(buf, pos, end):
    """(value, next position), or (0, -code) for a truncated or overlong varint."""
    result = np.uint64(0)
    shift = 0
    while True:
        if pos >= end:
            return np.uint64(0), -1
        b = buf[pos]
        pos += 1
        result |= np.uint64(b & 0x7F) << np.uint64(shift)
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            return np.uint64(0), -2


@kernel
def _next_field(buf, pos, end):
    """(field, wire, value start, value end, next position); next position -code on errors,
    with the error's byte position as value start."""
    at = pos
    key, pos = _read_varint(buf, pos, end)
    if pos < 0:
        return 0, 0, at, at, pos
    field = np.int64(key >> np.uint64(3))
    wire = np.int64(key & np.uint64(7))
    if field == 0:
        return 0, 0, at, at, -5
    start = pos
    if wire == 0:
        _, pos = _read_varint(buf, pos, end)
        if pos < 0:
            return 0, 0, at, at, pos
    elif wire == 2:
        n, start = _read_varint(buf, pos, end)
        if start < 0:
            return 0, 0, at, at, start
        pos = start + np.int64(n) if n < np.uint64(end) else end + 1
    elif wire == 5:
        pos += 4
    elif wire == 1:
        pos += 8
    else:
        return 0, 0, at, at, -4
    if pos > end:
        return 0, 0, at, at, -3
    return field, wire, start, pos, pos


@kernel
def _reset_values(row, kind):
    row[KIND] = kind
    row[COUNT] = 0
    row[FIRST] = 0
    row[MIN] = np.iinfo(np.int64).max
    row[MAX] = np.iinfo(np.int64).min
    row[FLAGS] = 0
    row[ITEM_START] = 0
    row[ITEM_LEN] = 0
    row[ITEM_HASH] = 0


@kernel
def _add_int(row, v):
    if row[COUNT] == 0:
        row[FIRST] = v
    row[COUNT] += 1
    row[MIN] = min(row[MIN], v)
    row[MAX] = max(row[MAX], v)


_HIGH_BITS = np.uint64(0x8080808080808080)
_LOW_BITS = np.uint64(0x7F7F7F7F7F7F7F7F)
_BYTE_ONES = np.uint64(0x0101010101010101)
_FIRST_SEVEN = np.uint64(0x0080808080808080)


@helper
def _zero_bytes(x):
    """The high bit of every byte of ``x`` that is 0 (exactly: no carries between bytes)."""
    return ~(((x & _LOW_BITS) + _LOW_BITS) | x) & _HIGH_BITS


@helper
def _marked(marks):
    """How many bytes of ``marks`` have their high bit set."""
    return np.int64(((marks >> np.uint64(7)) * _BYTE_ONES) >> np.uint64(56))


@kernel
def _add_packed_ints(buf, start, end, row):
    """Adds a packed run of varints to row (locals in the loop: images have thousands).

    An image's pixels, 0 (byte 00) and 255 (bytes FF 01), are taken eight bytes at a time:
    value by value, the mix of one- and two-byte varints costs a mispredicted branch every
    few pixels.  Any other byte goes value by value."""
    count, first, lo, hi = row[COUNT], row[FIRST], row[MIN], row[MAX]
    p = start
    while p < end:
        if p + 8 <= end:
            w = load_u64(buf, p)
            zeros, ffs, ones = _zero_bytes(w), _zero_bytes(~w), _zero_bytes(w ^ _BYTE_ONES)
            ends = ~w & _HIGH_BITS  # bytes that end a varint
            # The bytes up to the word's last varint end: all 8, or 7 when byte 7 goes on.
            span, step = (_HIGH_BITS, 8) if ends >> np.uint64(63) else (_FIRST_SEVEN, 7)
            last = span ^ (span >> np.uint64(8))
            if (((zeros | ffs | ones) & span) == span  # only 00, FF and 01 bytes
                    and ((ffs << np.uint64(8)) & span) == ones & span  # FF 01 pairs
                    and ends & last != 0):  # no FF left open at the end
                n0, n255 = _marked(zeros & span), _marked(ones & span)
                if count == 0:
                    first = 0 if w & np.uint64(0xFF) == 0 else 255
                count += n0 + n255
                lo = min(lo, 0 if n0 else 255)
                hi = max(hi, 255 if n255 else 0)
                p += step
                continue
        b = buf[p]
        if b < 0x80:
            v = np.int64(b)
            p += 1
        elif p + 1 < end and buf[p + 1] < 0x80:
            v = np.int64(b & 0x7F) | (np.int64(buf[p + 1]) << 7)
            p += 2
        else:
            u, p = _read_varint(buf, p, end)
            if p < 0:
                return p
            v = np.int64(u)
        if count == 0:
            first = v
        count += 1
        lo = min(lo, v)
        hi = max(hi, v)
    row[COUNT], row[FIRST], row[MIN], row[MAX] = count, first, lo, hi
    return 0


@kernel
def _add_floats(row, values):
    for v in values:
        if not np.isfinite(v):
            row[FLAGS] |= NONFINITE
        if v != 0.0 and v != 1.0:
            row[FLAGS] |= NOT_BINARY
    row[COUNT] += len(values)


@kernel
def _scan_list(buf, start, end, row):
    """Adds the values of a BytesList / FloatList / Int64List to row; returns 0 or -code, at."""
    kind = row[KIND]
    pos = start
    while pos < end:
        field, wire, s, e, pos = _next_field(buf, pos, end)
        if pos < 0:
            return pos, s
        if field != 1:
            continue
        if kind == KIND_BYTES and wire == 2:
            if row[COUNT] == 0:
                row[ITEM_START] = s
                row[ITEM_LEN] = e - s
                row[ITEM_HASH] = _fnv(buf, s, e - s)
            row[COUNT] += 1
        elif kind == KIND_FLOAT and wire == 2:
            if (e - s) % 4:
                return -6, s
            _add_floats(row, buf[s:e].view(np.float32))
        elif kind == KIND_FLOAT and wire == 5:
            _add_floats(row, buf[s:e].view(np.float32))
        elif kind == KIND_INT64 and wire == 2:
            code = _add_packed_ints(buf, s, e, row)
            if code < 0:
                return code, s
        elif kind == KIND_INT64 and wire == 0:
            v, _ = _read_varint(buf, s, e)
            _add_int(row, np.int64(v))
    return 0, 0


@kernel
def _scan_entry(buf, start, end, row):
    """Fills row from a map<string, Feature> entry; returns 0 or -code, at."""
    row[NAME_START] = start
    row[NAME_LEN] = 0
    row[NAME_HASH] = _fnv(buf, start, 0)
    _reset_values(row, KIND_NONE)
    pos = start
    while pos < end:
        field, wire, s, e, pos = _next_field(buf, pos, end)
        if pos < 0:
            return pos, s
        if field == 1 and wire == 2:
            row[NAME_START] = s
            row[NAME_LEN] = e - s
            row[NAME_HASH] = _fnv(buf, s, e - s)
        elif field == 2 and wire == 2:
            _reset_values(row, KIND_NONE)
            p = s
            while p < e:
                f, w, ls, le, p = _next_field(buf, p, e)
                if p < 0:
                    return p, ls
                if w == 2 and 1 <= f <= 3:
                    if row[KIND] != f:
                        _reset_values(row, f)
                    code, at = _scan_list(buf, ls, le, row)
                    if code < 0:
                        return code, at
    return 0, 0


@kernel
def _scan_kernel(buf, offsets):
    n = len(offsets) - 1
    table = np.empty((max(16, 16 * n), _COLUMNS), dtype=np.int64)
    errors = np.zeros((n, 2), dtype=np.int64)
    m = 0
    for r in range(n):
        start, end = offsets[r], offsets[r + 1]
        first_row = m
        code, at = 0, 0
        pos = start
        while pos < end and code == 0:
            field, wire, s, e, pos = _next_field(buf, pos, end)
            if pos < 0:
                code, at = pos, s
                break
            if field != 1 or wire != 2:
                continue
            p = s
            while p < e:
                f, w, es, ee, p = _next_field(buf, p, e)
                if p < 0:
                    code, at = p, es
                    break
                if f != 1 or w != 2:
                    continue
                if m == len(table):
                    grown = np.empty((2 * len(table), _COLUMNS), dtype=np.int64)
                    grown[:m] = table[:m]
                    table = grown
                table[m, REC] = r
                code, at = _scan_entry(buf, es, ee, table[m])
                if code < 0:
                    break
                m += 1
        if code < 0:
            m = first_row
            errors[r, 0] = -code
            errors[r, 1] = at - start
    return table[:m], errors
