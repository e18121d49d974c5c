"""Drawings into the records of one dataset kind: TFRecord-framed Examples, or packed for the
builder's spool (fastdraw.compact)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fastdraw.drawings import Drawings, notebook_seconds
from fastdraw.example import (
    encode_img_examples,
    encode_img_packed,
    encode_stroke_examples,
    encode_stroke_packed,
)
from fastdraw.raster import rasterize
from fastdraw.strokes import encode_strokes
from fastdraw.tfrecord import FRAME_HEAD, FRAME_TAIL, frame_in_place


def _timestamps(d: Drawings, notebook_time: bool) -> np.ndarray:
    if not notebook_time:
        return d.timestamp
    return np.fromiter((notebook_seconds(int(t)) for t in d.timestamp), dtype=np.int64,
                       count=len(d))


@dataclass(frozen=True)
class Encoding:
    """How to turn drawings into records of one kind."""

    kind: str
    img_size: int
    line_width: int
    maximize: bool
    notebook_time: bool

    def records(self, label: int, d: Drawings) -> tuple[np.ndarray, np.ndarray]:
        """The batch's Examples, TFRecord-framed: (buf uint8, slots int64 (N + 1,)), framed
        record i being ``buf[slots[i]:slots[i + 1]]``."""
        labels, ts = self._metadata(label, d)
        gaps = (FRAME_HEAD, FRAME_TAIL)
        if self.kind == "img":
            images = rasterize(d, self.img_size, self.line_width, self.maximize)
            buf, slots = encode_img_examples(labels, images, d, ts, gaps=gaps)
        else:
            deltas, offsets = encode_strokes(d)
            buf, slots = encode_stroke_examples(labels, deltas, offsets, d, ts, gaps=gaps)
        frame_in_place(buf, slots)
        return buf, slots

    def spooled(self, label: int, d: Drawings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The batch's records as the spool keeps them: packed, not yet framed
        (fastdraw.compact): (buf uint8, offsets int64 (N + 1,), framed sizes (N,))."""
        labels, ts = self._metadata(label, d)
        gaps = (FRAME_HEAD, FRAME_TAIL)
        if self.kind != "img":
            return encode_stroke_packed(labels, d, ts, gaps)
        images = rasterize(d, self.img_size, self.line_width, self.maximize)
        return encode_img_packed(labels, images, d, ts, gaps)

    def _metadata(self, label: int, d: Drawings) -> tuple[np.ndarray, np.ndarray]:
        return np.full(len(d), label, dtype=np.int64), _timestamps(d, self.notebook_time)
