"""What a build writes once its shards are, whatever executed it: labels.txt, counts.json,
rejected.ndjson and the manifest sealing them (fastdraw.dataset.layout), and the summary it
logs.

The dataset directory and the per-class files of rejected lines may be local paths or
another storage's paths: anything with ``/`` and ``open`` as `pathlib.Path` has them (the
Beam build's paths of its file systems).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numba
import numpy as np

from fastdraw.build.encode import count_lines, plural
from fastdraw.build.options import BuildOptions
from fastdraw.build.plan import Plan
from fastdraw.dataset import layout
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


def finish(opts: BuildOptions, kind: str, plan: Plan, directory: Path, hashes: dict[str, str],
           rejections: Sequence[Path], cutoff: Sequence[int], versions: dict[str, str]
           ) -> Built:
    """Writes labels.txt, counts.json, rejected.ndjson and manifest.json of one kind into
    ``directory`` (the manifest sealing the other three: see fastdraw.dataset.layout).
    ``hashes``: every shard's sha256; ``rejections``: every class's rejected lines (JSON
    lines), of which those before its ``cutoff`` line are the dataset's."""
    def used_rejections() -> Iterator[str]:  # every class's, up to its last used line
        for src, cut in zip(rejections, cutoff):
            with src.open("r", encoding="utf-8") as f:
                yield from (line for line in f if json.loads(line)["line"] < cut)

    classes = len(opts.classes)
    counts = {split: n * classes for split, n in plan.splits.items()}
    files = {layout.LABELS: layout.write_labels(directory, opts.classes),
             layout.COUNTS: layout.write_counts(directory, counts)}
    rejected, files[layout.REJECTED] = layout.write_rejected(directory, used_rejections())
    per_shard = plan.rounds_per_shard()
    layout.write_manifest(directory, {
        "format": layout.FORMAT,
        "kind": kind,
        "name": opts.name,
        "classes": list(opts.classes),
        "options": {
            "splits": plan.splits, "shards": opts.shards, "seed": opts.seed,
            **opts.record_options(), "include_unrecognized": opts.include_unrecognized,
        },
        "versions": versions,
        "records": plan.rounds * classes,
        "rejected": rejected,
        "shards": {shard: {"records": int(per_shard[s]) * classes, "sha256": hashes[shard]}
                   for s, shard in enumerate(plan.shard_names)},
        "files": files,
    })
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
