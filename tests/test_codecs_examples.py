"""The hand-written Example encoder writes TensorFlow's exact bytes for real drawings."""

from __future__ import annotations

import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import tensorflow as tf
from conftest import SIMPLIFIED, simplified_files

import fastdraw
from fastdraw.codecs.img import encode_img_examples
from fastdraw.codecs.stroke import encode_stroke_examples
from fastdraw.drawings import Drawings, notebook_seconds
from fastdraw.kernels.raster import rasterize
from fastdraw.kernels.strokes import encode_strokes
from fastdraw.notebook import reference
from fastdraw.notebook.dropins import make_example_img, make_example_stroke


@pytest.fixture(scope="module")
def labelled() -> tuple[np.ndarray, list[dict]]:
    """Every real drawing, labelled with its class index as the notebook does."""
    labels, drawings = [], []
    for label, f in enumerate(simplified_files()):
        for line in open(f, encoding="utf-8"):
            labels.append(label)
            drawings.append(reference.convert(line))
    return np.array(labels), drawings


@pytest.fixture()
def new_york(monkeypatch):
    """Local time America/New_York (with daylight saving), for the notebook's mktime."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _tf_bytes(example: tf.train.Example) -> bytes:
    return example.SerializeToString(deterministic=True)


def _records(buf: np.ndarray, offsets: np.ndarray) -> list[bytes]:
    assert offsets[0] == 0 and offsets[-1] == len(buf)
    return [buf[a:b].tobytes() for a, b in zip(offsets[:-1], offsets[1:])]


def _notebook_img_example(label: int, d: dict, img: np.ndarray) -> tf.train.Example:
    """The notebook's make_example_img with the image given (any size: feature img_<size>)."""
    example = tf.train.Example()
    feature = example.features.feature
    feature["label"].int64_list.value.append(label)
    feature[f"img_{img.shape[0]}"].int64_list.value.extend(img.reshape(-1))
    feature["countrycode"].bytes_list.value.append(d["countrycode"].encode())
    feature["recognized"].int64_list.value.append(int(d["recognized"]))
    feature["word"].bytes_list.value.append(d["word"].encode())
    ts = d["timestamp"]
    ts = time.mktime(time.strptime(ts[:ts.index(".")], "%Y-%m-%d %H:%M:%S"))
    feature["timestamp"].int64_list.value.append(int(ts))
    feature["key_id"].int64_list.value.append(int(d["key_id"]))
    return example


def test_stroke_examples_are_tf_bytes_for_every_drawing(utc, labelled):
    labels, drawings = labelled
    batch = Drawings.from_dicts(drawings)
    deltas, offsets = encode_strokes(batch)
    records = _records(*encode_stroke_examples(labels, deltas, offsets, batch, batch.timestamp))
    for label, d, record in zip(labels, drawings, records):
        ref = reference.make_example_stroke(int(label), d)
        assert record == _tf_bytes(ref), d["key_id"]
        assert tf.train.Example.FromString(record) == ref


def test_img_examples_are_tf_bytes_for_every_drawing(utc, labelled):
    """Encoder alone: the reference's own images go in, the reference's Example comes out."""
    labels, drawings = labelled
    images = np.stack([np.asarray(reference.json_to_img(d, 64, 4, True)) for d in drawings])
    batch = Drawings.from_dicts(drawings)
    records = _records(*encode_img_examples(labels, images, batch, batch.timestamp))
    for label, d, record in zip(labels, drawings, records):
        ref = reference.make_example_img(int(label), d)
        assert record == _tf_bytes(ref), d["key_id"]
        assert tf.train.Example.FromString(record) == ref


def test_drop_ins_equal_the_reference(utc, labelled):
    labels, drawings = labelled
    assert fastdraw.make_example_img is make_example_img
    assert fastdraw.make_example_stroke is make_example_stroke
    for label, d in zip(labels[::5], drawings[::5]):
        assert make_example_stroke(int(label), d) == reference.make_example_stroke(int(label), d)
    for label, d in zip(labels[::40], drawings[::40]):
        ours = make_example_img(int(label), d)
        assert isinstance(ours, tf.train.Example)
        assert _tf_bytes(ours) == _tf_bytes(reference.make_example_img(int(label), d))


@pytest.mark.parametrize("size", [28, 64, 256])
def test_other_image_sizes(utc, labelled, size):
    labels, drawings = labelled
    picked = drawings[::300]
    images = np.stack([np.asarray(reference.json_to_img(d, size, 2, True)) for d in picked])
    batch = Drawings.from_dicts(picked)
    records = _records(*encode_img_examples(labels[::300], images, batch, batch.timestamp))
    for label, d, img, record in zip(labels[::300], picked, images, records):
        ref = _notebook_img_example(int(label), d, img)
        if size == 64:  # the helper is the notebook's function
            notebook = np.asarray(reference.json_to_img(d, 64, 4, True))
            assert _tf_bytes(_notebook_img_example(int(label), d, notebook)) == _tf_bytes(
                reference.make_example_img(int(label), d))
        assert record == _tf_bytes(ref)
        assert f"img_{size}" in tf.train.Example.FromString(record).features.feature


@pytest.mark.parametrize("size", [1, 3, 8, 30, 64])
@pytest.mark.parametrize("values", ["any", "mostly_0_255", "all_255"])
def test_any_pixel_values(utc, labelled, size, values):
    """Images of any uint8 values (not only a rasterizer's 0 and 255), of sizes whose pixel
    count is not a multiple of 8, encode as TensorFlow does: the 8-pixel fast path falls
    back byte by byte exactly where it must."""
    labels, drawings = labelled
    picked, picked_labels = drawings[::200], labels[::200]
    rng = np.random.default_rng(size)
    shape = (len(picked), size, size)
    if values == "any":
        images = rng.integers(0, 256, shape, dtype=np.uint8)
    elif values == "mostly_0_255":
        images = (rng.random(shape) < 0.4).astype(np.uint8) * 255
        images[rng.random(shape) < 0.02] = 127  # a few grey pixels break 8-pixel runs
        images[rng.random(shape) < 0.02] = 128
    else:
        images = np.full(shape, 255, dtype=np.uint8)
    batch = Drawings.from_dicts(picked)
    records = _records(*encode_img_examples(picked_labels, images, batch, batch.timestamp))
    for label, d, img, record in zip(picked_labels, picked, images, records):
        assert record == _tf_bytes(_notebook_img_example(int(label), d, img))


@pytest.mark.parametrize("key_id", ["9223372036854775807", "9223372036854775806", "0", "1"])
def test_extreme_key_ids_and_labels(utc, labelled, key_id):
    _, drawings = labelled
    d = {**drawings[17], "key_id": key_id}
    for label in (0, 127, 128, 2**31, -1):
        assert _tf_bytes(make_example_stroke(label, d)) == _tf_bytes(
            reference.make_example_stroke(label, d))
        assert _tf_bytes(make_example_img(label, d)) == _tf_bytes(
            reference.make_example_img(label, d))


@pytest.mark.parametrize("label", [2**63, -2**63 - 1, 1.5, "3", True, np.bool_(False), None])
def test_a_label_the_notebook_refuses_is_refused_not_wrapped(utc, labelled, label):
    _, drawings = labelled
    d = drawings[3]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            reference.make_example_img(label, d)
        except (TypeError, ValueError) as e:
            refused = type(e)
        else:
            # protobuf before 7.34 (the one beside apache-beam, which requires protobuf < 7)
            # takes a bool, warning that it will refuse it; fastdraw refuses it already.
            assert label is True and any("got a boolean" in str(w.message) for w in caught)
            refused = TypeError
    for make in (make_example_img, make_example_stroke):
        with pytest.raises(refused, match=r"label .*(out of int64's range|must be an int)"):
            make(label, d)
    for label in (2**63 - 1, -2**63, np.int64(7), np.uint8(200)):
        assert _tf_bytes(make_example_stroke(label, d)) == _tf_bytes(
            reference.make_example_stroke(label, d))


def test_single_point_drawing_has_empty_float_lists(utc, labelled):
    _, drawings = labelled
    d = {**drawings[5], "drawing": [drawings[5]["drawing"][0][:, :1]]}
    ours = make_example_stroke(3, d)
    assert _tf_bytes(ours) == _tf_bytes(reference.make_example_stroke(3, d))
    feature = ours.features.feature
    assert feature["stroke_len"].int64_list.value == [0]
    for key in ("stroke_x", "stroke_y", "stroke_z"):
        assert feature[key].WhichOneof("kind") == "float_list"
        assert list(feature[key].float_list.value) == []


@pytest.mark.parametrize("word, countrycode", [
    ("café ☕ 猫", "ÅÖ"), ("The Eiffel Tower", ""), ("ñ" * 200, "ZZ"),
])
def test_non_ascii_long_and_empty_strings(utc, labelled, word, countrycode):
    _, drawings = labelled
    d = {**drawings[40], "word": word, "countrycode": countrycode}
    assert _tf_bytes(make_example_stroke(1, d)) == _tf_bytes(reference.make_example_stroke(1, d))
    assert _tf_bytes(make_example_img(1, d)) == _tf_bytes(reference.make_example_img(1, d))
    parsed = make_example_img(1, d).features.feature
    assert parsed["word"].bytes_list.value == [word.encode()]
    assert parsed["countrycode"].bytes_list.value == [countrycode.encode()]



@pytest.mark.parametrize("words, codes", [
    # ASCII: one encode for the whole batch.
    (["cat", "", "The Eiffel Tower", "cat", "x" * 300], ["US", "", "DE", "BR", "JP"]),
    # Not: every string on its own.
    (["cat", "", "café ☕ 猫", "ñ" * 200, "cat"], ["US", "ÅÖ", "", "BR", "JP"]),
])
def test_a_batch_s_strings_are_each_drawing_s_own(utc, labelled, words, codes):
    labels, drawings = labelled
    picked = [{**d, "word": w, "countrycode": c} for d, w, c in zip(drawings[10:], words, codes)]
    labels = labels[10:10 + len(picked)]
    batch = Drawings.from_dicts(picked)
    deltas, offsets = encode_strokes(batch)
    strokes = _records(*encode_stroke_examples(labels, deltas, offsets, batch, batch.timestamp))
    images = _records(*encode_img_examples(labels, rasterize(batch, 64, 4), batch,
                                           batch.timestamp))
    for label, d, stroke, img in zip(labels, picked, strokes, images, strict=True):
        assert stroke == _tf_bytes(reference.make_example_stroke(int(label), d))
        assert img == _tf_bytes(reference.make_example_img(int(label), d))


@pytest.mark.parametrize("bad", [7, b"cat", None, "\ud800"])
def test_a_word_that_is_not_a_utf8_string_is_refused_by_name(labelled, bad):
    labels, drawings = labelled
    batch = Drawings.from_dicts(drawings[:3])
    batch.word[1] = bad
    with pytest.raises(ValueError, match="every word must be a str encodable as UTF-8"):
        encode_img_examples(labels[:3], rasterize(batch, 8, 1), batch, batch.timestamp)

def test_timestamp_without_fraction_reads_like_the_notebook(utc, labelled):
    _, drawings = labelled
    d = drawings[99]
    whole = {**d, "timestamp": d["timestamp"].split(".")[0] + " UTC"}
    with pytest.raises(ValueError):  # the notebook needs the fraction
        reference.make_example_stroke(2, whole)
    assert make_example_stroke(2, whole) == reference.make_example_stroke(2, d)
    assert make_example_img(2, whole) == reference.make_example_img(2, d)


def test_timestamps_are_the_notebook_s_unless_utc_is_asked(new_york, labelled):
    """Under a non-UTC zone the notebook's mktime shifts: the drop-ins give the notebook's
    by default (issue 27: they used to give UTC), UTC when asked."""
    labels, drawings = labelled
    picked = drawings[::100]
    shifts = set()
    for label, d in zip(labels[::100], picked):
        ref = reference.make_example_stroke(int(label), d)
        assert make_example_stroke(int(label), d) == ref
        utc = make_example_stroke(int(label), d, utc=True)
        shifts.add(ref.features.feature["timestamp"].int64_list.value[0]
                   - utc.features.feature["timestamp"].int64_list.value[0])
        assert make_example_img(int(label), d) == reference.make_example_img(int(label), d)
        assert make_example_img(int(label), d, utc=True) != reference.make_example_img(
            int(label), d)
    assert shifts == {4 * 3600, 5 * 3600}  # EDT and EST: both sides of daylight saving time
    batch = Drawings.from_dicts(picked)
    deltas, offsets = encode_strokes(batch)
    local = np.array([notebook_seconds(int(t)) for t in batch.timestamp])
    records = _records(*encode_stroke_examples(labels[::100], deltas, offsets, batch, local))
    for label, d, record in zip(labels[::100], picked, records):
        assert record == _tf_bytes(reference.make_example_stroke(int(label), d))


def test_bad_batches_are_refused(labelled):
    labels, drawings = labelled
    batch = Drawings.from_dicts(drawings[:4])
    images = np.zeros((4, 8, 8), np.uint8)
    with pytest.raises(ValueError, match="must both be"):
        encode_img_examples(labels[:3], images, batch, batch.timestamp)
    with pytest.raises(ValueError, match="uint8"):
        encode_img_examples(labels[:4], images.astype(np.int64), batch, batch.timestamp)
    with pytest.raises(ValueError, match="images for"):
        encode_img_examples(labels[:4], images[:3], batch, batch.timestamp)
    deltas, offsets = encode_strokes(batch)
    with pytest.raises(ValueError, match="delta_offsets"):
        encode_stroke_examples(labels[:4], deltas, offsets[:-1], batch, batch.timestamp)
    with pytest.raises(ValueError, match=r"\(3, total\)"):
        encode_stroke_examples(labels[:4], deltas[:2], offsets, batch, batch.timestamp)


def test_encoding_loads_no_tensorflow():
    code = (
        "import sys\n"
        "from fastdraw.codecs.img import encode_img_examples\n"
        "from fastdraw.codecs.stroke import encode_stroke_examples\n"
        "from fastdraw.dataset import tfrecord\n"
        "from fastdraw.kernels import strokes\n"
        "from fastdraw.drawings import Drawings\n"
        "from fastdraw.notebook import reference\n"
        "import numpy as np\n"
        "lines = open(sys.argv[1], encoding='utf-8').read().splitlines()[:5]\n"
        "b = Drawings.from_dicts([reference.convert(x) for x in lines])\n"
        "d, o = strokes.encode_strokes(b)\n"
        "buf, off = encode_stroke_examples(np.zeros(5), d, o, b, b.timestamp)\n"
        "img = encode_img_examples(np.zeros(5), np.zeros((5, 4, 4), np.uint8), b,"
        " b.timestamp)\n"
        "tfrecord.frame_records(buf, off)\n"
        "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code, str(SIMPLIFIED / "cat.ndjson")], check=True,
                   timeout=300)
