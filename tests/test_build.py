"""The parallel builder and `make_sharded_files` against the notebook's reference, on real drawings.

Volume comes from repeating real lines of ../shared/data with new key_ids.
"""

from __future__ import annotations

import errno
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import SIMPLIFIED

from fastdraw import assemble as assemble_mod
from fastdraw import build as build_mod
from fastdraw import build_cli, reference
from fastdraw import encode as encode_mod
from fastdraw import pool as pool_mod
from fastdraw import records as records_mod
from fastdraw import spool as spool_mod
from fastdraw.build import BuildOptions, build
from fastdraw.cli import main
from fastdraw.errors import BuildError, InterruptedAfterPublish, WorkerDied
from fastdraw.example import make_example_img, make_example_stroke
from fastdraw.groups import ZOO, sample_dir
from fastdraw.ndjson import loaditer
from fastdraw.plan import make_plan
from fastdraw.sharded import make_sharded_files
from fastdraw.tfrecord import read_records

SAMPLE = Path(sample_dir())


def repeated(src: Path, dst: Path, n: int, first_key: int) -> Path:
    """``dst``: the real lines of ``src`` repeated up to ``n`` lines, each with a new key_id."""
    lines = src.read_text("utf-8").splitlines()
    out = []
    for i in range(n):
        d = json.loads(lines[i % len(lines)])
        d["key_id"] = str(first_key + i)
        out.append(json.dumps(d, separators=(",", ":")))
    dst.write_text("\n".join(out) + "\n", encoding="utf-8")
    return dst


def options(classes, files, out, splits, **kw) -> BuildOptions:
    kw.setdefault("workers", 2)
    kw.setdefault("progress", False)
    return BuildOptions(classes=list(classes), files=[Path(f) for f in files], name=kw.pop(
        "name", "t"), out=Path(out), splits=splits, **kw)


def tree(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (hidden ones too) by relative name."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file()}


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir()) if out.exists() else []


@pytest.fixture(scope="module")
def volume(tmp_path_factory) -> tuple[list[str], list[Path]]:
    """Three real classes, each repeated to 600 drawings (500+ recognized) with new key_ids."""
    d = tmp_path_factory.mktemp("volume")
    classes = ["cat", "giraffe", "zebra"]
    files = [repeated(SIMPLIFIED / f"{c}.ndjson", d / f"{c}.ndjson", 600, 10**9 * (j + 1))
             for j, c in enumerate(classes)]
    return classes, files


def test_whole_directory_is_identical_for_1_2_3_and_4_workers(volume, tmp_path, monkeypatch):
    classes, files = volume
    splits = {"img": {"train": 300, "eval": 60, "test": 40},
              "stroke": {"train": 350, "eval": 80, "test": 60}}
    trees = []
    for workers in (1, 2, 3, 4):
        # Small ranges, so that 2 workers split the last class into ranges of rounds (the
        # last wave of tasks) and 4 split every class; with 4, spool files are also opened
        # per write and per read rather than kept open, and record sizes are read ahead a
        # few at a time.
        monkeypatch.setattr(build_mod, "MIN_RANGE", 100)
        # Chunks that do not line up with the ranges (with 2 and 4), or one chunk a class.
        monkeypatch.setattr(encode_mod, "CHUNK", 97 if workers % 2 == 0 else 4096)
        monkeypatch.setattr(spool_mod, "MAX_OPEN", 1 if workers == 4 else 128)
        monkeypatch.setattr(spool_mod, "READ_AHEAD", 7 if workers == 4 else 1 << 16)
        out = tmp_path / f"w{workers}"
        build(options(classes, files, out, splits, workers=workers, shards=4, seed=3))
        assert leftovers(out) == ["t_img", "t_stroke"]
        trees.append({kind: tree(out / f"t_{kind}") for kind in ("img", "stroke")})
    assert trees[0] == trees[1] == trees[2] == trees[3]
    assert len(trees[0]["img"]) == 3 * 4 + 4


@pytest.mark.parametrize(("kinds", "img_size", "chunk"), [
    (("stroke",), 64, 4096),
    (("img", "stroke"), 64, 4096),  # 16 MiB of 64x64 images
    (("img",), 28, 4096),
    (("img",), 128, 1024),
    (("stroke", "img"), 256, 256),
    (("img",), 5000, 1),  # never less than one drawing
])
def test_chunks_hold_at_most_chunk_pixels_of_images(kinds, img_size, chunk):
    jobs = tuple(encode_mod.KindJob(records_mod.Encoding(kind, img_size, 4, True, False), "",
                                    10, np.zeros(10, dtype=np.int32), 1) for kind in kinds)
    task = encode_mod.EncodeTask(0, "", 0, 0, 10, True, False, False, jobs, "")
    assert encode_mod.chunk_size(task) == chunk


@pytest.mark.parametrize(("classes", "workers", "parts"), [
    (3, 1, [1, 1, 1]),  # one worker: never split
    (3, 2, [1, 1, 2]),  # the last wave holds one class: split it for the idle worker
    (4, 2, [1, 1, 1, 1]),  # full waves
    (3, 4, [2, 2, 2]),  # fewer classes than workers: every class
    (43, 32, [1] * 32 + [3] * 11),  # 11 classes left for 32 workers: 3 ranges each
])
def test_classes_are_split_into_ranges_where_workers_would_idle(classes, workers, parts):
    ranges = build_mod._class_ranges(10_000, classes, workers)
    assert [len(r) for r in ranges] == parts
    for r in ranges:  # consecutive ranges covering every round
        assert r[0][0] == 0 and r[-1][1] == 10_000
        assert all(a[1] == b[0] for a, b in zip(r, r[1:]))
    # Never shorter than MIN_RANGE rounds: too few rounds to split, one range each.
    assert build_mod._class_ranges(build_mod.MIN_RANGE, classes, workers) == [
        [(0, build_mod.MIN_RANGE)]] * classes


@pytest.fixture(scope="module")
def tf():
    """TensorFlow, imported before any test seeds `random`: importing it draws from `random`."""
    import tensorflow

    return tensorflow


def parsed(path: Path):
    import tensorflow as tf

    return [tf.train.Example.FromString(r) for r in read_records(path)]


@pytest.mark.parametrize("kind,make_example,unrecognized", [
    ("img", reference.make_example_img, False),
    ("stroke", reference.make_example_stroke, False),
    ("stroke", reference.make_example_stroke, True),
])
def test_every_shard_equals_the_reference_make_sharded_files(kind, make_example, unrecognized,
                                                             tmp_path, utc, tf):
    splits = {"train": 7, "eval": 1, "test": 1} if not unrecognized else {"train": 11, "test": 3}
    build(options(ZOO, [SAMPLE / f"{c}.ndjson" for c in ZOO], tmp_path / "fast",
                  {kind: splits}, seed=5, name="zoo", include_unrecognized=unrecognized))
    ref = tmp_path / "ref"
    random.seed(5)
    reference.make_sharded_files(
        make_example, str(ref), ZOO,
        [reference.loaditer(c, unrecognized=unrecognized, data_path=str(SAMPLE)) for c in ZOO],
        dict(splits))
    fast = tmp_path / "fast" / f"zoo_{kind}"
    shard_files = sorted(p.name for p in ref.iterdir() if "-of-" in p.name)
    assert shard_files == sorted(p.name for p in fast.iterdir() if "-of-" in p.name)
    for name in shard_files:
        assert parsed(fast / name) == parsed(ref / name), name
    assert (fast / "labels.txt").read_bytes() == (ref / "labels.txt").read_bytes()
    counts = json.loads((fast / "counts.json").read_text())
    assert counts == {s: n * len(ZOO) for s, n in splits.items()}
    assert list(counts) == list(splits)


@pytest.mark.parametrize("size,lw,maximize", [(32, 2, False), (30, 3, True)])
def test_image_options_render_as_the_reference_json_to_img(tmp_path, size, lw, maximize):
    """Also 30x30: 900 pixels, so the packed spool ends each image in a partial byte."""
    from fastdraw.proto import parse_example

    build(options(["cat", "dog"], [SAMPLE / "cat.ndjson", SAMPLE / "dog.ndjson"], tmp_path,
                  {"img": {"train": 6}}, shards=1, img_size=size, line_width=lw,
                  maximize=maximize))
    records = [parse_example(r) for r in read_records(tmp_path / "t_img/train-00000-of-00001")]
    drawings = [reference.loadn(c, 6, data_path=str(SAMPLE)) for c in ["cat", "dog"]]
    assert len(records) == 12
    for i, e in enumerate(records):
        d = drawings[i % 2][i // 2]
        assert int(e["key_id"][0]) == int(d["key_id"])
        img = np.asarray(reference.json_to_img(d, img_sz=size, lw=lw, maximize=maximize))
        assert np.array_equal(e[f"img_{size}"], img.reshape(-1))


def test_bad_options_are_exit_code_1_with_a_message(tmp_path, caplog):
    base = ["--classes", "cat", "--sample", "--out", str(tmp_path)]
    for extra, words in [(["--kind", "img,png"], "--kind 'img,png'"),
                         (["--splits", "train=0.5,eval=3"], "not a fraction"),
                         (["--name", "a/b"], "plain name"),
                         (["--workers", "0"], "--workers must be at least 1"),
                         (["--img-size", "0"], "--img-size must be 1 to 32767 pixels, not 0"),
                         (["--img-size", "-3"], "--img-size must be 1 to 32767 pixels, not -3"),
                         (["--img-size", "32768"], "--img-size must be 1 to 32767 pixels"),
                         (["--line-width", "0"], "--line-width must be at least 1 pixel, not 0"),
                         (["--kind", "img", "--line-width", "-2"], "not -2")]:
        caplog.clear()
        assert main(base + extra) == 1
        assert words in caplog.text
    assert leftovers(tmp_path) == []


def test_image_options_do_not_stop_a_stroke_only_build(tmp_path):
    args = ["--classes", "cat", "--sample", "--out", str(tmp_path), "--kind", "stroke",
            "--img-size", "0", "--line-width", "0"]
    assert main(args) == 0
    assert (tmp_path / "custom_stroke" / "labels.txt").read_text() == "cat"


def label_keys(path: Path) -> list[tuple[int, int]]:
    from fastdraw.proto import parse_example

    out = []
    for r in read_records(path):
        e = parse_example(r)
        out.append((int(e["label"][0]), int(e["key_id"][0])))
    return out


def test_interleaving_and_counts_equal_the_reference_on_volume(volume, tmp_path, utc, tf):
    classes, files = volume
    splits = {"train": 400, "eval": 60, "test": 40}
    build(options(classes, files, tmp_path / "fast", {"stroke": splits}, seed=11, shards=3))
    random.seed(11)
    ref = tmp_path / "ref"
    reference.make_sharded_files(
        reference.make_example_stroke, str(ref), classes,
        [reference.loaditer(c, data_path=str(files[0].parent)) for c in classes], dict(splits),
        shards=3)
    names = sorted(p.name for p in ref.iterdir() if "-of-" in p.name)
    assert len(names) == 9
    for name in names:
        theirs = label_keys(ref / name)
        assert label_keys(tmp_path / "fast" / "t_stroke" / name) == theirs, name
    manifest = json.loads((tmp_path / "fast" / "t_stroke" / "manifest.json").read_text())
    for name in names:
        assert manifest["shards"][name]["records"] == len(label_keys(ref / name))
    assert manifest["records"] == 500 * len(classes)


def test_short_classes_are_named_and_nothing_is_written(tmp_path):
    files = [SAMPLE / f"{c}.ndjson" for c in ["cat", "dog", "eye"]]
    with pytest.raises(BuildError) as e:
        build(options(["cat", "dog", "eye"], files, tmp_path, {"img": {"train": 12, "eval": 1}}))
    msg = str(e.value)
    assert "'cat' (12)" in msg and "'dog' (10)" in msg and "eye" not in msg
    assert "13 recognized drawings per class (train=12+eval=1)" in msg
    assert "Nothing was written" in msg
    assert leftovers(tmp_path) == []



def cut_off_gzip(tmp_path: Path, name: str, lines: int) -> Path:
    """``name``.ndjson.gz: the first ``lines`` real lines of the sample's eye, gzipped, with
    the last quarter of the gzip data cut off (an interrupted download)."""
    import gzip

    text = "".join((SAMPLE / "eye.ndjson").read_text("utf-8").splitlines(True)[:lines])
    data = gzip.compress(text.encode())
    path = tmp_path / "data" / f"{name}.ndjson.gz"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data[:len(data) * 3 // 4])
    return path


def test_a_short_class_is_named_with_its_bad_lines_so_a_cut_off_file_shows(tmp_path):
    cut = cut_off_gzip(tmp_path, "cut", 20)
    with pytest.raises(BuildError) as e:
        build(options(["cut", "eye"], [cut, SAMPLE / "eye.ndjson"], tmp_path / "out",
                      {"img": {"train": 19}}))
    assert re.search(r"too few in 'cut' \(\d+; 1 bad line, line \d+: the gzip data breaks "
                     r"off here .*download it again\)", str(e.value))
    assert "'eye'" not in str(e.value)
    assert leftovers(tmp_path / "out") == []


def test_counting_for_fractions_reports_every_file_s_bad_lines(tmp_path, caplog):
    cat = with_bad_lines(tmp_path)
    cut = cut_off_gzip(tmp_path, "eye", 20)
    with caplog.at_level("WARNING", logger="fastdraw.build"):
        build(options(["cat", "eye"], [cat, cut], tmp_path, {"img": {"train": Fraction(1, 2)}}))
    assert re.search(rf"{re.escape(str(cat))}: 3 bad lines, the last at line 12: .*; 12 "
                     "recognized drawings counted", caplog.text)
    assert re.search(rf"{re.escape(str(cut))}: 1 bad line, line \d+: the gzip data breaks off "
                     r"here .*; \d+ recognized drawings counted", caplog.text)


def test_a_split_count_no_file_can_hold_stops_before_the_plan(tmp_path, monkeypatch):
    monkeypatch.setattr(build_mod, "make_plan", None)  # never reached
    files = [SAMPLE / "cat.ndjson", cut_off_gzip(tmp_path, "eye", 600)]
    most = [files[0].stat().st_size // 72, files[1].stat().st_size * 1032 // 72]
    with pytest.raises(BuildError) as e:
        build(options(["cat", "eye"], files, tmp_path / "out", {"img": {"train": 10**20}}))
    assert (f"img asks for {10**20} drawings per class (train={10**20}), more than {files[0]} "
            "can hold (at most "
            f"{most[0]}, from its size), {files[1]} can hold (at most {most[1]}, ")\
        in str(e.value)
    assert not (tmp_path / "out").exists()
    # A count a file's size allows goes on to the plan (and here to the short-class check).
    monkeypatch.undo()
    with pytest.raises(BuildError, match="too few in 'cat'"):
        build(options(["cat", "eye"], files, tmp_path / "out", {"img": {"train": most[0]}}))


def _spy_on_the_space_check(monkeypatch) -> list[tuple[dict, dict]]:
    """Records, at the space check between the phases, every kind's byte counts and the
    bytes of its spool files on disk per shard."""
    seen = []
    real = build_mod._check_space

    def check(opts, nbytes):
        on_disk = {}
        for tmp in opts.out.glob(f".{opts.name}_*.tmp-*"):
            per_shard = {}
            for f in tmp.glob(".spool-*.rec"):
                shard = int(f.stem.rsplit("-", 1)[1])
                per_shard[shard] = per_shard.get(shard, 0) + f.stat().st_size
            on_disk[tmp.name.split(".tmp-")[0].rsplit("_", 1)[1]] = per_shard
        seen.append(({k: v.copy() for k, v in nbytes.items()}, on_disk))
        return real(opts, nbytes)

    monkeypatch.setattr(build_mod, "_check_space", check)
    return seen


def test_phase_1_counts_every_shard_s_spool_and_final_bytes(volume, tmp_path, monkeypatch):
    seen = _spy_on_the_space_check(monkeypatch)
    # Every class split into ranges of rounds, each spooled by its own task in 97-drawing
    # chunks, with files opened per write: every range's counts must add up.
    monkeypatch.setattr(build_mod, "MIN_RANGE", 100)
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


def test_a_build_whose_shards_do_not_fit_stops_before_writing_them(volume, tmp_path,
                                                                   monkeypatch, caplog):
    seen = _spy_on_the_space_check(monkeypatch)
    classes, files = volume
    splits = {"img": {"train": 400, "eval": 50}}
    build(options(classes, files, tmp_path / "measured", splits, workers=2))
    spooled, framed = seen[0][0]["img"]
    # At worst every shard is written and only the spool of shards not in flight is freed.
    need = (int(framed.sum()) - int(spooled.sum()) + int(np.sort(spooled)[-2:].sum())
            + build_mod.SPACE_SLACK)
    real = build_mod.shutil.disk_usage
    for free, fits in [(need, True), (need - 1, False)]:
        out = tmp_path / str(free)
        out.mkdir()
        monkeypatch.setattr(build_mod.shutil, "disk_usage",
                            lambda path, free=free: real(path)._replace(free=free))
        if fits:
            build(options(classes, files, out, splits, workers=2))
            assert sorted(p.name for p in out.iterdir()) == ["t_img"]
            continue
        with pytest.raises(BuildError) as e:
            build(options(classes, files, out, splits, workers=2))
        assert f"not enough disk space in {out}" in str(e.value)
        assert f"the shards take {build_mod._size(int(framed.sum()))}" in str(e.value)
        assert "free space there or pass --out DIR on a larger disk" in str(e.value)
        assert leftovers(out) == []


@pytest.mark.parametrize("phase", ["spool", "shard"])
def test_a_full_disk_names_the_file_says_what_to_do_and_leaves_nothing(phase, tmp_path,
                                                                        monkeypatch, caplog):
    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    from fastdraw import shardfile
    monkeypatch.setattr(spool_mod if phase == "spool" else shardfile, "write_all", full)
    out = tmp_path / "out"
    assert main(["--classes", "cat,dog", "--sample", "--out", str(out), "--workers", "2"]) == 1
    doing = (f"encoding {SAMPLE}/(cat|dog).ndjson into the spool in {out}/.custom_"
             if phase == "spool" else f"writing shard {out}/.custom_")
    assert re.search(doing, caplog.text)
    assert "[Errno 28] No space left on device. Nothing was written (temporary files " \
           "removed): free space on that disk or pass --out DIR on a larger one" in caplog.text
    assert "Traceback" not in caplog.text
    assert leftovers(out) == []


def test_the_main_process_s_own_os_errors_are_exit_code_1_with_the_path(tmp_path, caplog):
    (tmp_path / "file").write_text("not a directory")
    out = tmp_path / "file" / "out"
    assert main(["--classes", "cat", "--sample", "--out", str(out)]) == 1
    assert (f"cannot create --out {out}: Not a directory: give a directory you can write to"
            in caplog.text)
    assert "Traceback" not in caplog.text

def _die_in_worker(parent: int):
    real = records_mod.rasterize

    def rasterize(*args, **kwargs):
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)

    return rasterize


def test_a_killed_worker_fails_the_build_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(records_mod, "rasterize", _die_in_worker(os.getpid()))
    with pytest.raises(WorkerDied, match="killed by signal 9"):
        build(options(ZOO[:3], [SAMPLE / f"{c}.ndjson" for c in ZOO[:3]], tmp_path,
                      {"img": {"train": 5}}))
    assert leftovers(tmp_path) == []


SLOW_BUILD = """
import sys, time
import fastdraw.records as b
real = b.rasterize
def slow(*a, **k):
    time.sleep(0.3)
    return real(*a, **k)
b.rasterize = slow
from fastdraw.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_leaves_the_old_dataset_and_no_new_one(sig, volume, tmp_path):
    classes, files = volume
    args = ["--classes", ",".join(classes), "--data", str(files[0].parent), "--offline",
            "--out", str(tmp_path), "--splits", "train=500,eval=50,test=50", "--workers", "2",
            "--name", "v", "--kind", "img"]
    done = subprocess.run([sys.executable, "-m", "fastdraw", *args, "--splits", "train=3"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    before = tree(tmp_path / "v_img")
    proc = subprocess.Popen([sys.executable, "-c", SLOW_BUILD, *args, "--overwrite"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(tmp_path.glob(".v_img.tmp-*/.spool-*.rec")):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert leftovers(tmp_path) == ["v_img"]
    assert tree(tmp_path / "v_img") == before


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
                                "rejected.ndjson"])


def test_an_existing_dataset_needs_overwrite(tmp_path):
    files = [SAMPLE / f"{c}.ndjson" for c in ["cat", "dog"]]
    opts = options(["cat", "dog"], files, tmp_path, {"img": {"train": 2}})
    build(opts)
    before = tree(tmp_path / "t_img")
    opts.splits = {"img": {"train": 3}}
    with pytest.raises(BuildError, match="t_img already exists: pass --overwrite"):
        build(opts)
    assert tree(tmp_path / "t_img") == before
    opts.overwrite = True
    build(opts)
    assert json.loads((tmp_path / "t_img" / "counts.json").read_text()) == {"train": 6}
    assert leftovers(tmp_path) == ["t_img"]


def test_ctrl_c_while_publishing_waits_until_every_kind_is_replaced(tmp_path, monkeypatch,
                                                                    caplog):
    files = [SAMPLE / f"{c}.ndjson" for c in ["cat", "dog"]]
    opts = options(["cat", "dog"], files, tmp_path, {"img": {"train": 2}, "stroke": {"train": 2}})
    build(opts)
    opts.splits = {"img": {"train": 3}, "stroke": {"train": 3}}
    opts.overwrite = True
    real = os.replace
    renames = []

    def interrupted_replace(src, dst):
        if not renames:  # the first swap of the publish step: Ctrl-C comes now
            os.kill(os.getpid(), signal.SIGINT)
        renames.append(Path(dst).name)
        return real(src, dst)

    monkeypatch.setattr(build_mod.os, "replace", interrupted_replace)
    # Another thread, as in a process that imported TensorFlow: the signal may go to it.
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        with pytest.raises(KeyboardInterrupt, match="t_img, .*t_stroke are in place and whole"):
            build(opts)
    finally:
        stop.set()
        other.join()
    monkeypatch.undo()
    assert "t_img" in renames and "t_stroke" in renames
    for kind in ("img", "stroke"):
        assert json.loads((tmp_path / f"t_{kind}" / "counts.json").read_text()) == {"train": 6}
    assert leftovers(tmp_path) == ["t_img", "t_stroke"]
    monkeypatch.setattr(build_cli, "build", lambda _: (_ for _ in ()).throw(
        InterruptedAfterPublish("interrupted once the build was complete")))
    with caplog.at_level("ERROR"):
        assert main(["--sample", "--group", "pets", "--out", str(tmp_path)]) == 130
    assert "nothing was written" not in caplog.text
    assert "interrupted once the build was complete" in caplog.text


def with_bad_lines(tmp_path: Path) -> Path:
    """A real cat file with bad lines at lines 2, 6 and 12 (after 1, 4 and 9 good ones)."""
    good = (SAMPLE / "cat.ndjson").read_text("utf-8").splitlines()
    assert all(json.loads(g)["recognized"] for g in good[:10])
    lines = [good[0], '{"word": "cat", "drawing": [', *good[1:4], '[1, 2, 3]', *good[4:9],
             good[9].replace('"recognized":true', '"recognized":"yes"'), *good[9:]]
    path = tmp_path / "data" / "cat.ndjson"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_log_gives_the_shards_bytes_and_how_fast_they_were_written(tmp_path, caplog):
    files = [SAMPLE / f"{c}.ndjson" for c in ["cat", "dog"]]
    splits = {"img": {"train": 6, "eval": 2}, "stroke": {"train": 6, "eval": 2}}
    with caplog.at_level("INFO", logger="fastdraw.build"):
        build(options(["cat", "dog"], files, tmp_path, splits, shards=3, workers=2))
    shards = [p for kind in splits for p in (tmp_path / f"t_{kind}").glob("*-of-*")]
    size = build_mod._size(sum(p.stat().st_size for p in shards))
    assert len(shards) == 12
    assert re.search(rf"wrote 12 shard files \({size}\) in [\d.]+ s, \d+ MB/s\n", caplog.text)


def test_rejected_lines_are_listed_per_kind_as_far_as_each_kind_read(tmp_path, caplog):
    cat = with_bad_lines(tmp_path)
    dog = SAMPLE / "dog.ndjson"
    both = options(["cat", "dog"], [cat, dog], tmp_path / "both",
                   {"img": {"train": 3, "eval": 1}, "stroke": {"train": 8, "eval": 2}})
    with caplog.at_level("INFO", logger="fastdraw.build"):
        built = build(both)
    assert [b.rejected for b in built] == [1, 3]
    for kind, examples, n, lines in (("img", 8, 1, "line"), ("stroke", 20, 3, "lines")):
        path = tmp_path / f"both/t_{kind}"
        assert f"(2 classes, {examples} examples), {n} rejected {lines}\n" in caplog.text
        assert f"{n} bad input {lines} skipped: see {path / 'rejected.ndjson'}" in caplog.text
    img, stroke = ([json.loads(x) for x in
                    (tmp_path / f"both/t_{kind}/rejected.ndjson").read_text().splitlines()]
                   for kind in ("img", "stroke"))
    assert [r["line"] for r in img] == [2]
    assert [r["line"] for r in stroke] == [2, 6, 12]
    for r in stroke:
        assert r["file"].endswith("cat.ndjson") and r["reason"] and r["text"]
    assert stroke[0]["text"] == '{"word": "cat", "drawing": ['
    manifest = json.loads((tmp_path / "both/t_stroke/manifest.json").read_text())
    assert manifest["rejected"] == 3
    alone = options(["cat", "dog"], [cat, dog], tmp_path / "alone", {"img": both.splits["img"]})
    build(alone)
    assert tree(tmp_path / "alone/t_img") == tree(tmp_path / "both/t_img")


def test_strict_stops_at_the_first_bad_line_with_exit_code_2(tmp_path, caplog):
    cat = with_bad_lines(tmp_path)
    rc = main(["--classes", "cat", "--data", str(cat.parent), "--offline", "--out",
               str(tmp_path / "out"), "--splits", "train=5", "--strict", "--workers", "1"])
    assert rc == 2
    assert f"{cat}:2: bad line" in caplog.text
    assert leftovers(tmp_path / "out") == []


def test_offline_names_the_missing_files(tmp_path, caplog):
    rc = main(["--classes", "cat,gryphon,chimera", "--data", str(SAMPLE), "--offline", "--out",
               str(tmp_path)])
    assert rc == 1
    assert "--offline, and 2 class files are missing: " in caplog.text
    assert "gryphon.ndjson" in caplog.text and "chimera.ndjson" in caplog.text
    assert "cat.ndjson" not in caplog.text
    assert "No Quick, Draw! category is named 'gryphon' (did you mean 'megaphone'" in caplog.text
    assert "'chimera' (did you mean 'camera'" in caplog.text
    assert "fastdraw download" not in caplog.text  # nothing there to download
    assert leftovers(tmp_path) == []


def test_offline_gives_the_download_command_for_the_missing_categories(tmp_path, caplog):
    data = tmp_path / "data"
    data.mkdir()
    (data / "cat.ndjson").write_bytes((SAMPLE / "cat.ndjson").read_bytes())
    for classes, text in [("cat,dog,zebra", "2 class files are missing"),
                          ("cat,zebra", "1 class file is missing")]:
        caplog.clear()
        assert main(["--classes", classes, "--data", str(data), "--offline"]) == 1
        assert f"--offline, and {text}: {data / 'dog.ndjson'}, " in caplog.text \
            or f"--offline, and {text}: {data / 'zebra.ndjson'}." in caplog.text
        fetch = classes.split(",", 1)[1]
        assert (f"python -m fastdraw download --classes '{fetch}' --data '{data}' (or leave "
                "out --offline)") in caplog.text
        assert "category is named" not in caplog.text
    assert sorted(p.name for p in data.iterdir()) == ["cat.ndjson"]


def test_out_that_is_a_file_is_refused_before_any_work(tmp_path, caplog):
    out = tmp_path / "file"
    out.write_text("not a directory")
    assert main(["--classes", "cat", "--sample", "--out", str(out)]) == 1
    assert f"--out {out} is a file: give a directory" in caplog.text
    assert out.read_text() == "not a directory"


def test_missing_class_files_are_downloaded_first(tmp_path, caplog):
    from bucket_server import BucketServer, class_objects

    data = tmp_path / "data"
    data.mkdir()
    (data / "cat.ndjson").write_bytes((SIMPLIFIED / "cat.ndjson").read_bytes())
    with BucketServer(class_objects(SIMPLIFIED, "simplified"), page_size=1000) as server:
        rc = main(["--classes", "cat,dog,lion", "--data", str(data), "--base-url", server.url,
                   "--splits", "train=4", "--kind", "stroke", "--workers", "2"])
        fetched = sorted({r.key for r in server.object_gets()})
    assert rc == 0, caplog.text
    assert fetched == ["full/simplified/dog.ndjson", "full/simplified/lion.ndjson"]
    assert (data / "dog.ndjson").read_bytes() == (SIMPLIFIED / "dog.ndjson").read_bytes()
    assert (data / "custom_stroke/labels.txt").read_text() == "cat\ndog\nlion"


def test_cli_end_to_end_on_the_sample(tmp_path):
    cmd = [sys.executable, "-m", "fastdraw", "--group", "zoo", "--sample", "--out", str(tmp_path)]
    # -X importtime lists every module imported, by the main process and by the workers.
    done = subprocess.run([sys.executable, "-X", "importtime", *cmd[1:]], capture_output=True,
                          text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "built 180 examples" in done.stderr
    assert "| numba" in done.stderr and "tensorflow" not in done.stderr
    for kind in ("img", "stroke"):
        d = tmp_path / f"zoo_{kind}"
        manifest = json.loads((d / "manifest.json").read_text())
        assert (d / "labels.txt").read_text() == "\n".join(ZOO)
        # Fractions 0.7/0.15/0.15 of the smallest zoo class in the sample (panda, rhinoceros: 11).
        assert json.loads((d / "counts.json").read_text()) == {"train": 70, "eval": 10, "test": 10}
        assert manifest["kind"] == kind and manifest["name"] == "zoo"
        assert manifest["classes"] == ZOO and manifest["format"] == "fastdraw-dataset/1"
        assert manifest["options"]["splits"] == {"train": 7, "eval": 1, "test": 1}
        assert manifest["records"] == 90 and manifest["rejected"] == 0
        assert len(manifest["shards"]) == 30
        assert sum(s["records"] for s in manifest["shards"].values()) == 90
        for name, s in manifest["shards"].items():
            assert len(list(read_records(d / name))) == s["records"]
        assert (d / "rejected.ndjson").read_bytes() == b""
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode == 1
    assert "zoo_img already exists: pass --overwrite" in again.stderr


def test_notebook_time_reproduces_the_local_time_mktime(tmp_path, monkeypatch, tf):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        build(options(["cat"], [SAMPLE / "cat.ndjson"], tmp_path, {"img": {"train": 4}},
                      notebook_time=True, shards=1))
        ours = parsed(tmp_path / "t_img" / "train-00000-of-00001")
        theirs = [reference.make_example_img(0, d)
                  for d in reference.loadn("cat", 4, data_path=str(SAMPLE))]
    finally:
        monkeypatch.undo()
        time.tzset()
    assert ours == theirs


def iters_of(classes, data=SAMPLE):
    return [loaditer(c, data_path=str(data)) for c in classes]


@pytest.mark.parametrize("ours,theirs", [(make_example_img, reference.make_example_img),
                                         (make_example_stroke, reference.make_example_stroke)])
def test_make_sharded_files_drop_in_writes_the_notebooks_files(ours, theirs, tmp_path, utc, tf):
    classes = ["cat", "dog", "lion"]
    splits = {"train": 6, "eval": 2, "test": 1}
    random.seed(1)
    mine = dict(splits)
    n = make_sharded_files(ours, str(tmp_path / "a"), classes, iters_of(classes), mine, shards=2)
    random.seed(1)
    ref = dict(splits)
    m = reference.make_sharded_files(theirs, str(tmp_path / "b"), classes,
                                     [reference.loaditer(c, data_path=str(SAMPLE))
                                      for c in classes], ref, shards=2)
    assert n == m == 27 and mine == ref == {"train": 0, "eval": 0, "test": 0}
    names = sorted(p.name for p in (tmp_path / "b").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "a").iterdir())
    for name in names:
        if name == "labels.txt":
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
            continue
        records = list(read_records(tmp_path / "a" / name))
        expected = parsed(tmp_path / "b" / name)
        assert [r for r in records] == [e.SerializeToString(deterministic=True) for e in expected]


def test_make_sharded_files_drop_in_encodes_raw_strokes_as_the_notebook(tmp_path, utc, tf):
    """Raw strokes (x, y, t): the notebook normalizes t with x and y and writes dt as
    stroke_z; the batch path must not quietly write an x/y encoding instead."""
    from conftest import RAW

    classes = [p.stem for p in sorted(RAW.glob("*.ndjson"))[:3]]
    rounds = min(sum(1 for _ in reference.loaditer(c, data_path=str(RAW))) for c in classes)
    splits = {"train": rounds - 2, "eval": 2}
    out = {}
    for name, make, fn in (("ours", make_example_stroke, make_sharded_files),
                           ("ref", reference.make_example_stroke, reference.make_sharded_files)):
        random.seed(3)
        fn(make, str(tmp_path / name), classes, iters_of(classes, RAW), dict(splits), shards=2)
        out[name] = tmp_path / name
    shards = sorted(p.name for p in out["ref"].glob("*-of-*"))
    assert len(shards) == 4
    for shard in shards:
        expected = parsed(out["ref"] / shard)
        assert any(any(v != 0 for v in e.features.feature["stroke_z"].float_list.value[:1])
                   for e in expected)  # dt, not a pen-up flag
        assert [r for r in read_records(out["ours"] / shard)] == \
            [e.SerializeToString(deterministic=True) for e in expected]


def test_make_sharded_files_with_any_make_example_and_its_overwrite_guard(tmp_path, utc, tf):
    classes = ["cat", "dog"]
    random.seed(2)
    calls = []

    def make(label, drawing):
        calls.append((label, drawing["key_id"]))
        return reference.make_example_stroke(label, drawing)

    assert make_sharded_files(make, str(tmp_path), classes, iters_of(classes),
                              {"train": 3, "eval": 2}, shards=1, report_dt=0) == 10
    assert [c[0] for c in calls] == [0, 1] * 5
    plan = make_plan({"train": 3, "eval": 2}, 1, 2)
    train = label_keys(tmp_path / "train-00000-of-00001")
    assert len(train) == 2 * int((plan.shard_id == 0).sum())
    with pytest.raises(AssertionError):
        make_sharded_files(make, str(tmp_path), classes, iters_of(classes), {"train": 1}, shards=1)


def test_make_sharded_files_writes_what_the_notebook_wrote_before_an_iterator_ran_out(tmp_path):
    cats = list(loaditer("cat", data_path=str(SAMPLE)))[:5]
    dogs = list(loaditer("dog", data_path=str(SAMPLE)))[:3]
    random.seed(0)
    with pytest.raises(StopIteration):
        make_sharded_files(make_example_img, str(tmp_path), ["cat", "dog"],
                           [iter(cats), iter(dogs)], {"train": 5}, shards=1)
    keys = label_keys(tmp_path / "train-00000-of-00001")
    expected = [(0, c["key_id"]) for c in cats[:4]]
    expected = [x for pair in zip(expected, [(1, d["key_id"]) for d in dogs]) for x in pair]
    assert keys == [(j, int(k)) for j, k in expected + [(0, cats[3]["key_id"])]]


def test_a_class_missing_from_the_sample_is_named_with_close_matches(tmp_path, caplog):
    rc = main(["--classes", "cat,elefant,qwxz", "--sample", "--out", str(tmp_path)])
    assert rc == 1
    assert "not in the bundled sample: 'elefant' (did you mean 'elephant'" in caplog.text
    assert "'qwxz'; it has the 345 Quick, Draw! categories" in caplog.text
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("slow", [True, False])
def test_a_slow_warmup_tells_the_user_that_kernels_compile(monkeypatch, caplog, slow):
    # Compiling for real takes ~30 s; kernels loading slower than the threshold stand in for it.
    load = build_mod._load_kernels

    def load_slowly(kinds, sample, helper):
        time.sleep(0.5)
        load(kinds, sample, helper)

    monkeypatch.setattr(build_mod, "_load_kernels", load_slowly)
    monkeypatch.setattr(build_mod, "COMPILE_NOTE_AFTER", 0.05 if slow else 60.0)
    caplog.set_level("INFO", logger="fastdraw.build")
    build_mod.warmup(["img", "stroke"], SIMPLIFIED / "cat.ndjson")
    told = "compiling fastdraw's numba kernels for this machine" in caplog.text
    assert told == slow and ("kernels ready in" in caplog.text) == slow


def test_a_first_run_compiles_every_kernel_into_numba_s_cache_and_says_so(tmp_path):
    # A fresh cache directory stands for a machine that never ran fastdraw (~20 s).
    # The helper process that compiles half of them is forked only when they are not cached.
    code = ("import logging, sys\n"
            "logging.basicConfig(level=logging.INFO)\n"
            "from fastdraw import build\n"
            "print(build._cached(['img', 'stroke']))\n"
            "build.warmup(['img', 'stroke'], sys.argv[1])\n"
            "print(build._cached(['img', 'stroke']), build._fork_example_warmup(['img']))\n")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", code, str(SIMPLIFIED / "cat.ndjson")], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True", "None"]
    assert "compiling fastdraw's numba kernels for this machine" in done.stderr
    assert "kernels ready in" in done.stderr
    cached = {p.name.split("-")[0] for p in (tmp_path / "cache").rglob("*.nbi")}
    for kernel in ("raster._rasterize_kernel", "example._img_kernel",
                   "example._stroke_packed_kernel", "ndjson._scan", "compact._unpack",
                   "compact._unpack_strokes",
                   "tfrecord._frame_kernel", "unaligned.gather"):
        assert kernel in cached, sorted(cached)


@pytest.mark.parametrize("every", [0.0, 1e9])
def test_progress_adds_up_to_every_example_however_often_workers_report(
        volume, tmp_path, monkeypatch, every):
    """Workers report at most every REPORT_EVERY seconds (each message wakes the main
    process); what a task did not report yet goes with its end, so the counts are whole."""
    updates: dict[str, list[int]] = {}
    real = build_mod._Progress

    class Recorder(real):
        def update(self, n: int) -> None:
            updates.setdefault(self.what, []).append(n)
            super().update(n)

    monkeypatch.setattr(build_mod, "_Progress", Recorder)
    monkeypatch.setattr(pool_mod, "REPORT_EVERY", every)
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
