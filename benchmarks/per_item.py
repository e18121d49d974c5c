"""Per-item medians of a benchmark module's fastdraw / reference pairs: each fastdraw
benchmark records ``speedup_vs_reference`` in extra_info, and every group with both sides
gets a summary line when the module ends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest


class PerItem:
    """One benchmark module's per-item medians: group -> side ("fastdraw" or "reference")."""

    def __init__(self) -> None:
        self.times: dict[str, dict[str, float]] = {}

    def run(self, benchmark: Any, group: str, items: int, fn: Callable[[], Any]) -> None:
        """Benchmarks ``fn`` (``items`` items a call) in ``group``; the side comes from the
        benchmark's name."""
        benchmark.group = group
        benchmark.extra_info["items"] = items
        benchmark(fn)
        if benchmark.stats is None:  # --benchmark-disable
            return
        side = "fastdraw" if "fastdraw" in benchmark.name else "reference"
        times = self.times.setdefault(group, {})
        times[side] = benchmark.stats.stats.median / items
        if side == "fastdraw" and "reference" in times:
            benchmark.extra_info["speedup_vs_reference"] = round(
                times["reference"] / times[side], 1)

    def summary(self) -> Any:
        """A module-scoped autouse fixture that prints each group's line at the module's end."""

        @pytest.fixture(scope="module", autouse=True)
        def _summary(request: pytest.FixtureRequest) -> Iterator[None]:
            yield
            plugins = request.config.pluginmanager
            with plugins.getplugin("capturemanager").global_and_fixture_disabled():
                for group, times in self.times.items():
                    if "fastdraw" in times and "reference" in times:
                        fast, ref = times["fastdraw"], times["reference"]
                        plugins.getplugin("terminalreporter").write_line(
                            f"{group}: fastdraw {fast * 1e6:.2f} us/item, "
                            f"reference {ref * 1e6:.1f} us/item, {ref / fast:.1f}x faster")

        return _summary
