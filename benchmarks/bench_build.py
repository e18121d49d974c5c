"""Whole builds: `python -m fastdraw` (a whole process) against the notebook's pipeline.

The reference is the notebook's way, in-process: ``reference.make_sharded_files``
with ``make_example_img`` / ``make_example_stroke`` over ``loaditer`` (TensorFlow
already imported, as in the notebook).  fastdraw is timed as a whole process,
start-up, numba cache loading and worker forks included, with 1 and 2 workers.
Both read the same real drawings of the zoo classes from the package's bundled sample,
repeated with new key_ids for volume; times are per example (``extra_info["items"]``), so
the reference can run on fewer examples than fastdraw.

Also measured: peak RSS of the build (the largest process of its tree) on an
input 10 times larger than a smaller one (10x drawings per class, 10x the examples).

    pytest benchmarks/bench_build.py --benchmark-min-rounds=3
    python benchmarks/bench_build.py [SCALE [REPEAT]] [--main-job [PAIRS]]   # medians as JSON

With ``--main-job`` the script also times the issue's main job, ``python -m fastdraw
--group animals`` with the default splits (3.31M examples of 43 classes, both kinds),
with 1 and 2 workers: there the fixed start-up is a few percent of a run; and the same job
from the official binary files of the same drawings (``convert --to binary``), whose
datasets are byte-identical, against it.

The pytest runs are kept small (under 2 minutes in all), so fastdraw's fixed cost
(~0.7 s: interpreter and imports ~0.5 s, loading the numba kernels ~0.2 s, forking)
weighs on them.  The script's default SCALE=4 runs 4x larger builds (120k img, 400k stroke
examples), closer to the notebook's datasets (70k img, 700k stroke examples for zoo), and
quotes medians of REPEAT=3 runs.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import pytest

from fastdraw.notebook import reference
from fastdraw.sources.classes import ANIMALS, ZOO, sample_dir

SIMPLIFIED = Path(sample_dir())  # the bundled sample: one <class>.ndjson per class
CLASSES = ZOO
SPLIT_FRACTIONS = (("train", 0.8), ("eval", 0.1), ("test", 0.1))
# Rounds (examples per class) of each run.
REFERENCE_ROUNDS = {"img": 300, "stroke": 1500}
FASTDRAW_ROUNDS = {"img": 3000, "stroke": 10000}
RSS_ROUNDS = 1000  # the smaller RSS run; the larger one has 10x
_KEY_ID = re.compile(r'"key_id":\s*"\d+"')


def splits_of(rounds: int) -> dict[str, int]:
    """``rounds`` examples per class as train/eval/test 80/10/10."""
    out = {name: int(rounds * f) for name, f in SPLIT_FRACTIONS}
    out["train"] += rounds - sum(out.values())
    return out


def make_data(directory: Path, recognized: int, classes: Sequence[str] = CLASSES) -> Path:
    """``<class>.ndjson`` of every class: its real lines repeated until ``recognized`` of them
    are recognized, each with a new key_id."""
    directory.mkdir(parents=True, exist_ok=True)
    for j, name in enumerate(classes):
        lines = (SIMPLIFIED / f"{name}.ndjson").read_text("utf-8").splitlines()
        flags = [json.loads(line)["recognized"] for line in lines]
        out, good, i = [], 0, 0
        while good < recognized:
            line = lines[i % len(lines)]
            out.append(_KEY_ID.sub(f'"key_id":"{(j + 1) * 10**15 + i}"', line, count=1))
            good += flags[i % len(lines)]
            i += 1
        (directory / f"{name}.ndjson").write_text("\n".join(out) + "\n", encoding="utf-8")
    return directory


# Runs `python -m fastdraw ARGS` and prints the peak RSS (KiB) of its largest process.  The
# build is forked from this small launcher, not from the (big) benchmark process: a child
# exec'd straight from a big process reports the big one's RSS as its own peak.
_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-m", "fastdraw", *sys.argv[1:]])
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


class Run(NamedTuple):
    peak_rss_kib: int  # of the build's largest process (the main one or a worker)
    phase_seconds: float  # its two parallel phases (encode, write), from its log


_PHASES = re.compile(r"(?:encoded|wrote \d+ shard files \([^)]*\)) in ([\d.]+) s")


def run_fastdraw(data: Path, out: Path, kind: str, rounds: int, workers: int) -> Run:
    """`python -m fastdraw` as a child process."""
    splits = ",".join(f"{k}={v}" for k, v in splits_of(rounds).items())
    return run_cli(["--classes", ",".join(CLASSES), "--data", str(data), "--offline",
                    "--out", str(out), "--kind", kind, "--splits", splits,
                    "--workers", str(workers), "--overwrite"])


def run_cli(args: list[str]) -> Run:
    """`python -m fastdraw ARGS` as a child process."""
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, *args], capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError(f"python -m fastdraw {' '.join(args)} failed ({done.returncode}):\n"
                           f"{done.stderr}")
    return Run(int(done.stdout), sum(map(float, _PHASES.findall(done.stderr))))


def run_reference(data: Path, out: Path, kind: str, rounds: int) -> None:
    """The notebook's cell: make_sharded_files over loaditer, in this process."""
    make_example = {"img": reference.make_example_img,
                    "stroke": reference.make_example_stroke}[kind]
    random.seed(0)
    reference.make_sharded_files(
        make_example, str(out), CLASSES,
        [reference.loaditer(name, data_path=str(data)) for name in CLASSES],
        splits_of(rounds), overwrite=True, report_dt=0)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_data(tmp_path_factory.mktemp("data"), 10 * RSS_ROUNDS)


@pytest.fixture(scope="module")
def tf():
    import tensorflow

    return tensorflow


def _fresh(path: Path):
    def setup():
        shutil.rmtree(path, ignore_errors=True)
    return setup


@pytest.mark.parametrize("kind", ["img", "stroke"])
@pytest.mark.parametrize("workers", [1, 2])
def test_build_reference(benchmark, data, tmp_path, tf, kind, workers):
    benchmark.group = f"build {kind}, {workers} worker{'s' * (workers > 1)}"
    benchmark.extra_info["items"] = REFERENCE_ROUNDS[kind] * len(CLASSES)
    benchmark.pedantic(run_reference, args=(data, tmp_path / "ref", kind, REFERENCE_ROUNDS[kind]),
                       setup=_fresh(tmp_path / "ref"), rounds=3, iterations=1)


@pytest.mark.parametrize("kind", ["img", "stroke"])
@pytest.mark.parametrize("workers", [1, 2])
def test_build_fastdraw(benchmark, data, tmp_path, kind, workers):
    benchmark.group = f"build {kind}, {workers} worker{'s' * (workers > 1)}"
    benchmark.extra_info["items"] = FASTDRAW_ROUNDS[kind] * len(CLASSES)
    benchmark.extra_info["workers"] = workers
    benchmark.pedantic(run_fastdraw, args=(data, tmp_path, kind, FASTDRAW_ROUNDS[kind], workers),
                       setup=_fresh(tmp_path / f"custom_{kind}"), rounds=3, iterations=1)


def test_build_fastdraw_peak_rss_10x_input(benchmark, data, tmp_path_factory):
    """Both kinds, 2 workers: peak RSS of a build on 10x the drawings (and examples) of a
    smaller one, in ``extra_info`` (the time is the larger build's)."""
    small = run_fastdraw(make_data(tmp_path_factory.mktemp("small"), RSS_ROUNDS),
                         tmp_path_factory.mktemp("rss-small"), "img,stroke", RSS_ROUNDS, 2)
    benchmark.group = "build img+stroke, 2 workers, 10x input (peak RSS)"
    benchmark.extra_info["items"] = 10 * RSS_ROUNDS * len(CLASSES) * 2
    large = benchmark.pedantic(
        run_fastdraw, args=(data, tmp_path_factory.mktemp("rss-10x"), "img,stroke",
                            10 * RSS_ROUNDS, 2), rounds=1, iterations=1)
    benchmark.extra_info["peak_rss_kib"] = {"small": small.peak_rss_kib,
                                            "10x": large.peak_rss_kib}
    benchmark.extra_info["rss_ratio_10x"] = round(large.peak_rss_kib / small.peak_rss_kib, 3)


def _median_rate(examples: int, run: Callable[[], object], repeat: int
                 ) -> tuple[float, list[object]]:
    """Median examples/s of ``repeat`` runs of ``run`` (these machines are noisy), and what
    the runs returned."""
    seconds, returned = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        returned.append(run())
        seconds.append(time.perf_counter() - t0)
    return examples / statistics.median(seconds), returned


def measure(scale: float = 4.0, repeat: int = 3) -> dict:
    """Every figure of this file, as a dict: median examples/s of ``repeat`` runs of the
    reference and of fastdraw (1 and 2 workers) per kind, their ratios, and peak RSS for a
    10x input.  ``scale`` multiplies fastdraw's and the RSS runs' sizes."""
    import tensorflow  # noqa: F401 - the notebook has it imported before it seeds random

    fast_rounds = {k: int(v * scale) for k, v in FASTDRAW_ROUNDS.items()}
    rss_rounds = int(RSS_ROUNDS * scale)
    figures: dict = {"classes": len(CLASSES), "repeat": repeat}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = make_data(root / "data", max(10 * rss_rounds, *fast_rounds.values()))
        for kind in ("img", "stroke"):
            def reference_run(kind=kind):
                run_reference(data, root / "ref", kind, REFERENCE_ROUNDS[kind])
                shutil.rmtree(root / "ref")
            ref, _ = _median_rate(REFERENCE_ROUNDS[kind] * len(CLASSES), reference_run, repeat)
            row = {"reference_examples_per_s": round(ref),
                   "fastdraw_examples": fast_rounds[kind] * len(CLASSES)}
            phases = {}
            for workers in (1, 2):
                def fastdraw_run(kind=kind, workers=workers):
                    done = run_fastdraw(data, root / "out", kind, fast_rounds[kind], workers)
                    shutil.rmtree(root / "out")
                    return done
                rate, runs = _median_rate(fast_rounds[kind] * len(CLASSES), fastdraw_run, repeat)
                row[f"fastdraw_{workers}w_examples_per_s"] = round(rate)
                row[f"ratio_{workers}w"] = round(rate / ref, 1)
                phases[workers] = statistics.median(r.phase_seconds for r in runs)
            row["speedup_2w_over_1w"] = round(
                row["fastdraw_2w_examples_per_s"] / row["fastdraw_1w_examples_per_s"], 2)
            # Start-up (imports, numba loading, forks) and the final files run on one core
            # whatever the workers; the parallel phases show how the pool itself scales.
            row["phases_2w_over_1w"] = round(phases[1] / phases[2], 2)
            figures[kind] = row
        small = make_data(root / "small", rss_rounds)
        rss = {}
        for label, src, rounds in (("small", small, rss_rounds), ("10x", data, 10 * rss_rounds)):
            rss[label] = run_fastdraw(src, root / label, "img,stroke", rounds, 2).peak_rss_kib
        figures["peak_rss_mib"] = {k: round(v / 1024, 1) for k, v in rss.items()}
        figures["peak_rss_ratio_10x"] = round(rss["10x"] / rss["small"], 3)
    return figures


def measure_cold_start(repeat: int = 3) -> dict:
    """Seconds of the README's quick start (`--group zoo --sample`, 180 examples) as a whole
    process: on a fresh numba cache (every kernel compiled: a machine where the install did
    not compile them), after `python -m fastdraw compile` (what `pip install` runs), and the
    compile itself; medians of ``repeat`` runs, cold and warm alternating."""
    runs: dict[str, list[float]] = {"cold": [], "compile": [], "warm": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i in range(repeat):
            for label, cache, args in (
                    ("cold", "empty", ["--group", "zoo", "--sample", "--out"]),
                    ("compile", "compiled", ["compile"]),
                    ("warm", "compiled", ["--group", "zoo", "--sample", "--out"])):
                env = {**os.environ, "NUMBA_CACHE_DIR": str(root / f"{cache}-{i}")}
                out = [str(root / f"out-{label}-{i}")] if label != "compile" else []
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "fastdraw", *args, *out], env=env,
                               check=True, capture_output=True)
                runs[label].append(time.perf_counter() - t0)
    return {"repeat": repeat, **{k: round(statistics.median(v), 2) for k, v in runs.items()}}


# The main job: `python -m fastdraw --group animals` with the default splits, both
# kinds (img 7000 and stroke 70000 examples per class).
MAIN_JOB_RECOGNIZED = 70_000
MAIN_JOB_DISK = 12 << 30  # bytes it needs: 1.9 GB of input, 4.2 GB of datasets, the spool


def _input_bytes_per_drawing(data: Path, suffix: str) -> float:
    """Bytes of the class files of ``data`` per drawing they hold."""
    from fastdraw.sources import read_drawings

    files = sorted(data.glob(f"*{suffix}"))
    drawings = sum(len(d) for f in files
                   for d in read_drawings(f, unrecognized=True, chunk_size=1 << 16))
    return sum(f.stat().st_size for f in files) / drawings


def measure_main_job(repeat: int = 3) -> dict:
    """Median seconds of ``repeat`` runs of the main job with 1 and 2 workers (alternating),
    on the animal classes' real drawings repeated to 70k recognized each, and how the whole
    process and its parallel phases scale; then the same from the binary files of those
    drawings (each run beside its ndjson one) and its time as a fraction of the ndjson's."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        free = shutil.disk_usage(root).free
        if free < MAIN_JOB_DISK:
            return {"skipped": f"needs {MAIN_JOB_DISK >> 30} GiB free in {root.parent}, "
                               f"has {free / (1 << 30):.1f}"}
        data = make_data(root / "data", MAIN_JOB_RECOGNIZED, ANIMALS)
        binary = root / "binary"
        subprocess.run([sys.executable, "-m", "fastdraw", "convert", "--to", "binary",
                        "--classes", ",".join(ANIMALS), "--data", str(data), "--out",
                        str(binary)], check=True, capture_output=True)
        runs: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
        from_binary: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(repeat):
            for workers in (1, 2):
                for source in (data, binary):
                    t0 = time.perf_counter()
                    done = run_cli(["--group", "animals", "--data", str(source), "--offline",
                                    "--out", str(root / "out"), "--workers", str(workers)])
                    seconds = time.perf_counter() - t0
                    if source == data:
                        runs[workers].append((seconds, done.phase_seconds))
                    else:
                        from_binary[workers].append(seconds)
                    examples = sum(sum(json.loads((root / "out" / f"animals_{kind}" /
                                                   "counts.json").read_text()).values())
                                   for kind in ("img", "stroke"))
                    shutil.rmtree(root / "out")
        per_drawing = {"ndjson": round(_input_bytes_per_drawing(data, ".ndjson"), 1),
                       "binary": round(_input_bytes_per_drawing(binary, ".bin"), 1)}
    seconds = {w: statistics.median(t for t, _ in r) for w, r in runs.items()}
    phases = {w: statistics.median(p for _, p in r) for w, r in runs.items()}
    binary_seconds = {w: statistics.median(t) for w, t in from_binary.items()}
    return {"classes": len(ANIMALS), "examples": examples, "repeat": repeat,
            # The same job from the .bin files, against the ndjson run beside each.
            "binary": {"seconds": {f"{w}w": round(t, 2) for w, t in binary_seconds.items()},
                       "vs_ndjson": {f"{w}w": round(t / seconds[w], 2)
                                     for w, t in binary_seconds.items()},
                       "pairs_vs_ndjson": {f"{w}w": [round(b / a[0], 2) for a, b in
                                                     zip(runs[w], from_binary[w])]
                                           for w in (1, 2)},
                       "input_bytes_per_drawing": per_drawing},
            "seconds": {f"{w}w": round(t, 2) for w, t in seconds.items()},
            "examples_per_s": {f"{w}w": round(examples / t) for w, t in seconds.items()},
            "speedup_2w_over_1w": round(seconds[1] / seconds[2], 2),
            "phases_2w_over_1w": round(phases[1] / phases[2], 2),
            # Each pair ran back to back: their spread shows how much the host moved.
            "pairs_2w_over_1w": [round(a[0] / b[0], 2) for a, b in zip(runs[1], runs[2])]}


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Whole-build figures, as JSON on stdout.")
    parser.add_argument("scale", nargs="?", type=float, default=4.0,
                        help="multiplies the builds' sizes (default 4: 120k img, 400k stroke)")
    parser.add_argument("repeat", nargs="?", type=int, default=3, help="runs per figure")
    parser.add_argument("--main-job", nargs="?", type=int, const=3, metavar="PAIRS",
                        help="also time the main job, PAIRS runs with 1 and 2 workers each")
    parser.add_argument("--cold-start", type=int, default=1, metavar="RUNS",
                        help="runs of the quick start on a fresh numba cache and after "
                             "`fastdraw compile` (default: %(default)s)")
    args = parser.parse_args()
    figures = measure(args.scale, args.repeat)
    figures["cold_start"] = measure_cold_start(args.cold_start)
    if args.main_job:
        figures["main_job"] = measure_main_job(args.main_job)
    print(json.dumps(figures, indent=2))
