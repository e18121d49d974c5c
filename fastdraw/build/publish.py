"""Putting a finished build in place, and builds of one name taking turns.

What a build of name ``zoo`` keeps in its output directory (docs/architecture.md,
"Publishing, replacing and reading a dataset")::

    zoo_<kind> -> .zoo/<kind>        a dataset link, made once per kind
    .zoo -> .zoo.build-<id>          the current build, switched by the rename of one link
    .zoo.build-<id>/<kind>/          a published build, never changed again
    .zoo.tmp-<id>/<kind>/            a build in progress
    .zoo.old-<id>/                   a replaced build, on its way out
    .zoo.lock                        builds of ``zoo`` take turns on it (flock)

Every step of a publish leaves each dataset of the name all old or all new, so a kill
(``kill -9`` included) at any point does too (one exception: replacing a dataset directory
on a file system that cannot exchange two paths, see `_adopt`); what it strands is hidden,
and the next build of the name removes it.  Ctrl-C and SIGTERM wait until the end.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import logging
import os
import re
import secrets
import shutil
import signal
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from fastdraw.dataset.layout import foreign_entries
from fastdraw.errors import BuildError, InterruptedAfterPublish
from fastdraw.progress import size_text

log = logging.getLogger(__name__)

_ID = "[0-9a-f]{8}"
_NEW_CURRENT = ".current"  # the new current link, made inside the build before the switch
_NAME_MAX = 255  # bytes of a file name (Linux's NAME_MAX, most file systems')


def interrupt_on_sigterm() -> Any:
    """SIGTERM interrupts the build like Ctrl-C (so it cleans up); returns the old handler."""
    try:
        return signal.signal(signal.SIGTERM, signal.default_int_handler)
    except ValueError:  # not the main thread: leave signals alone
        return None


# ---------------------------------------------------------------------------- taking turns


def taking_turns(out: Path, name: str) -> AbstractContextManager[bool]:
    """Holds ``<out>/.<name>.lock`` for the block, waiting for a build that holds it: builds
    of one name in one directory run one after the other.  Yields False (after a warning)
    where the file system cannot lock: then nothing is known of other builds."""
    lock = out / f".{name}.lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as e:
        raise BuildError(f"cannot write in --out {out}: {e.strerror}: give a directory you "
                         "can write to") from None
    return holding_turn(fd, lock, f"another build of {name!r} in {out} is running (it holds "
                                  f"{lock}): waiting for it to end",
                        f"do not run two builds of {name!r} in {out} at once; the temporaries "
                        "of killed builds are named, not removed")


@contextmanager
def holding_turn(fd: int, what: Path, waiting: str, advice: str) -> Iterator[bool]:
    """Holds an exclusive lock on ``fd``, open on ``what``, for the block (closing it after),
    waiting, once ``waiting`` is logged, for whoever holds it.  Yields False where the file
    system cannot lock, after a warning that gives ``advice``."""
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            locked = True
        except BlockingIOError:
            log.info("%s", waiting)
            fcntl.flock(fd, fcntl.LOCK_EX)
            locked = True
        except OSError as e:
            log.warning("cannot lock %s (%s): %s", what, e.strerror, advice)
            locked = False
        yield locked
    finally:
        os.close(fd)


def remove_leftovers(out: Path, name: str, locked: bool) -> None:
    """Removes what interrupted builds of ``name`` left in ``out`` (holding its lock, no
    other build of the name runs): temporaries, replaced builds, a build that never became
    current.  Names, without removing them, those of fastdraw versions before this layout
    (``.<name>_<kind>.tmp-*`` and ``.old-*``: one may hold the only copy of a dataset), and
    when ``locked`` is False everything."""
    ours = re.compile(rf"\.{re.escape(name)}\.(?:tmp|old|build)-{_ID}")
    earlier = re.compile(rf"\.{re.escape(name)}_[a-z]+\.(tmp|old)-[a-z0-9_]{{8}}")
    current = current_build(out, name)
    for entry in sorted(out.iterdir()):
        if not entry.is_dir() or entry.is_symlink() or entry == current:
            continue
        if ours.fullmatch(entry.name):
            size = size_text(_tree_bytes(entry))
            if locked:
                try:
                    shutil.rmtree(entry)
                    log.info("removed %s (%s), left by an interrupted build of %r", entry,
                             size, name)
                    continue
                except OSError as e:
                    what = f"left by an interrupted build, and cannot be removed ({e})"
            else:
                what = "left by an interrupted build, or one still running"
        elif m := earlier.fullmatch(entry.name):
            size = size_text(_tree_bytes(entry))
            what = ("the dataset that an interrupted --overwrite of an earlier fastdraw moved "
                    "aside" if m[1] == "old" else
                    "left by an interrupted build of an earlier fastdraw, or one still running")
        else:
            continue
        log.warning("%s (%s): %s; remove it once no other build of %r runs", entry, size,
                    what, name)


def _tree_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


# ------------------------------------------------------------------------------ the layout


def new_workdir(out: Path, name: str) -> Path:
    """A new, empty ``<out>/.<name>.tmp-<id>`` (the usual mode for the process umask: it
    becomes the published build)."""
    while True:
        path = out / f".{name}.tmp-{secrets.token_hex(4)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def current_build(out: Path, name: str) -> Path | None:
    """The build directory ``<out>/.<name>`` leads to, if it is one of ours and exists."""
    try:
        text = os.readlink(out / f".{name}")
    except OSError:
        return None
    if re.fullmatch(rf"\.{re.escape(name)}\.build-{_ID}", text) and (out / text).is_dir():
        return out / text
    return None


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a build: the longest file name a build of it makes,
    ``.<name>.build-<id>``, would be longer than a file name can be (255 bytes); or None."""
    most = _NAME_MAX - len(f"..build-{'0' * 8}")
    if len(os.fsencode(name)) <= most:
        return None
    shown = name if len(name) <= 40 else name[:37] + "..."
    return (f"--name {shown!r} is too long: the build's directory .<name>.build-<id> would "
            f"be longer than a file name can be ({_NAME_MAX} bytes); give a name of at most "
            f"{most} bytes")


def current_link_problem(out: Path, name: str) -> str | None:
    """Why ``<out>/.<name>`` cannot be the link to the current build (something else of that
    name is there, such as the downloads' ``.fastdraw`` directory), or None."""
    link = out / f".{name}"
    if not link.exists() and not link.is_symlink():
        return None
    if link.is_symlink() and re.fullmatch(rf"\.{re.escape(name)}\.build-{_ID}",
                                          os.readlink(link)):
        return None
    what = ("a link to " + os.readlink(link) if link.is_symlink() else
            "a directory" if link.is_dir() else "a file")
    return (f"{link} ({what}) is in the way of the link to the current build of {name!r}, "
            "which the build makes there: choose another --name or --out")


def _link_text(name: str, kind: str) -> str:
    return f".{name}/{kind}"


def _is_dataset_link(target: Path, name: str, kind: str) -> bool:
    try:
        return os.readlink(target) == _link_text(name, kind)
    except OSError:
        return False


def target_problem(target: Path, name: str, kind: str, overwrite: bool,
                   during: bool = False) -> str | None:
    """Why the dataset of ``kind`` cannot be published at ``target``, or None.

    Without ``overwrite`` the target must not exist (a dataset link of the name that leads
    nowhere counts as absent); with it, it may be a dataset link, another link (replaced,
    never what it leads to) or a directory of dataset files only.  ``during``: the check
    at publishing, after the build.
    """
    exists = target.exists()
    if not exists and (not target.is_symlink() or _is_dataset_link(target, name, kind)):
        return None
    if not overwrite:
        return (f"{target} appeared during the build: pass --overwrite to replace it" if during
                else f"{target} already exists: pass --overwrite to replace it (or choose "
                "another --name or --out)")
    if target.is_symlink():
        return None
    if target.is_dir():
        foreign = foreign_entries(target)
        if not foreign:
            return None
        shown = ", ".join(foreign[:4]) + (f" and {len(foreign) - 4} more"
                                          if len(foreign) > 4 else "")
        what = f"it holds {shown}"
    else:
        what = "it is a file" if target.is_file() else "it is not a directory"
    return (f"{target} is not a dataset ({what}): --overwrite replaces datasets only; move it "
            "away, or choose another --name or --out")


# ----------------------------------------------------------------------------- publishing


def publish(work: Path, name: str, targets: dict[str, Path], overwrite: bool) -> None:
    """Makes the complete build in ``work`` (``.<name>.tmp-<id>``, a directory per kind)
    the current build of ``name``; ``targets`` gives every kind's dataset link.

    Kinds of the current build that this one does not make, and whose dataset link is in
    place, come along as hard links.  A target that is a dataset directory (an earlier
    fastdraw's, the notebook's) is first made a build of its own, unchanged, so that the
    switch stays one step.  The old build is removed once the new one is current.  Ctrl-C
    and SIGTERM wait until the end; one that came meanwhile raises InterruptedAfterPublish
    when the new datasets are in place.
    """
    out = work.parent
    for kind, target in targets.items():
        if problem := target_problem(target, name, kind, overwrite, during=True):
            raise BuildError(problem)
    published = False
    try:
        with signals_deferred():
            directories = {kind: target for kind, target in targets.items()
                           if target.is_dir() and not target.is_symlink()}
            if directories:
                _adopt(out, name, directories)
            old = current_build(out, name)
            _switch(work, name, targets, old)
            published = True
            if old is not None:
                _remove(old, out / f".{name}.old-{old.name[-8:]}", name)
    except KeyboardInterrupt:
        if published:
            raise InterruptedAfterPublish(
                "interrupted once the build was complete: "
                + ", ".join(str(target) for target in targets.values())
                + " are in place and whole") from None
        raise


def _switch(work: Path, name: str, targets: dict[str, Path], old: Path | None) -> None:
    """Renames ``work`` to ``.<name>.build-<id>``, carries the kinds of build ``old`` that it
    lacks, makes the dataset links that are missing (those of ``targets`` that are
    directories excepted), and makes it current by renaming a new link over ``.<name>``."""
    out = work.parent
    built = out / f".{name}.build-{work.name[-8:]}"
    try:
        if old is not None:
            for kind in (p.name for p in old.iterdir()):
                if (kind not in targets and (old / kind).is_dir()
                        and _is_dataset_link(out / f"{name}_{kind}", name, kind)):
                    _link_files(old / kind, work / kind)
        os.symlink(built.name, work / _NEW_CURRENT)
        os.rename(work, built)
        for kind, target in targets.items():
            if not _is_dataset_link(target, name, kind) and (target.is_symlink()
                                                             or not target.is_dir()):
                os.symlink(_link_text(name, kind), built / f".link-{kind}")
                os.replace(built / f".link-{kind}", target)
        os.replace(built / _NEW_CURRENT, out / f".{name}")
    except BaseException:
        shutil.rmtree(built if built.exists() else work, ignore_errors=True)
        raise


def _adopt(out: Path, name: str, directories: dict[str, Path]) -> None:
    """Makes the dataset ``directories`` (kind -> target) a build of ``name`` without changing
    what any target holds: their files are hard-linked into a new build, which becomes
    current, and then each directory is swapped for its link and removed.  The swap is one
    step where the file system can exchange two paths; elsewhere it is two renames, and a
    kill between them leaves that dataset missing (its files stay in the current build)."""
    work = new_workdir(out, name)
    for kind, directory in directories.items():
        _link_files(directory, work / kind)
    old = current_build(out, name)
    _switch(work, name, directories, old)
    for kind, target in directories.items():
        trash = out / f".{name}.old-{secrets.token_hex(4)}"
        trash.mkdir()
        os.symlink(_link_text(name, kind), trash / "link")
        if not _exchange(trash / "link", target):
            os.rename(target, trash / "dataset")
            os.replace(trash / "link", target)
        _remove(trash, trash, name)
    if old is not None:
        _remove(old, out / f".{name}.old-{old.name[-8:]}", name)


def _link_files(src: Path, dst: Path) -> None:
    """Every file of directory ``src`` into a new directory ``dst``, as hard links (copies
    where the file system has none)."""
    dst.mkdir()
    for file in src.iterdir():
        try:
            os.link(file, dst / file.name)
        except OSError:
            shutil.copy2(file, dst / file.name)


def _remove(path: Path, trash: Path, name: str) -> None:
    """Removes a replaced build (or dataset): renamed to ``trash`` first, so that it goes
    all at once for its readers."""
    try:
        if trash != path:
            os.rename(path, trash)
        shutil.rmtree(trash)
    except OSError as e:
        log.warning("the new datasets are in place, but the replaced one in %s cannot be "
                    "removed (%s); the next build of %r removes it", path, e, name)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swaps paths ``a`` and ``b`` atomically (Linux renameat2 RENAME_EXCHANGE); False where
    the C library or the file system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


@contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM are held back inside the block and raised again on leaving it.

    Python-level handlers, not a thread signal mask: a process-wide signal may go to any
    thread that does not block it, and Python runs its handler in the main thread anyway.
    """
    held: list[int] = []
    signals = (signal.SIGINT, signal.SIGTERM)
    try:
        previous = [signal.signal(s, lambda signum, _: held.append(signum)) for s in signals]
    except ValueError:  # not the main thread: signals cannot reach this code there
        previous = []
    try:
        yield
    finally:
        for s, handler in zip(signals, previous):
            signal.signal(s, handler)
        if held:
            signal.raise_signal(held[0])
