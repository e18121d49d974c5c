"""Unaligned 8-byte loads and stores read and write the same bytes as byte indexing."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from fastdraw.kernels.unaligned import load_u64, store_u64


@njit(cache=False)
def _loads(buf):
    out = np.empty(len(buf) - 7, dtype=np.uint64)
    for pos in range(len(out)):
        out[pos] = load_u64(buf, pos)
    return out


@njit(cache=False)
def _store(buf, pos, value):
    store_u64(buf, pos, value)


def test_load_at_every_offset_is_the_little_endian_word():
    buf = np.random.default_rng(0).integers(0, 256, 40, dtype=np.uint8)
    expected = [int.from_bytes(buf[p:p + 8].tobytes(), "little") for p in range(33)]
    assert _loads(buf).tolist() == expected


@pytest.mark.parametrize("pos", range(9))
def test_store_writes_exactly_its_eight_bytes(pos):
    buf = np.zeros(24, dtype=np.uint8)
    _store(buf, pos, np.uint64(0x0807060504030201))
    expected = np.zeros(24, dtype=np.uint8)
    expected[pos:pos + 8] = np.arange(1, 9)
    assert buf.tolist() == expected.tolist()


def test_other_arrays_are_refused():
    with pytest.raises(TypingError, match="contiguous 1-d uint8"):
        _loads(np.zeros(16, dtype=np.int64))
    with pytest.raises(TypingError, match="contiguous 1-d uint8"):
        _loads(np.zeros(32, dtype=np.uint8)[::2])


def test_gather_puts_pieces_of_any_size_in_another_order():
    from fastdraw.kernels.unaligned import gather

    rng = np.random.default_rng(1)
    src = rng.integers(0, 256, 500, dtype=np.uint8)
    sizes = np.array([0, 1, 7, 8, 9, 16, 17, 100], dtype=np.int64)
    starts = np.array([3, 10, 20, 31, 47, 101, 200, 333], dtype=np.int64)
    order = rng.permutation(len(sizes))
    at = np.concatenate(([0], np.cumsum(sizes[order])[:-1])).astype(np.int64)
    dst = np.full(int(sizes.sum()), 0xEE, dtype=np.uint8)
    gather(src, starts[order], sizes[order], dst, at)
    expected = b"".join(src[a:a + n].tobytes() for a, n in zip(starts[order], sizes[order]))
    assert dst.tobytes() == expected
