"""Builds from the official binary files: the same datasets as from the ndjson of the same
drawings (any workers), the file of each class chosen by the data directory or --format, and a
damaged record a rejected line that `verify` accepts."""

from __future__ import annotations

import json
import logging

import orjson
import pytest
from binary_reference import pack, pack_line
from build_helpers import SAMPLE, repeated
from golden_builds import digests

from fastdraw.cli import main
from fastdraw.dataset.verify import verify_dataset

CLASSES = ["cat", "giraffe", "zebra"]


def _to_binary(src, dst) -> None:
    """``dst``: the lines of ndjson file ``src`` as the reference packs them."""
    dst.write_bytes(b"".join(pack_line(orjson.loads(line))
                             for line in src.read_bytes().splitlines()))


def _build(data, out, *args: str, classes=CLASSES) -> int:
    return main(["--classes", ",".join(classes), "--data", str(data), "--offline",
                 "--out", str(out), "--name", "v", *args])


@pytest.fixture(scope="module")
def volume(tmp_path_factory):
    """The three classes' real drawings repeated to 600 lines each with new key_ids, as
    ndjson and as binary files (the same drawings in the same order)."""
    ndjson = tmp_path_factory.mktemp("ndjson")
    binary = tmp_path_factory.mktemp("binary")
    for j, name in enumerate(CLASSES):
        repeated(SAMPLE / f"{name}.ndjson", ndjson / f"{name}.ndjson", 600, 10**9 * (j + 1))
        _to_binary(ndjson / f"{name}.ndjson", binary / f"{name}.bin")
    return ndjson, binary


@pytest.mark.parametrize("extra", [(), ("--include-unrecognized", "--seed", "5")])
def test_the_datasets_from_binary_files_are_those_from_the_ndjson(volume, tmp_path, extra):
    ndjson, binary = volume
    args = ("--splits", "train=400,eval=60,test=40", "--shards", "3", *extra)
    assert _build(ndjson, tmp_path / "n", "--workers", "1", *args) == 0
    want = {kind: digests(tmp_path / "n" / f"v_{kind}") for kind in ("img", "stroke")}
    assert len(want["img"]) == 11  # 9 shards, labels.txt, counts.json
    for workers in ("1", "2", "4"):  # 4: classes read in ranges of rounds
        out = tmp_path / f"b{workers}"
        assert _build(binary, out, "--workers", workers, *args) == 0
        for kind in ("img", "stroke"):
            assert digests(out / f"v_{kind}") == want[kind], (kind, workers)
            assert verify_dataset(out / f"v_{kind}") == []


def test_a_class_with_both_kinds_of_file_is_read_from_the_ndjson_and_said_once(tmp_path,
                                                                               caplog):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("cat", "dog"):
        (data / f"{name}.ndjson").write_bytes((SAMPLE / f"{name}.ndjson").read_bytes())
        lines = (SAMPLE / f"{name}.ndjson").read_bytes().splitlines()[:8]
        (data / f"{name}.bin").write_bytes(b"".join(pack_line(orjson.loads(x)) for x in lines))
    _to_binary(SAMPLE / "eye.ndjson", data / "eye.bin")
    classes = ["cat", "dog", "eye"]
    with caplog.at_level(logging.INFO, logger="fastdraw.cli"):
        assert _build(data, tmp_path / "a", "--splits", "train=9", "--kind", "img",
                      classes=classes) == 0
    said = [r.getMessage() for r in caplog.records if "both kinds" in r.getMessage()]
    assert said == [f"cat, dog: both kinds of class file in {data} (such as cat.ndjson and "
                    "cat.bin); reading the ndjson ones (--format binary reads the others)"]
    # --format binary reads the .bin files, which hold 8 drawings: too few for 9
    assert _build(data, tmp_path / "b", "--splits", "train=9", "--kind", "img",
                  "--format", "binary", classes=classes) == 1
    assert "too few in 'cat' (" in caplog.text and "'dog' (" in caplog.text
    assert _build(data, tmp_path / "c", "--splits", "train=5", "--kind", "img",
                  "--format", "binary", classes=classes) == 0


def test_format_binary_names_the_missing_bin_files_and_how_to_get_them(tmp_path, caplog):
    data = tmp_path / "data"
    data.mkdir()
    (data / "cat.ndjson").write_bytes((SAMPLE / "cat.ndjson").read_bytes())
    assert _build(data, tmp_path / "out", "--format", "binary", classes=["cat"]) == 1
    assert (f"--offline, and 1 class file is missing: {data / 'cat.bin'}. Download it: python "
            f"-m fastdraw download --classes 'cat' --data '{data}' --format binary") in caplog.text


def test_the_sample_has_no_binary_files(tmp_path, caplog):
    assert main(["--classes", "cat", "--sample", "--out", str(tmp_path),
                 "--format", "binary"]) == 2
    assert "--sample holds ndjson files only, not --format binary" in caplog.text


def _damaged_cat(data) -> tuple[bytes, int, int]:
    """data/cat.bin: the sample's cat with a record whose recognized is 5 after its third,
    and the file cut inside a last record; returns the bytes, and the offsets of both."""
    records = [pack_line(orjson.loads(x)) for x in (SAMPLE / "cat.ndjson").read_bytes()
               .splitlines()]
    bad = pack(7, b"US", 5, 1490000000, [([1, 2], [3, 4])])
    head = b"".join(records[:3]) + bad + b"".join(records[3:])
    body = head + records[0][:10]
    (data / "cat.bin").write_bytes(body)
    return body, len(b"".join(records[:3])), len(head)


def test_damaged_records_are_rejected_lines_and_verify_accepts_the_dataset(tmp_path, caplog):
    data = tmp_path / "data"
    data.mkdir()
    body, bad_at, cut_at = _damaged_cat(data)
    _to_binary(SAMPLE / "eye.ndjson", data / "eye.bin")
    assert _build(data, tmp_path / "out", "--splits", "train=10,eval=2", "--kind", "img",
                  classes=["cat", "eye"]) == 0
    dataset = tmp_path / "out" / "v_img"
    rejected = [json.loads(x) for x in (dataset / "rejected.ndjson").read_text().splitlines()]
    assert rejected == [{"file": str(data / "cat.bin"), "line": 4,
                         "reason": f"record 4 at byte {bad_at}: recognized is 5, not 0 or 1",
                         "text": body[bad_at:bad_at + 23].hex()}]
    assert verify_dataset(dataset) == []
    # the cut after the 12 recognized drawings: a short class names it
    assert _build(data, tmp_path / "short", "--splits", "train=13", "--kind", "img",
                  classes=["cat", "eye"]) == 1
    assert (f"too few in 'cat' (12; 2 bad lines, the last at line 16: record 16 at byte "
            f"{cut_at}: the file ends inside it: its header needs 17 bytes and 10 remain; the "
            f"10 bytes from byte {cut_at} to the end are rejected as one item") in caplog.text
    assert _build(data, tmp_path / "strict", "--splits", "train=10,eval=2", "--kind", "img",
                  "--strict", classes=["cat", "eye"]) == 2
    assert f"{data / 'cat.bin'}:4: bad line: record 4 at byte {bad_at}" in caplog.text
