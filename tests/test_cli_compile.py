"""`python -m fastdraw compile` (which `pip install` runs) puts every kernel the commands use
into numba's cache: after it, no command compiles (issue 27: the first run spent ~45 s
compiling)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

USER_SESSION = """
import random, sys
import fastdraw
from fastdraw.cli import main
from fastdraw.notebook import dropins
from fastdraw.sources.classes import sample_dir
assert main(["--group", "zoo", "--sample", "--out", "out", "--workers", "2"]) == 0
assert main(["--classes", "cat,dog", "--sample", "--out", "out2", "--kind", "img",
             "--img-size", "28", "--line-width", "1", "--no-maximize", "--workers", "1"]) == 0
for kind in ("img", "stroke"):
    assert main(["verify", f"out/zoo_{kind}"]) == 0
    assert main(["preview", f"out/zoo_{kind}", "--out", "p.png"]) == 0
assert main(["inspect", "eye", "--sample"]) == 0
assert main(["inspect", "eye", "--sample", "--mosaic", "m.png"]) == 0
assert main(["convert", "--to", "binary", "--classes", "cat,dog", "--data", sample_dir(),
             "--out", "bin"]) == 0
assert main(["--classes", "cat,dog", "--data", "bin", "--format", "binary", "--out", "out3",
             "--kind", "img,ink,sketchrnn,bitmap", "--splits", "train=3,valid=1,test=1"]) == 0
assert main(["--classes", "cat,dog", "--sample", "--out", "out4", "--kind", "img",
             "--img-encoding", "png", "--compression", "gzip"]) == 0
assert main(["verify", "out4/custom_img"]) == 0
assert main(["preview", "out4/custom_img", "--out", "p4.png"]) == 0
assert main(["bitmaps", "--classes", "cat", "--data", "bin", "--out", "bitmaps"]) == 0
d = fastdraw.loadn("eye", 5, data_path=sample_dir())
fastdraw.json_to_img(d[0], 64, 4)
fastdraw.json_to_stroke(d[0])
dropins.stroke_example(0, d[0])
fastdraw.official_bitmap(d[0])
"""


def _entries(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.rglob("*.nbc"))


def test_after_compile_no_command_compiles(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "fastdraw", "compile"], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "fastdraw's kernels are in numba's cache" in done.stderr
    compiled = _entries(tmp_path / "cache")
    assert len(compiled) > 50, compiled  # every kernel and its helpers, each its own entry
    work = tmp_path / "work"
    work.mkdir()
    session = subprocess.run([sys.executable, "-c", USER_SESSION], env=env, cwd=work,
                             capture_output=True, text=True)
    assert session.returncode == 0, session.stderr
    assert "compiling fastdraw's numba kernels" not in session.stderr
    assert _entries(tmp_path / "cache") == compiled
