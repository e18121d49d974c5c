"""How many CPUs this process may run on: the default number of worker processes."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """CPUs in this process's affinity mask (which ``taskset`` and containers' cpusets narrow,
    unlike ``os.cpu_count()``, the machine's total), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity on this platform
        return os.cpu_count() or 1
