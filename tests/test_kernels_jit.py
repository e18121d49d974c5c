"""numba's cache under fastdraw's `kernel` and `helper`: a kernel cached before a change to a
helper in another file runs the changed helper (numba alone checks only the kernel's own
file), and unchanged sources load from the cache."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import fastdraw

HELPERS = """
from fastdraw.kernels.jit import helper


@helper
def step(x):
    return x + {add}
"""

KERNELS = """
from fastdraw.kernels.jit import kernel
from toypkg.helpers import step


@kernel
def run(x):
    return step(x) * 10
"""

SESSION = """
from fastdraw.kernels.jit import cached
from toypkg.kernels import run
was_cached = cached([run])
print(run(1), was_cached, run.stats.cache_hits[run.signatures[0]])
"""


def _toy(root: Path, add: int) -> None:
    package = root / "toypkg"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text(HELPERS.format(add=add))
    (package / "kernels.py").write_text(KERNELS)


def _session(root: Path) -> list[str]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(root / "cache"), "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", SESSION], env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_changed_helper_in_another_file_is_compiled_again(tmp_path):
    _toy(tmp_path, add=1)
    assert _session(tmp_path) == ["20", "False", "0"]
    assert _session(tmp_path) == ["20", "True", "1"]
    _toy(tmp_path, add=2)
    assert _session(tmp_path) == ["30", "False", "0"]
    assert _session(tmp_path) == ["30", "True", "1"]


def test_a_file_that_compiles_nothing_leaves_the_cache_as_it_is(tmp_path):
    _toy(tmp_path, add=1)
    assert _session(tmp_path) == ["20", "False", "0"]
    (tmp_path / "toypkg" / "notes.py").write_text("NOTE = 'no kernels here'\n")
    assert _session(tmp_path) == ["20", "True", "1"]


def test_every_fastdraw_kernel_is_compiled_through_kernel_or_helper():
    root = Path(fastdraw.__file__).parent
    direct = [f"{p.relative_to(root)}:{n}" for p in sorted(root.rglob("*.py"))
              if p.name != "jit.py" or p.parent.name != "kernels"
              for n, line in enumerate(p.read_text().splitlines(), 1)
              if re.search(r"\b(njit|jit|vectorize|cfunc)\b\s*\(|@(numba\.)?(njit|jit)\b", line)]
    assert direct == []
