"""Durable atomic file replacement: the one way observe writes state that must survive a crash.

Shipped log lines may hold secrets, so state files are created 0600 in folders created 0700, and a symlink is
never followed: not at the temp name (a fresh random name, opened O_EXCL|O_NOFOLLOW) nor at the target.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


class SymlinkRefused(OSError):
    """A state path is a symlink: following it would let whoever planted it choose what we read or overwrite."""


def refuse_symlink(path: Path) -> None:
    """Raise SymlinkRefused when path itself is a symlink (a missing path is fine)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise SymlinkRefused(f"{path} is a symlink; observe does not follow symlinks for its state files")


def private_dir(folder: Path) -> None:
    """Create folder (and its parents) if missing; a folder created here is 0700. An existing one is left as it is."""
    refuse_symlink(folder)
    folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace path with data: temp file, fsync, rename, fsync the folder. Blocking: call it from a thread.

    A crash leaves either the old file or the new one, never a torn one; raises OSError (the old file stays),
    SymlinkRefused when path is a symlink.
    """
    refuse_symlink(path)
    folder = path.parent
    tmp = folder / f".{path.name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
