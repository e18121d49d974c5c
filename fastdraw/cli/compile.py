"""`python -m fastdraw compile`: every numba kernel fastdraw runs, compiled for this machine
into numba's cache, so that no command compiles on its first run.

`pip install` runs it (the project's build backend); run it again after upgrading numba, or
where numba's cache was cleared.  It runs each command's own code on a tiny dataset of the
bundled sample, so the cache holds exactly the kernels and argument types the commands use.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from fastdraw.cli.errors import OK

log = logging.getLogger(__name__)


def add_compile(p: argparse.ArgumentParser) -> None:
    """No options."""


def run_compile(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    compile_all()
    log.info("fastdraw's kernels are in numba's cache (%.1f s)", time.monotonic() - t0)
    return OK


def compile_all() -> None:
    """Runs a build of every kind and image encoding (from ndjson and from the binary format),
    verify, preview, the mosaic and the drop-ins that need no TensorFlow, on a few drawings
    of the bundled sample, in a temporary directory."""
    from fastdraw.build import BuildOptions, build
    from fastdraw.codecs import CODECS
    from fastdraw.codecs.img import ENCODINGS
    from fastdraw.dataset.layout import layout_of
    from fastdraw.dataset.verify import check
    from fastdraw.notebook import dropins
    from fastdraw.sources.binary.write import convert_to_binary
    from fastdraw.sources.classes import sample_dir
    from fastdraw.views.mosaic import mosaic
    from fastdraw.views.preview import preview

    sample = Path(sample_dir())
    quiet = logging.getLogger("fastdraw")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with tempfile.TemporaryDirectory(prefix="fastdraw-compile-") as tmp:
            classes = ["cat", "eye"]
            splits = {"train": 2, "valid": 1, "test": 1}
            built = build(BuildOptions(
                classes=classes, files=[sample / f"{c}.ndjson" for c in classes], name="k",
                out=Path(tmp), splits={kind: splits for kind in CODECS}, shards=1,
                workers=1, progress=False))
            binary = []
            for c in classes:
                binary.append(Path(tmp, f"{c}.bin"))
                convert_to_binary(sample / f"{c}.ndjson", binary[-1], c,
                                  on_reject=lambda r: None)  # only kernels matter here
            built += build(BuildOptions(
                classes=classes, files=binary, name="b", out=Path(tmp),
                splits={"img": splits}, shards=1, workers=1, progress=False))
            for encoding in ENCODINGS[1:]:
                built += build(BuildOptions(
                    classes=classes, files=[sample / f"{c}.ndjson" for c in classes],
                    name=encoding, out=Path(tmp), splits={"img": splits}, shards=1,
                    img_encoding=encoding, compression="gzip", workers=1, progress=False))
            for b in built:
                check(b.path, workers=1)
                if layout_of(b.kind).sharded:
                    preview(b.path, "train", rows=1, cols=1)
        mosaic(["eye"], sample, rows=1, cols=1)
        drawing = dropins.loadn("eye", 1, data_path=sample)[0]
        dropins.json_to_img(drawing, 64, 4)
        dropins.json_to_stroke(drawing)
        dropins.stroke_example(0, drawing)
    finally:
        quiet.setLevel(level)
