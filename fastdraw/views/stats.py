"""What is in a class file, every item checked (`python -m fastdraw inspect`).

Per class: lines, recognized, unrecognized and rejected drawings (with the first
reasons), the most frequent countries, strokes and points per drawing, and the
fields of one drawing as the file holds them.  Every item is read by the file's source and
a drawing of another word than the class is a rejected line, as in a build, so the numbers
are those a build would see (but for a key_id an earlier line had, which a build rejects:
counting those would hold every key_id, memory that grows with the file).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from fastdraw.build.screen import drawing_text, other_word
from fastdraw.drawings import Drawings
from fastdraw.sources import Rejection, open_source
from fastdraw.sources.base import class_of_file

FIRST_REJECTIONS = 3
TOP_COUNTRIES = 5


def _count(histogram: Counter[int], values: np.ndarray) -> None:
    """Adds ``values`` to ``histogram`` (value -> how many times): what `_summary` needs,
    in memory that grows with the distinct values, not with the drawings."""
    distinct, counts = np.unique(values, return_counts=True)
    histogram.update(dict(zip(distinct.tolist(), counts.tolist())))


def _summary(histogram: Counter[int]) -> dict:
    """The mean, median and max of the values a histogram counts (numpy's, of the values)."""
    n = sum(histogram.values())
    if not n:
        return {"mean": None, "median": None, "max": None}
    values = sorted(histogram)
    ends = np.cumsum([histogram[v] for v in values])  # the rank after each value's run

    def at(rank: int) -> int:
        return values[int(np.searchsorted(ends, rank, side="right"))]

    median = float(at(n // 2)) if n % 2 else (at(n // 2 - 1) + at(n // 2)) / 2
    mean = sum(v * c for v, c in histogram.items()) / n
    return {"mean": round(mean, 3), "median": median, "max": values[-1]}


class _OfWord:
    """The screen (`fastdraw.sources.base.Screen`) of a build that keeps drawings of class
    ``name`` only (fastdraw.build.screen): a drawing of another word is a rejected line."""

    def __init__(self, name: str, file: str) -> None:
        self.name = name
        self.file = file

    def __call__(self, d: Drawings) -> tuple[Drawings, list[Rejection]]:
        reasons = other_word(d, self.name)
        if not reasons:
            return d, []
        rejections = [Rejection(self.file, int(d.line[i]), reason, drawing_text(d, i))
                      for i, reason in reasons.items()]
        return d.take(np.setdiff1d(np.arange(len(d)), list(reasons))), rejections


def class_stats(path: str | Path, name: str | None = None) -> dict:
    """Statistics of class ``name``'s file (default: the class its file name says; see the
    module docstring); JSON-ready."""
    if name is None:
        name = class_of_file(path)
    rejections: list[Rejection] = []  # the first FIRST_REJECTIONS
    rejected = 0
    recognized = unrecognized = 0
    countries: Counter[str] = Counter()
    strokes: Counter[int] = Counter()
    points: Counter[int] = Counter()
    first_line = 0
    source = open_source(path)

    def on_reject(r: Rejection) -> None:
        nonlocal rejected
        rejected += 1
        if len(rejections) < FIRST_REJECTIONS:
            rejections.append(r)

    for d in source.read(chunk_size=8192, unrecognized=True, on_reject=on_reject,
                         screen=_OfWord(name, str(path))):
        r = int(d.recognized.sum())
        recognized += r
        unrecognized += len(d) - r
        countries.update(d.countrycode)
        _count(strokes, np.diff(d.drawing_offsets))
        _count(points, np.diff(d.stroke_offsets[d.drawing_offsets]))
        first_line = first_line or int(d.line[0])
    example = None
    if first_line:
        example = {"line": first_line, "fields": source.fields(first_line)}
    return {
        "file": str(path),
        "lines": recognized + unrecognized + rejected,
        "recognized": recognized,
        "unrecognized": unrecognized,
        "rejected": rejected,
        "first_rejections": [{"line": r.line, "reason": r.reason} for r in rejections],
        "countries": dict(countries.most_common(TOP_COUNTRIES)),
        "distinct_countries": len(countries),
        "strokes_per_drawing": _summary(strokes),
        "points_per_drawing": _summary(points),
        "example": example,
    }


def _number(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"


def _drawing_text(drawing: list) -> str:
    n = sum(len(stroke[0]) for stroke in drawing)
    first = json.dumps(drawing[0], separators=(",", ":"))
    if len(first) > 60:
        first = first[:57] + "..."
    rows = "x, y, t" if len(drawing[0]) == 3 else "x, y"
    return f"{len(drawing)} strokes ({rows}), {n} points; the first: {first}"


def format_stats(name: str, s: dict) -> str:
    """The text `inspect` prints for one class."""
    out = [f"{name}  ({s['file']})",
           f"  lines            {s['lines']}",
           f"  recognized       {s['recognized']}",
           f"  unrecognized     {s['unrecognized']}",
           f"  rejected         {s['rejected']}"]
    out += [f"    line {r['line']}: {r['reason']}" for r in s["first_rejections"]]
    if s["rejected"] > len(s["first_rejections"]):
        out.append(f"    ... and {s['rejected'] - len(s['first_rejections'])} more")
    top = ", ".join(f"{c} {n}" for c, n in s["countries"].items())
    out.append(f"  countries        {s['distinct_countries']}" + (f": {top}" if top else ""))
    for key, label in (("strokes_per_drawing", "strokes/drawing"),
                       ("points_per_drawing", "points/drawing")):
        v = s[key]
        out.append(f"  {label:<16} mean {_number(v['mean'])}, median {_number(v['median'])}, "
                   f"max {_number(v['max'])}")
    if s["example"]:
        out.append(f"  one drawing (line {s['example']['line']}):")
        for field, value in s["example"]["fields"].items():
            text = _drawing_text(value) if field == "drawing" else json.dumps(value)
            out.append(f"    {field:<12} {text}")
    return "\n".join(out)
