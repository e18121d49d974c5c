"""What a build depends on: `BuildOptions`, their defaults, and the checks made before any
work."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from fastdraw.codecs import Codec, codec_for


@dataclass
class BuildOptions:
    """Everything a build depends on.  ``splits`` maps each kind to build to its split spec
    (counts per class, or Fractions of the smallest class's usable drawings)."""

    classes: list[str]
    files: list[Path]  # one input file per class
    name: str
    out: Path
    splits: dict[str, dict[str, int] | dict[str, Fraction]]
    shards: int = 10
    seed: int = 0
    img_size: int = 64
    line_width: int = 4
    maximize: bool = True
    img_encoding: str = "int64"  # fastdraw.codecs.img.ENCODINGS
    compression: str = "none"  # of the shard files: fastdraw.dataset.tfrecord.COMPRESSIONS
    include_unrecognized: bool = False
    notebook_time: bool = False
    rdp: float = 2.0  # sketchrnn: the Ramer-Douglas-Peucker epsilon (0: every point kept)
    bitmap_size: int = 28
    workers: int = 1
    overwrite: bool = False
    strict: bool = False
    progress: bool = True  # a tqdm bar when stderr is a terminal

    def record_options(self) -> dict[str, Any]:
        """The options the codecs read (the names the manifest gives them)."""
        return {"img_size": self.img_size, "line_width": self.line_width,
                "maximize": self.maximize, "notebook_time": self.notebook_time, "rdp": self.rdp,
                "bitmap_size": self.bitmap_size, "img_encoding": self.img_encoding}

    def codec(self, kind: str) -> Codec:
        """The codec of dataset kind ``kind`` with these options."""
        return codec_for(kind, self.record_options())

    def target(self, kind: str) -> Path:
        """Where the dataset of ``kind`` goes: ``<out>/<name>_<kind>``."""
        return self.out / f"{self.name}_{kind}"

    def usable(self) -> str:
        """What the build counts and uses of a class file, for messages."""
        return "usable drawings" if self.include_unrecognized else "recognized drawings"
