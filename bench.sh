#!/usr/bin/env bash
# fastdraw's speed against the notebook's code (the reference) and peers, in one run.
#
#   ./bench.sh            full: every stage suite with more rounds; builds of 120k img and
#                         400k stroke examples, medians of 3 runs; the main job
#                         (--group animals, default splits: 3.31M examples, 12 GiB of
#                         temporary disk) with 1 and 2 workers, 5 pairs of runs, medians,
#                         each run also from the .bin files of its drawings; the README's
#                         quick start on an empty numba cache and after `fastdraw compile`,
#                         3 runs each (about 15 minutes)
#   ./bench.sh --quick    small: fewer rounds; builds of 30k img and 100k stroke examples, and
#                         the quick start cold and warm, once
#                         (about 2 minutes)
#
# Both also measure every output format (benchmarks/bench_formats.py): per image encoding and
# shard compression, bytes per example on disk, build and tf.data read examples/s (full: 40k
# examples, medians of 3, about 5 minutes more; quick: 5k, once), and the PNG encoder's
# choice (1-bit against 8-bit).
#
# Prints the machine and one table: per stage, fastdraw's median time per item, the
# reference's, the ratio and each peer's time as a multiple of fastdraw's; then whole-process
# builds (`python -m fastdraw`, 1 and 2 workers, against the notebook's make_sharded_files)
# per example, with the 2-worker scaling and the peak RSS for a 10x larger input.
# The stages use every real drawing in the repository (the package's bundled sample of
# simplified drawings, and tests/data/raw.tar.xz's raw ones); the builds repeat the zoo
# classes' real drawings for volume.  Raw results are kept in $BENCH_OUT (default
# .benchmarks/latest).  Run it in the project's environment (pip install -e ".[test]").
set -euo pipefail
cd "$(dirname "$0")"

mode=full
case "${1:-}" in
  --quick) mode=quick ;;
  "") ;;
  *) echo "usage: ./bench.sh [--quick]" >&2; exit 2 ;;
esac
py=${PYTHON:-python}
out=${BENCH_OUT:-.benchmarks/latest}
mkdir -p "$out"

if [[ $mode == quick ]]; then
  rounds=(--benchmark-min-rounds=1 --benchmark-max-time=0.2 --benchmark-warmup=off)
  build=(1 1)
  formats=(500 1)
else
  rounds=(--benchmark-min-rounds=5 --benchmark-max-time=1.0)
  build=(4 3 --main-job 5 --cold-start 3)
  formats=(4000 3)
fi

cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ *//' || true)
echo "machine: ${cpu:-$(uname -m)}, $(nproc) cores, $(uname -sr), $("$py" --version 2>&1)"
echo "mode: $mode ($(date -u +%Y-%m-%dT%H:%MZ)); medians; ratios measured in this run"
echo

# The stage suites (bench_build.py's pytest tests are replaced by its script below).
"$py" -m pytest benchmarks --ignore=benchmarks/bench_build.py \
  --ignore=benchmarks/bench_formats.py -q -p no:cacheprovider \
  "${rounds[@]}" --benchmark-json="$out/stages.json" > "$out/stages.log" 2>&1 \
  || { cat "$out/stages.log"; exit 1; }
"$py" benchmarks/bench_build.py "${build[@]}" > "$out/build.json" 2> "$out/build.log" \
  || { cat "$out/build.log"; exit 1; }
"$py" benchmarks/bench_formats.py "${formats[@]}" > "$out/formats.json" 2> "$out/formats.log" \
  || { cat "$out/formats.log"; exit 1; }
"$py" benchmarks/report.py "$out/stages.json" "$out/build.json" "$out/formats.json"
