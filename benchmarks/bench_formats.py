"""Sizes and rates per image encoding and shard compression, all in one run.

For every image encoding (int64, bytes, png) and compression (none, gzip, zlib), an img build
of the zoo classes' real drawings (repeated for volume), and a stroke build per compression:

- bytes per example on disk (the shard files, as written);
- build examples/s: whole ``python -m fastdraw`` processes with 2 workers, median of REPEAT;
- tf.data read examples/s: a ``fastdraw.data.img_dataset`` / ``stroke_dataset`` pipeline over
  the train split in batches of 100, read whole REPEAT times after a first read (which
  traces its functions and fills the page cache), median.

Also the PNG encoder's choice: every real drawing of the bundled sample at 64 px lw 4 as a
1-bit PNG (what a build writes) and as an 8-bit one, at zlib level 1 (the build's) and 6
(zlib's default): bytes a PNG and encode time a drawing.  The issue's goals are png against
int64, uncompressed: at least 5x smaller, at least 0.5x the build rate, read at least as
fast.

    python benchmarks/bench_formats.py [ROUNDS [REPEAT]]   # figures as JSON on stdout
"""

from __future__ import annotations

import json
import shutil
import statistics
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
from bench_build import CLASSES, make_data, run_cli, splits_of

from fastdraw.codecs.img import ENCODINGS
from fastdraw.dataset.tfrecord import COMPRESSIONS

BATCH = 100
GOALS = {"smaller": 5.0, "build": 0.5, "read": 1.0}  # png against int64, uncompressed


def _formats() -> list[tuple[str, str, str]]:
    """(kind, image encoding, compression) of every build."""
    return ([("img", e, c) for e in ENCODINGS for c in COMPRESSIONS]
            + [("stroke", "-", c) for c in COMPRESSIONS])


def _build(data: Path, out: Path, kind: str, encoding: str, compression: str,
           rounds: int) -> float:
    splits = ",".join(f"{k}={v}" for k, v in splits_of(rounds).items())
    args = ["--classes", ",".join(CLASSES), "--data", str(data), "--offline", "--out", str(out),
            "--kind", kind, "--splits", splits, "--workers", "2", "--overwrite",
            "--compression", compression]
    if kind == "img":
        args += ["--img-encoding", encoding]
    t0 = time.perf_counter()
    run_cli(args)
    return time.perf_counter() - t0


def _reads(path: Path, kind: str, repeat: int) -> tuple[int, list[float]]:
    """Examples of the train split and the seconds of each of ``repeat`` reads of them all
    through one fastdraw.data pipeline, after a first read (which traces its functions)."""
    from fastdraw.data import img_dataset, stroke_dataset

    reader = img_dataset if kind == "img" else stroke_dataset
    dataset = reader(path, "train", batch_size=BATCH)
    n = sum(int(batch[-1].shape[0]) for batch in dataset)
    seconds = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _batch in dataset:
            pass
        seconds.append(time.perf_counter() - t0)
    return n, seconds


def measure(rounds: int = 4000, repeat: int = 3) -> dict:
    """Every figure of this file, as a dict (see the module docstring)."""
    import tensorflow  # noqa: F401 - imported once, before any read is timed

    examples = rounds * len(CLASSES)
    figures: dict = {"classes": len(CLASSES), "examples": examples, "repeat": repeat,
                     "batch": BATCH, "formats": {}}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = make_data(root / "data", rounds)
        for kind, encoding, compression in _formats():
            out = root / f"{kind}-{encoding}-{compression}"
            seconds = [_build(data, out, kind, encoding, compression, rounds)
                       for _ in range(repeat)]
            dataset = out / f"custom_{kind}"
            on_disk = sum(p.stat().st_size for p in dataset.glob("*-of-*"))
            read, read_seconds = _reads(dataset, kind, repeat)
            figures["formats"][f"{kind} {encoding} {compression}"] = {
                "bytes_per_example": round(on_disk / examples, 1),
                "build_examples_per_s": round(examples / statistics.median(seconds)),
                "read_examples_per_s": round(read / statistics.median(read_seconds)),
            }
            shutil.rmtree(out)
    figures["png_variants"] = png_variants(repeat)
    figures["goals"] = goals(figures["formats"])
    return figures


def goals(formats: dict) -> dict:
    """png against int64, both uncompressed: how much smaller, the build and read rates."""
    png, int64 = formats["img png none"], formats["img int64 none"]
    got = {"smaller": int64["bytes_per_example"] / png["bytes_per_example"],
           "build": png["build_examples_per_s"] / int64["build_examples_per_s"],
           "read": png["read_examples_per_s"] / int64["read_examples_per_s"]}
    return {name: {"ratio": round(value, 2), "goal": GOALS[name], "met": value >= GOALS[name]}
            for name, value in got.items()}


def _png_8bit(images: np.ndarray, level: int) -> list[bytes]:
    """8-bit grayscale PNGs, filter 0, zlib ``level``: the alternative the build does not take."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body))

    n, h, w = images.shape
    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    rows = np.zeros((n, h, 1 + w), dtype=np.uint8)
    rows[:, :, 1:] = images
    return [head + chunk(b"IDAT", zlib.compress(r, level)) + chunk(b"IEND", b"") for r in rows]


def png_variants(repeat: int) -> dict:
    """Bytes a PNG and encode microseconds a drawing, 1-bit and 8-bit, zlib levels 1 and 6, on
    every real drawing of the sample at 64 px lw 4 (medians of ``repeat`` timings)."""
    from fastdraw.codecs import ImgCodec, png
    from fastdraw.drawings import Drawings
    from fastdraw.notebook import reference
    from fastdraw.sources.classes import sample_dir

    lines = [line for f in sorted(Path(sample_dir()).glob("*.ndjson"))
             for line in f.read_text("utf-8").splitlines()]
    images = ImgCodec().images(Drawings.from_dicts([reference.convert(x) for x in lines]))
    out = {}
    for level in (1, 6):
        for depth in (1, 8):
            def encode(level=level, depth=depth) -> list[int]:
                if depth == 8:
                    return [len(p) for p in _png_8bit(images, level)]
                saved, png.LEVEL = png.LEVEL, level
                try:
                    return np.diff(png.encode_pngs(images)[1]).tolist()
                finally:
                    png.LEVEL = saved
            times, sizes = [], []
            for _ in range(repeat):
                t0 = time.perf_counter()
                sizes = encode()
                times.append(time.perf_counter() - t0)
            out[f"{depth}-bit level {level}"] = {
                "bytes_per_png": round(float(np.mean(sizes)), 1),
                "encode_us": round(statistics.median(times) / len(images) * 1e6, 2)}
    out["drawings"] = len(images)
    return out


if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print(json.dumps(measure(rounds, repeat), indent=2))
