"""What the build tests share: real input files made to order, build options, and looks at
what a build left behind.

Volume comes from repeating real lines of the bundled sample with new key_ids.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from fastdraw.build import BuildOptions, builder
from fastdraw.codecs.proto import parse_example
from fastdraw.dataset.tfrecord import read_records
from fastdraw.notebook.dropins import loaditer
from fastdraw.sources.classes import sample_dir

SAMPLE = Path(sample_dir())
VOLUME_CLASSES = ["cat", "giraffe", "zebra"]


def repeated(src: Path, dst: Path, n: int, first_key: int) -> Path:
    """``dst``: the real lines of ``src`` repeated up to ``n`` lines, each with a new key_id."""
    lines = src.read_text("utf-8").splitlines()
    out = []
    for i in range(n):
        d = json.loads(lines[i % len(lines)])
        d["key_id"] = str(first_key + i)
        out.append(json.dumps(d, separators=(",", ":")))
    dst.write_text("\n".join(out) + "\n", encoding="utf-8")
    return dst


def volume_files(directory: Path) -> tuple[list[str], list[Path]]:
    """Three real classes, each repeated to 600 drawings (500+ recognized) with new key_ids,
    in ``directory`` (for a module-scoped ``volume`` fixture)."""
    files = [repeated(SAMPLE / f"{c}.ndjson", directory / f"{c}.ndjson", 600, 10**9 * (j + 1))
             for j, c in enumerate(VOLUME_CLASSES)]
    return list(VOLUME_CLASSES), files


def options(classes, files, out, splits, **kw) -> BuildOptions:
    kw.setdefault("workers", 2)
    kw.setdefault("progress", False)
    return BuildOptions(classes=list(classes), files=[Path(f) for f in files], name=kw.pop(
        "name", "t"), out=Path(out), splits=splits, **kw)


def tree(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (hidden ones too) by relative name."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file()}


def leftovers(out: Path) -> list[str]:
    """What ``out`` holds besides the published builds: the dataset links, and anything a
    build left (each current link ``.<name>``, the build it leads to and ``.<name>.lock``
    are left out)."""
    if not out.exists():
        return []
    names = {p.name for p in out.iterdir()}
    for p in out.iterdir():
        if p.is_symlink() and re.fullmatch(rf"{re.escape(p.name)}\.build-[0-9a-f]{{8}}",
                                           text := os.readlink(p)) and (out / text).is_dir():
            names -= {p.name, text}
        elif p.is_file() and re.fullmatch(r"\..+\.lock", p.name):
            names.discard(p.name)
    return sorted(names)


def parsed(path: Path):
    import tensorflow as tf

    return [tf.train.Example.FromString(r) for r in read_records(path)]


def label_keys(path: Path) -> list[tuple[int, int]]:
    out = []
    for r in read_records(path):
        e = parse_example(r)
        out.append((int(e["label"][0]), int(e["key_id"][0])))
    return out


def iters_of(classes, data=SAMPLE):
    return [loaditer(c, data_path=str(data)) for c in classes]


def with_bad_lines(tmp_path: Path) -> Path:
    """A real cat file with bad lines at lines 2, 6 and 12 (after 1, 4 and 9 good ones)."""
    good = (SAMPLE / "cat.ndjson").read_text("utf-8").splitlines()
    assert all(json.loads(g)["recognized"] for g in good[:10])
    lines = [good[0], '{"word": "cat", "drawing": [', *good[1:4], '[1, 2, 3]', *good[4:9],
             good[9].replace('"recognized":true', '"recognized":"yes"'), *good[9:]]
    path = tmp_path / "data" / "cat.ndjson"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def cut_off_gzip(tmp_path: Path, name: str, lines: int) -> Path:
    """``name``.ndjson.gz: the first ``lines`` real lines of the sample's eye, gzipped, with
    the last quarter of the gzip data cut off (an interrupted download)."""
    import gzip

    text = "".join((SAMPLE / "eye.ndjson").read_text("utf-8").splitlines(True)[:lines])
    data = gzip.compress(text.encode())
    path = tmp_path / "data" / f"{name}.ndjson.gz"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data[:len(data) * 3 // 4])
    return path


def spy_on_the_space_check(monkeypatch) -> list[tuple[dict, dict]]:
    """Records, at the space check between the phases, every kind's byte counts and the
    bytes of its spool files on disk per shard."""
    seen = []
    real = builder._check_space

    def check(opts, nbytes):
        on_disk = {}
        for tmp in opts.out.glob(f".{opts.name}.tmp-*/*"):
            per_shard = {}
            for f in tmp.glob(".spool-*.rec"):
                shard = int(f.stem.rsplit("-", 1)[1])
                per_shard[shard] = per_shard.get(shard, 0) + f.stat().st_size
            on_disk[tmp.name] = per_shard
        seen.append(({k: v.copy() for k, v in nbytes.items()}, on_disk))
        return real(opts, nbytes)

    monkeypatch.setattr(builder, "_check_space", check)
    return seen
