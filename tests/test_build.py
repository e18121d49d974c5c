"""The builder's orchestration: the same bytes with any number of workers, the notebook's
reference make_sharded_files shard for shard, the options and their errors, and the CLI end
to end (tests/test_build_*.py test its phases, inputs and failures)."""

from __future__ import annotations

import importlib.metadata
import json
import random
import subprocess
import sys
import time

import numpy as np
import pytest
from build_helpers import (
    SAMPLE,
    label_keys,
    leftovers,
    options,
    parsed,
    tree,
    volume_files,
)

from fastdraw.build import build
from fastdraw.build import encode as encode_mod
from fastdraw.build import plan as plan_mod
from fastdraw.build import spool as spool_mod
from fastdraw.cli import main
from fastdraw.codecs.proto import parse_example
from fastdraw.dataset.tfrecord import read_records
from fastdraw.notebook import reference
from fastdraw.sources.classes import ZOO


@pytest.fixture(scope="module")
def volume(tmp_path_factory):
    return volume_files(tmp_path_factory.mktemp("volume"))


@pytest.fixture(scope="module")
def tf():
    """TensorFlow, imported before any test seeds `random`: importing it draws from `random`."""
    import tensorflow

    return tensorflow


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
        monkeypatch.setattr(plan_mod, "MIN_RANGE", 100)
        # Chunks that do not line up with the ranges (with 2 and 4), or one chunk a class.
        monkeypatch.setattr(encode_mod, "CHUNK", 97 if workers % 2 == 0 else 4096)
        monkeypatch.setattr(spool_mod, "MAX_OPEN", 1 if workers == 4 else 128)
        monkeypatch.setattr(spool_mod, "READ_AHEAD", 7 if workers == 4 else 1 << 16)
        out = tmp_path / f"w{workers}"
        build(options(classes, files, out, splits, workers=workers, shards=4, seed=3))
        assert leftovers(out) == ["t_img", "t_stroke"]
        trees.append({kind: tree(out / f"t_{kind}") for kind in ("img", "stroke")})
    assert trees[0] == trees[1] == trees[2] == trees[3]
    # The shards, labels.txt, counts.json, rejected.ndjson, manifest.json and the TFDS files.
    assert len(trees[0]["img"]) == 3 * 4 + 4 + 3


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


def test_bad_options_are_exit_code_2_with_a_message(tmp_path, caplog):
    base = ["--classes", "cat", "--sample", "--out", str(tmp_path)]
    for extra, words in [(["--kind", "img,png"], "--kind 'img,png'"),
                         (["--splits", "train=0.5,eval=3"], "not a fraction"),
                         (["--name", "a/b"], "plain name"),
                         (["--workers", "0"], "--workers must be at least 1"),
                         (["--img-size", "0"], "--img-size must be 1 to 32767 pixels, not 0"),
                         (["--img-size", "-3"], "--img-size must be 1 to 32767 pixels, not -3"),
                         (["--img-size", "32768"], "--img-size must be 1 to 32767 pixels"),
                         (["--line-width", "0"], "--line-width must be 1 to 1073741824 pixels, "
                                                 "not 0"),
                         (["--line-width", str(2**31)], "not 2147483648 (Pillow's C int"),
                         (["--line-width", str(2**30 + 1)], "not 1073741825"),
                         (["--kind", "img", "--line-width", "-2"], "not -2"),
                         (["--seed", "-1"], "--seed must be 0 or more, not -1"),
                         (["--shards", "0"], "--shards must be 1 to 99999, not 0"),
                         (["--shards", "100000"], "--shards must be 1 to 99999, not 100000"),
                         (["--splits", ""], "--splits '': '' is not NAME=VALUE"),
                         (["--name", ""], "--name '': give a plain name")]:
        caplog.clear()
        assert main(base + extra) == 2
        assert words in caplog.text
    assert leftovers(tmp_path) == []


def test_image_options_do_not_stop_a_stroke_only_build(tmp_path):
    args = ["--classes", "cat", "--sample", "--out", str(tmp_path), "--kind", "stroke",
            "--img-size", "0", "--line-width", "0"]
    assert main(args) == 0
    assert (tmp_path / "custom_stroke" / "labels.txt").read_text() == "cat"


def test_out_that_is_a_file_is_refused_before_any_work(tmp_path, caplog):
    out = tmp_path / "file"
    out.write_text("not a directory")
    assert main(["--classes", "cat", "--sample", "--out", str(out)]) == 1
    assert f"--out {out} is a file: give a directory" in caplog.text
    assert out.read_text() == "not a directory"


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


def test_a_directory_named_fastdraw_beside_the_run_does_not_break_the_end(tmp_path):
    # D4: run from the directory that holds a clone named fastdraw, `import fastdraw` finds
    # that directory as a namespace package; the manifest's version used to be read from it
    # after all the work (AttributeError, nothing published).
    (tmp_path / "fastdraw").mkdir()
    done = subprocess.run([sys.executable, "-m", "fastdraw", "--group", "pets", "--sample",
                           "--out", "out", "--workers", "1"], cwd=tmp_path, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "out" / "pets_img" / "manifest.json").read_text())
    assert manifest["versions"]["fastdraw"] == importlib.metadata.version("fastdraw")
