"""Bad path-like command line inputs are refused before any work, with a message that
names the path, says what is wrong and what to give instead (no traceback, no errno)."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SIMPLIFIED, simplified_files

from fastdraw.cli.args import data_dir_problem
from fastdraw.cli.main import main

WHAT = "--data must be a directory holding <class>.ndjson files"


def refused(capsys, argv: list[str]) -> str:
    """The error of a command line that argparse refuses (exit code 2)."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    return capsys.readouterr().err


def test_data_that_is_a_class_file_suggests_its_directory(capsys):
    eye = SIMPLIFIED / "eye.ndjson"
    for command in (["download", "--classes", "eye"], ["inspect", "eye"]):
        err = refused(capsys, [*command, "--data", str(eye)])
        assert (f"{command[0]}: error: --data {eye} is a file, not a directory: {WHAT}; to use "
                f"this class file, give its directory: --data '{SIMPLIFIED}'\n") in err
        assert "missing" not in err and "no file for" not in err


def test_data_that_is_another_file(capsys, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a directory\n")
    err = refused(capsys, ["download", "--classes", "eye", "--data", str(notes)])
    assert f"error: --data {notes} is a file, not a directory: {WHAT}\n" in err


def test_build_data_that_is_a_file_or_inside_one(tmp_path, caplog):
    eye = SIMPLIFIED / "eye.ndjson"
    out = tmp_path / "out"
    with caplog.at_level("ERROR"):
        assert main(["--classes", "eye", "--data", str(eye), "--offline",
                     "--out", str(out)]) == 1
        assert (f"--data {eye} is a file, not a directory: {WHAT}; to use this class file, "
                f"give its directory: --data '{SIMPLIFIED}'\n") in caplog.text
        assert "missing" not in caplog.text
        caplog.clear()
        assert main(["--classes", "eye", "--data", str(eye / "sub"), "--out", str(out)]) == 1
    assert f"--data {eye / 'sub'}: {eye} is a file, not a directory: {WHAT}\n" in caplog.text
    assert "Errno" not in caplog.text
    assert not out.exists()


def test_directory_named_like_a_class_file_without_class_files(capsys, tmp_path, caplog):
    folder = tmp_path / "eye.ndjson"
    folder.mkdir()
    problem = (f"--data {folder} is a directory named like a class file, and it holds no "
               f"<class>.ndjson files: {WHAT} (such as --data '{tmp_path}'")
    with caplog.at_level("ERROR"):
        assert main(["--classes", "eye", "--data", str(folder), "--offline"]) == 1
    assert problem in caplog.text
    assert f"{folder / 'eye.ndjson'}" not in caplog.text
    assert problem in refused(capsys, ["inspect", "--data", str(folder), "eye"])
    assert list(folder.iterdir()) == []


def test_data_directories_that_are_fine(tmp_path):
    assert data_dir_problem(str(SIMPLIFIED)) is None
    assert data_dir_problem(str(tmp_path / "not" / "yet")) is None  # created when needed
    odd = tmp_path / "mine.ndjson"
    odd.mkdir()
    (odd / "cat.ndjson").write_bytes((SIMPLIFIED / "cat.ndjson").read_bytes())
    assert data_dir_problem(str(odd)) is None  # an odd name, but it holds class files


def test_inspect_refuses_a_path_as_class(capsys):
    err = refused(capsys, ["inspect", "--data", str(SIMPLIFIED), "../simplified/eye"])
    assert "error: CLASS: class name '../simplified/eye' holds a path separator" in err


def test_build_refuses_a_path_as_class_and_writes_nothing(tmp_path, caplog):
    out = tmp_path / "out"
    with caplog.at_level("ERROR"):
        rc = main(["--classes", "../simplified/cat", "--data", str(SIMPLIFIED), "--offline",
                   "--out", str(out), "--kind", "stroke", "--splits", "train=3"])
    assert rc == 1
    assert "--classes: class name '../simplified/cat' holds a path separator" in caplog.text
    assert not out.exists()


@pytest.mark.parametrize("offline", [True, False])
def test_build_names_a_directory_where_a_class_file_should_be(tmp_path, caplog, offline):
    (tmp_path / "cat.ndjson").mkdir()  # in the way of the file (and of a download of it)
    out = tmp_path / "out"
    with caplog.at_level("ERROR"):
        rc = main(["--classes", "cat", "--data", str(tmp_path), "--out", str(out), "--splits",
                   "train=3", "--base-url", "http://127.0.0.1:9", *(["--offline"] * offline)])
    assert rc == 1
    assert (f"{tmp_path / 'cat.ndjson'}: not a file (a directory?) where a class file should "
            "be") in caplog.text
    assert "missing" not in caplog.text and not out.exists()


def test_non_utf8_classes_file_end_to_end(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_bytes(b"cat\n\xffdog\n")
    done = subprocess.run([sys.executable, "-m", "fastdraw", "--classes-file", str(path),
                           "--sample", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "codec" not in done.stderr
    assert (f"ERROR MainProcess --classes-file {path}, line 2, column 1: byte 0xff is not "
            "UTF-8 text: give a UTF-8 text file with one class name per line") in done.stderr
    assert not Path(tmp_path / "out").exists()


def test_output_piped_into_a_reader_that_stops_early_ends_quietly():
    # `python -m fastdraw inspect ... | head -1`: 170 KB of statistics, more than a pipe holds.
    names = sorted(p.name[:-len(".ndjson")] for p in simplified_files())
    proc = subprocess.Popen([sys.executable, "-m", "fastdraw", "inspect", "--data",
                             str(SIMPLIFIED), *names], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout.readline().startswith(names[0].encode())
    proc.stdout.close()  # the reader goes away with the rest unread
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 141, stderr  # as a process that SIGPIPE ended
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr


@pytest.mark.parametrize("command", [[], ["verify"], ["download"]])
def test_version_is_said_by_every_command(command, capsys):
    # Issue 27: there was no --version.
    with pytest.raises(SystemExit) as e:
        main([*command, "--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out == f"fastdraw {importlib.metadata.version('fastdraw')}\n"
