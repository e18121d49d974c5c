"""The reference port shows the notebook's documented behaviour on real drawings."""

from __future__ import annotations

import calendar
import json
import random
import time

import numpy as np
import pytest
from conftest import SIMPLIFIED, simplified_files

from fastdraw.notebook import reference


def _all_drawings() -> list[dict]:
    return [
        reference.convert(line) for f in simplified_files() for line in open(f, encoding="utf-8")
    ]


@pytest.fixture(scope="module")
def drawings() -> list[dict]:
    return _all_drawings()


def test_images_are_black_and_white_and_not_empty(drawings):
    for d in drawings:
        img = reference.json_to_img(d, img_sz=64, lw=4)
        assert img.mode == "L" and img.size == (64, 64)
        pixels = np.asarray(img)
        assert set(np.unique(pixels)) == {0, 255}, d["key_id"]


def test_maximize_fills_the_image_and_1024_scaling_does_not(drawings):
    filled = [np.asarray(reference.json_to_img(d, img_sz=32, lw=1)) for d in drawings[:200]]
    plain = [np.asarray(reference.json_to_img(d, 32, 1, False)) for d in drawings[:200]]
    # simplified coordinates are 0..255, so /1024 keeps drawings in the top-left quarter
    assert all(p[16:, :].max() == 0 and p[:, 16:].max() == 0 for p in plain)
    assert all(f[16:, :].max() == 255 for f in filled)


def test_stroke_deltas_mark_new_strokes_and_rebuild_the_normalized_points(drawings):
    for d in drawings:
        s = reference.json_to_stroke(d)
        lengths = [stroke.shape[1] for stroke in d["drawing"]]
        assert s.shape == (3, sum(lengths) - 1)
        starts = np.cumsum(lengths)[:-1] - 1  # delta i leads from point i to point i + 1
        expected_z = np.zeros(sum(lengths) - 1)
        expected_z[starts] = 1
        np.testing.assert_array_equal(s[2], expected_z)
        xy = np.concatenate([np.asarray(st, dtype=np.float32) for st in d["drawing"]], axis=1)
        rebuilt = np.cumsum(s[:2], axis=1, dtype=np.float64)
        scale = max(1, xy.max() - xy.min())
        np.testing.assert_allclose(rebuilt, (xy[:, 1:] - xy[:, :1]) / scale, atol=1e-5)


def test_loaditer_keeps_file_order_and_filters_unrecognized():
    for f in simplified_files()[:40]:
        name = f.stem
        lines = [json.loads(line) for line in open(f, encoding="utf-8")]
        got = list(reference.loaditer(name, data_path=str(SIMPLIFIED)))
        assert [d["key_id"] for d in got] == [d["key_id"] for d in lines if d["recognized"]]
        every = reference.loadn(name, 10**6, unrecognized=True, data_path=str(SIMPLIFIED))
        assert [d["key_id"] for d in every] == [d["key_id"] for d in lines]
        strokes = [s for d in got for s in d["drawing"]]
        assert all(isinstance(s, np.ndarray) and s.shape[0] == 2 for s in strokes)
        assert len(reference.loadn(name, 3, data_path=str(SIMPLIFIED))) == min(3, len(got))


def test_example_fields_under_utc(utc, drawings):
    d = drawings[0]
    ex = reference.make_example_img(7, d)
    f = ex.features.feature
    assert f["label"].int64_list.value == [7]
    assert len(f["img_64"].int64_list.value) == 64 * 64
    assert f["word"].bytes_list.value == [d["word"].encode()]
    assert f["key_id"].int64_list.value == [int(d["key_id"])]
    ts = d["timestamp"][: d["timestamp"].index(".")]
    utc_seconds = calendar.timegm(time.strptime(ts, "%Y-%m-%d %H:%M:%S"))
    assert f["timestamp"].int64_list.value == [utc_seconds]
    st = reference.make_example_stroke(1, d)
    n = sum(s.shape[1] for s in d["drawing"]) - 1
    assert st.features.feature["stroke_len"].int64_list.value == [n]
    assert len(st.features.feature["stroke_z"].float_list.value) == n


def test_rand_key_draws_every_count_exactly():
    random.seed(3)
    counts = {"train": 50, "eval": 10, "test": 10}
    drawn = [reference.rand_key(counts) for _ in range(70)]
    assert {k: drawn.count(k) for k in counts} == {"train": 50, "eval": 10, "test": 10}
    assert counts == {"train": 0, "eval": 0, "test": 0}


def test_make_sharded_files_names_shards_and_labels(tmp_path, utc):
    import tensorflow as tf

    classes = ["cat", "dog", "eye"]
    random.seed(0)
    n = reference.make_sharded_files(
        make_example=reference.make_example_stroke,
        path=str(tmp_path / "ds"),
        classes=classes,
        iters=[reference.loaditer(c, data_path=str(SIMPLIFIED)) for c in classes],
        splits=dict(train=6, eval=2, test=2),
        shards=3,
        report_dt=0,
    )
    assert n == 3 * 10
    names = sorted(p.name for p in (tmp_path / "ds").iterdir())
    assert names == sorted(
        [f"{s}-{i:05d}-of-00003" for s in ("train", "eval", "test") for i in range(3)]
        + ["labels.txt"]
    )
    assert (tmp_path / "ds" / "labels.txt").read_text() == "cat\ndog\neye"
    per_split = {}
    for s in ("train", "eval", "test"):
        files = [str(tmp_path / "ds" / f"{s}-{i:05d}-of-00003") for i in range(3)]
        records = [r.numpy() for r in tf.data.TFRecordDataset(files)]
        labels = [
            tf.train.Example.FromString(r).features.feature["label"].int64_list.value[0]
            for r in records
        ]
        per_split[s] = len(records)
        assert sorted(labels) == sorted([0, 1, 2] * (len(records) // 3))
    assert per_split == {"train": 18, "eval": 6, "test": 6}
