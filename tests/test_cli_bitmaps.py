"""`python -m fastdraw bitmaps`: the official numpy_bitmap files, rendered from class files."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from realdata import OFFICIAL, SIMPLIFIED

from fastdraw.build.bitmaps import npy_header
from fastdraw.cli.main import main
from fastdraw.drawings import Drawings
from fastdraw.kernels.bitmap import official_bitmaps
from fastdraw.sources import read_drawings

CLASSES = ("cat", "eye", "fish")


@pytest.fixture()
def official_data(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for name in CLASSES:
        shutil.copy(OFFICIAL / f"{name}.ndjson", data / f"{name}.ndjson")
    return data


def run(*argv: str) -> int:
    return main(["bitmaps", *argv])


def test_writes_the_official_files_byte_for_byte(official_data, tmp_path):
    out = tmp_path / "out"
    assert run("--classes", ",".join(CLASSES), "--data", str(official_data),
               "--out", str(out), "--workers", "2") == 0
    for name in CLASSES:
        rows = np.load(out / f"{name}.npy")
        official = OFFICIAL / f"{name}_numpy_bitmap_rows0-24.npy"
        assert (out / f"{name}.npy").read_bytes() == official.read_bytes()
        assert rows.shape == (25, 784) and rows.dtype == np.uint8
        assert np.array_equal(np.load(out / f"{name}.lines.npy"), np.arange(1, 26))
        assert not (out / f"{name}.rejected.ndjson").exists()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{n}{s}" for n in CLASSES for s in (".npy", ".lines.npy"))


def test_binary_class_files_give_the_same_files(official_data, tmp_path):
    binary = tmp_path / "binary"
    assert main(["convert", "--to", "binary", "--classes", ",".join(CLASSES),
                 "--data", str(official_data), "--out", str(binary)]) == 0
    out = tmp_path / "out"
    assert run("--classes", ",".join(CLASSES), "--data", str(binary), "--out", str(out)) == 0
    for name in CLASSES:
        official = OFFICIAL / f"{name}_numpy_bitmap_rows0-24.npy"
        assert (out / f"{name}.npy").read_bytes() == official.read_bytes()


def test_a_bad_line_has_no_row_and_is_listed(official_data, tmp_path, caplog):
    lines = (official_data / "cat.ndjson").read_text().splitlines()
    beyond = json.loads(lines[0])
    beyond["drawing"] = [[[0, 4e6], [0, 10]]]
    lines[3:3] = ['{"word": "cat", "broken', json.dumps(beyond)]
    (official_data / "cat.ndjson").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    assert run("--classes", "cat", "--data", str(official_data), "--out", str(out)) == 0
    kept = np.load(out / "cat.lines.npy")
    assert kept.tolist() == [1, 2, 3] + list(range(6, 28))
    official = np.load(OFFICIAL / "cat_numpy_bitmap_rows0-24.npy")
    assert np.array_equal(np.load(out / "cat.npy"), official)
    rejected = [json.loads(line) for line in (out / "cat.rejected.ndjson").open()]
    assert [r["line"] for r in rejected] == [4, 5]
    assert "not valid JSON" in rejected[0]["reason"]
    assert "is not a finite coordinate within +-2**20" in rejected[1]["reason"]
    assert "cat: 2 lines rejected, with no row" in caplog.text


def test_strict_stops_at_a_bad_line_and_writes_nothing(official_data, tmp_path):
    with open(official_data / "eye.ndjson", "a") as f:
        f.write("not json\n")
    out = tmp_path / "out"
    assert run("--classes", "cat,eye", "--data", str(official_data), "--out", str(out),
               "--strict") == 2
    assert list(out.iterdir()) == []


def test_recognized_only_leaves_out_the_unrecognized(tmp_path):
    out = tmp_path / "out"
    assert run("--classes", "eye", "--data", str(SIMPLIFIED), "--out", str(out),
               "--recognized-only", "--size", "32") == 0
    d = next(read_drawings(SIMPLIFIED / "eye.ndjson", chunk_size=1 << 20))
    every = next(read_drawings(SIMPLIFIED / "eye.ndjson", chunk_size=1 << 20,
                               unrecognized=True))
    assert d.recognized.all() and 0 < len(d) < len(every)
    assert np.array_equal(np.load(out / "eye.lines.npy"), d.line)
    assert np.array_equal(np.load(out / "eye.npy"),
                          official_bitmaps(d, 32).reshape(len(d), 32 * 32))


def test_unrecognized_drawings_are_in_by_default(tmp_path):
    out = tmp_path / "out"
    assert run("--classes", "eye", "--data", str(SIMPLIFIED), "--out", str(out)) == 0
    every = next(read_drawings(SIMPLIFIED / "eye.ndjson", chunk_size=1 << 20,
                               unrecognized=True))
    assert not every.recognized.all()
    assert np.array_equal(np.load(out / "eye.lines.npy"), every.line)


def test_a_gzip_class_file_and_a_big_class_in_chunks(tmp_path, monkeypatch):
    import fastdraw.build.bitmaps as job

    monkeypatch.setattr(job, "CHUNK", 7)  # many chunks: the header is fixed at the end
    data = tmp_path / "data"
    data.mkdir()
    text = (OFFICIAL / "fish.ndjson").read_bytes() * 4
    (data / "fish.ndjson.gz").write_bytes(gzip.compress(text))
    out = tmp_path / "out"
    assert run("--classes", "fish", "--data", str(data), "--out", str(out),
               "--workers", "1") == 0
    rows = np.load(out / "fish.npy")
    official = np.load(OFFICIAL / "fish_numpy_bitmap_rows0-24.npy")
    assert np.array_equal(rows, np.concatenate([official] * 4))


def test_existing_files_need_overwrite(official_data, tmp_path, caplog):
    out = tmp_path / "out"
    args = ("--classes", "fish", "--data", str(official_data), "--out", str(out))
    assert run(*args) == 0
    (out / "fish.rejected.ndjson").write_text("stale\n")
    assert run(*args) == 1
    assert "already exist" in caplog.text and "--overwrite" in caplog.text
    assert run(*args, "--overwrite") == 0
    assert not (out / "fish.rejected.ndjson").exists()  # no bad line this time


def test_bad_option_values_are_exit_code_2_naming_the_option(official_data, tmp_path, caplog):
    base = ("--data", str(official_data), "--out", str(tmp_path / "out"))
    for extra, words in [(("--classes", "fish", "--workers", "0"), "--workers must be at least 1"),
                         (("--classes", "fish", "--size", "0"), "--size 0: give an image side"),
                         (("--classes", "fish,fish"), "names class 'fish' twice")]:
        caplog.clear()
        assert run(*base, *extra) == 2
        assert words in caplog.text
    assert not (tmp_path / "out").exists()


def test_a_missing_class_file_is_named_with_how_to_get_it(official_data, tmp_path, caplog):
    assert run("--classes", "cat,dog", "--data", str(official_data),
               "--out", str(tmp_path / "out")) == 1
    assert "no class file" in caplog.text and "dog" in caplog.text
    assert "python -m fastdraw download --classes dog" in caplog.text
    assert not (tmp_path / "out").exists()


def test_a_failed_run_leaves_no_file(official_data, tmp_path, monkeypatch):
    import fastdraw.build.bitmaps as job

    def broken(d, size):
        raise RuntimeError("renderer broke")

    monkeypatch.setattr(job.bitmap, "official_bitmaps", broken)
    out = tmp_path / "out"
    assert run("--classes", "cat", "--data", str(official_data), "--out", str(out),
               "--workers", "1") == 1
    assert list(out.iterdir()) == []


def test_npy_header_reads_back_for_any_row_count(tmp_path):
    for rows in (0, 1, 10**15):
        path = tmp_path / "a.npy"
        path.write_bytes(npy_header((rows, 784), "|u1") + bytes(784 * min(rows, 1)))
        if rows <= 1:
            assert np.load(path).shape == (rows, 784)
        assert len(npy_header((rows, 784), "|u1")) == 128


def test_a_drawing_without_points_renders_black():
    d = Drawings.from_dicts([{"drawing": [], "word": "cat", "countrycode": "US",
                              "recognized": True, "key_id": "1",
                              "timestamp": "2017-03-02 23:25:10 UTC"}])
    assert not official_bitmaps(d).any()


def _binary(official_data, tmp_path, name: str = "cat"):
    binary = tmp_path / "binary"
    assert main(["convert", "--to", "binary", "--classes", name, "--data", str(official_data),
                 "--out", str(binary)]) == 0
    return binary


@pytest.mark.parametrize("suffix", [".bin.gz", ".ndjson.gz"])
def test_a_gzip_class_file_cut_short_gives_its_rows_and_lists_the_cut(official_data, tmp_path,
                                                                     suffix):
    source = (_binary(official_data, tmp_path) / "cat.bin" if suffix == ".bin.gz"
              else official_data / "cat.ndjson")
    packed = gzip.compress(source.read_bytes(), mtime=0)
    data = tmp_path / "cut"
    data.mkdir()
    (data / f"cat{suffix}").write_bytes(packed[:len(packed) * 2 // 3])
    out = tmp_path / "out"
    assert run("--classes", "cat", "--data", str(data), "--out", str(out)) == 0
    lines = np.load(out / "cat.lines.npy")
    assert 0 < len(lines) < 25 and np.array_equal(lines, np.arange(1, len(lines) + 1))
    official = np.load(OFFICIAL / "cat_numpy_bitmap_rows0-24.npy")
    assert np.array_equal(np.load(out / "cat.npy"), official[:len(lines)])
    [cut] = [json.loads(line) for line in (out / "cat.rejected.ndjson").open()]
    assert cut["line"] == len(lines) + 1 and "gzip data breaks off" in cut["reason"]


@pytest.mark.parametrize("suffix", [".ndjson", ".bin", ".bin.gz"])
def test_the_progress_counts_the_items_of_the_class_file(official_data, tmp_path, monkeypatch,
                                                         suffix):
    import fastdraw.build.bitmaps as job

    if suffix == ".ndjson":
        data = official_data
    else:
        data = _binary(official_data, tmp_path)
        if suffix == ".bin.gz":
            (data / "cat.bin.gz").write_bytes(gzip.compress((data / "cat.bin").read_bytes()))
            (data / "cat.bin").unlink()
    steps: list[int] = []

    class Recorded(job.Progress):
        def update(self, n: int) -> None:
            steps.append(n)
            super().update(n)

    monkeypatch.setattr(job, "Progress", Recorded)
    assert run("--classes", "cat", "--data", str(data), "--out", str(tmp_path / "out")) == 0
    assert min(steps) >= 0 and sum(steps) == 25  # the file's 25 drawings, no more, no less


def test_classes_whose_files_share_a_name_are_refused(official_data, tmp_path, caplog):
    shutil.copy(official_data / "eye.ndjson", official_data / "cat.lines.ndjson")
    out = tmp_path / "out"
    assert run("--classes", "cat,cat.lines", "--data", str(official_data),
               "--out", str(out)) == 1
    assert "cat.lines.npy" in caplog.text and "separate" in caplog.text
    assert not out.exists()


def test_a_file_of_many_bad_records_logs_a_few_and_lists_all(tmp_path, caplog):
    import fastdraw.build.bitmaps as job

    data = tmp_path / "data"
    data.mkdir()
    (data / "cat.bin").write_bytes(bytes(17 * 500))  # 500 records, none of a country
    out = tmp_path / "out"
    out.mkdir()
    task = job.BitmapTask("cat", str(data / "cat.bin"), str(out), "x", 28, True, False, 500)
    with caplog.at_level("WARNING"):
        rendered = job.bitmap_task(task, lambda n: None)
    assert (rendered.rows, rendered.rejected) == (0, 500)
    rejected = out / ".cat.rejected.ndjson.tmp-x"
    assert len(rejected.read_text().splitlines()) == 500
    said = [r for r in caplog.records if "no row for this line" in r.getMessage()]
    assert len(said) == job.SHOWN


def test_ctrl_c_while_the_files_are_put_in_place_waits_for_every_file(official_data, tmp_path,
                                                                      monkeypatch, caplog):
    import fastdraw.build.bitmaps as job

    out = tmp_path / "out"
    args = ("--classes", ",".join(CLASSES), "--data", str(official_data), "--out", str(out),
            "--workers", "1")
    assert run(*args) == 0
    for name in CLASSES:  # the next run's files differ from these: 10 rows a class
        lines = (official_data / f"{name}.ndjson").read_text().splitlines(keepends=True)
        (official_data / f"{name}.ndjson").write_text("".join(lines[:10]))
    real_replace = job.os.replace
    replaced = []

    def interrupted_replace(src, dst):
        real_replace(src, dst)
        if not replaced:  # Ctrl-C once the first file is in place
            os.kill(os.getpid(), signal.SIGINT)
        replaced.append(dst)

    monkeypatch.setattr(job.os, "replace", interrupted_replace)
    assert run(*args, "--overwrite") == 130
    assert "nothing was written" not in caplog.text
    for name in CLASSES:
        assert len(np.load(out / f"{name}.npy")) == len(np.load(out / f"{name}.lines.npy")) == 10
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_two_runs_into_one_directory_take_turns(official_data, tmp_path):
    big = tmp_path / "big"
    big.mkdir()
    (big / "cat.ndjson").write_bytes((official_data / "cat.ndjson").read_bytes() * 2000)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "fastdraw", "bitmaps", "--classes", "cat", "--out",
               str(out), "--workers", "1", "--overwrite", "--data"]
    first = subprocess.Popen([*command, str(big)], stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        while not list(out.glob(".cat.npy.tmp-*")):  # the first is rendering
            assert first.poll() is None
            time.sleep(0.01)
        os.killpg(first.pid, signal.SIGSTOP)
        assert not (out / "cat.npy").exists()
        second = subprocess.Popen([*command, str(official_data)], stderr=subprocess.PIPE,
                                  text=True)
        said = []
        for line in second.stderr:  # to its end, or until it waits for the first
            said.append(line)
            if "waiting" in line:
                break
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    assert first.wait() == 0
    rest = second.communicate()[1]
    assert second.returncode == 0, "".join(said) + rest
    # The second ran after the first: its 25 rows are the files, whole.
    assert len(np.load(out / "cat.npy")) == len(np.load(out / "cat.lines.npy")) == 25
    assert "waiting" in "".join(said)


def test_a_class_with_both_kinds_of_file_says_which_it_read(official_data, tmp_path, caplog):
    binary = _binary(official_data, tmp_path)
    shutil.copy(official_data / "eye.ndjson", binary / "cat.ndjson")  # other drawings
    out = tmp_path / "out"
    with caplog.at_level("INFO"):
        assert run("--classes", "cat", "--data", str(binary), "--out", str(out)) == 0
    assert f"cat: both {binary / 'cat.ndjson'} and {binary / 'cat.bin'}" in caplog.text
    assert f"reading {binary / 'cat.ndjson'}" in caplog.text
