"""fastdraw.codecs.proto parses what TensorFlow serializes, on real drawings, without TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SIMPLIFIED

from fastdraw.codecs.proto import (
    COUNT,
    FIRST,
    FLAGS,
    ITEM_HASH,
    ITEM_LEN,
    ITEM_START,
    KIND,
    MAX,
    MIN,
    NAME_LEN,
    NAME_START,
    NONFINITE,
    NOT_BINARY,
    REC,
    SCAN_ERRORS,
    decode_varints,
    name_hash,
    parse_example,
    scan_examples,
)
from fastdraw.errors import ProtoError
from fastdraw.kernels.buffers import joined
from fastdraw.notebook import reference


def _tf_values(example) -> dict:
    out = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        out[name] = list(getattr(feature, kind).value) if kind else []
    return out


@pytest.mark.parametrize("make", [reference.make_example_img, reference.make_example_stroke])
def test_parses_reference_examples_of_real_drawings(utc, make):
    drawings = [d for name in ("cat", "eye", "sea turtle")
                for d in reference.loadn(name, 8, data_path=SIMPLIFIED)]
    for label, d in enumerate(drawings):
        example = make(label, d)
        got = parse_example(example.SerializeToString(deterministic=True))
        want = _tf_values(example)
        assert sorted(got) == sorted(want)
        for name, values in want.items():
            if isinstance(values[0], bytes):
                assert got[name] == values
            else:
                value = got[name]
                assert value.dtype == (np.float32 if isinstance(values[0], float) else np.int64)
                np.testing.assert_array_equal(value, np.array(values, dtype=value.dtype))


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        if n < 0x80:
            return bytes(out + bytes([n]))
        out.append(n & 0x7F | 0x80)
        n >>= 7


def _len_field(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _example(features: dict[str, bytes]) -> bytes:
    entries = b"".join(_len_field(1, _len_field(1, k.encode()) + _len_field(2, v))
                       for k, v in features.items())
    return _len_field(1, entries)


def test_matches_tensorflow_on_unpacked_mixed_and_extreme_values():
    import tensorflow as tf

    ints = [0, 1, 127, 128, 255, 300, -1, -(2**63), 2**63 - 1, 1 << 35]
    floats = [0.5, -2.25, 3.0e38]
    unpacked_ints = b"".join(_varint(1 << 3 | 0) + _varint(v) for v in ints[:4])
    packed_ints = _len_field(1, b"".join(_varint(v) for v in ints[4:]))
    unpacked_floats = b"".join(b"\x0d" + np.float32(f).tobytes() for f in floats)
    data = _example({
        "i": _len_field(3, unpacked_ints + packed_ints),
        "f": _len_field(2, unpacked_floats),
        "b": _len_field(1, _len_field(1, b"x") + _len_field(1, b"") + _len_field(1, "é".encode())),
        "empty": b"",
        "merged": _len_field(3, _len_field(1, _varint(7))) + _len_field(3, b"\x08\x09"),
        "replaced": _len_field(3, _len_field(1, _varint(7))) + _len_field(2, b""),
    })
    want = _tf_values(tf.train.Example.FromString(data))
    got = parse_example(data)
    assert got["i"].tolist() == want["i"] == ints
    np.testing.assert_array_equal(got["f"], np.array(want["f"], dtype=np.float32))
    assert got["b"] == want["b"] == [b"x", b"", "é".encode()]
    assert got["empty"] == []
    assert got["merged"].tolist() == want["merged"] == [7, 9]
    assert got["replaced"].tolist() == want["replaced"] == []
    assert got["replaced"].dtype == np.float32


def test_decode_varints_matches_python_decoding():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.integers(-(2**63), 2**63 - 1, 200, dtype=np.int64),
                             rng.integers(0, 300, 200), [0, -1, 255]])
    buf = np.frombuffer(b"".join(_varint(int(v)) for v in values), dtype=np.uint8)
    np.testing.assert_array_equal(decode_varints(buf), values)


@pytest.mark.parametrize("cut", [1, 7, 100, 5000])
def test_truncated_record_is_a_clear_error(utc, cut):
    d = reference.loadn("cat", 1, data_path=SIMPLIFIED)[0]
    data = reference.make_example_img(0, d).SerializeToString()
    with pytest.raises(ProtoError, match="byte"):
        parse_example(data[:-cut])


def test_overlong_varint_and_bad_wire_type_are_errors():
    with pytest.raises(ProtoError, match="longer than 10 bytes"):
        parse_example(b"\x08" + b"\xff" * 11 + b"\x01")
    with pytest.raises(ProtoError, match="wire type 7"):
        parse_example(b"\x0f")
    with pytest.raises(ProtoError, match="truncated"):
        decode_varints(np.frombuffer(b"\x01\x81", dtype=np.uint8))


def _scan(records: list[bytes]):
    buf, offsets = joined(records)
    return buf, offsets, *scan_examples(buf, offsets)


def _summary(table: np.ndarray, buf: np.ndarray, offsets: np.ndarray) -> list[dict]:
    """parse_example-like view of scan_examples' rows, to compare with parse_example."""
    out = [{} for _ in range(len(offsets) - 1)]
    for row in table:
        name = buf[row[NAME_START]:row[NAME_START] + row[NAME_LEN]].tobytes().decode()
        item = buf[row[ITEM_START]:row[ITEM_START] + row[ITEM_LEN]].tobytes()
        out[row[REC]][name] = (int(row[KIND]), int(row[COUNT]), int(row[FIRST]), int(row[MIN]),
                               int(row[MAX]), int(row[FLAGS]), item, int(row[ITEM_HASH]))
    return out


def _expected_summary(features: dict) -> dict:
    out = {}
    for name, v in features.items():
        big, small = np.iinfo(np.int64).max, np.iinfo(np.int64).min
        if isinstance(v, list):
            first = v[0] if v else b""
            out[name] = (1 if v else 0, len(v), 0, big, small, 0, first,
                         name_hash(first) if v else 0)
        elif v.dtype == np.float32:
            flags = (NONFINITE * (~np.isfinite(v)).any()) | (
                NOT_BINARY * (~np.isin(v, [0, 1])).any())
            out[name] = (2, len(v), 0, big, small, int(flags), b"", 0)
        else:
            out[name] = (3, len(v), int(v[0]), int(v.min()), int(v.max()), 0, b"", 0)
    return out


def test_scan_examples_agrees_with_parse_example(utc):
    drawings = [d for name in ("cat", "eye", "sea turtle")
                for d in reference.loadn(name, 6, data_path=SIMPLIFIED)]
    records = [make(label, d).SerializeToString()
               for label, d in enumerate(drawings)
               for make in (reference.make_example_img, reference.make_example_stroke)]
    ints = [0, 1, 127, 128, 255, 300, -1, -(2**63), 2**63 - 1, 1 << 35]
    records.append(_example({
        "i": _len_field(3, b"".join(_varint(1 << 3 | 0) + _varint(v) for v in ints[:4])
                        + _len_field(1, b"".join(_varint(v) for v in ints[4:]))),
        "f": _len_field(2, b"".join(b"\x0d" + np.float32(f).tobytes()
                                    for f in [0.0, 1.0, np.inf])),
        "b": _len_field(1, _len_field(1, "é".encode()) + _len_field(1, b"")),
        "empty": b"",
        "merged": _len_field(3, _len_field(1, _varint(7))) + _len_field(3, b"\x08\x09"),
        "replaced": _len_field(3, _len_field(1, _varint(7))) + _len_field(2, b""),
    }))
    buf, offsets, table, errors = _scan(records)
    assert not errors.any()
    got = _summary(table, buf, offsets)
    for record, summary in zip(records, got, strict=True):
        assert summary == _expected_summary(parse_example(record))


@pytest.mark.parametrize("values", [
    "pixels",  # only 0 and 255: eight bytes at a time
    "mixed",  # with 1, 127, 128, 254, 256, -1 (ten bytes), 2**40, 5: value by value around them
])
def test_scan_examples_packed_ints_agree_with_parse_example_at_every_alignment(values):
    rng = np.random.default_rng(7)
    pool = [0, 0, 0, 255, 255] + ([1, 127, 128, 254, 256, -1, 1 << 40, 5] if values == "mixed"
                                  else [])
    records = []
    for _ in range(1500):
        run = [pool[k] for k in rng.integers(0, len(pool), int(rng.integers(1, 70)))]
        records.append(_example({
            "pad": _len_field(1, _len_field(1, b"x" * int(rng.integers(0, 9)))),  # alignment
            "img": _len_field(3, _len_field(1, b"".join(_varint(v) for v in run))),
            "after": _len_field(3, _len_field(1, _varint(7))),
        }))
    buf, offsets, table, errors = _scan(records)
    assert not errors.any()
    for record, summary in zip(records, _summary(table, buf, offsets), strict=True):
        assert summary == _expected_summary(parse_example(record))


def test_scan_examples_flags_the_records_parse_example_rejects(utc):
    d = reference.loadn("cat", 1, data_path=SIMPLIFIED)[0]
    good = reference.make_example_stroke(0, d).SerializeToString()
    records = [good, good[:-3], good, b"\x0f", b"\x08" + b"\xff" * 11 + b"\x01", b"\x00", good]
    buf, offsets, table, errors = _scan(records)
    for i, record in enumerate(records):
        try:
            parse_example(record)
            assert errors[i, 0] == 0
        except ProtoError:
            assert errors[i, 0] in SCAN_ERRORS
    assert [int(e) for e in errors[:, 0]] == [0, 3, 0, 4, 2, 5, 0]
    assert sorted(set(table[:, REC].tolist())) == [0, 2, 6]
