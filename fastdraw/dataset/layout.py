"""A dataset directory's layout, read and written here only.

Every kind's codec names its layout (``Codec.layout``), and `LAYOUTS` says what files that
layout has; nothing else spells a dataset file name:

- ``notebook`` (img, stroke): the notebook's shard files ``<split>-%05d-of-%05d`` (TFRecord
  files of serialized Examples) and ``labels.txt`` (one class name a line, in label order,
  no newline after the last);
- ``rnn-tutorial`` (ink): TensorFlow's RNN tutorial's ``training.tfrecord-%05d-of-%05d``
  (the split ``train``), ``<split>.tfrecord-%05d-of-%05d`` (any other, such as ``eval``)
  and ``training.tfrecord.classes`` (one class name and a newline a line);
- ``sketch-rnn`` (sketchrnn): one ``<class>.npz`` per class holding every split (no
  shards, no class-names file: the classes are the files).

Beside them fastdraw adds, in every layout, ``counts.json`` (examples per split),
``manifest.json`` (format, kind, classes, options, versions, record counts and the sha256
of every data file, under ``shards``) and
``rejected.ndjson`` (every input item that was not a valid drawing: file, line, reason,
text).  A dataset without a manifest (the notebook's) is read by its shards alone.

The manifest covers every byte of the dataset: ``shards`` gives each shard's sha256,
``files`` the size and sha256 of labels.txt, counts.json and rejected.ndjson, and
``manifest_sha256`` the sha256 of the manifest's own canonical JSON (`manifest_bytes`)
without that field; the file is those canonical bytes.  (Manifests written before
``files`` and ``manifest_sha256`` have neither.)

Every file is read through `fastdraw.dataset.files`: regular files only, and a whole file
only up to the bound its kind allows (``*_LIMIT``).

A build also writes the TFDS metadata with which ``tfds.builder_from_directory`` reads the
dataset (fastdraw.dataset.tfds: ``dataset_info.json``, ``features.json`` and
``label.labels.txt``), sealed by the manifest's ``files`` too.  The manifest's ``options``
name the image encoding and the shards' compression (``shard_compression``), its
``made_with`` the encoder and compressor settings that made their bytes.

A build publishes a dataset as a link to a directory of one build, which never changes and
goes all at once when a later build replaces it (fastdraw.build.publish): readers read the
directory `pinned` gives.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from fastdraw.codecs import CODECS, Codec, codec_for, codec_of_features
from fastdraw.codecs.proto import parse_example
from fastdraw.dataset import tfds
from fastdraw.dataset.files import check_regular, read_bounded
from fastdraw.dataset.tfrecord import COMPRESSIONS, read_records

FORMAT = "fastdraw-dataset/1"
LABELS = "labels.txt"
COUNTS = "counts.json"
MANIFEST = "manifest.json"
REJECTED = "rejected.ndjson"
DATASET_INFO = "dataset_info.json"  # TFDS's
FEATURES = "features.json"  # TFDS's
TFDS_LABELS_SUFFIX = ".labels.txt"  # TFDS's <feature>.labels.txt, a ClassLabel's names
SHARD_RE = re.compile(r"(?P<split>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})")
MAX_SHARDS = 99999  # the most shards a split's names can number in their five digits

# The most bytes each metadata file may take, and what it holds (for the message when it
# takes more): far beyond what a build writes, low enough to be read whole.
LABELS_LIMIT, LABELS_HOLDS = 16 << 20, "the class names, one a line"
COUNTS_LIMIT, COUNTS_HOLDS = 1 << 20, "a count of records per split"
MANIFEST_LIMIT, MANIFEST_HOLDS = 64 << 20, "a few KiB, and about 150 bytes a shard"
REJECTED_LINE_LIMIT = 64 << 10  # a line of rejected.ndjson: file, line, reason, 200 characters
TFDS_LIMIT, TFDS_HOLDS = 64 << 20, "a few KiB, and about 10 bytes a shard"

SEALED = (LABELS, COUNTS, REJECTED)  # the files whose size and sha256 the manifest's files give
MANIFEST_SHA256 = "manifest_sha256"  # the manifest's field sealing the rest of it


class Shard(NamedTuple):
    """A shard file's name read back."""

    split: str
    index: int
    count: int


@dataclass(frozen=True)
class Layout:
    """The files of a dataset of one layout: its data files (shards of TFRecords per split,
    or one file per class), its class-names file (or none) and fastdraw's extras."""

    name: str
    labels: str | None  # the class-names file, one name a line
    labels_newline: bool  # every name ends with a newline (else: joined by newlines)
    extension: str | None  # of its one file per class (None: shards of TFRecords)
    suffix: str = ""  # of a shard's split name, before -%05d-of-%05d
    renamed: Mapping[str, str] = field(default_factory=dict)  # split -> its files' name
    required: tuple[str, ...] = ()  # splits its readers need
    tfds: bool = False  # a build writes the TFDS metadata (fastdraw.dataset.tfds)

    @property
    def sharded(self) -> bool:
        """Whether its data files are TFRecord shards of each split (else a file a class)."""
        return self.extension is None

    @property
    def sealed(self) -> tuple[str, ...]:
        """The files beside the data files that the manifest's ``files`` seals."""
        return (*((self.labels,) if self.labels else ()), COUNTS, REJECTED)

    def stem(self, split: str) -> str:
        """What a shard of ``split`` is named before its ``-%05d-of-%05d``."""
        return self.renamed.get(split, split) + self.suffix

    def split_problem(self, splits: Iterable[str]) -> str | None:
        """Why splits with these names cannot be written in this layout, or None."""
        splits = list(splits)
        if missing := [s for s in self.required if s not in splits]:
            return (f"splits {', '.join(splits)}: the {self.name} layout's readers need the "
                    f"splits {', '.join(self.required)} (give =0 for one you want empty); "
                    f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing")
        stems = [self.stem(s) for s in splits]
        if len(set(stems)) < len(stems):
            twice = next(s for s in stems if stems.count(s) > 1)
            return (f"splits {', '.join(splits)}: two would be written to {twice}-*-of-* "
                    f"in the {self.name} layout (its train split's files are "
                    "training.tfrecord-*); rename one")
        for split in splits if self.sharded else ():
            read = self.parse_shard(self.shard_name(split, 0, 1))
            if read is None or read.split != split:
                return (f"split {split!r}: its files, {self.stem(split)}-*-of-*, would be read "
                        f"back as {'no split' if read is None else f'split {read.split!r}'} "
                        f"in the {self.name} layout; rename it")
        return None

    def shard_name(self, split: str, index: int, shards: int) -> str:
        """File name of shard ``index`` of ``shards`` of a split."""
        return f"{self.stem(split)}-{index:05d}-of-{shards:05d}"

    def shard_names(self, splits: Iterable[str], shards: int) -> list[str]:
        """Every shard's file name, splits in order."""
        return [self.shard_name(split, i, shards) for split in splits for i in range(shards)]

    def parse_shard(self, name: str) -> Shard | None:
        """(split, index, count) of a shard file name of this layout, or None."""
        if not self.sharded or (m := SHARD_RE.fullmatch(name)) is None:
            return None
        stem = m["split"]
        base = stem[:len(stem) - len(self.suffix)]
        if not base or not stem.endswith(self.suffix):
            return None
        split = next((s for s, renamed in self.renamed.items() if renamed == base), base)
        if self.stem(split) != stem:  # the split's files have another name
            return None
        return Shard(split, int(m["index"]), int(m["count"]))

    def class_file(self, name: str) -> str:
        """The file of class ``name`` (layouts with one file per class)."""
        assert self.extension is not None, f"the {self.name} layout has no file per class"
        return f"{name}{self.extension}"

    def labels_bytes(self, classes: Sequence[str]) -> bytes:
        """The class-names file's bytes."""
        text = "".join(f"{c}\n" for c in classes) if self.labels_newline else "\n".join(classes)
        return text.encode("utf-8")

    def parse_labels(self, text: str) -> list[str]:
        """The class names of the class-names file's text (a missing final newline, where
        every name ends with one, leaves the last name as it is)."""
        if self.labels_newline and text.endswith("\n"):
            text = text[:-1]
        return text.split("\n")


NOTEBOOK = Layout("notebook", LABELS, False, None, tfds=True)
RNN_TUTORIAL = Layout("rnn-tutorial", "training.tfrecord.classes", True, None, ".tfrecord",
                      {"train": "training"})
SKETCH_RNN = Layout("sketch-rnn", None, False, ".npz", required=("train", "valid", "test"))
LAYOUTS = {layout.name: layout for layout in (NOTEBOOK, RNN_TUTORIAL, SKETCH_RNN)}
_OWN = {COUNTS, MANIFEST, REJECTED, DATASET_INFO, FEATURES,
        *(lay.labels for lay in LAYOUTS.values() if lay.labels)}  # every layout's own names


def layout_of(codec: Codec | str) -> Layout:
    """The layout of a kind's datasets (a codec or a kind's name)."""
    return LAYOUTS[(CODECS[codec] if isinstance(codec, str) else codec).layout]


def found_layout(path: str | Path, manifest: dict[str, Any] | None = None) -> Layout:
    """The layout of the dataset directory ``path``: its manifest's kind's (default: the
    dataset's manifest), else the one its files are named in (the notebook's when none
    tells)."""
    if manifest is None:
        manifest = read_manifest(path)
    if manifest is not None and isinstance(kind := manifest.get("kind"), str) and kind in CODECS:
        return layout_of(kind)
    names = [p.name for p in Path(path).iterdir()]
    if RNN_TUTORIAL.labels in names or any(RNN_TUTORIAL.parse_shard(n) for n in names):
        return RNN_TUTORIAL
    if not any(NOTEBOOK.parse_shard(n) for n in names) and any(
            n.endswith(SKETCH_RNN.extension) for n in names):
        return SKETCH_RNN
    return NOTEBOOK


def pinned(path: str | Path) -> Path:
    """The directory ``path`` leads to now, its links resolved once: a reader that reads it
    reads one build to its end, or fails (no such file) once a replacement has removed it;
    never a mix of two builds, as reading through the link file by file could."""
    return Path(os.path.realpath(path))


def is_data_file(name: str) -> bool:
    """Whether a file of this name is a data file of some layout (a shard, a class's file)."""
    return any(lay.parse_shard(name) or (lay.extension and name.endswith(lay.extension))
               for lay in LAYOUTS.values())


def is_dataset_file(name: str) -> bool:
    """Whether a file of this name is one a dataset of some layout holds (shards or class
    files, the class-names file, counts.json, manifest.json, rejected.ndjson, the TFDS
    metadata)."""
    return name in _OWN or name.endswith(TFDS_LABELS_SUFFIX) or is_data_file(name)


def datasets_in(path: Path) -> list[str]:
    """The names of the directories in ``path`` (or links to them) that hold a manifest or a
    class-names file, sorted: the datasets of an --out directory."""
    names = [lay.labels for lay in LAYOUTS.values() if lay.labels] + [MANIFEST]
    return sorted(p.name for p in path.iterdir()
                  if p.is_dir() and any(os.path.lexists(p / n) for n in names))


def foreign_entries(path: Path) -> list[str]:
    """What directory ``path`` holds besides a dataset's files (`is_dataset_file`), sorted;
    directories end with '/'."""
    return sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir()
                  if not is_dataset_file(p.name) or p.is_dir())


def shard_name(split: str, index: int, shards: int) -> str:
    """File name of shard ``index`` of ``shards`` of a split, in the notebook's layout."""
    return NOTEBOOK.shard_name(split, index, shards)


def file_entry(size: int, sha256: str) -> dict[str, Any]:
    """A file's entry in the manifest's ``files``."""
    return {"bytes": size, "sha256": sha256}


def _write(file: Path, data: bytes) -> dict[str, Any]:
    file.write_bytes(data)
    return file_entry(len(data), hashlib.sha256(data).hexdigest())


def write_labels(path: Path, classes: Sequence[str], layout: Layout = NOTEBOOK
                 ) -> dict[str, Any]:
    """Writes the layout's class-names file (labels.txt); returns its entry for the
    manifest's ``files``."""
    assert layout.labels is not None, f"the {layout.name} layout has no class-names file"
    return _write(path / layout.labels, layout.labels_bytes(classes))


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


def tfds_names(codec: Codec, classes: int) -> list[str]:
    """The TFDS files of a dataset of ``codec`` with ``classes`` classes."""
    return [DATASET_INFO, FEATURES, *(f"{name}{TFDS_LABELS_SUFFIX}"
                                      for name in tfds.class_label_features(codec, classes))]


def _tfds_shards(manifest: dict[str, Any]) -> dict[str, list[str]]:
    """Every split's shards that the manifest lists, sorted, the splits sorted."""
    return {split: sorted(n for n in manifest["shards"]
                          if (m := SHARD_RE.fullmatch(n)) and m["split"] == split)
            for split in sorted(manifest["options"]["splits"])}


def shard_sizes(path: Path, manifest: dict[str, Any]) -> dict[str, int]:
    """The sizes on disk of the shards of the dataset at ``path`` that its manifest lists (what
    `tfds_contents` takes; OSError when one cannot be looked at)."""
    return {n: os.stat(path / n).st_size for names in _tfds_shards(manifest).values()
            for n in names}


def tfds_contents(manifest: dict[str, Any], codec: Codec, labels: bytes,
                  sizes: Mapping[str, int]) -> dict[str, bytes]:
    """The bytes of the TFDS files of a dataset (fastdraw.dataset.tfds), by name: from its
    manifest (kind, name, classes, options, shards), codec, labels.txt's bytes and the
    ``sizes`` of its shards as written (by name)."""
    split_shards = _tfds_shards(manifest)
    classes = len(manifest["classes"])
    names = tfds_names(codec, classes)
    return {names[0]: tfds.dataset_info_json(
                manifest, codec, split_shards,
                {n: sizes[n] for names in split_shards.values() for n in names}),
            names[1]: tfds.features_json(codec, classes),
            **{name: labels for name in names[2:]}}


def write_tfds(path: Path, manifest: dict[str, Any], codec: Codec, labels: bytes,
               sizes: Mapping[str, int]) -> dict[str, Any]:
    """Writes the TFDS files of the dataset at ``path`` (``manifest`` without ``files``;
    ``labels``: labels.txt's bytes; ``sizes``: its shards' sizes as written, by name); returns
    their entries for the manifest's ``files``.  ``path`` may be another storage's path with
    ``/`` and ``write_bytes`` (the Beam build's): nothing is read back."""
    return {name: _write(path / name, data)
            for name, data in tfds_contents(manifest, codec, labels, sizes).items()}


def shard_compression(path: str | Path, manifest: dict[str, Any] | None) -> str:
    """The compression of the shards of the dataset at ``path`` (none without a manifest, or
    in one written before compression was an option); ValueError for one this version
    cannot read."""
    options = (manifest or {}).get("options") or {}
    if not isinstance(options, dict):
        raise _damaged(path, f"options is {_json_text(options)}, not an object of the build's "
                       "options")
    compression = options.get("compression", "none")
    if compression not in COMPRESSIONS:
        raise ValueError(f"{Path(path) / MANIFEST}: the shards' compression is "
                         f"{compression!r}, which this version of fastdraw cannot read (it "
                         f"reads {', '.join(COMPRESSIONS)}); a newer fastdraw wrote it?")
    return compression


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Writes manifest.json, sealed with its MANIFEST_SHA256."""
    (path / MANIFEST).write_bytes(manifest_bytes(
        {**manifest, MANIFEST_SHA256: manifest_sha256(manifest)}))


def _json_text(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _damaged(path: str | Path, what: str) -> ValueError:
    """The error of a manifest whose field is not as a build writes it."""
    return ValueError(f"{Path(path) / MANIFEST}: {what}; rebuild the dataset, or check it "
                      f"with: python -m fastdraw verify {path}")


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


def read_labels(path: str | Path, layout: Layout | None = None) -> list[str]:
    """Class names of the dataset's class-names file (labels.txt), in label order; of a
    layout with none, its manifest's classes."""
    layout = layout or found_layout(path)
    if layout.labels is None:
        manifest = read_manifest(path) or {}
        if not isinstance(manifest.get("classes"), list):
            raise FileNotFoundError(f"{path}: no manifest.json giving its classes; is it a "
                                    "built dataset directory?")
        return list(manifest["classes"])
    file = Path(path) / layout.labels
    try:
        data = read_bounded(file, LABELS_LIMIT, LABELS_HOLDS)
    except FileNotFoundError:
        if inner := datasets_in(Path(path)):
            raise FileNotFoundError(f"{path} is not a dataset, it holds datasets "
                                    f"({', '.join(inner)}): give one of them, such as "
                                    f"{Path(path) / inner[0]}") from None
        raise FileNotFoundError(f"{file}: no {layout.labels}; is {path} a built dataset "
                                "directory?") from None
    try:
        return layout.parse_labels(data.decode("utf-8"))
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
    layout = found_layout(path, manifest)
    if not layout.sharded:
        raise ValueError(f"{path} is a dataset of the {layout.name} layout, one "
                         f"<class>{layout.extension} file per class, not of TFRecord shards")
    listed = manifest["shards"] if manifest is not None and "shards" in manifest else \
        [p.name for p in path.iterdir()]
    if not isinstance(listed, (dict, list)) or not all(isinstance(n, str) for n in listed):
        raise _damaged(path, f"shards is {_json_text(listed)}, not an object of the shard "
                       "files' names")
    every = [(n, s) for n in listed if (s := layout.parse_shard(n))]
    names = [n for n, s in every if s.split == split]
    if not names:
        splits = sorted({s.split for _, s in every})
        raise FileNotFoundError(
            f"{path}: no shards of split {split!r} (expected files "
            f"{layout.stem(split)}-00000-of-NNNNN); "
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
        kind, options = manifest["kind"], manifest.get("options", {})
        if not isinstance(kind, str):
            raise _damaged(path, f"kind is {_json_text(kind)}, not a dataset kind's name")
        if not isinstance(options, dict):
            raise _damaged(path, f"options is {_json_text(options)}, not an object of the "
                           "build's options")
        try:
            codec = codec_for(kind, options)
        except ValueError as e:
            raise ValueError(f"{Path(path) / MANIFEST}: {e}, so it cannot read the dataset; a "
                             "newer fastdraw wrote it?") from None
        except TypeError as e:
            raise _damaged(path, f"its options are not {kind}'s ({e})") from None
        try:
            codec.check_options()
        except ValueError as e:
            raise _damaged(path, f"its options cannot be a build's ({e})") from None
        return codec
    shard, features = first_record(path)
    codec = codec_of_features(features)
    if codec is None:
        raise ValueError(f"{shard}: its first record's features ({', '.join(sorted(features))}) "
                         f"are of no dataset kind fastdraw knows; is {path} a built dataset?")
    return codec


def first_record(path: str | Path) -> tuple[Path, dict]:
    """(shard, features) of the first record of the first shard, in name order, that has one."""
    layout = found_layout(path)
    names = sorted(p.name for p in Path(path).iterdir() if layout.parse_shard(p.name))
    if not names:
        raise FileNotFoundError(f"{path}: no shard files")
    for name in names:
        for record in read_records(Path(path) / name):
            return Path(path) / name, parse_example(record)
    raise ValueError(f"{path}: its shards hold no records")
