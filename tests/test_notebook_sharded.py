"""`make_sharded_files`, the notebook's drop-in: the notebook's files (the same records,
serialized deterministically) with its own make_example functions or any other, on
simplified and raw drawings, and counts.json; verify checks such directories."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import realdata
from build_helpers import SAMPLE, iters_of, label_keys, parsed
from conftest import RAW

from fastdraw.build.plan import make_plan
from fastdraw.cli import main
from fastdraw.dataset.tfrecord import read_records
from fastdraw.dataset.verify import verify_dataset
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
    """The notebook's files, the same records in the same order, each serialized
    deterministically; labels.txt byte for byte; and counts.json besides."""
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
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted([*names, "counts.json"])
    for name in names:
        if name == "labels.txt":
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
            continue
        records = list(read_records(tmp_path / "a" / name))
        expected = parsed(tmp_path / "b" / name)
        assert [r for r in records] == [e.SerializeToString(deterministic=True) for e in expected]
    assert (tmp_path / "a" / "counts.json").read_text() == '{"train": 18, "eval": 6, "test": 3}'


def test_the_notebooks_own_bytes_differ_from_process_to_process():
    """Why the drop-in writes deterministic bytes and not 'the notebook's': protobuf orders a
    map's entries (an Example's features) differently in every process.  A Struct, whose
    fields are such a map, keyed by the notebook's feature names shows it without importing
    TensorFlow in every process."""
    code = ("from google.protobuf import struct_pb2\n"
            "s = struct_pb2.Struct()\n"
            "for k in ['label', 'img_64', 'countrycode', 'recognized', 'word', 'timestamp',\n"
            "          'key_id']:\n"
            "    s.fields[k].number_value = 1\n"
            "print(s.SerializeToString().hex(), s.SerializeToString(deterministic=True).hex())\n")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.split() for _ in range(5)]
    assert len({plain for plain, _ in runs}) > 1
    assert len({deterministic for _, deterministic in runs}) == 1


def test_make_sharded_files_with_any_make_example_writes_deterministic_bytes(tmp_path, utc, tf):
    classes = ["cat", "dog"]
    examples = []

    def make(label, drawing):
        examples.append(reference.make_example_img(label, drawing))
        return examples[-1]

    random.seed(4)
    make_sharded_files(make, str(tmp_path), classes, iters_of(classes), {"train": 3},
                       shards=1, report_dt=0)
    assert list(read_records(tmp_path / "train-00000-of-00001")) == \
        [e.SerializeToString(deterministic=True) for e in examples]


@pytest.fixture()
def notebook_dirs(tmp_path, utc, tf) -> dict[str, Path]:
    """The same img dataset written by the notebook's make_sharded_files and the drop-in."""
    classes = ["cat", "dog"]
    out = {}
    for name, fn, make in (("notebook", reference.make_sharded_files, reference.make_example_img),
                           ("drop-in", make_sharded_files, make_example_img)):
        random.seed(5)
        fn(make, str(tmp_path / name), classes, iters_of(classes), {"train": 4, "eval": 2},
           shards=2, report_dt=0)
        out[name] = tmp_path / name
    return out


SHARDS_CHECKED = "its shards (framing, CRCs, every record parsed and checked)"
LAYOUTS = {  # what verify says of each: the fastdraw extras absent, what it checked
    "notebook": ("manifest.json, counts.json, rejected.ndjson",
                 f"{SHARDS_CHECKED} and labels.txt", "eval 4, train 8",
                 "framing, CRCs, labels and features"),
    "drop-in": ("manifest.json, rejected.ndjson", f"{SHARDS_CHECKED}, labels.txt and counts.json",
                "train 8, eval 4", "framing, CRCs, counts, labels and features"),
}


@pytest.mark.parametrize("name", ["notebook", "drop-in"])
def test_verify_checks_a_directory_of_the_notebooks_layout(notebook_dirs, name, capsys):
    """Sound, with a note of what fastdraw's extras would have let it check (the splits in
    counts.json's order, else the files')."""
    path = notebook_dirs[name]
    absent, checked, splits, verified = LAYOUTS[name]
    assert main(["verify", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{path}: note: no {absent}: a directory of the notebook's layout (as its "
        f"make_sharded_files writes), of which {checked} are verified; fastdraw's extras are "
        "absent, so each shard's sha256 and record count, the build's options and its "
        "rejected lines are not",
        f"OK {path}: img dataset, 2 classes, 12 records ({splits}) in 4 shards; {verified} "
        "verified"]


@pytest.mark.parametrize("name", ["notebook", "drop-in"])
def test_verify_finds_the_faults_of_a_notebook_layout_directory(notebook_dirs, name):
    path = notebook_dirs[name]
    shard = path / "train-00001-of-00002"
    data = bytearray(shard.read_bytes())
    data[40] ^= 1
    shard.write_bytes(bytes(data))
    (path / "labels.txt").write_text("cat\ndog\ncat")
    problems = verify_dataset(path)
    assert problems[0] == "labels.txt: has empty or repeated class names (or a trailing newline)"
    assert problems[1].startswith(f"{shard.name}: record at byte offset 0: bad data CRC")
    if name == "drop-in":  # the damaged shard's records are not counted
        counts = json.loads((path / "counts.json").read_text())
        counts["train"] += 2
        (path / "counts.json").write_text(json.dumps(counts))
        assert "counts.json: train has 10 records, its shards hold 4" in verify_dataset(path)


def test_a_build_that_lost_its_manifest_is_not_taken_for_the_notebooks_layout(notebook_dirs):
    """rejected.ndjson says a build made the directory: its manifest is missing, not absent."""
    path = notebook_dirs["drop-in"]
    (path / "rejected.ndjson").write_text("")
    assert verify_dataset(path) == ["manifest.json: missing"]


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
    """...and no labels.txt or counts.json: the directory does not look complete."""
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
    assert not (tmp_path / "labels.txt").exists() and not (tmp_path / "counts.json").exists()
