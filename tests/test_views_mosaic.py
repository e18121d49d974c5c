"""Mosaics of real drawings: the notebook's tableau, as PNGs."""

from __future__ import annotations

import numpy as np
from conftest import SIMPLIFIED
from dataset_helpers import tiles_of
from PIL import Image, ImageDraw

from fastdraw.cli import main
from fastdraw.notebook import reference
from fastdraw.sources import open_source
from fastdraw.views import mosaic as mosaic_module
from fastdraw.views.mosaic import mosaic


def _notebook_drawings(names: list[str], rows: int, cols: int, seed: int) -> list[dict]:
    """The notebook's section 3 drawings: loadn per class, concatenated, permuted."""
    drawings = [d for name in names for d in reference.loadn(name, rows * cols,
                                                             data_path=SIMPLIFIED)]
    np.random.seed(seed)
    return list(np.random.permutation(drawings)[:rows * cols])


def _notebook_tableau(names: list[str], rows: int, cols: int, seed: int) -> list[np.ndarray]:
    """The notebook's tableau tiles, rendered by the reference."""
    return [np.asarray(reference.json_to_img(d, img_sz=64, lw=4, maximize=True))
            for d in _notebook_drawings(names, rows, cols, seed)]


def test_one_class_mosaic_is_the_notebooks_tableau(tmp_path):
    out = tmp_path / "eye.png"
    assert main(["inspect", "eye", "--data", str(SIMPLIFIED), "--mosaic", str(out),
                 "--rows", "5", "--cols", "5", "--seed", "3"]) == 0
    img = np.asarray(Image.open(out))
    assert img.shape == (320, 320) and img.dtype == np.uint8
    want = _notebook_tableau(["eye"], 5, 5, seed=3)
    for got, tile in zip(tiles_of(img, 64, 5, 5), want, strict=True):
        np.testing.assert_array_equal(got, tile)
    assert len({t.tobytes() for t in want}) == 25


def test_too_few_drawings_leave_black_tiles():
    recognized = len(reference.loadn("cat", 100, data_path=SIMPLIFIED))
    img = np.asarray(mosaic(["cat"], SIMPLIFIED, rows=4, cols=5, seed=0))
    assert img.shape == (256, 320)
    tiles = tiles_of(img, 64, 4, 5)
    assert recognized < 20
    assert [t.any() for t in tiles] == [True] * recognized + [False] * (20 - recognized)


def test_several_classes_get_a_label_on_each_tile():
    rows, cols, names = 4, 6, ["cat", "dog", "eye"]
    img = np.asarray(mosaic(names, SIMPLIFIED, rows, cols))
    assert img.shape == (256, 384)
    want = _notebook_tableau(names, rows, cols, seed=0)
    words = [d["word"] for d in _notebook_drawings(names, rows, cols, seed=0)]
    labels: dict[str, bytes] = {}
    measure = ImageDraw.Draw(Image.new("L", (1, 1)))
    for got, tile, word in zip(tiles_of(img, 64, rows, cols), want, words, strict=True):
        right, bottom = measure.textbbox((1, 0), word)[2:]
        box = got[:bottom + 1, :right + 1]
        assert ((box > 0) & (box < 255)).any(), "no anti-aliased label text"
        assert labels.setdefault(word, box.tobytes()) == box.tobytes()
        outside = np.ones(got.shape, dtype=bool)
        outside[:bottom + 1, :right + 1] = False
        np.testing.assert_array_equal(got[outside], tile[outside])
    assert len(set(labels.values())) == 3


def test_mosaic_reads_the_bundled_sample_with_sample(tmp_path):
    out = tmp_path / "pets.png"
    assert main(["inspect", "cat", "dog", "--sample", "--mosaic", str(out), "--rows", "3",
                 "--cols", "4", "--seed", "1"]) == 0
    got = np.asarray(Image.open(out))
    want = np.asarray(mosaic(["cat", "dog"], SIMPLIFIED, rows=3, cols=4, seed=1))
    np.testing.assert_array_equal(got, want)
    assert not np.array_equal(want, np.asarray(mosaic(["cat", "dog"], SIMPLIFIED, 3, 4, seed=2)))


def test_the_mosaic_rasterizes_only_the_drawings_it_shows(monkeypatch):
    """rows * cols drawings of each class are read, but only the rows * cols drawn are
    rasterized (memory for the tiles shown, not for every class's), same picture."""
    want = np.asarray(mosaic(["cat", "dog", "eye"], SIMPLIFIED, rows=2, cols=3, seed=4))
    drawn = []
    real = mosaic_module.rasterize

    def counting(chunk, **kw):
        drawn.append(len(chunk))
        return real(chunk, **kw)

    monkeypatch.setattr(mosaic_module, "rasterize", counting)
    monkeypatch.setattr(mosaic_module, "open_source", _one_at_a_time)
    got = np.asarray(mosaic(["cat", "dog", "eye"], SIMPLIFIED, rows=2, cols=3, seed=4))
    np.testing.assert_array_equal(got, want)
    assert sum(drawn) == 6


def _one_at_a_time(path):
    """open_source whose reads give chunks of one drawing, so that rasterize sees only those
    drawn."""
    source = open_source(path)
    read = source.read
    source.read = lambda **kw: read(chunk_size=1, **kw)
    return source


def test_a_seed_numpy_cannot_take_is_a_usage_error_naming_the_option(tmp_path, capsys):
    for seed in ("-1", str(2**32)):
        out = tmp_path / "m.png"
        assert main(["inspect", "cat", "--sample", "--mosaic", str(out), "--seed", seed]) == 2
        assert f"--seed must be 0 to 4294967295 (numpy's seeds), not {seed}" \
            in capsys.readouterr().err
        assert not out.exists()
