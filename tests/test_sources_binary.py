"""The `.bin` source: every real drawing as the official parser and the ndjson reader read it,
every damaged record reported (file, record, byte offset, reason) and the records around it
kept, in bounded memory."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import orjson
import pytest
import realdata
from binary_reference import expected, official_drawings, pack, pack_line
from conftest import OFFICIAL, SIMPLIFIED, simplified_files, traced_peak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastdraw.drawings import Drawings, utc_seconds
from fastdraw.errors import BadLineError
from fastdraw.sources import Rejection, open_source, read_drawings
from fastdraw.sources.base import class_of_file
from fastdraw.sources.binary import reader as bin_reader
from fastdraw.sources.binary.reader import BinarySource
from fastdraw.sources.binary.write import convert_to_binary
from fastdraw.sources.ndjson.reader import NdjsonSource

CAT_LINES = [orjson.loads(line) for line in (SIMPLIFIED / "cat.ndjson").read_bytes().splitlines()]
CAT = b"".join(pack_line(obj) for obj in CAT_LINES)  # 14 records, 2 unrecognized


def _real_files() -> list[Path]:
    return [*simplified_files(), *realdata.files(OFFICIAL, at_least=3)]


def _records(chunks: list[Drawings]) -> list[tuple]:
    """(line, key_id, countrycode, recognized, timestamp, strokes as int lists) of every
    drawing, checking each chunk's layout on the way."""
    out = []
    for c in chunks:
        assert c.x.dtype == c.y.dtype == np.float64 and len(c.x) == len(c.y)
        assert c.stroke_offsets[0] == 0 and c.stroke_offsets[-1] == len(c.x)
        assert c.drawing_offsets[0] == 0 and c.drawing_offsets[-1] == len(c.stroke_offsets) - 1
        assert c.key_id.dtype == c.timestamp.dtype == c.line.dtype == np.int64
        assert c.recognized.dtype == bool and len(c.word) == len(c.countrycode) == len(c)
        for i in range(len(c)):
            out.append((int(c.line[i]), int(c.key_id[i]), c.countrycode[i],
                        bool(c.recognized[i]), int(c.timestamp[i]),
                        [(s[0].astype(int).tolist(), s[1].astype(int).tolist())
                         for s in c.strokes(i)]))
    return out


def _read(path: Path, **kw) -> tuple[list[tuple], list[Rejection]]:
    rejections: list[Rejection] = []
    chunks = list(read_drawings(path, on_reject=rejections.append, **kw))
    return _records(chunks), rejections


def _write(tmp_path: Path, data: bytes, name: str = "cat.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(gzip.compress(data, mtime=0) if name.endswith(".gz") else data)
    return path


def _expected_kept(data: bytes, unrecognized: bool = True) -> list[tuple]:
    return [(n, key, cc, rec, ts, strokes) for n, key, cc, rec, ts, strokes
            in expected(data, unrecognized)[0]]


def _offset(r: Rejection) -> int:
    """The byte offset a rejection's reason gives: 'record N at byte B: ...'."""
    return int(r.reason.split(" at byte ")[1].split(":")[0])


_KINDS = {"the country code": "country", "recognized is": "recognized",
          "does not fit in int64": "key_id", "has no strokes": "no strokes",
          "is empty": "empty stroke", "has no segment": "no segment", "ends inside": "cut"}


def _kind(r: Rejection) -> str:
    """What `binary_reference.expected` calls the problem a rejection's reason names."""
    [kind] = [kind for text, kind in _KINDS.items() if text in r.reason]
    return kind


# --- real drawings ----------------------------------------------------------------------------


def test_every_real_drawing_converted_reads_back_through_the_official_parser(tmp_path):
    files = _real_files()
    assert len(files) == 345 + 3
    for f in files:
        name = f.name.removesuffix(".ndjson")
        rejected: list[Rejection] = []
        dst = tmp_path / f"{name}.bin"
        lines = [orjson.loads(line) for line in f.read_bytes().splitlines()]
        assert convert_to_binary(f, dst, name, rejected.append) == len(lines)
        assert rejected == []
        got = official_drawings(dst)
        assert got == [{"key_id": int(o["key_id"]), "countrycode": o["countrycode"].encode(),
                        "recognized": int(o["recognized"]),
                        "timestamp": utc_seconds(o["timestamp"]),
                        "image": [(tuple(s[0]), tuple(s[1])) for s in o["drawing"]]}
                       for o in lines], f
        # the official layout, byte for byte, as the reference packs it
        assert dst.read_bytes() == b"".join(pack_line(o) for o in lines), f


@pytest.mark.parametrize("unrecognized", [True, False])
def test_every_real_file_reads_as_its_ndjson(tmp_path, unrecognized):
    for f in _real_files():
        name = f.name.removesuffix(".ndjson")
        data = b"".join(pack_line(orjson.loads(line)) for line in f.read_bytes().splitlines())
        path = _write(tmp_path, data, f"{name}.bin")
        got = Drawings.concat(list(BinarySource(path).read(unrecognized=unrecognized,
                                                           on_reject=pytest.fail)))
        want = Drawings.concat(list(NdjsonSource(f).read(unrecognized=unrecognized)))
        for field in ("x", "y", "stroke_offsets", "drawing_offsets", "key_id", "timestamp",
                      "recognized", "line"):
            assert np.array_equal(getattr(got, field), getattr(want, field)), (f, field)
        assert got.word == want.word and got.countrycode == want.countrycode, f
        assert _records([got]) == _expected_kept(data, unrecognized)


def test_a_gzip_file_reads_as_the_plain_one(tmp_path):
    data = b"".join(pack_line(orjson.loads(line))
                    for f in simplified_files()[:40] for line in f.read_bytes().splitlines())
    plain = _read(_write(tmp_path, data, "cat.bin"), unrecognized=True)
    packed = _read(_write(tmp_path, data, "cat.bin.gz"), unrecognized=True)
    assert plain == packed and len(plain[0]) > 500 and plain[1] == []


def test_every_drawing_gets_the_class_its_file_is_named_after(tmp_path):
    for name in ("sea turtle.bin", "sea turtle.bin.gz"):
        path = _write(tmp_path, CAT, name)
        [d] = list(read_drawings(path, unrecognized=True, chunk_size=100))
        assert d.word == ["sea turtle"] * 14
    assert class_of_file("a/The Eiffel Tower.bin.gz") == "The Eiffel Tower"
    assert class_of_file("a/The Eiffel Tower.ndjson") == "The Eiffel Tower"


@pytest.mark.parametrize("chunk_size", [1, 5, 1024])
def test_chunks_and_limits(tmp_path, chunk_size):
    path = _write(tmp_path, CAT * 300)
    chunks = list(read_drawings(path, chunk_size=chunk_size, limit=2000))
    assert [len(c) for c in chunks[:-1]] == [chunk_size] * (len(chunks) - 1)
    got = _records(chunks)
    assert len(got) == 2000 and got == _expected_kept(CAT * 300, unrecognized=False)[:2000]


def test_fields_and_most_drawings(tmp_path):
    path = _write(tmp_path, CAT)
    source = open_source(path)
    assert isinstance(source, BinarySource)
    first = official_drawings(path)[3]
    assert source.fields(4) == {"key_id": first["key_id"],
                                "countrycode": first["countrycode"].decode(),
                                "recognized": first["recognized"],
                                "timestamp": first["timestamp"],
                                "drawing": [[list(x), list(y)] for x, y in first["image"]]}
    assert source.most_drawings() == len(CAT) // 23 >= 14


def test_an_empty_file_holds_nothing(tmp_path):
    assert _read(_write(tmp_path, b""), unrecognized=True) == ([], [])


@pytest.mark.parametrize("kind", ["directory", "pipe"])
def test_what_is_not_a_file_is_refused_by_name(tmp_path, kind):
    path = tmp_path / "cat.bin"
    if kind == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)
    with pytest.raises(ValueError, match=f"{path}: a {kind}"):
        list(read_drawings(path))


# --- damaged records --------------------------------------------------------------------------


GOOD = pack(5201136883597312, b"US", 1, 1488497110, [([1, 2, 3], [4, 5, 6]), ([9], [9])])
NEXT = pack(6201136883597312, b"FR", 1, 1488497111, [([10, 200], [30, 40])])

# A record whose counts hold together but whose values do not: rejected alone.
BAD = {
    "empty_stroke": (pack(1, b"US", 1, 5, [([1, 2], [3, 4]), ([], [])]),
                     "stroke 1 is empty (its n_points is 0)"),
    "country_not_ascii": (pack(1, b"\xc3\xa9", 1, 5, [([1, 2], [3, 4])]),
                          "the country code, bytes b'\\xc3\\xa9', is not 2 printable ASCII "
                          "characters"),
    "country_nul": (pack(1, b"\x00\x00", 1, 5, [([1, 2], [3, 4])]),
                    "the country code, bytes b'\\x00\\x00', is not 2 printable ASCII "
                    "characters"),
    "country_del": (pack(1, b"U\x7f", 1, 5, [([1, 2], [3, 4])]),
                    "the country code, bytes b'U\\x7f', is not 2 printable ASCII characters"),
    "recognized_2": (pack(1, b"US", 2, 5, [([1, 2], [3, 4])]), "recognized is 2, not 0 or 1"),
    "recognized_minus_1": (pack(1, b"US", -1, 5, [([1, 2], [3, 4])]),
                           "recognized is -1, not 0 or 1"),
    "key_id_past_int64": (pack(2**63, b"US", 1, 5, [([1, 2], [3, 4])]),
                          f"key_id {2**63} does not fit in int64"),
    "no_strokes": (pack(1, b"US", 1, 5, []), "drawing has no strokes (n_strokes is 0)"),
    "single_points": (pack(1, b"US", 1, 5, [([1], [2]), ([3], [4])]),
                      "drawing has no segment: every stroke is a single point"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_a_bad_record_is_rejected_and_the_records_around_it_arrive(tmp_path, name):
    bad, reason = BAD[name]
    data = GOOD + bad + NEXT + CAT
    path = _write(tmp_path, data)
    got, rejections = _read(path, unrecognized=True)
    assert got == _expected_kept(data)
    assert [g[0] for g in got] == [1, *range(3, 18)]
    [r] = rejections
    assert (r.file, r.line) == (str(path), 2)
    assert r.reason == f"record 2 at byte {len(GOOD)}: {reason}"
    assert r.text == bad[:100].hex()
    assert expected(data)[1] == [(2, len(GOOD), expected(bad)[1][0][2])]


def _cut_cases() -> dict[str, tuple[bytes, str]]:
    """Files that end inside a record: (data, what the reason says of the record)."""
    long_stroke = pack(1, b"US", 1, 5, [([1, 2], [3, 4])])[:-6] + (60000).to_bytes(2, "little")
    return {
        "in_the_header": (GOOD + NEXT[:10], "its header needs 17 bytes and 10 remain"),
        "in_the_points": (GOOD + NEXT[:-1], "the count or points of its stroke 0 run past"),
        "in_a_count": (GOOD + NEXT[:18], "the count or points of its stroke 0 run past"),
        "stroke_count_past_the_end": (
            GOOD + pack(1, b"US", 1, 5, [([1, 2], [3, 4])], n_strokes=500) + NEXT,
            "its n_strokes is 500, and the count or points of its stroke"),
        "point_count_past_the_end": (GOOD + long_stroke + NEXT + CAT,
                                     "its n_strokes is 1, and the count or points of its "
                                     "stroke 0 run past"),
    }


@pytest.mark.parametrize("name", list(_cut_cases()))
@pytest.mark.parametrize("gz", [False, True])
def test_the_rest_of_a_file_cut_inside_a_record_is_one_rejected_item(tmp_path, name, gz):
    data, what = _cut_cases()[name]
    path = _write(tmp_path, data, "cat.bin.gz" if gz else "cat.bin")
    got, rejections = _read(path, unrecognized=True)
    assert got == _expected_kept(data) and [g[0] for g in got] == [1]
    [r] = rejections
    assert (r.file, r.line) == (str(path), 2)
    rest = len(data) - len(GOOD)
    assert r.reason.startswith(f"record 2 at byte {len(GOOD)}: the file ends inside it: ")
    assert what in r.reason
    assert f"the {rest} bytes from byte {len(GOOD)} to the end are rejected as one item" \
        in r.reason
    assert "download it again" in r.reason
    assert r.text == data[len(GOOD):len(GOOD) + 100].hex()
    assert expected(data)[1] == [(2, len(GOOD), "cut")]


@pytest.mark.parametrize("cut", [0, 5, 17, len(CAT) // 2, len(CAT) - 1, len(CAT)])
def test_items_is_the_number_of_the_last_item_read(tmp_path, cut):
    data = CAT[:cut]
    kept, bad = expected(data)
    numbers = [k[0] for k in kept] + [b[0] for b in bad]
    assert BinarySource(_write(tmp_path, data)).items() == max(numbers, default=0)


def test_a_gzip_stream_that_breaks_off_rejects_what_follows(tmp_path):
    data = gzip.compress(CAT * 200, mtime=0)
    path = tmp_path / "cat.bin.gz"
    path.write_bytes(data[:len(data) // 2])
    got, rejections = _read(path, unrecognized=True)
    assert 0 < len(got) < 14 * 200
    assert got == _expected_kept(CAT * 200)[:len(got)]
    [r] = rejections
    assert r.line == len(got) + 1
    assert f"record {r.line} at byte {_offset(r)}: the gzip data breaks off" in r.reason
    assert _offset(r) == sum(len(pack_line(CAT_LINES[i % 14])) for i in range(len(got)))


def test_every_record_straddling_a_block_reads_the_same(tmp_path, monkeypatch):
    data = GOOD + BAD["empty_stroke"][0] + CAT + BAD["recognized_2"][0] + CAT + NEXT[:20]
    path = _write(tmp_path, data)
    whole = _read(path, unrecognized=True)
    for block in (17, 20, 33, 64):
        monkeypatch.setattr(bin_reader, "FIRST_BLOCK", block)
        monkeypatch.setattr(bin_reader, "MAX_BLOCK", block)
        assert _read(path, unrecognized=True) == whole
    assert len(whole[0]) == 29 and [r.line for r in whole[1]] == [2, 17, 32]


def _long_record(points: int) -> bytes:
    xs = [i % 256 for i in range(points)]
    return pack(7, b"US", 1, 5, [(xs, xs)] * 3)


def test_a_record_longer_than_the_reader_holds_is_skipped_in_bounded_memory(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setattr(bin_reader, "MAX_RECORD", 4096)
    monkeypatch.setattr(bin_reader, "MAX_BLOCK", 1024)
    held = []
    fill = bin_reader._Bytes.fill

    def spy(self, size):
        fill(self, size)
        held.append(len(self.buf))

    monkeypatch.setattr(bin_reader._Bytes, "fill", spy)
    big = _long_record(30000)
    data = GOOD + big + NEXT
    got, rejections = _read(_write(tmp_path, data), unrecognized=True)
    assert [g[0] for g in got] == [1, 3] and got == _expected_kept(data)[::2]
    [r] = rejections
    assert r.line == 2 and r.reason == (
        f"record 2 at byte {len(GOOD)}: a record of {len(big)} bytes, longer than the 4096 this "
        "reader reads (a real one is about 120): not read; is this a Quick, Draw! .bin file?")
    assert max(held) <= 4096
    # cut off inside such a record: the rest of the file, as one item
    got, rejections = _read(_write(tmp_path, GOOD + big[:-5]), unrecognized=True)
    assert [g[0] for g in got] == [1] and [r.line for r in rejections] == [2]
    assert (f"the {len(big) - 5} bytes from byte {len(GOOD)} to the end are rejected as one "
            "item") in rejections[0].reason
    assert "the points of its stroke 2 run past the end" in rejections[0].reason
    assert max(held) <= 4096


def test_batches_that_keep_nothing_are_not_held_in_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(bin_reader, "MAX_BLOCK", 1 << 12)  # a few hundred records a batch
    unrecognized = pack(1, b"US", 0, 5, [([0, 1], [0, 1])])
    path = _write(tmp_path, unrecognized * 100_000 + GOOD)
    list(read_drawings(_write(tmp_path, GOOD, "warm.bin")))  # the kernel loaded untraced
    chunks, peak = traced_peak(lambda: list(read_drawings(path, chunk_size=8192)))
    assert [int(c.line[0]) for c in chunks] == [100_001]
    assert peak < 8 << 20, peak  # whatever the number of batches before the drawing


def test_strict_mode_stops_at_the_first_bad_record(tmp_path):
    path = _write(tmp_path, GOOD + BAD["recognized_2"][0] + NEXT[:5])
    with pytest.raises(BadLineError) as e:
        list(read_drawings(path, strict=True))
    assert e.value.rejection.line == 2
    assert str(e.value).startswith(f"{path}:2: bad line: record 2 at byte {len(GOOD)}: "
                                   "recognized is 2")


def test_bad_items_after_the_limit_are_not_reported(tmp_path):
    path = _write(tmp_path, CAT + BAD["country_nul"][0] + CAT)
    got, rejections = _read(path, limit=12)
    assert len(got) == 12 and rejections == []
    got, rejections = _read(path, limit=13)
    assert len(got) == 13 and [r.line for r in rejections] == [15]


# --- any bytes --------------------------------------------------------------------------------


_SEED_RECORDS = [pack_line(o) for o in CAT_LINES[:4]] + [BAD["empty_stroke"][0], NEXT]
_SEEDS = b"".join(_SEED_RECORDS)
_STARTS = np.cumsum([0] + [len(r) for r in _SEED_RECORDS[:-1]]).tolist()
# Where a record's counts and checked values are: key_id's high byte, country code, recognized,
# n_strokes, the first stroke's n_points.
_FIELDS = [7, 8, 9, 10, 15, 16, 17, 18]
_EDGES = st.sampled_from([0, 1, 2, 31, 32, 126, 127, 128, 255])


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_STARTS), st.sampled_from(_FIELDS), _EDGES),
                min_size=1, max_size=3),
       st.lists(st.tuples(st.integers(0, len(_SEEDS) - 1), st.integers(0, 255)), max_size=3),
       st.integers(0, len(_SEEDS)), st.booleans())
def test_any_damage_is_read_by_the_rules(tmp_path_factory, fields, flips, drop, unrecognized):
    data = bytearray(_SEEDS)
    for start, field, value in fields:
        data[start + field] = value
    for at, value in flips:
        data[at] = value
    data = bytes(data[:len(data) - drop])
    path = _write(tmp_path_factory.mktemp("fuzz"), data)
    got, rejections = _read(path, unrecognized=unrecognized)
    kept, bad = expected(data, unrecognized)
    assert got == kept
    assert [(r.line, _offset(r), _kind(r)) for r in rejections] == bad
    assert all(json.loads(json.dumps(r.to_dict())) == r.to_dict() for r in rejections)
