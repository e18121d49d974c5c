"""Where the tests' and benchmarks' real drawings are: all inside the repository.

SIMPLIFIED is the package's bundled sample (345 classes); RAW is ``tests/data/raw.tar.xz``,
unpacked once into a directory of the system's temporary directory named by the archive's
hash (a changed archive gets a new directory); OFFICIAL holds official rows of the 28x28
bitmaps.  Every accessor fails loudly when its files are missing, so that no test passes on
an empty glob.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
from pathlib import Path

from fastdraw.sources.classes import sample_dir

DATA = Path(__file__).resolve().parent / "data"
SIMPLIFIED = Path(sample_dir())
OFFICIAL = DATA / "official"
RAW_ARCHIVE = DATA / "raw.tar.xz"


def _unpacked_raw() -> Path:
    """The raw class files, unpacked from RAW_ARCHIVE (once per archive content)."""
    digest = hashlib.sha256(RAW_ARCHIVE.read_bytes()).hexdigest()[:16]
    home = Path(tempfile.gettempdir()) / f"fastdraw-test-data-{digest}"
    raw = home / "raw"
    if raw.is_dir():
        return raw
    staging = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=home.parent))
    with tarfile.open(RAW_ARCHIVE) as tar:
        tar.extractall(staging, filter="data")
    try:
        os.rename(staging, home)
    except OSError:  # another process unpacked it first
        pass
    return raw


RAW = _unpacked_raw()


def files(directory: Path, pattern: str = "*.ndjson", at_least: int = 1) -> list[Path]:
    """The files of ``directory`` matching ``pattern``, sorted; fails unless there are
    ``at_least`` of them."""
    found = sorted(directory.glob(pattern))
    assert len(found) >= at_least, f"expected at least {at_least} {pattern} in {directory}"
    return found


def simplified_files() -> list[Path]:
    """Every real simplified class file, sorted by name."""
    found = files(SIMPLIFIED)
    assert len(found) == 345, f"expected 345 class files in {SIMPLIFIED}"
    return found


def raw_files() -> list[Path]:
    """Every real raw class file, sorted by name."""
    found = files(RAW)
    assert len(found) == 345, f"expected 345 raw class files in {RAW}"
    return found


def simplified_lines() -> list[str]:
    """Every line of every real simplified file, in file order."""
    return [line for f in simplified_files() for line in f.read_text("utf-8").splitlines()]
