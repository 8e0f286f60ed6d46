"""Durable atomic file replacement: the one way observe writes state that must survive a crash."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> None:
    """Replace path with data: temp file, fsync, rename, fsync the folder. Blocking: call it from a thread.

    A crash leaves either the old file or the new one, never a torn one; raises OSError (the old file stays).
    """
    folder = path.parent
    tmp = folder / f".{path.name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
