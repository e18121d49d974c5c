"""The Beam build on Beam's local runner against the local build, on the same input, in one
run: examples/s of whole `python -m fastdraw` processes (median of REPEAT runs), both kinds,
on the zoo classes' real drawings repeated for volume (as benchmarks/bench_build.py), and
a check that every run wrote the same bytes.  Each run builds both kinds in one process, with
the same splits.

    pytest benchmarks/bench_beam.py      # bench.sh's row "build img+stroke on Beam"
    python benchmarks/bench_beam.py [SCALE [REPEAT]]   # medians as JSON
    python benchmarks/bench_beam.py --encode-alone [SCALE]

Measured: the local build with 1 and 2 workers; the Beam build (`--runner beam`) in the
local runner's multi-processing mode with 2 worker processes and in its in-memory mode (one
process).  Peak RSS is given for the whole build (its largest process: with Beam's local
runner, the runner itself, which holds the shuffled records in memory) and, for the Beam
runs, for the largest of the SDK worker processes that run the build's steps (sampled
every 50 ms from /proc), and the range of a worker's RSS while it wrote windows (the build's
"worker MiB" distribution).  SCALE multiplies
the rounds (default 1: 2000 examples per class of each kind, 40000 in all).

With ``--encode-alone`` it runs the build's Encode step by itself in this process, class
after class as one worker would, and gives this process's RSS after each class: what the
step itself holds, without a runner's buffers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from bench_build import _LAUNCHER, CLASSES, make_data, splits_of

ROUNDS = 2000  # examples per class of each kind, at SCALE 1
KINDS = ("img", "stroke")
MODES = {
    "local_1w": ["--workers", "1"],
    "local_2w": ["--workers", "2"],
    "beam_multi_processing_2w": ["--workers", "2", "--runner", "beam"],
    "beam_in_memory": ["--runner", "beam", "--", "--direct_running_mode=in_memory"],
}


def _tree(pid: int) -> set[int]:
    """``pid`` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        found.add(p)
        todo.extend(children.get(p, []))
    return found


def _worker_peak(pid: int, stop: threading.Event, peak: list[int]) -> None:
    """The largest VmHWM (KiB) of the SDK worker processes under ``pid`` until ``stop``."""
    while not stop.wait(0.05):
        for p in _tree(pid):
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    if b"sdk_worker_main" not in f.read():
                        continue
                with open(f"/proc/{p}/status") as f:
                    hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
            except (OSError, StopIteration):
                continue
            peak[0] = max(peak[0], hwm)


_WINDOW_MIB = re.compile(r"a worker held (\d+)-(\d+) MiB while it wrote a window")


def run(args: list[str]) -> tuple[float, int, int, tuple[int, int] | None]:
    """``python -m fastdraw ARGS``: seconds, peak RSS of its largest process and of its largest
    SDK worker (KiB), and the range of a worker's RSS (MiB) while it wrote windows (Beam)."""
    t0 = time.perf_counter()
    # Through bench_build's small launcher: a build exec'd straight from this (big) process
    # would report this one's RSS as its own peak.
    proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    stop, peak = threading.Event(), [0]
    watcher = threading.Thread(target=_worker_peak, args=(proc.pid, stop, peak))
    watcher.start()
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - t0
    stop.set()
    watcher.join()
    if proc.returncode != 0:
        raise RuntimeError(f"python -m fastdraw {' '.join(args)} failed:\n{stderr}")
    held = _WINDOW_MIB.search(stderr)
    return seconds, int(stdout), peak[0], (int(held[1]), int(held[2])) if held else None


PYTEST_ROUNDS = 500  # examples per class and kind of the pytest runs (10,000 in all)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_data(tmp_path_factory.mktemp("data"), PYTEST_ROUNDS)


@pytest.mark.parametrize("mode", list(MODES)[1:])
def test_build_on_beam(benchmark, data, tmp_path, mode):
    """The local build with 2 workers ("fastdraw") and the Beam build on Beam's local runner
    (peers), whole processes on the same input: bench.sh's row of the Beam build."""
    out = tmp_path / "out"
    split = ",".join(f"{k}={v}" for k, v in splits_of(PYTEST_ROUNDS).items())
    cli = ["--classes", ",".join(CLASSES), "--data", str(data), "--offline", "--out", str(out),
           "--kind", ",".join(KINDS), "--splits", split, "--overwrite"]
    before, sep, after = " ".join(MODES[mode]).partition(" -- ")
    args = [*cli, *before.split(), *(["--", *after.split()] if sep else [])]
    benchmark.group = "build img+stroke on Beam"
    benchmark.name = "fastdraw_local_2w" if mode == "local_2w" else mode
    benchmark.extra_info["items"] = PYTEST_ROUNDS * len(CLASSES) * len(KINDS)
    benchmark.pedantic(run, args=(args,), rounds=3, iterations=1)


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


def measure(scale: float = 1.0, repeat: int = 3) -> dict:
    rounds = int(ROUNDS * scale)
    examples = rounds * len(CLASSES) * len(KINDS)
    split = ",".join(f"{k}={v}" for k, v in splits_of(rounds).items())
    figures: dict = {"classes": len(CLASSES), "examples": examples, "repeat": repeat}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = make_data(root / "data", rounds)
        digests = set()
        for mode, extra in MODES.items():
            runs = []
            for _ in range(repeat):
                out = root / "out"
                cli = ["--classes", ",".join(CLASSES), "--data", str(data), "--offline",
                       "--out", str(out), "--kind", ",".join(KINDS), "--splits", split]
                before, sep, after = " ".join(extra).partition(" -- ")
                runs.append(run([*cli, *before.split(), *(["--", *after.split()] if sep else [])]))
                digests.add(tuple(_digest(out / f"custom_{k}") for k in KINDS))
                shutil.rmtree(out)
            median = statistics.median(r[0] for r in runs)
            figures[mode] = {
                "seconds": round(median, 2), "examples_per_s": round(examples / median),
                "peak_rss_mib": round(max(r[1] for r in runs) / 1024, 1),
                "worker_peak_rss_mib": round(max(r[2] for r in runs) / 1024, 1) or None,
                "worker_mib_while_writing_windows": [
                    min(r[3][0] for r in runs), max(r[3][1] for r in runs)] if runs[0][3]
                else None}
        figures["same_bytes"] = len(digests) == 1
    local = figures["local_2w"]["examples_per_s"]
    for mode in MODES:
        figures[mode]["local_2w_over_this"] = round(local / figures[mode]["examples_per_s"], 2)
    return figures


def encode_alone(scale: float = 1.0) -> dict:
    """RSS (MiB) of this process after the Encode step of each class, in turn."""
    from fastdraw.beam.driver import storage_options
    from fastdraw.beam.pipeline import Job, _Encode, _plans
    from fastdraw.build import BuildOptions
    from fastdraw.build.checks import checked_codecs
    from fastdraw.build.finish import versions

    rounds = int(ROUNDS * scale)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "data"
        # Made by another process, whose memory this one's RSS does not keep.
        subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; from "
                        "bench_build import make_data; make_data(Path(sys.argv[1]), "
                        "int(sys.argv[2]))", str(data), str(rounds)],
                       cwd=Path(__file__).parent, check=True)
        (root / "work" / ".beam").mkdir(parents=True)
        opts = storage_options(BuildOptions(
            classes=list(CLASSES), files=[data / f"{c}.ndjson" for c in CLASSES], name="b",
            out=root, splits={kind: splits_of(rounds) for kind in KINDS}, progress=False))
        codecs = checked_codecs(opts)
        job = Job(opts, codecs, root / "work", versions(), 32 << 20,
                  {"img": 7000, "stroke": 900})
        plans = _plans([], job)
        step, mib = _Encode(job), []
        for label in range(len(CLASSES)):
            for _ in step.process(label, plans):
                pass
            with open("/proc/self/statm") as f:
                mib.append(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20)
    return {"rounds": rounds, "classes": len(CLASSES), "rss_mib_after_each_class": mib}


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Beam build against the local build, JSON.")
    parser.add_argument("scale", nargs="?", type=float, default=1.0,
                        help="multiplies the rounds (default 1: 2000 a class and kind)")
    parser.add_argument("repeat", nargs="?", type=int, default=3, help="runs per figure")
    parser.add_argument("--encode-alone", action="store_true",
                        help="the Encode step alone in this process: RSS after each class")
    args = parser.parse_args()
    figures = encode_alone(args.scale) if args.encode_alone else measure(args.scale, args.repeat)
    print(json.dumps(figures, indent=2))
