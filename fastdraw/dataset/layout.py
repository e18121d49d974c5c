"""A dataset directory's layout, read and written here only.

The notebook's layout: shard files ``<split>-%05d-of-%05d`` (TFRecord files of serialized
Examples) and ``labels.txt`` (one class name a line, in label order, no newline after the
last).  fastdraw adds ``counts.json`` (examples per split), ``manifest.json`` (format,
kind, classes, options, versions, record counts and the sha256 of every shard) and
``rejected.ndjson`` (every input item that was not a valid drawing: file, line, reason,
text).  A dataset without a manifest (the notebook's) is read by its shards alone.

A build publishes a dataset as a link to a directory of one build, which never changes and
goes all at once when a later build replaces it (fastdraw.build.publish): readers read the
directory `pinned` gives.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from fastdraw.codecs import Codec, codec_for, codec_of_features
from fastdraw.codecs.proto import parse_example
from fastdraw.dataset.tfrecord import read_records

FORMAT = "fastdraw-dataset/1"
LABELS = "labels.txt"
COUNTS = "counts.json"
MANIFEST = "manifest.json"
REJECTED = "rejected.ndjson"
SHARD_RE = re.compile(r"(?P<split>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})")


def pinned(path: str | Path) -> Path:
    """The directory ``path`` leads to now, its links resolved once: a reader that reads it
    reads one build to its end, or fails (no such file) once a replacement has removed it;
    never a mix of two builds, as reading through the link file by file could."""
    return Path(os.path.realpath(path))


def foreign_entries(path: Path) -> list[str]:
    """What directory ``path`` holds besides a dataset's files (shards, labels.txt,
    counts.json, manifest.json, rejected.ndjson), sorted; directories end with '/'."""
    own = {LABELS, COUNTS, MANIFEST, REJECTED}
    return sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir()
                  if not (p.name in own or SHARD_RE.fullmatch(p.name)) or p.is_dir())


def shard_name(split: str, index: int, shards: int) -> str:
    """File name of shard ``index`` of ``shards`` of a split."""
    return f"{split}-{index:05d}-of-{shards:05d}"


def shard_names(splits: Iterable[str], shards: int) -> list[str]:
    """Every shard's file name, splits in order."""
    return [shard_name(split, i, shards) for split in splits for i in range(shards)]


def write_labels(path: Path, classes: Sequence[str]) -> None:
    (path / LABELS).write_text("\n".join(classes), encoding="utf-8")


def write_counts(path: Path, counts: dict[str, int]) -> None:
    (path / COUNTS).write_text(json.dumps(counts), encoding="utf-8")


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    (path / MANIFEST).write_text(json.dumps(manifest, sort_keys=True, indent=2) + "\n",
                                 encoding="utf-8")


def read_manifest(path: str | Path) -> dict[str, Any] | None:
    """The dataset's manifest.json, or None when it has none.

    Raises ValueError naming the file when it is not a JSON object (a damaged or
    hand-edited manifest would otherwise fail later, far from its cause).
    """
    file = Path(path) / MANIFEST
    if not file.exists():
        return None
    try:
        manifest = json.loads(file.read_text("utf-8"))
    except ValueError as e:  # bad JSON or bad UTF-8
        raise ValueError(f"{file}: not valid JSON ({e}); rebuild the dataset, or check it "
                         f"with: python -m fastdraw verify {path}") from e
    if not isinstance(manifest, dict):
        raise ValueError(f"{file}: not a JSON object; rebuild the dataset, or check it "
                         f"with: python -m fastdraw verify {path}")
    return manifest


def read_labels(path: str | Path) -> list[str]:
    """Class names of labels.txt, in label order."""
    file = Path(path) / LABELS
    if not file.exists():
        raise FileNotFoundError(f"{file}: no labels.txt; is {path} a built dataset directory?")
    return file.read_text("utf-8").split("\n")


def shard_paths(path: str | Path, split: str, manifest: dict[str, Any] | None = None
                ) -> list[Path]:
    """The split's shard files, sorted: those ``manifest`` (default: the dataset's) lists,
    else those on disk."""
    path = Path(path)
    if manifest is None:
        manifest = read_manifest(path)
    if manifest is not None and "shards" in manifest:
        names = [n for n in manifest["shards"] if (m := SHARD_RE.fullmatch(n)) and
                 m["split"] == split]
    else:
        names = [p.name for p in path.glob(f"{split}-*-of-*")
                 if (m := SHARD_RE.fullmatch(p.name)) and m["split"] == split]
    if not names:
        raise FileNotFoundError(f"{path}: no shards of split {split!r} "
                                f"(expected files {split}-00000-of-NNNNN)")
    return [path / n for n in sorted(names)]


def dataset_codec(path: str | Path, manifest: dict[str, Any] | None = None) -> Codec:
    """The codec of the dataset's records: its manifest's kind and options (default: the
    dataset's manifest), else told by its first record's features."""
    if manifest is None:
        manifest = read_manifest(path)
    if manifest is not None and "kind" in manifest:
        return codec_for(manifest["kind"], manifest.get("options", {}))
    shard, features = first_record(path)
    codec = codec_of_features(features)
    if codec is None:
        raise ValueError(f"{shard}: its first record's features ({', '.join(sorted(features))}) "
                         f"are of no dataset kind fastdraw knows; is {path} a built dataset?")
    return codec


def first_record(path: str | Path) -> tuple[Path, dict]:
    """(shard, features) of the first record of the first shard, in name order, that has one."""
    names = sorted(p.name for p in Path(path).iterdir() if SHARD_RE.fullmatch(p.name))
    if not names:
        raise FileNotFoundError(f"{path}: no shard files")
    for name in names:
        for record in read_records(Path(path) / name):
            return Path(path) / name, parse_example(record)
    raise ValueError(f"{path}: its shards hold no records")
