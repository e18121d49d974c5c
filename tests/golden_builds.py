"""Golden builds: a fixed set of builds whose every shard, labels.txt and counts.json must keep
their bytes (sha256) from one version of fastdraw to the next.

The cases cover both kinds, several image sizes and line widths, maximize on and off,
unrecognized drawings, seeds, plain, gzip and raw input.  `tests/test_golden.py` rebuilds
them (with 1 and 2 workers) and compares, and builds the simplified cases again from the
official binary files of the same drawings (`convert --to binary`), which must give the same
bytes; a change that means to change dataset bytes regenerates the file on purpose and says
why in its commit:

    python tests/golden_builds.py --write
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import sys
from pathlib import Path

from realdata import DATA, RAW, SIMPLIFIED

GOLDEN = DATA / "golden_builds.json"

CASES: dict[str, dict] = {
    "sample-default": {
        "source": "simplified", "classes": ["cat", "eye", "mouth", "sea turtle"],
        "args": ["--splits", "train=0.7,eval=0.15,test=0.15", "--shards", "3"],
    },
    "sample-gzip": {
        "source": "simplified-gz", "classes": ["cat", "eye", "mouth", "sea turtle"],
        "args": ["--splits", "train=0.7,eval=0.15,test=0.15", "--shards", "3"],
    },
    "small-lw1-nomax-unrecognized": {
        "source": "simplified", "classes": ["eye", "mouth"],
        "args": ["--kind", "img", "--img-size", "28", "--line-width", "1", "--no-maximize",
                 "--include-unrecognized", "--seed", "7", "--splits", "train=40,eval=9,test=0",
                 "--shards", "2"],
    },
    "odd-size-wide": {
        "source": "simplified", "classes": ["eye", "mouth", "table"],
        "args": ["--kind", "img", "--img-size", "100", "--line-width", "7", "--seed", "3",
                 "--splits", "train=30,eval=10", "--shards", "1"],
    },
    "raw": {
        "source": "raw", "classes": ["asparagus", "stitches", "sweater"],
        "args": ["--splits", "train=8,eval=3,test=3", "--shards", "2", "--include-unrecognized"],
    },
}


def input_dir(source: str, classes: list[str], scratch: Path) -> Path:
    """The data directory of a case's ``source``: the sample, its classes gzipped, raw, or
    the sample's classes converted to binary files (``binary``; ``binary-gz``: gzipped)."""
    from fastdraw.cli import main

    if source == "simplified":
        return SIMPLIFIED
    if source == "raw":
        return RAW
    out = scratch / source
    out.mkdir(parents=True, exist_ok=True)
    if source.startswith("binary"):
        code = main(["convert", "--to", "binary", "--classes", ",".join(classes), "--data",
                     str(SIMPLIFIED), "--out", str(out), "--overwrite"])
        if code != 0:
            raise AssertionError(f"convert --to binary failed (exit {code})")
    for name in classes:
        suffix = ".bin" if source.startswith("binary") else ".ndjson"
        plain = (out if suffix == ".bin" else SIMPLIFIED) / f"{name}{suffix}"
        if source.endswith("gz"):
            (out / f"{name}{suffix}.gz").write_bytes(gzip.compress(plain.read_bytes(), mtime=0))
            if suffix == ".bin":
                plain.unlink()
    return out


def digests(dataset: Path) -> dict[str, str]:
    """sha256 of every shard, labels.txt and counts.json of a dataset directory."""
    names = sorted(p.name for p in dataset.iterdir()
                   if p.name in ("labels.txt", "counts.json") or "-of-" in p.name)
    return {name: hashlib.sha256((dataset / name).read_bytes()).hexdigest() for name in names}


def build_case(name: str, scratch: Path, workers: int, source: str | None = None,
               extra: tuple[str, ...] = ()) -> dict[str, dict[str, str]]:
    """Builds case ``name`` in ``scratch`` with ``workers`` (from ``source``, default the
    case's; ``extra`` arguments): digests by dataset kind."""
    from fastdraw.cli import main

    case = CASES[name]
    data = input_dir(source or case["source"], case["classes"], scratch)
    out = scratch / f"{name}-{workers}"
    code = main(["--classes", ",".join(case["classes"]), "--data", str(data), "--offline",
                 "--out", str(out), "--name", "g", "--workers", str(workers), *case["args"],
                 *extra])
    if code != 0:
        raise AssertionError(f"golden case {name} failed to build (exit {code})")
    return {p.name.removeprefix("g_"): digests(p) for p in sorted(out.iterdir())
            if p.name.startswith("g_")}


def main() -> int:
    import tempfile

    if sys.argv[1:] != ["--write"]:
        print(__doc__)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        golden = {name: build_case(name, Path(tmp), workers=1) for name in CASES}
    GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}")
    shutil.rmtree(Path(tmp), ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
