"""Many byte strings as one uint8 buffer plus offsets: the layout the numba kernels take."""

from __future__ import annotations

from collections.abc import Sequence, Sized

import numpy as np


def offsets_of(items: Sequence[Sized]) -> np.ndarray:
    """int64 (N + 1,): 0, then the running total of the items' lengths."""
    offsets = np.zeros(len(items) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, items), dtype=np.int64, count=len(items)), out=offsets[1:])
    return offsets


def joined(items: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """(buf uint8, offsets int64 (N + 1,)): item i is ``buf[offsets[i]:offsets[i + 1]]``."""
    return np.frombuffer(b"".join(items), dtype=np.uint8), offsets_of(items)
