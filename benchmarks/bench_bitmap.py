"""The official bitmaps: fastdraw's numba port of cairo against cairo itself (cairocffi over
the system's libcairo 1.16, where importable) and the notebook's PIL rasterizer; and the
whole ``python -m fastdraw bitmaps`` process for a class.

Data: every real simplified drawing of the package's bundled sample (6,280 drawings of 345
classes, 5.2 strokes and 45 points each on average), once.  Times are per drawing
(``extra_info["items"]``).

- fastdraw: ``official_bitmaps(drawings, 28)``: one batch call, (6280, 28, 28) uint8 out;
  its pixels are checked equal to cairo's where cairo is importable.
- reference_cairocffi: ``tests/cairo_oracle.py``'s ``cairo_bitmap`` for each drawing: the
  recipe drawn by cairo (a surface, a context and a stroke per stroke; what one would write
  with cairocffi).  Skipped where cairocffi cannot load a libcairo 1.16.
- notebook_pil_64px: the notebook's ``json_to_img(d, 64, 4)`` for each drawing (Pillow; not
  the same picture: the notebook's own 64 px images).
- group "bitmaps process": ``python -m fastdraw bitmaps --classes eye`` with 1 worker, a
  whole process (start-up and numba's cache loading included), on a class file of 20,000
  lines: the sample's real eye drawings repeated with new key_ids.

    pytest benchmarks/bench_bitmap.py --benchmark-min-rounds=3
    python benchmarks/bench_bitmap.py     # drawings/s in CPU time (steadier on a busy machine)
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # run as a script too
from cairo_oracle import CAIRO, WHY_NOT, cairo_bitmap  # noqa: E402
from realdata import simplified_files  # noqa: E402

from fastdraw.drawings import Drawings  # noqa: E402
from fastdraw.kernels import bitmap  # noqa: E402
from fastdraw.notebook import reference  # noqa: E402
from fastdraw.sources.classes import sample_dir  # noqa: E402

GROUP = "official bitmap 28px"
PROCESS_LINES = 20_000


class Data:
    """The drawings in every form the contenders take."""

    def __init__(self) -> None:
        lines = [line for f in simplified_files() for line in f.read_text("utf-8").splitlines()]
        self.dicts = [reference.convert(line) for line in lines]
        self.drawings = Drawings.from_dicts(self.dicts)
        self.strokes = [[s.tolist() for s in d["drawing"]] for d in self.dicts]


@pytest.fixture(scope="module")
def data() -> Data:
    bitmap.warmup()
    data = Data()
    if CAIRO is not None:
        ours = bitmap.official_bitmaps(data.drawings)
        for i in range(0, len(data.strokes), 10):
            np.testing.assert_array_equal(ours[i], cairo_bitmap(data.strokes[i]))
    return data


def _run(benchmark, data: Data, fn) -> None:
    benchmark.group = GROUP
    benchmark.extra_info["items"] = len(data.dicts)
    benchmark(fn, data)


@pytest.mark.skipif(CAIRO is None, reason=f"no cairo 1.16 to compare with: {WHY_NOT}")
def test_reference_cairocffi(benchmark, data):
    _run(benchmark, data, lambda d: [cairo_bitmap(s) for s in d.strokes])


def test_notebook_pil_64px(benchmark, data):
    _run(benchmark, data, lambda d: [reference.json_to_img(x, 64, 4) for x in d.dicts])


def test_fastdraw(benchmark, data):
    _run(benchmark, data, lambda d: bitmap.official_bitmaps(d.drawings))


@pytest.fixture(scope="module")
def eye_class(tmp_path_factory) -> Path:
    """A data directory with eye.ndjson: the sample's real eye drawings repeated to
    PROCESS_LINES lines, each with a new key_id."""
    data = tmp_path_factory.mktemp("bitmaps")
    lines = (Path(sample_dir()) / "eye.ndjson").read_text("utf-8").splitlines()
    out = []
    for i in range(PROCESS_LINES):
        d = json.loads(lines[i % len(lines)])
        d["key_id"] = str(10**12 + i)
        out.append(json.dumps(d, separators=(",", ":")))
    (data / "eye.ndjson").write_text("\n".join(out) + "\n", encoding="utf-8")
    return data


def test_fastdraw_bitmaps_process(benchmark, eye_class, tmp_path):
    command = [sys.executable, "-m", "fastdraw", "bitmaps", "--classes", "eye", "--data",
               str(eye_class), "--out", str(tmp_path / "out"), "--workers", "1",
               "--overwrite"]
    subprocess.run(command, check=True, capture_output=True)  # numba's cache filled

    def run() -> None:
        subprocess.run(command, check=True, capture_output=True)

    benchmark.group = "bitmaps process, 1w"
    benchmark.extra_info["items"] = PROCESS_LINES
    benchmark.pedantic(run, rounds=3, iterations=1)
    assert np.load(tmp_path / "out" / "eye.npy").shape == (PROCESS_LINES, 784)


def measure(rounds: int = 5) -> list[str]:
    """``python benchmarks/bench_bitmap.py``: drawings per second of CPU time (this process's,
    medians of ``rounds``), each contender on every sample drawing."""
    bitmap.warmup()
    data = Data()
    contenders = {"fastdraw (numba)": lambda: bitmap.official_bitmaps(data.drawings),
                  "notebook PIL 64px": lambda: [reference.json_to_img(x, 64, 4)
                                                for x in data.dicts]}
    if CAIRO is not None:
        contenders["cairocffi"] = lambda: [cairo_bitmap(s) for s in data.strokes]
    rates = {}
    for name, fn in contenders.items():
        times = []
        for _ in range(rounds):
            t0 = time.process_time()
            fn()
            times.append(time.process_time() - t0)
        rates[name] = len(data.dicts) / statistics.median(times)
    ours = rates["fastdraw (numba)"]
    return [f"{name:<18} {rate:>9.0f} drawings/s  (fastdraw: {ours / rate:.1f}x)"
            for name, rate in rates.items()]


if __name__ == "__main__":
    print("6,280 real simplified drawings, 28x28 official bitmaps; CPU time, medians of 5",
          file=sys.stderr)
    print("\n".join(measure()))
