"""Workers default to the CPUs this process may use, and more than that is warned about."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastdraw.build import BuildOptions, build, builder
from fastdraw.cpus import usable_cpus
from fastdraw.sources.classes import sample_dir

SAMPLE = Path(sample_dir())
ONE_CPU = "import os\nos.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_usable_cpus_is_the_affinity_mask_not_the_machine():
    assert usable_cpus() == len(os.sched_getaffinity(0))
    assert _run(ONE_CPU + "from fastdraw.cpus import usable_cpus\nprint(usable_cpus())") == "1"


def test_the_cli_default_is_one_worker_per_usable_cpu():
    code = ("from fastdraw.cli.main import command_parser\n"
            "print(command_parser('build').parse_args(['--group', 'pets', '--sample']).workers)")
    assert _run(code) == str(usable_cpus())
    assert _run(ONE_CPU + code) == "1"


@pytest.mark.parametrize("workers,warned", [(1, False), (2, True)])
def test_more_workers_than_usable_cpus_is_warned_about(tmp_path, monkeypatch, caplog,
                                                       workers, warned):
    monkeypatch.setattr(builder, "usable_cpus", lambda: 1)
    opts = BuildOptions(classes=["cat", "dog"],
                        files=[SAMPLE / "cat.ndjson", SAMPLE / "dog.ndjson"], name="t",
                        out=tmp_path, splits={"img": {"train": 2}}, workers=workers,
                        progress=False)
    with caplog.at_level("WARNING", logger="fastdraw.build"):
        build(opts)
    text = ("2 workers, and this process may use 1 CPU: the workers will take turns, which "
            "makes the build slower, not faster (--workers 1 is the default)")
    assert (text in caplog.text) == warned
