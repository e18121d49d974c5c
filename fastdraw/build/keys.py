"""The key_ids a build uses, checked for a drawing given to two classes.

A class file's own repeats are screened out as it is read (fastdraw.build.screen); a key_id
in two class files can only be seen across them.  Each encode task writes the key_ids of
the drawings it uses, sorted, with their lines, to a file of the spool; between the phases
`find_repeat` merges those files a bounded piece of key space at a time, so memory does
not grow with the dataset.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

PREFIX = ".spool-keys-"
PIECE = 1 << 17  # keys compared at a time (2 MiB of key and line pairs)


def keys_path(spool: str | Path, label: int, part: int) -> Path:
    """Where the encode task of range ``part`` of class ``label`` leaves its key_ids."""
    return Path(spool) / f"{PREFIX}{label:05d}-{part:03d}"


def write_keys(path: str | Path, key_id: np.ndarray, line: np.ndarray) -> None:
    """Writes the (key_id, line) pairs sorted by key_id."""
    order = np.argsort(key_id, kind="stable")
    np.stack([key_id[order], line[order]], axis=1).astype("<i8").tofile(path)


def find_repeat(files: Sequence[tuple[int, str | Path]]) -> tuple[int, int, int, int, int] | None:
    """The first key_id (smallest) that two of ``files`` (class label, key file) share:
    (key_id, label, line, other label, other line), or None."""
    arrays = [(label, np.memmap(f, dtype="<i8", mode="r").reshape(-1, 2))
              for label, f in files if os.path.getsize(f)]
    if not arrays:
        return None
    lo = min(int(a[0, 0]) for _, a in arrays)
    hi = max(int(a[-1, 0]) for _, a in arrays)
    return _repeat_in(arrays, lo, hi)


def _repeat_in(arrays: list[tuple[int, np.ndarray]], lo: int, hi: int
               ) -> tuple[int, int, int, int, int] | None:
    """`find_repeat` among the keys in [lo, hi], split in halves until a piece fits PIECE."""
    spans = [(label, a, int(np.searchsorted(a[:, 0], lo, "left")),
              int(np.searchsorted(a[:, 0], hi, "right"))) for label, a in arrays]
    total = sum(e - s for _, _, s, e in spans)
    if total > PIECE and lo < hi:
        mid = lo + (hi - lo) // 2
        return _repeat_in(arrays, lo, mid) or _repeat_in(arrays, mid + 1, hi)
    pieces = [(label, np.asarray(a[s:min(e, s + PIECE + 1)])) for label, a, s, e in spans if e > s]
    if not pieces:
        return None
    keys = np.concatenate([p[:, 0] for _, p in pieces])
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    same = np.flatnonzero(ordered[1:] == ordered[:-1])
    if not len(same):
        return None
    starts = np.cumsum([0] + [len(p) for _, p in pieces])
    found: list[int] = []
    for i in order[same[0]:same[0] + 2].tolist():
        k = int(np.searchsorted(starts, i, "right")) - 1
        label, piece = pieces[k]
        found += [label, int(piece[i - starts[k], 1])]
    return (int(ordered[same[0]]), *found)
