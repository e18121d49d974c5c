"""How fastdraw compiles with numba: `kernel` and `helper`, numba's ``njit`` with a cache that
knows every source file a kernel may call into, and whether a kernel is cached already (the
one place that reads numba's cache internals).

numba's cache checks only the file that defines a function, so a kernel cached before a
change to a helper in another file would go on running the old helper.  Every function
compiled here is stamped with a digest of all the package's files that compile with this
module as well, so a change to any of them makes numba compile again.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

from numba import njit

_MARK = "fastdraw.kernels.jit"


@cache
def sources_digest(package: Path) -> str:
    """sha256 of every ``.py`` file under ``package`` that compiles with this module, and of
    this module, each by its path within its package and its content."""
    h = hashlib.sha256()
    mine = Path(__file__)
    for path in sorted({mine, *package.rglob("*.py")}):
        text = path.read_bytes()
        if path == mine or _MARK.encode() in text:
            top = mine.parents[1] if path == mine else package
            h.update(f"{path.relative_to(top.parent)}\0{len(text)}\0".encode())
            h.update(text)
    return h.hexdigest()


def _package_of(func: Callable) -> Path | None:
    top = sys.modules.get(func.__module__.partition(".")[0])
    file = getattr(top, "__file__", None)
    return Path(file).parent if file and Path(file).name == "__init__.py" else None


def _stamped(dispatcher):
    """The dispatcher, its cache's source stamp joined with its package's sources digest."""
    package = _package_of(dispatcher.py_func)
    cache_file = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
    if package is not None and hasattr(cache_file, "_source_stamp"):
        cache_file._source_stamp = (cache_file._source_stamp, sources_digest(package))
    return dispatcher


def _cached_njit(**options) -> Callable:
    jit = njit(cache=True, nogil=True, **options)
    return lambda func: _stamped(jit(func))


# A kernel: called from Python, compiled once per argument types into numba's cache.
kernel = _cached_njit()

# A kernel's helper that allocates no array: compiled on its own (numba's typing of a kernel
# with its helpers inlined into it takes far longer than compiling them apart, which LLVM
# then inlines where it pays) and without reference counting (with it, every call would
# increment and decrement each array argument atomically).
helper = _cached_njit(_nrt=False)


def cached(kernels: Iterable) -> bool:
    """Whether numba's cache holds compiled code for every one of these kernels under their
    current sources (else, or if numba's internals differ, they are taken to need
    compiling)."""
    try:
        return all(k._cache._cache_file._load_index() for k in kernels)
    except (AttributeError, OSError):
        return False
