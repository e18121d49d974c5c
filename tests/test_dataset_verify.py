"""`verify` passes on sound datasets of real drawings and names the shard of every fault."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dataset_helpers import CLASSES, SHARDS, SPLITS, built_datasets
from realdata import files

from fastdraw.cli import main
from fastdraw.codecs import KINDS
from fastdraw.codecs.proto import parse_example
from fastdraw.dataset import layout, tfrecord
from fastdraw.dataset.verify import verify_dataset
from fastdraw.kernels.buffers import joined


@pytest.fixture(autouse=True, params=["whole shards", "a record a window"])
def window(request, monkeypatch) -> None:
    """Every check holds whether a shard's records come in one window or in many (a window
    of 1 byte grows to the size of one record): problems name the shard's record index."""
    if request.param != "whole shards":
        monkeypatch.setattr(tfrecord, "WINDOW", 1)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    return built_datasets(tmp_path_factory.mktemp("verify"))


@pytest.fixture(params=["img", "stroke"])
def dataset(request, built, tmp_path) -> Path:
    """A fresh copy of a sound dataset, free to damage."""
    return Path(shutil.copytree(built[request.param], tmp_path / request.param))


def _problems_about(path: Path, shard: str) -> list[str]:
    problems = verify_dataset(path)
    assert problems, "verify found nothing wrong"
    return [p for p in problems if p.startswith(shard)]


def test_sound_dataset_passes(dataset, capsys):
    assert verify_dataset(dataset) == []
    assert main(["verify", str(dataset)]) == 0
    out = capsys.readouterr().out
    total = sum(SPLITS.values()) * len(CLASSES)
    assert out.startswith("OK ") and f"{total} records" in out
    assert f"{len(SPLITS) * SHARDS} shards" in out


def test_cli_exits_1_listing_problems_without_importing_tensorflow(dataset):
    """verify, preview and the readers' module import no TensorFlow (it takes seconds)."""
    (dataset / "eval-00001-of-00002").unlink()
    code = ("import sys\nimport fastdraw.data, fastdraw.dataset.tfdata, fastdraw.views.preview\n"
            "from fastdraw.cli import main\n"
            f"rc = main(['verify', {str(dataset)!r}])\n"
            "print('tensorflow' in sys.modules)\nsys.exit(rc)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    assert lines[-1] == "False"
    assert any("eval-00001-of-00002: missing shard file" in line for line in lines)
    assert lines[-2].startswith("FAILED")


def test_workers_get_the_kernels_from_the_parent(built):
    """With several worker processes, the parent loads (on a new machine: compiles) the
    kernels once before forking, instead of every worker doing it."""
    code = ("import sys\nfrom fastdraw.codecs import proto\n"
            "from fastdraw.dataset import tfrecord, verify\n"
            "verify._PARALLEL_BYTES = 0\n"
            "assert verify.check(sys.argv[1], 2).problems == []\n"
            "print(len(proto._scan_kernel.signatures), "
            "len(tfrecord._unframe_kernel.signatures))\n")
    run = subprocess.run([sys.executable, "-c", code, str(built["img"])], capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["1", "1"]


def _record_offsets(shard: Path) -> list[int]:
    """Start offsets of the records of a TFRecord file (8-byte length, 4-byte CRC, data, CRC)."""
    data, pos, out = shard.read_bytes(), 0, []
    while pos < len(data):
        out.append(pos)
        pos += 16 + int.from_bytes(data[pos:pos + 8], "little")
    return out


@pytest.mark.parametrize("where", ["data", "length"])
def test_flipped_byte_is_a_crc_error_naming_shard_and_offset(dataset, where):
    shard = dataset / "train-00001-of-00002"
    start = _record_offsets(shard)[2]
    at = start + (12 + 30 if where == "data" else 3)
    data = bytearray(shard.read_bytes())
    data[at] ^= 0x01
    shard.write_bytes(bytes(data))
    problems = _problems_about(dataset, shard.name)
    crc = [p for p in problems if "crc" in p.lower()]
    assert len(crc) == 1 and where in crc[0].lower() and str(start) in crc[0]
    assert crc[0].startswith(f"{shard.name}: record at byte offset {start}: ")  # no path again
    assert any("sha256" in p for p in problems)
    assert any("holds 2 records" in p for p in problems)


def test_truncated_shard_is_named(dataset):
    shard = dataset / "test-00000-of-00002"
    shard.write_bytes(shard.read_bytes()[:-7])
    problems = _problems_about(dataset, shard.name)
    assert any("truncated" in p.lower() for p in problems)
    assert any("sha256" in p for p in problems)


def test_missing_shard_and_its_records_are_reported(dataset):
    (dataset / "train-00000-of-00002").unlink()
    problems = verify_dataset(dataset)
    assert "train-00000-of-00002: missing shard file" in problems
    assert any(p.startswith("counts.json: train has 15 records") for p in problems)
    assert any(p.startswith("manifest.json: records is 27") for p in problems)


def test_count_mismatch_in_counts_json(dataset):
    counts = json.loads((dataset / "counts.json").read_text())
    counts["eval"] += 1
    _write_json(dataset, "counts.json", counts)
    assert verify_dataset(dataset) == [
        f"counts.json: eval has {counts['eval']} records, manifest.json's options.splits gives "
        f"{SPLITS['eval']} a class, {counts['eval'] - 1} for its 3 classes",
        f"counts.json: eval has {counts['eval']} records, its shards hold {counts['eval'] - 1}"
    ]


def test_stray_shard_is_reported(dataset):
    shutil.copy(dataset / "eval-00000-of-00002", dataset / "eval-00000-of-00003")
    assert verify_dataset(dataset) == [
        "eval-00000-of-00003: unexpected shard file (not in the splits and shard count of "
        "counts.json / manifest.json); a glob would read it too"
    ]


@pytest.mark.parametrize("name", ["eval-00000-of-00002.bak", "eval-00000-of-00002 ",
                                  "train-notes.txt"])
def test_a_file_a_split_s_glob_would_read_as_a_shard_is_reported(dataset, name):
    shutil.copy(dataset / "eval-00000-of-00002", dataset / name)
    split = name.split("-")[0]
    assert verify_dataset(dataset) == [
        f"{name}: not a shard file, but a glob of the {split} split's shards ({split}-*) "
        "would read it as one; remove it"
    ]


def test_a_file_that_is_not_the_build_s_is_named_in_a_note(dataset, capsys):
    (dataset / "notes.txt").write_text("my notes\n")
    assert verify_dataset(dataset) == []
    assert main(["verify", str(dataset)]) == 0
    assert "notes.txt: not a file of the build" in capsys.readouterr().out


def test_swapped_labels_are_word_mismatches(dataset):
    swapped = [CLASSES[1], CLASSES[0], *CLASSES[2:]]
    (dataset / "labels.txt").write_text("\n".join(swapped))
    problems = verify_dataset(dataset)
    assert "manifest.json: classes differ from labels.txt" in problems
    mismatches = [p for p in problems if "word differs from its label" in p]
    assert len(mismatches) == len(SPLITS) * SHARDS
    assert any("label 0 is 'eye', word is 'cat'" in p for p in mismatches)


def test_label_out_of_range(dataset):
    (dataset / "labels.txt").write_text("\n".join(CLASSES[:2]))
    problems = verify_dataset(dataset)
    assert any("label outside 0..1" in p and "label 2" in p for p in problems)


def test_repeated_drawing_across_splits_is_a_leak(dataset):
    manifest = json.loads((dataset / "manifest.json").read_text())
    shutil.copy(dataset / "train-00000-of-00002", dataset / "test-00000-of-00002")
    problems = verify_dataset(dataset)
    leaks = [p for p in problems if "repeat a key_id" in p]
    n = manifest["shards"]["train-00000-of-00002"]["records"]
    assert len(leaks) == 1 and leaks[0].startswith(f"{n} records")
    assert "train-00000-of-00002 record 0" in leaks[0]
    assert "test-00000-of-00002 record 0" in leaks[0]


def test_a_leak_names_the_records_by_their_index_in_each_shard(dataset):
    train = list(tfrecord.read_records(dataset / "train-00000-of-00002"))
    (dataset / "test-00000-of-00002").write_bytes(tfrecord.frame_records(
        *joined([train[-1], *train[2:-1]])))
    leaks = [p for p in verify_dataset(dataset) if "repeat a key_id" in p]
    last = len(train) - 1
    assert len(leaks) == 1 and leaks[0].startswith(f"{last - 1} records")
    assert f"train-00000-of-00002 record {last}" in leaks[0]  # seen first
    assert "test-00000-of-00002 record 0" in leaks[0]  # again


def test_a_drawing_twice_in_one_shard_is_not_called_a_leak(dataset):
    shard = dataset / "train-00000-of-00002"
    train = list(tfrecord.read_records(shard))
    shard.write_bytes(tfrecord.frame_records(*joined([*train, train[1]])))
    repeats = [p for p in verify_dataset(dataset) if "repeat" in p]
    assert repeats == [
        f"1 record repeats a key_id seen before in their shard (first: key_id "
        f"{_key_id(train[1])} in {shard.name} record 1, again in {shard.name} record "
        f"{len(train)}): the same drawing twice in one shard (is an input line repeated?)"]


def test_a_drawing_twice_in_one_split_is_not_called_a_leak(dataset):
    train = [list(tfrecord.read_records(dataset / f"train-0000{i}-of-00002")) for i in (0, 1)]
    (dataset / "train-00001-of-00002").write_bytes(tfrecord.frame_records(
        *joined([*train[1], train[0][2], train[0][3]])))
    repeats = [p for p in verify_dataset(dataset) if "repeat" in p]
    assert repeats == [
        f"2 records repeat a key_id of another shard of their split (first: key_id "
        f"{_key_id(train[0][2])} in train-00000-of-00002 record 2, again in "
        f"train-00001-of-00002 record {len(train[1])}): the same drawing twice in one split"]


def test_repeats_in_a_shard_a_split_and_two_splits_are_told_apart(dataset):
    shard = dataset / "eval-00000-of-00002"
    train = list(tfrecord.read_records(dataset / "train-00000-of-00002"))
    records = list(tfrecord.read_records(shard))
    shard.write_bytes(tfrecord.frame_records(*joined([*records, records[0], train[0]])))
    (dataset / "eval-00001-of-00002").write_bytes(tfrecord.frame_records(*joined(
        [*tfrecord.read_records(dataset / "eval-00001-of-00002"), records[1]])))
    repeats = [p.split(" (first")[0] for p in verify_dataset(dataset) if "repeat" in p]
    assert repeats == ["1 record repeats a key_id of another split",
                       "1 record repeats a key_id of another shard of their split",
                       "1 record repeats a key_id seen before in their shard"]


def _key_id(record: bytes) -> int:
    return int(parse_example(record)["key_id"][0])


def test_record_that_is_not_an_example_is_named(dataset):
    import tensorflow as tf

    shard = dataset / "eval-00000-of-00002"
    with tf.io.TFRecordWriter(str(shard)) as w:
        w.write(b"\x0a\x05\x0a\x03")
    problems = _problems_about(dataset, shard.name)
    assert any("not a valid tf.train.Example" in p and "record 0" in p for p in problems)


def test_missing_metadata_files_are_reported(dataset):
    for name in ("labels.txt", "counts.json", "rejected.ndjson"):
        (dataset / name).unlink()
    problems = verify_dataset(dataset)
    for name in ("labels.txt", "counts.json", "rejected.ndjson"):
        assert f"{name}: missing" in problems


def _edit_record(dataset: Path, shard: str, index: int, edit) -> None:
    """Rewrites record `index` of a shard after `edit(example)` (TensorFlow writes it)."""
    import tensorflow as tf

    path = str(dataset / shard)
    records = [r.numpy() for r in tf.data.TFRecordDataset(path)]
    example = tf.train.Example.FromString(records[index])
    edit(example.features.feature)
    records[index] = example.SerializeToString()
    with tf.io.TFRecordWriter(path) as w:
        for r in records:
            w.write(r)


def _set_int(name, values):
    def edit(f):
        del f[name].int64_list.value[:]
        f[name].int64_list.value.extend(values)
    return edit


def _scale_float(name, i, value):
    def edit(f):
        f[name].float_list.value[i] = value
    return edit


def _img_edit(i, value):
    def edit(f):
        f["img_64"].int64_list.value[i] = value
    return edit


def _drop_pixel(f):
    f["img_64"].int64_list.value.pop()


def _delete(name):
    def edit(f):
        del f[name]
    return edit


def _extra(f):
    f["extra"].bytes_list.value.append(b"x")


def _word_as_int(f):
    del f["word"]
    f["word"].int64_list.value.append(1)


def _shorter(name):
    def edit(f):
        f[name].float_list.value.pop()
    return edit


RECORD_FAULTS = [
    ("img", _delete("countrycode"), "lacks feature 'countrycode' in 1 record (first: record 1)"),
    ("img", _extra, "unexpected feature 'extra' for img records in 1 record (first: record 1)"),
    ("img", _img_edit(5, 256), "pixels outside 0..255 in 1 record (first: record 1: range 0..256)"),
    ("img", _img_edit(7, -1), "pixels outside 0..255 in 1 record (first: record 1: range -1..255)"),
    ("img", _drop_pixel, "image of the wrong size (not 64x64 pixels) in 1 record "
                         "(first: record 1: 4095 values)"),
    ("img", _word_as_int, "feature 'word' of the wrong type in 1 record "
                          "(first: record 1: int, not bytes)"),
    ("img", _set_int("label", [0, 1]), "label has several or no values, not 1 in 1 record "
                                       "(first: record 1: 2 values)"),
    ("stroke", _set_int("recognized", [0]), "unrecognized drawing though include_unrecognized "
                                            "is false in 1 record (first: record 1)"),
    ("stroke", _scale_float("stroke_z", 3, 0.5), "stroke_z values other than 0 and 1 in 1 record "
                                                 "(first: record 1)"),
    ("stroke", _scale_float("stroke_x", 2, float("nan")), "non-finite stroke deltas in 1 record "
                                                          "(first: record 1)"),
    ("stroke", _shorter("stroke_y"), "stroke_x/y/z lengths differ from each other or from "
                                     "stroke_len in 1 record (first: record 1: "),
]


@pytest.mark.parametrize("kind, edit, message", RECORD_FAULTS)
def test_record_faults_are_named_with_their_first_record(built, tmp_path, kind, edit, message):
    dataset = Path(shutil.copytree(built[kind], tmp_path / kind))
    shard = "eval-00001-of-00002"
    _edit_record(dataset, shard, 1, edit)
    problems = verify_dataset(dataset)
    found = [p for p in problems if "sha256" not in p]
    assert len(found) == 1 and found[0].startswith(f"{shard}: {message}")
    assert any(p.startswith(f"{shard}: sha256") for p in problems)


def test_cli_built_sample_datasets_verify_and_preview(tmp_path, capsys):
    assert main(["--group", "pets", "--sample", "--out", str(tmp_path), "--workers", "1"]) == 0
    for kind in ("img", "stroke"):
        path = tmp_path / f"pets_{kind}"
        capsys.readouterr()
        assert main(["verify", str(path)]) == 0
        assert capsys.readouterr().out.startswith(f"OK {path}: {kind} dataset, 2 classes")
        manifest = json.loads((path / "manifest.json").read_text())
        empty = [n for n, s in manifest["shards"].items() if s["records"] == 0]
        assert empty, "the sample leaves some of the 10 shards empty: they must verify too"
        out = tmp_path / f"{kind}.png"
        assert main(["preview", str(path), "--out", str(out), "--rows", "2", "--cols", "2"]) == 0
        (path / "manifest.json").unlink()
        assert verify_dataset(path) == ["manifest.json: missing"]


def test_without_manifest_and_counts_the_shards_on_disk_are_still_checked(dataset):
    (dataset / "manifest.json").unlink()
    (dataset / "counts.json").unlink()
    assert verify_dataset(dataset) == ["manifest.json: missing", "counts.json: missing"]
    shard = dataset / "test-00001-of-00002"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0x80
    shard.write_bytes(bytes(data))
    problems = verify_dataset(dataset)
    assert len(problems) == 3 and problems[2].startswith(f"{shard.name}: ")
    assert "bad data CRC" in problems[2]


def test_a_huge_shard_count_in_the_manifest_is_one_problem_a_split(dataset):
    """A damaged options.shards of millions gave a line (and a name in memory) per shard."""
    manifest = json.loads((dataset / "manifest.json").read_text())
    manifest["options"]["shards"] = 3_000_000
    (dataset / "manifest.json").write_text(json.dumps(manifest))
    problems = verify_dataset(dataset)
    assert len(problems) < 30
    for split in SPLITS:
        assert (f"{split}-00000-of-3000000: missing shard file, as are 2999999 more of split "
                f"{split}'s 3000000 (such as {split}-00001-of-3000000); is the shard count, "
                f"options.shards of manifest.json, right?") in problems


def test_a_few_missing_shards_are_named_one_a_line(dataset):
    manifest = json.loads((dataset / "manifest.json").read_text())
    manifest["options"]["shards"] = 4
    (dataset / "manifest.json").write_text(json.dumps(manifest))
    problems = verify_dataset(dataset)
    for split in SPLITS:
        assert [p for p in problems if p.startswith(split) and "missing" in p] == [
            f"{split}-{i:05d}-of-00004: missing shard file" for i in range(4)]


def test_no_shards_and_no_manifest_says_so(dataset):
    for file in [*files(dataset, "*-of-*", at_least=len(SPLITS) * SHARDS),
                 dataset / "manifest.json"]:
        file.unlink()
    problems = verify_dataset(dataset)
    assert "no shard files (<split>-00000-of-NNNNN), and no options.shards in manifest.json " \
           "to say how many there should be" in problems
    assert not any("disagree" in p for p in problems)


def test_a_path_that_is_not_a_dataset_directory_fails_saying_so(tmp_path, capsys):
    missing = tmp_path / "zoo_img"
    assert main(["verify", str(missing)]) == 1
    out = capsys.readouterr().out
    assert f"{missing}: not a directory" in out
    assert f"FAILED: 1 problem(s) in {missing}" in out


def test_a_directory_of_datasets_is_named_so_with_the_command_for_one(built, capsys):
    out = built["img"].parent
    assert main(["verify", str(out)]) == 1
    lines = capsys.readouterr().out.splitlines()
    first = sorted(p.name for p in out.iterdir() if (p / "manifest.json").exists())[0]
    assert lines == [f"{out}: not a dataset, a directory of datasets "
                     f"({', '.join(sorted(p.name for p in built.values()))}): verify each, such "
                     f"as: python -m fastdraw verify {out / first}",
                     f"FAILED: 1 problem(s) in {out}"]


def test_a_directory_of_no_dataset_file_is_not_a_dataset(tmp_path, capsys):
    (tmp_path / "cat.ndjson").write_bytes(b"")  # class files, say: --data given for the dataset
    assert main(["verify", str(tmp_path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{tmp_path}: not a dataset: no manifest.json, labels.txt or shard file (give the path "
        "of a built dataset, such as data/zoo_img)", f"FAILED: 1 problem(s) in {tmp_path}"]


def _write_json(dataset: Path, name: str, value) -> None:
    """Writes a metadata file as JSON; for counts.json, reseals the manifest around it (as a
    build writing that file would), so that only the value's own problems are found."""
    (dataset / name).write_text(json.dumps(value))
    if name != "manifest.json":
        _reseal(dataset)


def _reseal(dataset: Path) -> None:
    """Gives manifest.json the size and sha256 of labels.txt, counts.json and rejected.ndjson
    as they are now, sealed anew."""
    manifest = json.loads((dataset / "manifest.json").read_text())
    for name in layout.SEALED:
        data = (dataset / name).read_bytes()
        manifest["files"][name] = layout.file_entry(len(data), hashlib.sha256(data).hexdigest())
    layout.write_manifest(dataset, manifest)


def _cli_problems(dataset: Path, capsys) -> list[str]:
    """The problems `python -m fastdraw verify` prints (it must exit 1 and say FAILED)."""
    assert main(["verify", str(dataset)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"FAILED: {len(out) - 1} problem(s) in {dataset}"
    prefix = f"{dataset}: "
    assert all(line.startswith(prefix) for line in out[:-1])
    return [line[len(prefix):] for line in out[:-1]]


MANIFEST_FIELDS = ("format, kind, name, classes, options, versions, made_with, records, "
                   "rejected, shards, "
                   "files, manifest_sha256")


@pytest.mark.parametrize("value, shown", [([1, 2], "an array [1, 2]"), (None, "null"),
                                          ("zoo", 'the string "zoo"'), (7, "the number 7")])
def test_a_manifest_that_is_not_an_object_is_named(dataset, capsys, value, shown):
    _write_json(dataset, "manifest.json", value)
    assert _cli_problems(dataset, capsys) == [
        f"manifest.json: is {shown}, not an object (the build writes {MANIFEST_FIELDS})"]


def test_an_empty_manifest_lacks_every_field(dataset):
    """... but made_with, which a manifest written before it lacks: an empty one reads as
    such."""
    layout.write_manifest(dataset, {})
    lacks = MANIFEST_FIELDS.removesuffix(", manifest_sha256").replace(" made_with,", "")
    assert verify_dataset(dataset) == [
        f"manifest.json: lacks {lacks} (the build writes {MANIFEST_FIELDS}); rebuild the "
        "dataset"]


def _edit_manifest(dataset: Path, edit) -> None:
    """Edits the manifest and seals it anew (its sha256 and bytes are tested apart)."""
    manifest = json.loads((dataset / "manifest.json").read_text())
    edit(manifest)
    layout.write_manifest(dataset, manifest)


def _wrong_types(m: dict) -> None:
    m.update(format=1, kind=["img"], name=3, classes="cat", versions=["1.0"], records="27",
             rejected=True)


def _wrong_option_types(m: dict) -> None:
    m["options"].update(shards="2", img_size=[64], include_unrecognized=0, splits=[5, 2, 2],
                        seed=0.5, line_width=False, maximize="yes", notebook_time=None)


def _wrong_shard_entries(m: dict) -> None:
    m["shards"]["eval-00001-of-00002"] = 3
    m["shards"]["test-00000-of-00002"] = {"records": -1, "sha256": "x"}


MANIFEST_FAULTS = [
    (_wrong_types, [
        "manifest.json: format is the number 1, not 'fastdraw-dataset/1'",
        'manifest.json: kind is an array ["img"], not ' + " or ".join(f'"{k}"' for k in KINDS),
        "manifest.json: name is the number 3, not the dataset's name (a string)",
        'manifest.json: classes is the string "cat", not an array of class names',
        'manifest.json: versions is an array ["1.0"], not an object of versions by package, '
        'such as {"fastdraw": "1.0"}',
        'manifest.json: records is the string "27", not a whole number',
        "manifest.json: rejected is the boolean true, not a whole number",
    ]),
    (_wrong_option_types, [
        "manifest.json: options.splits is an array [5, 2, 2], not an object of examples per "
        'class by split, such as {"train": 7, "eval": 1}',
        'manifest.json: options.shards is the string "2", not a whole number of at least 1',
        "manifest.json: options.seed is the number 0.5, not a whole number",
        "manifest.json: options.img_size is an array [64], not a whole number of at least 1",
        "manifest.json: options.line_width is the boolean false, not a whole number of at "
        "least 1",
        'manifest.json: options.maximize is the string "yes", not true or false',
        "manifest.json: options.notebook_time is null, not true or false",
        "manifest.json: options.include_unrecognized is the number 0, not true or false",
    ]),
    (lambda m: m.update(options=None),
     ["manifest.json: options is null, not an object of the build's options"]),
    (lambda m: m.update(shards=[]),
     ["manifest.json: shards is an array [], not an object of {records, sha256} by shard name"]),
    (_wrong_shard_entries, [
        "manifest.json: shards['eval-00001-of-00002'] is the number 3, not an object "
        '{"records": N, "sha256": "..."}',
        "manifest.json: shards['test-00000-of-00002'] is an object {\"records\": -1, "
        "\"sha256\": \"x\"}, not an object {\"records\": N, \"sha256\": \"...\"}",
        "eval-00001-of-00002: no {records, sha256} entry in manifest.json's shards, so its "
        "sha256 and record count cannot be checked",
        "test-00000-of-00002: no {records, sha256} entry in manifest.json's shards, so its "
        "sha256 and record count cannot be checked",
    ]),
]


@pytest.mark.parametrize("edit, messages", MANIFEST_FAULTS)
def test_manifest_fields_of_the_wrong_shape_are_named(dataset, capsys, edit, messages):
    """Each field that does not have the shape the build writes is a problem of its own,
    and the rest of the dataset is still checked, from the shards on disk."""
    _edit_manifest(dataset, edit)
    assert _cli_problems(dataset, capsys) == messages


def test_the_shards_are_checked_when_the_manifest_is_not_an_object(dataset):
    _write_json(dataset, "manifest.json", [1, 2])
    shard = dataset / "train-00001-of-00002"
    shard.write_bytes(shard.read_bytes()[:-3])
    problems = verify_dataset(dataset)
    assert problems[0].startswith("manifest.json: is an array")
    assert any(p.startswith(f"{shard.name}: ") and "truncated" in p for p in problems)


@pytest.mark.parametrize("value, shown", [({}, "empty"), (None, "null"),
                                          ([1, 2], "an array [1, 2]"), ("15", 'the string "15"')])
def test_counts_json_that_is_not_an_object_of_splits_fails(dataset, capsys, value, shown):
    _write_json(dataset, "counts.json", value)
    assert _cli_problems(dataset, capsys) == [
        f"counts.json: is {shown}, not an object of records per split, such as "
        '{"train": 70, "eval": 10, "test": 10}']


@pytest.mark.parametrize("value, shown", [("15", 'the string "15"'), (15.0, "the number 15.0"),
                                          (True, "the boolean true"), (None, "null"),
                                          (-15, "the number -15")])
def test_a_count_that_is_not_a_whole_number_is_named_with_the_shards_records(
        dataset, capsys, value, shown):
    counts = json.loads((dataset / "counts.json").read_text())
    assert counts["train"] == 15
    counts["train"] = value
    _write_json(dataset, "counts.json", counts)
    assert _cli_problems(dataset, capsys) == [
        f"counts.json: train is {shown}, not a whole number of records; its shards hold 15"]


def test_counts_json_must_count_every_split_that_has_shards(dataset):
    _write_json(dataset, "counts.json", {"train": 15, "eval": 6})
    problems = verify_dataset(dataset)
    assert problems[:2] == [
        "counts.json: no count for split(s) test, which have shard files (counts.json gives "
        "every split's records)",
        "counts.json: splits eval, train differ from manifest.json's options.splits "
        "(eval, test, train)",
    ]
    assert "test-00000-of-00002: unexpected shard file (not in the splits and shard count of "\
           "counts.json / manifest.json); a glob would read it too" in problems


@pytest.mark.parametrize("make", ["directory", "dangling symlink"])
def test_a_shard_that_is_not_a_file_is_named(dataset, capsys, make):
    shard = dataset / "train-00001-of-00002"
    records = json.loads((dataset / "manifest.json").read_text())["shards"][shard.name]["records"]
    shard.unlink()
    if make == "directory":
        shard.mkdir()
    else:
        shard.symlink_to(dataset / "nowhere")
    what = "a directory" if make == "directory" else "not a regular file"
    assert _cli_problems(dataset, capsys) == [
        f"{shard.name}: is {what}, not a shard file (a TFRecord file of the split's records); "
        "remove it and rebuild the dataset",
        f"counts.json: train has 15 records, its shards hold {15 - records}",
        f"manifest.json: records is 27, the shards hold {27 - records}",
    ]


def test_a_shard_that_cannot_be_read_is_named(dataset):
    from fastdraw.dataset.verify import _ShardJob

    result = _ShardJob(CLASSES, None, {})(dataset / "no-such-shard")
    assert result.problems == ["no-such-shard: cannot be read (No such file or directory)"]
    assert result.records == 0 and result.sha256 is None


def test_metadata_files_that_cannot_be_read_are_named(dataset, capsys):
    for name in ("labels.txt", "counts.json"):
        (dataset / name).unlink()
        (dataset / name).mkdir()
    (dataset / "rejected.ndjson").write_bytes(b"\xff\xfe\n")
    problems = _cli_problems(dataset, capsys)
    not_a_file = ("a directory, not a regular file (a dataset holds the regular files its "
                  "build wrote); rebuild the dataset")
    assert problems[:2] == [f"labels.txt: {not_a_file}", f"counts.json: {not_a_file}"]
    assert problems[2].startswith("rejected.ndjson: not UTF-8 text (")
    assert len(problems) == 3
