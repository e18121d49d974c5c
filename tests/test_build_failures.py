"""A build that fails, or is stopped, leaves the old datasets and nothing new: a disk too
small or full, the main process's own OS errors, a worker killed with -9, Ctrl-C and
SIGTERM (also while publishing), and an existing dataset without --overwrite."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from build_helpers import (
    SAMPLE,
    leftovers,
    options,
    spy_on_the_space_check,
    tree,
    volume_files,
)

import fastdraw.build
from fastdraw.build import build, builder, shardfile
from fastdraw.build import publish as publish_mod
from fastdraw.build import spool as spool_mod
from fastdraw.cli import main
from fastdraw.codecs import img as img_mod
from fastdraw.errors import BuildError, InterruptedAfterPublish, WorkerDied
from fastdraw.progress import size_text
from fastdraw.sources.classes import ZOO


@pytest.fixture(scope="module")
def volume(tmp_path_factory):
    return volume_files(tmp_path_factory.mktemp("volume"))


def test_a_build_whose_shards_do_not_fit_stops_before_writing_them(volume, tmp_path,
                                                                   monkeypatch, caplog):
    seen = spy_on_the_space_check(monkeypatch)
    classes, files = volume
    splits = {"img": {"train": 400, "eval": 50}}
    build(options(classes, files, tmp_path / "measured", splits, workers=2))
    spooled, framed = seen[0][0]["img"]
    # At worst every shard is written and only the spool of shards not in flight is freed.
    need = (int(framed.sum()) - int(spooled.sum()) + int(np.sort(spooled)[-2:].sum())
            + builder.SPACE_SLACK)
    real = builder.shutil.disk_usage
    for free, fits in [(need, True), (need - 1, False)]:
        out = tmp_path / str(free)
        out.mkdir()
        monkeypatch.setattr(builder.shutil, "disk_usage",
                            lambda path, free=free: real(path)._replace(free=free))
        if fits:
            build(options(classes, files, out, splits, workers=2))
            assert leftovers(out) == ["t_img"]
            continue
        with pytest.raises(BuildError) as e:
            build(options(classes, files, out, splits, workers=2))
        assert str(e.value).startswith(
            f"not enough disk space in {out}: the shards take {size_text(int(framed.sum()))}, "
            f"{size_text(need - builder.SPACE_SLACK)} more than the spool they replace; with "
            f"1.0 MiB kept free for the other files, the build needs {size_text(need)} and "
            f"{size_text(need - 1)} is free. ")
        assert "free space there or pass --out DIR on a larger disk" in str(e.value)
        assert leftovers(out) == []


@pytest.mark.parametrize("phase", ["spool", "shard"])
def test_a_full_disk_names_the_file_says_what_to_do_and_leaves_nothing(phase, tmp_path,
                                                                        monkeypatch, caplog):
    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spool_mod if phase == "spool" else shardfile, "write_all", full)
    out = tmp_path / "out"
    assert main(["--classes", "cat,dog", "--sample", "--out", str(out), "--workers", "2"]) == 1
    doing = (f"encoding {SAMPLE}/(cat|dog).ndjson into the spool in {out}/.custom.tmp-"
             if phase == "spool" else f"writing shard {out}/.custom.tmp-")
    assert re.search(doing, caplog.text)
    assert "[Errno 28] No space left on device. Nothing was written (temporary files " \
           "removed): free space on that disk or pass --out DIR on a larger one" in caplog.text
    assert "Traceback" not in caplog.text
    assert leftovers(out) == []


def test_the_main_process_s_own_os_errors_are_exit_code_1_with_the_path(tmp_path, caplog):
    (tmp_path / "file").write_text("not a directory")
    out = tmp_path / "file" / "out"
    assert main(["--classes", "cat", "--sample", "--out", str(out)]) == 1
    assert (f"cannot create --out {out}: Not a directory: give a directory you can write to"
            in caplog.text)
    assert "Traceback" not in caplog.text


def _die_in_worker(parent: int):
    real = img_mod.rasterize

    def rasterize(*args, **kwargs):
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)

    return rasterize


def test_a_killed_worker_fails_the_build_and_leaves_nothing(tmp_path, monkeypatch):
    # The img codec rasterizes with the name `rasterize` of its module, in the workers.
    monkeypatch.setattr(img_mod, "rasterize", _die_in_worker(os.getpid()))
    with pytest.raises(WorkerDied, match="killed by signal 9"):
        build(options(ZOO[:3], [SAMPLE / f"{c}.ndjson" for c in ZOO[:3]], tmp_path,
                      {"img": {"train": 5}}))
    assert leftovers(tmp_path) == []


SLOW_BUILD = """
import sys, time
import fastdraw.codecs.img as b
real = b.rasterize
def slow(*a, **k):
    time.sleep(0.3)
    return real(*a, **k)
b.rasterize = slow
from fastdraw.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_leaves_the_old_dataset_and_no_new_one(sig, volume, tmp_path):
    classes, files = volume
    args = ["--classes", ",".join(classes), "--data", str(files[0].parent), "--offline",
            "--out", str(tmp_path), "--splits", "train=500,eval=50,test=50", "--workers", "2",
            "--name", "v", "--kind", "img"]
    done = subprocess.run([sys.executable, "-m", "fastdraw", *args, "--splits", "train=3"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    before = tree(tmp_path / "v_img")
    proc = subprocess.Popen([sys.executable, "-c", SLOW_BUILD, *args, "--overwrite"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(tmp_path.glob(".v.tmp-*/img/.spool-*.rec")):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert leftovers(tmp_path) == ["v_img"]
    assert tree(tmp_path / "v_img") == before


def test_an_existing_dataset_needs_overwrite(tmp_path):
    files = [SAMPLE / f"{c}.ndjson" for c in ["cat", "dog"]]
    opts = options(["cat", "dog"], files, tmp_path, {"img": {"train": 2}})
    build(opts)
    before = tree(tmp_path / "t_img")
    opts.splits = {"img": {"train": 3}}
    with pytest.raises(BuildError, match="t_img already exists: pass --overwrite"):
        build(opts)
    assert tree(tmp_path / "t_img") == before
    opts.overwrite = True
    build(opts)
    assert json.loads((tmp_path / "t_img" / "counts.json").read_text()) == {"train": 6}
    assert leftovers(tmp_path) == ["t_img"]


def test_ctrl_c_while_publishing_waits_until_every_kind_is_replaced(tmp_path, monkeypatch,
                                                                    caplog):
    files = [SAMPLE / f"{c}.ndjson" for c in ["cat", "dog"]]
    opts = options(["cat", "dog"], files, tmp_path, {"img": {"train": 2}, "stroke": {"train": 2}})
    build(opts)
    opts.splits = {"img": {"train": 3}, "stroke": {"train": 3}}
    opts.overwrite = True
    real_rename, real_replace = os.rename, os.replace
    renames = []

    def interrupted_rename(src, dst):
        if not renames:  # the first rename of the publish step: Ctrl-C comes now
            os.kill(os.getpid(), signal.SIGINT)
        renames.append(Path(dst).name)
        return real_rename(src, dst)

    def replace(src, dst):
        renames.append(Path(dst).name)
        return real_replace(src, dst)

    monkeypatch.setattr(publish_mod.os, "rename", interrupted_rename)
    monkeypatch.setattr(publish_mod.os, "replace", replace)
    # Another thread, as in a process that imported TensorFlow: the signal may go to it.
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        with pytest.raises(KeyboardInterrupt, match="t_img, .*t_stroke are in place and whole"):
            build(opts)
    finally:
        stop.set()
        other.join()
    monkeypatch.undo()
    # The build became current, then the old one went (one switch for both kinds).
    assert [re.sub("-[0-9a-f]{8}$", "-*", name) for name in renames] == [
        ".t.build-*", ".t", ".t.old-*"]
    for kind in ("img", "stroke"):
        assert json.loads((tmp_path / f"t_{kind}" / "counts.json").read_text()) == {"train": 6}
    assert leftovers(tmp_path) == ["t_img", "t_stroke"]
    # The CLI's build command looks `build` up in fastdraw.build when it runs.
    monkeypatch.setattr(fastdraw.build, "build", lambda _: (_ for _ in ()).throw(
        InterruptedAfterPublish("interrupted once the build was complete")))
    with caplog.at_level("ERROR"):
        assert main(["--sample", "--group", "pets", "--out", str(tmp_path)]) == 130
    assert "nothing was written" not in caplog.text
    assert "interrupted once the build was complete" in caplog.text


ORPHANED = """
import os, signal, sys, threading, time
from fastdraw.build import executor
if sys.argv[1] == "unkillable":  # as where the system cannot kill orphans
    executor._die_with_parent = lambda parent: None
def slow(seconds, report):
    time.sleep(seconds)
    report(1)
    return seconds
pool = executor.ForkPool(2)
print(" ".join(str(p.pid) for p in pool._procs), flush=True)
threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGKILL)).start()
for _ in pool.run(slow, [float(sys.argv[2])] * 2, lambda n: None):
    pass
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_workers_die_with_the_main_process():
    proc = subprocess.Popen([sys.executable, "-c", ORPHANED, "killable", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    workers = [int(pid) for pid in proc.stdout.readline().split()]
    try:
        assert proc.wait(60) == -signal.SIGKILL
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in workers):
            assert time.monotonic() < deadline, "the workers outlived the main process"
            time.sleep(0.05)
    finally:
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.stdout.close()


def test_a_worker_whose_main_process_is_gone_ends_quietly():
    done = subprocess.run([sys.executable, "-c", ORPHANED, "unkillable", "1"],
                          capture_output=True, text=True, timeout=60)  # until the workers end
    assert done.returncode == -signal.SIGKILL
    assert len(done.stdout.split()) == 2
    assert done.stderr == ""


CTRL_C_AT_IMPORT = """
import os, runpy, signal, sys
module = sys.argv[1]
class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == module:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, CtrlC())
sys.argv[1:] = sys.argv[2:]
runpy.run_module("fastdraw", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("module", ["fastdraw.cli", "fastdraw.cli.build", "numpy",
                                    "fastdraw.build", "numba"])
def test_ctrl_c_while_python_imports_the_command_says_interrupted(module, tmp_path):
    """The first ~0.3 s of `python -m fastdraw` go to imports: Ctrl-C then is exit code 130
    without a traceback."""
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", CTRL_C_AT_IMPORT, module, "--classes", "cat",
                           "--sample", "--out", str(out)], capture_output=True, text=True,
                          timeout=120)
    assert (done.returncode, done.stderr) == (130, "fastdraw: interrupted\n")
    assert not out.exists()
