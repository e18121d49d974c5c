"""pytest setup of the benchmark suites: the tests' directory on sys.path, so that a suite can
import ``tests/realdata.py`` (the real drawings in the repository: the bundled sample and the
raw drawings of ``tests/data/raw.tar.xz``)."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = str(Path(__file__).resolve().parents[1] / "tests")
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
