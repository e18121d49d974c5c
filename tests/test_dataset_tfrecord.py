"""TFRecord files written without TensorFlow are TensorFlow's bytes; the reader checks them."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from conftest import simplified_files, traced_peak

from fastdraw.codecs.img import encode_img_examples
from fastdraw.codecs.stroke import encode_stroke_examples
from fastdraw.dataset import tfrecord
from fastdraw.dataset.tfrecord import (
    FRAME_HEAD,
    FRAME_TAIL,
    TFRecordWriter,
    frame_in_place,
    frame_records,
    masked_crc32c,
    read_records,
    read_windows,
)
from fastdraw.drawings import Drawings
from fastdraw.errors import CorruptRecordError
from fastdraw.kernels.buffers import joined
from fastdraw.kernels.raster import rasterize
from fastdraw.kernels.strokes import encode_strokes
from fastdraw.notebook import reference


@pytest.fixture(scope="module")
def examples() -> tuple[np.ndarray, np.ndarray]:
    """Serialized stroke Examples of the real drawings of 40 classes: (buf, offsets)."""
    dicts = [reference.convert(line) for f in simplified_files()[:40]
             for line in open(f, encoding="utf-8")]
    batch = Drawings.from_dicts(dicts)
    deltas, offsets = encode_strokes(batch)
    return encode_stroke_examples(np.zeros(len(batch)), deltas, offsets, batch, batch.timestamp)


@pytest.fixture(scope="module")
def records(examples) -> list[bytes]:
    buf, offsets = examples
    return [buf[a:b].tobytes() for a, b in zip(offsets[:-1], offsets[1:])] + [b""]


def _tf_file(path, records: list[bytes]) -> bytes:
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    return path.read_bytes()


def test_masked_crc32c_known_value():
    # CRC32C("123456789") = 0xE3069283 (the standard check value), then TFRecord's mask
    crc = 0xE3069283
    assert masked_crc32c(b"123456789") == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) % 2**32


def test_writer_and_framing_write_tensorflows_bytes(tmp_path, examples, records):
    expected = _tf_file(tmp_path / "tf.tfrecord", records)
    with TFRecordWriter(tmp_path / "each.tfrecord", buffer_size=10_000) as writer:
        for record in records:
            writer.write(record)
    assert (tmp_path / "each.tfrecord").read_bytes() == expected
    buf, offsets = examples
    framed = frame_records(buf, offsets)
    assert framed + frame_records(np.zeros(0, np.uint8), np.zeros(2, np.int64)) == expected
    with TFRecordWriter(tmp_path / "framed.tfrecord") as writer:
        half = len(offsets) // 2
        writer.write_framed(frame_records(buf, offsets[:half + 1]))
        writer.write_framed(frame_records(buf, offsets[half:]))
        writer.write(b"")
    assert (tmp_path / "framed.tfrecord").read_bytes() == expected


@pytest.mark.parametrize("kind", ["img", "stroke"])
def test_encoders_leave_room_and_framing_fills_it_with_tensorflows_bytes(tmp_path, kind):
    """Examples encoded with gaps and framed in place are TF's file, with no copy."""
    dicts = [reference.convert(line) for f in simplified_files()[40:80]
             for line in open(f, encoding="utf-8")]
    batch = Drawings.from_dicts(dicts)
    labels = np.arange(len(batch)) % 345
    if kind == "img":
        images = rasterize(batch, 64, 4, True)

        def encode(**kw):
            return encode_img_examples(labels, images, batch, batch.timestamp, **kw)
    else:
        deltas, delta_offsets = encode_strokes(batch)

        def encode(**kw):
            return encode_stroke_examples(labels, deltas, delta_offsets, batch, batch.timestamp,
                                          **kw)
    buf, offsets = encode()
    plain = [buf[a:b].tobytes() for a, b in zip(offsets[:-1], offsets[1:])]
    gapped, slots = encode(gaps=(FRAME_HEAD, FRAME_TAIL))
    assert np.diff(slots).tolist() == [len(r) + 16 for r in plain]
    assert [gapped[a + 12:b - 4].tobytes() for a, b in zip(slots[:-1], slots[1:])] == plain
    frame_in_place(gapped, slots)
    assert gapped.tobytes() == _tf_file(tmp_path / "tf.tfrecord", plain)
    assert gapped.tobytes() == frame_records(buf, offsets)
    with pytest.raises(ValueError, match="gaps must be two sizes >= 0"):
        encode(gaps=(-1, 4))


def test_framing_without_the_c_function_writes_the_same_bytes(monkeypatch):
    """When google-crc32c's C function cannot be called from the kernel (its pure-Python
    fallback), framing calls google_crc32c.value record by record: the same bytes."""
    assert tfrecord._EXTEND is not None  # this machine has the C library: the kernel runs
    dicts = [reference.convert(line) for f in simplified_files()[:30]
             for line in open(f, encoding="utf-8")]
    batch = Drawings.from_dicts(dicts)
    deltas, delta_offsets = encode_strokes(batch)
    gapped, slots = encode_stroke_examples(np.zeros(len(batch)), deltas, delta_offsets, batch,
                                           batch.timestamp, gaps=(FRAME_HEAD, FRAME_TAIL))
    by_kernel = gapped.copy()
    frame_in_place(by_kernel, slots)
    monkeypatch.setattr(tfrecord, "_EXTEND", None)
    frame_in_place(gapped, slots)
    assert gapped.tobytes() == by_kernel.tobytes()


def test_frame_in_place_refuses_slots_that_do_not_fit(tmp_path):
    buf = np.zeros(40, dtype=np.uint8)
    for slots in ([0, 15], [0, 20, 41], [-1, 20], [0, 30, 25]):
        with pytest.raises(ValueError, match="slots must rise by at least 16 bytes"):
            frame_in_place(buf, np.array(slots))
    with pytest.raises(ValueError, match="contiguous 1-d uint8"):
        frame_in_place(np.zeros(40, dtype=np.int64), np.array([0, 16]))
    frame_in_place(buf, np.array([4, 20]))  # an empty record fits in 16 bytes
    (tmp_path / "empty.tfrecord").write_bytes(buf[4:20].tobytes())
    assert list(read_records(tmp_path / "empty.tfrecord")) == [b""]


def test_tensorflow_and_fastdraw_read_our_files(tmp_path, records):
    path = tmp_path / "ours.tfrecord"
    with TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)
    read_by_tf = [r.numpy() for r in tf.data.TFRecordDataset(str(path))]
    assert read_by_tf == records
    assert list(read_records(path)) == records
    assert list(read_records(str(path), check_crc=False)) == records
    assert tf.train.Example.FromString(read_by_tf[0]).features.feature["stroke_len"]


def test_reader_reads_tensorflows_files_and_empty_files(tmp_path, records):
    _tf_file(tmp_path / "tf.tfrecord", records)
    assert list(read_records(tmp_path / "tf.tfrecord")) == records
    (tmp_path / "empty").write_bytes(b"")
    assert list(read_records(tmp_path / "empty")) == []


def test_writer_flushes_only_whole_records_and_close_is_idempotent(tmp_path, records):
    path = tmp_path / "partial.tfrecord"
    writer = TFRecordWriter(path, buffer_size=1000)
    sizes = []
    for record in records[:8]:
        writer.write(record)
        on_disk = path.read_bytes()
        assert frame_records(*joined(records[:len(list(read_records(path)))])) == on_disk
        sizes.append(len(on_disk))
    assert sizes[0] == 0 and 0 < sizes[-1]  # held back, then flushed before close
    writer.close()
    writer.close()
    assert list(read_records(path)) == records[:8]


@pytest.mark.parametrize("where, problem", [
    (3, "bad length CRC"),  # a length byte
    (9, "bad length CRC"),  # the length's CRC
    (20, "bad data CRC"),  # a data byte
    (-2, "bad data CRC"),  # the data's CRC
])
def test_reader_detects_a_flipped_byte(tmp_path, records, where, problem):
    first, second = records[0], records[1]
    data = bytearray(frame_records(*joined([first, second])))
    second_at = 16 + len(first)
    position = second_at + (where if where >= 0 else 16 + len(second) + where)
    data[position] ^= 0x10
    path = tmp_path / "flipped.tfrecord"
    path.write_bytes(bytes(data))
    reader = read_records(path)
    assert next(reader) == first
    message = f"flipped.tfrecord.*offset {second_at}: {problem}"
    with pytest.raises(CorruptRecordError, match=message):
        next(reader)
    if problem == "bad data CRC" and where >= 0:  # without the check, the damaged data comes out
        assert list(read_records(path, check_crc=False))[1] != second


@pytest.mark.parametrize("cut", [1, 4, 11, 12, 100, -1])
def test_reader_detects_truncation(tmp_path, records, cut):
    data = frame_records(*joined(records[:2]))
    second_at = 16 + len(records[0])
    path = tmp_path / "cut.tfrecord"
    path.write_bytes(data[:second_at + cut] if cut > 0 else data[:cut])
    with pytest.raises(CorruptRecordError, match=f"cut.tfrecord.*offset {second_at}: truncated"):
        list(read_records(path))
    with pytest.raises(CorruptRecordError, match="truncated"):
        list(read_records(path, check_crc=False))


def test_tensorflow_also_rejects_what_our_reader_rejects(tmp_path, records):
    data = bytearray(frame_records(*joined(records[:3])))
    data[30] ^= 1
    path = tmp_path / "bad.tfrecord"
    path.write_bytes(bytes(data))
    with pytest.raises(tf.errors.DataLossError):
        list(tf.data.TFRecordDataset(str(path)))
    with pytest.raises(CorruptRecordError):
        list(read_records(path))


def _windowed(path, **kw) -> tuple[list[bytes], bytes, str | None]:
    """read_windows' records, the bytes it passed to on_bytes, and its error (or None)."""
    got: list[bytes] = []
    seen = bytearray()
    try:
        for buf, offsets in read_windows(path, on_bytes=seen.extend, **kw):
            assert buf.dtype == np.uint8 and offsets[0] == 0 and offsets[-1] == len(buf)
            got.extend(buf[a:b].tobytes() for a, b in zip(offsets[:-1], offsets[1:]))
    except CorruptRecordError as e:
        return got, bytes(seen), str(e)
    return got, bytes(seen), None


def _by_record(path, check_crc: bool = True) -> tuple[list[bytes], str | None]:
    got: list[bytes] = []
    try:
        for record in read_records(path, check_crc):
            got.append(record)
    except CorruptRecordError as e:
        return got, str(e)
    return got, None


# Windows smaller than one record (they grow to fit it), about one, and many records wide.
WINDOWS = [1, 16, 100, 1000, 4096, 1 << 16, tfrecord.WINDOW]


@pytest.fixture(params=["kernel", "record by record"])
def crc_path(request, monkeypatch) -> str:
    """read_windows' two ways: CRCs in its kernel, or google-crc32c without its C library."""
    if request.param != "kernel":
        monkeypatch.setattr(tfrecord, "_EXTEND", None)
    return request.param


@pytest.mark.parametrize("window", WINDOWS)
def test_windows_hold_every_record_and_every_byte(tmp_path, records, window, crc_path):
    path = tmp_path / "ours.tfrecord"
    data = _tf_file(path, records)  # ends with an empty record
    got, seen, error = _windowed(path, window=window)
    assert error is None and got == records and seen == data
    assert _windowed(path, window=window, check_crc=False)[0] == records
    (tmp_path / "empty").write_bytes(b"")
    assert _windowed(tmp_path / "empty", window=window) == ([], b"", None)


@pytest.mark.parametrize("window", [16, 1000, tfrecord.WINDOW])
@pytest.mark.parametrize("where", [3, 9, 20, -2])
def test_windows_stop_at_a_flipped_byte_as_read_records_does(tmp_path, records, window, where,
                                                             crc_path):
    data = bytearray(frame_records(*joined(records[:6])))
    at = sum(16 + len(r) for r in records[:4])  # in the fifth record
    data[at + (where if where >= 0 else 16 + len(records[4]) + where)] ^= 0x10
    path = tmp_path / "flipped.tfrecord"
    path.write_bytes(bytes(data))
    got, _, error = _windowed(path, window=window)
    assert (got, error) == _by_record(path)
    assert got == records[:4] and f"offset {at}: bad" in error


@pytest.mark.parametrize("window", [16, 1000, tfrecord.WINDOW])
@pytest.mark.parametrize("cut", [1, 4, 11, 12, 100, -1])
def test_windows_report_truncation_as_read_records_does(tmp_path, records, window, cut,
                                                        crc_path):
    data = frame_records(*joined(records[:3]))
    third_at = 32 + len(records[0]) + len(records[1])
    path = tmp_path / "cut.tfrecord"
    path.write_bytes(data[:third_at + cut] if cut > 0 else data[:cut])
    got, _, error = _windowed(path, window=window)
    assert (got, error) == _by_record(path)
    assert got == records[:2] and f"offset {third_at}: truncated" in error


def test_a_length_past_the_end_of_the_file_is_truncation_not_a_huge_window(tmp_path, records):
    length = (1 << 40).to_bytes(8, "little")
    header = length + masked_crc32c(length).to_bytes(4, "little")
    path = tmp_path / "huge.tfrecord"
    path.write_bytes(frame_records(*joined(records[:1])) + header + b"x" * 100)
    got, _, error = _windowed(path, window=64)
    assert (got, error) == _by_record(path)
    assert got == records[:1] and f"needs {(1 << 40) + 16 - 100 - 12} more bytes" in error


# ------------------------------------------------------------------------- compressed files


def _tf_compressed(path, records: list[bytes], compression: str) -> bytes:
    options = tf.io.TFRecordOptions(compression_type=tfrecord.tf_compression_type(compression))
    with tf.io.TFRecordWriter(str(path), options) as writer:
        for record in records:
            writer.write(record)
    return path.read_bytes()


def _shard(path, data: bytes, pieces: list[int], compression: str) -> bytes:
    """``data`` written by a ShardFile in pieces of these sizes (then the rest)."""
    from fastdraw.build.shardfile import ShardFile

    shard, at = ShardFile(path, compression), 0
    for n in [*pieces, len(data)]:
        piece = data[at:at + n]
        shard.reserve(len(piece))[:] = np.frombuffer(piece, dtype=np.uint8)
        shard.commit()
        at += len(piece)
    shard.close()
    assert shard.sha256 == __import__("hashlib").sha256(path.read_bytes()).hexdigest()
    return path.read_bytes()


@pytest.mark.parametrize("compression", ["gzip", "zlib"])
@pytest.mark.parametrize("pieces", [[], [1, 7, 100000], [4096] * 50])
def test_compressed_shards_are_tensorflows_bytes(tmp_path, records, compression, pieces):
    """A ShardFile deflating the framed records, however they come, writes what TensorFlow's
    TFRecordWriter writes with that compression type; both readers read the records back."""
    framed = frame_records(*joined(records))
    ours = _shard(tmp_path / "ours", framed, pieces, compression)
    assert ours == _tf_compressed(tmp_path / "tf", records, compression)
    assert ours[:2] == (b"\x1f\x8b" if compression == "gzip" else b"\x78\x9c")
    assert list(read_records(tmp_path / "ours", compression=compression)) == records
    got, seen, error = _windowed(tmp_path / "ours", compression=compression, window=5000)
    assert error is None and got == records and seen == ours
    files = tf.data.TFRecordDataset(str(tmp_path / "ours"),
                                    compression_type=tfrecord.tf_compression_type(compression))
    assert [r.numpy() for r in files] == records


def test_an_unknown_compression_names_the_choices(tmp_path):
    with pytest.raises(ValueError, match=r"compression 'lz4' is none this version of fastdraw "
                                         r"knows: choose one of none, gzip, zlib"):
        next(read_records(tmp_path / "x", compression="lz4"))


@pytest.fixture(scope="module")
def gzipped(tmp_path_factory, records) -> bytes:
    return _tf_compressed(tmp_path_factory.mktemp("gz") / "f", records[:200], "gzip")


def _both_readers(path, window: int, crc_path: str) -> tuple[list[bytes], str | None]:
    """read_windows' records and error; read_records must fail too (zlib decides how much of
    a damaged stream it inflates first, so the two may read more or fewer good records)."""
    got, _, error = _windowed(path, window=window, compression="gzip")
    by_record = []
    try:
        by_record.extend(read_records(path, compression="gzip"))
    except CorruptRecordError as e:
        assert error is not None and str(e).startswith(f"{path}: ")
    else:
        assert error is None and by_record == got
    return got, error


@pytest.mark.parametrize("window", [1000, tfrecord.WINDOW])
def test_every_flipped_byte_of_a_compressed_file_is_an_error(tmp_path, records, gzipped, window,
                                                             crc_path):
    """A sample of 150 offsets: deflate's own checks (gzip's CRC32 and length, zlib's
    codes) or the records' CRCs catch each; the records before it are read."""
    import random

    rng = random.Random(11)
    path = tmp_path / "flipped"
    for at in sorted(rng.sample(range(len(gzipped)), 150)):
        path.write_bytes(gzipped[:at] + bytes([gzipped[at] ^ rng.randrange(1, 256)])
                         + gzipped[at + 1:])
        got, error = _both_readers(path, window, crc_path)
        assert error is not None, f"byte {at} flipped unseen"
        assert got == records[:len(got)] and error.startswith(f"{path}: ")


@pytest.mark.parametrize("damage, message", [
    (lambda d: d[:-9], "the gzip stream ends before its end (the file is cut short)"),
    (lambda d: d[:len(d) // 2], "the gzip stream ends before its end (the file is cut short)"),
    (lambda d: d + b"\0\0\0", "3 more bytes after the end of its gzip stream"),
    (lambda d: d + d, "more bytes after the end of its gzip stream"),
    (lambda d: d[:10] + b"\xff" * 20 + d[30:], "not a valid gzip stream"),
])
def test_a_cut_or_padded_compressed_file_is_named(tmp_path, records, gzipped, damage, message,
                                                  crc_path):
    path = tmp_path / "damaged"
    path.write_bytes(damage(gzipped))
    got, error = _both_readers(path, 1000, crc_path)
    assert error is not None and message in error and error.startswith(f"{path}: ")


def test_a_lying_length_in_a_compressed_file_takes_no_huge_window(tmp_path, records):
    """The inflated stream's size is unknown until its end: a record claiming 1.5 GiB grows
    the window by doublings as bytes come, and is reported truncated at the end."""
    import zlib

    length = (3 << 29).to_bytes(8, "little")
    header = length + masked_crc32c(length).to_bytes(4, "little")
    path = tmp_path / "liar"
    path.write_bytes(zlib.compress(frame_records(*joined(records[:1])) + header + b"x" * 5000))
    (got, _, error), peak = traced_peak(lambda: _windowed(path, window=1000, compression="zlib"))
    assert got == records[:1] and "truncated: the record needs" in error
    assert peak < 64 << 20


# ------------------------------------------------------------------ the longest record read


@pytest.mark.parametrize("window", [16, 1 << 16])  # the long record past a window, or in one
def test_a_record_longer_than_max_record_is_an_error_at_its_offset(tmp_path, window):
    path = tmp_path / "long"
    path.write_bytes(frame_records(*joined([b"a" * 10, b"b" * 100, b"c" * 10])))
    want = (f"{path}: record at byte offset 26: its length, 100 bytes, is more than the 50 a "
            "record of this dataset's kind can take")
    got, _, error = _windowed(path, window=window, max_record=50)
    assert got == [b"a" * 10] and error.startswith(want)
    with pytest.raises(CorruptRecordError, match=want):
        list(read_records(path, max_record=50))
    assert _windowed(path, window=window, max_record=100)[2] is None


def test_a_compressed_record_that_claims_more_than_max_record_takes_no_memory(tmp_path):
    """A gzip shard of 260 KB whose one record inflates to 256 MiB (its length CRC right):
    refused at its header, not after the record's bytes are held."""
    import gzip
    length = 256 << 20
    header = length.to_bytes(8, "little")
    path = tmp_path / "bomb"
    with gzip.GzipFile(path, "wb", compresslevel=1, mtime=0) as f:
        f.write(header + masked_crc32c(header).to_bytes(4, "little"))
        zeros = bytes(16 << 20)
        for _ in range(length // len(zeros)):
            f.write(zeros)
    del zeros
    (got, _, error), peak = traced_peak(
        lambda: _windowed(path, compression="gzip", max_record=80 << 20))
    assert got == [] and f"its length, {length} bytes, is more than the {80 << 20}" in error
    assert peak < 48 << 20, peak
