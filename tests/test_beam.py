"""The build on Apache Beam (fastdraw.beam, --runner beam): on Beam's local runner, in its
in-memory and multi-processing (2 workers) modes, it gives the local build's datasets byte
for byte (shards or class files, the class-names file, counts.json, rejected.ndjson, the TFDS
metadata, manifest.json) for every kind, image encoding, compression and input format; a
short class, a drawing in two classes and --strict stop it as they stop the local build,
before any shard is written; URLs are read and written through Beam's file systems."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import beam_memfs
import numpy as np
import pytest
from build_helpers import SAMPLE, leftovers, options, tree, volume_files, with_bad_lines
from golden_builds import CASES, GOLDEN, digests, input_dir

import fastdraw.beam
from fastdraw.beam import objects as objects_mod
from fastdraw.beam import pipeline as pipeline_mod
from fastdraw.beam.pipeline import kind_plan
from fastdraw.build import BuildOptions, build, classfiles
from fastdraw.build.plan import make_plan
from fastdraw.cli import main
from fastdraw.dataset import npz as npz_mod
from fastdraw.errors import BadInputError, BuildError

IN_MEMORY = ["--direct_running_mode=in_memory"]
MULTI = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
RECORDED = json.loads(GOLDEN.read_text("utf-8"))


@pytest.fixture(scope="module")
def volume(tmp_path_factory):
    return volume_files(tmp_path_factory.mktemp("volume"))


@pytest.fixture()
def store():
    beam_memfs.OBJECTS.clear()
    yield beam_memfs
    beam_memfs.OBJECTS.clear()


@pytest.fixture()
def writes(monkeypatch) -> list[str]:
    """Every file a step of an in-memory pipeline opens to write a shard or a window."""
    opened: list[str] = []

    class Spy(pipeline_mod.NewFile):
        def __init__(self, path, scratch, shard=True, compression="none"):
            if shard:
                opened.append(str(path))
            super().__init__(path, scratch, shard, compression)

    monkeypatch.setattr(pipeline_mod, "NewFile", Spy)
    return opened


def _cli(data: Path | str, out: Path | str, classes: list[str], *args: str,
         beam: list[str] | None = None) -> int:
    argv = ["--classes", ",".join(classes), "--data", str(data), "--offline", "--out", str(out),
            "--name", "g", "--workers", "2", *args]
    return main(argv if beam is None else [*argv, "--runner", "beam", "--", *beam])


def _errors(caplog) -> list[str]:
    """What fastdraw logged as errors (Beam logs its own, with its tracebacks)."""
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.ERROR and r.name.startswith("fastdraw")]


def _datasets(out: Path) -> dict[str, dict[str, bytes]]:
    """Every file of every dataset in ``out``, by dataset."""
    return {p.name: tree(p) for p in sorted(out.iterdir()) if p.name.startswith("g_")}


# ------------------------------------------------------------------------------ the bytes


@pytest.mark.parametrize("name", sorted(CASES))
def test_in_memory_gives_every_golden_case_s_bytes(name, tmp_path):
    case = CASES[name]
    data = input_dir(case["source"], case["classes"], tmp_path)
    assert _cli(data, tmp_path / "local", case["classes"], *case["args"]) == 0
    assert _cli(data, tmp_path / "beam", case["classes"], *case["args"], beam=IN_MEMORY) == 0
    local, beam = _datasets(tmp_path / "local"), _datasets(tmp_path / "beam")
    assert beam == local and set(local) == {f"g_{k}" for k in RECORDED[name]}
    assert {k: digests(tmp_path / "beam" / f"g_{k}") for k in RECORDED[name]} == RECORDED[name]
    assert all("manifest.json" in files and "rejected.ndjson" in files
               for files in beam.values())
    assert leftovers(tmp_path / "beam") == sorted(local)


def test_multi_processing_with_2_workers_gives_the_local_bytes(tmp_path):
    """Both kinds, splits as fractions (the Count step), bad lines (rejected.ndjson)."""
    cat = with_bad_lines(tmp_path)
    data = cat.parent
    for name in ["eye", "mouth", "sea turtle"]:
        (data / f"{name}.ndjson").write_bytes((SAMPLE / f"{name}.ndjson").read_bytes())
    classes = ["cat", "eye", "mouth", "sea turtle"]
    args = ["--splits", "train=0.7,eval=0.15,test=0.15", "--shards", "3"]
    assert _cli(data, tmp_path / "local", classes, *args) == 0
    assert _cli(data, tmp_path / "beam", classes, *args, beam=MULTI) == 0
    local, beam = _datasets(tmp_path / "local"), _datasets(tmp_path / "beam")
    assert beam == local and sorted(local) == ["g_img", "g_stroke"]
    assert beam["g_img"]["rejected.ndjson"].count(b"\n") == 3


def test_multi_processing_with_2_workers_gives_the_raw_golden_case_s_bytes(tmp_path):
    case = CASES["raw"]
    data = input_dir(case["source"], case["classes"], tmp_path)
    assert _cli(data, tmp_path / "beam", case["classes"], *case["args"], beam=MULTI) == 0
    assert {k: digests(tmp_path / "beam" / f"g_{k}") for k in RECORDED["raw"]} == RECORDED["raw"]
    assert _cli(data, tmp_path / "local", case["classes"], *case["args"]) == 0
    assert _datasets(tmp_path / "beam") == _datasets(tmp_path / "local")


# Builds of what the golden cases (img and stroke records, int64 images, uncompressed, from
# ndjson) leave out: every other kind and its options, image encoding, compression and input
# format; (classes, source, args) as golden_builds.input_dir makes the source.
FORMATS: dict[str, tuple[list[str], str, list[str]]] = {
    "every-kind-png": (["eye", "mouth", "table"], "simplified", [
        "--kind", "img,stroke,bitmap,ink,sketchrnn", "--img-encoding", "png",
        "--bitmap-size", "32", "--rdp", "1.5", "--splits", "train=30,valid=10,test=10",
        "--shards", "2"]),
    "bytes-zlib-fractions": (["eye", "mouth", "sea turtle", "table"], "simplified", [
        "--kind", "img,ink,bitmap", "--img-encoding", "bytes", "--compression", "zlib",
        "--splits", "train=0.7,eval=0.2,test=0.1", "--shards", "3", "--include-unrecognized"]),
    "binary-int64-gzip": (["eye", "mouth", "table"], "binary", [
        "--kind", "img,stroke,ink", "--compression", "gzip", "--splits", "train=20,eval=5",
        "--shards", "2", "--seed", "5"]),
    "binary-gz-sketchrnn-bitmap": (["eye", "mouth"], "binary-gz", [
        "--kind", "sketchrnn,bitmap", "--splits", "train=50,valid=20,test=10"]),
}
MAGIC = {"gzip": b"\x1f\x8b", "zlib": b"\x78"}  # the first bytes of a compressed shard


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_in_memory_gives_the_local_bytes_of_every_kind_and_format(name, tmp_path):
    classes, source, args = FORMATS[name]
    data = input_dir(source, classes, tmp_path)
    assert _cli(data, tmp_path / "local", classes, *args) == 0
    assert _cli(data, tmp_path / "beam", classes, *args, beam=IN_MEMORY) == 0
    local, beam = _datasets(tmp_path / "local"), _datasets(tmp_path / "beam")
    assert beam == local
    kinds = args[args.index("--kind") + 1].split(",")
    assert sorted(local) == sorted(f"g_{k}" for k in kinds)
    compression = args[args.index("--compression") + 1] if "--compression" in args else "none"
    encoding = args[args.index("--img-encoding") + 1] if "--img-encoding" in args else "int64"
    for kind in kinds:
        files = local[f"g_{kind}"]
        manifest = json.loads(files["manifest.json"])
        assert ("compression" in manifest["made_with"]) == (compression != "none")
        if kind == "img":
            assert manifest["options"]["img_encoding"] == encoding
            assert ("png" in json.dumps(manifest["made_with"])) == (encoding == "png")
        if kind == "sketchrnn":
            assert sorted(n for n in files if n.endswith(".npz")) == [f"{c}.npz" for c in classes]
            continue
        assert manifest["options"]["compression"] == compression
        assert ("dataset_info.json" in files) == (kind != "ink")
        shards = [files[n] for n in manifest["shards"] if files[n]]
        assert shards and all(s.startswith(MAGIC.get(compression, b"")) for s in shards)


def test_multi_processing_with_2_workers_gives_the_local_bytes_of_every_kind(tmp_path):
    classes, source, args = FORMATS["every-kind-png"]
    assert _cli(SAMPLE, tmp_path / "local", classes, *args) == 0
    assert _cli(SAMPLE, tmp_path / "beam", classes, *args, beam=MULTI) == 0
    local, beam = _datasets(tmp_path / "local"), _datasets(tmp_path / "beam")
    assert beam == local and len(local) == 5


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_shards_of_many_windows_give_the_same_bytes(volume, tmp_path, caplog, compression):
    """Windows of one round of img records: every shard is assembled from its parts."""
    classes, files = volume
    splits = {"img": {"train": 300, "eval": 40}, "stroke": {"train": 450, "eval": 50}}
    build(options(classes, files, tmp_path / "local", splits, shards=3,
                  compression=compression))
    with caplog.at_level("INFO", logger="fastdraw.beam"):
        fastdraw.beam.build(options(classes, files, tmp_path / "beam", splits, shards=3,
                                    compression=compression), IN_MEMORY, window_bytes=20_000)
    for kind in splits:
        assert tree(tmp_path / f"beam/t_{kind}") == tree(tmp_path / f"local/t_{kind}")
    counters = re.search(r"Beam counters: .*?(\d+) windows written.*?(\d+) files written",
                         caplog.text)
    assert counters and int(counters[1]) > 10 * int(counters[2]) == 10 * 12


def test_class_files_of_many_windows_and_batches_give_the_same_bytes(volume, tmp_path,
                                                                     monkeypatch, caplog):
    """sketch-rnn's files: each split of a class is assembled from many windows' parts, and
    written in the local build's batches (a batch is a run of the array's pickle), several a
    split here."""
    monkeypatch.setattr(classfiles, "WINDOW", 6_000)
    classes, files = volume
    splits = {"sketchrnn": {"train": 300, "valid": 60, "test": 40}}
    build(options(classes, files, tmp_path / "local", splits))
    batches: list[int] = []
    real = npz_mod._Items.add

    def add(items, pickled, count):
        batches.append(count)
        real(items, pickled, count)

    monkeypatch.setattr(npz_mod._Items, "add", add)
    with caplog.at_level("INFO", logger="fastdraw.beam"):
        fastdraw.beam.build(options(classes, files, tmp_path / "beam", splits), IN_MEMORY,
                            window_bytes=9_000)
    assert tree(tmp_path / "beam/t_sketchrnn") == tree(tmp_path / "local/t_sketchrnn")
    assert sum(batches) == 400 * 3 and len(batches) > 3 * 3
    windows = re.search(r"Beam counters: .*?(\d+) windows written", caplog.text)
    assert windows and int(windows[1]) > 3 * 3 and int(windows[1]) != len(batches)


def test_the_driver_logs_the_local_summary(tmp_path, caplog):
    files = [SAMPLE / f"{c}.ndjson" for c in ["cat", "dog"]]
    splits = {"img": {"train": 6, "eval": 2}, "stroke": {"train": 6, "eval": 2}}
    with caplog.at_level("INFO", logger="fastdraw.build"):
        build(options(["cat", "dog"], files, tmp_path / "local", splits))
    local = [r.getMessage().replace(str(tmp_path / "local"), "OUT") for r in caplog.records
             if r.name == "fastdraw.build.finish"]
    caplog.clear()
    with caplog.at_level("INFO", logger="fastdraw"):
        fastdraw.beam.build(options(["cat", "dog"], files, tmp_path / "beam", splits), IN_MEMORY)
    beam = [r.getMessage().replace(str(tmp_path / "beam"), "OUT") for r in caplog.records
            if r.name == "fastdraw.build.finish"]
    assert [m for m in beam if "built" not in m] == [m for m in local if "built" not in m]
    assert len(beam) == 3 and re.match(r"built 32 examples in [\d.]+ s", beam[-1])
    assert re.search(r"Beam counters: 32 examples encoded, 16 drawings used, 0 bad lines, "
                     r"\d+ windows written, 32 examples written, 40 files written", caplog.text)
    assert re.search(r"a worker held \d+-\d+ MiB while it wrote a window", caplog.text)


def test_a_pipeline_of_one_s_own_takes_the_build(tmp_path, writes):
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    files = [SAMPLE / f"{c}.ndjson" for c in ["cat", "dog"]]
    splits = {"stroke": {"train": 6, "eval": 2}}
    build(options(["cat", "dog"], files, tmp_path / "local", splits))
    opts = options(["cat", "dog"], files, tmp_path / "beam", splits)
    with fastdraw.beam.BeamBuild(opts) as b:
        with beam.Pipeline(options=fastdraw.beam.pipeline_options(IN_MEMORY, 1)) as p:
            built = p | b.transform()
            others = p | "Others" >> beam.Create([1, 2, 3]) | beam.Map(lambda x: x * 2)
            assert_that(others, equal_to([2, 4, 6]), label="CheckOthers")
            assert_that(built | beam.Map(lambda b: (b.kind, b.counts)),
                        equal_to([("stroke", {"train": 12, "eval": 4})]))
    assert [(x.kind, x.counts, x.rejected) for x in b.built] == [
        ("stroke", {"train": 12, "eval": 4}, 0)]
    assert tree(tmp_path / "beam/t_stroke") == tree(tmp_path / "local/t_stroke")
    assert len(writes) == 20 and all(re.search(r"/stroke/(train|eval)-000\d\d-of-00010$", w)
                                     for w in writes)


# ------------------------------------------------------------------------------- stopping


def test_a_short_class_stops_the_pipeline_before_any_shard_is_written(tmp_path, writes):
    files = [SAMPLE / f"{c}.ndjson" for c in ["cat", "dog", "eye"]]
    splits = {"img": {"train": 12, "eval": 1}}
    with pytest.raises(BuildError) as local:
        build(options(["cat", "dog", "eye"], files, tmp_path / "local", splits))
    with pytest.raises(BuildError) as beam:
        fastdraw.beam.build(options(["cat", "dog", "eye"], files, tmp_path / "beam", splits),
                            IN_MEMORY)
    assert type(beam.value) is BuildError and str(beam.value) == str(local.value)
    assert "'cat' (12)" in str(beam.value) and "Nothing was written" in str(beam.value)
    assert writes == []
    assert leftovers(tmp_path / "beam") == []


def test_a_short_class_stops_a_multi_processing_pipeline_as_locally(tmp_path, caplog):
    data = tmp_path / "data"
    data.mkdir()
    for name in ["cat", "dog"]:
        (data / f"{name}.ndjson").write_bytes((SAMPLE / f"{name}.ndjson").read_bytes())
    args = ["--splits", "train=11", "--kind", "stroke"]
    assert _cli(data, tmp_path / "local", ["cat", "dog"], *args) == 1
    local = _errors(caplog)
    caplog.clear()
    assert _cli(data, tmp_path / "beam", ["cat", "dog"], *args, beam=MULTI) == 1
    assert _errors(caplog) == local and "too few in 'dog' (10)" in local[0]
    assert leftovers(tmp_path / "beam") == []


def test_a_drawing_in_two_classes_stops_the_pipeline_as_locally(tmp_path, writes, monkeypatch):
    monkeypatch.setattr(pipeline_mod, "KEYS_PER_BUCKET", 3)  # the key_ids in many buckets
    data = tmp_path / "data"
    data.mkdir()
    dog = (SAMPLE / "dog.ndjson").read_text("utf-8").splitlines()
    cat = (SAMPLE / "cat.ndjson").read_text("utf-8").splitlines()
    moved = [dog[i].replace('"word":"dog"', '"word":"cat"') for i in (3, 7)]
    (data / "cat.ndjson").write_text("\n".join([*cat[:4], moved[0], *cat[4:8], moved[1],
                                                *cat[8:]]) + "\n")
    (data / "dog.ndjson").write_text("\n".join(dog) + "\n")
    files = [data / "cat.ndjson", data / "dog.ndjson"]
    splits = {"stroke": {"train": 8}}
    with pytest.raises(BuildError) as local:
        build(options(["cat", "dog"], files, tmp_path / "local", splits))
    with pytest.raises(BuildError) as beam:
        fastdraw.beam.build(options(["cat", "dog"], files, tmp_path / "beam", splits), IN_MEMORY)
    assert str(beam.value) == str(local.value)
    assert re.match(r"key_id \d+ is in .*cat.ndjson line (5|10) and in .*dog.ndjson line",
                    str(beam.value))
    assert writes == []
    assert leftovers(tmp_path / "beam") == []


def test_strict_stops_at_the_first_bad_line_with_exit_code_2(tmp_path, caplog, writes):
    cat = with_bad_lines(tmp_path)
    args = ["--splits", "train=5", "--strict"]
    assert _cli(cat.parent, tmp_path / "local", ["cat"], *args) == 2
    local = _errors(caplog)
    caplog.clear()
    assert _cli(cat.parent, tmp_path / "beam", ["cat"], *args, beam=IN_MEMORY) == 2
    beam = _errors(caplog)
    assert beam == local and f"{cat}:2: bad line" in beam[0]
    assert writes == []
    assert leftovers(tmp_path / "beam") == []


def test_strict_with_fractions_stops_in_the_count_step(tmp_path):
    cat = with_bad_lines(tmp_path)
    opts = options(["cat"], [cat], tmp_path / "beam", {"img": {"train": 0.5}}, strict=True)
    opts.splits = {"img": {"train": __import__("fractions").Fraction(1, 2)}}
    with pytest.raises(BadInputError, match=rf"{re.escape(str(cat))}:2: bad line"):
        fastdraw.beam.build(opts, IN_MEMORY)
    assert leftovers(tmp_path / "beam") == []


def test_fractions_that_give_an_empty_split_stop_in_the_plan_step(tmp_path):
    files = [SAMPLE / f"{c}.ndjson" for c in ["cat", "dog"]]
    from fractions import Fraction

    splits = {"img": {"train": Fraction(9, 10), "eval": Fraction(1, 100)}}
    with pytest.raises(BuildError) as local:
        build(options(["cat", "dog"], files, tmp_path / "local", splits))
    with pytest.raises(BuildError) as beam:
        fastdraw.beam.build(options(["cat", "dog"], files, tmp_path / "beam", splits), IN_MEMORY)
    assert str(beam.value) == str(local.value) and "rounds down to no example" in str(beam.value)


def test_a_failing_step_is_named_and_leaves_nothing(tmp_path, monkeypatch):
    def broken(*args, **kw):
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(pipeline_mod, "unpack_framed", broken)
    files = [SAMPLE / f"{c}.ndjson" for c in ["cat", "dog"]]
    with pytest.raises(BuildError, match="the Beam pipeline failed: RuntimeError: .*the disk "
                                         "caught fire.*nothing was written"):
        fastdraw.beam.build(options(["cat", "dog"], files, tmp_path / "beam",
                                    {"img": {"train": 4}}), IN_MEMORY)
    assert leftovers(tmp_path / "beam") == []


# ---------------------------------------------------------------------- URLs, object stores


def _into_store(url: str, files: list[Path]) -> None:
    for f in files:
        beam_memfs.OBJECTS[f"{url}/{f.name}"] = f.read_bytes()


def test_urls_are_read_and_written_through_beam_s_file_systems(store, tmp_path):
    classes = ["cat", "eye", "sea turtle"]
    _into_store("memfs://bucket/data", [SAMPLE / f"{c}.ndjson" for c in classes])
    args = ["--splits", "train=6,eval=2", "--shards", "2"]
    assert _cli(SAMPLE, tmp_path / "local", classes, *args) == 0
    assert _cli("memfs://bucket/data", "memfs://bucket/out", classes, *args,
                beam=IN_MEMORY) == 0
    for kind in ("img", "stroke"):
        assert store.under(f"memfs://bucket/out/g_{kind}") == tree(tmp_path / f"local/g_{kind}")
    assert sorted({key.split("/")[3] for key in store.OBJECTS}) == ["data", "out"]
    assert sorted({key.split("/")[4] for key in store.OBJECTS if "/out/" in key}) == [
        "g_img", "g_stroke"]


URL_FORMATS = {
    "binary-png-gzip": (["eye", "mouth", "table"], "binary", [
        "--kind", "img,ink", "--img-encoding", "png", "--compression", "gzip",
        "--splits", "train=20,eval=5", "--shards", "2"]),
    "binary-gz-class-files": (["eye", "mouth"], "binary-gz", [
        "--kind", "sketchrnn,bitmap,stroke", "--splits", "train=30,valid=10,test=5"]),
}


@pytest.mark.parametrize("name", sorted(URL_FORMATS))
def test_binary_files_of_urls_give_an_object_store_the_local_bytes(name, store, tmp_path):
    classes, source, args = URL_FORMATS[name]
    data = input_dir(source, classes, tmp_path)
    _into_store("memfs://bucket/data", sorted(data.iterdir()))
    assert _cli(data, tmp_path / "local", classes, *args) == 0
    assert _cli("memfs://bucket/data", "memfs://bucket/out", classes, *args,
                beam=IN_MEMORY) == 0
    kinds = args[args.index("--kind") + 1].split(",")
    for kind in kinds:
        assert store.under(f"memfs://bucket/out/g_{kind}") == tree(tmp_path / f"local/g_{kind}")
    assert sorted({key.split("/")[4] for key in store.OBJECTS if "/out/" in key}) == sorted(
        f"g_{k}" for k in kinds)


def test_compressed_shards_of_many_windows_on_an_object_store_give_the_local_bytes(
        volume, store, tmp_path):
    """The shards' writer on an object store (StreamShard) deflates the parts as the local
    build's ShardFile deflates its windows."""
    classes, files = volume
    _into_store("memfs://bucket/data", files)
    splits = {"img": {"train": 300, "eval": 40}, "stroke": {"train": 450, "eval": 50}}
    build(options(classes, files, tmp_path / "local", splits, shards=3, compression="zlib"))
    fastdraw.beam.build(BuildOptions(
        classes=classes, files=[f"memfs://bucket/data/{f.name}" for f in files], name="t",
        out="memfs://bucket/out", splits=splits, shards=3, compression="zlib", workers=2,
        progress=False), IN_MEMORY, window_bytes=20_000)
    for kind in splits:
        assert store.under(f"memfs://bucket/out/t_{kind}") == tree(tmp_path / f"local/t_{kind}")


def test_a_bad_record_of_a_binary_file_of_a_url_is_rejected_as_locally(store, tmp_path):
    data = input_dir("binary", ["eye"], tmp_path)
    eye = data / "eye.bin"
    raw = bytearray(eye.read_bytes())
    at = 0
    for _ in range(2):  # to the third record: header, strokes, each its points' x and y
        strokes, at = int.from_bytes(raw[at + 15:at + 17], "little"), at + 17
        for _ in range(strokes):
            at += 2 + 2 * int.from_bytes(raw[at:at + 2], "little")
    raw[at + 10] = 7  # its recognized flag: neither 0 nor 1
    eye.write_bytes(bytes(raw))
    _into_store("memfs://bucket/data", [eye])
    args = ["--kind", "stroke", "--splits", "train=8", "--include-unrecognized"]
    assert _cli(data, tmp_path / "local", ["eye"], *args) == 0
    assert _cli("memfs://bucket/data", "memfs://bucket/out", ["eye"], *args,
                beam=IN_MEMORY) == 0
    local = (tmp_path / "local/g_stroke/rejected.ndjson").read_text("utf-8")
    beam = store.OBJECTS["memfs://bucket/out/g_stroke/rejected.ndjson"].decode("utf-8")
    assert beam == local.replace(str(eye), "memfs://bucket/data/eye.bin") != local
    assert [json.loads(line)["line"] for line in beam.splitlines()] == [3]
    assert store.OBJECTS["memfs://bucket/out/g_stroke/train-00000-of-00010"] == (
        tmp_path / "local/g_stroke/train-00000-of-00010").read_bytes()


def test_class_files_of_urls_are_found_as_locally_by_format(store, caplog):
    from fastdraw.beam.storage import BeamPath

    for name in ["cat.ndjson", "cat.bin", "dog.bin.gz", "eye.ndjson.gz"]:
        store.OBJECTS[f"memfs://bucket/data/{name}"] = b""
    data = BeamPath("memfs://bucket/data")
    with caplog.at_level("INFO", logger="fastdraw.beam"):
        assert fastdraw.beam.class_files(["cat", "dog", "eye"], data) == [
            "memfs://bucket/data/cat.ndjson", "memfs://bucket/data/dog.bin.gz",
            "memfs://bucket/data/eye.ndjson.gz"]
    assert "cat: both kinds of class file in memfs://bucket/data; reading the ndjson" in (
        caplog.text)
    assert fastdraw.beam.class_files(["cat", "dog"], data, "binary") == [
        "memfs://bucket/data/cat.bin", "memfs://bucket/data/dog.bin.gz"]
    with pytest.raises(BuildError, match=r"1 class file is missing: memfs://bucket/data/eye\.bin "
                                         r"\(the public bucket holds gs://quickdraw_dataset/full/"
                                         r"binary/<class>\.bin\)"):
        fastdraw.beam.class_files(["cat", "eye"], data, "binary")


def test_rejected_lines_of_a_url_name_the_url(store, tmp_path):
    cat = with_bad_lines(tmp_path)
    _into_store("memfs://bucket/data", [cat])
    assert _cli("memfs://bucket/data", "memfs://bucket/out", ["cat"], "--splits",
                "train=8,eval=2", "--kind", "stroke", beam=IN_MEMORY) == 0
    rejected = [json.loads(line) for line in
                store.OBJECTS["memfs://bucket/out/g_stroke/rejected.ndjson"].splitlines()]
    assert [(r["file"], r["line"]) for r in rejected] == [
        ("memfs://bucket/data/cat.ndjson", n) for n in (2, 6, 12)]


def test_missing_class_files_of_a_url_are_named(store, tmp_path, caplog):
    _into_store("memfs://bucket/data", [SAMPLE / "cat.ndjson"])
    assert _cli("memfs://bucket/data", tmp_path / "out", ["cat", "dog", "eye"],
                beam=IN_MEMORY) == 1
    assert ("2 class files are missing: memfs://bucket/data/dog.ndjson, "
            "memfs://bucket/data/eye.ndjson") in caplog.text


def test_an_object_store_dataset_is_replaced_only_with_overwrite(store, tmp_path, caplog):
    _into_store("memfs://bucket/data", [SAMPLE / "cat.ndjson", SAMPLE / "dog.ndjson"])
    run = ["memfs://bucket/data", "memfs://bucket/out", ["cat", "dog"], "--kind", "img"]
    assert _cli(*run, "--splits", "train=4", beam=IN_MEMORY) == 0
    first = store.under("memfs://bucket/out/g_img")
    assert _cli(*run, "--splits", "train=6", beam=IN_MEMORY) == 1
    assert "memfs://bucket/out/g_img already exists: pass --overwrite" in caplog.text
    assert store.under("memfs://bucket/out/g_img") == first
    assert _cli(*run, "--splits", "train=6", "--shards", "2", "--overwrite",
                beam=IN_MEMORY) == 0
    second = store.under("memfs://bucket/out/g_img")
    assert sorted(second) == ["counts.json", "dataset_info.json", "features.json",
                              "label.labels.txt", "labels.txt", "manifest.json",
                              "rejected.ndjson", "train-00000-of-00002", "train-00001-of-00002"]
    store.OBJECTS["memfs://bucket/out/g_img/notes.txt"] = b"mine"
    assert _cli(*run, "--splits", "train=6", "--overwrite", beam=IN_MEMORY) == 1
    assert "memfs://bucket/out/g_img is not a dataset (it holds notes.txt)" in caplog.text
    assert [k for k in store.OBJECTS if ".g.tmp-" in k] == []


@pytest.mark.parametrize("kind, metadata, data", [
    ("stroke", ["counts.json", "dataset_info.json", "features.json", "label.labels.txt",
                "labels.txt", "rejected.ndjson"],
     ["eval-00000-of-00002", "eval-00001-of-00002", "train-00000-of-00002",
      "train-00001-of-00002"]),
    ("ink", ["counts.json", "rejected.ndjson", "training.tfrecord.classes"],
     ["eval.tfrecord-00000-of-00002", "eval.tfrecord-00001-of-00002",
      "training.tfrecord-00000-of-00002", "training.tfrecord-00001-of-00002"]),
])
def test_an_object_store_publish_moves_the_manifest_first_and_the_data_files_last(
        store, tmp_path, monkeypatch, kind, metadata, data):
    moved: list[list[str]] = []
    real = objects_mod.move

    def spy(sources, targets):
        moved.append([p.name for p in sources])
        real(sources, targets)

    monkeypatch.setattr(objects_mod, "move", spy)
    _into_store("memfs://bucket/data", [SAMPLE / "cat.ndjson"])
    assert _cli("memfs://bucket/data", "memfs://bucket/out", ["cat"], "--kind", kind,
                "--splits", "train=4,eval=2", "--shards", "2", beam=IN_MEMORY) == 0
    assert moved == [["manifest.json"], metadata, data]


def test_leftovers_of_an_object_store_build_are_named_not_removed(store, tmp_path, caplog):
    _into_store("memfs://bucket/data", [SAMPLE / "cat.ndjson"])
    store.OBJECTS["memfs://bucket/out/.g.tmp-0123abcd/img/train-00000-of-00001"] = b"x" * 10
    assert _cli("memfs://bucket/data", "memfs://bucket/out", ["cat"], "--kind", "img",
                "--splits", "train=2", beam=IN_MEMORY) == 0
    assert re.search(r"memfs://bucket/out/\.g\.tmp-0123abcd \(10 B\): left by an "
                     "interrupted build of 'g', or one still running", caplog.text)
    assert "memfs://bucket/out/.g.tmp-0123abcd/img/train-00000-of-00001" in store.OBJECTS


# ------------------------------------------------------------------------ the command line


def test_without_apache_beam_the_cli_says_how_to_install_it(tmp_path, monkeypatch, caplog):
    for name in [m for m in sys.modules if m == "fastdraw.beam" or m.startswith(
            ("fastdraw.beam.", "apache_beam"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "apache_beam", None)
    assert _cli(SAMPLE, tmp_path / "out", ["cat"], beam=IN_MEMORY) == 1
    assert ('--runner beam needs Apache Beam, which is not installed: pip install '
            '"fastdraw[beam]"') in caplog.text
    assert not (tmp_path / "out").exists()


def test_pipeline_options_are_for_the_beam_runner_only(tmp_path, caplog):
    argv = ["--classes", "cat", "--sample", "--out", str(tmp_path), "--",
            "--runner=DataflowRunner"]
    assert main(argv) == 2
    assert "--runner=DataflowRunner: pipeline options are for --runner beam" in caplog.text


def test_without_a_runner_the_build_runs_here_on_the_workers_processes():
    from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

    options = fastdraw.beam.pipeline_options([], 3)
    direct = options.view_as(DirectOptions)
    assert (direct.direct_running_mode, direct.direct_num_workers) == ("multi_processing", 3)
    options = fastdraw.beam.pipeline_options(IN_MEMORY, 3)
    assert options.view_as(DirectOptions).direct_running_mode == "in_memory"
    options = fastdraw.beam.pipeline_options(["--runner=DataflowRunner", "--project=p"], 3)
    assert options.view_as(StandardOptions).runner == "DataflowRunner"
    assert fastdraw.beam.driver.local_runner(options) is None


def _beam_workers(driver: int) -> list[int]:
    """The processes of Beam's SDK workers among ``driver``'s children and grandchildren."""
    parents = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except (OSError, ValueError):
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found = [p for p, parent in parents.items()
             if parent == driver or parents.get(parent) == driver]
    workers = []
    for pid in found:
        try:
            if b"sdk_worker_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                workers.append(pid)
        except OSError:
            continue
    return workers


def _shell(pid: int) -> bool:
    """Whether process ``pid`` is the shell that runs a worker (else the worker itself)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"/bin/sh")
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@contextlib.contextmanager
def _beam_driver(out: Path) -> Iterator[subprocess.Popen]:
    """A small Beam build with 2 worker processes, run as a process group of its own (killed
    whole at the end, whatever the test did to it)."""
    proc = subprocess.Popen([sys.executable, "-m", "fastdraw", "--classes", "cat,dog",
                             "--sample", "--out", str(out), "--name", "g", "--splits", "train=3",
                             "--workers", "2", "--runner", "beam"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        yield proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupt_while_the_workers_start_ends_them_and_the_build(sig, tmp_path):
    """Ctrl-C or SIGTERM sent to the driver alone (not to its worker processes) while Beam's
    local runner starts its workers: the build ends with exit code 130, leaving no temporary
    directory and no worker (the runner, left alone, waits for ever for workers that wait for
    it)."""
    out = tmp_path / "out"
    with _beam_driver(out) as proc:
        deadline = time.monotonic() + 120
        while not (workers := _beam_workers(proc.pid)):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        proc.send_signal(sig)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("the interrupted driver did not end")
        assert proc.returncode == 130, err
        assert "interrupted" in err
        assert leftovers(out) == []
        assert [w for w in workers if _alive(w)] == []


def test_a_worker_that_dies_while_it_starts_ends_the_build_with_an_error(tmp_path):
    """A worker process of Beam's local runner killed (the OOM killer, say) before it
    connected: the build ends, naming it, and leaves nothing (the runner alone waits for
    that worker for ever, holding the name's lock)."""
    out = tmp_path / "out"
    with _beam_driver(out) as proc:
        deadline = time.monotonic() + 120
        while not (workers := [w for w in _beam_workers(proc.pid) if not _shell(w)]):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(workers[0], signal.SIGKILL)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("the driver did not end")
        assert proc.returncode == 1, err
        assert re.search(r"ERROR MainProcess a worker process of Beam's local runner ended "
                         r"\(.*\) before the pipeline did", err), err
        assert leftovers(out) == []
        assert [w for w in _beam_workers(proc.pid) if _alive(w)] == []


def test_an_interrupt_while_steps_still_write_leaves_no_temporary_directory(tmp_path,
                                                                            monkeypatch):
    """Ctrl-C while the in-memory runner's threads still write in the scratch directory (an
    interrupt does not stop them): the temporary directory is removed all the same, as the
    message says."""
    real = pipeline_mod._Encode.process

    def writing_on(self, label, plans):
        if label == 0:
            for i in range(50_000):
                if i == 5_000:  # the driver's removal meets a directory that keeps filling
                    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
                try:
                    (self.job.scratch / f"late-{i}").write_bytes(b"a step still at work")
                except OSError:
                    break
        yield from real(self, label, plans)

    monkeypatch.setattr(pipeline_mod._Encode, "process", writing_on)
    files = [SAMPLE / f"{c}.ndjson" for c in ["cat", "dog"]]
    with pytest.raises(KeyboardInterrupt):
        fastdraw.beam.build(options(["cat", "dog"], files, tmp_path / "beam",
                                    {"img": {"train": 3}}), IN_MEMORY)
    assert leftovers(tmp_path / "beam") == []


# ------------------------------------------------------------------------- a step's files


@pytest.mark.parametrize("shard", [True, False])
def test_an_attempt_that_fails_leaves_no_file_and_one_that_ends_leaves_it_whole(tmp_path, shard):
    (tmp_path / "scratch").mkdir()
    (tmp_path / "kind").mkdir()
    path = tmp_path / "kind" / "train-00000-of-00001"

    def write(data: bytes, fail: bool) -> None:
        with pipeline_mod.NewFile(path, tmp_path / "scratch", shard) as writer:
            if shard:
                writer.reserve(len(data))[:] = np.frombuffer(data, np.uint8)
                writer.commit()
            else:
                writer.write(data)
            if fail:
                raise RuntimeError("the worker died")

    with pytest.raises(RuntimeError):
        write(b"half a shard", fail=True)
    assert not path.exists() and list((tmp_path / "scratch").iterdir()) == []
    write(b"a whole shard", fail=False)
    assert path.read_bytes() == b"a whole shard"
    with pytest.raises(RuntimeError):
        write(b"half", fail=True)
    assert path.read_bytes() == b"a whole shard"
    assert list((tmp_path / "scratch").iterdir()) == []


def test_an_object_written_by_an_attempt_that_fails_never_appears(store):
    from fastdraw.beam.storage import BeamPath

    path = BeamPath("memfs://bucket/work/img/train-00000-of-00001")
    with pytest.raises(RuntimeError):
        with pipeline_mod.NewFile(path, path.parent) as writer:
            writer.reserve(4)[:] = 7
            writer.commit()
            raise RuntimeError("the worker died")
    assert store.OBJECTS == {}
    with pipeline_mod.NewFile(path, path.parent) as writer:
        writer.reserve(4)[:] = 7
        writer.commit()
    assert store.OBJECTS == {path.url: b"\x07" * 4}


# ---------------------------------------------------------------------------- the places


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_every_round_s_place_is_its_rank_among_its_shard_s_rounds(seed):
    plan = make_plan({"train": 70, "eval": 20, "test": 10}, 3, seed)
    kp = kind_plan(plan, window=4)
    for shard in range(len(plan.shard_names)):
        rounds = np.flatnonzero(plan.shard_id == shard)
        assert kp.place[rounds].tolist() == list(range(len(rounds)))
        assert kp.windows(shard) == -(-len(rounds) // 4)


def test_a_step_s_failure_is_put_in_place_whole_and_read_back(tmp_path):
    from types import SimpleNamespace

    job = SimpleNamespace(failure=tmp_path / "failure.json", scratch=tmp_path)
    with pytest.raises(BadInputError):
        pipeline_mod.fail(job, BadInputError("cat.ndjson, line 3: not valid JSON"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["failure.json"]
    read = pipeline_mod.read_failure(job)
    assert type(read) is BadInputError and str(read) == "cat.ndjson, line 3: not valid JSON"


@pytest.mark.parametrize("text", [b'{"strict": true, "mess', b"[]", b'{"strict": 1}'])
def test_a_failure_that_cannot_be_read_is_still_a_build_error(tmp_path, text):
    from types import SimpleNamespace

    job = SimpleNamespace(failure=tmp_path / "failure.json", scratch=tmp_path)
    job.failure.write_bytes(text)
    read = pipeline_mod.read_failure(job)
    assert type(read) is BuildError and "cannot be read" in str(read)
