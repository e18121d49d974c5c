"""Rasterizing: fastdraw's numba kernel against the notebook's PIL ``json_to_img`` and OpenCV.

Data: every real simplified drawing of the package's bundled sample (6,280 drawings of 345
classes, 39 segments each on average), once, at the notebook's ``img_64`` setting: 64 px, lw 4,
maximized.  Times are per drawing (``extra_info["items"]``).

- fastdraw: ``rasterize(drawings, 64, 4, True)``: one batch call, (6280, 64, 64) uint8 out,
  the notebook's float32 normalization included; its pixels are checked equal to the
  reference's.
- reference: ``reference.json_to_img(d, 64, 4, True)`` for each drawing (PIL).
- peers (pixels not identical: other line algorithm): ``cv2_polylines`` draws each drawing
  with one ``cv2.polylines(img, strokes, False, 255, 4)`` and ``cv2_line_loop`` with one
  ``cv2.line`` per segment (the Kaggle kernels' way), into a zeroed (6280, 64, 64) array.
  Their points are normalized and converted to int32 beforehand, outside the timed part:
  they are timed drawing only, fastdraw with its normalization.
- group "json_to_img drop-in": ``fastdraw.json_to_img`` (dict in, PIL image out, one
  drawing a call) against ``reference.json_to_img``.

The fastdraw benchmark of each group runs last and puts the per-drawing ratios (medians)
in ``extra_info`` (``speedup_vs_<name>``) and prints them (benchmarks/report.py reads the
same from the JSON).

    pytest benchmarks/bench_raster.py --benchmark-min-rounds=3
    python benchmarks/bench_raster.py      # the same comparison as a text table
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from fastdraw.drawings import Drawings
from fastdraw.kernels import raster
from fastdraw.notebook import dropins, reference
from fastdraw.sources.classes import sample_dir

SIMPLIFIED = Path(sample_dir())  # the bundled sample: 345 class files
IMG_SZ, LW = 64, 4


class Data:
    """The drawings in every form the contenders take."""

    def __init__(self) -> None:
        files = sorted(SIMPLIFIED.glob("*.ndjson"))
        assert len(files) == 345, f"expected 345 class files in {SIMPLIFIED}, found {len(files)}"
        lines = [line for f in files for line in f.read_text("utf-8").splitlines()]
        self.dicts = [reference.convert(line) for line in lines]
        self.drawings = Drawings.from_dicts(self.dicts)
        self.points = [_cv2_points(d) for d in self.dicts]


def _cv2_points(d: dict) -> list[np.ndarray]:
    """The notebook's normalized stroke points of one drawing as int32 (n, 2) arrays."""
    strokes = [np.asarray(s[:2], dtype=np.float32) for s in d["drawing"]]
    xy = np.concatenate(strokes, axis=1)
    low = xy.min(axis=1, keepdims=True) * np.float32(0.95)
    span = np.maximum(xy.max(axis=1, keepdims=True) * np.float32(1.05) - low, 1)
    return [((s - low) / span * IMG_SZ).astype(np.int32).T.copy() for s in strokes]


def fastdraw_batch(data: Data) -> np.ndarray:
    return raster.rasterize(data.drawings, img_sz=IMG_SZ, lw=LW, maximize=True)


def reference_each(data: Data) -> list:
    return [reference.json_to_img(d, img_sz=IMG_SZ, lw=LW, maximize=True) for d in data.dicts]


def cv2_polylines(data: Data) -> np.ndarray:
    out = np.zeros((len(data.points), IMG_SZ, IMG_SZ), dtype=np.uint8)
    for img, strokes in zip(out, data.points):
        cv2.polylines(img, strokes, False, 255, LW)
    return out


def cv2_line_loop(data: Data) -> np.ndarray:
    out = np.zeros((len(data.points), IMG_SZ, IMG_SZ), dtype=np.uint8)
    for img, strokes in zip(out, data.points):
        for s in strokes:
            for i in range(len(s) - 1):
                cv2.line(img, (int(s[i, 0]), int(s[i, 1])), (int(s[i + 1, 0]), int(s[i + 1, 1])),
                         255, LW)
    return out


def fastdraw_json_to_img(data: Data) -> list:
    return [dropins.json_to_img(d, img_sz=IMG_SZ, lw=LW, maximize=True) for d in data.dicts]


GROUPS: dict[str, dict[str, Callable[[Data], object]]] = {
    "raster 64px lw4": {"reference": reference_each, "cv2_polylines": cv2_polylines,
                        "cv2_line_loop": cv2_line_loop, "fastdraw": fastdraw_batch},
    "json_to_img drop-in": {"reference": reference_each, "fastdraw": fastdraw_json_to_img},
}

_medians: dict[tuple[str, str], float] = {}


@pytest.fixture(scope="module")
def data() -> Data:
    raster.warmup()
    data = Data()
    expected = np.stack([np.asarray(img) for img in reference_each(data)])
    np.testing.assert_array_equal(fastdraw_batch(data), expected)
    return data


def _run(benchmark, data: Data, group: str, name: str, capsys) -> None:
    benchmark.group = group
    benchmark.extra_info["items"] = len(data.dicts)
    benchmark(GROUPS[group][name], data)
    _medians[group, name] = benchmark.stats.stats.median
    if name != "fastdraw":
        return
    ratios = {other: _medians[group, other] / _medians[group, name]
              for other in GROUPS[group] if other != name and (group, other) in _medians}
    for other, ratio in ratios.items():
        benchmark.extra_info[f"speedup_vs_{other}"] = round(ratio, 2)
    with capsys.disabled():
        per = _medians[group, name] / len(data.dicts) * 1e6
        print(f"\n{group}: fastdraw {per:.2f} µs/drawing; "
              + ", ".join(f"{ratio:.1f}x {other}" for other, ratio in ratios.items()))


@pytest.mark.parametrize("group", list(GROUPS))
def test_reference(benchmark, data, group, capsys):
    _run(benchmark, data, group, "reference", capsys)


def test_cv2_polylines(benchmark, data, capsys):
    _run(benchmark, data, "raster 64px lw4", "cv2_polylines", capsys)


def test_cv2_line_loop(benchmark, data, capsys):
    _run(benchmark, data, "raster 64px lw4", "cv2_line_loop", capsys)


@pytest.mark.parametrize("group", list(GROUPS))
def test_fastdraw(benchmark, data, group, capsys):
    """Runs after the others (pytest keeps file order) so that it can quote the ratios."""
    _run(benchmark, data, group, "fastdraw", capsys)


def measure(rounds: int = 5) -> list[str]:
    """The table of ``python benchmarks/bench_raster.py``: medians of ``rounds`` runs."""
    raster.warmup()
    data = Data()
    rows = [f"{'group':<22} {'benchmark':<15} {'µs/drawing':>10} {'fastdraw is':>12}"]
    for group, funcs in GROUPS.items():
        medians = {}
        for name, func in funcs.items():
            times = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                func(data)
                times.append(time.perf_counter() - t0)
            medians[name] = statistics.median(times)
        for name, t in medians.items():
            rows.append(f"{group:<22} {name:<15} {t / len(data.dicts) * 1e6:>10.2f} "
                        f"{t / medians['fastdraw']:>11.1f}x")
    return rows


if __name__ == "__main__":
    print("6,280 real simplified drawings, 64 px, lw 4, maximized; medians of 5 runs",
          file=sys.stderr)
    print("\n".join(measure()))
