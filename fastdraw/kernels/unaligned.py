"""Unaligned 64-bit loads and stores in uint8 arrays, and byte copies built on them, for
numba kernels.

Numba indexes a uint8 array one byte at a time and LLVM does not merge those
accesses, so a kernel moving eight bytes would make eight loads or stores;
these make one (x86-64 and arm64 allow it at any address).  The array must be
contiguous; ``pos`` is a byte index and the eight bytes must lie inside it.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core.errors import TypingError
from numba.extending import intrinsic

from fastdraw.kernels.jit import helper, kernel


def _check(arr: types.Type) -> None:
    if not (isinstance(arr, types.Array) and arr.dtype == types.uint8 and arr.ndim == 1
            and arr.layout == "C"):
        raise TypingError(f"a contiguous 1-d uint8 array is needed, not {arr}")


def _u64_pointer(context, builder, aryty, ary, pos):
    data = context.make_array(aryty)(context, builder, ary).data
    return builder.bitcast(builder.gep(data, [pos]), ir.IntType(64).as_pointer())


@intrinsic
def load_u64(typingctx, arr, pos):
    """``arr[pos:pos + 8]`` as a little-endian uint64 (on little-endian machines)."""
    _check(arr)
    sig = types.uint64(arr, types.intp)

    def codegen(context, builder, signature, args):
        ary, at = args
        load = builder.load(_u64_pointer(context, builder, signature.args[0], ary, at))
        load.align = 1
        return load

    return sig, codegen


@intrinsic
def store_u64(typingctx, arr, pos, value):
    """Writes uint64 ``value`` into ``arr[pos:pos + 8]`` (little-endian on such machines)."""
    _check(arr)
    sig = types.void(arr, types.intp, types.uint64)

    def codegen(context, builder, signature, args):
        ary, at, v = args
        store = builder.store(v, _u64_pointer(context, builder, signature.args[0], ary, at))
        store.align = 1
        return context.get_dummy_value()

    return sig, codegen


@helper
def store_u32(arr, pos, value):
    """Writes the low 32 bits of ``value`` into ``arr[pos:pos + 4]``, little-endian."""
    for k in range(4):
        arr[pos + k] = (np.uint64(value) >> np.uint64(8 * k)) & np.uint64(0xFF)


@helper
def load_u32(arr, pos):
    """``arr[pos:pos + 4]`` as a little-endian unsigned integer (int64)."""
    v = 0
    for k in range(4):
        v |= np.int64(arr[pos + k]) << (8 * k)
    return v


@helper
def copy_bytes(src, a, dst, d, n):
    """``dst[d:d + n] = src[a:a + n]``, eight bytes at a time (the ranges must not overlap)."""
    k = 0
    while k + 8 <= n:
        store_u64(dst, d + k, load_u64(src, a + k))
        k += 8
    for m in range(k, n):
        dst[d + m] = src[a + m]


@kernel
def gather(src, starts, sizes, dst, at):
    """``dst[at[i]:at[i] + sizes[i]] = src[starts[i]:starts[i] + sizes[i]]`` for every i:
    many records put in another order with one call (uint8 arrays, int64 indices)."""
    for i in range(len(starts)):
        copy_bytes(src, starts[i], dst, at[i], sizes[i])


def warmup() -> None:
    """Compiles (or loads) ``gather`` for the arrays the builder passes it."""
    src = np.arange(20, dtype=np.uint8)
    dst = np.zeros(20, dtype=np.uint8)
    index = np.array([0, 12], dtype=np.int64)
    gather(src, index, np.array([12, 8], dtype=np.int64), dst, np.array([8, 0], dtype=np.int64))
    if dst.tolist() != [*range(12, 20), *range(12)]:
        raise AssertionError("the gather kernel is broken")
