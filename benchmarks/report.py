"""Print bench.sh's table from a pytest-benchmark JSON file (and bench_build.py's figures).

Convention of the suites in benchmarks/: each stage is one `benchmark.group`; in it the
benchmark whose name contains "fastdraw" is ours, the one containing "reference" is the
notebook's code, any other is a peer; `extra_info["items"]` is the number of items
(drawings, lines, records) one round handles, so times are quoted per item.
"""

from __future__ import annotations

import json
import sys


def _per_item(bench: dict) -> float:
    return bench["stats"]["median"] / max(1, bench.get("extra_info", {}).get("items", 1))


def _fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def table(results: dict) -> list[str]:
    """Rows: stage, fastdraw per item, reference per item, ratio, peer ratios (medians)."""
    groups: dict[str, list[dict]] = {}
    for bench in results["benchmarks"]:
        groups.setdefault(bench["group"] or bench["name"], []).append(bench)
    rows = [f"{'stage':<22} {'fastdraw/item':>14} {'reference/item':>15} {'ratio':>8}  "
            "peers (their time / fastdraw's)"]
    for group, benches in groups.items():
        ours = [b for b in benches if "fastdraw" in b["name"]]
        refs = [b for b in benches if "reference" in b["name"]]
        peers = [b for b in benches if b not in ours and b not in refs]
        ref = _per_item(refs[0]) if refs else None
        for bench in ours:  # several when fastdraw runs with different worker counts
            fast = _per_item(bench)
            workers = (bench.get("params") or {}).get("workers")
            stage = group if len(ours) == 1 or workers is None else f"{group}, {workers}w"
            peer_text = ", ".join(
                f"{b['name'].split('[')[0].removeprefix('test_')} {_per_item(b) / fast:.1f}x"
                for b in peers
            )
            rows.append(
                f"{stage:<22} {_fmt_time(fast):>14} "
                f"{_fmt_time(ref) if ref else '-':>15} "
                f"{(f'{ref / fast:.1f}x' if ref else '-'):>8}  {peer_text}"
            )
    return rows


def build_table(figures: dict) -> list[str]:
    """Rows of whole-process builds (``python benchmarks/bench_build.py``): examples/s of the
    reference and of fastdraw with 1 and 2 workers, the ratios, the 2-worker scaling and the
    peak RSS for a 10x larger input."""
    rows = [f"whole-process builds, {figures['classes']} classes, median of "
            f"{figures.get('repeat', 1)} run(s), examples/s:",
            f"{'kind (n)':<14} {'reference':>12} {'1 worker':>12} {'2 workers':>12} "
            f"{'ratio 1w':>9} {'ratio 2w':>9} {'2w/1w':>7}"]
    for kind in ("img", "stroke"):
        row = figures[kind]
        rows.append(
            f"{kind + ' (' + str(row.get('fastdraw_examples', '?')) + ')':<14} "
            f"{row['reference_examples_per_s']:>10} /s "
            f"{row['fastdraw_1w_examples_per_s']:>10} /s "
            f"{row['fastdraw_2w_examples_per_s']:>10} /s "
            f"{row['ratio_1w']:>8}x {row['ratio_2w']:>8}x {row['speedup_2w_over_1w']:>6}x")
    rss = figures["peak_rss_mib"]
    rows.append(f"peak RSS (img+stroke, 2 workers): {rss['small']} MiB, "
                f"10x input {rss['10x']} MiB (x{figures['peak_rss_ratio_10x']})")
    return rows


def main(stages_json: str, build_json: str | None = None) -> None:
    with open(stages_json, encoding="utf-8") as f:
        print("\n".join(table(json.load(f))))
    if build_json:
        with open(build_json, encoding="utf-8") as f:
            print()
            print("\n".join(build_table(json.load(f))))


if __name__ == "__main__":
    main(*sys.argv[1:3])
