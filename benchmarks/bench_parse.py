"""Reading ndjson: fastdraw's reader against the notebook's ``json.loads`` + ``convert()``.

Data: every real simplified drawing of the package's bundled sample (6,280 lines of 345
classes, 475 bytes a line on average) concatenated into one file and repeated
SIMPLIFIED_REPEATS times for volume, each repeat with new key_ids; the raw group likewise
with the 4,775 raw drawings of ``tests/data/raw.tar.xz`` (about 3.5 KB a line, through
``tests/realdata.py``) repeated RAW_REPEATS times.  Times are per line
(``extra_info["items"]``); ``extra_info["bytes"]`` gives MB/s.

- fastdraw: ``read_drawings(path, unrecognized=True)``: every line checked (all fields,
  timestamps, key_ids, stroke shapes, numbers), flat float64 arrays out, chunks of 1024.
- reference: ``[reference.convert(line) for line in open(path)]``: the notebook's
  ``loaditer`` without its recognized filter (no checks; one numpy array per stroke).
- peer ``orjson_convert``: the same with ``orjson.loads``, what a quick port would do.
- group "loaditer drop-in": ``fastdraw.loaditer`` (orjson, every line checked, dicts of
  numpy strokes) against ``reference.loaditer``, same file, unrecognized included.
- group "parse binary": the same simplified drawings as an official `.bin` file (every
  record checked, the same flat arrays out): fastdraw's binary reader against a port of the
  official parser (``tests/binary_reference.py``, pure Python) and, as the peer
  ``ndjson_reader``, fastdraw's ndjson reader on the ndjson of the same drawings (the
  issue's goal: the binary reader at least 10x its drawings/s).  ``extra_info["bytes"]``
  of each group gives the bytes read per drawing.

    pytest benchmarks/bench_parse.py --benchmark-min-rounds=3
    python benchmarks/bench_parse.py      # lines/s, MB/s and the ratios, as text
"""

from __future__ import annotations

import gzip
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson
import pytest

# tests/realdata.py has the raw drawings (this file also runs as a script, without conftest.py).
TESTS = str(Path(__file__).resolve().parents[1] / "tests")
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
from binary_reference import official_drawings  # noqa: E402
from realdata import raw_files, simplified_files  # noqa: E402

from fastdraw.notebook import dropins, reference  # noqa: E402
from fastdraw.sources import read_drawings  # noqa: E402
from fastdraw.sources.binary import reader as binary_reader  # noqa: E402
from fastdraw.sources.binary.write import encode_records  # noqa: E402
from fastdraw.sources.ndjson.reader import warmup as ndjson_warmup  # noqa: E402

SIMPLIFIED_REPEATS = 5
RAW_REPEATS = 1
_KEY_ID = re.compile(r'"key_id":\s*"\d+"')


def make_file(sources: list[Path], repeats: int, path: Path) -> tuple[int, int]:
    """Every line of the ``sources`` files, ``repeats`` times with new key_ids, into ``path``
    (and ``path``.gz); returns (lines, bytes) of the plain file."""
    lines = [line for f in sources for line in f.read_text("utf-8").splitlines()]
    out = [_KEY_ID.sub(f'"key_id":"{(r + 1) * 10**17 + i}"', line, count=1)
           for r in range(repeats) for i, line in enumerate(lines)]
    data = ("\n".join(out) + "\n").encode()
    path.write_bytes(data)
    Path(f"{path}.gz").write_bytes(gzip.compress(data, compresslevel=6))
    return len(out), len(data)


def warmup() -> None:
    """Compile (or load) both readers' kernels."""
    ndjson_warmup()
    binary_reader.warmup()


def make_binary(ndjson: Path, path: Path) -> tuple[int, int]:
    """``path``: the drawings of ``ndjson`` as an official `.bin` file; (drawings, bytes)."""
    drawings = 0
    with open(path, "wb") as f:
        for d in read_drawings(ndjson, unrecognized=True, chunk_size=8192):
            f.write(encode_records(d))
            drawings += len(d)
    return drawings, path.stat().st_size


def fastdraw_read(path: Path) -> int:
    return sum(len(d) for d in read_drawings(path, unrecognized=True))


def reference_read(path: Path) -> int:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return len([reference.convert(line) for line in f])


def _orjson_convert(line: bytes) -> dict:
    d = orjson.loads(line)
    d["drawing"] = [np.array(stroke) for stroke in d["drawing"]]
    return d


def reference_binary_read(path: Path) -> int:
    return len(official_drawings(path))


def ndjson_reader(path: Path) -> int:
    """fastdraw's ndjson reader on the ndjson of the drawings of binary file ``path``."""
    return fastdraw_read(path.with_suffix(".ndjson"))


def orjson_read(path: Path) -> int:
    with open(path, "rb") as f:
        return len([_orjson_convert(line) for line in f])


def fastdraw_loaditer(path: Path) -> int:
    return sum(1 for _ in dropins.loaditer(path.stem, unrecognized=True, data_path=path.parent))


def reference_loaditer(path: Path) -> int:
    return sum(1 for _ in reference.loaditer(path.stem, unrecognized=True,
                                             data_path=str(path.parent)))


# group -> (file, {benchmark name: function})
GROUPS: dict[str, tuple[str, dict[str, Callable[[Path], int]]]] = {
    "parse simplified": ("simplified.ndjson", {
        "fastdraw": fastdraw_read, "reference": reference_read, "orjson_convert": orjson_read}),
    "parse simplified .gz": ("simplified.ndjson.gz", {
        "fastdraw": fastdraw_read, "reference": reference_read}),
    "parse raw": ("raw.ndjson", {
        "fastdraw": fastdraw_read, "reference": reference_read, "orjson_convert": orjson_read}),
    "loaditer drop-in": ("simplified.ndjson", {
        "fastdraw": fastdraw_loaditer, "reference": reference_loaditer}),
    "parse binary": ("simplified.bin", {
        "fastdraw": fastdraw_read, "reference": reference_binary_read,
        "ndjson_reader": ndjson_reader}),
}


def make_data(directory: Path) -> dict[str, tuple[int, int]]:
    """The benchmark files in ``directory``: name -> (lines, bytes of the plain file), from
    the bundled sample's simplified drawings and tests/data/raw.tar.xz's raw ones."""
    sizes = {"simplified.ndjson": make_file(simplified_files(), SIMPLIFIED_REPEATS,
                                            directory / "simplified.ndjson"),
             "raw.ndjson": make_file(raw_files(), RAW_REPEATS, directory / "raw.ndjson")}
    sizes["simplified.ndjson.gz"] = sizes["simplified.ndjson"]
    sizes["simplified.bin"] = make_binary(directory / "simplified.ndjson",
                                          directory / "simplified.bin")
    return sizes


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, dict[str, tuple[int, int]]]:
    warmup()
    directory = tmp_path_factory.mktemp("bench_parse")
    return directory, make_data(directory)


def _run(benchmark, data, group: str, name: str) -> None:
    directory, sizes = data
    file, funcs = GROUPS[group]
    lines, size = sizes[file]
    benchmark.group = group
    benchmark.extra_info["items"] = lines
    benchmark.extra_info["bytes"] = size
    assert benchmark(funcs[name], directory / file) == lines


@pytest.mark.parametrize("group", list(GROUPS))
def test_fastdraw(benchmark, data, group):
    _run(benchmark, data, group, "fastdraw")


@pytest.mark.parametrize("group", list(GROUPS))
def test_reference(benchmark, data, group):
    _run(benchmark, data, group, "reference")


@pytest.mark.parametrize("group", [g for g, (_, funcs) in GROUPS.items()
                                   if "orjson_convert" in funcs])
def test_orjson_convert(benchmark, data, group):
    _run(benchmark, data, group, "orjson_convert")


def test_ndjson_reader(benchmark, data):
    _run(benchmark, data, "parse binary", "ndjson_reader")


def measure(rounds: int = 5) -> list[str]:
    """The table of ``python benchmarks/bench_parse.py``: medians of ``rounds`` runs."""
    warmup()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        sizes = make_data(directory)
        rows = [f"{'group':<22} {'benchmark':<16} {'lines/s':>10} {'MB/s':>7} {'µs/line':>8} "
                f"{'vs reference':>12}"]
        for group, (file, funcs) in GROUPS.items():
            lines, size = sizes[file]
            medians = {}
            for name, func in funcs.items():
                times = []
                for _ in range(rounds):
                    t0 = time.perf_counter()
                    func(directory / file)
                    times.append(time.perf_counter() - t0)
                medians[name] = statistics.median(times)
            for name, t in medians.items():
                rows.append(f"{group:<22} {name:<16} {lines / t:>10,.0f} {size / t / 1e6:>7.1f} "
                            f"{t / lines * 1e6:>8.2f} {medians['reference'] / t:>11.2f}x")
        return rows


if __name__ == "__main__":
    print(f"{SIMPLIFIED_REPEATS} x 6,280 real simplified lines, {RAW_REPEATS} x 4,775 raw lines "
          "(repeats with new key_ids); medians of 5 runs; MB/s of the uncompressed file")
    print("\n".join(measure()))
