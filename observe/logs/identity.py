"""A log file's identity: device, inode and a fingerprint of its first line, so a reused inode is a new file."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class FileIdentity:
    """Who a file is, independent of its name (which rotation changes)."""

    dev: int
    ino: int
    fingerprint: bytes

    @property
    def key(self) -> str:
        """A short stable key: the prefix of every document _id from this file, and the checkpoint key."""
        h = hashlib.blake2b(digest_size=8)
        h.update(f"{self.dev}:{self.ino}:".encode())
        h.update(self.fingerprint)
        return h.hexdigest()


def read_fingerprint(fd: int, limit: int) -> bytes | None:
    """The file's first line, up to `limit` bytes; None while the file has neither a newline nor `limit` bytes.

    Waiting for a whole first line (or `limit` bytes) makes the fingerprint stable while the file grows.
    """
    head = os.pread(fd, limit, 0)
    nl = head.find(b"\n")
    if nl >= 0:
        return head[: nl + 1]
    if len(head) >= limit:
        return head
    return None


def identify(fd: int, limit: int) -> FileIdentity | None:
    """The identity of an open file, or None while it is too young to fingerprint."""
    st = os.fstat(fd)
    fp = read_fingerprint(fd, limit)
    if fp is None:
        return None
    return FileIdentity(st.st_dev, st.st_ino, fp)
