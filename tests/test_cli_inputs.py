"""Bad path-like command line inputs are refused before any work, with a message that
names the path, says what is wrong and what to give instead (no traceback, no errno)."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SIMPLIFIED, simplified_files

from fastdraw.cli.args import data_dir_problem
from fastdraw.cli.main import COMMANDS, command_parser, main

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
                     "--out", str(out)]) == 2
        assert (f"--data {eye} is a file, not a directory: {WHAT}; to use this class file, "
                f"give its directory: --data '{SIMPLIFIED}'\n") in caplog.text
        assert "missing" not in caplog.text
        caplog.clear()
        assert main(["--classes", "eye", "--data", str(eye / "sub"), "--out", str(out)]) == 2
    assert f"--data {eye / 'sub'}: {eye} is a file, not a directory: {WHAT}\n" in caplog.text
    assert "Errno" not in caplog.text
    assert not out.exists()


def test_directory_named_like_a_class_file_without_class_files(capsys, tmp_path, caplog):
    folder = tmp_path / "eye.ndjson"
    folder.mkdir()
    problem = (f"--data {folder} is a directory named like a class file, and it holds no "
               f"<class>.ndjson files: {WHAT} (such as --data '{tmp_path}'")
    with caplog.at_level("ERROR"):
        assert main(["--classes", "eye", "--data", str(folder), "--offline"]) == 2
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
    assert rc == 2
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
    assert done.returncode == 2
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


# ------------------------------------------------------ class names checked before the network
# A misspelled class used to be caught only offline: without --sample, `--classes cat,dgo`
# retried the network for 12 s and failed without naming 'dgo'.  The 345 category names
# ship with fastdraw: a name that is neither one nor a file in --data is refused before any
# network request, and every hint that points to `fastdraw list` works offline.

NO_NETWORK = "http://127.0.0.1:9"  # nothing listens there: any request fails (and is retried)
LIST_HINT = "`python -m fastdraw list --offline` lists the 345 Quick, Draw! categories"


def cat_only(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "cat.ndjson").write_bytes((SIMPLIFIED / "cat.ndjson").read_bytes())
    return data


def test_build_names_a_misspelled_class_before_the_network(tmp_path, caplog):
    data = cat_only(tmp_path)
    started = time.monotonic()
    with caplog.at_level("INFO"):
        rc = main(["--classes", "cat,dgo", "--data", str(data), "--base-url", NO_NETWORK,
                   "--out", str(tmp_path / "out")])
    assert rc == 2 and time.monotonic() - started < 5
    assert (f"no file for 'dgo' (did you mean 'dragon', 'dog'?) in {data}, and no Quick, Draw! "
            "category has that name to download: check the spelling, or put the class file in "
            f"{data} "
            f"({LIST_HINT}). Nothing was downloaded\n") in caplog.text
    assert "retrying" not in caplog.text and "network error" not in caplog.text
    assert sorted(p.name for p in data.iterdir()) == ["cat.ndjson"]


def test_build_takes_a_class_of_its_own_from_data(tmp_path):
    # Not a category, but --data has its file (of drawings whose word is its name): no
    # download, no refusal.
    data = cat_only(tmp_path)
    dogs = (SIMPLIFIED / "dog.ndjson").read_text("utf-8")
    (data / "kitty.ndjson").write_text(re.sub(r'"word":\s*"dog"', '"word":"kitty"', dogs),
                                       encoding="utf-8")
    assert main(["--classes", "cat,kitty", "--data", str(data), "--base-url", NO_NETWORK,
                 "--kind", "stroke", "--splits", "train=3", "--workers", "1"]) == 0
    assert (data / "custom_stroke" / "labels.txt").read_text() == "cat\nkitty"


def test_download_names_a_misspelled_class_before_the_network(tmp_path, capsys):
    started = time.monotonic()
    rc = main(["download", "--classes", "cat,dgo,The Mona Lsia", "--data",
               str(tmp_path / "data"), "--base-url", NO_NETWORK])
    assert rc == 2 and time.monotonic() - started < 5
    err = capsys.readouterr().err
    assert err == ("fastdraw download: error: unknown classes 'dgo' (did you mean 'dragon', "
                   "'dog'?); 'The Mona Lsia' (did you mean 'The Mona Lisa'?): no Quick, Draw! "
                   f"category has these names ({LIST_HINT}); nothing downloaded\n")
    assert not (tmp_path / "data").exists()


def test_build_says_a_data_directory_that_does_not_exist_before_downloading(tmp_path, caplog):
    from bucket_server import BucketServer, class_objects

    data = tmp_path / "dat"  # a typo for an existing directory, say
    with BucketServer(class_objects(SIMPLIFIED, "simplified"), page_size=1000) as server:
        with caplog.at_level("INFO"):
            rc = main(["--classes", "cat", "--data", str(data), "--base-url", server.url,
                       "--kind", "stroke", "--splits", "train=3", "--workers", "1"])
    assert rc == 0, caplog.text
    said = [r.getMessage() for r in caplog.records]
    warning = (f"--data {data} does not exist: creating it and downloading the class file into "
               "it (give --data DIR if the class files are elsewhere)")
    assert warning in said
    first_download = next(i for i, m in enumerate(said) if m.startswith("0 of 1 class files"))
    assert said.index(warning) < first_download
    assert (data / "cat.ndjson").read_bytes() == (SIMPLIFIED / "cat.ndjson").read_bytes()


def test_offline_build_says_a_data_directory_that_does_not_exist(tmp_path, caplog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for argv, named in [(["--data", str(tmp_path / "dat")], f"--data {tmp_path / 'dat'}"),
                        ([], "data (the default --data)")]:
        caplog.clear()
        assert main(["--classes", "cat", "--offline", *argv]) == 1
        assert (f"{named} does not exist, and --offline downloads nothing: give the directory "
                "that holds the class files (or leave out --offline to download them into "
                "it)") in caplog.text
    assert list(tmp_path.iterdir()) == []


def test_data_that_is_a_dangling_link(tmp_path, capsys, caplog):
    # It used to fail as "[Errno 17] File exists" when the download created the directory.
    link = tmp_path / "data"
    link.symlink_to(tmp_path / "gone")
    problem = (f"--data {link} is a symbolic link to {tmp_path / 'gone'}, which does not exist: "
               "create that directory, or give another --data")
    assert problem in refused(capsys, ["download", "--classes", "cat", "--data", str(link),
                                       "--base-url", NO_NETWORK])
    with caplog.at_level("ERROR"):
        assert main(["--classes", "cat", "--data", str(link), "--base-url", NO_NETWORK]) == 2
    assert problem in caplog.text


def test_list_offline_prints_the_bundled_names(capsys):
    assert main(["list", "--offline", "--base-url", NO_NETWORK]) == 0
    names = capsys.readouterr().out.splitlines()
    assert names == sorted(p.name[:-len(".ndjson")] for p in simplified_files())
    assert len(names) == 345
    assert main(["list", "--offline", "--regex", "^(cat|dog)$", "--format", "raw"]) == 0
    assert capsys.readouterr().out == "cat\ndog\n"


def test_list_without_the_network_points_to_list_offline(capsys, monkeypatch):
    from fastdraw.sources.bucket import transport

    monkeypatch.setattr(transport, "RETRY", transport.Retry(attempts=2, backoff=0.001))
    assert main(["list", "--base-url", NO_NETWORK]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"fastdraw list: error: GET {NO_NETWORK}/quickdraw_dataset?")
    assert err.endswith(". Without the network, `python -m fastdraw list --offline` prints the "
                        "345 categories bundled with fastdraw\n")


def hints_to_list(tmp_path: Path, capsys, caplog) -> list[str]:
    """Every `python -m fastdraw list ...` command the errors about class names point to."""
    data = cat_only(tmp_path)
    runs = [["--classes", "cat,dgo", "--sample", "--out", str(tmp_path / "out")],
            ["--classes", "cat,dgo", "--data", str(data), "--offline"],
            ["--classes", "cat,dgo", "--data", str(data), "--base-url", NO_NETWORK],
            ["download", "--classes", "dgo", "--data", str(data), "--base-url", NO_NETWORK],
            ["inspect", "dgo", "--sample"],
            ["inspect", "dgo", "--data", str(data)]]
    said = []
    for argv in runs:
        caplog.clear()
        assert main(argv) != 0
        said.append(capsys.readouterr().err + caplog.text)
    assert main(["download", "--classes", "a/b", "--data", str(data)]) == 2
    said.append(capsys.readouterr().err)
    return [re.search(r"`(python -m fastdraw list[^`]*)`", text)[1] for text in said]


def test_every_hint_to_fastdraw_list_works_offline(tmp_path, capsys, caplog):
    hints = hints_to_list(tmp_path, capsys, caplog)
    assert len(hints) == 7
    for hint in set(hints):
        done = subprocess.run([sys.executable, *hint.split()[1:], "--base-url", NO_NETWORK],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (hint, done.stderr)
        assert len(done.stdout.splitlines()) == 345 and "dog\n" in done.stdout


# ---------------------------------------------------------------------------- help


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_option_has_help(command):
    # list's and download's --format used to have none.
    undocumented = [action.option_strings or action.dest
                    for action in command_parser(command)._actions if not action.help]
    assert undocumented == []


@pytest.mark.parametrize("command", ["list", "download"])
def test_format_help_names_every_format(command):
    text = " ".join(command_parser(command).format_help().split())
    assert "--format {simplified,raw,binary}" in text
    assert "simplified (the notebook's" in text and "raw (as drawn" in text
    assert "binary (the simplified drawings packed" in text


def test_build_format_help_says_what_each_reads():
    text = " ".join(command_parser("build").format_help().split())
    assert "--format {simplified,raw,binary} read <class>.bin files (binary) or <class>.ndjson" \
        in text


@pytest.mark.parametrize(("argv", "words"), [
    (["verfy", "data/zoo_img"], "'verfy' is not a command (did you mean 'verify'?); the "
                                "commands are build, inspect,"),
    (["zoo", "--sample"], "'zoo' is not a command; the commands are build"),
    (["--group", "zoo", "--sample", "--runner", "beam", "in_memory"],
     "in_memory: not an option; Beam's pipeline options go after --, with --runner beam"),
])
def test_a_misspelled_command_or_a_stray_word_is_named_before_any_work(argv, words, tmp_path,
                                                                       capsys):
    with pytest.raises(SystemExit) as e:
        main([*argv, "--out", str(tmp_path)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert words in err
    assert "pipeline options are for" not in err
    assert list(tmp_path.iterdir()) == []
