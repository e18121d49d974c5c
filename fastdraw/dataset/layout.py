"""A dataset directory's layout, read and written here only.

The notebook's layout: shard files ``<split>-%05d-of-%05d`` (TFRecord files of serialized
Examples) and ``labels.txt`` (one class name a line, in label order, no newline after the
last).  fastdraw adds ``counts.json`` (examples per split), ``manifest.json`` (format,
kind, classes, options, versions, record counts and the sha256 of every shard) and
``rejected.ndjson`` (every input item that was not a valid drawing: file, line, reason,
text).  A dataset without a manifest (the notebook's) is read by its shards alone.

The manifest covers every byte of the dataset: ``shards`` gives each shard's sha256,
``files`` the size and sha256 of labels.txt, counts.json and rejected.ndjson, and
``manifest_sha256`` the sha256 of the manifest's own canonical JSON (`manifest_bytes`)
without that field; the file is those canonical bytes.  (Manifests written before
``files`` and ``manifest_sha256`` have neither.)

Every file is read through `fastdraw.dataset.files`: regular files only, and a whole file
only up to the bound its kind allows (``*_LIMIT``).

A build publishes a dataset as a link to a directory of one build, which never changes and
goes all at once when a later build replaces it (fastdraw.build.publish): readers read the
directory `pinned` gives.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from fastdraw.codecs import Codec, codec_for, codec_of_features
from fastdraw.codecs.proto import parse_example
from fastdraw.dataset.files import check_regular, read_bounded
from fastdraw.dataset.tfrecord import read_records

FORMAT = "fastdraw-dataset/1"
LABELS = "labels.txt"
COUNTS = "counts.json"
MANIFEST = "manifest.json"
REJECTED = "rejected.ndjson"
SHARD_RE = re.compile(r"(?P<split>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})")

# The most bytes each metadata file may take, and what it holds (for the message when it
# takes more): far beyond what a build writes, low enough to be read whole.
LABELS_LIMIT, LABELS_HOLDS = 16 << 20, "the class names, one a line"
COUNTS_LIMIT, COUNTS_HOLDS = 1 << 20, "a count of records per split"
MANIFEST_LIMIT, MANIFEST_HOLDS = 64 << 20, "a few KiB, and about 150 bytes a shard"
REJECTED_LINE_LIMIT = 64 << 10  # a line of rejected.ndjson: file, line, reason, 200 characters

SEALED = (LABELS, COUNTS, REJECTED)  # the files whose size and sha256 the manifest's files give
MANIFEST_SHA256 = "manifest_sha256"  # the manifest's field sealing the rest of it


def pinned(path: str | Path) -> Path:
    """The directory ``path`` leads to now, its links resolved once: a reader that reads it
    reads one build to its end, or fails (no such file) once a replacement has removed it;
    never a mix of two builds, as reading through the link file by file could."""
    return Path(os.path.realpath(path))


def is_dataset_file(name: str) -> bool:
    """Whether a file of this name is one a dataset holds (a shard, labels.txt, counts.json,
    manifest.json, rejected.ndjson)."""
    return name in (LABELS, COUNTS, MANIFEST, REJECTED) or SHARD_RE.fullmatch(name) is not None


def foreign_entries(path: Path) -> list[str]:
    """What directory ``path`` holds besides a dataset's files (shards, labels.txt,
    counts.json, manifest.json, rejected.ndjson), sorted; directories end with '/'."""
    return sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir()
                  if not is_dataset_file(p.name) or p.is_dir())


def shard_name(split: str, index: int, shards: int) -> str:
    """File name of shard ``index`` of ``shards`` of a split."""
    return f"{split}-{index:05d}-of-{shards:05d}"


def shard_names(splits: Iterable[str], shards: int) -> list[str]:
    """Every shard's file name, splits in order."""
    return [shard_name(split, i, shards) for split in splits for i in range(shards)]


def file_entry(size: int, sha256: str) -> dict[str, Any]:
    """A file's entry in the manifest's ``files``."""
    return {"bytes": size, "sha256": sha256}


def _write(file: Path, data: bytes) -> dict[str, Any]:
    file.write_bytes(data)
    return file_entry(len(data), hashlib.sha256(data).hexdigest())


def write_labels(path: Path, classes: Sequence[str]) -> dict[str, Any]:
    """Writes labels.txt; returns its entry for the manifest's ``files``."""
    return _write(path / LABELS, "\n".join(classes).encode("utf-8"))


def write_counts(path: Path, counts: dict[str, int]) -> dict[str, Any]:
    """Writes counts.json (the splits in the order given); returns its ``files`` entry."""
    return _write(path / COUNTS, json.dumps(counts).encode("utf-8"))


def write_rejected(path: Path, lines: Iterable[str]) -> tuple[int, dict[str, Any]]:
    """Writes rejected.ndjson, one JSON object a line (each ending in a newline), streamed;
    returns the count of lines and the file's ``files`` entry."""
    digest, size, count = hashlib.sha256(), 0, 0
    with (path / REJECTED).open("wb") as out:
        for line in lines:
            data = line.encode("utf-8")
            out.write(data)
            digest.update(data)
            size += len(data)
            count += 1
    return count, file_entry(size, digest.hexdigest())


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """A manifest's canonical JSON: keys sorted, indented by 2, ASCII, a newline at the end."""
    return (json.dumps(manifest, sort_keys=True, indent=2) + "\n").encode("ascii")


def manifest_sha256(manifest: dict[str, Any]) -> str:
    """The sha256 that seals a manifest: of its canonical JSON without MANIFEST_SHA256."""
    return hashlib.sha256(manifest_bytes(
        {k: v for k, v in manifest.items() if k != MANIFEST_SHA256})).hexdigest()


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Writes manifest.json, sealed with its MANIFEST_SHA256."""
    (path / MANIFEST).write_bytes(manifest_bytes(
        {**manifest, MANIFEST_SHA256: manifest_sha256(manifest)}))


def read_manifest(path: str | Path) -> dict[str, Any] | None:
    """The dataset's manifest.json, or None when it has none.

    Raises ValueError naming the file when it is not a JSON object (a damaged or
    hand-edited manifest would otherwise fail later, far from its cause).
    """
    file = Path(path) / MANIFEST
    try:
        data = read_bounded(file, MANIFEST_LIMIT, MANIFEST_HOLDS)
    except FileNotFoundError:
        return None
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as e:  # bad JSON or bad UTF-8, nested too deep
        raise ValueError(f"{file}: not valid JSON ({e}); rebuild the dataset, or check it "
                         f"with: python -m fastdraw verify {path}") from e
    if not isinstance(manifest, dict):
        raise ValueError(f"{file}: not a JSON object; rebuild the dataset, or check it "
                         f"with: python -m fastdraw verify {path}")
    return manifest


def read_labels(path: str | Path) -> list[str]:
    """Class names of labels.txt, in label order."""
    file = Path(path) / LABELS
    try:
        data = read_bounded(file, LABELS_LIMIT, LABELS_HOLDS)
    except FileNotFoundError:
        raise FileNotFoundError(f"{file}: no labels.txt; is {path} a built dataset "
                                "directory?") from None
    try:
        return data.decode("utf-8").split("\n")
    except UnicodeDecodeError as e:
        raise ValueError(f"{file}: not UTF-8 text ({e}); rebuild the dataset") from None


def shard_paths(path: str | Path, split: str, manifest: dict[str, Any] | None = None
                ) -> list[Path]:
    """The split's shard files, sorted: those ``manifest`` (default: the dataset's) lists,
    else those on disk.  Raises DatasetFileError if one is not a regular file (a named pipe
    would block its reader), FileNotFoundError if one the manifest lists is missing."""
    path = Path(path)
    if manifest is None:
        manifest = read_manifest(path)
    if manifest is not None and "shards" in manifest:
        every = [m for n in manifest["shards"] if (m := SHARD_RE.fullmatch(n))]
    else:
        every = [m for p in path.iterdir() if (m := SHARD_RE.fullmatch(p.name))]
    names = [m[0] for m in every if m["split"] == split]
    if not names:
        splits = sorted({m["split"] for m in every})
        raise FileNotFoundError(
            f"{path}: no shards of split {split!r} (expected files {split}-00000-of-NNNNN); "
            + (f"its splits are {', '.join(splits)}" if splits else "it has no shard files"))
    shards = [path / n for n in sorted(names)]
    for shard in shards:
        try:
            check_regular(shard)
        except FileNotFoundError:
            raise FileNotFoundError(f"{shard}: missing, though manifest.json lists it; check the "
                                    f"dataset with: python -m fastdraw verify {path}") from None
    return shards


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
