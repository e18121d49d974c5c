"""What a build makes of its input class files: short classes, bad lines and cut-off files
named, rejected lines listed, missing class files named or downloaded first."""

from __future__ import annotations

import json
import re
from fractions import Fraction

import pytest
from build_helpers import (
    SAMPLE,
    cut_off_gzip,
    leftovers,
    options,
    tree,
    with_bad_lines,
)
from conftest import SIMPLIFIED

from fastdraw.build import build, builder
from fastdraw.cli import main
from fastdraw.errors import BuildError


def test_short_classes_are_named_and_nothing_is_written(tmp_path):
    files = [SAMPLE / f"{c}.ndjson" for c in ["cat", "dog", "eye"]]
    with pytest.raises(BuildError) as e:
        build(options(["cat", "dog", "eye"], files, tmp_path, {"img": {"train": 12, "eval": 1}}))
    msg = str(e.value)
    assert "'cat' (12)" in msg and "'dog' (10)" in msg and "eye" not in msg
    assert "13 recognized drawings per class (train=12+eval=1)" in msg
    assert "Nothing was written" in msg
    assert leftovers(tmp_path) == []


def test_a_short_class_is_named_with_its_bad_lines_so_a_cut_off_file_shows(tmp_path):
    cut = cut_off_gzip(tmp_path, "eye", 20)
    with pytest.raises(BuildError) as e:
        build(options(["eye", "mouth"], [cut, SAMPLE / "mouth.ndjson"], tmp_path / "out",
                      {"img": {"train": 19}}))
    assert re.search(r"too few in 'eye' \(\d+; 1 bad line, line \d+: the gzip data breaks "
                     r"off here .*download it again\)", str(e.value))
    assert "'mouth'" not in str(e.value)
    assert leftovers(tmp_path / "out") == []


def test_counting_for_fractions_reports_every_file_s_bad_lines(tmp_path, caplog):
    cat = with_bad_lines(tmp_path)
    cut = cut_off_gzip(tmp_path, "eye", 20)
    with caplog.at_level("WARNING", logger="fastdraw.build"):
        build(options(["cat", "eye"], [cat, cut], tmp_path, {"img": {"train": Fraction(1, 2)}}))
    assert re.search(rf"{re.escape(str(cat))}: 3 bad lines, the last at line 12: .*; 12 "
                     "recognized drawings counted", caplog.text)
    assert re.search(rf"{re.escape(str(cut))}: 1 bad line, line \d+: the gzip data breaks off "
                     r"here .*; \d+ recognized drawings counted", caplog.text)


def test_a_split_count_no_file_can_hold_stops_before_the_plan(tmp_path, monkeypatch):
    monkeypatch.setattr(builder, "make_plans", None)  # never reached
    files = [SAMPLE / "cat.ndjson", cut_off_gzip(tmp_path, "eye", 600)]
    most = [files[0].stat().st_size // 72, files[1].stat().st_size * 1032 // 72]
    with pytest.raises(BuildError) as e:
        build(options(["cat", "eye"], files, tmp_path / "out", {"img": {"train": 10**20}}))
    assert (f"img asks for {10**20} drawings per class (train={10**20}), more than {files[0]} "
            "can hold (at most "
            f"{most[0]}, from its size), {files[1]} can hold (at most {most[1]}, ")\
        in str(e.value)
    assert not (tmp_path / "out").exists()
    # A count a file's size allows goes on to the plan (and here to the short-class check).
    monkeypatch.undo()
    with pytest.raises(BuildError, match="too few in 'cat'"):
        build(options(["cat", "eye"], files, tmp_path / "out", {"img": {"train": most[0]}}))


def test_rejected_lines_are_listed_per_kind_as_far_as_each_kind_read(tmp_path, caplog):
    cat = with_bad_lines(tmp_path)
    dog = SAMPLE / "dog.ndjson"
    both = options(["cat", "dog"], [cat, dog], tmp_path / "both",
                   {"img": {"train": 3, "eval": 1}, "stroke": {"train": 8, "eval": 2}})
    with caplog.at_level("INFO", logger="fastdraw.build"):
        built = build(both)
    assert [b.rejected for b in built] == [1, 3]
    for kind, examples, n, lines in (("img", 8, 1, "line"), ("stroke", 20, 3, "lines")):
        path = tmp_path / f"both/t_{kind}"
        assert f"(2 classes, {examples} examples), {n} rejected {lines}\n" in caplog.text
        assert f"{n} bad input {lines} skipped: see {path / 'rejected.ndjson'}" in caplog.text
    img, stroke = ([json.loads(x) for x in
                    (tmp_path / f"both/t_{kind}/rejected.ndjson").read_text().splitlines()]
                   for kind in ("img", "stroke"))
    assert [r["line"] for r in img] == [2]
    assert [r["line"] for r in stroke] == [2, 6, 12]
    for r in stroke:
        assert r["file"].endswith("cat.ndjson") and r["reason"] and r["text"]
    assert stroke[0]["text"] == '{"word": "cat", "drawing": ['
    manifest = json.loads((tmp_path / "both/t_stroke/manifest.json").read_text())
    assert manifest["rejected"] == 3
    alone = options(["cat", "dog"], [cat, dog], tmp_path / "alone", {"img": both.splits["img"]})
    build(alone)
    assert tree(tmp_path / "alone/t_img") == tree(tmp_path / "both/t_img")


def test_strict_stops_at_the_first_bad_line_with_exit_code_2(tmp_path, caplog):
    cat = with_bad_lines(tmp_path)
    rc = main(["--classes", "cat", "--data", str(cat.parent), "--offline", "--out",
               str(tmp_path / "out"), "--splits", "train=5", "--strict", "--workers", "1"])
    assert rc == 2
    assert f"{cat}:2: bad line" in caplog.text
    assert leftovers(tmp_path / "out") == []


def test_offline_names_the_missing_files(tmp_path, caplog):
    rc = main(["--classes", "cat,gryphon,chimera", "--data", str(SAMPLE), "--offline", "--out",
               str(tmp_path)])
    assert rc == 1
    assert "--offline, and 2 class files are missing: " in caplog.text
    assert "gryphon.ndjson" in caplog.text and "chimera.ndjson" in caplog.text
    assert "cat.ndjson" not in caplog.text
    assert "No Quick, Draw! category is named 'gryphon' (did you mean 'megaphone'" in caplog.text
    assert "'chimera' (did you mean 'camera'" in caplog.text
    assert "fastdraw download" not in caplog.text  # nothing there to download
    assert leftovers(tmp_path) == []


def test_offline_gives_the_download_command_for_the_missing_categories(tmp_path, caplog):
    data = tmp_path / "data"
    data.mkdir()
    (data / "cat.ndjson").write_bytes((SAMPLE / "cat.ndjson").read_bytes())
    for classes, text in [("cat,dog,zebra", "2 class files are missing"),
                          ("cat,zebra", "1 class file is missing")]:
        caplog.clear()
        assert main(["--classes", classes, "--data", str(data), "--offline"]) == 1
        assert f"--offline, and {text}: {data / 'dog.ndjson'}, " in caplog.text \
            or f"--offline, and {text}: {data / 'zebra.ndjson'}." in caplog.text
        fetch = classes.split(",", 1)[1]
        assert (f"python -m fastdraw download --classes '{fetch}' --data '{data}' (or leave "
                "out --offline)") in caplog.text
        assert "category is named" not in caplog.text
    assert sorted(p.name for p in data.iterdir()) == ["cat.ndjson"]


def test_missing_class_files_are_downloaded_first(tmp_path, caplog):
    from bucket_server import BucketServer, class_objects

    data = tmp_path / "data"
    data.mkdir()
    (data / "cat.ndjson").write_bytes((SIMPLIFIED / "cat.ndjson").read_bytes())
    with BucketServer(class_objects(SIMPLIFIED, "simplified"), page_size=1000) as server:
        rc = main(["--classes", "cat,dog,lion", "--data", str(data), "--base-url", server.url,
                   "--splits", "train=4", "--kind", "stroke", "--workers", "2"])
        fetched = sorted({r.key for r in server.object_gets()})
    assert rc == 0, caplog.text
    assert fetched == ["full/simplified/dog.ndjson", "full/simplified/lion.ndjson"]
    assert (data / "dog.ndjson").read_bytes() == (SIMPLIFIED / "dog.ndjson").read_bytes()
    assert (data / "custom_stroke/labels.txt").read_text() == "cat\ndog\nlion"


def test_a_class_missing_from_the_sample_is_named_with_close_matches(tmp_path, caplog):
    rc = main(["--classes", "cat,elefant,qwxz", "--sample", "--out", str(tmp_path)])
    assert rc == 2
    assert "not in the bundled sample: 'elefant' (did you mean 'elephant'" in caplog.text
    assert "'qwxz'; it has the 345 Quick, Draw! categories" in caplog.text
    assert list(tmp_path.iterdir()) == []


def test_a_fraction_that_rounds_to_no_example_is_an_error(tmp_path, caplog):
    # Issue 27: `--group all --sample` used to write empty eval and test splits silently.
    assert main(["--group", "all", "--sample", "--out", str(tmp_path), "--kind", "img"]) == 1
    assert ("img: eval=0.15 and test=0.15 of the smallest class's 5 recognized drawings "
            "('zigzag') rounds down to no example, so those splits would be empty") in caplog.text
    assert leftovers(tmp_path) == []


def test_a_split_asked_to_be_empty_is_built_empty(tmp_path):
    assert main(["--classes", "cat,dog", "--sample", "--out", str(tmp_path), "--kind", "img",
                 "--splits", "train=0.8,eval=0,test=0.2"]) == 0
    counts = json.loads((tmp_path / "custom_img" / "counts.json").read_text())
    assert counts == {"train": 16, "eval": 0, "test": 4}


def test_splits_smaller_than_a_batch_are_named_in_a_warning(tmp_path, caplog):
    assert main(["--group", "zoo", "--sample", "--out", str(tmp_path), "--kind", "img"]) == 0
    assert (f"{tmp_path / 'zoo_img'}: train 70, eval 10, test 10: fewer examples than a batch "
            "of 100") in caplog.text
    assert "for real volume leave out --sample" in caplog.text


def test_the_small_splits_warning_of_a_build_from_data_does_not_name_sample(tmp_path, caplog):
    data = tmp_path / "data"
    data.mkdir()
    (data / "cat.ndjson").write_bytes((SAMPLE / "cat.ndjson").read_bytes())
    assert main(["--classes", "cat", "--data", str(data), "--offline", "--kind", "img",
                 "--splits", "train=5"]) == 0
    assert "train 5: fewer examples than a batch of 100" in caplog.text
    assert "--sample" not in caplog.text
    assert "ask for more examples per class with --splits" in caplog.text
