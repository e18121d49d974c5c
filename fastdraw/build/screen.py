"""Which of a class file's good drawings a build uses: those every kind's codec can encode
exactly, whose word is the class's, and whose key_id no earlier line of the file had.

A drawing screened out is a rejected line like a bad one (file, line, reason), so that the
build never writes what `verify` or the notebook would refuse, and the seeded rounds take
the same drawings whatever reads the file (a count of it, or any range of its rounds).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import orjson

from fastdraw.codecs import Codec
from fastdraw.drawings import Drawings
from fastdraw.sources import Rejection
from fastdraw.sources.ndjson.check import TEXT_LIMIT


class Screen:
    """The screen of one class file (`fastdraw.sources.base.Screen`); it remembers the
    key_ids of the drawings it kept and their lines."""

    def __init__(self, name: str, file: str, codecs: Sequence[Codec]) -> None:
        self.name = name
        self.file = file
        self.codecs = codecs
        self.kept = KeptKeys()

    def __call__(self, d: Drawings) -> tuple[Drawings, list[Rejection]]:
        reasons = other_word(d, self.name)
        for codec in self.codecs:
            for i, reason in codec.unusable(d).items():
                reasons.setdefault(i, f"{codec.kind} records: {reason}")
        keys = np.asarray(d.key_id, dtype=np.int64)
        lines = np.asarray(d.line, dtype=np.int64)
        open_ = np.ones(len(d), dtype=bool)
        open_[list(reasons)] = False
        at = np.flatnonzero(open_)
        _, first, which = np.unique(keys[at], return_index=True, return_inverse=True)
        kept_line = self.kept.lines_of(keys[at])
        kept_line = np.where(kept_line >= 0, kept_line, lines[at][first][which.ravel()])
        repeats = np.flatnonzero(kept_line != lines[at])
        fresh = at[first][kept_line[first] == lines[at][first]]
        self.kept.add(keys[fresh], lines[fresh])
        for i in repeats.tolist():
            key, first = int(keys[at[i]]), int(kept_line[i])
            reasons[int(at[i])] = (f"key_id {key} repeats line {first}'s: the same drawing twice "
                                   "(it would be in two places of the dataset); delete one of them")
        if not reasons:
            return d, []
        rejections = [Rejection(self.file, int(lines[i]), reason, drawing_text(d, i))
                      for i, reason in sorted(reasons.items())]
        keep = np.setdiff1d(np.arange(len(d)), np.fromiter(reasons, dtype=np.int64))
        return d.take(keep), rejections


def other_word(d: Drawings, name: str) -> dict[int, str]:
    """The drawings whose word is not ``name``, the class of their file: drawing -> why."""
    words = np.asarray(d.word, dtype=object)
    return {i: (f"word {d.word[i]!r} is not this file's class, {name!r}: a class file holds "
                "drawings of its class only (is it the right file?)")
            for i in np.flatnonzero(words != name).tolist()}


def drawing_text(d: Drawings, i: int) -> str:
    """A screened-out drawing as the build read it, as a Rejection keeps a line's text."""
    return orjson.dumps(d.record(i)).decode()[:TEXT_LIMIT]


class KeptKeys:
    """Key_ids with the line each was kept at, as sorted runs merged as a binary counter
    merges its digits: 16 bytes a key, and a look-up searches log2(keys) runs."""

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []

    def lines_of(self, keys: np.ndarray) -> np.ndarray:
        """Each key's line, or -1 for a key not kept."""
        lines = np.full(len(keys), -1, dtype=np.int64)
        for run_keys, run_lines in self.runs:
            at = np.minimum(np.searchsorted(run_keys, keys), len(run_keys) - 1)
            hit = run_keys[at] == keys
            lines[hit] = run_lines[at[hit]]
        return lines

    def add(self, keys: np.ndarray, lines: np.ndarray) -> None:
        """Keeps keys not kept before, with their lines."""
        if len(keys):
            self.runs.append(self._sorted(keys, lines))
        while len(self.runs) > 1 and len(self.runs[-2][0]) <= len(self.runs[-1][0]):
            (k1, l1), (k0, l0) = self.runs.pop(), self.runs.pop()
            self.runs.append(self._sorted(np.concatenate([k0, k1]), np.concatenate([l0, l1])))

    @staticmethod
    def _sorted(keys: np.ndarray, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(keys)
        return keys[order], lines[order]
