"""`python -m fastdraw convert --to binary`: ndjson class files as official `.bin` files, valid
lines only, every other line reported and counted, nothing half written."""

from __future__ import annotations

import json
import logging

import orjson
import pytest
from binary_reference import official_drawings, pack_line
from conftest import RAW, SIMPLIFIED

from fastdraw.cli import main
from fastdraw.sources.binary import write as binary_write

CAT = (SIMPLIFIED / "cat.ndjson").read_bytes().splitlines()
BASE = orjson.loads(CAT[0])


def _line(**changes) -> bytes:
    return orjson.dumps({**BASE, **changes})


def _first_x(value) -> bytes:
    drawing = json.loads(json.dumps(BASE["drawing"]))
    drawing[1][0][2] = value
    return _line(drawing=drawing)


# Good ndjson lines that a binary record cannot hold exactly, and what is said of them.
UNWRITABLE = {
    "float_coordinate": (_first_x(12.5), "stroke 1: x[2] is 12.5: a binary record holds "
                         "integer coordinates 0 to 255 (the simplified format's)"),
    "coordinate_256": (_first_x(256), "stroke 1: x[2] is 256.0: a binary record"),
    "negative_coordinate": (_first_x(-1), "stroke 1: x[2] is -1.0: a binary record"),
    "negative_zero": (_first_x(-0.0), "stroke 1: x[2] is -0.0: a binary record"),
    "other_word": (_line(word="dog"), "word 'dog' is not the class 'cat': a binary file holds "
                   "one class, named by its file"),
    "long_countrycode": (_line(countrycode="USA"), "countrycode 'USA' is not 2 printable ASCII "
                         "characters"),
    "empty_countrycode": (_line(countrycode=""), "countrycode '' is not 2 printable ASCII"),
    "unicode_countrycode": (_line(countrycode="\u00e9\u00e9"), "countrycode 'éé' is not 2"),
    "negative_key_id": (_line(key_id=-5), "key_id -5 is negative: a binary record's is "
                        "unsigned"),
    "before_1970": (_line(timestamp="1969-12-31 23:59:59 UTC"), "timestamp -1 (epoch seconds) "
                    "is outside a binary record's, 1970 to 2106"),
    "after_2106": (_line(timestamp="2106-02-07 06:28:16 UTC"), "timestamp 4294967296 (epoch "
                   "seconds) is outside a binary record's"),
    "too_many_points": (_line(drawing=[[list(range(256)) * 257, [0] * (256 * 257)]]),
                        "a stroke of more than the 65535 points a binary record holds"),
    "time_row": (_line(drawing=[[[1, 2], [3, 4], [0, 10]], [[5, 6], [7, 8]]]),
                 "stroke 0 has a t row (a raw drawing): a binary record holds the simplified "
                 "format's x and y only, its times would be lost"),
    "too_many_strokes": (_line(drawing=[[[1, 2], [3, 4]]] * 65536),
                         "65536 strokes, more than the 65535 a binary record holds"),
}


def _convert(tmp_path, *args: str, classes: str = "cat") -> int:
    return main(["convert", "--to", "binary", "--classes", classes, "--data",
                 str(tmp_path / "data"), *args])


def _data(tmp_path, lines: list[bytes], name: str = "cat") -> None:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / f"{name}.ndjson").write_bytes(b"\n".join(lines) + b"\n")


def test_classes_of_the_sample_are_converted_into_the_out_directory(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    assert main(["convert", "--to", "binary", "--classes", "cat,sea turtle", "--data",
                 str(SIMPLIFIED), "--out", str(tmp_path / "bin")]) == 0
    assert sorted(p.name for p in (tmp_path / "bin").iterdir()) == ["cat.bin", "sea turtle.bin"]
    for name in ("cat", "sea turtle"):
        lines = (SIMPLIFIED / f"{name}.ndjson").read_bytes().splitlines()
        data = (tmp_path / "bin" / f"{name}.bin").read_bytes()
        assert data == b"".join(pack_line(orjson.loads(x)) for x in lines)
        assert len(official_drawings(tmp_path / "bin" / f"{name}.bin")) == len(lines)
    assert f"{len(CAT)} drawings written to {tmp_path / 'bin' / 'cat.bin'}" in caplog.text
    assert "rejected" not in caplog.text


@pytest.mark.parametrize("name", list(UNWRITABLE))
def test_a_line_a_record_cannot_hold_is_rejected_and_said(tmp_path, caplog, name):
    caplog.set_level(logging.INFO)
    line, reason = UNWRITABLE[name]
    _data(tmp_path, [*CAT[:3], line, *CAT[3:]])
    assert _convert(tmp_path, "--rejected", str(tmp_path / "rejected.ndjson")) == 0
    written = official_drawings(tmp_path / "data" / "cat.bin")
    assert [d["key_id"] for d in written] == [int(orjson.loads(x)["key_id"]) for x in CAT]
    path = tmp_path / "data" / "cat.ndjson"
    assert f"{path}:4: rejected: {reason}" in caplog.text
    [entry] = [json.loads(x) for x in (tmp_path / "rejected.ndjson").read_text().splitlines()]
    assert entry["file"] == str(path) and entry["line"] == 4 and reason in entry["reason"]
    assert f"{len(CAT)} drawings written to {tmp_path / 'data' / 'cat.bin'}, 1 line rejected" \
        in caplog.text


def test_bad_lines_are_rejected_and_many_are_counted(tmp_path, caplog):
    _data(tmp_path, [b"not json", *CAT, *[_first_x(0.5)] * 25, b'{"word": "cat"}'])
    assert _convert(tmp_path) == 0
    assert len(official_drawings(tmp_path / "data" / "cat.bin")) == len(CAT)
    shown = [r for r in caplog.records if ": rejected: " in r.getMessage()]
    assert len(shown) == binary_write_shown() == 20
    assert "cat.ndjson:1: rejected: not valid JSON" in caplog.text
    assert "7 more rejected lines (--rejected FILE lists them all)" in caplog.text


def binary_write_shown() -> int:
    from fastdraw.cli import convert

    return convert.SHOWN


def test_unrecognized_drawings_are_kept_with_their_flag(tmp_path):
    _data(tmp_path, CAT)
    assert _convert(tmp_path) == 0
    flags = [d["recognized"] for d in official_drawings(tmp_path / "data" / "cat.bin")]
    assert flags == [int(orjson.loads(x)["recognized"]) for x in CAT] and 0 in flags


def test_a_raw_file_is_refused_and_nothing_is_written(tmp_path, caplog, capsys):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cat.ndjson").write_bytes((RAW / "cat.ndjson").read_bytes())
    assert _convert(tmp_path) == 1
    assert "holds raw drawings" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["cat.ndjson"]


def test_existing_files_are_kept_unless_overwrite(tmp_path, capsys):
    _data(tmp_path, CAT)
    (tmp_path / "data" / "cat.bin").write_bytes(b"mine")
    assert _convert(tmp_path) == 1
    assert "cat.bin already exists: nothing was written; add --overwrite" in \
        capsys.readouterr().err
    assert (tmp_path / "data" / "cat.bin").read_bytes() == b"mine"
    assert _convert(tmp_path, "--overwrite") == 0
    assert len(official_drawings(tmp_path / "data" / "cat.bin")) == len(CAT)


def test_a_missing_class_file_is_named_with_how_to_get_it(tmp_path, capsys):
    _data(tmp_path, CAT)
    assert _convert(tmp_path, classes="cat,dog") == 1
    err = capsys.readouterr().err
    assert "no .ndjson (or .ndjson.gz) file in" in err and "'dog'" in err
    assert "python -m fastdraw download --classes 'dog'" in err
    assert not (tmp_path / "data" / "cat.bin").exists()


def test_an_interrupted_conversion_leaves_no_file(tmp_path, monkeypatch, capsys):
    _data(tmp_path, CAT)
    real = binary_write.encode_records

    def interrupted(d):
        real(d)
        raise KeyboardInterrupt

    monkeypatch.setattr(binary_write, "encode_records", interrupted)
    assert _convert(tmp_path) == 130
    assert "interrupted" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["cat.ndjson"]
