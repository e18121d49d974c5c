"""Previews of built datasets (the expected pictures, as PNGs) and the strokes they redraw."""

from __future__ import annotations

import errno
import itertools
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from conftest import SIMPLIFIED
from dataset_helpers import CLASSES, built_datasets, drawings_by_key, tiles_of
from PIL import Image
from realdata import files

from fastdraw.cli import main
from fastdraw.codecs import ImgCodec
from fastdraw.codecs.stroke import draw_strokes, strokes_from_deltas
from fastdraw.notebook import reference
from fastdraw.views.preview import preview


def test_strokes_from_deltas_are_the_normalized_strokes():
    for d in reference.loadn("sea turtle", 18, data_path=SIMPLIFIED):
        xy = np.concatenate(d["drawing"], axis=1).astype(np.float64)
        span = max(1.0, xy.max() - xy.min())
        lo = xy.min(axis=1, keepdims=True)
        got = strokes_from_deltas(reference.json_to_stroke(d).astype(np.float32))
        assert [s.shape[1] for s in got] == [s.shape[1] for s in d["drawing"]]
        for s, want in zip(got, d["drawing"]):
            np.testing.assert_allclose(s, (want - lo) / span, atol=1e-5)


def test_draw_strokes_lifts_the_pen_between_strokes():
    # Points (0,0) (1,0) (0,1) (1,1): with a pen lift onto (0,1), no diagonal between strokes.
    lifted = draw_strokes(np.array([[1.0, -1.0, 1.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]), 64)
    joined = draw_strokes(np.array([[1.0, -1.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]), 64)
    assert joined.sum() > lifted.sum() > 0
    centre = lifted.shape[0] // 2
    assert joined[centre, centre] == 255 and lifted[centre, centre] == 0
    assert lifted[:8].any() and lifted[-8:].any() and not lifted[centre].any()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    return built_datasets(tmp_path_factory.mktemp("preview"))


def _records(path: Path, split: str) -> list[tf.train.Example]:
    shards = [str(p) for p in files(path, f"{split}-*")]
    return [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(shards)]


@pytest.mark.parametrize("kind", ["img", "stroke"])
def test_preview_draws_the_records_in_file_order_with_their_labels(built, kind, tmp_path):
    out = tmp_path / "preview.png"
    assert main(["preview", str(built[kind]), "--split", "train", "--out", str(out),
                 "--rows", "3", "--cols", "4"]) == 0
    img = np.asarray(Image.open(out))
    pitch_y, pitch_x = 64 + 12 + 2, 64 + 2
    assert img.shape == (3 * pitch_y - 2, 4 * pitch_x - 2)
    tiles = tiles_of(img, 64, 3, 4, pitch_y, pitch_x)
    captions = [t.tobytes() for t in tiles_of(img[64:], 12, 3, 4, pitch_y, pitch_x)]
    examples = _records(built[kind], "train")[:12]
    drawings = drawings_by_key()
    words = []
    for tile, example in zip(tiles, examples, strict=True):
        feature = example.features.feature
        d = drawings[feature["key_id"].int64_list.value[0]]
        words.append(CLASSES[feature["label"].int64_list.value[0]])
        if kind == "img":
            np.testing.assert_array_equal(tile, np.asarray(reference.json_to_img(d, 64, 4)))
        else:
            np.testing.assert_array_equal(tile, draw_strokes(reference.json_to_stroke(d), 64))
            assert tile.any()
    assert len({t.tobytes() for t in tiles}) == 12
    for (a, wa), (b, wb) in itertools.combinations(zip(captions, words), 2):
        assert (a == b) == (wa == wb)


def test_preview_of_a_small_split_is_a_grid_just_big_enough(built, tmp_path):
    # Issue 27: the 6 records of this split used to sit in a mostly black 8x8 grid.
    n = len(_records(built["stroke"], "eval"))
    assert n == 6
    out = tmp_path / "eval.png"
    assert main(["preview", str(built["stroke"]), "--split", "eval", "--out", str(out)]) == 0
    img = np.asarray(Image.open(out))
    assert img.shape == (1 * 78 - 2, 6 * 66 - 2)
    assert all(t.any() for t in tiles_of(img, 64, 1, 6, 78, 66))
    out = tmp_path / "eval-3.png"
    assert main(["preview", str(built["stroke"]), "--split", "eval", "--out", str(out),
                 "--cols", "4"]) == 0
    img = np.asarray(Image.open(out))
    assert img.shape == (2 * 78 - 2, 3 * 66 - 2)  # 2 rows of 3, not 4 + 2
    assert all(t.any() for t in tiles_of(img, 64, 2, 3, 78, 66))


def test_bad_input_is_a_clear_error_not_a_traceback(built, tmp_path, capsys):
    out = str(tmp_path / "x.png")
    assert main(["preview", str(tmp_path / "nowhere"), "--out", out]) == 1
    assert "fastdraw preview: error:" in capsys.readouterr().err
    assert main(["preview", str(built["img"]), "--split", "valid", "--out", out]) == 1
    assert "no shards of split 'valid' (expected files valid-00000-of-NNNNN); its splits are " \
           "eval, test, train" in capsys.readouterr().err
    assert main(["preview", str(built["img"]), "--out", out, "--rows", "0"]) == 2
    assert main(["inspect", "unicorn", "--data", str(SIMPLIFIED), "--mosaic", out]) == 1
    assert f"no file for 'unicorn' (did you mean 'onion'?) in --data {SIMPLIFIED}" \
        in capsys.readouterr().err
    assert not Path(out).exists()


def _pop_value(name: str):
    def edit(feature):
        values = feature[name].float_list.value if name.startswith("stroke") \
            else feature[name].int64_list.value
        values.pop()
    return edit


def _nan_delta(feature):
    feature["stroke_x"].float_list.value[2] = float("nan")


@pytest.mark.parametrize("kind, edit, message", [
    ("img", _pop_value("img_64"), "feature img_64 has 4095 values, not 4096"),
    ("stroke", _pop_value("stroke_z"), "stroke_x, stroke_y and stroke_z have "),
    ("stroke", _nan_delta, "stroke deltas that are not finite"),
])
def test_a_record_that_cannot_be_drawn_is_named(built, tmp_path, capsys, kind, edit, message):
    path = Path(shutil.copytree(built[kind], tmp_path / kind))
    shard = path / "train-00000-of-00002"
    records = [r.numpy() for r in tf.data.TFRecordDataset(str(shard))]
    example = tf.train.Example.FromString(records[2])
    edit(example.features.feature)
    records[2] = example.SerializeToString()
    with tf.io.TFRecordWriter(str(shard)) as w:
        for r in records:
            w.write(r)
    assert main(["preview", str(path), "--out", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert f"error: {shard}: record 2: {message}" in err and "fastdraw verify" in err


@pytest.mark.parametrize("text, what", [('{"kind": "img",', "not valid JSON"),
                                        ("[]", "not a JSON object")])
def test_a_damaged_manifest_is_named(built, tmp_path, capsys, text, what):
    path = Path(shutil.copytree(built["img"], tmp_path / "img"))
    (path / "manifest.json").write_text(text)
    assert main(["preview", str(path), "--out", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert f"{path / 'manifest.json'}: {what}" in err and "fastdraw verify" in err


@pytest.mark.parametrize("kind, field, value, what", [
    ("img", "kind", [], "kind is [], not a dataset kind's name"),
    ("stroke", "options", None, "options is null, not an object of the build's options"),
    ("img", "shards", 0, "shards is 0, not an object of the shard files' names"),
    ("img", "img_size", None, "its options are not img's"),
    ("img", "img_size", 0, "its options cannot be a build's (--img-size must be 1 to"),
])
def test_a_manifest_field_of_another_type_is_named(built, tmp_path, capsys, kind, field, value,
                                                    what):
    # each one raised a TypeError, AttributeError or ZeroDivisionError out of preview
    path = Path(shutil.copytree(built[kind], tmp_path / kind))
    manifest = json.loads((path / "manifest.json").read_text())
    (manifest["options"] if field == "img_size" else manifest)[field] = value
    (path / "manifest.json").write_text(json.dumps(manifest))
    assert main(["preview", str(path), "--out", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert f"{path / 'manifest.json'}: {what}" in err and "fastdraw verify" in err


def test_a_preview_the_disk_cannot_hold_leaves_the_earlier_file_whole(built, tmp_path, capsys,
                                                                     monkeypatch):
    # the PNG was written in place: a full disk left a cut-off PNG over the earlier one
    out = tmp_path / "x.png"
    out.write_bytes(b"the earlier preview")
    save = Image.Image.save

    def disk_full(self, fp, *args, **kwargs):
        save(self, fp, *args, **kwargs)
        os.truncate(fp, 100)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_full)
    assert main(["preview", str(built["img"]), "--out", str(out)]) == 1
    assert f"cannot write {out}: No space left on device" in capsys.readouterr().err
    assert out.read_bytes() == b"the earlier preview"
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]


def test_small_images_are_previewed_enlarged(tmp_path):
    assert main(["--group", "pets", "--sample", "--out", str(tmp_path), "--kind", "img",
                 "--img-size", "28", "--workers", "1"]) == 0
    out = tmp_path / "small.png"
    path = tmp_path / "pets_img"
    assert main(["preview", str(path), "--out", str(out), "--rows", "2", "--cols", "3"]) == 0
    img = np.asarray(Image.open(out))
    assert img.shape == (2 * (84 + 12 + 2) - 2, 3 * (84 + 2) - 2)
    examples = _records(path, "train")[:6]
    for tile, example in zip(tiles_of(img, 84, 2, 3, 84 + 12 + 2, 84 + 2), examples, strict=True):
        pixels = np.array(example.features.feature["img_28"].int64_list.value, dtype=np.uint8)
        np.testing.assert_array_equal(tile, pixels.reshape(28, 28).repeat(3, 0).repeat(3, 1))


def test_big_images_make_a_bigger_grid_that_is_checked_after_reading(tmp_path, capsys,
                                                                      monkeypatch):
    """Tiles of images over 64 px are their own size: the limit holds for them too (exit 1:
    the grid fits 64 px tiles, not these), checked once the first record is read."""
    assert main(["--group", "pets", "--sample", "--out", str(tmp_path), "--kind", "img",
                 "--img-size", "256", "--splits", "train=2,eval=1,test=1", "--shards", "1",
                 "--workers", "1"]) == 0
    out, path = tmp_path / "big.png", str(tmp_path / "pets_img")
    assert main(["preview", path, "--out", str(out), "--rows", "60", "--cols", "60"]) == 1
    assert "a 60x60 grid of 256 px tiles would be a 15478x16198 image" in capsys.readouterr().err
    assert not out.exists()
    read = []
    real = ImgCodec.picture
    monkeypatch.setattr(ImgCodec, "picture",
                        lambda self, f, size: read.append(1) or real(self, f, size))
    with pytest.raises(ValueError, match="of 256 px tiles"):
        preview(path, "train", 60, 60)
    assert read == [1]
    assert main(["preview", path, "--out", str(out), "--rows", "2", "--cols", "2"]) == 0
    assert Image.open(out).size == (2 * 258 - 2, 2 * 270 - 2)


def test_a_png_path_that_cannot_be_written_is_refused_before_any_work(built, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    for where, words in [(tmp_path / "nodir" / "x.png", "nodir does not exist: create it"),
                         (tmp_path, "is a directory: give the path of the PNG file"),
                         (tmp_path / "file" / "x.png", "file is a file, not a directory")]:
        with pytest.raises(SystemExit) as e:
            main(["preview", str(built["img"]), "--out", str(where)])
        assert e.value.code == 2
        assert f"error: --out {where}" in capsys.readouterr().err
        with pytest.raises(SystemExit) as e:
            main(["inspect", "cat", "--sample", "--mosaic", str(where)])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert f"error: --mosaic {where}" in err and words in err
    assert not (tmp_path / "nodir").exists()


def test_a_directory_of_datasets_is_named_so_with_one_to_give(built, tmp_path, capsys):
    out = built["img"].parent
    assert main(["preview", str(out), "--out", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert "is not a dataset, it holds datasets (" in err and "give one of them, such as" in err
    assert not (tmp_path / "x.png").exists()
