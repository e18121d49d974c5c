"""The project's build backend: setuptools' own, and then fastdraw's kernels compiled into
numba's cache, so that the first command after `pip install` loads them instead of compiling
them (which takes half a minute on two cores).

The kernels are compiled by `python -m fastdraw compile`, run on the source tree with the
build environment's numba (the same version pip installs beside fastdraw, which numba's
cache requires); an editable install reads them where they are, a wheel carries them.  Where
compiling fails, the install goes on and the first command compiles.
"""

from __future__ import annotations

import os
import subprocess
import sys

from setuptools import build_meta
from setuptools.build_meta import *  # noqa: F403 (every hook this backend does not change)


def _compile_kernels() -> None:
    paths = [os.getcwd(), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    env.pop("NUMBA_CACHE_DIR", None)  # the cache must be the tree's, which an install keeps
    done = subprocess.run([sys.executable, "-m", "fastdraw", "compile"], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        print("fastdraw: could not compile the kernels at install (the first command will):\n"
              + done.stderr[-2000:], file=sys.stderr)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    _compile_kernels()
    return build_meta.build_editable(wheel_directory, config_settings, metadata_directory)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _compile_kernels()
    return build_meta.build_wheel(wheel_directory, config_settings, metadata_directory)
