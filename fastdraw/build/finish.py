"""What a build writes once its data files are, whatever executed it: the class-names file
(labels.txt), counts.json, rejected.ndjson, the TFDS metadata and the manifest sealing them
(fastdraw.dataset.layout), and the summary it logs.

The dataset directory and the per-class files of rejected lines may be local paths or
another storage's paths: anything with ``/`` and ``open`` as `pathlib.Path` has them (the
Beam build's paths of its file systems).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

import numba
import numpy as np

from fastdraw.build.encode import count_lines, plural
from fastdraw.build.options import BuildOptions
from fastdraw.build.plan import Plan
from fastdraw.codecs import Codec
from fastdraw.dataset import layout
from fastdraw.dataset.tfrecord import compression_settings
from fastdraw.errors import BuildError

log = logging.getLogger(__name__)


@dataclass
class Built:
    """What a build wrote for one kind."""

    kind: str
    path: Path
    counts: dict[str, int]  # examples per split, all classes
    rejected: int


def versions() -> dict[str, str]:
    """The versions a manifest records, read before any work (a fastdraw that is not
    installed, and so has no version, fails here rather than after the build)."""
    try:
        fastdraw = metadata.version("fastdraw")
    except metadata.PackageNotFoundError:
        raise BuildError("fastdraw is not installed, so its version (which every manifest "
                         "records) is unknown: install it (pip install -e . in the clone) and "
                         "run it from a directory that does not hold the clone") from None
    return {"fastdraw": fastdraw, "numpy": np.__version__, "numba": numba.__version__}


class Written(NamedTuple):
    """A data file a build wrote (a shard, or a class's file): what the manifest's ``shards``
    and the TFDS metadata say of it."""

    records: int
    sha256: str
    bytes: int  # its size as written (compressed, with a compression)


def finish(opts: BuildOptions, codec: Codec, plan: Plan, directory: Path,
           written: Mapping[str, Written], rejections: Sequence[Path], cutoff: Sequence[int],
           versions: dict[str, str]) -> Built:
    """Writes the class-names file (labels.txt), counts.json, rejected.ndjson, the TFDS
    metadata (of a layout TFDS reads) and manifest.json of one kind into ``directory`` (the
    manifest sealing the others and the data files ``written``: see
    fastdraw.dataset.layout).  ``rejections``: every class's rejected lines (JSON lines), of
    which those before its ``cutoff`` line are the dataset's."""
    def used_rejections() -> Iterator[str]:  # every class's, up to its last used line
        for src, cut in zip(rejections, cutoff):
            with src.open("r", encoding="utf-8") as f:
                yield from (line for line in f if json.loads(line)["line"] < cut)

    kind, classes = codec.kind, len(opts.classes)
    counts = {split: n * classes for split, n in plan.splits.items()}
    files = {}
    if plan.layout.labels is not None:
        files[plan.layout.labels] = layout.write_labels(directory, opts.classes, plan.layout)
    files[layout.COUNTS] = layout.write_counts(directory, counts)
    rejected, files[layout.REJECTED] = layout.write_rejected(directory, used_rejections())
    record_options = opts.record_options()
    options = {"splits": plan.splits, "shards": plan.shards, "seed": opts.seed,
               **{name: record_options[name] for name in codec.recorded_options},
               "include_unrecognized": opts.include_unrecognized}
    made_with = codec.made_with()
    if plan.layout.sharded:
        options["compression"] = opts.compression
        if opts.compression != "none":
            made_with["compression"] = compression_settings(opts.compression)
    manifest = {
        "format": layout.FORMAT,
        "kind": kind,
        "name": opts.name,
        "classes": list(opts.classes),
        "options": options,
        "versions": versions,
        "made_with": made_with,
        "records": plan.rounds * classes,
        "rejected": rejected,
        "shards": {name: {"records": w.records, "sha256": w.sha256}
                   for name, w in written.items()},
    }
    if plan.layout.tfds:
        files.update(layout.write_tfds(
            directory, manifest, codec, plan.layout.labels_bytes(opts.classes),
            {name: w.bytes for name, w in written.items()}))
    layout.write_manifest(directory, {**manifest, "files": files})
    return Built(kind, opts.target(kind), counts, rejected)


def summary(opts: BuildOptions, built: list[Built], seconds: float) -> None:
    """Logs what the build wrote, per kind, and how fast."""
    total = 0
    for b in built:
        n = sum(b.counts.values())
        total += n
        log.info("%s: %s (%s, %d examples), %s", b.path,
                 ", ".join(f"{s} {c}" for s, c in b.counts.items()),
                 plural(len(opts.classes), "class"), n,
                 count_lines(b.rejected, "rejected"))
        if b.rejected:
            log.warning("%s skipped: see %s", count_lines(b.rejected, "bad input"),
                        b.path / layout.REJECTED)
    log.info("built %d examples in %.1f s (%.0f examples/s)", total, seconds,
             total / max(seconds, 1e-9))
