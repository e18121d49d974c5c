"""The drop-in API: the notebook's names and signatures at the top level, TensorFlow kept out."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import fastdraw
from fastdraw.notebook import reference

NAMES = [
    "convert", "loaditer", "loadn", "json_to_img", "json_to_stroke",
    "make_example_img", "make_example_stroke", "make_sharded_files",
]


@pytest.mark.parametrize("name", NAMES)
def test_drop_in_has_the_notebook_signature(name):
    fast, ref = getattr(fastdraw, name), getattr(reference, name)
    assert fast is not ref, f"fastdraw.{name} is still the reference"
    fast_params = inspect.signature(fast).parameters
    ref_params = inspect.signature(ref).parameters
    assert list(fast_params)[: len(ref_params)] == list(ref_params)
    for p in ref_params:
        assert fast_params[p].kind == ref_params[p].kind, p
        assert fast_params[p].default == ref_params[p].default, p
    extras = [fast_params[p] for p in list(fast_params)[len(ref_params):]]
    for extra in extras:  # fastdraw's own options: keyword-only, defaulting to the notebook's
        assert extra.kind is inspect.Parameter.KEYWORD_ONLY, extra
        assert extra.default is not inspect.Parameter.empty, extra


def test_importing_fastdraw_and_its_fast_path_does_not_import_tensorflow():
    code = (
        "import sys, fastdraw, fastdraw.kernels.raster, fastdraw.kernels.strokes, "
        "fastdraw.codecs, fastdraw.codecs.wire, fastdraw.codecs.img, fastdraw.codecs.stroke, "
        "fastdraw.dataset.tfrecord, fastdraw.sources.ndjson.check, "
        "fastdraw.sources.ndjson.blocks, fastdraw.sources.ndjson.scan, "
        "fastdraw.sources.ndjson.reader, fastdraw.build, fastdraw.build.plan, fastdraw.cli, "
        "fastdraw.build.executor, fastdraw.notebook.dropins, fastdraw.notebook.sharded, "
        "fastdraw.errors, fastdraw.build.encode, fastdraw.build.assemble, "
        "fastdraw.build.publish, fastdraw.cli.build\n"
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_help_explains_every_build_option():
    out = subprocess.run(
        [sys.executable, "-m", "fastdraw", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for option in ["--group", "--classes", "--classes-file", "--name", "--data", "--sample",
                   "--offline", "--out", "--kind", "--splits", "--shards", "--seed",
                   "--img-size", "--line-width", "--no-maximize", "--include-unrecognized",
                   "--workers", "--overwrite", "--strict"]:
        assert option in out
    for command in ["inspect", "list", "download", "preview", "verify"]:
        assert f"python -m fastdraw {command}" in out


def test_make_sharded_files_writes_the_notebook_s_local_timestamps(tmp_path, monkeypatch):
    # Issue 27: the drop-ins used UTC where the notebook's time.mktime reads the local zone.
    import random
    import time

    from conftest import SIMPLIFIED

    from fastdraw.codecs.proto import parse_example
    from fastdraw.dataset.tfrecord import read_records

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        random.seed(1)
        fastdraw.make_sharded_files(fastdraw.make_example_stroke, str(tmp_path / "s"), ["cat"],
                                    [fastdraw.loaditer("cat", data_path=SIMPLIFIED)],
                                    {"train": 3}, shards=1)
        drawings = reference.loadn("cat", 3, data_path=str(SIMPLIFIED))
        want = [reference.make_example_stroke(0, d).features.feature["timestamp"]
                .int64_list.value[0] for d in drawings]
    finally:
        monkeypatch.undo()
        time.tzset()
    got = [int(parse_example(r)["timestamp"][0])
           for r in read_records(tmp_path / "s" / "train-00000-of-00001")]
    assert got == want
