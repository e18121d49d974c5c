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


HEADER = (f"{'stage':<22} {'fastdraw/item':>14} {'reference/item':>15} {'ratio':>8}  "
          "peers (their time / fastdraw's)")


def _row(stage: str, fast: float, ref: float | None, peers: str) -> str:
    return (f"{stage:<22} {_fmt_time(fast):>14} {_fmt_time(ref) if ref else '-':>15} "
            f"{(f'{ref / fast:.1f}x' if ref else '-'):>8}  {peers}").rstrip()


def table(results: dict) -> list[str]:
    """Rows of the stage suites: stage, fastdraw per item, reference per item, ratio, peer
    ratios (medians)."""
    groups: dict[str, list[dict]] = {}
    for bench in results["benchmarks"]:
        groups.setdefault(bench["group"] or bench["name"], []).append(bench)
    rows = []
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
                for b in peers)
            info = bench.get("extra_info", {})
            if "bytes" in info:  # the parse stages: what a drawing costs to read
                read = f"{info['bytes'] / info['items']:.0f} B/item read"
                peer_text = f"{peer_text}; {read}" if peer_text else read
            rows.append(_row(stage, fast, ref, peer_text))
    return rows


def build_table(figures: dict) -> list[str]:
    """Rows of whole-process builds (``python benchmarks/bench_build.py``): time per example
    of fastdraw with 1 and 2 workers against the reference, the 2-worker scaling, and a note
    of the sizes and the peak RSS for a 10x larger input."""
    rows = []
    for kind in ("img", "stroke"):
        row = figures[kind]
        ref = 1 / row["reference_examples_per_s"]
        for workers in (1, 2):
            scaling = ""
            if workers == 2:
                scaling = f"2w/1w {row['speedup_2w_over_1w']}x"
                if "phases_2w_over_1w" in row:
                    scaling += f" (parallel phases {row['phases_2w_over_1w']}x)"
            rows.append(_row(f"build {kind}, {workers}w",
                             1 / row[f"fastdraw_{workers}w_examples_per_s"], ref, scaling))
    rss = figures["peak_rss_mib"]
    sizes = ", ".join(f"{kind} {figures[kind].get('fastdraw_examples', '?')}"
                      for kind in ("img", "stroke"))
    rows.append(f"builds: whole `python -m fastdraw` processes, {figures['classes']} classes "
                f"({sizes} examples), median of {figures.get('repeat', 1)} run(s); peak RSS "
                f"(img+stroke, 2 workers) {rss['small']} MiB, for a 10x input {rss['10x']} MiB "
                f"(x{figures['peak_rss_ratio_10x']})")
    cold = figures.get("cold_start")
    if cold:
        rows.append(f"quick start, `python -m fastdraw --group zoo --sample` (whole process, "
                    f"median of {cold['repeat']}): {cold['warm']} s with the kernels compiled "
                    f"at install (`fastdraw compile`, {cold['compile']} s), {cold['cold']} s on "
                    "an empty numba cache")
    job = figures.get("main_job")
    if job and "skipped" in job:
        rows.append(f"main job (--group animals): not measured, {job['skipped']}")
    elif job:
        per_s = job["examples_per_s"]
        rows.append(f"main job, `python -m fastdraw --group animals` (default splits, "
                    f"{job['examples']} examples of {job['classes']} classes, median of "
                    f"{job['repeat']}): 1w {job['seconds']['1w']} s ({per_s['1w']} ex/s), "
                    f"2w {job['seconds']['2w']} s ({per_s['2w']} ex/s); 2w/1w "
                    f"{job['speedup_2w_over_1w']}x (parallel phases {job['phases_2w_over_1w']}x)"
                    + (f"; pair by pair {', '.join(f'{r}x' for r in job['pairs_2w_over_1w'])}"
                       if "pairs_2w_over_1w" in job else ""))
        if "binary" in job:
            b = job["binary"]
            rows.append("main job from .bin files (the same drawings, the same datasets): "
                        + ", ".join(f"{w} {b['seconds'][w]} s, {b['vs_ndjson'][w]}x the ndjson's "
                                    f"time (pair by pair "
                                    f"{', '.join(f'{r}x' for r in b['pairs_vs_ndjson'][w])})"
                                    for w in ("1w", "2w"))
                        + f"; input read per drawing: ndjson "
                          f"{b['input_bytes_per_drawing']['ndjson']} B, binary "
                          f"{b['input_bytes_per_drawing']['binary']} B")
    return rows


def formats_table(figures: dict) -> list[str]:
    """Rows of ``benchmarks/bench_formats.py``: per format, bytes per example, build and read
    examples/s, each also against int64 uncompressed; the PNG variants; the goals."""
    bases = {"img": figures["formats"]["img int64 none"],
             "stroke": figures["formats"]["stroke - none"]}
    rows = [f"formats: {figures['examples']} examples of {figures['classes']} classes per "
            f"build, 2 workers; tf.data reads the train split in batches of "
            f"{figures['batch']}; medians of {figures['repeat']}; x: against the kind's "
            "int64 (img) or uncompressed (stroke) build",
            f"{'format':<22} {'bytes/example':>14} {'smaller':>8} {'build ex/s':>11} "
            f"{'x':>6} {'read ex/s':>10} {'x':>6}"]
    for name, f in figures["formats"].items():
        base = bases[name.split()[0]]
        smaller = base["bytes_per_example"] / f["bytes_per_example"]
        build = f["build_examples_per_s"] / base["build_examples_per_s"]
        read = f["read_examples_per_s"] / base["read_examples_per_s"]
        rows.append(f"{name:<22} {f['bytes_per_example']:>14,.1f} {smaller:>7.2f}x "
                    f"{f['build_examples_per_s']:>11,} {build:>5.2f}x "
                    f"{f['read_examples_per_s']:>10,} {read:>5.2f}x")
    variants = figures["png_variants"]
    rows.append(f"png variants ({variants['drawings']} sample drawings, 64 px lw 4): " + ", ".join(
        f"{name} {v['bytes_per_png']} bytes {v['encode_us']} µs"
        for name, v in variants.items() if name != "drawings"))
    rows.append("goals, img png none against img int64 none: " + ", ".join(
        f"{name} {g['ratio']}x (goal >= {g['goal']}x: {'met' if g['met'] else 'NOT met'})"
        for name, g in figures["goals"].items()))
    return rows


def main(stages_json: str, build_json: str | None = None,
         formats_json: str | None = None) -> None:
    """Prints one table: the stage suites, then the whole builds, then the formats."""
    with open(stages_json, encoding="utf-8") as f:
        rows = [HEADER, *table(json.load(f))]
    if build_json:
        with open(build_json, encoding="utf-8") as f:
            rows += build_table(json.load(f))
    if formats_json:
        with open(formats_json, encoding="utf-8") as f:
            rows += formats_table(json.load(f))
    print("\n".join(rows))


if __name__ == "__main__":
    main(*sys.argv[1:4])
