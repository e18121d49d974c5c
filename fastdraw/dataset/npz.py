"""sketch-rnn's ``<class>.npz`` files: written a window of drawings at a time, and checked
without unpickling.

A file is a zip (deflated, as the published files are, at COMPRESSLEVEL, with fixed dates
so that the same drawings give the same bytes) holding one ``<split>.npy`` per split: an
object array of the split's drawings, each an int16 (points, 3) stroke-3 array, so ``np.load(path,
encoding='latin1', allow_pickle=True)`` gives ``data['train']`` and so on, as sketch-rnn's
loader reads them.  An object array's ``.npy`` is a pickle; `NpzWriter` streams it: a fixed
head (the globals and dtypes the drawings refer to, memoized as
fastdraw.codecs.sketchrnn's MEMO_* say, then the array's shape), the drawings in batches
(MARK ... APPENDS, the codec's unpacked records), and a fixed tail.  Memory holds one
window of drawings, whatever the split's size.

`check_npz` reads such a file back the same way, a window at a time, and checks every byte
of its pickles is of that form (a pickle can run any code; this one is never unpickled)
and every drawing is stroke-3: 1 or more rows, pen values 0 or 1, the last one 1.
"""

from __future__ import annotations

import ast
import io
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np

from fastdraw.codecs.sketchrnn import MEMO_ARGS, MEMO_INT16, MEMO_RECONSTRUCT, ROW_BYTES
from fastdraw.kernels.jit import kernel

# zlib level 1: the stroke-3 pickles deflate 7x faster than at np.savez_compressed's level 6
# (zlib's default), into files 9% larger (docs/performance.md).
COMPRESSLEVEL = 1
DATE = (1980, 1, 1, 0, 0, 0)  # every member's (zip's earliest): the same bytes every build
BATCH = 1 << 20  # bytes of a member read at a time by check_npz
_SHOWN = 80  # characters of a .npy header a problem shows


def _int(v: int) -> bytes:
    """Pickle's shortest int opcode for 0 <= v < 2**31."""
    if v < 256:
        return b"K" + bytes([v])
    if v < 65536:
        return b"M" + v.to_bytes(2, "little")
    return b"J" + v.to_bytes(4, "little")


def _dtype(code: bytes, byteorder: bytes, flags: int) -> bytes:
    """numpy's pickle of a dtype (after the dtype class, on the stack)."""
    return (b"X" + len(code).to_bytes(4, "little") + code + b"\x89\x88\x87R(K\x03X\x01\x00\x00\x00"
            + byteorder + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff" + _int(flags) + b"tb")


_HEAD = (b"\x80\x03cnumpy.core.multiarray\n_reconstruct\nq" + bytes([MEMO_RECONSTRUCT])
         + b"cnumpy\nndarray\nq\x01K\x00\x85q\x02C\x01bq\x03\x87q" + bytes([MEMO_ARGS]) + b"R"
         + b"cnumpy\ndtype\nq\x05" + _dtype(b"i2", b"<", 0) + b"q" + bytes([MEMO_INT16])
         + b"0")  # the int16 dtype, memoized and popped: the outer array stays on the stack


def array_head(count: int) -> bytes:
    """The pickle of an object array of ``count`` drawings, up to the first batch."""
    return _HEAD + b"(K\x01" + _int(count) + b"\x85h\x05" + _dtype(b"O8", b"|", 63) + b"\x89]"


ARRAY_TAIL = b"tb."


def npy_header(count: int) -> bytes:
    """The .npy header (version 1.0) of an object array of ``count`` items."""
    f = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        f, {"descr": "|O", "fortran_order": False, "shape": (count,)})
    return f.getvalue()


class NpzWriter:
    """Writes one ``<class>.npz``, a split at a time (`array`)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._zip = zipfile.ZipFile(self.path, "w", zipfile.ZIP_DEFLATED)

    @contextmanager
    def array(self, name: str, count: int) -> Iterator[_Items]:
        """Member ``<name>.npy``, an object array of ``count`` drawings given to the
        yielded `_Items` in order."""
        info = zipfile.ZipInfo(f"{name}.npy", date_time=DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        if hasattr(zipfile.ZipInfo, "compress_level"):
            info.compress_level = COMPRESSLEVEL
        else:  # Python < 3.13 keeps a member's level under its private name
            info._compresslevel = COMPRESSLEVEL
        with self._zip.open(info, "w", force_zip64=True) as member:
            member.write(npy_header(count) + array_head(count))
            items = _Items(member, count)
            yield items
            if items.left:
                raise ValueError(f"{self.path}: {name} got {count - items.left} of its "
                                 f"{count} drawings")
            member.write(ARRAY_TAIL)

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> NpzWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Items:
    """Takes a member's drawings, already pickled, a batch at a time."""

    def __init__(self, member: BinaryIO, count: int) -> None:
        self._member = member
        self.left = count

    def add(self, pickled: np.ndarray | bytes, count: int) -> None:
        """``count`` pickled drawings, one after another."""
        if count > self.left:
            raise ValueError(f"{count} drawings, and only {self.left} were left to come")
        if count:
            self._member.write(b"(")
            self._member.write(memoryview(pickled))
            self._member.write(b"e")
            self.left -= count


# ----------------------------------------------------------------------------- checking

_NEED_MORE, _END, _BAD, _BAD_PEN, _EMPTY = 0, 1, 2, 3, 4
_ITEM_HEAD = np.frombuffer(bytes([0x68, MEMO_RECONSTRUCT, 0x68, MEMO_ARGS, 0x52, 0x28, 0x4B, 1]),
                           dtype=np.uint8)
_ITEM_MID = np.frombuffer(bytes([0x4B, 3, 0x86, 0x68, MEMO_INT16, 0x89]), dtype=np.uint8)


@kernel
def _scan(buf, pos, end, in_batch, left, head, mid):
    """Walks the drawings of a member's pickle from ``pos``, where the drawing an earlier
    window stopped in has ``left`` rows to come and then its tail (``left`` counts the tail
    as one; 0: between drawings): (where it stopped, drawings walked, in a batch, ``left``
    there, one of _NEED_MORE / _END (at its tail) / _BAD / _BAD_PEN / _EMPTY).  A drawing's
    rows are walked as they come, so a window holds at most a row or a head of the drawing
    before it, however many rows that drawing has."""
    items = 0
    while pos < end:
        if left > 0:
            while left > 1 and pos + ROW_BYTES <= end:
                pen = buf[pos + 4] | (np.int64(buf[pos + 5]) << 8)
                if pen > 1 or (left == 2 and pen != 1):
                    return pos, items, in_batch, left, _BAD_PEN
                pos += ROW_BYTES
                left -= 1
            if left > 1 or pos + 2 > end:
                return pos, items, in_batch, left, _NEED_MORE
            if buf[pos] != 0x74 or buf[pos + 1] != 0x62:
                return pos, items, in_batch, left, _BAD
            pos += 2
            left = 0
            items += 1
            continue
        c = buf[pos]
        if c == 0x28:  # ( : a batch starts
            if in_batch:
                return pos, items, in_batch, left, _BAD
            in_batch = True
            pos += 1
            continue
        if c == 0x65:  # e : it ends
            if not in_batch:
                return pos, items, in_batch, left, _BAD
            in_batch = False
            pos += 1
            continue
        if c == 0x74:  # t : the array's tail
            return pos, items, in_batch, left, _END if not in_batch else _BAD
        if not in_batch or c != 0x68:
            return pos, items, in_batch, left, _BAD
        p = pos
        if p + 8 + 5 > end:
            return pos, items, in_batch, left, _NEED_MORE
        for k in range(8):
            if buf[p + k] != head[k]:
                return pos, items, in_batch, left, _BAD
        p += 8
        op = buf[p]
        if op == 0x4B:
            rows = np.int64(buf[p + 1])
            p += 2
        elif op == 0x4D:
            rows = np.int64(buf[p + 1]) | (np.int64(buf[p + 2]) << 8)
            p += 3
        elif op == 0x4A:
            rows = 0
            for k in range(4):
                rows |= np.int64(buf[p + 1 + k]) << (8 * k)
            p += 5
        else:
            return pos, items, in_batch, left, _BAD
        if p + 6 + 5 > end:
            return pos, items, in_batch, left, _NEED_MORE
        for k in range(6):
            if buf[p + k] != mid[k]:
                return pos, items, in_batch, left, _BAD
        p += 6
        data = ROW_BYTES * rows
        if buf[p] == 0x43 and data < 256 and buf[p + 1] == data:
            p += 2
        elif buf[p] == 0x42 and data >= 256:
            n = 0
            for k in range(4):
                n |= np.int64(buf[p + 1 + k]) << (8 * k)
            if n != data:
                return pos, items, in_batch, left, _BAD
            p += 5
        else:
            return pos, items, in_batch, left, _BAD
        if rows == 0:
            return pos, items, in_batch, left, _EMPTY
        pos = p
        left = rows + 1
    return pos, items, in_batch, left, _NEED_MORE


def _read(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise ValueError(f"ends {n - len(data)} bytes short")
    return data


_FOREIGN_FLAGS = 0x61  # zip flags: encrypted (bit 0), patched (5), strongly encrypted (6)


def member_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a zip member is not stored as `NpzWriter` stores it (deflated, not encrypted), or
    None: a member to check is opened only then, so no other decompressor runs on it."""
    if info.compress_type != zipfile.ZIP_DEFLATED or info.flag_bits & _FOREIGN_FLAGS:
        return "not deflated as a build writes it (a zip member compressed with deflate, " \
               "not encrypted)"
    return None


def check_member(f: BinaryIO) -> tuple[int, str | None]:
    """(drawings, None) of a member written by `NpzWriter.array`, or (drawings before the
    problem, what is wrong)."""
    try:
        head = npy_header(0)[:8]
        if _read(f, 8) != head[:8]:
            return 0, "not a .npy file of version 1.0"
        length = int.from_bytes(_read(f, 2), "little")
        header = _read(f, length).decode("latin1")
        d = ast.literal_eval(header)
        if not (isinstance(d, dict) and d.get("descr") == "|O" and d.get("fortran_order") is False
                and isinstance(d.get("shape"), tuple) and len(d["shape"]) == 1
                and isinstance(d["shape"][0], int) and 0 <= d["shape"][0] < 2**31):
            shown = header.strip()
            if len(shown) > _SHOWN:
                shown = f"{shown[:_SHOWN]!r}... ({len(shown)} characters)"
            else:
                shown = repr(shown)
            return 0, f"its .npy header {shown} is not an object array's"
        count = d["shape"][0]
        if npy_header(count) != head + length.to_bytes(2, "little") + header.encode("latin1"):
            return 0, "its .npy header is not the one a build writes"
        want = array_head(count)
        if f.read(len(want)) != want:
            return 0, "its pickle does not start as a build writes it (an array of int16 " \
                      "stroke-3 drawings)"
        buf = np.empty(0, dtype=np.uint8)
        items, in_batch, left = 0, False, 0
        while True:
            chunk = f.read(BATCH)
            buf = np.concatenate([buf, np.frombuffer(chunk, dtype=np.uint8)])
            pos, n, in_batch, left, code = _scan(buf, 0, len(buf), in_batch, left, _ITEM_HEAD,
                                                 _ITEM_MID)
            items += n
            if code == _BAD_PEN:
                return items, (f"drawing {items}: pen values other than 0 and 1, or a last "
                               "row whose pen is not lifted (1)")
            if code == _EMPTY:
                return items, f"drawing {items} has no rows"
            if code == _BAD:
                return items, (f"byte {pos} of drawing {items}'s pickle is not of the form a "
                               "build writes")
            if code == _END:
                rest = buf[pos:].tobytes() + f.read(len(ARRAY_TAIL) + 1)
                if rest != ARRAY_TAIL:
                    return items, "its pickle does not end as a build writes it"
                if items != count:
                    return items, f"holds {items} drawings, its header says {count}"
                return items, None
            if not chunk:
                return items, "ends in the middle of its pickle (cut short?)"
            buf = buf[pos:]
    except (ValueError, SyntaxError, EOFError, zipfile.BadZipFile, OSError, zlib.error) as e:
        return 0, f"cannot be read ({e})"


def warmup() -> None:
    """Compiles (or loads) the checking kernel."""
    _scan(np.zeros(1, dtype=np.uint8), 0, 1, False, 0, _ITEM_HEAD, _ITEM_MID)
