"""The ink kind: TensorFlow's RNN-tutorial records, checked against a port of the tutorial's
own code (tests/rnn_tutorial.py): parse_line's ink bit for bit on every real drawing, the
Example bytes, the tutorial's file layout, its input function reading a build, bad input
rejected, verify and the reader."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np
import pytest
import rnn_tutorial
from build_helpers import SAMPLE, leftovers, options, tree, with_bad_lines
from realdata import RAW, raw_files, simplified_files

from fastdraw.build import build
from fastdraw.cli import main
from fastdraw.codecs import InkCodec
from fastdraw.codecs.proto import parse_example
from fastdraw.dataset.tfrecord import TFRecordWriter, read_records
from fastdraw.dataset.verify import check
from fastdraw.drawings import Drawings
from fastdraw.sources import open_source

CLASSES = ["cat", "eye", "sea turtle"]


@pytest.fixture(scope="module")
def tf():
    import tensorflow

    return tensorflow


def _records(d: Drawings, label: int = 0) -> list[bytes]:
    buf, offsets = InkCodec().examples(label, d)
    return [buf[a:b].tobytes() for a, b in zip(offsets[:-1], offsets[1:])]


def _same_bits(ours: np.ndarray, theirs: np.ndarray) -> bool:
    return ours.dtype == theirs.dtype == np.float32 and ours.shape == theirs.shape and bool(
        (ours.view(np.uint32) == theirs.view(np.uint32)).all())


@pytest.mark.parametrize("source", ["simplified", "raw"])
def test_ink_is_parse_line_s_float32_bits_for_every_real_drawing(source, tf):
    files = simplified_files() if source == "simplified" else raw_files()
    checked = lines_read = 0
    for j, path in enumerate(files):
        lines = path.read_text("utf-8").splitlines()
        lines_read += len(lines)
        for d in open_source(path).read(unrecognized=True, on_reject=pytest.fail):
            for i, record in enumerate(_records(d, j)):
                ink, word = rnn_tutorial.parse_line(lines[d.line[i] - 1])
                features = parse_example(record)
                assert _same_bits(features["ink"], ink.reshape(-1)), (path, d.line[i])
                assert features["shape"].tolist() == list(ink.shape)
                want = rnn_tutorial.make_example(j, ink).SerializeToString(deterministic=True)
                assert record == want, (path, d.line[i])
                checked += 1
    assert checked == lines_read > 4000


def _line(drawing: list, word: str = "cat") -> str:
    return json.dumps({"word": word, "countrycode": "US", "recognized": True, "key_id": "1",
                       "timestamp": "2017-03-01 20:41:36.70725 UTC", "drawing": drawing})


@pytest.mark.parametrize("drawing", [
    [[[-0.0, 3, 0], [5, -0.0, 7]]],  # -0.0 beside 0 on both axes: numpy's min decides
    [[[0, 3, -0.0], [5, 0.0, -0.0]]],
    [[[-0.0, -0.0], [-0.0, 2]], [[1], [-0.0]]],
    [[[4, 4, 4], [1, 2, 3]]],  # x never changes: its range 0 is taken as 1
    [[[7], [9]], [[1, 2], [1, 2]]],  # a one-point first stroke: its end is dropped with row 0
    [[[1e30, -3e30], [0.1, 0.3]]],  # huge, and fractional coordinates
    [[[16777217, 1], [2**40 + 1, 3]]],  # integers float32 rounds
])
def test_ink_edge_cases_are_parse_line_s(drawing, tmp_path):
    line = _line(drawing)
    path = tmp_path / "cat.ndjson"
    path.write_text(line + "\n")
    (d,) = open_source(path).read(on_reject=pytest.fail)
    (record,) = _records(d)
    ink, _ = rnn_tutorial.parse_line(line)
    assert _same_bits(parse_example(record)["ink"], ink.reshape(-1))


@pytest.mark.parametrize("drawing,reason", [
    ([[[1e39, 1], [0, 1]]], "x = 1e+39 overflows float32"),
    ([[[0, 1], [-3e38, 3e38]]], "y coordinates span 6e+38, which overflows float32"),
])
def test_drawings_whose_ink_would_not_be_finite_are_unusable(drawing, reason, tmp_path):
    line = _line(drawing)
    path = tmp_path / "cat.ndjson"
    path.write_text(line + "\n")
    (d,) = open_source(path).read(on_reject=pytest.fail)
    (got,) = InkCodec().unusable(d).values()
    assert reason in got
    with np.errstate(over="ignore", invalid="ignore"):
        ink, _ = rnn_tutorial.parse_line(line)
    assert not np.isfinite(ink).all()  # what the tutorial's script writes instead


# ---------------------------------------------------------------------------- builds


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """An ink build of three real classes (recognized drawings, 2 workers, 3 shards)."""
    out = tmp_path_factory.mktemp("ink")
    assert main(["--classes", ",".join(CLASSES), "--sample", "--kind", "ink", "--splits",
                 "train=9,eval=3", "--shards", "3", "--seed", "5", "--out", str(out),
                 "--name", "t", "--workers", "2"]) == 0
    return out / "t_ink"


def test_build_writes_the_tutorial_s_files(built):
    assert sorted(p.name for p in built.iterdir()) == sorted([
        *(f"training.tfrecord-{i:05d}-of-00003" for i in range(3)),
        *(f"eval.tfrecord-{i:05d}-of-00003" for i in range(3)),
        "training.tfrecord.classes", "counts.json", "manifest.json", "rejected.ndjson"])
    assert (built / "training.tfrecord.classes").read_text() == "cat\neye\nsea turtle\n"
    assert rnn_tutorial.num_classes(built / "training.tfrecord.classes") == 3
    assert json.loads((built / "counts.json").read_text()) == {"train": 27, "eval": 9}
    manifest = json.loads((built / "manifest.json").read_text())
    assert manifest["kind"] == "ink" and manifest["options"] == {
        "splits": {"train": 9, "eval": 3}, "shards": 3, "seed": 5,
        "include_unrecognized": False, "compression": "none"}


def _expected_inks(classes: list[str], per_class: int) -> collections.Counter:
    """(class_index, ink bytes) of each class's first ``per_class`` recognized drawings, by
    the tutorial's parse_line."""
    want: collections.Counter = collections.Counter()
    for j, name in enumerate(classes):
        lines = [ln for ln in (SAMPLE / f"{name}.ndjson").read_text("utf-8").splitlines()
                 if json.loads(ln)["recognized"]]
        for line in lines[:per_class]:
            ink, word = rnn_tutorial.parse_line(line)
            assert word == name
            want[(j, ink.tobytes())] += 1
    return want


def test_the_tutorial_s_input_function_reads_the_build(built, tf):
    got: collections.Counter = collections.Counter()
    split_records = {}
    for split, stem in (("train", "training"), ("eval", "eval")):
        n = 0
        pattern = str(built / f"{stem}.tfrecord-?????-of-?????")
        for features, labels in rnn_tutorial.input_fn(pattern, batch_size=4):
            shapes = features["shape"].numpy()
            inks = features["ink"].numpy()
            assert (labels.numpy()[:, 0] == features["class_index"].numpy()[:, 0]).all()
            for ink, shape, label in zip(inks, shapes, labels.numpy()[:, 0]):
                assert shape[1] == 3
                rows = ink[:3 * shape[0]].reshape(shape)
                assert not ink[3 * shape[0]:].any()  # padding
                got[(int(label), rows.astype(np.float32).tobytes())] += 1
                n += 1
        split_records[split] = n
    assert split_records == {"train": 27, "eval": 9}
    assert got == _expected_inks(CLASSES, 12)


def test_build_is_byte_identical_whatever_the_workers(built, tmp_path):
    assert main(["--classes", ",".join(CLASSES), "--sample", "--kind", "ink", "--splits",
                 "train=9,eval=3", "--shards", "3", "--seed", "5", "--out", str(tmp_path),
                 "--name", "t", "--workers", "1"]) == 0
    assert tree(tmp_path / "t_ink") == tree(built)


def test_verify_accepts_the_build_and_catches_a_changed_record(built, tmp_path, capsys):
    report = check(built)
    assert report.problems == [] and report.kind == "ink"
    assert report.split_records == {"train": 27, "eval": 9}
    copy = tmp_path / "copy"
    copy.mkdir()
    for p in built.iterdir():
        (copy / p.name).write_bytes(p.read_bytes())
    shard = copy / "eval.tfrecord-00001-of-00003"
    records = list(read_records(shard))
    features = parse_example(records[0])
    ink = rnn_tutorial.make_example(int(features["class_index"][0]),
                                    features["ink"].reshape(-1, 3)[:-1])
    with TFRecordWriter(shard) as w:  # one row dropped from ink, its shape left as it was
        for r in [ink.SerializeToString(deterministic=True)[:-3] + records[0][-3:],
                  *records[1:]]:
            w.write(r)
    problems = check(copy).problems
    assert any("ink holds other than 3 x shape[0] values in 1 record" in p for p in problems)
    assert any("sha256" in p for p in problems)


def test_verify_checks_the_tutorial_s_own_output(tmp_path, tf):
    """A directory as create_dataset.py writes it: no manifest, counts or rejected lines."""
    classes = ["eye", "cat"]
    writers = [tf.io.TFRecordWriter(str(tmp_path / f"training.tfrecord-{i:05d}-of-00002"))
               for i in range(2)]
    for j, name in enumerate(classes):
        for k, line in enumerate((SAMPLE / f"{name}.ndjson").read_text().splitlines()[:5]):
            ink, _ = rnn_tutorial.parse_line(line)
            writers[k % 2].write(rnn_tutorial.make_example(j, ink).SerializeToString())
    for w in writers:
        w.close()
    (tmp_path / "training.tfrecord.classes").write_text("".join(f"{c}\n" for c in classes))
    report = check(tmp_path)
    assert report.problems == []
    assert report.kind == "ink" and report.split_records == {"train": 10}
    assert "the RNN tutorial's layout (as its create_dataset.py writes)" in report.notes[0]


def test_bad_lines_are_rejected_and_reported(tmp_path):
    """The tutorial's script loops forever on a line it cannot parse; a build rejects it."""
    path = with_bad_lines(tmp_path)
    out = tmp_path / "out"
    build(options(["cat"], [path], out, {"ink": {"train": 8, "eval": 2}}, shards=1))
    rejected = [json.loads(x) for x in (out / "t_ink" / "rejected.ndjson").read_text()
                .splitlines()]
    assert [r["line"] for r in rejected] == [2, 6, 12]
    assert check(out / "t_ink").problems == []
    assert leftovers(out) == ["t_ink"]


def test_ink_dataset_reads_rows_lengths_and_labels(built, tf):
    from fastdraw.data import ink_dataset, stroke_dataset

    rows = []
    for ink, length, label in ink_dataset(built, "eval", max_len=300, batch_size=4):
        for one, n, j in zip(ink.numpy(), length.numpy(), label.numpy()):
            assert not one[n:].any()
            rows.append((int(j), one[:n].tobytes()))
    want = [(int(parse_example(r)["class_index"][0]), parse_example(r)["ink"].tobytes())
            for shard in sorted(built.glob("eval.tfrecord-*")) for r in read_records(shard)]
    assert rows == want
    with pytest.raises(ValueError, match="is an ink dataset, not stroke"):
        stroke_dataset(built, "eval")


def test_preview_draws_ink_records_with_their_class_names(built, tmp_path):
    from fastdraw.views.preview import dataset_tiles

    tiles, names = dataset_tiles(built, "train", 6)
    assert len(tiles) == 6 and all(t.max() == 255 for t in tiles)
    assert set(names) <= set(CLASSES) and len(set(names)) > 1


def test_a_split_named_like_the_train_split_s_files_is_refused(tmp_path):
    with pytest.raises(Exception, match="training.tfrecord"):
        build(options(["cat"], [SAMPLE / "cat.ndjson"], tmp_path,
                      {"ink": {"train": 2, "training": 1}}))
    assert not list(Path(tmp_path).glob("t_*"))


def test_a_split_named_training_alone_is_refused(tmp_path):
    # Its files, training.tfrecord-*, are read back as split train: the build wrote a
    # dataset that verify failed and whose split training no reader found.
    with pytest.raises(Exception, match="split 'training': its files, training.tfrecord-"):
        build(options(["cat"], [SAMPLE / "cat.ndjson"], tmp_path,
                      {"ink": {"training": 2, "eval": 1}}))
    assert not list(Path(tmp_path).glob("t_*"))


def test_raw_drawings_build_ink_from_x_and_y(tmp_path, tf):
    names = ["asparagus", "stitches"]
    out = tmp_path / "out"
    build(options(names, [RAW / f"{n}.ndjson" for n in names], out,
                  {"ink": {"train": 3, "eval": 1}}, shards=1, include_unrecognized=True))
    got = sorted((int(parse_example(r)["class_index"][0]), parse_example(r)["ink"].tobytes())
                 for shard in sorted((out / "t_ink").glob("*.tfrecord-*"))
                 for r in read_records(shard))
    want = sorted((j, rnn_tutorial.parse_line(line)[0].tobytes()) for j, n in enumerate(names)
                  for line in (RAW / f"{n}.ndjson").read_text().splitlines()[:4])
    assert got == want
