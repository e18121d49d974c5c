"""`make_sharded_files`, the notebook's drop-in: the notebook's files, byte for byte, with its
own make_example functions or any other, on simplified and raw drawings."""

from __future__ import annotations

import random

import pytest
import realdata
from build_helpers import SAMPLE, iters_of, label_keys, parsed
from conftest import RAW

from fastdraw.build.plan import make_plan
from fastdraw.dataset.tfrecord import read_records
from fastdraw.notebook import reference
from fastdraw.notebook.dropins import loaditer, make_example_img, make_example_stroke
from fastdraw.notebook.sharded import make_sharded_files


@pytest.fixture(scope="module")
def tf():
    """TensorFlow, imported before any test seeds `random`: importing it draws from `random`."""
    import tensorflow

    return tensorflow


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
    classes = [p.stem for p in realdata.files(RAW, "*.ndjson", at_least=3)[:3]]
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
