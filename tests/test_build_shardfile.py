"""ShardFile writes exactly the bytes committed, with O_DIRECT or without, and fails loudly;
StreamShard writes the same to a stream, deflated as ShardFile deflates them."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import os

import numpy as np
import pytest

from fastdraw.build import shardfile
from fastdraw.build.shardfile import BLOCK, UNIT, ShardFile, StreamShard

# Piece sizes around the block and unit sizes, ones spanning several, and empty ones.
PIECES = [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 17, 0, (3 << 20) + 5, 7, BLOCK - 7,
          UNIT - 1, UNIT, UNIT + BLOCK, 2 * UNIT + 3, 0, UNIT - BLOCK]


def _write(path, pieces: list[int], seed: int = 0, writer=ShardFile, compression: str = "none"
           ) -> bytes:
    rng = np.random.default_rng(seed)
    f = writer(path, compression)
    sent = []
    for n in pieces:
        data = rng.integers(0, 256, n, dtype=np.uint8)
        f.reserve(n)[:] = data
        f.commit()
        sent.append(data.tobytes())
    f.close()
    return b"".join(sent)


@pytest.mark.parametrize("pieces", [PIECES, PIECES[::-1], [BLOCK] * 3, [UNIT] * 2, [5], [],
                                    [0]])
def test_the_file_holds_exactly_the_committed_bytes(tmp_path, pieces):
    path = tmp_path / "shard"
    want = _write(path, pieces)
    assert path.read_bytes() == want
    assert len(want) == sum(pieces)


class _Stingy(io.RawIOBase):
    """A stream that takes at most 1000 bytes a write, and says when it is closed."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        piece = bytes(memoryview(b)[:1000])
        self.data += piece
        return len(piece)


@pytest.mark.parametrize("pieces", [PIECES[:8], [5], [], [0]])
def test_a_stream_shard_writes_exactly_the_committed_bytes(pieces):
    stream = _Stingy()
    want = _write(stream, pieces, writer=StreamShard)
    assert bytes(stream.data) == want and stream.closed


@pytest.mark.parametrize("compression", ["none", "gzip", "zlib"])
@pytest.mark.parametrize("pieces", [PIECES[:8], [3, 70000, 0, 12], [], [0]])
def test_a_stream_shard_writes_the_shard_file_s_bytes(tmp_path, pieces, compression):
    """Fed the same pieces (a build's windows), the stream gets the local file's bytes, deflated
    with the compression, and fed them in one piece (as a Beam shard's writer feeds its parts,
    in other pieces than the local build's windows) the same again; both say the sha256 and
    size of what they wrote."""
    local = ShardFile(tmp_path / "shard", compression)
    data = _write(tmp_path / "shard", pieces, seed=3, writer=lambda *_: local)
    stream = _Stingy()
    shard = StreamShard(stream, compression)
    _write(stream, pieces, seed=3, writer=lambda *_: shard)
    whole = (tmp_path / "shard").read_bytes()
    assert bytes(stream.data) == whole and stream.closed
    assert (shard.sha256, shard.size) == (local.sha256, local.size) == (
        hashlib.sha256(whole).hexdigest(), len(whole))
    assert (whole != data) == (compression != "none")
    one = _Stingy()
    shard = StreamShard(one, compression)
    shard.reserve(len(data))[:] = np.frombuffer(data, dtype=np.uint8)
    shard.commit()
    shard.close()
    assert bytes(one.data) == whole


def test_o_direct_is_used_where_the_file_system_takes_it(tmp_path):
    f = ShardFile(tmp_path / "shard")
    f.close()
    # ext4 (these machines' /tmp) takes it; a file system that does not is covered below.
    assert f.direct == hasattr(os, "O_DIRECT")


@pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="O_DIRECT is Linux's")
def test_o_direct_writes_are_whole_units_at_multiples_of_the_unit(tmp_path, monkeypatch):
    """Only the last write may be short; none crosses from one unit of the file into the
    next (such writes ran at a third of the speed)."""
    real, writes = shardfile.write_all, []

    def recorded(fd, data):
        writes.append((os.lseek(fd, 0, os.SEEK_CUR), len(memoryview(data))))
        real(fd, data)

    monkeypatch.setattr(shardfile, "write_all", recorded)
    path = tmp_path / "shard"
    want = _write(path, PIECES, seed=2)
    assert path.read_bytes() == want
    assert len(writes) >= sum(PIECES) // UNIT
    assert all(at % UNIT == 0 for at, _ in writes)
    assert all(n % UNIT == 0 for _, n in writes[:-1])
    assert 0 < writes[-1][1] % UNIT and writes[-1][1] % BLOCK == 0  # padded, then cut


def test_without_o_direct_the_same_bytes_are_written(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "O_DIRECT", raising=False)
    path = tmp_path / "shard"
    want = _write(path, PIECES, seed=1)
    assert path.read_bytes() == want


@pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="O_DIRECT is Linux's")
def test_a_file_system_refusing_o_direct_writes_is_written_without_it(tmp_path, monkeypatch):
    """Some file systems take O_DIRECT at open and fail the first write with EINVAL."""
    real = shardfile.write_all

    def picky(fd, data):
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT and len(memoryview(data)):
            raise OSError(errno.EINVAL, "Invalid argument")
        real(fd, data)

    monkeypatch.setattr(shardfile, "write_all", picky)
    path = tmp_path / "shard"
    f = ShardFile(path)
    f.reserve(3 * BLOCK + 5)[:] = 7
    f.commit()
    f.reserve(10)[:] = 9
    f.commit()
    f.close()
    assert not f.direct
    assert path.read_bytes() == b"\x07" * (3 * BLOCK + 5) + b"\x09" * 10


@pytest.mark.parametrize("when", ["commit", "close"])
def test_a_failed_write_is_raised_not_lost(tmp_path, monkeypatch, when):
    def full(fd, data):
        if len(memoryview(data)):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shardfile, "write_all", full)
    f = ShardFile(tmp_path / "shard")
    f.reserve(UNIT)[:] = 1
    f.commit()  # a unit is handed to the thread, which fails
    if when == "commit":
        f.reserve(UNIT)[:] = 2
        with pytest.raises(OSError, match="No space left"):
            f.commit()
        f.close()  # the error was told once; closing still closes
    else:
        with pytest.raises(OSError, match="No space left"):
            f.close()
