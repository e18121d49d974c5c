"""`python -m fastdraw verify DATASET_DIR`: check that a built dataset is whole and consistent.

Shard names, the class-names file and the sealed files are the dataset's layout's
(fastdraw.dataset.layout: the notebook's, the RNN tutorial's); a layout of one file per class
(sketch-rnn's ``<class>.npz``) gets `_check_class_files` instead of the shard checks below.

Checks every expected shard exists (the splits of counts.json times options.shards of
the manifest) and no stray shard lies beside them; reads every record through its TFRecord
framing and CRCs; parses every record as a tf.train.Example and checks its features (the
kind's feature set and types, label in range of labels.txt, word equal to its label's class,
image size and pixel range, stroke lengths and pen flags); compares record counts with the
manifest and counts.json, each shard's sha256 with the manifest, and finds key_ids that occur
twice, saying whether in two splits (which leaks test data into training), in two shards
of a split or within a shard.  Checks the manifest
itself: every field and option of the shape a build writes (no unknown or missing key),
options.splits against counts.json, its bytes canonical and sealed by its manifest_sha256,
and the size and sha256 of labels.txt, counts.json, rejected.ndjson and the TFDS metadata
(dataset_info.json, features.json, label.labels.txt) against its files, and that metadata
against what the build writes for the manifest; so a single changed byte anywhere fails.
Shards compressed as the manifest's options.compression says are read inflated (their
sha256 is of the file as written); a png image is read as a PNG.  A directory of the
notebook's layout (no manifest, no rejected lines) gets the checks its files allow.
TensorFlow-free, every file opened as a regular file and read within a bound, each shard
read once, a window at a time, so memory does not grow with the dataset.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing as mp
import os
import re
import zipfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fastdraw.codecs import CODECS, KINDS, Codec, codec_for, codec_of_features, proto
from fastdraw.codecs.img import ENCODINGS
from fastdraw.codecs.proto import (
    COUNT,
    FIRST,
    ITEM_HASH,
    ITEM_LEN,
    ITEM_START,
    KIND,
    KIND_BYTES,
    KIND_FLOAT,
    KIND_INT64,
    KIND_NONE,
    NAME_HASH,
    NAME_LEN,
    NAME_START,
    REC,
    SCAN_ERRORS,
    name_hash,
    scan_examples,
)
from fastdraw.cpus import usable_cpus
from fastdraw.dataset import tfrecord
from fastdraw.dataset.files import open_regular, read_bounded, size_text
from fastdraw.dataset.layout import (
    COUNTS,
    COUNTS_HOLDS,
    COUNTS_LIMIT,
    DATASET_INFO,
    FORMAT,
    LABELS_HOLDS,
    LABELS_LIMIT,
    MANIFEST,
    MANIFEST_HOLDS,
    MANIFEST_LIMIT,
    MANIFEST_SHA256,
    REJECTED,
    REJECTED_LINE_LIMIT,
    TFDS_HOLDS,
    TFDS_LIMIT,
    Layout,
    datasets_in,
    file_entry,
    found_layout,
    is_dataset_file,
    manifest_bytes,
    manifest_sha256,
    pinned,
    read_manifest,
    shard_sizes,
    tfds_contents,
    tfds_names,
)
from fastdraw.dataset.npz import check_member, member_problem
from fastdraw.dataset.tfrecord import COMPRESSIONS, MAX_RECORD, read_windows
from fastdraw.errors import CorruptRecordError, DatasetFileError
from fastdraw.sources.classes import class_name_problem

_PARALLEL_BYTES = 16 << 20


@dataclass
class Report:
    """What verify found: problems (empty when all holds) and what was checked."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was not checked, and why
    kind: str = "?"
    classes: int = 0
    split_records: dict[str, int] = field(default_factory=dict)
    shards: int = 0
    verified: list[str] = field(default_factory=list)  # what was checked, for the summary
    files: str = "shards"  # what its data files are, for the summary


def verify_dataset(path: str | Path, workers: int | None = None) -> list[str]:
    """Problems found in the built dataset at `path`, each naming the file; [] when it is sound."""
    return check(path, workers).problems


def check(path: str | Path, workers: int | None = None) -> Report:
    """Runs every check of a built dataset directory (see the module docstring).  A directory
    with neither manifest.json nor rejected.ndjson is of the notebook's layout (written by
    its make_sharded_files or the drop-in): its shards, labels.txt and counts.json (if any)
    are checked, and a note says what fastdraw's extras would have let verify check.

    Shards are checked in `workers` processes (default: the usable CPUs, one process for
    datasets under 16 MB, where starting processes costs more than it saves).  The dataset
    is read in the build `path` leads to when the check starts (layout.pinned).
    """
    given, path = Path(path), pinned(path)
    report = Report()
    problems = report.problems
    if not path.is_dir():
        problems.append("not a directory (give the path of a built dataset, such as data/zoo_img)")
        return report
    if not any(is_dataset_file(p.name) for p in path.iterdir()):
        if inner := datasets_in(path):
            problems.append(f"not a dataset, a directory of datasets ({', '.join(inner)}): "
                            f"verify each, such as: python -m fastdraw verify {given / inner[0]}")
        else:
            problems.append("not a dataset: no manifest.json, labels.txt or shard file (give "
                            "the path of a built dataset, such as data/zoo_img)")
        return report
    seen: dict[str, dict] = {}  # the size and sha256 of every metadata file read
    layout = _layout(path)
    if not layout.sharded:
        return _check_class_files(path, layout, report, seen)
    labels = _labels(path, layout, problems, seen)
    # The notebook's layout (its make_sharded_files, or fastdraw's drop-in of it) and the
    # RNN tutorial's (its create_dataset.py) have neither manifest.json nor rejected.ndjson,
    # which every build writes.
    notebook = not any(os.path.lexists(path / name) for name in (MANIFEST, REJECTED))
    manifest = {} if notebook else _manifest(path, layout, problems, report.notes)
    counts = None if notebook and not os.path.lexists(path / COUNTS) else \
        _counts(path, problems, seen)
    if notebook:
        report.notes.append(_notebook_note(layout, counts is not None))
    report.verified = ["framing", "CRCs", *(["sha256"] if "shards" in manifest else []),
                       *(["counts"] if counts is not None else []), "labels", "features"]
    options = manifest.get("options", {})
    if labels is not None and "classes" in manifest and manifest["classes"] != labels:
        problems.append(f"manifest.json: classes differ from {layout.labels}")
    entries = {p.name: p for p in path.iterdir() if layout.parse_shard(p.name)}
    on_disk_splits = sorted({layout.parse_shard(name).split for name in entries})
    if counts is not None:
        splits = list(counts)
    elif "splits" in options:
        splits = list(options["splits"])
    else:  # no metadata (a notebook-made dataset, say): check the shards on disk
        splits = on_disk_splits
    if counts is not None:
        if uncounted := [s for s in on_disk_splits if s not in counts]:
            problems.append(f"counts.json: no count for split(s) {', '.join(uncounted)}, "
                            f"which have shard files (counts.json gives every split's records)")
        if "splits" in options and set(counts) != set(options["splits"]):
            problems.append(f"counts.json: splits {', '.join(sorted(counts))} differ from "
                            f"manifest.json's options.splits "
                            f"({', '.join(sorted(options['splits'])) or 'none'})")
    _check_splits(manifest, counts, problems)
    expected = _expected_shards(path, layout, splits, options.get("shards"), problems)
    listed = manifest.get("shards")
    for name in listed or {}:
        if name not in expected:
            problems.append(f"manifest.json: lists shard {name}, which is not expected")
    for name in sorted(name for name in entries if name not in expected):
        problems.append(f"{name}: unexpected shard file (not in the splits and shard count of "
                        f"counts.json / manifest.json); a glob would read it too")
    globs = {f"{layout.stem(split)}-": split for split in {*splits, *on_disk_splits}}
    for name in sorted(p.name for p in path.iterdir() if p.name not in entries):
        if glob := next((g for g in globs if name.startswith(g)), None):
            problems.append(f"{name}: not a shard file, but a glob of the {globs[glob]} split's "
                            f"shards ({glob}*) would read it as one; remove it")
        elif not notebook and not is_dataset_file(name):
            report.notes.append(f"{name}: not a file of the build (the dataset's files are "
                                "those manifest.json lists; its checks leave this one alone)")
    report.classes = len(labels or [])
    present = []
    for split in splits:
        names = expected.of_split(split, entries)
        missing = expected.shards - len(names)
        first = expected.first_missing(split, names)
        if missing <= _MISSING_NAMED:
            problems.extend(f"{name}: missing shard file" for name in first)
        elif missing:
            problems.append(f"{first[0]}: missing shard file, as are {missing - 1} more of "
                            f"split {split}'s {expected.shards} (such as {first[1]}); is the "
                            f"shard count, options.shards of manifest.json, right?")
        for name in names:
            if not entries[name].is_file():
                what = "a directory" if entries[name].is_dir() else "not a regular file"
                problems.append(f"{name}: is {what}, not a shard file (a TFRecord file of the "
                                f"split's records); remove it and rebuild the dataset")
                continue
            present.append(name)
            if listed is not None and name not in listed:
                problems.append(f"{name}: no {{records, sha256}} entry in manifest.json's "
                                f"shards, so its sha256 and record count cannot be checked")
    readable = "unreadable" not in manifest
    job = _ShardJob(labels, _manifest_codec(manifest, problems) if readable else None, options,
                    layout.labels, options.get("compression", "none"), readable)
    if not readable:
        report.notes.append("the shards' records were not read (this version of fastdraw "
                            "cannot read them): only their sha256 was checked")
        report.verified = ["sha256"]
    results = _run(job, [path / name for name in present], workers)
    totals: Counter[str] = Counter()
    kinds = Counter(r.kind for r in results if r.kind)
    if len(kinds) > 1:
        problems.append(f"shards disagree on the dataset kind: {dict(kinds)}")
    for r in results:
        problems.extend(r.problems)
        listed_shard = (listed or {}).get(r.name)
        if listed_shard is not None:
            if r.sha256 is not None and r.sha256 != listed_shard["sha256"]:
                problems.append(f"{r.name}: sha256 {r.sha256} differs from manifest.json's "
                                f"{listed_shard['sha256']}")
            if readable and r.records != listed_shard["records"]:
                problems.append(f"{r.name}: holds {r.records} records, manifest.json says "
                                f"{listed_shard['records']}")
        totals[layout.parse_shard(r.name).split] += r.records
    report.shards = len(results)
    report.kind = manifest.get("kind") or (kinds.most_common(1)[0][0] if kinds else "?")
    report.split_records = {s: totals[s] for s in splits}
    for split, want in (counts or {}).items() if readable else ():
        if not _is_count(want):
            problems.append(f"counts.json: {split} is {_describe(want)}, not a whole number of "
                            f"records; its shards hold {totals[split]}")
        elif totals[split] != want:
            problems.append(f"counts.json: {split} has {want} records, its shards hold "
                            f"{totals[split]}")
    if readable and "records" in manifest and manifest["records"] != sum(totals.values()):
        problems.append(f"manifest.json: records is {manifest['records']}, the shards hold "
                        f"{sum(totals.values())}")
    problems.extend(_duplicate_problems(layout, results))
    if not notebook:
        _check_rejected(path, manifest, problems, seen)
        # A shard that is not as the manifest has it is a problem said already: the TFDS
        # metadata then lists a size of the shards that are not there.
        sound = len(results) == len(listed or ()) and all(
            r.sha256 is not None and r.sha256 == listed.get(r.name, {}).get("sha256")
            for r in results)
        if layout.tfds and _check_tfds(path, manifest, job.codec, labels, sound, problems, seen,
                                       report.notes):
            report.verified.insert(-1, "TFDS metadata")
    _check_sealed(manifest, seen, problems)
    if problems and not path.exists():  # what was read is gone: its problems are no news
        report.problems = [f"the dataset was replaced by another build while verify read it "
                           f"({path} is gone): run verify again"]
    return report


_WRITERS = {"notebook": "the notebook's layout (as its make_sharded_files writes)",
            "rnn-tutorial": "the RNN tutorial's layout (as its create_dataset.py writes)"}


def _layout(path: Path) -> Layout:
    """The dataset's layout: its manifest's kind's, else told by its files."""
    try:
        manifest = read_manifest(path)
    except (OSError, ValueError, DatasetFileError):
        manifest = None  # said when the manifest is checked
    return found_layout(path, manifest or {})


def _check_class_files(path: Path, layout: Layout, report: Report, seen: dict[str, dict]
                       ) -> Report:
    """The checks of a dataset of one file per class (sketch-rnn's ``<class>.npz``): the
    manifest, counts.json and rejected.ndjson as in every layout; one file per class of the
    manifest and no other, each of the sha256 and records the manifest gives, holding one
    array per split of the manifest's splits (every pickle byte of the form a build writes,
    never unpickled; every drawing stroke-3 with the split's count of drawings)."""
    problems = report.problems
    report.files, report.kind = "class files", "?"
    if not os.path.lexists(path / MANIFEST):
        problems.append(f"no manifest.json: a directory of <class>{layout.extension} files "
                        "is checked against the manifest a build writes")
        return report
    manifest = _manifest(path, layout, problems, report.notes)
    counts = _counts(path, problems, seen)
    report.kind = manifest.get("kind", "?")
    report.verified = ["zip files", "pickles", "sha256", "counts", "drawings"]
    classes = manifest.get("classes", [])
    splits = manifest.get("options", {}).get("splits", {})
    report.classes = len(classes)
    _check_splits(manifest, counts, problems, layout)
    expected = {}
    for c in classes:
        bad = class_name_problem(c) if isinstance(c, str) else "is not a string"
        if bad:  # its file would be outside the dataset, or not a file name at all
            problems.append(f"manifest.json: class name {c!r} {bad}, so it names no class "
                            "file of the dataset; rebuild the dataset")
        else:
            expected[layout.class_file(c)] = c
    on_disk = sorted(p.name for p in path.iterdir() if p.name.endswith(layout.extension))
    for name in on_disk:
        if name not in expected:
            problems.append(f"{name}: unexpected (not a class of manifest.json)")
    listed = manifest.get("shards", {})
    for name in listed:
        if name not in expected:
            problems.append(f"manifest.json: lists {name}, which is not a class's file")
    totals: Counter[str] = Counter()
    for name in expected:
        file = path / name
        if not os.path.lexists(file):
            problems.append(f"{name}: missing class file")
            continue
        records, sha256 = _check_class_file(file, splits, totals, problems)
        report.shards += 1
        want = listed.get(name)
        if want is None:
            problems.append(f"{name}: no {{records, sha256}} entry in manifest.json's shards")
            continue
        if sha256 is not None and sha256 != want["sha256"]:
            problems.append(f"{name}: sha256 {sha256} differs from manifest.json's "
                            f"{want['sha256']}")
        if records != want["records"]:
            problems.append(f"{name}: holds {records} drawings, manifest.json says "
                            f"{want['records']}")
    report.split_records = {s: totals[s] for s in splits}
    for split, want_count in (counts or {}).items():
        if totals[split] != want_count:
            problems.append(f"counts.json: {split} has {want_count} records, the class files "
                            f"hold {totals[split]}")
    if "records" in manifest and manifest["records"] != sum(totals.values()):
        problems.append(f"manifest.json: records is {manifest['records']}, the class files "
                        f"hold {sum(totals.values())}")
    _check_rejected(path, manifest, problems, seen)
    _check_sealed(manifest, seen, problems)
    if problems and not path.exists():
        report.problems = [f"the dataset was replaced by another build while verify read it "
                           f"({path} is gone): run verify again"]
    return report


def _check_class_file(file: Path, splits: dict[str, int], totals: Counter[str],
                      problems: list[str]) -> tuple[int, str | None]:
    """(drawings, sha256 or None when unreadable) of one class file; its problems added."""
    try:
        sha256 = _sha256(file)
        with zipfile.ZipFile(open_regular(file)) as z:
            members = z.namelist()
            want = [f"{split}.npy" for split in splits]
            if sorted(members) != sorted(want):
                problems.append(f"{file.name}: holds {', '.join(members) or 'nothing'}, not "
                                f"{', '.join(want)} (an array a split)")
            records = 0
            for split, per_class in splits.items():
                if f"{split}.npy" not in members:
                    continue
                info = z.getinfo(f"{split}.npy")
                n, problem = 0, member_problem(info)
                if problem is None:
                    with z.open(info) as member:
                        n, problem = check_member(member)
                records += n
                totals[split] += n
                if problem:
                    problems.append(f"{file.name}: {split}: {problem}")
                elif n != per_class:
                    problems.append(f"{file.name}: {split} holds {n} drawings, manifest.json's "
                                    f"options.splits gives {per_class} a class")
            return records, sha256
    except (OSError, DatasetFileError, zipfile.BadZipFile, NotImplementedError) as e:
        problems.append(f"{file.name}: cannot be read as a zip file ({e})")
        return 0, None


def _notebook_note(layout: Layout, counted: bool) -> str:
    """What verify says of a directory of the notebook's (or the RNN tutorial's) layout
    without fastdraw's extras: what it checked, what not."""
    absent = [MANIFEST, REJECTED] if counted else [MANIFEST, COUNTS, REJECTED]
    checked = ["its shards (framing, CRCs, every record parsed and checked)", layout.labels,
               *([COUNTS] if counted else [])]
    return (f"no {', '.join(absent)}: a directory of {_WRITERS[layout.name]}, of which "
            f"{', '.join(checked[:-1])} and "
            f"{checked[-1]} are verified; fastdraw's extras are absent, so each shard's "
            "sha256 and record count, the build's options and its rejected lines are not")


def _unreadable(file: Path, e: OSError | DatasetFileError, problems: list[str]) -> None:
    """Says why a metadata file could not be read, naming it by its name only."""
    if isinstance(e, FileNotFoundError):
        dangling = f" (a symbolic link to {os.readlink(file)}, which does not exist)" \
            if os.path.islink(file) else ""
        problems.append(f"{file.name}: missing{dangling}")
    elif isinstance(e, DatasetFileError):
        problems.append(f"{file.name}: {str(e).removeprefix(f'{file}: ')}")
    else:
        problems.append(f"{file.name}: cannot be read ({e.strerror or e})")


def _bytes(file: Path, limit: int, holds: str, problems: list[str],
           seen: dict[str, dict] | None = None) -> bytes | None:
    """The bytes of a metadata file of at most ``limit`` bytes (``holds`` says what it
    holds), or None after saying why it cannot be read.  ``seen`` gets the file's size and
    sha256, as the manifest's ``files`` give them."""
    try:
        data = read_bounded(file, limit, holds)
    except (OSError, DatasetFileError) as e:
        _unreadable(file, e, problems)
        return None
    if seen is not None:
        seen[file.name] = file_entry(len(data), hashlib.sha256(data).hexdigest())
    return data


def _text(file: Path, limit: int, holds: str, problems: list[str],
          seen: dict[str, dict] | None = None) -> str | None:
    """The UTF-8 text of a metadata file, as ``_bytes`` reads it, or None after saying why
    there is none."""
    data = _bytes(file, limit, holds, problems, seen)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        problems.append(f"{file.name}: not UTF-8 text ({e})")
    return None


def _labels(path: Path, layout: Layout, problems: list[str], seen: dict[str, dict]
            ) -> list[str] | None:
    """The class names of the layout's class-names file (labels.txt)."""
    text = _text(path / layout.labels, LABELS_LIMIT, LABELS_HOLDS, problems, seen)
    if text is None:
        return None
    labels = layout.parse_labels(text)
    if len(set(labels)) != len(labels) or "" in labels:
        problems.append(f"{layout.labels}: has empty or repeated class names (or a "
                        + ("missing or extra newline at its end)" if layout.labels_newline
                           else "trailing newline)"))
    elif layout.labels_bytes(labels) != text.encode("utf-8"):
        problems.append(f"{layout.labels}: its last class name does not end with a newline, "
                        "as every other does")
    return labels


_UNREAD = object()  # what _parse gives for a file it could not read (JSON's null is None)


def _parse(file: Path, text: str | None, problems: list[str]) -> Any:
    """The JSON value of a metadata file's text, or _UNREAD after saying why there is none."""
    if text is None:
        return _UNREAD
    try:
        return json.loads(text)
    except ValueError as e:
        problems.append(f"{file.name}: not valid JSON ({e})")
    except RecursionError:
        problems.append(f"{file.name}: not valid JSON (nested too deep)")
    return _UNREAD


def _is_count(value: Any) -> bool:
    """A whole number of records (JSON's true and false are not)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_sha256(value: Any) -> bool:
    """A sha256 as the build writes it: 64 lowercase hex digits."""
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


_SHA256 = re.compile("[0-9a-f]{64}")


def _describe(value: Any) -> str:
    """A JSON value for a message, with its type: 'the string "40"', 'an array [1, 2]'."""
    kind = {str: "the string", bool: "the boolean", int: "the number", float: "the number",
            list: "an array", dict: "an object"}.get(type(value))  # None: null
    text = json.dumps(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{kind} {text}" if kind else text


_COUNTS_SHAPE = 'an object of records per split, such as {"train": 70, "eval": 10, "test": 10}'


def _counts(path: Path, problems: list[str], seen: dict[str, dict]) -> dict[str, Any] | None:
    """counts.json's object of records per split (values checked against the shards later),
    or None when it is missing or not such an object."""
    file = path / COUNTS
    counts = _parse(file, _text(file, COUNTS_LIMIT, COUNTS_HOLDS, problems, seen), problems)
    if counts is _UNREAD:
        return None
    if not isinstance(counts, dict):
        problems.append(f"counts.json: is {_describe(counts)}, not {_COUNTS_SHAPE}")
        return None
    if not counts:
        problems.append(f"counts.json: is empty, not {_COUNTS_SHAPE}")
        return None
    return counts


_MANIFEST_FIELDS = ("format", "kind", "name", "classes", "options", "versions", "made_with",
                    "records", "rejected", "shards", "files", MANIFEST_SHA256)
_SEALING = ("files", MANIFEST_SHA256)  # fields a manifest written before them lacks
_LATER = ("made_with",)  # a field manifests written before the image encodings lack


def _manifest(path: Path, layout: Layout, problems: list[str], notes: list[str]
              ) -> dict[str, Any]:
    """manifest.json's fields that have the shape the build writes them in ({} when it is
    missing or not an object); says which fields lack or have another shape, and drops them.
    Checks its bytes are its canonical JSON and its manifest_sha256 seals them."""
    file = path / MANIFEST
    text = _text(file, MANIFEST_LIMIT, MANIFEST_HOLDS, problems)
    manifest = _parse(file, text, problems)
    if not isinstance(manifest, dict):
        if manifest is not _UNREAD:
            problems.append(f"manifest.json: is {_describe(manifest)}, not an object "
                            f"(the build writes {', '.join(_MANIFEST_FIELDS)})")
        return {}
    out: dict[str, Any] = {}

    def bad(field: str, value: Any, want: str) -> None:
        problems.append(f"manifest.json: {field} is {_describe(value)}, not {want}")

    _check_sealing(manifest, text.encode("utf-8"), problems, notes)
    unsealed = not any(name in manifest for name in _SEALING)
    later = _written_later(manifest)
    if lacking := [name for name in _MANIFEST_FIELDS
                   if name not in manifest and not (unsealed and name in _SEALING)
                   and (later or name not in _LATER)]:
        problems.append(f"manifest.json: lacks {', '.join(lacking)} (the build writes "
                        f"{', '.join(_MANIFEST_FIELDS)}); rebuild the dataset")
    if unknown := [name for name in manifest if name not in _MANIFEST_FIELDS]:
        problems.append(f"manifest.json: unknown field(s) {', '.join(map(repr, unknown))} (the "
                        f"build writes {', '.join(_MANIFEST_FIELDS)})")
    if "format" in manifest and manifest["format"] != FORMAT:
        problems.append(f"manifest.json: format is {_describe(manifest['format'])}, "
                        f"not {FORMAT!r}")
    if "kind" in manifest:
        if manifest["kind"] in KINDS:
            out["kind"] = manifest["kind"]
        else:
            bad("kind", manifest["kind"], " or ".join(f'"{k}"' for k in KINDS))
    if "name" in manifest:
        if isinstance(manifest["name"], str):
            out["name"] = manifest["name"]
        else:
            bad("name", manifest["name"], "the dataset's name (a string)")
    if "classes" in manifest:
        classes = manifest["classes"]
        if isinstance(classes, list) and all(isinstance(c, str) for c in classes):
            out["classes"] = classes
        else:
            bad("classes", classes, "an array of class names")
    if "versions" in manifest:
        versions = manifest["versions"]
        if isinstance(versions, dict) and all(isinstance(v, str) for v in versions.values()):
            out["versions"] = versions
        else:
            bad("versions", versions, 'an object of versions by package, such as '
                                      '{"fastdraw": "1.0"}')
    for name in ("records", "rejected"):
        if name in manifest:
            if _is_count(manifest[name]):
                out[name] = manifest[name]
            else:
                bad(name, manifest[name], "a whole number")
    if "options" in manifest:
        out["options"] = _manifest_options(manifest["options"], out.get("kind"), layout, later,
                                           bad, problems)
        if isinstance(options := manifest["options"], dict) and (
                options.get("img_encoding", ENCODINGS[0]) not in ENCODINGS
                or options.get("compression", COMPRESSIONS[0]) not in COMPRESSIONS):
            out["unreadable"] = True
    if "made_with" in manifest:
        made_with = manifest["made_with"]
        if not (isinstance(made_with, dict) and all(isinstance(v, dict)
                                                    for v in made_with.values())):
            bad("made_with", made_with, 'an object of settings by encoder, such as '
                                        '{"png": {"zlib": "1.3.1", "level": 6}}')
    if "shards" in manifest:
        shards = manifest["shards"]
        if not isinstance(shards, dict):
            bad("shards", shards, "an object of {records, sha256} by shard name")
        else:
            out["shards"] = {}
            for name, entry in shards.items():
                if (isinstance(entry, dict) and entry.keys() == {"records", "sha256"}
                        and _is_count(entry["records"]) and _is_sha256(entry["sha256"])):
                    out["shards"][name] = entry
                else:
                    bad(f"shards[{name!r}]", entry, 'an object {"records": N, "sha256": "..."}')
    if "files" in manifest:
        out["files"] = _manifest_files(
            manifest["files"], [*layout.sealed, *(_tfds_files(out) if later and layout.tfds
                                                  else [])], bad, problems)
    return out


def _written_later(manifest: dict[str, Any]) -> bool:
    """Whether a manifest was written by a fastdraw that writes made_with, the image encoding
    and compression options and the TFDS metadata (all of which older ones lack)."""
    options, files = manifest.get("options"), manifest.get("files")
    return ("made_with" in manifest
            or (isinstance(options, dict) and any(o in options for o in _LATER_OPTIONS))
            or (isinstance(files, dict) and DATASET_INFO in files))


def _tfds_files(manifest: dict[str, Any]) -> list[str]:
    """The TFDS files of a dataset of the manifest's kind (the first kind's, if it names
    none) and classes."""
    return tfds_names(codec_for(manifest.get("kind", KINDS[0]), {}),
                      len(manifest.get("classes", ())))


def _check_sealing(manifest: dict[str, Any], data: bytes, problems: list[str],
                   notes: list[str]) -> None:
    """The manifest's bytes must be its canonical JSON, sealed by its manifest_sha256: then
    no byte of it can change unseen (a changed value changes the sha256, a changed space
    or escape the canonical bytes)."""
    canonical = manifest_bytes(manifest)
    if canonical != data:
        n = min(len(canonical), len(data))
        differ = np.flatnonzero(np.frombuffer(canonical, np.uint8, n)
                                != np.frombuffer(data, np.uint8, n))
        at = int(differ[0]) if len(differ) else n
        problems.append(f"manifest.json: not byte for byte the JSON a build writes (keys "
                        f"sorted, indented by 2, ASCII): it differs at byte {at}; rebuild the "
                        "dataset")
    if MANIFEST_SHA256 in manifest:
        seal = manifest[MANIFEST_SHA256]
        if not _is_sha256(seal):
            problems.append(f"manifest.json: {MANIFEST_SHA256} is {_describe(seal)}, not a "
                            "sha256 (64 hex digits)")
        elif seal != (content := manifest_sha256(manifest)):
            problems.append(f"manifest.json: its content has sha256 {content}, not its "
                            f"{MANIFEST_SHA256} {seal}: it changed after the build; rebuild "
                            "the dataset")
    elif "files" not in manifest:
        notes.append(f"manifest.json: written by a fastdraw that did not seal a dataset (no "
                     f"files or {MANIFEST_SHA256}), so labels.txt, counts.json, "
                     "rejected.ndjson and the manifest are checked against the shards and "
                     "each other, not byte for byte; rebuild the dataset to seal them")


# What a build writes in the manifest's options: each option's test and its description.
_OPTIONS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "splits": (lambda v: isinstance(v, dict) and bool(v) and all(map(_is_count, v.values())),
               'an object of examples per class by split, such as {"train": 7, "eval": 1}'),
    "shards": (lambda v: _is_count(v) and v >= 1, "a whole number of at least 1"),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
    "img_size": (lambda v: _is_count(v) and v >= 1, "a whole number of at least 1"),
    "line_width": (lambda v: _is_count(v) and v >= 1, "a whole number of at least 1"),
    "maximize": (lambda v: isinstance(v, bool), "true or false"),
    "notebook_time": (lambda v: isinstance(v, bool), "true or false"),
    "rdp": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0,
            "a number of at least 0"),
    "include_unrecognized": (lambda v: isinstance(v, bool), "true or false"),
    "bitmap_size": (lambda v: _is_count(v) and v >= 1, "a whole number of at least 1"),
    "img_encoding": (lambda v: v in ENCODINGS,
                     f"one this version of fastdraw reads ({', '.join(ENCODINGS)}): a newer "
                     "fastdraw wrote the dataset?"),
    "compression": (lambda v: v in COMPRESSIONS,
                    f"one this version of fastdraw reads ({', '.join(COMPRESSIONS)}): a newer "
                    "fastdraw wrote the dataset?"),
}
_EVERY_KIND = ("splits", "shards", "seed", "include_unrecognized")  # the options of every kind
_LATER_OPTIONS = ("img_encoding", "compression")  # options manifests written before them lack


def _manifest_options(options: Any, kind: str | None, layout: Layout, later: bool,
                      bad: Callable[[str, Any, str], None],
                      problems: list[str]) -> dict[str, Any]:
    """The options a build of ``kind`` writes (every kind's, and those its codec records)
    that are of the type it writes them in; says which lack, which are unknown (a renamed key
    would otherwise be taken as absent) and which have another type."""
    if not isinstance(options, dict):
        bad("options", options, "an object of the build's options")
        return {}
    recorded = (*CODECS[kind].recorded_options, *(("compression",) if layout.sharded else ())) \
        if kind else ()
    names = [name for name in _OPTIONS
             if name in _EVERY_KIND or name in recorded or (kind is None and name in options)]
    if lacking := [name for name in names
                   if name not in options and (later or name not in _LATER_OPTIONS)]:
        problems.append(f"manifest.json: options lacks {', '.join(lacking)} (the build writes "
                        f"{', '.join(names)})")
    if unknown := [name for name in options if name not in names]:
        problems.append(f"manifest.json: options has unknown key(s) "
                        f"{', '.join(map(repr, unknown))} (the build writes "
                        f"{', '.join(names)})")
    out = {}
    for name in names:
        test, want = _OPTIONS[name]
        if name in options:
            if test(options[name]):
                out[name] = options[name]
            else:
                bad(f"options.{name}", options[name], want)
    return out


def _manifest_files(files: Any, sealed: list[str], bad: Callable[[str, Any, str], None],
                    problems: list[str]) -> dict[str, Any]:
    """The manifest's entries {bytes, sha256} of the files it seals (the layout's, and the
    TFDS metadata of a manifest written after it was), those of that shape."""
    if not isinstance(files, dict):
        bad("files", files, "an object of {bytes, sha256} by file name")
        return {}
    if files.keys() != set(sealed):
        problems.append(f"manifest.json: files names {', '.join(map(repr, files)) or 'none'}, "
                        f"not {', '.join(sealed)}")
    out = {}
    for name, entry in files.items():
        if (isinstance(entry, dict) and entry.keys() == {"bytes", "sha256"}
                and _is_count(entry["bytes"]) and _is_sha256(entry["sha256"])):
            out[name] = entry
        else:
            bad(f"files[{name!r}]", entry, 'an object {"bytes": N, "sha256": "..."}')
    return out


def _check_tfds(path: Path, manifest: dict[str, Any], codec: Codec | None,
                labels: list[str] | None, shards_sound: bool, problems: list[str],
                seen: dict[str, dict], notes: list[str]) -> bool:
    """Reads the TFDS metadata (``seen`` gets each file's size and sha256, for the seal) and
    compares it with what the build writes for the manifest, its labels and its shards
    (dataset_info.json only when they are ``shards_sound``, as the manifest has them); a
    dataset built before that metadata gets a note.  Returns whether it was checked."""
    names = _tfds_files(manifest)
    if not any(os.path.lexists(path / n) or n in manifest.get("files", {}) for n in names):
        notes.append(f"no TFDS metadata ({', '.join(names)}): built by a fastdraw that did not "
                     "write it, so tfds.builder_from_directory cannot read the dataset; "
                     "rebuild it to add that")
        return False
    found = {n: _bytes(path / n, TFDS_LIMIT, TFDS_HOLDS, problems, seen) for n in names}
    if (codec is None or labels is None
            or not {"name", "classes", "versions", "shards"} <= manifest.keys()
            or "splits" not in manifest.get("options", {})):
        return True  # the problems that leave nothing to compare with are said already
    try:
        want = tfds_contents(manifest, codec, "\n".join(labels).encode("utf-8"),
                             shard_sizes(path, manifest))
    except OSError:  # a shard that is missing or cannot be read: said already
        return True
    sealed = manifest.get("files", {})
    for name, data in found.items():
        if (data is None or data == want[name] or (name in sealed and seen[name] != sealed[name])
                or (name == DATASET_INFO and not shards_sound)):
            continue  # unread, right, or changed since the build (which the seal says)
        problems.append(f"{name}: not the TFDS metadata the build writes for this dataset's "
                        f"manifest, labels and shards ({_difference(data, want[name])}), so "
                        "TFDS would read the dataset wrong; rebuild the dataset")
    return True


def _difference(data: bytes, want: bytes) -> str:
    """Where a file differs from the bytes it should have: the first JSON value that
    differs (such as 'splits[0].shardLengths[1] is "9", not "8"'), else the first byte."""
    try:
        got, expected = json.loads(data), json.loads(want)
    except ValueError:
        got = expected = None
    at = ""
    while got != expected and type(got) is type(expected) and isinstance(got, (dict, list)):
        if isinstance(got, list) and len(got) != len(expected):
            return f"{at or 'it'} has {len(got)} items, not {len(expected)}"
        keys = range(len(got)) if isinstance(got, list) else sorted({*got, *expected})
        key = next(k for k in keys if (got.get(k) if isinstance(got, dict) else got[k])
                   != (expected.get(k) if isinstance(expected, dict) else expected[k]))
        at += f"[{key}]" if isinstance(got, list) else f".{key}" if at else str(key)
        got = got.get(key) if isinstance(got, dict) else got[key]
        expected = expected.get(key) if isinstance(expected, dict) else expected[key]
    if got != expected and at:
        return f"{at} is {_describe(got)}, not {_describe(expected)}"
    n = min(len(data), len(want))
    differ = np.flatnonzero(np.frombuffer(data, np.uint8, n) != np.frombuffer(want, np.uint8, n))
    return f"it differs at byte {int(differ[0]) if len(differ) else n}"


def _check_sealed(manifest: dict[str, Any], seen: dict[str, dict], problems: list[str]) -> None:
    """Each file the manifest seals against its size and sha256 as read."""
    for name, want in manifest.get("files", {}).items():
        got = seen.get(name)
        if got is not None and got != want:
            problems.append(f"{name}: sha256 {got['sha256']} ({got['bytes']} bytes) differs "
                            f"from manifest.json's {want['sha256']} ({want['bytes']} bytes): it "
                            "changed after the build; rebuild the dataset")


def _check_splits(manifest: dict[str, Any], counts: dict[str, Any] | None,
                  problems: list[str], layout: Layout | None = None) -> None:
    """options.splits, examples per class, against counts.json, records and every listed
    shard (a round writes one record of every class)."""
    splits = manifest.get("options", {}).get("splits")
    if "classes" not in manifest or splits is None:
        return
    n = len(manifest["classes"])
    for split, per_class in splits.items():
        if counts is not None and _is_count(counts.get(split)) and counts[split] != per_class * n:
            problems.append(f"counts.json: {split} has {counts[split]} records, manifest.json's "
                            f"options.splits gives {per_class} a class, {per_class * n} for "
                            f"its {n} classes")
    total = sum(splits.values())
    if "records" in manifest and manifest["records"] != total * n:
        problems.append(f"manifest.json: records is {manifest['records']}, options.splits "
                        f"gives {total} a class, {total * n} for its {n} classes")
    for name, entry in manifest.get("shards", {}).items():
        if layout is not None and not layout.sharded:
            break  # a class's file holds its own drawings, not rounds
        if n and entry["records"] % n:
            problems.append(f"manifest.json: shards[{name!r}] holds {entry['records']} records, "
                            f"not a whole number of rounds (a record of each of the {n} "
                            "classes)")


_MISSING_NAMED = 10  # missing shard files named one a line; more are said in one line


@dataclass
class _Expected:
    """The shard names (`<split>-%05d-of-%05d` in the notebook's layout) that must exist,
    never all listed (a damaged manifest may claim millions of shards)."""

    layout: Layout
    splits: list[str]
    shards: int  # 0: none expected

    def __contains__(self, name: str) -> bool:
        m = self.layout.parse_shard(name)
        return (m is not None and m.split in self.splits and m.index < self.shards
                and name == self._name(m.split, m.index))

    def of_split(self, split: str, names: Any) -> list[str]:
        """The expected names among `names`, of `split`, in index order."""
        return sorted(n for n in names if n in self and self.layout.parse_shard(n).split == split)

    def first_missing(self, split: str, present: list[str]) -> list[str]:
        """The first _MISSING_NAMED + 1 of the split's expected names not in `present`."""
        have = set(present)
        names = (self._name(split, i) for i in range(self.shards))
        return list(itertools.islice((n for n in names if n not in have), _MISSING_NAMED + 1))

    def _name(self, split: str, index: int) -> str:
        return self.layout.shard_name(split, index, self.shards)


def _expected_shards(path: Path, layout: Layout, splits: list[str], shards: Any,
                     problems: list[str]) -> _Expected:
    """The shards that must exist; their count read off disk if options.shards is unknown."""
    if not isinstance(shards, int) or shards < 1:
        found = {m.count for p in path.iterdir() if (m := layout.parse_shard(p.name))}
        if not found:
            problems.append(f"no shard files ({layout.stem('<split>')}-00000-of-NNNNN), and no "
                            "options.shards in manifest.json to say how many there should be")
            return _Expected(layout, splits, 0)
        if len(found) != 1:
            problems.append("manifest.json: no options.shards, and the shard files on disk "
                            f"disagree on the shard count ({sorted(found)})")
            return _Expected(layout, splits, 0)
        shards = found.pop()
    if not splits:
        problems.append("no shard files, and no splits in counts.json / manifest.json")
    return _Expected(layout, splits, shards)


@dataclass
class _ShardResult:
    name: str
    records: int
    sha256: str | None  # None: the shard could not be read
    kind: str
    problems: list[str]
    key_ids: np.ndarray  # int64, one per record that has a key_id
    key_records: np.ndarray  # int64, the index in the shard of each of those records


def _manifest_codec(manifest: dict[str, Any], problems: list[str]) -> Codec | None:
    """The codec the manifest's kind and options name, or None (the records will tell)."""
    if "kind" not in manifest:
        return None
    try:
        return codec_for(manifest["kind"], manifest.get("options", {}))
    except (TypeError, ValueError) as e:
        problems.append(f"manifest.json: options do not describe {manifest['kind']} records "
                        f"({e}); the records are checked by their own features")
        return None


@dataclass
class _ShardJob:
    """What every shard is checked against (picklable, for worker processes)."""

    labels: list[str] | None
    codec: Codec | None  # the manifest's; None: told by each shard's first window
    options: dict
    labels_file: str = "labels.txt"  # the layout's class-names file, for messages
    compression: str = "none"  # of the shard files
    readable: bool = True  # False: records this version cannot read, whose sha256 is checked

    @property
    def max_record(self) -> int:
        """The longest record a shard may hold: the manifest's kind's bound, else a protocol
        buffer's (read no further, a lying length costs no memory)."""
        return self.codec.max_record_bytes() if self.codec is not None else MAX_RECORD

    def __call__(self, file: Path) -> _ShardResult:
        """Checks one shard's framing, CRCs and records a window at a time (memory does not
        grow with the shard), hashing it in the same read."""
        if not self.readable:
            try:
                sha256 = _sha256(file)
            except (OSError, DatasetFileError) as e:
                return _ShardResult(file.name, 0, None, "", [f"{file.name}: cannot be read ({e})"],
                                    np.zeros(0, np.int64), np.zeros(0, np.int64))
            return _ShardResult(file.name, 0, sha256, "", [], np.zeros(0, np.int64),
                                np.zeros(0, np.int64))
        issues = _Issues()
        digest = hashlib.sha256()
        records = 0
        codec = self.codec  # settled by the first window
        keys: list[np.ndarray] = []
        key_records: list[np.ndarray] = []
        problems = []
        sha256: str | None = None
        try:
            for buf, offsets in read_windows(file, on_bytes=digest.update,
                                             compression=self.compression,
                                             max_record=self.max_record):
                issues.base = records
                window = RecordChecks(buf, offsets, self, issues, codec)
                codec = window.codec
                keys.append(window.key_ids)
                key_records.append(window.key_records + records)
                records += len(offsets) - 1
            sha256 = digest.hexdigest()
        except CorruptRecordError as e:
            # The problem is listed under the shard's name already: not its path again.
            problems.append(f"{file.name}: {str(e).removeprefix(f'{file}: ')} "
                            f"(after {records} good records)")
            try:
                sha256 = _sha256(file)
            except (OSError, DatasetFileError):
                pass  # replaced since: its sha256 cannot be compared, its damage is said
        except DatasetFileError as e:  # a pipe, say, put in its place once it was listed
            problems.append(f"{file.name}: {str(e).removeprefix(f'{file}: ')}")
        except OSError as e:  # a shard that vanished or cannot be read, say
            problems.append(f"{file.name}: cannot be read ({e.strerror or e})"
                            + (f" after {records} good records" if records else ""))
        problems.extend(issues.messages(file.name))
        return _ShardResult(file.name, records, sha256, codec.kind if codec else "", problems,
                            np.concatenate(keys or [np.zeros(0, np.int64)]),
                            np.concatenate(key_records or [np.zeros(0, np.int64)]))


def _run(job: _ShardJob, files: list[Path], workers: int | None) -> list[_ShardResult]:
    workers = workers or usable_cpus()
    if sum(f.stat().st_size if f.is_file() else 0 for f in files) < _PARALLEL_BYTES:
        workers = 1
    workers = min(workers, len(files))
    if workers <= 1:
        return [job(f) for f in files]
    proto.warmup()  # once here, not in every worker (which compiled them all on a new machine)
    tfrecord.warmup_reader()
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
        return list(pool.map(job, files))


def _sha256(file: Path) -> str:
    h = hashlib.sha256()
    with open_regular(file) as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


# Where a repeated key_id was seen before, by how far apart the two records lie, and what
# that means.
_REPEATS = (
    ("of another split", "a drawing in two splits leaks between them"),
    ("of another shard of their split", "the same drawing twice in one split"),
    ("seen before in their shard", "the same drawing twice in one shard (is an input line "
                                   "repeated?)"),
)


def _duplicate_problems(layout: Layout, results: list[_ShardResult]) -> list[str]:
    """key_ids that occur more than once, over all shards: one problem for repeats across
    splits, one within a split, one within a shard, each naming its first repeat and the
    record its key_id was first seen in."""
    if not results:
        return []
    keys = np.concatenate([r.key_ids for r in results])
    shard = np.repeat(np.arange(len(results)), [len(r.key_ids) for r in results])
    record = np.concatenate([r.key_records for r in results])
    splits = [layout.parse_shard(r.name).split for r in results]
    split = np.array([splits.index(s) for s in splits])[shard]
    order = np.argsort(keys, kind="stable")  # shards in order, records in order
    repeats = np.sort(order[1:][keys[order][1:] == keys[order][:-1]])
    firsts = order[np.searchsorted(keys[order], keys[repeats])]
    apart = np.where(split[firsts] != split[repeats], 0,
                     np.where(shard[firsts] != shard[repeats], 1, 2))
    out = []
    for code, (where, meaning) in enumerate(_REPEATS):
        n = int((apart == code).sum())
        if n:
            i = int(np.flatnonzero(apart == code)[0])
            first, again = (f"{results[shard[j]].name} record {record[j]}"
                            for j in (firsts[i], repeats[i]))
            out.append(f"{n} record{'s' if n > 1 else ''} repeat{'' if n > 1 else 's'} a "
                       f"key_id {where} (first: key_id {keys[repeats[i]]} in {first}, again in "
                       f"{again}): {meaning}")
    return out


class _Issues:
    """Record problems of one shard, counted by kind, with the first occurrence of each."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.first: dict[str, str] = {}
        self.base = 0  # the shard's index of the current window's record 0

    def add(self, what: str, records: np.ndarray, detail: Callable[[int], str]) -> None:
        """Counts the records (window indices, ascending) that have problem `what`; details
        the first in the shard."""
        if len(records):
            if what not in self.first:
                text = detail(int(records[0]))
                self.first[what] = (f"record {self.base + records[0]}"
                                    + (f": {text}" if text else ""))
            self.counts[what] += len(records)

    def messages(self, shard: str) -> list[str]:
        return [f"{shard}: {what} in {n} record{'s' if n > 1 else ''} (first: {self.first[what]})"
                for what, n in self.counts.items()]


_KIND_CODE = {"bytes": KIND_BYTES, "float": KIND_FLOAT, "int": KIND_INT64}
_KIND_NAME = {KIND_NONE: "an empty feature", KIND_BYTES: "bytes", KIND_FLOAT: "float",
              KIND_INT64: "int"}


class RecordChecks:
    """Checks a window of a shard's records in bulk, from `scan_examples`' feature table: the
    features the codec names, the metadata's values, then the codec's own checks (its
    ``check`` uses `table`, `columns`, `column` and `add`).  ``codec``, once the shard's first
    window settled it, holds for the rest."""

    def __init__(self, buf: np.ndarray, offsets: np.ndarray, job: _ShardJob, issues: _Issues,
                 codec: Codec | None = None) -> None:
        self.buf = buf
        self.n = n = len(offsets) - 1
        self.issues = issues
        self.key_ids = self.key_records = np.zeros(0, dtype=np.int64)
        table, errors = scan_examples(buf, offsets)
        self.table = table
        bad = np.flatnonzero(errors[:, 0])
        self.add("not a valid tf.train.Example", bad,
                 lambda r: f"{SCAN_ERRORS[errors[r, 0]]} at byte {errors[r, 1]}")
        self.valid = errors[:, 0] == 0
        names = self._names()
        self.codec = (codec or job.codec or codec_of_features(set(names.values()))
                      or codec_for(KINDS[0], job.options))
        expected = self.codec.features()
        if n == 0:
            return
        for h, name in names.items():
            if name not in expected:
                rows = np.unique(table[table[:, NAME_HASH] == h, REC])
                self.add(f"unexpected feature {name!r} for {self.codec.kind} records",
                         rows, lambda r: "")
        self.columns = {name: self._feature(name, _KIND_CODE[k]) for name, k in expected.items()}
        self._check_meta(job)
        self.codec.check(self)

    def add(self, what: str, records: np.ndarray, detail: Callable[[int], str]) -> None:
        """Counts the records (window indices, ascending) that have problem ``what``; details
        the first in the shard."""
        self.issues.add(what, records, detail)

    def _names(self) -> dict[int, str]:
        """Feature name by name hash, for every name in the shard."""
        hashes, first = np.unique(self.table[:, NAME_HASH], return_index=True)
        out = {}
        for h, i in zip(hashes.tolist(), first.tolist()):
            start, length = self.table[i, NAME_START], self.table[i, NAME_LEN]
            raw = self.buf[start:start + length].tobytes()
            out[h] = raw.decode("utf-8", errors="replace")
        return out

    def _feature(self, name: str, kind: int) -> np.ndarray:
        """Rows of feature `name` per record (-1: absent or wrong kind); reports those cases."""
        table, at = self.table, np.full(self.n, -1, dtype=np.int64)
        rows = np.flatnonzero(table[:, NAME_HASH] == name_hash(name.encode("utf-8")))
        per_record = np.bincount(table[rows, REC], minlength=self.n)
        self.add(f"lacks feature {name!r}", np.flatnonzero(self.valid & (per_record == 0)),
                        lambda r: "")
        self.add(f"feature {name!r} repeated",
                        np.flatnonzero(per_record > 1), lambda r: f"{per_record[r]} times")
        wrong = rows[table[rows, KIND] != kind]
        self.add(f"feature {name!r} of the wrong type", table[wrong, REC],
                        lambda r: f"{_KIND_NAME[int(table[wrong[0], KIND])]}, "
                                  f"not {_KIND_NAME[kind]}")
        good = rows[table[rows, KIND] == kind]
        at[table[good, REC]] = good
        return at

    def column(self, name: str, column: int) -> tuple[np.ndarray, np.ndarray]:
        """(records that have feature `name`, its `column` there)."""
        rows = self.columns[name]
        records = np.flatnonzero(rows >= 0)
        return records, self.table[rows[records], column]

    def _check_meta(self, job: _ShardJob) -> None:
        table, issues = self.table, self.issues
        metadata = self.codec.metadata()
        for name in metadata:
            records, count = self.column(name, COUNT)
            issues.add(f"{name} has several or no values, not 1", records[count != 1],
                       lambda r, name=name: f"{table[self.columns[name][r], COUNT]} values")
            self.columns[name][records[count != 1]] = -1  # no further checks of that value
        label_name = self.codec.label_feature
        records, label = self.column(label_name, FIRST)
        if job.labels is not None:
            out = (label < 0) | (label >= len(job.labels))
            issues.add(f"{label_name} outside 0..{len(job.labels) - 1} of {job.labels_file}",
                       records[out],
                       lambda r: f"{label_name} {table[self.columns[label_name][r], FIRST]}")
        if job.labels is not None and "word" in metadata:
            label_hash = np.array([name_hash(s.encode("utf-8")) for s in job.labels] or [0])
            word_rows = self.columns["word"]
            ok = records[~out & (word_rows[records] >= 0)]
            words = table[word_rows[ok], ITEM_HASH]
            labels = table[self.columns["label"][ok], FIRST]
            issues.add(f"word differs from its label's class in {job.labels_file}",
                       ok[words != label_hash[labels]], lambda r: self._word_detail(r, job))
        if job.options.get("include_unrecognized") is False and "recognized" in metadata:
            records, recognized = self.column("recognized", FIRST)
            issues.add("unrecognized drawing though include_unrecognized is false",
                       records[recognized != 1], lambda r: "")
        if "key_id" in metadata:
            self.key_records, self.key_ids = self.column("key_id", FIRST)

    def _word_detail(self, record: int, job: _ShardJob) -> str:
        label = int(self.table[self.columns["label"][record], FIRST])
        row = self.table[self.columns["word"][record]]
        word = self.buf[row[ITEM_START]:row[ITEM_START] + row[ITEM_LEN]].tobytes()
        return (f"label {label} is {job.labels[label]!r}, "
                f"word is {word.decode('utf-8', errors='replace')!r}")


_REJECTION = ('an object {"file": "...", "line": N, "reason": "...", "text": "..."}, one '
              'rejected input line')


def _is_rejection(entry: Any) -> bool:
    return (isinstance(entry, dict) and entry.keys() == {"file", "line", "reason", "text"}
            and isinstance(entry["file"], str) and _is_count(entry["line"])
            and isinstance(entry["reason"], str) and isinstance(entry["text"], str))


def _check_rejected(path: Path, manifest: dict, problems: list[str],
                    seen: dict[str, dict]) -> None:
    """Reads rejected.ndjson a line at a time (it may be long; a line is not), checking that
    every line is a rejection and their count is the manifest's; ``seen`` gets its size and
    sha256 when it is read to its end."""
    file = path / REJECTED
    try:
        f = open_regular(file)
    except (OSError, DatasetFileError) as e:
        _unreadable(file, e, problems)
        return
    lines = size = 0
    digest = hashlib.sha256()
    with f:
        while line := f.readline(REJECTED_LINE_LIMIT + 1):
            lines += 1
            size += len(line)
            digest.update(line)
            if len(line) > REJECTED_LINE_LIMIT:
                problems.append(f"rejected.ndjson: line {lines} is longer than the "
                                f"{size_text(REJECTED_LINE_LIMIT)} a rejected line takes (its "
                                "file, line, reason and the first 200 characters of its text)")
                return
            if not line.endswith(b"\n"):
                problems.append(f"rejected.ndjson: line {lines} does not end with a newline "
                                "(the file was cut short?)")
                return
            try:
                entry = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError as e:
                problems.append(f"rejected.ndjson: not UTF-8 text ({e} on line {lines})")
                return
            except (ValueError, RecursionError):
                problems.append(f"rejected.ndjson: line {lines} is not JSON")
                return
            if not _is_rejection(entry):
                problems.append(f"rejected.ndjson: line {lines} is {_describe(entry)}, not "
                                f"{_REJECTION}")
                return
    seen[REJECTED] = file_entry(size, digest.hexdigest())
    if "rejected" in manifest and manifest["rejected"] != lines:
        problems.append(f"rejected.ndjson: {lines} lines, manifest.json says "
                        f"{manifest['rejected']} rejected")
