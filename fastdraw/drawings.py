"""`Drawings`: a batch of Quick, Draw! drawings as flat arrays, the unit every stage passes on.

Geometry is flat so that numba kernels take plain arrays: the points of all
strokes of all drawings are concatenated in ``x`` / ``y``; stroke ``s`` holds
points ``stroke_offsets[s]:stroke_offsets[s + 1]`` and drawing ``i`` holds
strokes ``drawing_offsets[i]:drawing_offsets[i + 1]``.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property

import numpy as np

_TIMESTAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d+)? UTC", re.ASCII)


def utc_seconds(timestamp: str) -> int:
    """Epoch seconds of a Quick, Draw! timestamp ``YYYY-MM-DD HH:MM:SS[.fff] UTC``.

    Fractional seconds are dropped, as the notebook does.  Raises ValueError
    for any other text or an impossible date.
    """
    m = _TIMESTAMP.fullmatch(timestamp)
    if m is None:
        raise ValueError(f"timestamp {timestamp!r} is not 'YYYY-MM-DD HH:MM:SS[.fff] UTC'")
    try:
        moment = datetime(*(int(g) for g in m.groups()), tzinfo=timezone.utc)
    except ValueError:
        raise ValueError(f"timestamp {timestamp!r} is not a valid date and time") from None
    return calendar.timegm(moment.timetuple())


def _key_id(key: str | int) -> int:
    """A key_id's value; a string's leading zeros are dropped first (Python's int() refuses
    a string of more than 4300 digits, however many of them are zeros)."""
    return int(key.lstrip("0") or "0") if isinstance(key, str) else int(key)


def utc_text(utc: int) -> str:
    """Epoch seconds as a Quick, Draw! timestamp, ``YYYY-MM-DD HH:MM:SS UTC``."""
    return datetime.fromtimestamp(utc, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def notebook_seconds(utc: int) -> int:
    """The notebook's ``time.mktime`` of the same wall-clock time, read in the local time zone."""
    return int(time.mktime(time.gmtime(utc)[:8] + (-1,)))


def timestamps(d: Drawings, notebook_time: bool) -> np.ndarray:
    """The batch's timestamps as a record keeps them: UTC epoch seconds, or with
    ``notebook_time`` the notebook's local-time `notebook_seconds`."""
    if not notebook_time:
        return d.timestamp
    return np.fromiter((notebook_seconds(int(t)) for t in d.timestamp), dtype=np.int64,
                       count=len(d))


@dataclass
class Drawings:
    """A batch of drawings: flat geometry plus one metadata entry per drawing."""

    x: np.ndarray  # float64 [points]
    y: np.ndarray  # float64 [points]
    stroke_offsets: np.ndarray  # int64 [strokes + 1], into x / y
    drawing_offsets: np.ndarray  # int64 [drawings + 1], into stroke_offsets
    key_id: np.ndarray  # int64 [drawings]
    timestamp: np.ndarray  # int64 [drawings], UTC epoch seconds
    recognized: np.ndarray  # bool [drawings]
    word: list[str]
    countrycode: list[str]
    line: np.ndarray  # int64 [drawings], 1-based line (record, in a .bin) of its file; 0: none

    def __len__(self) -> int:
        return len(self.key_id)

    @cached_property
    def magnitude(self) -> float:
        """The largest absolute coordinate (0.0 for no point, NaN if one is NaN): what the
        codecs' checks of a batch look at first."""
        if not len(self.x):
            return 0.0
        return float(np.max([self.x.max(), -self.x.min(), self.y.max(), -self.y.min()]))

    def slice(self, i: int, j: int, copy: bool = False) -> Drawings:
        """Drawings ``i:j``: views of this batch's arrays, or with ``copy`` arrays of their own
        (a slice that outlives its batch should not keep the whole batch alive)."""
        if not copy and i == 0 and j == len(self):
            return self
        s0, s1 = int(self.drawing_offsets[i]), int(self.drawing_offsets[j])
        p0, p1 = int(self.stroke_offsets[s0]), int(self.stroke_offsets[s1])

        def own(a: np.ndarray) -> np.ndarray:
            return a.copy() if copy else a

        return Drawings(
            x=own(self.x[p0:p1]), y=own(self.y[p0:p1]),
            stroke_offsets=self.stroke_offsets[s0:s1 + 1] - p0,
            drawing_offsets=self.drawing_offsets[i:j + 1] - s0,
            key_id=own(self.key_id[i:j]), timestamp=own(self.timestamp[i:j]),
            recognized=own(self.recognized[i:j]), word=self.word[i:j],
            countrycode=self.countrycode[i:j], line=own(self.line[i:j]),
        )

    def take(self, idx: np.ndarray) -> Drawings:
        """Drawings ``idx`` (int array, any order), with arrays of their own."""
        s_first = self.drawing_offsets[idx]
        s_count = self.drawing_offsets[idx + 1] - s_first
        strokes = _ranges(s_first, s_count)
        p_first = self.stroke_offsets[strokes]
        p_count = self.stroke_offsets[strokes + 1] - p_first
        points = _ranges(p_first, p_count)
        rows = idx.tolist()
        return Drawings(
            x=self.x[points], y=self.y[points],
            stroke_offsets=offsets(p_count), drawing_offsets=offsets(s_count),
            key_id=self.key_id[idx], timestamp=self.timestamp[idx],
            recognized=self.recognized[idx], word=[self.word[i] for i in rows],
            countrycode=[self.countrycode[i] for i in rows], line=self.line[idx],
        )

    @classmethod
    def concat(cls, parts: Sequence[Drawings]) -> Drawings:
        """One batch of the drawings of ``parts``, in order."""
        if len(parts) == 1:
            return parts[0]
        points = np.cumsum([0] + [len(p.x) for p in parts])
        strokes = np.cumsum([0] + [len(p.stroke_offsets) - 1 for p in parts])
        return cls(
            x=np.concatenate([p.x for p in parts]), y=np.concatenate([p.y for p in parts]),
            stroke_offsets=np.concatenate(
                [p.stroke_offsets[:-1] + o for p, o in zip(parts, points)] + [points[-1:]]),
            drawing_offsets=np.concatenate(
                [p.drawing_offsets[:-1] + o for p, o in zip(parts, strokes)] + [strokes[-1:]]),
            key_id=np.concatenate([p.key_id for p in parts]),
            timestamp=np.concatenate([p.timestamp for p in parts]),
            recognized=np.concatenate([p.recognized for p in parts]),
            word=[w for p in parts for w in p.word],
            countrycode=[c for p in parts for c in p.countrycode],
            line=np.concatenate([p.line for p in parts]),
        )

    def record(self, i: int) -> dict:
        """Drawing ``i`` as a line of the simplified format holds it (its timestamp to the
        second, in UTC)."""
        return {"word": self.word[i], "countrycode": self.countrycode[i],
                "timestamp": utc_text(int(self.timestamp[i])),
                "recognized": bool(self.recognized[i]), "key_id": str(int(self.key_id[i])),
                "drawing": [s.tolist() for s in self.strokes(i)]}

    def strokes(self, i: int) -> list[np.ndarray]:
        """Drawing ``i``'s strokes as (2, n) float64 arrays."""
        s0, s1 = self.drawing_offsets[i], self.drawing_offsets[i + 1]
        bounds = self.stroke_offsets[s0:s1 + 1]
        return [np.stack([self.x[a:b], self.y[a:b]]) for a, b in zip(bounds[:-1], bounds[1:])]

    @classmethod
    def from_dicts(cls, drawings: Sequence[dict]) -> Drawings:
        """Batch of notebook-style dicts (strokes as numpy arrays or nested lists)."""
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        stroke_lengths: list[int] = []
        strokes_per_drawing: list[int] = []
        for d in drawings:
            strokes = d["drawing"]
            strokes_per_drawing.append(len(strokes))
            for stroke in strokes:
                sx = np.asarray(stroke[0], dtype=np.float64)
                sy = np.asarray(stroke[1], dtype=np.float64)
                if sx.shape != sy.shape or sx.ndim != 1:
                    raise ValueError(
                        f"stroke x and y must be equal-length lists, got {sx.shape} and {sy.shape}"
                    )
                xs.append(sx)
                ys.append(sy)
                stroke_lengths.append(len(sx))
        return cls(
            x=np.concatenate(xs) if xs else np.zeros(0),
            y=np.concatenate(ys) if ys else np.zeros(0),
            stroke_offsets=offsets(stroke_lengths),
            drawing_offsets=offsets(strokes_per_drawing),
            key_id=np.array([_key_id(d["key_id"]) for d in drawings], dtype=np.int64),
            timestamp=np.array([utc_seconds(d["timestamp"]) for d in drawings], dtype=np.int64),
            recognized=np.array([bool(d["recognized"]) for d in drawings], dtype=bool),
            word=[d["word"] for d in drawings],
            countrycode=[d["countrycode"] for d in drawings],
            line=np.zeros(len(drawings), dtype=np.int64),
        )


def offsets(lengths: Sequence[int] | np.ndarray) -> np.ndarray:
    """int64 (N + 1,): 0, then the running total of ``lengths``."""
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def _ranges(first: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Concatenation of arange(f, f + c) for every (f, c)."""
    ends = np.cumsum(count)
    return np.arange(ends[-1] if len(ends) else 0) + np.repeat(first - (ends - count), count)
