"""What a record is: one `Codec` per dataset kind (`CODECS`), on the Example wire format
(`wire` writes it, `proto` reads it)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from fastdraw.codecs.base import Codec
from fastdraw.codecs.bitmap import BitmapCodec
from fastdraw.codecs.img import ImgCodec
from fastdraw.codecs.ink import InkCodec
from fastdraw.codecs.sketchrnn import SketchRnnCodec
from fastdraw.codecs.stroke import StrokeCodec

CODECS: dict[str, type[Codec]] = {c.kind: c for c in (ImgCodec, StrokeCodec, BitmapCodec,
                                                      InkCodec, SketchRnnCodec)}
KINDS = tuple(CODECS)


def codec_for(kind: str, options: Mapping[str, Any]) -> Codec:
    """The codec of dataset kind ``kind`` with these (build or manifest) options."""
    try:
        return CODECS[kind].from_options(options)
    except KeyError:
        raise ValueError(f"unknown dataset kind {kind!r}: this version of fastdraw reads "
                         f"{', '.join(KINDS)}") from None


def codec_of_features(names: Collection[str]) -> Codec | None:
    """The codec whose records have these feature names, or None."""
    for codec in CODECS.values():
        if (found := codec.from_features(names)) is not None:
            return found
    return None


__all__ = ["CODECS", "KINDS", "BitmapCodec", "Codec", "ImgCodec", "InkCodec", "SketchRnnCodec",
           "StrokeCodec", "codec_for", "codec_of_features"]
