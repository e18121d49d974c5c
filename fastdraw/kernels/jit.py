"""What fastdraw asks of numba beyond ``njit``: whether a kernel's compiled code is in numba's
cache already (the one place that reads numba's cache internals)."""

from __future__ import annotations

import os
from collections.abc import Iterable

from numba import njit


def cached(kernels: Iterable) -> bool:
    """Whether numba's cache index has every one of these dispatchers, newer than its
    source (else, or if numba's internals differ, they are taken to need compiling)."""
    try:
        return all(os.path.getmtime(k._cache._cache_file._index_path)
                   >= os.path.getmtime(k.py_func.__code__.co_filename) for k in kernels)
    except (AttributeError, OSError):
        return False


# A kernel's helper that allocates no array: compiled on its own (numba's typing of a kernel
# with its helpers inlined into it takes far longer than compiling them apart, which LLVM
# then inlines where it pays) and without reference counting (with it, every call would
# increment and decrement each array argument atomically).
helper = njit(cache=True, nogil=True, _nrt=False)
