"""Builds in every image encoding and shard compression read back the same examples: through
fastdraw.data, preview and tf.data; verify accepts them and catches damage inside a PNG and
inside a compressed shard; unknown names are clear errors, at the command line and in a
manifest."""

from __future__ import annotations

import random
import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest
from build_helpers import SAMPLE, leftovers, options, tree

from fastdraw.build import build
from fastdraw.cli import main
from fastdraw.codecs.proto import parse_example
from fastdraw.data import img_dataset, stroke_dataset
from fastdraw.dataset import layout
from fastdraw.dataset.tfrecord import (
    FRAME_HEAD,
    frame_records,
    read_records,
    tf_compression_type,
)
from fastdraw.dataset.verify import check, verify_dataset
from fastdraw.errors import BuildError
from fastdraw.kernels.buffers import joined
from fastdraw.views.preview import dataset_tiles

CLASSES = ["cat", "eye", "sea turtle"]
SPLITS = {"train": 6, "eval": 2, "test": 2}
# (image encoding, compression) of the img builds; stroke builds take each compression.
FORMATS = [("int64", "none"), ("bytes", "none"), ("png", "none"), ("int64", "gzip"),
           ("bytes", "zlib"), ("png", "gzip"), ("png", "zlib")]
COMPRESSIONS = ["none", "gzip", "zlib"]


def _build(root: Path, kinds: list[str], encoding: str, compression: str, **kw) -> dict:
    opts = options(CLASSES, [SAMPLE / f"{c}.ndjson" for c in CLASSES], root,
                   {kind: dict(SPLITS) for kind in kinds}, shards=2, img_encoding=encoding,
                   compression=compression, **kw)
    return {b.kind: b.path for b in build(opts)}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[tuple[str, str, str], Path]:
    """(kind, encoding, compression) -> dataset."""
    out = {}
    for encoding, compression in FORMATS:
        kinds = ["img", "stroke"] if encoding == "int64" or compression == "zlib" else ["img"]
        root = tmp_path_factory.mktemp(f"{encoding}-{compression}")
        for kind, path in _build(root, kinds, encoding, compression, workers=1).items():
            out[kind, encoding if kind == "img" else "-", compression] = path
    return out


def _images(path: Path, split: str) -> tuple[np.ndarray, list[int]]:
    pairs = [(image.numpy(), int(label)) for image, label in img_dataset(path, split)]
    return np.stack([p[0] for p in pairs]), [p[1] for p in pairs]


@pytest.mark.parametrize("encoding, compression", FORMATS[1:])
def test_every_format_reads_back_the_int64_builds_examples(built, encoding, compression):
    path, base = built["img", encoding, compression], built["img", "int64", "none"]
    for split in SPLITS:
        images, labels = _images(path, split)
        want_images, want_labels = _images(base, split)
        assert np.array_equal(images, want_images) and labels == want_labels
    batched = next(iter(img_dataset(path, "train", batch_size=4)))[0].numpy()
    assert np.array_equal(batched, _images(base, "train")[0][:4])
    tiles, names = dataset_tiles(path, "train", 18)
    want_tiles, want_names = dataset_tiles(base, "train", 18)
    assert np.array_equal(tiles, want_tiles) and names == want_names
    assert verify_dataset(path) == []


@pytest.mark.parametrize("compression", COMPRESSIONS[1:])
def test_compressed_stroke_datasets_read_back_equal(built, compression):
    path, base = built["stroke", "-", compression], built["stroke", "-", "none"]
    for split in SPLITS:
        got = [[t.numpy() for t in e] for e in stroke_dataset(path, split)]
        want = [[t.numpy() for t in e] for e in stroke_dataset(base, split)]
        assert len(got) == len(want) == 3 * SPLITS[split]
        assert all(all(np.array_equal(a, b) for a, b in zip(g, w)) for g, w in zip(got, want))
    assert verify_dataset(path) == []


@pytest.mark.parametrize("kind, encoding, compression",
                         [("img", "png", "gzip"), ("img", "bytes", "zlib"),
                          ("img", "int64", "gzip"), ("stroke", "-", "zlib")])
def test_compressed_shards_hold_the_same_records_as_tensorflow_writes_them(
        built, tmp_path, kind, encoding, compression):
    """Inflated, a shard is the uncompressed build's shard; deflated, it is what TensorFlow's
    TFRecordWriter writes with that compression type; tf.data reads it."""
    import tensorflow as tf

    path = built[kind, encoding, compression]
    plain = built[kind, encoding, "none"] if (kind, encoding, "none") in built else \
        built[kind, "-", "none"]
    wbits = 31 if compression == "gzip" else 15
    for shard in sorted(path.glob("*-of-*")):
        data = shard.read_bytes()
        assert zlib.decompress(data, wbits) == (plain / shard.name).read_bytes()
        records = list(read_records(shard, compression=compression))
        options = tf.io.TFRecordOptions(compression_type=tf_compression_type(compression))
        with tf.io.TFRecordWriter(str(tmp_path / shard.name), options) as writer:
            for record in records:
                writer.write(record)
        assert (tmp_path / shard.name).read_bytes() == data
    files = [str(p) for p in sorted(path.glob("train-*"))]
    read = tf.data.TFRecordDataset(files, compression_type=tf_compression_type(compression))
    assert len(list(read)) == 3 * SPLITS["train"]


def test_the_manifest_says_the_encoding_the_compression_and_what_made_them(built):
    manifest = layout.read_manifest(built["img", "png", "gzip"])
    assert manifest["options"]["img_encoding"] == "png"
    assert manifest["options"]["compression"] == "gzip"
    made = manifest["made_with"]
    assert made["png"]["zlib"] == zlib.ZLIB_RUNTIME_VERSION and made["png"]["level"] == 1
    assert made["png"]["bit_depth"] == 1
    assert made["compression"]["zlib"] == zlib.ZLIB_RUNTIME_VERSION
    assert made["compression"]["as"] == "tf.io.TFRecordOptions(compression_type='GZIP')"
    plain = layout.read_manifest(built["img", "int64", "none"])
    assert plain["made_with"] == {} and plain["options"]["img_encoding"] == "int64"
    assert plain["options"]["compression"] == "none"


def test_png_and_gzip_builds_are_identical_whatever_the_workers(tmp_path):
    trees = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        _build(out, ["img", "stroke"], "png", "gzip", workers=workers)
        assert leftovers(out) == ["t_img", "t_stroke"]
        trees.append({kind: tree(out / f"t_{kind}") for kind in ("img", "stroke")})
    assert trees[0] == trees[1]


# ---------------------------------------------------------------------- verify finds damage


@pytest.fixture()
def png_dataset(built, tmp_path) -> Path:
    return Path(shutil.copytree(built["img", "png", "none"], tmp_path / "png"))


def _first_png(shard: Path) -> tuple[int, int]:
    """(offset in the shard of its first record's PNG, its length)."""
    record = next(read_records(shard))
    data = parse_example(record)["img_64"][0]
    return FRAME_HEAD + record.index(data), len(data)


def test_verify_catches_a_flipped_byte_inside_a_png(png_dataset):
    shard = png_dataset / "train-00000-of-00002"
    at, n = _first_png(shard)
    data = bytearray(shard.read_bytes())
    data[at + n - 20] ^= 0x04  # in the IDAT chunk's zlib data
    shard.write_bytes(bytes(data))
    problems = verify_dataset(png_dataset)
    assert problems[0].startswith("train-00000-of-00002: record at byte offset 0: bad data CRC")
    assert any(p.startswith("train-00000-of-00002: sha256 ") for p in problems)


def test_verify_catches_a_damaged_png_its_record_and_seal_made_anew(png_dataset):
    """A record framed and sealed anew around a damaged PNG (as a faulty writer would leave
    it): the record's CRC and the shard's sha256 hold, the PNG check does not."""
    shard = png_dataset / "train-00000-of-00002"
    records = list(read_records(shard))
    png = parse_example(records[0])["img_64"][0]
    damaged = png[:-20] + bytes([png[-20] ^ 0x04]) + png[-19:]
    records[0] = records[0].replace(png, damaged)
    shard.write_bytes(frame_records(*joined(records)))
    manifest = layout.read_manifest(png_dataset)
    manifest["shards"][shard.name]["sha256"] = __import__("hashlib").sha256(
        shard.read_bytes()).hexdigest()
    del manifest["manifest_sha256"]
    layout.write_manifest(png_dataset, manifest)
    assert verify_dataset(png_dataset) == [
        "train-00000-of-00002: image that is not the 64x64 1-bit PNG a build writes in 1 "
        "record (first: record 0: chunk b'IDAT' at byte 33 has a bad CRC)"]


def test_verify_catches_every_sampled_flipped_byte_inside_a_compressed_shard(built, tmp_path):
    dataset = Path(shutil.copytree(built["img", "png", "gzip"], tmp_path / "gz"))
    shard = dataset / "train-00000-of-00002"
    data = shard.read_bytes()
    rng = random.Random(3)
    for at in sorted(rng.sample(range(len(data)), 40)):
        shard.write_bytes(data[:at] + bytes([data[at] ^ rng.randrange(1, 256)]) + data[at + 1:])
        problems = check(dataset, workers=1).problems
        assert problems and problems[0].startswith(f"{shard.name}: "), at
        assert any(p.startswith(f"{shard.name}: sha256") for p in problems)
    shard.write_bytes(data)
    assert verify_dataset(dataset) == []


# ---------------------------------------------------------------------------- unknown names


@pytest.mark.parametrize("option, value, choices", [
    ("--img-encoding", "jpeg", "'int64', 'bytes', 'png'"),
    ("--compression", "lz4", "'none', 'gzip', 'zlib'"),
])
def test_an_unknown_name_is_a_usage_error_naming_the_choices(tmp_path, capsys, option, value,
                                                             choices):
    with pytest.raises(SystemExit) as exit_:
        main(["--classes", "cat", "--sample", "--out", str(tmp_path), option, value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: invalid choice: '{value}' (choose from {choices})" in err
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_the_command_line_offers_the_encodings_and_compressions_there_are():
    from fastdraw.cli.main import command_parser
    from fastdraw.codecs.img import ENCODINGS
    from fastdraw.dataset.tfrecord import COMPRESSIONS as KNOWN

    build_args = {a.dest: a for a in command_parser("build")._actions}
    assert tuple(build_args["img_encoding"].choices) == ENCODINGS
    assert tuple(build_args["compression"].choices) == KNOWN


@pytest.mark.parametrize("field, value, message", [
    ("img_encoding", "jpeg", "image encoding 'jpeg' is none this version of fastdraw knows "
                             "(int64, bytes, png)"),
    ("compression", "lz4", "compression 'lz4' is none this version of fastdraw knows: choose "
                           "one of none, gzip, zlib"),
])
def test_build_options_naming_an_unknown_format_are_a_build_error(tmp_path, field, value,
                                                                  message):
    with pytest.raises(BuildError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _build(tmp_path, ["img"], **{"encoding": "int64", "compression": "none",
                                     {"img_encoding": "encoding"}.get(field, field): value})


@pytest.mark.parametrize("field, value, reader_says, verify_says", [
    ("img_encoding", "webp",
     "manifest.json: image encoding 'webp' is none this version of fastdraw knows (int64, "
     "bytes, png), so it cannot read the dataset; a newer fastdraw wrote it?",
     'manifest.json: options.img_encoding is the string "webp", not one this version of '
     "fastdraw reads (int64, bytes, png): a newer fastdraw wrote the dataset?"),
    ("compression", "lz4",
     "manifest.json: the shards' compression is 'lz4', which this version of fastdraw cannot "
     "read (it reads none, gzip, zlib); a newer fastdraw wrote it?",
     'manifest.json: options.compression is the string "lz4", not one this version of '
     "fastdraw reads (none, gzip, zlib): a newer fastdraw wrote the dataset?"),
])
def test_a_manifest_naming_an_unknown_format_says_so(png_dataset, capsys, field, value,
                                                     reader_says, verify_says):
    manifest = layout.read_manifest(png_dataset)
    manifest["options"][field] = value
    del manifest["manifest_sha256"]
    layout.write_manifest(png_dataset, manifest)
    with pytest.raises(ValueError) as error:
        img_dataset(png_dataset, "train")
    assert reader_says in str(error.value)
    assert main(["preview", str(png_dataset), "--out", str(png_dataset / "p.png")]) == 1
    assert reader_says in capsys.readouterr().err
    report = check(png_dataset)
    assert report.problems == [verify_says]
    assert report.notes == ["the shards' records were not read (this version of fastdraw "
                            "cannot read them): only their sha256 was checked"]


def test_a_dataset_built_before_the_formats_still_reads_and_verifies(built, tmp_path):
    """No img_encoding, compression, made_with nor TFDS metadata in its manifest: an int64,
    uncompressed dataset, which verify passes with a note."""
    dataset = Path(shutil.copytree(built["img", "int64", "none"], tmp_path / "old"))
    manifest = layout.read_manifest(dataset)
    for option in ("img_encoding", "compression"):
        del manifest["options"][option]
    for name in ("dataset_info.json", "features.json", "label.labels.txt"):
        del manifest["files"][name]
        (dataset / name).unlink()
    del manifest["made_with"], manifest["manifest_sha256"]
    layout.write_manifest(dataset, manifest)
    report = check(dataset)
    assert report.problems == []
    assert report.notes == [
        "no TFDS metadata (dataset_info.json, features.json, label.labels.txt): built by a "
        "fastdraw that did not write it, so tfds.builder_from_directory cannot read the "
        "dataset; rebuild it to add that"]
    assert np.array_equal(_images(dataset, "eval")[0],
                          _images(built["img", "int64", "none"], "eval")[0])
