"""The build's machinery, phase by phase: the kernels' warmup, phase 1's chunks and byte
counts (fastdraw.build.encode), phase 2's shards and their log (fastdraw.build.assemble),
the spool left behind, and the progress the executor's workers report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import orjson
import pytest
from binary_reference import pack_line
from build_helpers import (
    SAMPLE,
    leftovers,
    options,
    spy_on_the_space_check,
    volume_files,
)
from conftest import SIMPLIFIED

from fastdraw.build import assemble as assemble_mod
from fastdraw.build import build, builder
from fastdraw.build import encode as encode_mod
from fastdraw.build import executor as executor_mod
from fastdraw.build import plan as plan_mod
from fastdraw.build import spool as spool_mod
from fastdraw.build import warmup as warmup_mod
from fastdraw.build.plan import make_plan
from fastdraw.codecs import ImgCodec, StrokeCodec, codec_for
from fastdraw.progress import size_text


@pytest.fixture(scope="module")
def volume(tmp_path_factory):
    return volume_files(tmp_path_factory.mktemp("volume"))


@pytest.mark.parametrize("slow", [True, False])
def test_a_slow_warmup_tells_the_user_that_kernels_compile(monkeypatch, caplog, slow):
    # Compiling for real takes ~30 s; kernels loading slower than the threshold stand in for it.
    load = warmup_mod._load_kernels

    def load_slowly(codecs, sample, helper):
        time.sleep(0.5)
        load(codecs, sample, helper)

    monkeypatch.setattr(warmup_mod, "_load_kernels", load_slowly)
    monkeypatch.setattr(warmup_mod, "COMPILE_NOTE_AFTER", 0.05 if slow else 60.0)
    caplog.set_level("INFO", logger="fastdraw.build")
    warmup_mod.warmup([ImgCodec(), StrokeCodec()], [SIMPLIFIED / "cat.ndjson"])
    told = "compiling fastdraw's numba kernels for this machine" in caplog.text
    assert told == slow and ("kernels compiled in" in caplog.text) == slow


def test_a_first_run_compiles_every_kernel_into_numba_s_cache_and_says_so(tmp_path):
    # A fresh cache directory stands for a machine that never ran fastdraw (~20 s).
    # The helper process that compiles half of them is forked only when they are not cached.
    code = ("import logging, sys\n"
            "logging.basicConfig(level=logging.INFO)\n"
            "from fastdraw.build import warmup\n"
            "from fastdraw.codecs import ImgCodec, StrokeCodec\n"
            "from fastdraw.kernels.jit import cached\n"
            "codecs = [ImgCodec(), StrokeCodec()]\n"
            "kernels = [k for c in codecs for k in c.record_kernels()]\n"
            "print(cached(kernels))\n"
            "warmup.warmup(codecs, sys.argv[1:])\n"
            "print(cached(kernels), warmup._fork_record_warmup([ImgCodec()]))\n")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    binary = tmp_path / "dog.bin"  # the input files' formats: each one's reader is warmed up
    binary.write_bytes(b"".join(pack_line(orjson.loads(line))
                                for line in (SIMPLIFIED / "dog.ndjson").read_bytes().splitlines()))
    done = subprocess.run([sys.executable, "-c", code, str(SIMPLIFIED / "cat.ndjson"),
                           str(SIMPLIFIED / "eye.ndjson"), str(binary)], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True", "None"]
    assert "compiling fastdraw's numba kernels for this machine" in done.stderr
    assert "kernels compiled in" in done.stderr
    indexes = list((tmp_path / "cache").rglob("*.nbi"))
    cached = {p.name.split("-")[0] for p in indexes}
    assert {p.parent.name.split("_")[0] for p in indexes if p.name.startswith("scan._scan")} == {
        "ndjson", "binary"}
    # numba names a kernel's cache files after its module's file: raster.py, img.py, ...
    for kernel in ("raster._rasterize_kernel", "img._img_kernel",
                   "stroke._stroke_packed_kernel", "scan._scan", "img._unpack",
                   "stroke._unpack_strokes",
                   "tfrecord._frame_kernel", "unaligned.gather"):
        assert kernel in cached, sorted(cached)


@pytest.mark.parametrize(("kinds", "img_size", "chunk"), [
    (("stroke",), 64, 4096),
    (("img", "stroke"), 64, 4096),  # 16 MiB of 64x64 images
    (("img",), 28, 4096),
    (("img",), 128, 1024),
    (("stroke", "img"), 256, 256),
    (("img",), 5000, 1),  # never less than one drawing
])
def test_chunks_hold_at_most_chunk_pixels_of_images(kinds, img_size, chunk):
    jobs = tuple(encode_mod.KindJob(
        codec_for(kind, {"img_size": img_size, "line_width": 4, "maximize": True,
                         "notebook_time": False}),
        10, np.zeros(10, dtype=np.int32), 1) for kind in kinds)
    r = encode_mod.ClassRange(0, "cat", "", 0, 10, True, False, False, jobs)
    assert encode_mod.chunk_size(r) == chunk


def test_phase_1_counts_every_shard_s_spool_and_final_bytes(volume, tmp_path, monkeypatch):
    seen = spy_on_the_space_check(monkeypatch)
    # Every class split into ranges of rounds, each spooled by its own task in 97-drawing
    # chunks, with files opened per write: every range's counts must add up.
    monkeypatch.setattr(plan_mod, "MIN_RANGE", 100)
    monkeypatch.setattr(encode_mod, "CHUNK", 97)
    monkeypatch.setattr(spool_mod, "MAX_OPEN", 1)
    classes, files = volume
    splits = {"img": {"train": 300, "eval": 40}, "stroke": {"train": 450, "eval": 50}}
    build(options(classes, files, tmp_path, splits, shards=3, workers=4))
    (nbytes, on_disk), = seen
    for kind in splits:
        names = make_plan(splits[kind], 3, 0).shard_names
        spooled, framed = nbytes[kind]
        assert spooled.tolist() == [on_disk[kind][s] for s in range(len(names))]
        assert framed.tolist() == [(tmp_path / f"t_{kind}" / n).stat().st_size for n in names]


def test_the_log_gives_the_shards_bytes_and_how_fast_they_were_written(tmp_path, caplog):
    files = [SAMPLE / f"{c}.ndjson" for c in ["cat", "dog"]]
    splits = {"img": {"train": 6, "eval": 2}, "stroke": {"train": 6, "eval": 2}}
    with caplog.at_level("INFO", logger="fastdraw.build"):
        build(options(["cat", "dog"], files, tmp_path, splits, shards=3, workers=2))
    shards = [p for kind in splits for p in (tmp_path / f"t_{kind}").glob("*-of-*")]
    size = size_text(sum(p.stat().st_size for p in shards))
    assert len(shards) == 12
    assert re.search(rf"wrote 12 shard files \({size}\) in [\d.]+ s, \d+ MB/s\n", caplog.text)


def test_a_build_removes_no_directory(tmp_path, monkeypatch):
    """Removing a directory frees its blocks, and on a file system mounted with discard that
    waits until the disk has taken everything written before: 0.8-4.6 s at the end of the
    main job, when the spool had directories of its own."""
    def rmdir(path, *args, **kwargs):
        raise AssertionError(f"the build removed directory {path}")

    monkeypatch.setattr(os, "rmdir", rmdir)  # in the workers too: they are forked
    files = [SAMPLE / f"{c}.ndjson" for c in ["cat", "dog"]]
    opts = options(["cat", "dog"], files, tmp_path, {"img": {"train": 6, "eval": 2},
                                                      "stroke": {"train": 9}})
    build(opts)
    assert leftovers(tmp_path) == ["t_img", "t_stroke"]
    for kind in ("img", "stroke"):  # and the spool's files are gone
        names = sorted(p.name for p in (tmp_path / f"t_{kind}").iterdir())
        shards = json.loads((tmp_path / f"t_{kind}" / "manifest.json").read_text())["shards"]
        assert names == sorted([*shards, "counts.json", "labels.txt", "manifest.json",
                                "rejected.ndjson", "dataset_info.json", "features.json",
                                "label.labels.txt"])


@pytest.mark.parametrize("every", [0.0, 1e9])
def test_progress_adds_up_to_every_example_however_often_workers_report(
        volume, tmp_path, monkeypatch, every):
    """Workers report at most every REPORT_EVERY seconds (each message wakes the main
    process); what a task did not report yet goes with its end, so the counts are whole."""
    updates: dict[str, list[int]] = {}
    real = builder.Progress

    class Recorder(real):
        def update(self, n: int) -> None:
            updates.setdefault(self.what, []).append(n)
            super().update(n)

    monkeypatch.setattr(builder, "Progress", Recorder)
    monkeypatch.setattr(executor_mod, "REPORT_EVERY", every)
    monkeypatch.setattr(encode_mod, "CHUNK", 64)  # several chunks and windows a task
    monkeypatch.setattr(assemble_mod, "WINDOW", 1 << 14)
    classes, files = volume
    splits = {"img": {"train": 80, "eval": 10, "test": 10},
              "stroke": {"train": 300, "eval": 50, "test": 50}}
    build(options(classes, files, tmp_path, splits, workers=2, shards=2))
    examples = (100 + 400) * len(classes)
    assert sum(updates["encode"]) == examples == sum(updates["write"])
    tasks = len(classes) + (2 + 2) * 3  # encode: a class each; write: a shard file each
    calls = len(updates["encode"]) + len(updates["write"])
    assert calls > tasks if every == 0.0 else calls == tasks


def test_counts_in_messages_read_as_english():
    assert [encode_mod.plural(1, "class"), encode_mod.plural(43, "class"),
            encode_mod.count_lines(1, "bad"), encode_mod.count_lines(0, "rejected")] == [
        "1 class", "43 classes", "1 bad line", "0 rejected lines"]
