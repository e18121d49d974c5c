"""`Drawings.slice` on real drawings: the same drawings as a batch built from them alone."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import SIMPLIFIED

from fastdraw.drawings import Drawings, utc_seconds
from fastdraw.sources import read_drawings


@pytest.fixture(scope="module")
def batch() -> Drawings:
    return next(read_drawings(SIMPLIFIED / "eye.ndjson", chunk_size=50, unrecognized=True))


def _fields(d: Drawings) -> dict:
    return {f.name: getattr(d, f.name) for f in dataclasses.fields(d)}


def _same(a: Drawings, b: Drawings) -> None:
    for name, value in _fields(a).items():
        other = getattr(b, name)
        if isinstance(value, list):
            assert value == other, name
        else:
            np.testing.assert_array_equal(value, other, err_msg=name)
            assert value.dtype == other.dtype, name


@pytest.mark.parametrize("copy", [False, True])
@pytest.mark.parametrize(("i", "j"), [(0, 50), (0, 1), (49, 50), (7, 31), (20, 20)])
def test_a_slice_holds_the_drawings_of_its_range(batch, i, j, copy):
    part = batch.slice(i, j, copy=copy)
    assert len(part) == j - i
    whole = [part.strokes(k) for k in range(len(part))]
    assert all(len(a) == len(b) and all(np.array_equal(p, q) for p, q in zip(a, b))
               for a, b in zip(whole, (batch.strokes(k) for k in range(i, j))))
    expected = dataclasses.replace(
        Drawings.from_dicts([{"drawing": [s.tolist() for s in batch.strokes(k)],
                              "key_id": str(batch.key_id[k]), "word": batch.word[k],
                              "countrycode": batch.countrycode[k],
                              "recognized": bool(batch.recognized[k]),
                              "timestamp": "2017-01-01 00:00:00 UTC"}
                             for k in range(i, j)]),
        timestamp=batch.timestamp[i:j], line=batch.line[i:j])
    _same(part, expected)


def test_a_slice_views_its_batch_unless_copied(batch):
    view, own = batch.slice(7, 31), batch.slice(7, 31, copy=True)
    for name in ("x", "y", "key_id", "timestamp", "recognized", "line"):
        assert np.shares_memory(getattr(view, name), getattr(batch, name)), name
        assert not np.shares_memory(getattr(own, name), getattr(batch, name)), name
    assert batch.slice(0, len(batch)) is batch
    assert batch.slice(0, len(batch), copy=True) is not batch


@pytest.mark.parametrize("timestamp", ["\u0662\u0660\u0661\u0667-03-02 23:25:10.07453 UTC",
                                       "2017-03-02 23:25:10.\uff10 UTC"])
def test_a_timestamp_with_other_than_ascii_digits_is_refused(batch, timestamp):
    # int() reads Arabic-Indic or fullwidth digits, but the reader refuses such a line: a batch
    # built from dicts must not take what the reader refuses
    drawing = {"drawing": [s.tolist() for s in batch.strokes(0)], "key_id": "1", "word": "eye",
               "countrycode": "US", "recognized": True, "timestamp": timestamp}
    with pytest.raises(ValueError, match="is not 'YYYY-MM-DD HH:MM:SS"):
        Drawings.from_dicts([drawing])
    with pytest.raises(ValueError, match="is not 'YYYY-MM-DD HH:MM:SS"):
        utc_seconds(timestamp)
