"""fastdraw.data's tf.data readers give back exactly the pixels and deltas written."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from dataset_helpers import CLASSES, SHARDS, SPLITS, built_datasets, drawings_by_key
from realdata import files

from fastdraw.data import img_dataset, stroke_dataset
from fastdraw.dataset import layout, tfdata
from fastdraw.notebook import reference


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    return built_datasets(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def drawings() -> dict[int, dict]:
    return drawings_by_key()


def _key_ids(path: Path, split: str) -> list[int]:
    """key_ids of a split's records in file order (shards sorted), read by TensorFlow itself."""
    shards = [str(p) for p in files(path, f"{split}-*", at_least=SHARDS)]
    return [tf.train.Example.FromString(r.numpy()).features.feature["key_id"].int64_list.value[0]
            for r in tf.data.TFRecordDataset(shards)]


@pytest.mark.parametrize("split", list(SPLITS))
def test_img_dataset_gives_the_reference_pixels_in_file_order(built, drawings, split):
    keys = _key_ids(built["img"], split)
    got = list(img_dataset(built["img"], split).as_numpy_iterator())
    assert len(got) == len(keys) == SPLITS[split] * len(CLASSES)
    for (image, label), key in zip(got, keys):
        d = drawings[key]
        assert image.dtype == np.uint8 and image.shape == (64, 64)
        np.testing.assert_array_equal(image, np.asarray(reference.json_to_img(d, 64, 4)))
        assert label == CLASSES.index(d["word"])


@pytest.mark.parametrize("split", list(SPLITS))
def test_stroke_dataset_gives_the_reference_deltas_in_file_order(built, drawings, split):
    keys = _key_ids(built["stroke"], split)
    got = list(stroke_dataset(built["stroke"], split).as_numpy_iterator())
    assert len(got) == len(keys)
    for (strokes, length, label), key in zip(got, keys):
        want = reference.json_to_stroke(drawings[key]).T.astype(np.float32)
        assert strokes.dtype == np.float32 and strokes.shape == (256, 3)
        assert length == len(want)
        np.testing.assert_array_equal(strokes[:length], want)
        assert not strokes[length:].any()
        assert label == CLASSES.index(drawings[key]["word"])


def test_stroke_dataset_truncates_beyond_max_len(built, drawings):
    keys = _key_ids(built["stroke"], "train")
    full = [reference.json_to_stroke(drawings[k]).T.astype(np.float32) for k in keys]
    max_len = int(np.median([len(f) for f in full]))
    got = list(stroke_dataset(built["stroke"], "train", max_len=max_len).as_numpy_iterator())
    assert any(len(f) > max_len for f in full) and any(len(f) < max_len for f in full)
    for (strokes, length, _), want in zip(got, full):
        assert strokes.shape == (max_len, 3) and length == min(len(want), max_len)
        np.testing.assert_array_equal(strokes[:length], want[:max_len])


@pytest.mark.parametrize("max_len", [0, -1])
def test_max_len_under_1_is_a_clear_error(built, max_len):
    with pytest.raises(ValueError, match=f"max_len must be at least 1 .*, not {max_len}"):
        stroke_dataset(built["stroke"], "train", max_len=max_len)


@pytest.mark.parametrize("kind", ["img", "stroke"])
def test_batches_hold_the_same_elements(built, kind):
    read = img_dataset if kind == "img" else stroke_dataset
    single = list(read(built[kind], "train").as_numpy_iterator())
    batches = list(read(built[kind], "train", batch_size=4).as_numpy_iterator())
    assert [len(b[0]) for b in batches] == [4, 4, 4, 3]
    for i, field in enumerate(zip(*single)):
        np.testing.assert_array_equal(np.concatenate([b[i] for b in batches]), np.stack(field))


def test_shuffle_is_seeded_and_keeps_every_record(built):
    def labels_and_sums(**kw):
        return [(int(lab), int(img.sum()))
                for img, lab in img_dataset(built["img"], "train", **kw).as_numpy_iterator()]

    ordered = labels_and_sums()
    first = labels_and_sums(shuffle=True, seed=1)
    assert first == labels_and_sums(shuffle=True, seed=1)
    assert first != ordered and sorted(first) == sorted(ordered)
    assert sorted(labels_and_sums(parallel_reads=2)) == sorted(ordered)


@pytest.mark.parametrize("kind", ["img", "stroke"])
def test_a_reader_reads_manifest_json_once(built, monkeypatch, kind):
    """For its kind, image size, shard names and record counts alike."""
    reads = []
    real = layout.read_manifest

    def counted(path):
        reads.append(path)
        return real(path)

    # The readers call it from tfdata; layout's helpers (shard_paths, dataset_codec) would
    # call their own module's when not given the manifest: both are counted.
    monkeypatch.setattr(tfdata, "read_manifest", counted)
    monkeypatch.setattr(layout, "read_manifest", counted)
    reader = img_dataset if kind == "img" else stroke_dataset
    assert sum(1 for _ in reader(built[kind], "eval", batch_size=64)) > 0
    assert reads == [layout.pinned(built[kind])]  # in the build the dataset link leads to


def test_image_size_is_read_from_the_records_without_a_manifest(built, tmp_path):
    path = Path(shutil.copytree(built["img"], tmp_path / "img"))
    (path / "manifest.json").unlink()
    want = list(img_dataset(built["img"], "eval").as_numpy_iterator())
    got = list(img_dataset(path, "eval").as_numpy_iterator())
    assert len(got) == len(want)
    for (a, la), (b, lb) in zip(got, want):
        np.testing.assert_array_equal(a, b)
        assert la == lb


@pytest.mark.parametrize("manifest", [True, False])
def test_an_unknown_split_is_an_error_naming_the_datasets_splits(built, tmp_path, manifest):
    path = Path(shutil.copytree(built["img"], tmp_path / "img"))
    if not manifest:
        (path / "manifest.json").unlink()
    with pytest.raises(FileNotFoundError) as e:
        img_dataset(path, "valid")
    assert str(e.value) == (f"{path}: no shards of split 'valid' (expected files "
                            "valid-00000-of-NNNNN); its splits are eval, test, train")


@pytest.mark.parametrize("manifest", [True, False])
@pytest.mark.parametrize("kind", ["img", "stroke"])
def test_a_dataset_of_the_other_kind_is_a_clear_error(built, tmp_path, kind, manifest):
    """An img dataset read as strokes would give empty strokes, not an error."""
    path = Path(shutil.copytree(built[kind], tmp_path / kind))
    if not manifest:
        (path / "manifest.json").unlink()
    other = "stroke" if kind == "img" else "img"
    read = stroke_dataset if kind == "img" else img_dataset
    article = {"img": "an", "stroke": "a"}[kind]
    with pytest.raises(ValueError, match=f"is {article} {kind} dataset, not {other}: read it "
                                         f"with fastdraw.data.{kind}_dataset"):
        read(path, "train")


def test_the_image_size_is_found_past_empty_shards(built, tmp_path):
    """Without a manifest, the first record may lie in any split's shard."""
    path = Path(shutil.copytree(built["img"], tmp_path / "img"))
    (path / "manifest.json").unlink()
    for shard in files(path, "eval-*", at_least=SHARDS):
        shard.write_bytes(b"")
    got = list(img_dataset(path, "test").as_numpy_iterator())
    assert len(got) == SPLITS["test"] * len(CLASSES) and got[0][0].shape == (64, 64)


@pytest.mark.parametrize("cut", ["at a record boundary", "in a record's header"])
def test_a_shard_cut_short_is_an_error_not_fewer_records(built, tmp_path, cut):
    """TensorFlow itself reads such a shard as a whole file: records would go missing."""
    path = Path(shutil.copytree(built["img"], tmp_path / "img"))
    shard = path / "train-00000-of-00002"
    data = shard.read_bytes()
    first = 12 + int.from_bytes(data[:8], "little") + 4  # the first record's frame
    shard.write_bytes(data[:first + (5 if cut != "at a record boundary" else 0)])
    assert len(list(tf.data.TFRecordDataset(str(shard)))) == 1
    for kw in ({}, {"batch_size": 4}, {"shuffle": True, "seed": 0, "parallel_reads": 2}):
        with pytest.raises(tf.errors.FailedPreconditionError, match="expected to contain"):
            list(img_dataset(path, "train", **kw).as_numpy_iterator())
