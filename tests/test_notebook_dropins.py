"""The drop-in API: the notebook's names and signatures at the top level, TensorFlow kept out."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import fastdraw
from fastdraw.notebook import reference

NAMES = [
    "list_bucket", "retrieve", "convert", "loaditer", "loadn", "json_to_img", "showimg",
    "json_to_stroke", "make_example_img", "make_example_stroke", "rand_key",
    "make_sharded_files",
]


def test_every_function_of_the_notebook_is_a_drop_in():
    assert sorted([*NAMES, "official_bitmap", "official_bitmaps"]) == fastdraw.__all__
    assert len(NAMES) == 12


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


# ---------------------------------------------------------------------------- rand_key


@pytest.mark.parametrize("counts", [
    {"train": 5, "eval": 1, "test": 1},
    {"train": 0, "eval": 3, "test": 0},
    {"a": 1},
    {"train": 70000, "valid": 2500, "test": 2500},
])
def test_rand_key_draws_and_counts_down_as_the_notebook(counts):
    import random

    ours, theirs = dict(counts), dict(counts)
    got, want = [], []
    random.seed(11)
    for _ in range(sum(counts.values()) + 2):  # two draws past the end: None, as the notebook
        got.append(fastdraw.rand_key(ours))
    after_ours = random.getstate()
    random.seed(11)
    for _ in range(sum(counts.values()) + 2):
        want.append(reference.rand_key(theirs))
    assert random.getstate() == after_ours
    assert got == want and ours == theirs
    assert got[-2:] == [None, None] and all(v == 0 for v in ours.values())


def test_rand_key_with_a_negative_total_fails_as_the_notebook():
    with pytest.raises(ValueError):
        reference.rand_key({"train": -2})
    with pytest.raises(ValueError):
        fastdraw.rand_key({"train": -2})


# ---------------------------------------------------------------------------- showimg


def _shown_html(show, img, monkeypatch) -> str:
    """The HTML that ``show`` displays in a (simulated) Jupyter kernel's IPython shell."""
    from IPython import display
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    monkeypatch.setattr(shell, "kernel", object(), raising=False)
    shown = []
    monkeypatch.setattr(display, "display", lambda *objs, **kw: shown.extend(objs))
    assert show(img) is None
    (html,) = shown
    assert isinstance(html, display.HTML)
    return html.data


def test_showimg_in_a_notebook_displays_the_notebook_s_html(monkeypatch):
    import numpy as np
    from conftest import SIMPLIFIED

    drawing = reference.loadn("cat", 1, data_path=str(SIMPLIFIED))[0]
    pil = reference.json_to_img(drawing, img_sz=64, lw=4)
    tableau = np.zeros((128, 64), dtype=np.uint8)
    tableau[:64] = np.asarray(pil)
    tableau[64:] = np.asarray(reference.json_to_img(drawing, img_sz=64, lw=1))
    for img in (pil, tableau):
        ours = _shown_html(fastdraw.showimg, img, monkeypatch)
        assert ours == _shown_html(reference.showimg, img, monkeypatch)
        assert ours.startswith('<img src="data:image/png;base64,')


def test_showimg_outside_a_notebook_writes_a_png_and_says_where(capsys):
    import numpy as np
    from PIL import Image

    img = np.zeros((20, 30), dtype=np.uint8)
    img[5:15, 10:20] = 255
    path = fastdraw.showimg(img)
    try:
        assert path.name.startswith("showimg-") and path.suffix == ".png"
        assert str(path) in capsys.readouterr().err
        with Image.open(path) as png:
            assert png.mode == "RGB" and png.size == (30, 20)
            assert (np.asarray(png)[..., 0] == img).all()
    finally:
        path.unlink()
