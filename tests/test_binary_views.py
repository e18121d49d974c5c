"""`.bin` class files where users look at drawings: `inspect`, its mosaic and the notebook's
`loaditer` / `loadn` give what they give for the ndjson of the same drawings."""

from __future__ import annotations

import json
import logging

import numpy as np
import orjson
import pytest
from binary_reference import pack, pack_line
from conftest import SIMPLIFIED

from fastdraw import loaditer, loadn, make_example_img
from fastdraw.cli import main
from fastdraw.drawings import utc_seconds
from fastdraw.views.stats import class_stats

CLASSES = ["cat", "eye", "sea turtle"]


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    """The sample's CLASSES as .bin files (the same drawings in the same order)."""
    out = tmp_path_factory.mktemp("bin")
    for name in CLASSES:
        lines = (SIMPLIFIED / f"{name}.ndjson").read_bytes().splitlines()
        (out / f"{name}.bin").write_bytes(b"".join(pack_line(orjson.loads(x)) for x in lines))
    return out


def test_inspect_says_of_a_binary_file_what_it_says_of_the_ndjson(binary, capsys):
    for name in CLASSES:
        got = class_stats(binary / f"{name}.bin")
        want = class_stats(SIMPLIFIED / f"{name}.ndjson")
        assert got["file"] == str(binary / f"{name}.bin")
        for key in want.keys() - {"file", "example"}:
            assert got[key] == want[key], (name, key)
        line = want["example"]["line"]
        assert got["example"]["line"] == line
        fields = want["example"]["fields"]
        assert got["example"]["fields"] == {
            "key_id": int(fields["key_id"]), "countrycode": fields["countrycode"],
            "recognized": int(fields["recognized"]),
            "timestamp": utc_seconds(fields["timestamp"]), "drawing": fields["drawing"]}
    assert main(["inspect", "cat", "--data", str(binary)]) == 0
    out = capsys.readouterr().out
    assert f"cat  ({binary / 'cat.bin'})" in out and "  lines            14" in out
    assert "    drawing      9 strokes (x, y), 49 points; the first: [[91,77,74," in out


def test_inspect_lists_a_binary_file_s_damaged_records(tmp_path, capsys):
    data = (SIMPLIFIED / "cat.ndjson").read_bytes().splitlines()
    good = [pack_line(orjson.loads(x)) for x in data]
    bad = pack(1, b"US", 1, 5, [([1, 2], [3, 4]), ([], [])])
    (tmp_path / "cat.bin").write_bytes(good[0] + bad + b"".join(good[1:]) + good[0][:5])
    assert main(["inspect", "cat", "--data", str(tmp_path), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)["cat"]
    assert stats["lines"] == 16 and stats["rejected"] == 2
    assert stats["first_rejections"] == [
        {"line": 2, "reason": f"record 2 at byte {len(good[0])}: stroke 1 is empty (its "
                              "n_points is 0)"},
        {"line": 16, "reason": stats["first_rejections"][1]["reason"]}]
    assert "the 5 bytes from byte" in stats["first_rejections"][1]["reason"]


def test_inspect_names_both_kinds_of_file_when_a_class_has_none(tmp_path, capsys):
    assert main(["inspect", "cat", "--data", str(tmp_path)]) == 1
    assert (f"(looked for {tmp_path / 'cat.ndjson'} or {tmp_path / 'cat.bin'} (plain or .gz))"
            in capsys.readouterr().err)


def test_the_mosaic_of_binary_files_is_that_of_the_ndjson(binary, tmp_path):
    for data, png in ((SIMPLIFIED, "n.png"), (binary, "b.png")):
        assert main(["inspect", *CLASSES, "--data", str(data), "--mosaic", str(tmp_path / png),
                     "--rows", "4", "--cols", "6", "--seed", "2"]) == 0
    assert (tmp_path / "n.png").read_bytes() == (tmp_path / "b.png").read_bytes()


@pytest.mark.parametrize("unrecognized", [False, True])
def test_loadn_of_a_binary_file_gives_the_notebook_s_dicts(binary, unrecognized):
    for name in CLASSES:
        got = loadn(name, 1000, unrecognized, data_path=binary)
        want = loadn(name, 1000, unrecognized, data_path=SIMPLIFIED)
        assert len(got) == len(want) > 0
        for g, w in zip(got, want):
            assert list(g) == list(w)  # the ndjson's field order
            assert {k: g[k] for k in ("word", "countrycode", "recognized", "key_id")} == {
                k: w[k] for k in ("word", "countrycode", "recognized", "key_id")}
            assert g["timestamp"] == w["timestamp"][:19] + " UTC"
            assert len(g["drawing"]) == len(w["drawing"])
            for a, b in zip(g["drawing"], w["drawing"]):
                assert a.dtype == b.dtype == np.int64 and np.array_equal(a, b)


def test_a_binary_drawing_makes_the_ndjson_drawing_s_example(binary):
    got = next(loaditer("cat", data_path=binary))
    want = next(loaditer("cat", data_path=SIMPLIFIED))
    assert make_example_img(3, got, utc=True).SerializeToString(deterministic=True) == \
        make_example_img(3, want, utc=True).SerializeToString(deterministic=True)


def test_loaditer_skips_a_damaged_record_with_a_warning(tmp_path, caplog):
    lines = (SIMPLIFIED / "cat.ndjson").read_bytes().splitlines()
    good = [pack_line(orjson.loads(x)) for x in lines]
    bad = pack(1, b"US", 9, 5, [([1, 2], [3, 4])])
    (tmp_path / "cat.bin").write_bytes(good[0] + bad + b"".join(good[1:]))
    with caplog.at_level(logging.WARNING):
        got = loadn("cat", 100, unrecognized=True, data_path=tmp_path)
    assert [d["key_id"] for d in got] == [orjson.loads(x)["key_id"] for x in lines]
    assert (f"{tmp_path / 'cat.bin'}:2: skipped bad line: record 2 at byte {len(good[0])}: "
            "recognized is 9, not 0 or 1") in caplog.text
