"""Publishing and replacing datasets: a kill at any step of a publish leaves every dataset of
the name all old or all new, and the next build removes what it left; builds of one name take
turns; a reader finishes on the build it started on or fails; --overwrite replaces datasets
only.

The kill tests run each build in a forked child that kills itself (SIGKILL) just before the
n-th change the publish makes to the file system, for n = 1, 2, ... until one completes.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
from build_helpers import SAMPLE, leftovers, options, tree, volume_files

from fastdraw.build import build, builder
from fastdraw.build import publish as publish_mod
from fastdraw.cli import main
from fastdraw.dataset import verify as verify_mod
from fastdraw.errors import BuildError

CLASSES = ["cat", "dog"]
FILES = [SAMPLE / f"{c}.ndjson" for c in CLASSES]
SPLITS = {"train": 4, "eval": 2}
KINDS = ("img", "stroke")
OLD, NEW = 0, 1  # the seeds of the dataset replaced and of its replacement


def _options(out: Path, seed: int, kinds=KINDS, **kw):
    return options(CLASSES, FILES, out, {kind: dict(SPLITS) for kind in kinds}, shards=2,
                   workers=1, seed=seed, **kw)


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[int, Path]:
    """An output directory holding the datasets of each seed, built once."""
    made = {}
    for seed in (OLD, NEW):
        made[seed] = tmp_path_factory.mktemp(f"seed{seed}")
        build(_options(made[seed], seed))
    return made


def _seed_of(out: Path, kind: str, made: dict[int, Path]) -> int | None:
    """Which seed's dataset ``out`` holds for ``kind`` (byte for byte), None when it has none;
    fails on a dataset of neither."""
    path = out / f"t_{kind}"
    if not path.exists():
        return None
    got = tree(path)
    seeds = [seed for seed, where in made.items() if tree(where / f"t_{kind}") == got]
    assert seeds, f"{path} holds neither build: {sorted(got)}"
    return seeds[0]


# ----------------------------------------------------------------- killed at every step


def _kill_before_step(step: int) -> None:
    """In this (forked) process: SIGKILL just before the ``step``-th change a publish makes
    to the file system (a directory or link made, a rename, a tree removed)."""
    count = 0
    active = False

    def counted(fn):
        def step_of_publish(*args, **kwargs):
            nonlocal count
            if active:
                count += 1
                if count == step:
                    os.kill(os.getpid(), signal.SIGKILL)
            return fn(*args, **kwargs)
        return step_of_publish

    for name in ("mkdir", "rename", "replace", "symlink", "link"):
        setattr(os, name, counted(getattr(os, name)))
    shutil.rmtree = counted(shutil.rmtree)
    if hasattr(publish_mod, "_exchange"):
        publish_mod._exchange = counted(publish_mod._exchange)
    real = builder.publish

    def publish(*args, **kwargs):
        nonlocal active
        active = True
        return real(*args, **kwargs)

    builder.publish = publish


def _killed_before_step(step: int, run: Callable[[], object]) -> bool:
    """Runs ``run`` in a forked child killed before the publish's ``step``-th step; True
    if it was killed, False if it finished first."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            _kill_before_step(step)
            run()
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True
    assert os.WEXITSTATUS(status) == 0, "the build failed (its traceback is above)"
    return False


def _kill_at_every_step(tmp_path: Path, start: Callable[[Path], None],
                        run: Callable[[Path], object], check: Callable[[Path], None],
                        next_build: Callable[[Path], object], caplog) -> int:
    """For n = 1, 2, ...: a new output directory made by ``start``, ``run`` in it killed
    before the publish's n-th step, then ``check``; then ``next_build``, which must remove
    everything the kill left and name it.  Returns how many steps the publish has."""
    for step in itertools.count(1):
        out = tmp_path / f"step{step}"
        start(out)
        killed = _killed_before_step(step, lambda out=out: run(out))
        check(out)
        if not killed:
            return step - 1
        left = [name for name in leftovers(out) if name.startswith(".")]
        caplog.clear()
        with caplog.at_level("INFO", logger="fastdraw.build"):
            next_build(out)
        for name in left:
            assert f"removed {out / name} (" in caplog.text
        assert not [name for name in leftovers(out) if name.startswith(".")]
        assert step < 80


def _copy(src: Path) -> Callable[[Path], None]:
    return lambda out: shutil.copytree(src, out, symlinks=True)


def test_a_kill_at_any_step_of_an_overwrite_leaves_all_old_or_all_new(made, tmp_path, caplog):
    def check(out):
        assert {_seed_of(out, kind, made) for kind in KINDS} in ({OLD}, {NEW})

    def next_build(out):
        build(_options(out, NEW, overwrite=True))
        assert {_seed_of(out, kind, made) for kind in KINDS} == {NEW}
        assert leftovers(out) == ["t_img", "t_stroke"]

    steps = _kill_at_every_step(tmp_path, _copy(made[OLD]),
                                lambda out: build(_options(out, NEW, overwrite=True)),
                                check, next_build, caplog)
    assert steps >= 4


def test_a_kill_at_any_step_of_a_first_build_leaves_nothing_or_everything(made, tmp_path,
                                                                          caplog):
    def check(out):
        assert {_seed_of(out, kind, made) for kind in KINDS} in ({None}, {NEW})

    def next_build(out):
        build(_options(out, NEW, overwrite=True))
        assert leftovers(out) == ["t_img", "t_stroke"]

    steps = _kill_at_every_step(tmp_path, lambda out: out.mkdir(),
                                lambda out: build(_options(out, NEW)), check, next_build,
                                caplog)
    assert steps >= 4


def test_a_kill_at_any_step_of_a_one_kind_build_keeps_the_other_kind(made, tmp_path, caplog):
    def check(out):
        assert _seed_of(out, "img", made) in (OLD, NEW)
        assert _seed_of(out, "stroke", made) == OLD

    def next_build(out):
        build(_options(out, NEW, kinds=["img"], overwrite=True))
        assert (_seed_of(out, "img", made), _seed_of(out, "stroke", made)) == (NEW, OLD)
        assert leftovers(out) == ["t_img", "t_stroke"]

    steps = _kill_at_every_step(
        tmp_path, _copy(made[OLD]),
        lambda out: build(_options(out, NEW, kinds=["img"], overwrite=True)), check,
        next_build, caplog)
    assert steps >= 4


def test_a_kill_at_any_step_of_replacing_directories_leaves_all_old_or_all_new(made, tmp_path,
                                                                              caplog):
    """Datasets that are directories (as fastdraw made them before build directories, or the
    notebook does) are replaced as atomically."""
    def start(out):
        out.mkdir()
        for kind in KINDS:
            shutil.copytree(made[OLD] / f"t_{kind}", out / f"t_{kind}")

    def check(out):
        assert {_seed_of(out, kind, made) for kind in KINDS} in ({OLD}, {NEW})

    def next_build(out):
        build(_options(out, NEW, overwrite=True))
        assert {_seed_of(out, kind, made) for kind in KINDS} == {NEW}
        assert leftovers(out) == ["t_img", "t_stroke"]
        assert all((out / f"t_{kind}").is_symlink() for kind in KINDS)

    steps = _kill_at_every_step(tmp_path, start,
                                lambda out: build(_options(out, NEW, overwrite=True)),
                                check, next_build, caplog)
    assert steps >= 8


# ------------------------------------------------------------------------- kinds, targets


def test_a_one_kind_build_replaces_that_kind_and_keeps_the_other(made, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(made[OLD], out, symlinks=True)
    stroke_build = os.path.realpath(out / "t_stroke")
    build(_options(out, NEW, kinds=["img"], overwrite=True))
    assert (_seed_of(out, "img", made), _seed_of(out, "stroke", made)) == (NEW, OLD)
    assert os.path.realpath(out / "t_stroke") != stroke_build  # in the new build, as links
    assert not os.path.exists(stroke_build)
    assert leftovers(out) == ["t_img", "t_stroke"]
    assert verify_mod.verify_dataset(out / "t_stroke") == []


def test_directories_are_replaced_where_the_file_system_cannot_exchange(made, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setattr(publish_mod, "_exchange", lambda a, b: False)
    for kind in KINDS:
        shutil.copytree(made[OLD] / f"t_{kind}", tmp_path / f"t_{kind}")
    build(_options(tmp_path, NEW, overwrite=True))
    assert {_seed_of(tmp_path, kind, made) for kind in KINDS} == {NEW}
    assert all((tmp_path / f"t_{kind}").is_symlink() for kind in KINDS)
    assert leftovers(tmp_path) == ["t_img", "t_stroke"]


@pytest.mark.parametrize("what", ["files", "a file"])
def test_overwrite_refuses_what_is_not_a_dataset_and_names_it(tmp_path, what):
    target = tmp_path / "t_img"
    if what == "files":
        target.mkdir()
        (target / "notes.txt").write_text("mine")
        (target / "photos").mkdir()
        (target / "labels.txt").write_text("cat")
        said = f"{target} is not a dataset (it holds notes.txt, photos/)"
    else:
        target.write_text("mine")
        said = f"{target} is not a dataset (it is a file)"
    before = tree(tmp_path)
    with pytest.raises(BuildError) as e:
        build(_options(tmp_path, NEW, kinds=["img"], overwrite=True))
    assert str(e.value) == (f"{said}: --overwrite replaces datasets only; move it away, or "
                            "choose another --name or --out")
    assert tree(tmp_path) == before
    assert leftovers(tmp_path) == ["t_img"]


def test_a_name_whose_link_would_take_the_downloads_directory_is_refused_at_once(tmp_path):
    (tmp_path / ".fastdraw").mkdir()  # where downloads keep what they verified
    (tmp_path / ".fastdraw" / "cat.ndjson.json").write_text("{}")
    before = tree(tmp_path)
    with pytest.raises(BuildError) as e:
        build(_options(tmp_path, NEW, name="fastdraw"))
    assert str(e.value) == (f"{tmp_path}/.fastdraw (a directory) is in the way of the link to "
                            "the current build of 'fastdraw', which the build makes there: "
                            "choose another --name or --out")
    assert tree(tmp_path) == before and leftovers(tmp_path) == [".fastdraw"]


def test_a_name_too_long_for_the_build_directory_is_refused_before_any_work(tmp_path):
    # 240 bytes: every check passed, the build encoded and wrote everything, then its publish
    # failed with a bare "File name too long" (255 bytes in .<name>.build-<id>)
    out = tmp_path / "out"
    with pytest.raises(BuildError, match=r"--name 'n{37}\.\.\.' is too long: .* give a name "
                                         r"of at most 239 bytes"):
        build(_options(out, OLD, name="n" * 240))
    assert not out.exists()
    assert build(_options(out, OLD, name="n" * 239))


def test_overwrite_replaces_a_link_and_keeps_what_it_led_to(made, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(made[OLD] / "t_img", elsewhere)
    before = tree(elsewhere)
    out = tmp_path / "out"
    out.mkdir()
    (out / "t_img").symlink_to(elsewhere)
    build(_options(out, NEW, kinds=["img"], overwrite=True))
    assert _seed_of(out, "img", made) == NEW
    assert tree(elsewhere) == before


# ----------------------------------------------------------------------- taking turns

PAUSED_PUBLISH = """
import os, sys, time
from pathlib import Path
from fastdraw.build import builder
paused, go = Path(sys.argv[1]), Path(sys.argv[2])
active = []
def pausing(real):
    def step(*args, **kwargs):
        result = real(*args, **kwargs)
        if active == [True]:  # after the first rename of the publish, once
            active.append(False)
            paused.touch()
            deadline = time.monotonic() + 60
            while not go.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
        return result
    return step
os.rename, os.replace = pausing(os.rename), pausing(os.replace)
real_publish = builder.publish
def publish(*args, **kwargs):
    active.append(True)
    return real_publish(*args, **kwargs)
builder.publish = publish
from fastdraw.cli import main
sys.exit(main(sys.argv[3:]))
"""


def _cli_args(out: Path, seed: int) -> list[str]:
    return ["--classes", ",".join(CLASSES), "--sample", "--out", str(out), "--name", "t",
            "--splits", "train=4,eval=2", "--shards", "2", "--workers", "1", "--seed",
            str(seed)]


def _wait_for(what: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_two_overwrites_of_one_name_take_turns_and_the_later_wins(made, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(made[OLD], out, symlinks=True)
    later = tmp_path / "later"  # what the later build makes, built alone
    assert main(_cli_args(later, 2)) == 0
    paused, go = tmp_path / "paused", tmp_path / "go"
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    with open(first_log, "w") as err:
        first = subprocess.Popen([sys.executable, "-c", PAUSED_PUBLISH, str(paused), str(go),
                                  *_cli_args(out, NEW), "--overwrite"], stderr=err)
    try:
        _wait_for(lambda: paused.exists() or first.poll() is not None)
        assert first.poll() is None, first_log.read_text()
        with open(second_log, "w") as err:
            second = subprocess.Popen([sys.executable, "-m", "fastdraw", *_cli_args(out, 2),
                                       "--overwrite"], stderr=err)
        # It waits for the first one's lock (before this layout: it published meanwhile).
        _wait_for(lambda: "waiting for it to end" in second_log.read_text()
                  or second.poll() is not None)
        go.touch()
        assert first.wait(60) == 0, first_log.read_text()
        assert second.wait(60) == 0, second_log.read_text()
    finally:
        go.touch()
        first.kill()
    assert (f"another build of 't' in {out} is running (it holds {out}/.t.lock): waiting for "
            "it to end") in second_log.read_text()
    for kind in KINDS:
        assert tree(out / f"t_{kind}") == tree(later / f"t_{kind}")
        assert verify_mod.verify_dataset(out / f"t_{kind}") == []
    assert leftovers(out) == ["t_img", "t_stroke"]


def test_ctrl_c_after_the_publish_says_the_new_datasets_are_in_place(made, tmp_path,
                                                                     monkeypatch, caplog):
    # Ctrl-C while the summary is logged, once the build is published: it said "nothing
    # was written (temporary files removed)" of datasets it had just replaced
    out = tmp_path / "out"
    shutil.copytree(made[OLD], out, symlinks=True)

    def interrupted(*args, **kwargs):
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(builder, "summary", interrupted)
    with caplog.at_level("ERROR"):
        assert main([*_cli_args(out, NEW), "--overwrite"]) == 130
    assert "nothing was written" not in caplog.text
    assert f"{out / 't_img'}, {out / 't_stroke'} are in place and whole" in caplog.text
    for kind in KINDS:
        assert _seed_of(out, kind, made) == NEW


# ------------------------------------------------------------------ what kills leave behind

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


def test_the_next_build_removes_what_a_killed_one_left_and_names_it(tmp_path, caplog):
    classes, files = volume_files(tmp_path)
    out = tmp_path / "out"
    args = ["--classes", ",".join(classes), "--data", str(tmp_path), "--offline", "--out",
            str(out), "--name", "t", "--kind", "img", "--workers", "2"]
    proc = subprocess.Popen([sys.executable, "-c", SLOW_BUILD, *args, "--splits",
                             "train=500,eval=50,test=50"], stderr=subprocess.DEVNULL)
    try:  # encoding 1800 images, 0.3 s a chunk: kill -9 amid it
        _wait_for(lambda: any(out.glob(".*/**/.spool-*.rec")) or proc.poll() is not None)
    finally:
        proc.kill()
    assert proc.wait(60) == -signal.SIGKILL
    left = [name for name in leftovers(out) if name.startswith(".")]
    assert left
    with caplog.at_level("INFO", logger="fastdraw.build"):
        assert main([*args, "--splits", "train=5"]) == 0
    for name in left:
        assert re.search(rf"removed {re.escape(str(out / name))} \([0-9.]+ [KM]iB\), left by "
                         "an interrupted build of 't'", caplog.text)
    assert leftovers(out) == ["t_img"]


def test_a_build_names_the_leftovers_of_an_earlier_fastdraw_and_keeps_them(tmp_path, caplog):
    for name in (".t_img.tmp-k2j_4x9a", ".t_img.old-b7c3d0e1"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "train-00000-of-00001").write_bytes(bytes(3000))
    with caplog.at_level("WARNING", logger="fastdraw.build"):
        build(_options(tmp_path, NEW, kinds=["img"]))
    assert (f"{tmp_path}/.t_img.old-b7c3d0e1 (2.9 KiB): the dataset that an interrupted "
            "--overwrite of an earlier fastdraw moved aside; remove it once no other build "
            "of 't' runs") in caplog.text
    assert (f"{tmp_path}/.t_img.tmp-k2j_4x9a (2.9 KiB): left by an interrupted build of an "
            "earlier fastdraw, or one still running; remove it once no other build of 't' "
            "runs") in caplog.text
    assert leftovers(tmp_path) == [".t_img.old-b7c3d0e1", ".t_img.tmp-k2j_4x9a", "t_img"]


# -------------------------------------------------------------- reading during a replacement


def test_a_tf_reader_finishes_on_the_build_it_started_on_or_fails(tmp_path):
    import tensorflow as tf

    from fastdraw.data import img_dataset

    classes, files = volume_files(tmp_path)
    opts = options(classes, files, tmp_path, {"img": {"train": 40}}, shards=10, workers=1,
                   seed=OLD)
    build(opts)
    path = tmp_path / "t_img"
    whole = [(image.tobytes(), label) for image, label in
             img_dataset(path, "train").as_numpy_iterator()]
    reader = img_dataset(path, "train").as_numpy_iterator()
    # TensorFlow opens the first shard (of 10, 12 records each) and the next two ahead.
    got = [next(reader) for _ in range(3)]
    opts.seed, opts.overwrite = NEW, True
    build(opts)
    with pytest.raises(tf.errors.NotFoundError, match=r"\.t\.build-[0-9a-f]{8}/img/train-"):
        got.extend(reader)  # the old build's next shard is gone: no record of the new one
    assert [(image.tobytes(), label) for image, label in got] == whole[:len(got)]
    assert 3 <= len(got) < len(whole)


def test_verify_during_a_replacement_says_so_and_no_false_problem(made, tmp_path, monkeypatch):
    out = tmp_path / "out"
    shutil.copytree(made[OLD], out, symlinks=True)
    real = verify_mod._run

    def replaced_first(*args, **kwargs):  # the replacement comes as verify reads the shards
        build(_options(out, NEW, overwrite=True))
        return real(*args, **kwargs)

    monkeypatch.setattr(verify_mod, "_run", replaced_first)
    report = verify_mod.check(out / "t_img")
    assert len(report.problems) == 1
    assert re.fullmatch(r"the dataset was replaced by another build while verify read it "
                        rf"\({out}/\.t\.build-[0-9a-f]{{8}}/img is gone\): run verify again",
                        report.problems[0])
    monkeypatch.undo()
    assert verify_mod.verify_dataset(out / "t_img") == []


def test_preview_finishes_on_the_build_it_started_on_or_fails(made, tmp_path, monkeypatch):
    from fastdraw.views import preview as preview_mod

    out = tmp_path / "out"
    shutil.copytree(made[OLD], out, symlinks=True)
    real = preview_mod.shard_paths

    def replaced_after(*args, **kwargs):  # the replacement comes once preview found the shards
        paths = real(*args, **kwargs)
        build(_options(out, NEW, overwrite=True))
        return paths

    monkeypatch.setattr(preview_mod, "shard_paths", replaced_after)
    with pytest.raises(FileNotFoundError, match=r"\.t\.build-[0-9a-f]{8}/img/train-"):
        preview_mod.dataset_tiles(out / "t_img", "train", 4)
