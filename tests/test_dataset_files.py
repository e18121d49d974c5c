"""A dataset's files are read as regular files only, each within a bound: a named pipe, a
link to /dev/zero, a directory or a huge file in place of a dataset file is a clear problem
for verify and a clear error for the readers, never a hang or memory without bound.

The cases that hung or grew without bound run in a subprocess, with a timeout and 1 GiB of
address space."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dataset_helpers import built_datasets

from fastdraw.cli import main
from fastdraw.dataset import files, layout, tfrecord
from fastdraw.dataset.verify import verify_dataset
from fastdraw.errors import CorruptRecordError, DatasetFileError

METADATA = ["labels.txt", "manifest.json", "counts.json", "rejected.ndjson"]
NOT_REGULAR = ("not a regular file (a dataset holds the regular files its build wrote); "
               "rebuild the dataset")
HUGE = 8 << 30  # bytes of a sparse file: reading it whole would take 8 GiB


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    return built_datasets(tmp_path_factory.mktemp("files"))


@pytest.fixture()
def dataset(built, tmp_path) -> Path:
    """A fresh copy of a sound img dataset, free to damage."""
    return Path(shutil.copytree(built["img"], tmp_path / "img"))


def _replace(file: Path, make: str) -> str:
    """Puts a `make` in place of `file`; returns what the problem line must say of it."""
    file.unlink()
    if make == "fifo":
        os.mkfifo(file)
        return f"{file.name}: a named pipe (FIFO), {NOT_REGULAR}"
    if make == "link to /dev/zero":
        file.symlink_to("/dev/zero")
        return f"{file.name}: a character device (a symbolic link to /dev/zero), {NOT_REGULAR}"
    if make == "directory":
        file.mkdir()
        return f"{file.name}: a directory, {NOT_REGULAR}"
    raise ValueError(make)


def _huge(file: Path) -> None:
    """`file` made a sparse file of HUGE zero bytes."""
    with open(file, "wb") as f:
        f.truncate(HUGE)


_BOUNDED = ("import json, resource, sys\n"
            "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n")


def _bounded_run(code: str, *args: str) -> subprocess.CompletedProcess:
    """Runs `code` in a subprocess with 1 GiB of address space; fails the test when it has
    not ended after 60 s (it waits on a pipe, say)."""
    try:
        return subprocess.run([sys.executable, "-c", _BOUNDED + code, *args],
                              capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("still running after 60 s: it hangs")


def _verify_bounded(path: Path) -> list[str]:
    run = _bounded_run("from fastdraw.dataset.verify import verify_dataset\n"
                       "print(json.dumps(verify_dataset(sys.argv[1])))\n", str(path))
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout)


@pytest.mark.parametrize("make", ["fifo", "link to /dev/zero"])
@pytest.mark.parametrize("name", METADATA)
def test_verify_says_a_pipe_or_device_is_not_a_file_and_goes_on(dataset, name, make):
    want = _replace(dataset / name, make)
    problems = _verify_bounded(dataset)
    assert want in problems
    assert not any(p.startswith(("train-", "eval-", "test-")) for p in problems)


@pytest.mark.parametrize("name", METADATA)
def test_verify_says_a_directory_is_not_a_file(dataset, name):
    want = _replace(dataset / name, "directory")
    assert want in verify_dataset(dataset)


@pytest.mark.parametrize("name, limit, holds", [
    ("labels.txt", "16 MiB", "the class names, one a line"),
    ("manifest.json", "64 MiB", "a few KiB, and about 150 bytes a shard"),
    ("counts.json", "1 MiB", "a count of records per split"),
])
def test_verify_refuses_a_huge_metadata_file_saying_the_bound(dataset, name, limit, holds):
    _huge(dataset / name)
    problems = _verify_bounded(dataset)
    assert (f"{name}: 8 GiB, more than the {limit} a {name} may take ({holds}); it is not "
            "the file a build writes: rebuild the dataset") in problems


def test_verify_reads_rejected_ndjson_a_bounded_line_at_a_time(dataset):
    """rejected.ndjson may be long (every bad input line), so it is read line by line, and
    a line is bounded: 8 GiB without a newline is one problem."""
    _huge(dataset / "rejected.ndjson")
    assert ("rejected.ndjson: line 1 is longer than the 64 KiB a rejected line takes (its "
            "file, line, reason and the first 200 characters of its text)"
            ) in _verify_bounded(dataset)


_READ = ("from fastdraw.dataset import layout\n"
         "from fastdraw.errors import DatasetFileError\n"
         "try:\n"
         "    getattr(layout, sys.argv[1])(sys.argv[2])\n"
         "except DatasetFileError as e:\n"
         "    print(e)\n")


@pytest.mark.parametrize("make", ["fifo", "link to /dev/zero", "directory", "huge"])
@pytest.mark.parametrize("reader, name", [("read_labels", "labels.txt"),
                                          ("read_manifest", "manifest.json")])
def test_the_readers_metadata_is_read_as_regular_files_in_bounds(dataset, reader, name, make):
    """What the tf.data readers and preview read first: labels.txt and manifest.json."""
    file = dataset / name
    if make == "huge":
        _huge(file)
        want = f"{file}: 8 GiB, more than the "
    else:
        want = f"{dataset}/{_replace(file, make)}"
    run = _bounded_run(_READ, reader, str(dataset))
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith(want)


@pytest.mark.parametrize("make", ["fifo", "link to /dev/zero", "directory"])
def test_shards_are_regular_files_for_preview_and_the_readers(dataset, make):
    shard = dataset / "train-00001-of-00002"
    want = f"{dataset}/{_replace(shard, make)}"
    with pytest.raises(DatasetFileError) as e:
        layout.shard_paths(dataset, "train")
    assert str(e.value) == want
    with pytest.raises(DatasetFileError) as e:
        next(tfrecord.read_records(shard))
    assert str(e.value) == want
    with pytest.raises(DatasetFileError) as e:
        next(tfrecord.read_windows(shard))
    assert str(e.value) == want


def test_a_shard_that_became_a_pipe_after_it_was_listed_is_a_problem(dataset):
    """verify lists a split's shards, then reads them: a shard replaced by a pipe in between
    is named, not waited on."""
    shard = dataset / "eval-00000-of-00002"
    want = _replace(shard, "fifo")
    run = _bounded_run("from pathlib import Path\n"
                       "from fastdraw.dataset.verify import _ShardJob\n"
                       "job = _ShardJob(None, None, {})\n"
                       "print(json.dumps(job(Path(sys.argv[1])).problems))\n",
                       str(shard))
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout) == [want]


def test_a_shard_listed_in_the_manifest_but_missing_is_named(dataset):
    shard = dataset / "test-00000-of-00002"
    shard.unlink()
    with pytest.raises(FileNotFoundError, match=f"{shard}: missing, though manifest.json "
                                                "lists it"):
        layout.shard_paths(dataset, "test")


def test_a_record_longer_than_a_protocol_buffer_can_be_is_an_error(tmp_path):
    """A sparse shard whose first frame (length CRC right) claims 3 GiB: an error at its
    header, before any memory is taken for it."""
    length = 3 << 30
    header = length.to_bytes(8, "little")
    shard = tmp_path / "train-00000-of-00001"
    with open(shard, "wb") as f:
        f.write(header + tfrecord.masked_crc32c(header).to_bytes(4, "little"))
        f.truncate(12 + length + 4)
    code = ("from fastdraw.dataset import tfrecord\n"
            "for read in (tfrecord.read_records, tfrecord.read_windows):\n"
            "    try:\n"
            "        next(read(sys.argv[1]))\n"
            "    except ValueError as e:\n"
            "        print(type(e).__name__, e)\n")
    run = _bounded_run(code, str(shard))
    assert run.returncode == 0, run.stderr[-2000:]
    want = (f"CorruptRecordError {shard}: record at byte offset 0: its length, {length} bytes, "
            f"is more than the {(1 << 31) - 1} a tf.train.Example (a protocol buffer) can take")
    assert run.stdout.splitlines() == [want + "; the file is damaged (rebuild or download it "
                                       "again)"] * 2
    assert issubclass(CorruptRecordError, ValueError)


def test_read_bounded_says_when_a_file_grew_past_its_bound(tmp_path, monkeypatch):
    """The bound holds for what is read, not only for the size the file had when opened."""
    file = tmp_path / "counts.json"
    file.write_bytes(b"{}" * 10)
    real = os.fstat

    def smaller(fd):
        st = real(fd)
        return os.stat_result((*st[:6], 0, *st[7:]))

    monkeypatch.setattr(files.os, "fstat", smaller)
    with pytest.raises(DatasetFileError, match=r"counts.json: over 16 bytes, more than the "
                                               r"16 bytes a counts.json may take \(x\)"):
        files.read_bounded(file, 16, "x")


def test_a_compressed_shard_whose_record_claims_more_than_its_kind_writes_is_refused(tmp_path):
    """A gzip shard of about 500 KB whose one record (its length CRC right) inflates to
    512 MiB: verify names it at its header, in 1 GiB of address space (it used to hold the
    inflating record, doubling its window, and failed on the CRC only after)."""
    import gzip

    from fastdraw.codecs import ImgCodec

    out = tmp_path / "out"
    assert main(["--classes", "cat,eye", "--sample", "--kind", "img", "--compression", "gzip",
                 "--splits", "train=6,eval=2", "--shards", "1", "--out", str(out)]) == 0
    dataset = out / "custom_img"
    shard = next(dataset.glob("train-*"))
    length = 512 << 20
    header = length.to_bytes(8, "little")
    shard.unlink()  # the dataset's files are links into its build: write a new file
    with gzip.GzipFile(shard, "wb", compresslevel=1, mtime=0) as f:
        f.write(header + tfrecord.masked_crc32c(header).to_bytes(4, "little"))
        zeros = bytes(16 << 20)
        for _ in range(length // len(zeros)):
            f.write(zeros)
    bound = ImgCodec(size=64).max_record_bytes()
    assert bound < length
    problems = _verify_bounded(dataset)
    assert any(p.startswith(f"{shard.name}: record at byte offset 0 of its inflated gzip stream: "
                            f"its length, {length} bytes, is more than the {bound} a record "
                            "of this dataset's kind can take") for p in problems), problems
