"""`python -m fastdraw verify DATASET_DIR`: check that a built dataset is whole and consistent.

Checks every expected shard exists (the splits of counts.json times options.shards of
the manifest) and no stray shard lies beside them; reads every record through its TFRecord
framing and CRCs; parses every record as a tf.train.Example and checks its features (the
kind's feature set and types, label in range of labels.txt, word equal to its label's class,
image size and pixel range, stroke lengths and pen flags); compares record counts with the
manifest and counts.json, each shard's sha256 with the manifest, and finds key_ids that occur
twice (a drawing in two splits would leak test data into training).  TensorFlow-free, and
each shard is read once, a window at a time, so memory does not grow with the shards.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing as mp
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fastdraw.codecs import KINDS, Codec, codec_for, codec_of_features, proto
from fastdraw.codecs.base import METADATA
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
from fastdraw.dataset.layout import (
    COUNTS,
    FORMAT,
    LABELS,
    MANIFEST,
    REJECTED,
    SHARD_RE,
    pinned,
    shard_name,
)
from fastdraw.dataset.tfrecord import read_windows
from fastdraw.errors import CorruptRecordError

_PARALLEL_BYTES = 16 << 20


@dataclass
class Report:
    """What verify found: problems (empty when all holds) and what was checked."""

    problems: list[str] = field(default_factory=list)
    kind: str = "?"
    classes: int = 0
    split_records: dict[str, int] = field(default_factory=dict)
    shards: int = 0


def verify_dataset(path: str | Path, workers: int | None = None) -> list[str]:
    """Problems found in the built dataset at `path`, each naming the file; [] when it is sound."""
    return check(path, workers).problems


def check(path: str | Path, workers: int | None = None) -> Report:
    """Runs every check of a built dataset directory (see the module docstring).

    Shards are checked in `workers` processes (default: the usable CPUs, one process for
    datasets under 16 MB, where starting processes costs more than it saves).  The dataset
    is read in the build `path` leads to when the check starts (layout.pinned).
    """
    path = pinned(path)
    report = Report()
    problems = report.problems
    if not path.is_dir():
        problems.append("not a directory (give the path of a built dataset, such as data/zoo_img)")
        return report
    labels = _labels(path, problems)
    manifest = _manifest(path, problems)
    counts = _counts(path, problems)
    options = manifest.get("options", {})
    if labels is not None and "classes" in manifest and manifest["classes"] != labels:
        problems.append("manifest.json: classes differ from labels.txt")
    entries = {p.name: p for p in path.iterdir() if SHARD_RE.fullmatch(p.name)}
    on_disk_splits = sorted({SHARD_RE.fullmatch(name)["split"] for name in entries})
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
    expected = _expected_shards(path, splits, options.get("shards"), problems)
    listed = manifest.get("shards")
    for name in listed or {}:
        if name not in expected:
            problems.append(f"manifest.json: lists shard {name}, which is not expected")
    for name in sorted(name for name in entries if name not in expected):
        problems.append(f"{name}: unexpected shard file (not in the splits and shard count of "
                        f"counts.json / manifest.json); a glob would read it too")
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
    job = _ShardJob(labels, _manifest_codec(manifest, problems), options)
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
            if r.records != listed_shard["records"]:
                problems.append(f"{r.name}: holds {r.records} records, manifest.json says "
                                f"{listed_shard['records']}")
        totals[SHARD_RE.fullmatch(r.name)["split"]] += r.records
    report.shards = len(results)
    report.kind = manifest.get("kind") or (kinds.most_common(1)[0][0] if kinds else "?")
    report.split_records = {s: totals[s] for s in splits}
    for split, want in (counts or {}).items():
        if not _is_count(want):
            problems.append(f"counts.json: {split} is {_describe(want)}, not a whole number of "
                            f"records; its shards hold {totals[split]}")
        elif totals[split] != want:
            problems.append(f"counts.json: {split} has {want} records, its shards hold "
                            f"{totals[split]}")
    if "records" in manifest and manifest["records"] != sum(totals.values()):
        problems.append(f"manifest.json: records is {manifest['records']}, the shards hold "
                        f"{sum(totals.values())}")
    problems.extend(_duplicate_problems(results))
    _check_rejected(path, manifest, problems)
    if problems and not path.exists():  # what was read is gone: its problems are no news
        report.problems = [f"the dataset was replaced by another build while verify read it "
                           f"({path} is gone): run verify again"]
    return report


def _text(file: Path, problems: list[str]) -> str | None:
    """The UTF-8 text of a metadata file, or None after saying why it cannot be read."""
    if not file.exists():
        problems.append(f"{file.name}: missing")
        return None
    try:
        return file.read_text("utf-8")
    except UnicodeDecodeError as e:
        problems.append(f"{file.name}: not UTF-8 text ({e})")
    except IsADirectoryError:
        problems.append(f"{file.name}: is a directory, not a file")
    except OSError as e:
        problems.append(f"{file.name}: cannot be read ({e.strerror or e})")
    return None


def _labels(path: Path, problems: list[str]) -> list[str] | None:
    text = _text(path / LABELS, problems)
    if text is None:
        return None
    labels = text.split("\n")
    if len(set(labels)) != len(labels) or "" in labels:
        problems.append("labels.txt: has empty or repeated class names (or a trailing newline)")
    return labels


_UNREAD = object()  # what _json gives for a file it could not read (JSON's null is None)


def _json(file: Path, problems: list[str]) -> Any:
    """The JSON value of a metadata file, or _UNREAD after saying why there is none."""
    text = _text(file, problems)
    if text is None:
        return _UNREAD
    try:
        return json.loads(text)
    except ValueError as e:
        problems.append(f"{file.name}: not valid JSON ({e})")
        return _UNREAD


def _is_count(value: Any) -> bool:
    """A whole number of records (JSON's true and false are not)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _describe(value: Any) -> str:
    """A JSON value for a message, with its type: 'the string "40"', 'an array [1, 2]'."""
    kind = {str: "the string", bool: "the boolean", int: "the number", float: "the number",
            list: "an array", dict: "an object"}.get(type(value))  # None: null
    text = json.dumps(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{kind} {text}" if kind else text


_COUNTS_SHAPE = 'an object of records per split, such as {"train": 70, "eval": 10, "test": 10}'


def _counts(path: Path, problems: list[str]) -> dict[str, Any] | None:
    """counts.json's object of records per split (values checked against the shards later),
    or None when it is missing or not such an object."""
    counts = _json(path / COUNTS, problems)
    if counts is _UNREAD:
        return None
    if not isinstance(counts, dict):
        problems.append(f"counts.json: is {_describe(counts)}, not {_COUNTS_SHAPE}")
        return None
    if not counts:
        problems.append(f"counts.json: is empty, not {_COUNTS_SHAPE}")
        return None
    return counts


_MANIFEST_FIELDS = ("format", "kind", "classes", "options", "records", "rejected", "shards")


def _manifest(path: Path, problems: list[str]) -> dict[str, Any]:
    """manifest.json's fields that have the shape the build writes them in ({} when it is
    missing or not an object); says which fields lack or have another shape, and drops them."""
    manifest = _json(path / MANIFEST, problems)
    if not isinstance(manifest, dict):
        if manifest is not _UNREAD:
            problems.append(f"manifest.json: is {_describe(manifest)}, not an object "
                            f"(the build writes {', '.join(_MANIFEST_FIELDS)})")
        return {}
    out: dict[str, Any] = {}

    def bad(field: str, value: Any, want: str) -> None:
        problems.append(f"manifest.json: {field} is {_describe(value)}, not {want}")

    if lacking := [name for name in _MANIFEST_FIELDS if name not in manifest]:
        problems.append(f"manifest.json: lacks {', '.join(lacking)} (the build writes "
                        f"{', '.join(_MANIFEST_FIELDS)}); rebuild the dataset")
    if "format" in manifest and manifest["format"] != FORMAT:
        problems.append(f"manifest.json: format is {_describe(manifest['format'])}, "
                        f"not {FORMAT!r}")
    if "kind" in manifest:
        if manifest["kind"] in KINDS:
            out["kind"] = manifest["kind"]
        else:
            bad("kind", manifest["kind"], " or ".join(f'"{k}"' for k in KINDS))
    if "classes" in manifest:
        classes = manifest["classes"]
        if isinstance(classes, list) and all(isinstance(c, str) for c in classes):
            out["classes"] = classes
        else:
            bad("classes", classes, "an array of class names")
    for name in ("records", "rejected"):
        if name in manifest:
            if _is_count(manifest[name]):
                out[name] = manifest[name]
            else:
                bad(name, manifest[name], "a whole number")
    if "options" in manifest:
        out["options"] = _manifest_options(manifest["options"], bad)
    if "shards" in manifest:
        shards = manifest["shards"]
        if not isinstance(shards, dict):
            bad("shards", shards, "an object of {records, sha256} by shard name")
        else:
            out["shards"] = {}
            for name, entry in shards.items():
                if (isinstance(entry, dict) and _is_count(entry.get("records"))
                        and isinstance(entry.get("sha256"), str)):
                    out["shards"][name] = entry
                else:
                    bad(f"shards[{name!r}]", entry, 'an object {"records": N, "sha256": "..."}')
    return out


def _manifest_options(options: Any, bad: Callable[[str, Any, str], None]) -> dict[str, Any]:
    """The options verify relies on, each of the type the build writes."""
    if not isinstance(options, dict):
        bad("options", options, "an object of the build's options")
        return {}
    out = dict(options)
    for name in ("shards", "img_size"):
        if name in options and not (_is_count(options[name]) and options[name] >= 1):
            bad(f"options.{name}", options[name], "a whole number of at least 1")
            del out[name]
    if "include_unrecognized" in options and not isinstance(options["include_unrecognized"],
                                                                bool):
        bad("options.include_unrecognized", options["include_unrecognized"], "true or false")
        del out["include_unrecognized"]
    if "splits" in options:
        splits = options["splits"]
        if not (isinstance(splits, dict) and splits and all(map(_is_count, splits.values()))):
            bad("options.splits", splits, 'an object of examples per class by split, such as '
                                          '{"train": 7, "eval": 1}')
            del out["splits"]
    return out


_MISSING_NAMED = 10  # missing shard files named one a line; more are said in one line


@dataclass
class _Expected:
    """The shard names `<split>-%05d-of-%05d` that must exist, never all listed (a damaged
    manifest may claim millions of shards)."""

    splits: list[str]
    shards: int  # 0: none expected

    def __contains__(self, name: str) -> bool:
        m = SHARD_RE.fullmatch(name)
        return (m is not None and m["split"] in self.splits and int(m["index"]) < self.shards
                and name == self._name(m["split"], int(m["index"])))

    def of_split(self, split: str, names: Any) -> list[str]:
        """The expected names among `names`, of `split`, in index order."""
        return sorted(n for n in names if n in self and SHARD_RE.fullmatch(n)["split"] == split)

    def first_missing(self, split: str, present: list[str]) -> list[str]:
        """The first _MISSING_NAMED + 1 of the split's expected names not in `present`."""
        have = set(present)
        names = (self._name(split, i) for i in range(self.shards))
        return list(itertools.islice((n for n in names if n not in have), _MISSING_NAMED + 1))

    def _name(self, split: str, index: int) -> str:
        return shard_name(split, index, self.shards)


def _expected_shards(path: Path, splits: list[str], shards: Any,
                     problems: list[str]) -> _Expected:
    """The shards that must exist; their count read off disk if options.shards is unknown."""
    if not isinstance(shards, int) or shards < 1:
        found = {int(m["count"]) for p in path.iterdir() if (m := SHARD_RE.fullmatch(p.name))}
        if not found:
            problems.append("no shard files (<split>-00000-of-NNNNN), and no options.shards in "
                            "manifest.json to say how many there should be")
            return _Expected(splits, 0)
        if len(found) != 1:
            problems.append("manifest.json: no options.shards, and the shard files on disk "
                            f"disagree on the shard count ({sorted(found)})")
            return _Expected(splits, 0)
        shards = found.pop()
    if not splits:
        problems.append("no shard files, and no splits in counts.json / manifest.json")
    return _Expected(splits, shards)


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

    def __call__(self, file: Path) -> _ShardResult:
        """Checks one shard's framing, CRCs and records a window at a time (memory does not
        grow with the shard), hashing it in the same read."""
        issues = _Issues()
        digest = hashlib.sha256()
        records = 0
        codec = self.codec  # settled by the first window
        keys: list[np.ndarray] = []
        key_records: list[np.ndarray] = []
        problems = []
        sha256: str | None = None
        try:
            for buf, offsets in read_windows(file, on_bytes=digest.update):
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
            sha256 = _sha256(file)
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
    with open(file, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _duplicate_problems(results: list[_ShardResult]) -> list[str]:
    """key_ids that occur more than once, over all shards, naming the first repeat."""
    if not results:
        return []
    keys = np.concatenate([r.key_ids for r in results])
    shard = np.repeat(np.arange(len(results)), [len(r.key_ids) for r in results])
    record = np.concatenate([r.key_records for r in results])
    order = np.argsort(keys, kind="stable")
    repeats = order[1:][keys[order][1:] == keys[order][:-1]]
    if not len(repeats):
        return []
    again = repeats.min()
    first = order[np.searchsorted(keys[order], keys[again])]
    where = [f"{results[shard[i]].name} record {record[i]}" for i in (first, again)]
    return [f"{len(repeats)} records repeat a key_id seen before (first: key_id {keys[again]} "
            f"in {where[0]} and {where[1]}); a drawing in two splits leaks between them"]


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
        for name in METADATA:
            records, count = self.column(name, COUNT)
            issues.add(f"{name} has several or no values, not 1", records[count != 1],
                       lambda r, name=name: f"{table[self.columns[name][r], COUNT]} values")
            self.columns[name][records[count != 1]] = -1  # no further checks of that value
        records, label = self.column("label", FIRST)
        if job.labels is not None:
            out = (label < 0) | (label >= len(job.labels))
            issues.add(f"label outside 0..{len(job.labels) - 1} of labels.txt",
                       records[out], lambda r: f"label {table[self.columns['label'][r], FIRST]}")
            label_hash = np.array([name_hash(s.encode("utf-8")) for s in job.labels] or [0])
            word_rows = self.columns["word"]
            ok = records[~out & (word_rows[records] >= 0)]
            words = table[word_rows[ok], ITEM_HASH]
            labels = table[self.columns["label"][ok], FIRST]
            issues.add("word differs from its label's class in labels.txt",
                       ok[words != label_hash[labels]], lambda r: self._word_detail(r, job))
        if job.options.get("include_unrecognized") is False:
            records, recognized = self.column("recognized", FIRST)
            issues.add("unrecognized drawing though include_unrecognized is false",
                       records[recognized != 1], lambda r: "")
        self.key_records, self.key_ids = self.column("key_id", FIRST)

    def _word_detail(self, record: int, job: _ShardJob) -> str:
        label = int(self.table[self.columns["label"][record], FIRST])
        row = self.table[self.columns["word"][record]]
        word = self.buf[row[ITEM_START]:row[ITEM_START] + row[ITEM_LEN]].tobytes()
        return (f"label {label} is {job.labels[label]!r}, "
                f"word is {word.decode('utf-8', errors='replace')!r}")


def _check_rejected(path: Path, manifest: dict, problems: list[str]) -> None:
    text = _text(path / REJECTED, problems)
    if text is None:
        return
    lines = text.splitlines()
    for i, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
        except ValueError:
            problems.append(f"rejected.ndjson: line {i} is not JSON")
            return
        if not isinstance(entry, dict) or not {"file", "line", "reason", "text"} <= entry.keys():
            problems.append(f"rejected.ndjson: line {i} lacks file, line, reason or text")
            return
    if "rejected" in manifest and manifest["rejected"] != len(lines):
        problems.append(f"rejected.ndjson: {len(lines)} lines, manifest.json says "
                        f"{manifest['rejected']} rejected")
