"""A line longer than the reader's bound is skipped, reported with its length, and never held
in memory: plain or gzip, in the middle of a file or at its end (D6)."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SIMPLIFIED

from fastdraw.notebook import dropins
from fastdraw.sources import Rejection, read_drawings
from fastdraw.sources.ndjson.blocks import MAX_LINE

GOOD = (SIMPLIFIED / "cat.ndjson").read_bytes().splitlines(keepends=True)[:6]
LONG = b'{"word": "cat", "drawing": [' + b"1," * ((MAX_LINE + 1000) // 2) + b"1]}"


def _write(path: Path, data: bytes) -> Path:
    if path.suffix == ".gz":
        with gzip.open(path, "wb", compresslevel=1) as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize("name", ["cat.ndjson", "cat.ndjson.gz"])
@pytest.mark.parametrize("newline", [b"\n", b""], ids=["in the middle", "last, no newline"])
def test_a_line_longer_than_the_bound_is_one_rejection(tmp_path, name, newline):
    data = b"".join(GOOD[:3]) + LONG + newline + (b"".join(GOOD[3:]) if newline else b"")
    path = _write(tmp_path / name, data)
    rejected: list[Rejection] = []
    drawings = list(read_drawings(path, unrecognized=True, on_reject=rejected.append))
    kept = sum(len(d) for d in drawings)
    assert kept == (6 if newline else 3)
    assert [n for d in drawings for n in d.line.tolist()] == \
        ([1, 2, 3, 5, 6, 7] if newline else [1, 2, 3])
    [r] = rejected
    assert r.line == 4
    assert r.reason.startswith(f"a line of {len(LONG)} bytes, longer than the {MAX_LINE} "
                               "this reader reads")
    assert r.text == LONG[:200].decode()


def test_the_drop_in_loaditer_skips_it_with_a_warning(tmp_path, caplog):
    _write(tmp_path / "cat.ndjson", b"".join(GOOD[:3]) + LONG + b"\n" + b"".join(GOOD[3:]))
    with caplog.at_level("WARNING"):
        got = list(dropins.loaditer("cat", True, data_path=tmp_path))
    assert len(got) == 6
    assert "cat.ndjson:4: skipped bad line: a line of" in caplog.text


_PEAK = """
import resource, sys
from fastdraw.sources import read_drawings
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
bad = []
for _ in read_drawings(sys.argv[1], on_reject=bad.append):
    pass
assert len(bad) == 1, bad
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


@pytest.mark.parametrize("name", ["huge.ndjson", "huge.ndjson.gz"])
def test_memory_stays_bounded_whatever_the_line(tmp_path, name):
    # 256 MiB without a newline (1 MB gzipped): the reader used to hold it all, several times.
    path = tmp_path / name
    opener = gzip.open(path, "wb", compresslevel=1) if name.endswith(".gz") else open(path, "wb")
    with opener as f:
        for _ in range(256):
            f.write(b"7" * (1 << 20))
    out = subprocess.run([sys.executable, "-c", _PEAK, str(path)], capture_output=True,
                         text=True, check=True)
    assert int(out.stdout) < 3 * MAX_LINE >> 20, f"peak grew by {out.stdout.strip()} MiB"
