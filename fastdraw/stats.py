"""`python -m fastdraw inspect`: what is in a class file, line by line checked.

Per class: lines, recognized, unrecognized and rejected drawings (with the first
reasons), the most frequent countries, strokes and points per drawing, and the
fields of one drawing as the file holds them.  Every line is read with
`fastdraw.ndjson.read_drawings`, so the numbers are those a build would see.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import orjson

from fastdraw.classes import with_close_matches
from fastdraw.groups import all_classes, sample_dir
from fastdraw.ndjson import Rejection, class_path, iter_lines, read_drawings

FIRST_REJECTIONS = 3
TOP_COUNTRIES = 5


def _summary(values: np.ndarray) -> dict:
    if not len(values):
        return {"mean": None, "median": None, "max": None}
    return {"mean": round(float(values.mean()), 3), "median": float(np.median(values)),
            "max": int(values.max())}


def class_stats(path: str | Path) -> dict:
    """Statistics of one ndjson(.gz) file (see the module docstring); JSON-ready."""
    rejections: list[Rejection] = []
    recognized = unrecognized = 0
    countries: Counter[str] = Counter()
    strokes, points = [], []
    first_line = 0
    for d in read_drawings(path, chunk_size=8192, unrecognized=True,
                           on_reject=rejections.append):
        r = int(d.recognized.sum())
        recognized += r
        unrecognized += len(d) - r
        countries.update(d.countrycode)
        strokes.append(np.diff(d.drawing_offsets))
        points.append(np.diff(d.stroke_offsets[d.drawing_offsets]))
        first_line = first_line or int(d.line[0])
    example = None
    if first_line:
        raw = next(raw for number, raw, _ in iter_lines(path) if number == first_line)
        example = {"line": first_line, "fields": orjson.loads(raw)}
    return {
        "file": str(path),
        "lines": recognized + unrecognized + len(rejections),
        "recognized": recognized,
        "unrecognized": unrecognized,
        "rejected": len(rejections),
        "first_rejections": [{"line": r.line, "reason": r.reason}
                             for r in rejections[:FIRST_REJECTIONS]],
        "countries": dict(countries.most_common(TOP_COUNTRIES)),
        "distinct_countries": len(countries),
        "strokes_per_drawing": _summary(np.concatenate(strokes) if strokes else np.zeros(0)),
        "points_per_drawing": _summary(np.concatenate(points) if points else np.zeros(0)),
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


def cli_inspect(args: argparse.Namespace) -> int:
    """`python -m fastdraw inspect CLASS... [--data DIR] [--json | --mosaic FILE.png]`.

    Exit 1 when a class file is missing or unreadable.
    """
    if args.mosaic:
        from fastdraw.preview import cli_mosaic

        return cli_mosaic(args)
    data = Path(args.data if args.data is not None else sample_dir())
    paths = {name: class_path(data, name) for name in args.classes}
    missing = [name for name, path in paths.items() if not path.exists()]
    where = "the bundled sample" if args.data is None else str(data)
    categories = all_classes()
    unknown = [name for name in missing if name not in categories]
    if unknown:
        names = ", ".join(with_close_matches(name, categories) for name in unknown)
        print(f"fastdraw inspect: error: no file for {names} in {where}, and no Quick, Draw! "
              "category has that name to download (`python -m fastdraw list` lists them)",
              file=sys.stderr)
        return 1
    if missing:
        names = ", ".join(repr(m) for m in missing)
        files = ", ".join(str(paths[m]) for m in missing)
        target = "data" if args.data is None else str(data)
        then = ", then add --data data" if args.data is None else ""
        print(f"fastdraw inspect: error: no file for class {names} in {where} (looked for "
              f"{files}); download it with: python -m fastdraw download --classes "
              f"{','.join(missing)!r} --data {target!r}{then}", file=sys.stderr)
        return 1
    try:
        stats = {name: class_stats(path) for name, path in paths.items()}
    except OSError as e:
        print(f"fastdraw inspect: error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(stats))
    else:
        print("\n\n".join(format_stats(name, s) for name, s in stats.items()))
    return 0
