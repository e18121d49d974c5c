"""The streaming ndjson reader: every real drawing as the reference reads it, every bad line
reported (file, line, reason, text) and the good lines around it kept."""

from __future__ import annotations

import calendar
import gzip
import itertools
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import orjson
import pytest
import realdata
from conftest import OFFICIAL, RAW, SIMPLIFIED, simplified_files
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fastdraw.drawings import Drawings
from fastdraw.errors import BadLineError
from fastdraw.notebook import dropins, reference
from fastdraw.sources import Rejection, read_drawings
from fastdraw.sources.ndjson import blocks as ndjson_blocks
from fastdraw.sources.ndjson import check as ndjson_check
from fastdraw.sources.ndjson import reader as ndjson_reader
from fastdraw.sources.ndjson import scan as ndjson_scan

CAT = SIMPLIFIED / "cat.ndjson"  # 14 lines, 2 of them unrecognized
BASE = CAT.read_bytes().split(b"\n")[0]
BASE_OBJ = json.loads(BASE)


def _utc(ts: str) -> int:
    return calendar.timegm(time.strptime(ts[:19], "%Y-%m-%d %H:%M:%S"))


def _expected(lines, numbers=None, unrecognized=True) -> list[tuple]:
    """The reference's reading of good lines: (line, key_id, timestamp, recognized, word,
    countrycode, [x, y rows as float64 (2, n)])."""
    out = []
    for number, line in zip(numbers or itertools.count(1), lines):
        d = reference.convert(line)
        if d["recognized"] or unrecognized:
            out.append((number, int(d["key_id"]), _utc(d["timestamp"]), d["recognized"],
                        d["word"], d["countrycode"],
                        [np.asarray(s[:2], dtype=np.float64) for s in d["drawing"]]))
    return out


def _records(chunks: list[Drawings]) -> list[tuple]:
    """The same view of what the reader yields, checking each chunk's layout on the way."""
    out = []
    for c in chunks:
        n = len(c)
        assert c.x.dtype == c.y.dtype == np.float64 and len(c.x) == len(c.y)
        assert c.stroke_offsets.dtype == c.drawing_offsets.dtype == np.int64
        assert c.stroke_offsets[0] == 0 and c.stroke_offsets[-1] == len(c.x)
        assert c.drawing_offsets[0] == 0 and c.drawing_offsets[-1] == len(c.stroke_offsets) - 1
        assert len(c.drawing_offsets) == n + 1
        assert c.key_id.dtype == c.timestamp.dtype == c.line.dtype == np.int64
        assert c.recognized.dtype == bool and len(c.word) == len(c.countrycode) == n
        for i in range(n):
            out.append((int(c.line[i]), int(c.key_id[i]), int(c.timestamp[i]),
                        bool(c.recognized[i]), c.word[i], c.countrycode[i], c.strokes(i)))
    return out


def _assert_same(got: list[tuple], want: list[tuple]) -> None:
    assert [g[:6] for g in got] == [w[:6] for w in want]
    for g, w in zip(got, want):
        assert len(g[6]) == len(w[6]), g[0]
        for a, b in zip(g[6], w[6]):
            assert a.dtype == np.float64 and a.shape == b.shape, g[0]
            assert np.array_equal(a, b) and np.array_equal(np.signbit(a), np.signbit(b)), g[0]


def _read(path, **kw) -> tuple[list[tuple], list[Rejection]]:
    rejections: list[Rejection] = []
    chunks = list(read_drawings(path, on_reject=rejections.append, **kw))
    return _records(chunks), rejections


def _real_files() -> list[Path]:
    return [*simplified_files(), *realdata.raw_files(), *realdata.files(OFFICIAL, at_least=3)]


@pytest.mark.parametrize("unrecognized", [True, False])
def test_every_real_file_reads_as_the_reference(unrecognized):
    files = _real_files()
    assert len(files) == 345 + 345 + 3
    for f in files:
        got, rejections = _read(f, unrecognized=unrecognized)
        assert rejections == []
        _assert_same(got, _expected(open(f, encoding="utf-8"), unrecognized=unrecognized))


def test_the_kernel_itself_takes_every_real_line():
    # the orjson path alone would give the same drawings, only slower: make sure it is not used
    for f in _real_files():
        data = f.read_bytes()
        n, _, good = ndjson_scan._scan(np.frombuffer(data, dtype=np.uint8), True)[:3]
        assert n == data.count(b"\n") and good[:n].all(), f


# --- bad lines ------------------------------------------------------------------------------


def _line(**changes) -> bytes:
    """BASE with fields changed (value ... removes the field), as compact JSON."""
    obj = {**BASE_OBJ, **changes}
    obj = {k: v for k, v in obj.items() if v is not ...}
    return json.dumps(obj, separators=(",", ":")).encode()


def _drawing(change) -> bytes:
    strokes = json.loads(json.dumps(BASE_OBJ["drawing"]))
    change(strokes)
    return _line(drawing=strokes)


BAD = {
    "truncated": (BASE[: len(BASE) // 2], "not valid JSON"),
    "truncated_in_number": (BASE[:BASE.index(b"[[[") + 5], "not valid JSON"),
    "not_json": (b"this is not json", "not valid JSON"),
    "blank": (b"", "not valid JSON"),
    "trailing_garbage": (BASE + b" x", "not valid JSON"),
    "two_objects": (BASE + BASE, "not valid JSON"),
    "bom": (b"\xef\xbb\xbf" + BASE, "not valid JSON"),
    "control_char": (BASE.replace(b'"cat"', b'"c\x01at"'), "not valid JSON"),
    "not_an_object": (orjson.dumps(BASE_OBJ["drawing"]), "not a JSON object"),
    "string": (b'"cat"', "not a JSON object"),
    "null": (b"null", "not a JSON object"),
    "no_word": (_line(word=...), "missing field word"),
    "no_countrycode": (_line(countrycode=...), "missing field countrycode"),
    "no_timestamp": (_line(timestamp=...), "missing field timestamp"),
    "no_recognized": (_line(recognized=...), "missing field recognized"),
    "no_key_id": (_line(key_id=...), "missing field key_id"),
    "no_drawing": (_line(drawing=...), "missing field drawing"),
    "no_two_fields": (_line(word=..., key_id=...), "missing fields word, key_id"),
    "empty_object": (b"{}", "missing fields word, countrycode"),
    "word_int": (_line(word=5), "word is not a string: 5"),
    "countrycode_null": (_line(countrycode=None), "countrycode is not a string: null"),
    "recognized_string": (_line(recognized="true"), "recognized is not true or false"),
    "recognized_int": (_line(recognized=1), "recognized is not true or false: 1"),
    "key_id_letters": (_line(key_id="12a"), "key_id is not a string of decimal digits"),
    "key_id_empty": (_line(key_id=""), "key_id is not a string of decimal digits"),
    "key_id_negative_string": (_line(key_id="-5"), "key_id is not a string of decimal digits"),
    "key_id_space": (_line(key_id=" 5"), "key_id is not a string of decimal digits"),
    "key_id_arabic_digits": (_line(key_id="\u0661\u0662"), "not a string of decimal digits"),
    "key_id_float": (_line(key_id=1.5), "key_id is not a string of decimal digits: 1.5"),
    "key_id_bool": (_line(key_id=True), "key_id is not a string of decimal digits: true"),
    "key_id_over_int64": (_line(key_id=str(2**63)), f"key_id {2**63} does not fit in int64"),
    "key_id_long": (_line(key_id="9" * 25), "does not fit in int64"),
    "key_id_int_over_int64": (_line(key_id=2**63), "does not fit in int64"),
    "timestamp_int": (_line(timestamp=123), "timestamp is not a string: 123"),
    "timestamp_month_13": (_line(timestamp="2017-13-01 00:00:00.1 UTC"), "not a valid date"),
    "timestamp_feb_29": (_line(timestamp="2017-02-29 10:00:00.5 UTC"), "not a valid date"),
    "timestamp_hour_24": (_line(timestamp="2017-01-01 24:00:00 UTC"), "not a valid date"),
    "timestamp_second_60": (_line(timestamp="2016-12-31 23:59:60 UTC"), "not a valid date"),
    "timestamp_year_0": (_line(timestamp="0000-01-01 00:00:00 UTC"), "not a valid date"),
    "timestamp_iso": (_line(timestamp="2017-01-01T00:00:00Z"), "is not 'YYYY-MM-DD"),
    "timestamp_no_utc": (_line(timestamp="2017-01-01 00:00:00.5"), "is not 'YYYY-MM-DD"),
    "timestamp_empty_fraction": (_line(timestamp="2017-01-01 00:00:00. UTC"), "is not 'YYYY"),
    "timestamp_arabic_digits": (_line(timestamp="\u0662017-01-01 00:00:00 UTC"), "is not 'YYYY"),
    "drawing_string": (_line(drawing="abc"), "drawing is not a list of strokes"),
    "drawing_empty": (_line(drawing=[]), "drawing has no strokes"),
    "drawing_bad_start": (BASE.replace(b'"drawing":[', b'"drawing":0'), "not valid JSON"),
    "stroke_empty": (_line(drawing=[[[], []]]), "stroke 0 is empty"),
    "stroke_one_row": (_line(drawing=[[[1, 2]]]), "stroke 0 is not a list of 2 (x, y) or 3"),
    "stroke_four_rows": (_line(drawing=[[[1, 2]] * 4]), "stroke 0 is not a list of 2"),
    "stroke_not_list": (_drawing(lambda s: s.append(7)), "stroke 9 is not a list of 2"),
    "row_not_list": (_line(drawing=[[[1, 2], 5]]), "stroke 0 is not a list of 2"),
    "single_points": (_drawing(lambda s: [r.__delitem__(slice(1, None)) for t in s for r in t]),
                      "drawing has no segment: every stroke is a single point"),
    "xy_mismatch": (_drawing(lambda s: s[1][1].pop()), "stroke 1: y has 11 values but x has 12"),
    "t_mismatch": (_line(drawing=[[[1, 2], [3, 4], [5]]]), "stroke 0: t has 1 values but x has 2"),
    "x_string": (_drawing(lambda s: s[0][0].__setitem__(2, "74")), "stroke 0: x[2] is not a"),
    "y_bool": (_drawing(lambda s: s[3][1].__setitem__(0, True)), "stroke 3: y[0] is not a"),
    "x_null": (_drawing(lambda s: s[2][0].__setitem__(1, None)), "stroke 2: x[1] is not a"),
    "x_list": (_drawing(lambda s: s[0][0].__setitem__(0, [1])), "stroke 0: x[0] is not a"),
    "x_object": (_drawing(lambda s: s[0][0].__setitem__(0, {})), "stroke 0: x[0] is not a"),
    "x_huge_exponent": (BASE.replace(b"[[[91,", b"[[[1e999,"), "not valid JSON: number is inf"),
    "y_huge_negative": (BASE.replace(b",[47,", b",[-1e999,"), "not valid JSON: number is inf"),
    "x_nan": (BASE.replace(b"[[[91,", b"[[[NaN,"), "not valid JSON"),
    "x_infinity": (BASE.replace(b"[[[91,", b"[[[Infinity,"), "not valid JSON"),
    "x_huge_integer": (BASE.replace(b"[[[91,", b"[[[" + b"9" * 400 + b","), "not valid JSON"),
    "x_leading_zero": (BASE.replace(b"[[[91,", b"[[[091,"), "not valid JSON"),
    "x_plus": (BASE.replace(b"[[[91,", b"[[[+91,"), "not valid JSON"),
    "x_bare_point": (BASE.replace(b"[[[91,", b"[[[91.,"), "not valid JSON"),
    "invalid_utf8": (BASE.replace(b'"cat"', b'"c\xffat"'), "not valid UTF-8: byte 0xff"),
    "invalid_utf8_truncated": (BASE.replace(b'"ID"', b'"I\xc3"'), "not valid UTF-8: byte 0xc3"),
}


def _copy_with(tmp_path: Path, source: Path, inserts: dict[int, bytes], gz: bool = False,
               newline_at_end: bool = True) -> tuple[Path, list[bytes], list[int]]:
    """Copy of ``source`` with lines inserted (before original line i, 0-based; len: at the end).
    Returns the path, the original lines and their new line numbers."""
    lines = source.read_bytes().split(b"\n")[:-1]
    out, numbers = [], []
    for i in range(len(lines) + 1):
        if i in inserts:
            out.append(inserts[i])
        if i < len(lines):
            out.append(lines[i])
            numbers.append(len(out))
    data = b"\n".join(out) + (b"\n" if newline_at_end else b"")
    path = tmp_path / (source.name + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(data) if gz else data)
    return path, lines, numbers


@pytest.mark.parametrize("name", list(BAD))
def test_a_bad_line_is_rejected_and_the_good_lines_around_it_arrive(tmp_path, name):
    bad, reason = BAD[name]
    for where in (0, 7, 14):
        path, lines, numbers = _copy_with(tmp_path, CAT, {where: bad})
        got, rejections = _read(path, unrecognized=True)
        _assert_same(got, _expected(lines, numbers))
        assert [(r.file, r.line) for r in rejections] == [(str(path), where + 1)]
        assert reason in rejections[0].reason
        text = rejections[0].text
        assert text == bad.decode("utf-8", "replace")[:200]
        assert json.loads(json.dumps(rejections[0].to_dict())) == {
            "file": str(path), "line": where + 1, "reason": rejections[0].reason, "text": text}


@pytest.mark.parametrize("name", list(BAD))
def test_the_drop_ins_skip_a_bad_line_with_a_warning(tmp_path, caplog, name):
    bad, reason = BAD[name]
    path, lines, numbers = _copy_with(tmp_path, CAT, {3: bad})
    with caplog.at_level(logging.WARNING, logger="fastdraw.sources.base"):
        got = dropins.loadn("cat", 100, unrecognized=True, data_path=tmp_path)
    assert [d["key_id"] for d in got] == [json.loads(line)["key_id"] for line in lines]
    assert len(caplog.records) == 1
    assert f"{path}:4: " in caplog.text and reason in caplog.text
    with pytest.raises(BadLineError, match="bad line") as e:
        dropins.convert(bad)
    assert reason in e.value.rejection.reason
    assert isinstance(e.value, ValueError)


def test_a_json_error_is_placed_by_column_not_by_orjson_s_line_1(tmp_path):
    # orjson reads one line at a time, so its "line 1 column N" named the wrong line
    cut, extra = BAD["truncated"][0], BASE + b" x"
    path, lines, numbers = _copy_with(tmp_path, CAT, {7: cut, 9: extra})
    got, rejections = _read(path, unrecognized=True)
    _assert_same(got, _expected(lines, numbers))
    assert [r.line for r in rejections] == [8, 11]
    assert rejections[0].reason == (
        f"not valid JSON: unexpected end of data at column {len(cut) + 1}")
    assert rejections[1].reason == ("not valid JSON: unexpected content after document at column "
                                    f"{len(BASE) + 2}")


def test_lines_ended_by_a_carriage_return_alone_are_named_as_such(tmp_path):
    # Python's text mode (the notebook's open()) ends a line at a lone \r too; this reader ends
    # lines at \n only, so such lines arrive joined: the reason must say why
    lines = CAT.read_bytes().split(b"\n")[:-1]
    path = tmp_path / "cat.ndjson"
    path.write_bytes(b"\r".join(lines) + b"\r")
    got, rejections = _read(path)
    assert got == [] and [r.line for r in rejections] == [1]
    assert rejections[0].reason.startswith("not valid JSON: unexpected content after document")
    assert "line ends with a carriage return (\\r) alone" in rejections[0].reason
    joined = lines[3] + b"\r" + lines[4]
    path, lines, numbers = _copy_with(tmp_path, CAT, {3: joined})
    got, rejections = _read(path, unrecognized=True)
    _assert_same(got, _expected(lines, numbers))
    assert [r.line for r in rejections] == [4]
    assert "carriage return" in rejections[0].reason
    for bad in (BASE.replace(b",", b",\r", 1) + b" x", BAD["truncated"][0] + b"\r"):  # \r\n
        _, rejections = _read(_copy_with(tmp_path, CAT, {3: bad})[0])
        assert "carriage return" not in rejections[0].reason


def test_a_long_bad_line_is_reported_with_its_first_200_characters(tmp_path):
    path, _, _ = _copy_with(tmp_path, CAT, {2: b"\xff" * 1000})
    _, rejections = _read(path)
    assert rejections[0].text == "\ufffd" * 200
    assert rejections[0].reason == "not valid UTF-8: byte 0xff at column 1"


def test_many_bad_lines_are_all_reported_in_file_order(tmp_path):
    names = list(BAD)
    inserts = {i: BAD[name][0] for i, name in enumerate(names[:15])}
    path, lines, numbers = _copy_with(tmp_path, CAT, inserts)
    got, rejections = _read(path, unrecognized=True)
    _assert_same(got, _expected(lines, numbers))
    assert [r.line for r in rejections] == [2 * i + 1 for i in range(14)] + [29]
    assert [r.reason.split(":")[0] for r in rejections][:3] == [
        "not valid JSON", "not valid JSON", "not valid JSON"]


def test_timestamps_across_the_calendar(tmp_path):
    rng = np.random.default_rng(0)
    texts = [f"{y:04d}-{m:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}{frac} UTC"
             for y, m, d, h, mi, s, frac in zip(
                 rng.integers(1, 10000, 1500), rng.integers(1, 13, 1500), rng.integers(1, 32, 1500),
                 rng.integers(0, 24, 1500), rng.integers(0, 60, 1500), rng.integers(0, 60, 1500),
                 itertools.cycle(["", ".0", ".31846", ".999999"]))]
    texts += [f"{y}-02-{d} 00:00:00 UTC" for y in (1900, 2000, 2016, 2017) for d in (28, 29, 30)]
    texts += ["1970-01-01 00:00:00 UTC", "1969-12-31 23:59:59.9 UTC", "2038-01-19 03:14:08 UTC",
              "2017-04-31 00:00:00 UTC", "2017-06-30 23:59:59 UTC", "2017-00-10 00:00:00 UTC"]
    path = tmp_path / "times.ndjson"
    path.write_bytes(b"\n".join(_line(timestamp=t) for t in texts) + b"\n")
    got, rejections = _read(path)
    valid = []
    for t in texts:
        try:
            valid.append(_utc(t))
        except ValueError:
            valid.append(None)
    assert [g[2] for g in got] == [v for v in valid if v is not None]
    assert [r.line for r in rejections] == [i + 1 for i, v in enumerate(valid) if v is None]
    assert len(rejections) > 30 and all("not a valid date" in r.reason for r in rejections)


# --- good lines in unusual shapes -----------------------------------------------------------


GOOD = {
    "spaces": json.dumps(BASE_OBJ).encode(),
    "indented_single_line": json.dumps(BASE_OBJ, indent=None, separators=(" , ", " : ")).encode(),
    "tabs": b"\t" + BASE.replace(b",", b",\t") + b"\t",
    "crlf": BASE + b"\r",
    "keys_reversed": orjson.dumps(dict(reversed(list(BASE_OBJ.items())))),
    "extra_field": _line(extra=[1, {"a": "b"}, None]),
    "duplicate_key": BASE[:-1] + b',"word":"dog"}',
    "key_id_int": _line(key_id=5201136883597312),
    "key_id_negative_int": _line(key_id=-5),
    "key_id_leading_zeros": _line(key_id="0000000000000000000000042"),
    "key_id_max": _line(key_id=str(2**63 - 1)),
    "key_id_zero": _line(key_id="0"),
    "word_escaped": json.dumps({**BASE_OBJ, "word": 'caf\u00e9 "x" \\'}).encode(),
    "word_utf8": orjson.dumps({**BASE_OBJ, "word": "caf\u00e9 \u732b"}),
    "word_empty": _line(word=""),
    "timestamp_no_fraction": _line(timestamp="2017-01-29 02:42:16 UTC"),
    "timestamp_long_fraction": _line(timestamp="2000-02-29 23:59:59.123456789012 UTC"),
    "timestamp_year_1": _line(timestamp="0001-01-01 00:00:00 UTC"),
    "timestamp_year_9999": _line(timestamp="9999-12-31 23:59:59 UTC"),
    "unrecognized": _line(recognized=False),
    "exponents": _line(drawing=[[[1.5e2, 2e1, -3e-2, 0.0], [1, 2, 3, 4]]]).replace(b"20.0", b"2E+1")
    .replace(b"-0.03", b"-3e-2"),
    "negative_zero": b'{"word":"cat","countrycode":"ID","timestamp":"2017-01-29 02:42:16 UTC",'
                     b'"recognized":true,"key_id":"1","drawing":[[[-0,-0.0,0],[0.0,-0.000,-0]]]}',
    "decimals": _line(drawing=[[[0.1, 0.2, 0.3, 1.0000000000000002, 123456.789],
                                [-0.5, 2.5, 1e-7, 9007199254740993.0, 0.30000000000000004]]]),
    "long_decimals": _line(drawing=[[[142.64599609375, 141.76100158691406, 0.1234567890123456789],
                                     [5.0e-324, 1.7976931348623157e308, 22.98765432109876]]]),
    "big_integers": b'{"word":"cat","countrycode":"ID","timestamp":"2017-01-29 02:42:16 UTC",'
                    b'"recognized":true,"key_id":"1","drawing":[[[9007199254740993,'
                    b'123456789012345678,18446744073709551615],[-9223372036854775808,'
                    b'-1,0.000000000000000000000000001]]]}',
    "raw_stroke": _line(drawing=[[[1.5, 2, 3], [4, 5.25, 6], [0, 17, 30]]]),
    "raw_t_not_numbers": _line(drawing=[[[1, 2], [3, 4], ["a", None]]]),
    "single_points_and_a_segment": _line(drawing=[[[1], [2]], [[3, 4], [5, 6]], [[7], [8]]]),
    "one_stroke_of_two_points": _line(drawing=[[[0, 255], [255, 0]]]),
}


@pytest.mark.parametrize("name", list(GOOD))
def test_a_good_line_in_an_unusual_shape_reads_as_the_reference(tmp_path, name):
    path, lines, numbers = _copy_with(tmp_path, CAT, {5: GOOD[name]})
    got, rejections = _read(path, unrecognized=True)
    assert rejections == []
    lines.insert(5, GOOD[name])
    _assert_same(got, _expected(lines))
    d = dropins.convert(GOOD[name])
    want = reference.convert(GOOD[name])
    assert list(d) == list(want)
    for a, b in zip(d["drawing"], want["drawing"]):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def test_integers_beyond_64_bits_read_as_floats(tmp_path):
    # json.loads keeps them as Python ints (np.array makes an object array of them); orjson
    # reads them as floats: the drop-in's stroke arrays are then float64, with the same values
    line = _line(drawing=[[[1234567890123456789012345, 2], [3, -98765432109876543210]]])
    path, lines, numbers = _copy_with(tmp_path, CAT, {5: line})
    got, rejections = _read(path, unrecognized=True)
    assert rejections == []
    lines.insert(5, line)
    _assert_same(got, _expected(lines))
    stroke, = dropins.convert(line)["drawing"]
    want, = reference.convert(line)["drawing"]
    assert stroke.dtype == np.float64 and want.dtype == object
    assert np.array_equal(stroke, want.astype(np.float64))


def test_a_key_id_of_thousands_of_leading_zeros_reads_as_its_value(tmp_path):
    # Python's int() refuses a string of over 4300 digits: the line stopped the build
    line = _line(key_id="0" * 5000 + "42")
    path, lines, numbers = _copy_with(tmp_path, CAT, {5: line})
    got, rejections = _read(path, unrecognized=True)
    assert rejections == []
    lines.insert(5, _line(key_id="42"))
    _assert_same(got, _expected(lines))


def test_a_key_id_of_thousands_of_digits_is_rejected_as_not_fitting(tmp_path):
    path, lines, numbers = _copy_with(tmp_path, CAT, {5: _line(key_id="9" * 5000)})
    got, rejections = _read(path, unrecognized=True)
    _assert_same(got, _expected(lines, numbers))
    assert [(r.line, r.reason) for r in rejections] == [
        (6, f"key_id {'9' * 37}... does not fit in int64")]


# --- file endings, gzip, blocks and chunks --------------------------------------------------


def test_a_cut_off_last_line_is_rejected(tmp_path):
    data = CAT.read_bytes()
    path = tmp_path / "cat.ndjson"
    path.write_bytes(data[:-200])
    lines = data.split(b"\n")[:-2]
    got, rejections = _read(path, unrecognized=True)
    _assert_same(got, _expected(lines))
    assert [r.line for r in rejections] == [14]
    assert rejections[0].reason.startswith("cut off: the file ends in the middle of this line")
    assert "download the file again" in rejections[0].reason
    assert "not valid JSON" in rejections[0].reason
    assert rejections[0].text == data[:-200].split(b"\n")[-1][:200].decode()


CAFE = orjson.dumps({**BASE_OBJ, "word": "caf\u00e9"})
LAST_LINES = {  # a last line without newline: (text, cut off?, reason)
    "cut_in_a_character": (CAFE[:CAFE.index(b"\xa9")], True, "not valid UTF-8: byte 0xc3"),
    "cut_after_spaces": (BASE[:300] + b"  ", True, "not valid JSON"),
    "trailing_garbage": (BASE + b" x", False, "not valid JSON"),
    "two_objects": (BASE + BASE, False, "not valid JSON"),
    "not_json": (b"this is not json", False, "not valid JSON"),
    "bad_byte_inside": (BASE.replace(b'"cat"', b'"c\xffat"'), False, "not valid UTF-8: byte 0xff"),
}


@pytest.mark.parametrize("name", list(LAST_LINES))
def test_a_bad_last_line_without_newline_is_called_cut_off_only_if_it_ends_early(tmp_path, name):
    # "cut off ... download the file again" is advice for a line the file ends in the middle
    # of, not for a whole line that is wrong in itself
    last, cut, reason = LAST_LINES[name]
    path, lines, numbers = _copy_with(tmp_path, CAT, {14: last}, newline_at_end=False)
    got, rejections = _read(path, unrecognized=True)
    _assert_same(got, _expected(lines))
    assert [r.line for r in rejections] == [15]
    assert rejections[0].reason.startswith(ndjson_check._CUT_OFF) == cut, rejections[0].reason
    assert reason in rejections[0].reason


def test_a_complete_last_line_without_newline_is_kept(tmp_path):
    path, lines, numbers = _copy_with(tmp_path, CAT, {}, newline_at_end=False)
    got, rejections = _read(path, unrecognized=True)
    assert rejections == []
    _assert_same(got, _expected(lines))


def test_a_bad_last_line_without_newline_that_is_json_gets_its_own_reason(tmp_path):
    path, lines, numbers = _copy_with(tmp_path, CAT, {14: _line(word=3)}, newline_at_end=False)
    got, rejections = _read(path, unrecognized=True)
    _assert_same(got, _expected(lines))
    assert [(r.line, r.reason) for r in rejections] == [(15, "word is not a string: 3")]


def test_empty_files(tmp_path):
    (tmp_path / "empty.ndjson").write_bytes(b"")
    assert _read(tmp_path / "empty.ndjson") == ([], [])
    (tmp_path / "blank.ndjson").write_bytes(b"\n\n")
    got, rejections = _read(tmp_path / "blank.ndjson")
    assert got == [] and [r.line for r in rejections] == [1, 2]


@pytest.mark.parametrize("unrecognized", [True, False])
def test_gzip_files_read_as_the_plain_ones(tmp_path, unrecognized):
    path, lines, numbers = _copy_with(tmp_path, CAT, {4: BAD["xy_mismatch"][0]}, gz=True)
    got, rejections = _read(path, unrecognized=unrecognized)
    _assert_same(got, _expected(lines, numbers, unrecognized))
    assert [r.line for r in rejections] == [5]
    raw = RAW / "eye.ndjson"
    packed = tmp_path / "eye.ndjson.gz"
    packed.write_bytes(gzip.compress(raw.read_bytes()))
    assert _read(packed)[1] == []
    _assert_same(_read(packed)[0], _read(raw)[0])


@pytest.mark.parametrize("first,most", [(1, 97), (64, 4096), (1 << 16, 1 << 20)])
@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("newline_at_end", [True, False])
def test_blocks_hold_whole_lines_and_cover_the_file_once(tmp_path, monkeypatch, first, most,
                                                        gz, newline_at_end):
    monkeypatch.setattr(ndjson_blocks, "_FIRST_BLOCK", first)
    monkeypatch.setattr(ndjson_blocks, "_MAX_BLOCK", most)
    data = (RAW / "cat.ndjson").read_bytes() + (SIMPLIFIED / "eye.ndjson").read_bytes()
    data = data if newline_at_end else data[:-1]
    path = tmp_path / "cat.ndjson"
    path.write_bytes(gzip.compress(data) if gz else data)
    blocks = list(ndjson_blocks.blocks(path))
    whole = [(b, n) for b, n, end in blocks if end is None]
    assert all(b[:n].endswith(b"\n") and n <= len(b) for b, n in whole)
    last = [] if newline_at_end else [(data[data.rfind(b"\n") + 1:], "")]
    assert [(b[:n], end) for b, n, end in blocks[len(whole):]] == last
    assert b"".join(b[:n] for b, n, _ in blocks) == data
    assert len(blocks) > (10 if most < 1 << 20 else 0)


def test_a_cut_off_gzip_file_keeps_its_whole_lines_and_reports_the_break(tmp_path):
    source = SIMPLIFIED / "eye.ndjson"
    lines = source.read_bytes().split(b"\n")[:-1]
    packed = gzip.compress(source.read_bytes())
    for cut in (len(packed) // 3, len(packed) - 10, len(packed) - 3):
        path = tmp_path / "eye.ndjson.gz"
        path.write_bytes(packed[:cut])
        got, rejections = _read(path, unrecognized=True)
        assert len(rejections) == 1
        assert "the gzip data breaks off here" in rejections[0].reason
        assert rejections[0].line == len(got) + 1
        _assert_same(got, _expected(lines[: len(got)]))
        with pytest.raises(BadLineError, match="gzip data breaks off"):
            list(read_drawings(path, strict=True))


def test_a_corrupt_gzip_file_is_reported_not_raised(tmp_path):
    packed = bytearray(gzip.compress((SIMPLIFIED / "eye.ndjson").read_bytes()))
    packed[len(packed) // 2: len(packed) // 2 + 8] = b"\x00" * 8
    path = tmp_path / "eye.ndjson.gz"
    path.write_bytes(bytes(packed))
    got, rejections = _read(path, unrecognized=True)
    assert rejections and "gzip data breaks off" in rejections[-1].reason
    assert len(got) < 615


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> tuple[Path, list[bytes], list[int]]:
    """Every real simplified line in one file (~3 MB, several blocks) with bad lines inside."""
    lines = [line.encode() for line in _all_simplified_lines()]
    path = tmp_path_factory.mktemp("big") / "all.ndjson"
    out, numbers = [], []
    for i, line in enumerate(lines):
        if i % 997 == 5:
            out.append(BAD["xy_mismatch"][0])
        out.append(line)
        numbers.append(len(out))
    path.write_bytes(b"\n".join(out) + b"\n")
    return path, lines, numbers


def _all_simplified_lines() -> list[str]:
    return [line for f in simplified_files() for line in f.read_text("utf-8").splitlines()]


def test_a_chunk_of_drawings_of_many_points_is_cut_short_to_bound_memory(tmp_path):
    # 24 drawings of 256 Ki points each (2 MB lines) were one chunk of 100 MB of points: a
    # file of such lines made a chunk of 4096 drawings hold gigabytes
    n = 1 << 18
    xs = ",".join(["0,255"] * (n // 2))
    line = _line(drawing=[[[0], [0]]]).replace(b"[[[0],[0]]]", f"[[[{xs}],[{xs}]]]".encode())
    path = tmp_path / "cat.ndjson"
    path.write_bytes((line + b"\n") * 24)
    chunks = list(read_drawings(path, chunk_size=4096))
    assert all(16 * len(c.x) <= 64 << 20 for c in chunks)  # x and y: at most 64 MiB a chunk
    assert [int(x) for c in chunks for x in c.line] == list(range(1, 25))
    assert len(Drawings.concat(chunks).x) == 24 * n


@pytest.mark.parametrize("chunk_size", [1, 7, 1024, 10**7])
def test_chunks_hold_chunk_size_drawings_and_join_up_to_the_whole_file(big_file, chunk_size):
    path, lines, numbers = big_file
    rejections: list[Rejection] = []
    chunks = list(read_drawings(path, chunk_size=chunk_size, on_reject=rejections.append))
    assert all(len(c) == chunk_size for c in chunks[:-1]) and 0 < len(chunks[-1]) <= chunk_size
    _assert_same(_records(chunks), _expected(lines, numbers, unrecognized=False))
    assert [r.line for r in rejections] == [n - 1 for i, n in enumerate(numbers) if i % 997 == 5]


def test_lines_split_across_tiny_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(ndjson_blocks, "_FIRST_BLOCK", 1)
    monkeypatch.setattr(ndjson_blocks, "_MAX_BLOCK", 97)
    inserts = {3: BAD["truncated"][0], 9: GOOD["exponents"], 12: BAD["invalid_utf8"][0]}
    for source in (CAT, RAW / "cat.ndjson"):
        path, lines, numbers = _copy_with(tmp_path, source, inserts, newline_at_end=False)
        got, rejections = _read(path, unrecognized=True, chunk_size=3)
        want = _expected(lines + [GOOD["exponents"]], numbers + [11])
        _assert_same(got, sorted(want, key=lambda r: r[0]))
        assert [r.line for r in rejections] == [4, 15]
        assert [d["key_id"] for d in dropins.loaditer("cat", True, tmp_path)] == [
            json.loads(line)["key_id"] for line in lines[:9] + [GOOD["exponents"]] + lines[9:]]


def test_limit_stops_after_that_many_drawings(tmp_path):
    # cat: lines 2 and 13 (1-based) are unrecognized in the real file
    inserts = {1: BAD["blank"][0], 9: BAD["no_word"][0]}
    path, lines, numbers = _copy_with(tmp_path, CAT, inserts)
    want = _expected(lines, numbers, unrecognized=False)
    for limit in (1, 5, 7, 8, 11, 12, 100):
        got, rejections = _read(path, limit=limit, chunk_size=3)
        _assert_same(got, want[:limit])
        last = got[-1][0]
        assert [r.line for r in rejections] == [n for n in (2, 11) if n < last]
    assert _read(path, limit=0) == ([], [])
    got, _ = _read(path, limit=13, unrecognized=True)
    _assert_same(got, _expected(lines, numbers)[:13])


def test_strict_mode_raises_at_the_first_bad_line(tmp_path):
    path, _, _ = _copy_with(tmp_path, CAT, {6: BAD["timestamp_feb_29"][0], 9: b"x"})
    with pytest.raises(BadLineError) as e:
        list(read_drawings(path, strict=True))
    r = e.value.rejection
    assert (r.file, r.line) == (str(path), 7)
    assert "is not a valid date and time" in r.reason
    assert str(e.value).startswith(f"{path}:7: bad line: timestamp '2017-02-29 10:00:00.5 UTC'")
    assert "--strict" in str(e.value)
    assert len(_records(list(read_drawings(CAT, strict=True)))) == 12


def test_bad_lines_are_logged_as_warnings_by_default(tmp_path, caplog):
    path, lines, _ = _copy_with(tmp_path, CAT, {2: BAD["drawing_empty"][0]})
    with caplog.at_level(logging.WARNING, logger="fastdraw.sources.base"):
        got = _records(list(read_drawings(path)))
    assert len(got) == 12
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}:3: skipped bad line: drawing has no strokes"]


def test_chunk_size_must_be_positive():
    with pytest.raises(ValueError, match="chunk_size"):
        next(read_drawings(CAT, chunk_size=0))


# --- the notebook's functions ---------------------------------------------------------------


def _assert_same_dicts(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert list(g) == list(w)
        assert {k: v for k, v in g.items() if k != "drawing"} == {
            k: v for k, v in w.items() if k != "drawing"}
        assert len(g["drawing"]) == len(w["drawing"])
        for a, b in zip(g["drawing"], w["drawing"]):
            assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


@pytest.mark.parametrize("unrecognized", [False, True])
def test_loaditer_and_loadn_equal_the_reference_on_every_class_file(unrecognized):
    for f in simplified_files():
        name = f.name[: -len(".ndjson")]
        _assert_same_dicts(
            list(dropins.loaditer(name, unrecognized=unrecognized, data_path=SIMPLIFIED)),
            list(reference.loaditer(name, unrecognized=unrecognized, data_path=SIMPLIFIED)))
        _assert_same_dicts(
            dropins.loadn(name, 3, unrecognized=unrecognized, data_path=SIMPLIFIED),
            reference.loadn(name, 3, unrecognized=unrecognized, data_path=SIMPLIFIED))


def test_loaditer_equals_the_reference_on_raw_files_and_reads_gzip(tmp_path):
    for f in realdata.raw_files()[::5]:
        name = f.name[: -len(".ndjson")]
        want = list(reference.loaditer(name, unrecognized=True, data_path=RAW))
        _assert_same_dicts(list(dropins.loaditer(name, True, RAW)), want)
        (tmp_path / f"{name}.ndjson.gz").write_bytes(gzip.compress(f.read_bytes()))
        _assert_same_dicts(list(dropins.loaditer(name, True, tmp_path)), want)


def test_convert_equals_the_reference_on_every_real_line():
    for f in _real_files()[::3]:
        for line in open(f, encoding="utf-8"):
            _assert_same_dicts([dropins.convert(line)], [reference.convert(line)])
            _assert_same_dicts([dropins.convert(line.encode())], [reference.convert(line)])


def test_loaditer_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.ndjson"):
        next(dropins.loaditer("nothing", data_path=tmp_path))


# --- fuzz: nothing crashes the reader, and the kernel agrees with the exact checks -------------


REAL_LINES = [line.encode() for line in _all_simplified_lines()[::40]] + [
    line for line in (RAW / "cat.ndjson").read_bytes().split(b"\n")[:3]]
ALPHABET = b'0123456789-+.,:[]{}" eEtrufalsn\\\x00\t\r\xff\xc3u'


@st.composite
def _mutated_line(draw) -> bytes:
    line = bytearray(draw(st.sampled_from(REAL_LINES)))
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(line)))
        kind = draw(st.sampled_from(["replace", "insert", "delete", "cut"]))
        byte = draw(st.sampled_from(list(ALPHABET)))
        if kind == "replace" and i < len(line):
            line[i] = byte
        elif kind == "insert":
            line.insert(i, byte)
        elif kind == "delete" and i < len(line):
            del line[i]
        elif kind == "cut":
            del line[i:]
    return bytes(line)


def _exact(line: bytes) -> Drawings | None:
    try:
        d = dropins.convert(line)
    except BadLineError:
        return None
    return Drawings.from_dicts([d])


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_mutated_line(), min_size=1, max_size=12), newline_at_end=st.booleans(),
       unrecognized=st.booleans())
def test_fuzz_mutated_real_lines(tmp_path, lines, newline_at_end, unrecognized):
    data = b"\n".join(line.replace(b"\n", b" ") for line in lines)
    data += b"\n" if newline_at_end else b""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # after the last newline (or in an empty file): no line
    path = tmp_path / "fuzz.ndjson"
    path.write_bytes(data)
    got, rejections = _read(path, unrecognized=unrecognized, chunk_size=5)
    want, bad = [], []
    for number, line in enumerate(lines, 1):
        d = _exact(line)
        if d is None:
            bad.append(number)
        elif d.recognized[0] or unrecognized:
            d.line[0] = number
            want.extend(_records([d]))
    _assert_same(got, want)
    assert [r.line for r in rejections] == bad
    for r in rejections:
        assert isinstance(r.text, str) and len(r.text) <= 200
        r.text.encode("utf-8")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3000), packed=st.booleans())
def test_fuzz_random_bytes(tmp_path, data, packed):
    assume(packed or not data.startswith(b"\x1f\x8b"))  # else it is read as gzip data
    path = tmp_path / "random.ndjson"
    path.write_bytes(gzip.compress(data) if packed else data)
    got, rejections = _read(path, unrecognized=True)
    lines = data.count(b"\n") + (not data.endswith(b"\n") and data != b"")
    assert len(got) + len(rejections) == lines
    assert sorted([g[0] for g in got] + [r.line for r in rejections]) == list(range(1, lines + 1))
    for r in rejections:
        r.text.encode("utf-8")


def test_warmup_loads_the_reader_kernel():
    ndjson_reader.warmup()
    assert ndjson_scan._scan.signatures


@pytest.mark.parametrize("kind", ["pipe", "directory"])
def test_a_pipe_or_directory_is_refused_by_name(tmp_path, kind):
    # A pipe lost its first bytes to the gzip check and then failed on a seek, or waited for
    # a writer; a directory failed with IsADirectoryError.
    path = tmp_path / "cat.ndjson"
    if kind == "directory":
        path.mkdir()
        fd = None
    else:
        os.mkfifo(path)
        fd = os.open(path, os.O_RDWR)  # a writer, so no open waits
        os.write(fd, CAT.read_bytes())
    try:
        hint = ("give the path of an .ndjson" if kind == "directory"
                else "save the data to a file first")
        with pytest.raises(ValueError, match=f"cat.ndjson: a {kind}, not a file: .*{hint}"):
            next(read_drawings(path))
    finally:
        if fd is not None:
            os.close(fd)
