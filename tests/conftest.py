"""Shared fixtures: the real Quick, Draw! drawings in the repository (tests/realdata.py)."""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from realdata import OFFICIAL, RAW, SIMPLIFIED, simplified_files, simplified_lines

__all__ = ["OFFICIAL", "RAW", "SIMPLIFIED", "simplified_files", "simplified_lines"]


@pytest.fixture(scope="session")
def simplified_dir() -> Path:
    return SIMPLIFIED


@pytest.fixture(scope="session")
def raw_dir() -> Path:
    return RAW


@pytest.fixture()
def utc(monkeypatch):
    """Run the test with TZ=UTC, so the reference's time.mktime reads UTC."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def traced_peak(call: Callable[[], Any]) -> tuple[Any, int]:
    """``call()``'s result and the peak bytes Python and numpy allocated while it ran."""
    tracemalloc.start()
    try:
        return call(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
