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
    key_ids of the drawings it kept, in file order."""

    def __init__(self, name: str, file: str, codecs: Sequence[Codec]) -> None:
        self.name = name
        self.file = file
        self.codecs = codecs
        self.kept_at: dict[int, int] = {}  # key_id -> line of the drawing kept with it

    def __call__(self, d: Drawings) -> tuple[Drawings, list[Rejection]]:
        reasons: dict[int, str] = {}
        words = np.asarray(d.word, dtype=object)
        for i in np.flatnonzero(words != self.name).tolist():
            reasons[i] = (f"word {d.word[i]!r} is not this file's class, {self.name!r}: a class "
                          "file holds drawings of its class only (is it the right file?)")
        for codec in self.codecs:
            for i, reason in codec.unusable(d).items():
                reasons.setdefault(i, f"{codec.kind} records: {reason}")
        lines = d.line.tolist()
        keys = d.key_id.tolist()
        if not reasons and len(set(keys)) == len(keys) and self.kept_at.keys().isdisjoint(keys):
            self.kept_at.update(zip(keys, lines))  # the common case, at C speed
            return d, []
        for i, key in enumerate(keys):
            if i in reasons:
                continue
            first = self.kept_at.setdefault(key, lines[i])
            if first != lines[i]:
                reasons[i] = (f"key_id {key} repeats line {first}'s: the same drawing twice "
                              "(it would be in two places of the dataset); delete one of them")
        if not reasons:
            return d, []
        rejections = [Rejection(self.file, lines[i], reason, drawing_text(d, i))
                      for i, reason in sorted(reasons.items())]
        keep = np.setdiff1d(np.arange(len(d)), np.fromiter(reasons, dtype=np.int64))
        return d.take(keep), rejections


def drawing_text(d: Drawings, i: int) -> str:
    """A screened-out drawing as the build read it, as a Rejection keeps a line's text."""
    return orjson.dumps(d.record(i)).decode()[:TEXT_LIMIT]
