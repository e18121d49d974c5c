"""What fastdraw asks of numba beyond ``njit``: whether a kernel's compiled code is in numba's
cache already (the one place that reads numba's cache internals)."""

from __future__ import annotations

import os
from collections.abc import Iterable


def cached(kernels: Iterable) -> bool:
    """Whether numba's cache index has every one of these dispatchers, newer than its
    source (else, or if numba's internals differ, they are taken to need compiling)."""
    try:
        return all(os.path.getmtime(k._cache._cache_file._index_path)
                   >= os.path.getmtime(k.py_func.__code__.co_filename) for k in kernels)
    except (AttributeError, OSError):
        return False
