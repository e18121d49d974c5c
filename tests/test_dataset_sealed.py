"""verify covers every byte of a built dataset: the manifest seals labels.txt, counts.json and
rejected.ndjson (their size and sha256) and itself (the sha256 of its canonical JSON), the
shards have their sha256, and the manifest's values are checked against each other."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from pathlib import Path

import pytest
from build_helpers import SAMPLE, options, with_bad_lines

from fastdraw.build import build
from fastdraw.cli import main
from fastdraw.dataset import layout
from fastdraw.dataset.verify import check, verify_dataset

METADATA = ["manifest.json", "labels.txt", "counts.json", "rejected.ndjson"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A small img dataset of real drawings whose rejected.ndjson has lines: cat (with bad
    lines at lines 2 and 6) and eye, 4 + 1 rounds in 1 shard a split."""
    root = tmp_path_factory.mktemp("sealed")
    cat = with_bad_lines(root)
    opts = options(["cat", "eye"], [cat, SAMPLE / "eye.ndjson"], root / "out",
                   {"img": {"train": 4, "eval": 1}}, shards=1, workers=1)
    (result,) = build(opts)
    assert result.rejected == 2
    return result.path


@pytest.fixture()
def dataset(built, tmp_path) -> Path:
    return Path(shutil.copytree(built, tmp_path / "img"))


def test_the_build_seals_its_files_and_its_manifest(dataset):
    manifest = json.loads((dataset / "manifest.json").read_text())
    for name in ("labels.txt", "counts.json", "rejected.ndjson"):
        data = (dataset / name).read_bytes()
        assert manifest["files"][name] == {"bytes": len(data),
                                           "sha256": hashlib.sha256(data).hexdigest()}
    assert len((dataset / "rejected.ndjson").read_text().splitlines()) == 2
    unsealed = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    canonical = json.dumps(unsealed, sort_keys=True, indent=2) + "\n"
    assert manifest["manifest_sha256"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert (dataset / "manifest.json").read_bytes() == \
        (json.dumps(manifest, sort_keys=True, indent=2) + "\n").encode()
    assert verify_dataset(dataset) == []


def _flips(data: bytes, seed: int) -> list[tuple[int, int]]:
    """(offset, new byte): every byte with its lowest bit flipped (a digit stays a digit, a
    letter a letter: the changes most likely to leave valid JSON), then a seeded sample of
    200 offsets (all of a shorter file) given a random other value."""
    rng = random.Random(seed)
    sample = sorted(rng.sample(range(len(data)), min(200, len(data))))
    return ([(i, b ^ 1) for i, b in enumerate(data)]
            + [(i, data[i] ^ rng.randrange(1, 256)) for i in sample])


def _unseen(dataset: Path, file: Path, flips: list[tuple[int, int]]) -> list[str]:
    """The flips of `file`'s bytes (each made in place, then undone) after which verify
    finds nothing wrong."""
    data = file.read_bytes()
    unseen = []
    fd = os.open(file, os.O_WRONLY)
    try:
        for at, value in flips:
            os.pwrite(fd, bytes([value]), at)
            if not check(dataset, workers=1).problems:
                unseen.append(f"{file.name} byte {at}: {data[at]:#04x} -> {value:#04x}")
            os.pwrite(fd, data[at:at + 1], at)
    finally:
        os.close(fd)
    assert file.read_bytes() == data
    return unseen


@pytest.mark.parametrize("name", METADATA)
def test_every_single_byte_change_of_a_metadata_file_fails(dataset, name):
    """Every byte changed, and a sample changed again: none goes unseen (111 of 1,357 flips
    of manifest.json and 54 of 100 of rejected.ndjson did)."""
    file = dataset / name
    flips = _flips(file.read_bytes(), seed=len(name))
    assert len(flips) >= 2 * 7
    assert _unseen(dataset, file, flips) == []
    assert verify_dataset(dataset) == []


def test_single_byte_changes_of_the_shards_fail_a_sample(dataset):
    """A seeded sample of 100 offsets per shard, given a random other value (every byte is
    covered by the shard's sha256 in the manifest; framing and CRCs catch most changes
    first)."""
    shards = sorted(dataset.glob("*-of-*"))
    assert len(shards) == 2 and all(s.stat().st_size for s in shards)
    rng = random.Random(7)
    for shard in shards:
        data = shard.read_bytes()
        flips = [(at, data[at] ^ rng.randrange(1, 256))
                 for at in sorted(rng.sample(range(len(data)), 100))]
        assert _unseen(dataset, shard, flips) == []


def _reseal(dataset: Path, edit) -> None:
    """Edits the manifest as a JSON object, then seals it anew (as a build writing those
    values would), so that only the values' own problems are found."""
    manifest = json.loads((dataset / "manifest.json").read_text())
    edit(manifest)
    layout.write_manifest(dataset, manifest)


def _rename(mapping: dict, old: str, new: str) -> None:
    mapping[new] = mapping.pop(old)


OPTION_KEYS = ("splits, shards, seed, img_size, line_width, maximize, notebook_time, "
               "include_unrecognized, img_encoding, compression")


@pytest.mark.parametrize("key, renamed", [("seed", "sead"), ("line_width", "line_widtx"),
                                          ("notebook_time", "notebook_tima")])
def test_a_renamed_option_is_unknown_not_absent(dataset, key, renamed):
    _reseal(dataset, lambda m: _rename(m["options"], key, renamed))
    assert verify_dataset(dataset) == [
        f"manifest.json: options lacks {key} (the build writes {OPTION_KEYS})",
        f"manifest.json: options has unknown key(s) '{renamed}' (the build writes "
        f"{OPTION_KEYS})"]


def test_an_unknown_field_of_the_manifest_is_named(dataset):
    _reseal(dataset, lambda m: _rename(m, "versions", "versiona"))
    problems = verify_dataset(dataset)
    assert problems[0].startswith("manifest.json: lacks versions (the build writes ")
    assert problems[1].startswith("manifest.json: unknown field(s) 'versiona' (the build "
                                  "writes format, kind, name, classes, options, versions, ")
    assert len(problems) == 2


def test_options_splits_must_give_counts_json_and_records(dataset):
    """options.splits (examples per class) times the classes is each split's count."""
    _reseal(dataset, lambda m: m["options"]["splits"].update(eval=3))
    assert verify_dataset(dataset) == [
        "counts.json: eval has 2 records, manifest.json's options.splits gives 3 a class, "
        "6 for its 2 classes",
        "manifest.json: records is 10, options.splits gives 7 a class, 14 for its 2 classes"]


def test_a_shard_holds_whole_rounds(dataset):
    """A round puts one record of every class in a shard: a shard's count is a multiple of
    the classes."""
    _reseal(dataset, lambda m: m["shards"]["train-00000-of-00001"].update(records=9))
    assert verify_dataset(dataset) == [
        "manifest.json: shards['train-00000-of-00001'] holds 9 records, not a whole number of "
        "rounds (a record of each of the 2 classes)",
        "train-00000-of-00001: holds 8 records, manifest.json says 9",
        "dataset_info.json: not the TFDS metadata the build writes for this dataset's "
        "manifest, labels and shards (splits[1].shardLengths[0] is the string \"8\", not the "
        "string \"9\"), so TFDS would read the dataset wrong; rebuild the dataset"]


@pytest.mark.parametrize("name", ["labels.txt", "counts.json", "rejected.ndjson"])
def test_a_changed_file_is_named_with_both_sha256s(dataset, name):
    file = dataset / name
    data = file.read_bytes()
    changed = {"labels.txt": data.replace(b"eye", b"Eye"), "counts.json": data + b" ",
               "rejected.ndjson": data.replace(b'"line": 2', b'"line": 3')}[name]
    assert changed != data
    file.write_bytes(changed)
    manifest = json.loads((dataset / "manifest.json").read_text())
    want = manifest["files"][name]
    problems = verify_dataset(dataset)
    assert (f"{name}: sha256 {hashlib.sha256(changed).hexdigest()} ({len(changed)} bytes) "
            f"differs from manifest.json's {want['sha256']} ({want['bytes']} bytes): it "
            "changed after the build; rebuild the dataset") in problems


def test_a_changed_value_of_the_manifest_breaks_its_seal(dataset):
    file = dataset / "manifest.json"
    text = file.read_text()
    file.write_text(text.replace('"seed": 0', '"seed": 1'))
    content = json.loads(file.read_text())
    del content["manifest_sha256"]
    sha = hashlib.sha256((json.dumps(content, sort_keys=True, indent=2) + "\n").encode())
    seal = json.loads(text)["manifest_sha256"]
    assert verify_dataset(dataset) == [
        f"manifest.json: its content has sha256 {sha.hexdigest()}, not its manifest_sha256 "
        f"{seal}: it changed after the build; rebuild the dataset"]


def test_a_manifest_not_in_its_canonical_bytes_fails(dataset):
    """Same content, other whitespace: the bytes the seal covers are the canonical ones."""
    file = dataset / "manifest.json"
    text = file.read_text()
    file.write_text(text.replace('\n  "classes"', '\n   "classes"'))
    assert verify_dataset(dataset) == [
        f"manifest.json: not byte for byte the JSON a build writes (keys sorted, indented by "
        f"2, ASCII): it differs at byte {text.index('classes') - 1}; rebuild the dataset"]


def test_a_manifest_written_before_sealing_passes_with_a_note(dataset, capsys):
    """Datasets built before manifests carried files and manifest_sha256 still verify, and
    verify says what it could not check."""
    manifest = json.loads((dataset / "manifest.json").read_text())
    del manifest["files"], manifest["manifest_sha256"]
    (dataset / "manifest.json").write_bytes(layout.manifest_bytes(manifest))
    report = check(dataset)
    assert report.problems == []
    note = ("manifest.json: written by a fastdraw that did not seal a dataset (no files or "
            "manifest_sha256), so labels.txt, counts.json, rejected.ndjson and the manifest "
            "are checked against the shards and each other, not byte for byte; rebuild the "
            "dataset to seal them")
    assert report.notes == [note]
    assert main(["verify", str(dataset)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{dataset}: note: {note}" and out[1].startswith(f"OK {dataset}: img")


def test_a_manifest_with_one_of_its_seals_lacks_the_other(dataset):
    _reseal(dataset, lambda m: m.pop("files"))
    assert verify_dataset(dataset)[0].startswith("manifest.json: lacks files (the build ")


@pytest.mark.parametrize("edit, message", [
    (lambda f: f.pop("counts.json"),
     "manifest.json: files names 'dataset_info.json', 'features.json', 'label.labels.txt', "
     "'labels.txt', 'rejected.ndjson', not labels.txt, counts.json, rejected.ndjson, "
     "dataset_info.json, features.json, label.labels.txt"),
    (lambda f: f.update({"labels.txt": {"bytes": 7, "sha256": "ABC"}}),
     'manifest.json: files[\'labels.txt\'] is an object {"bytes": 7, "sha256": "ABC"}, not an '
     'object {"bytes": N, "sha256": "..."}'),
])
def test_the_files_entries_have_the_builds_shape(dataset, edit, message):
    _reseal(dataset, lambda m: edit(m["files"]))
    assert verify_dataset(dataset) == [message]


def test_a_rejected_line_has_exactly_the_fields_of_a_rejection(dataset):
    file = dataset / "rejected.ndjson"
    lines = file.read_text().splitlines(True)
    entry = json.loads(lines[1])
    entry["lines"] = entry.pop("line")
    lines[1] = json.dumps(entry) + "\n"
    file.write_text("".join(lines))
    problems = verify_dataset(dataset)
    assert problems[0].startswith('rejected.ndjson: line 2 is an object {"file": ')
    assert problems[0].endswith(', not an object {"file": "...", "line": N, "reason": "...", '
                                '"text": "..."}, one rejected input line')
