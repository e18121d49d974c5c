"""Black-and-white images as 1-bit grayscale PNGs: written deterministically, read back.

A rasterized image's pixels are 0 or 255, so one bit says each: a PNG of bit depth 1,
colour type 0 (grayscale), is an eighth of an 8-bit one before compression and compresses
to about the same or less (docs/performance.md).  ``tf.io.decode_png`` (and TFDS's Image
feature) give its pixels as 0 and 255, as libpng scales a bit depth of 1 up to 8; Pillow
opens it in mode "1", whose ``convert("L")`` gives 0 and 255 (``numpy.asarray`` of the mode
"1" image itself gives booleans).

Every row is filtered with filter type 0 (None) and the rows are compressed by zlib with
fixed settings (SETTINGS), so the same image gives the same bytes, in any process, with the
same zlib; a dataset's manifest records the zlib that made its PNGs.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# zlib's fastest level, its other settings the defaults (a 32 KiB window, memLevel 8): the
# rows of a line drawing are long runs of zeros, on which the higher levels' longer searches
# cost 1.6x (64 px) to 3x (256 px) the time for 7-25% fewer bytes (docs/performance.md).
LEVEL = 1


def settings() -> dict[str, object]:
    """What makes the PNGs' bytes, for a dataset's manifest."""
    return {"bit_depth": 1, "color_type": "grayscale", "filter": "none", "interlace": "none",
            "zlib": zlib.ZLIB_RUNTIME_VERSION, "level": LEVEL, "window_bits": zlib.MAX_WBITS,
            "mem_level": zlib.DEF_MEM_LEVEL, "strategy": "default"}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def header(height: int, width: int) -> bytes:
    """The signature and IHDR chunk of a PNG of that size, bit depth 1, grayscale."""
    return SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))


IEND = _chunk(b"IEND", b"")
_IDAT_CRC = zlib.crc32(b"IDAT")


def encode_pngs(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, h, w) whose pixels are each 0 or 255 as PNGs: (buf uint8, offsets
    int64 (N + 1,)), PNG i being ``buf[offsets[i]:offsets[i + 1]]``.  Raises ValueError for
    an image with another pixel value (a bit cannot say it)."""
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"images must be uint8 (N, h, w), got {images.dtype} {images.shape}")
    grey = np.flatnonzero(((images != 0) & (images != 255)).any(axis=(1, 2)))
    if len(grey):
        raise ValueError(f"image {grey[0]} has pixels other than 0 and 255: a 1-bit PNG "
                         "cannot hold it")
    n, h, w = images.shape
    rows = np.zeros((n, h, 1 + (w + 7) // 8), dtype=np.uint8)  # each row: filter 0, bits
    rows[:, :, 1:] = np.packbits(images, axis=2)
    head, parts = header(h, w), []
    for raw in rows:
        data = zlib.compress(raw, LEVEL)
        parts.append(head + struct.pack(">I", len(data)) + b"IDAT" + data
                     + struct.pack(">I", zlib.crc32(data, _IDAT_CRC)) + IEND)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([len(p) for p in parts], out=offsets[1:])
    return np.frombuffer(b"".join(parts), dtype=np.uint8), offsets


def read_png(data: bytes, size: int) -> np.ndarray:
    """The pixels (uint8 (size, size), 0 and 255) of a PNG as ``encode_pngs`` writes them:
    raises ValueError saying what differs (not a PNG, a chunk's CRC, another size, bit
    depth or filter, a damaged or cut zlib stream, bytes after its end)."""
    if not data.startswith(SIGNATURE):
        raise ValueError("no PNG signature")
    pos, chunks = len(SIGNATURE), []
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError(f"a chunk at byte {pos} is cut short")
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise ValueError(f"chunk {kind!r} at byte {pos} runs past the end")
        body = data[pos + 8:end - 4]
        if struct.unpack_from(">I", data, end - 4)[0] != zlib.crc32(kind + body):
            raise ValueError(f"chunk {kind!r} at byte {pos} has a bad CRC")
        chunks.append((kind, body))
        pos = end
    kinds = [k for k, _ in chunks]
    if kinds != [b"IHDR", b"IDAT", b"IEND"]:
        raise ValueError(f"chunks {b' '.join(kinds).decode('latin-1')}, not IHDR IDAT IEND")
    header, idat = chunks[0][1], chunks[1][1]
    if header != struct.pack(">IIBBBBB", size, size, 1, 0, 0, 0, 0):
        raise ValueError(f"not a {size}x{size} 1-bit grayscale PNG (IHDR {header.hex()})")
    inflate = zlib.decompressobj()
    stride = 1 + (size + 7) // 8
    try:
        raw = inflate.decompress(idat, size * stride)
    except zlib.error as e:
        raise ValueError(f"its image data is not a valid zlib stream ({e})") from None
    if not inflate.eof or inflate.unconsumed_tail or inflate.unused_data or \
            len(raw) != size * stride:
        raise ValueError(f"its image data inflates to other than {size} rows of {stride} bytes")
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(size, stride)
    if (bad := np.flatnonzero(rows[:, 0])).size:
        raise ValueError(f"row {bad[0]} has filter type {rows[bad[0], 0]}, where fastdraw "
                         "writes 0 (None) on every row")
    return np.unpackbits(rows[:, 1:], axis=1, count=size) * np.uint8(255)
