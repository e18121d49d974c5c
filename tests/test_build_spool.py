"""The spool gives every shard's records back round by round, in class order, whatever the
ranges, windows, read-ahead and open-file limits."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from fastdraw.build import spool as spool_mod
from fastdraw.build.spool import (
    ShardReader,
    SpoolSource,
    SpoolWriter,
    rejections_path,
    remove_spool,
    spool_sources,
)

CLASSES = 3
ROUNDS = 200
SHARDS = 3
# Class j's rounds are split into these ranges (phase 1 tasks); one is empty in shard terms
# only by chance, and class 2 has a range of a single round.
RANGES = [[(0, 200)], [(0, 120), (120, 200)], [(0, 1), (1, 90), (90, 200)]]


def record(j: int, r: int) -> bytes:
    """Class j's record of round r: sizes 0 (an empty record) to 300 bytes."""
    n = (j * 7919 + r * 104729) % 301
    return bytes((j * 31 + r + i) % 256 for i in range(n))


@pytest.fixture
def spooled(tmp_path) -> tuple[str, np.ndarray]:
    """Every class range spooled in uneven chunks, as phase 1 tasks do; the shard of each
    round."""
    shard_id = np.random.default_rng(5).integers(0, SHARDS, ROUNDS)
    for j, ranges in enumerate(RANGES):
        for part, (a, b) in enumerate(ranges):
            writer = SpoolWriter(str(tmp_path), j, part, shard_id[a:b], SHARDS)
            for c0 in range(a, b, 37):
                c1 = min(b, c0 + 37)
                recs = [record(j, r) for r in range(c0, c1)]
                offsets = np.cumsum([0] + [len(x) for x in recs])
                buf = np.frombuffer(b"".join(recs) + b"\0", dtype=np.uint8)
                writer.add(buf, offsets, np.diff(offsets) + 16, shard_id[c0:c1])
            writer.close()
    return str(tmp_path), shard_id


def sources(spool: str, shard_id: np.ndarray, s: int) -> list[list[SpoolSource]]:
    return [[spool_sources(spool, j, p, shard_id[a:b], SHARDS)[s]
             for p, (a, b) in enumerate(ranges)] for j, ranges in enumerate(RANGES)]


def read_all(reader: ShardReader, rounds: int, w: int) -> list[tuple[bytes, int]]:
    """(record, framed size) in the reader's order, ``w`` rounds a window at most."""
    got = []
    done = 0
    while done < rounds:
        sizes, framed = reader.take(min(w, rounds - done))
        assert sizes.shape == framed.shape and sizes.shape[0] == CLASSES
        block = sizes.sum(axis=1)
        base = np.concatenate(([0], np.cumsum(block)[:-1]))
        out = np.full(int(block.sum()), 0xEE, dtype=np.uint8)
        reader.read_into(out, base.tolist())
        starts = base[:, None] + np.cumsum(sizes, axis=1) - sizes
        for r in range(sizes.shape[1]):
            for j in range(CLASSES):
                a = int(starts[j, r])
                got.append((out[a:a + sizes[j, r]].tobytes(), int(framed[j, r])))
        done += sizes.shape[1]
    return got


@pytest.mark.parametrize("w", [1, 4, 7, 1000])
@pytest.mark.parametrize("read_ahead", [1, 10, 50, 1 << 16])
@pytest.mark.parametrize("max_open", [1, 128])
def test_shards_come_back_round_by_round_in_class_order(spooled, monkeypatch, w, read_ahead,
                                                        max_open):
    monkeypatch.setattr(spool_mod, "READ_AHEAD", read_ahead)
    monkeypatch.setattr(spool_mod, "MAX_OPEN", max_open)
    spool, shard_id = spooled
    for s in range(SHARDS):
        rounds = np.flatnonzero(shard_id == s)
        reader = ShardReader(sources(spool, shard_id, s), len(rounds))
        assert reader.nbytes == sum(len(record(j, r)) for r in rounds for j in range(CLASSES))
        got = read_all(reader, len(rounds), w)
        reader.close()
        want = [(record(j, r), len(record(j, r)) + 16) for r in rounds for j in range(CLASSES)]
        assert got == want


def files(spool: str) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), spool) for d, _, fs in os.walk(spool)
            for f in fs}


def test_spool_files_are_a_record_file_per_range_and_shard_and_a_sizes_file_per_range(
        spooled):
    """All in the spool directory itself: the build makes no directory it must remove."""
    spool, shard_id = spooled
    ranges = [(j, p, a, b) for j, class_ranges in enumerate(RANGES)
              for p, (a, b) in enumerate(class_ranges)]
    assert files(spool) == (
        {f".spool-{j:05d}-{p:03d}-{s:05d}.rec" for j, p, a, b in ranges
         for s in set(shard_id[a:b])}
        | {f".spool-{j:05d}-{p:03d}.len" for j, p, _, _ in ranges})


def test_remove_spool_deletes_the_spool_s_files_and_nothing_else(spooled):
    spool, _ = spooled
    rejections_path(spool, 3).write_text("{}\n")
    keep = [Path(spool, name) for name in ("train-00000-of-00001", "spool-00000-000.len")]
    for path in keep:
        path.write_bytes(b"x")
    remove_spool(spool)
    assert files(spool) == {path.name for path in keep}


def test_remove_deletes_the_shards_record_files_only(spooled):
    spool, shard_id = spooled
    before = files(spool)
    rounds = int(np.sum(shard_id == 1))
    reader = ShardReader(sources(spool, shard_id, 1), rounds)
    read_all(reader, rounds, 9)
    reader.remove()
    gone = before - files(spool)
    assert gone and all(name.endswith("-00001.rec") for name in gone)
    assert not any(name.endswith("-00001.rec") for name in files(spool))
    # The other shards still read back whole.
    for s in (0, 2):
        rounds = np.flatnonzero(shard_id == s)
        got = read_all(ShardReader(sources(spool, shard_id, s), len(rounds)), len(rounds), 5)
        assert got == [(record(j, r), len(record(j, r)) + 16)
                       for r in rounds for j in range(CLASSES)]


@pytest.mark.parametrize("which", ["rec", "sizes"])
def test_a_truncated_spool_file_is_an_error_naming_it(spooled, which):
    spool, shard_id = spooled
    # The last shard's: the end of a range's sizes file is that shard's stretch.
    src = spool_sources(spool, 1, 1, shard_id[120:200], SHARDS)[SHARDS - 1]
    victim = getattr(src, which)
    os.truncate(victim, os.path.getsize(victim) - 1)
    rounds = int(np.sum(shard_id == SHARDS - 1))
    reader = ShardReader(sources(spool, shard_id, SHARDS - 1), rounds)
    with pytest.raises(RuntimeError, match=f"{victim} is truncated"):
        read_all(reader, rounds, 1000)


@pytest.mark.parametrize("max_open", [1, 128])
def test_a_writer_counts_each_shard_s_spooled_and_framed_bytes(tmp_path, monkeypatch, max_open):
    monkeypatch.setattr(spool_mod, "MAX_OPEN", max_open)
    rng = np.random.default_rng(11)
    shard_id = rng.integers(0, SHARDS, ROUNDS)
    framed = rng.integers(16, 5000, ROUNDS)  # any sizes: counted as given, not derived
    writer = SpoolWriter(str(tmp_path), 1, 0, shard_id, SHARDS)
    for c0 in (0, 1, 60, 61, 150):  # chunks of 1 to 89 records
        c1 = {0: 1, 1: 60, 60: 61, 61: 150, 150: ROUNDS}[c0]
        recs = [record(1, r) for r in range(c0, c1)]
        offsets = np.cumsum([0] + [len(x) for x in recs])
        buf = np.frombuffer(b"".join(recs) + b"\0", dtype=np.uint8)
        writer.add(buf, offsets, framed[c0:c1], shard_id[c0:c1])
    writer.close()
    for s, src in enumerate(spool_sources(str(tmp_path), 1, 0, shard_id, SHARDS)):
        assert writer.spooled[s] == os.path.getsize(src.rec)
        assert writer.framed[s] == framed[shard_id == s].sum()
    assert os.path.getsize(src.sizes) == 8 * ROUNDS


def test_a_writer_refuses_more_records_than_the_plan_gave_a_shard(tmp_path):
    writer = SpoolWriter(str(tmp_path), 0, 0, np.array([0, 1, 1]), 2)
    buf = np.zeros(10, dtype=np.uint8)
    writer.add(buf, np.array([0, 4, 10]), np.array([20, 26]), np.array([1, 1]))
    with pytest.raises(ValueError, match="shard 1 gets more records than its 2"):
        writer.add(buf, np.array([0, 10]), np.array([26]), np.array([1]))
    writer.close()
