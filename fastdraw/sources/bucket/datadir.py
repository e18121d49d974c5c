"""The data directory as a download writes it, never through a link.

A download creates, appends to, truncates and renames `<class>.ndjson.part`, renames it to
`<class>.ndjson`, and writes `.fastdraw/<class>.ndjson.json`.  A symbolic link planted at
any of these (or a file with a second hard link) would have it write whatever the link
leads to, outside the data directory.  So the partial file is opened with O_NOFOLLOW and
must be a regular file with one link; the sidecar directory is opened with O_NOFOLLOW and
its files are read and written relative to it, with O_NOFOLLOW; a class file that is a link
is only ever read.  (The lock is an `flock` on the data directory itself: no file.)
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from fastdraw.errors import UnsafePathError

SIDECAR_DIR = ".fastdraw"
_SIDECAR_MAX = 1 << 16  # bytes; a sidecar is a few hundred


def what_is(mode: int) -> str:
    """What a directory entry is, for messages: "a pipe", "a directory", ..."""
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a file" if stat.S_ISREG(mode) else "a device"


def lstat(path: Path) -> os.stat_result | None:
    """The entry itself (a link is not followed), or None when there is none."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def link_target(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def _part_problem(part: Path, st: os.stat_result, class_file: str) -> str | None:
    where = f"where fastdraw keeps the partial download of {class_file}"
    rm = f"rm {str(part)!r}"
    if stat.S_ISLNK(st.st_mode):
        return (f"{part}: a symbolic link (to {link_target(part)}) {where}: fastdraw never "
                f"writes through a link. Remove it ({rm}) and run again")
    if not stat.S_ISREG(st.st_mode):
        return f"{part}: {what_is(st.st_mode)}, not a file, {where}: move it away and run again"
    if st.st_nlink > 1:
        return (f"{part}: a file with {st.st_nlink} hard links {where}: writing it would change "
                f"the file's other names too. Remove it ({rm}) and run again")
    return None


def check_part(part: Path, class_file: str) -> os.stat_result | None:
    """The partial file's entry (None when absent); UnsafePathError unless it is a regular
    file with no other name."""
    st = lstat(part)
    if st is not None and (problem := _part_problem(part, st, class_file)) is not None:
        raise UnsafePathError(problem)
    return st


def open_part(part: Path, class_file: str) -> int:
    """A descriptor of the partial file, created if absent, for appending and reading:
    never a link's target, a pipe (which would block) or a file with other names."""
    flags = (os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
             | os.O_CLOEXEC)
    try:
        fd = os.open(part, flags, 0o666)
    except OSError as e:
        st = lstat(part) if e.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO) else None
        if st is not None and (problem := _part_problem(part, st, class_file)) is not None:
            raise UnsafePathError(problem) from None
        raise
    st = os.fstat(fd)
    if (problem := _part_problem(part, st, class_file)) is not None:
        os.close(fd)
        raise UnsafePathError(problem)
    return fd


def same_file(a: os.stat_result, b: os.stat_result | None) -> bool:
    return b is not None and (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


class SidecarUnwritable(Exception):
    """Why the sidecar directory cannot take a record (said in a warning: only a cache)."""


def _sidecar_dir(data_dir: Path, create: bool) -> int:
    """A descriptor of `data_dir/.fastdraw` (created if asked), never through a link."""
    path = data_dir / SIDECAR_DIR
    try:
        if create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(path)  # an existing link is not followed: EEXIST
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        st = lstat(path)
        if st is not None and stat.S_ISLNK(st.st_mode):
            raise SidecarUnwritable(
                f"{path} is a symbolic link (to {link_target(path)}), and fastdraw writes only "
                "into a real directory there (remove the link to let it record verified "
                "files)") from e
        raise SidecarUnwritable(f"{path} cannot be written ({e.strerror or e})") from e


def read_sidecar(data_dir: Path, name: str) -> bytes | None:
    """The bytes of `.fastdraw/<name>`, or None when it is absent, not a regular file (or
    reached through a link), too big, or unreadable: a missing record only costs a hash."""
    try:
        dir_fd = _sidecar_dir(data_dir, create=False)
    except SidecarUnwritable:
        return None
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=dir_fd)
    except OSError:
        return None
    finally:
        os.close(dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _SIDECAR_MAX:
            return None
        return os.read(fd, _SIDECAR_MAX + 1)
    except OSError:
        return None
    finally:
        os.close(fd)


def write_sidecar(data_dir: Path, name: str, data: bytes) -> None:
    """Writes `.fastdraw/<name>` whole (a temporary file renamed over it: a link there is
    replaced, not followed).  Raises SidecarUnwritable saying why it cannot."""
    dir_fd = _sidecar_dir(data_dir, create=True)
    tmp = f"{name}.tmp"
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)  # a leftover, or a link: the entry goes, not its target
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o666, dir_fd=dir_fd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError as e:
        raise SidecarUnwritable(f"{data_dir / SIDECAR_DIR / name} cannot be written "
                                f"({e.strerror or e})") from e
    finally:
        os.close(dir_fd)
