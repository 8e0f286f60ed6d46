"""Finding log files: the globs' matches, a checkpointed inode after a restart, siblings rotated between polls,
and the discovery loop (polling, woken early by inotify)."""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import glob
import logging
import os
import time
from collections.abc import Awaitable, Callable

from observe.logs.checkpoint import FileCheckpoint
from observe.logs.config import LogsConfig
from observe.logs.identity import FileIdentity, identify
from observe.logs.inotify import DirWatcher, watch_dirs

log = logging.getLogger("observe.logs.tailer")

# Passes woken by inotify start at least this far apart, so a directory churning files cannot keep discovery busy;
# a wake-up after a quiet spell runs its pass at once.
INOTIFY_MIN_GAP_S = 0.05


def glob_matches(pattern: str, path: str) -> bool:
    """Whether glob.glob(pattern) could return path: fnmatch per path component, as glob does."""
    parts, names = pattern.split(os.sep), path.split(os.sep)
    return len(parts) == len(names) and all(fnmatch.fnmatchcase(n, p) for p, n in zip(parts, names, strict=True))


def entry_exists(entry: FileCheckpoint) -> bool:
    """Whether the file of a checkpoint entry is still at its recorded path (same device and inode)."""
    try:
        st = os.stat(entry.real_path)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (entry.dev, entry.ino)


def in_globs(path: str, patterns: list[str]) -> bool:
    """Whether any of the globs could return path."""
    return any(glob_matches(pattern, path) for pattern in patterns)


def find_files(patterns: list[str], exclude: list[str]) -> dict[str, os.stat_result]:
    """Regular files matching `patterns` and none of `exclude`, with their stat (symlinks followed)."""
    found: dict[str, os.stat_result] = {}
    for pattern in patterns:
        for path in glob.glob(pattern):
            if any(fnmatch.fnmatch(path, ex) for ex in exclude):
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue  # a dangling symlink: the target is gone
            if not os.path.isfile(path):
                continue
            found[path] = st
    return found


def real_path(path: str) -> str:
    """The path with every symlink resolved (the discovery pass runs on the loop; it is a few lstat calls)."""
    return os.path.realpath(path)


def open_same(path: str, inode: tuple[int, int]) -> int | None:
    """A read-only descriptor of path if it is still the file (device, inode) found by a scan, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != inode:
        os.close(fd)
        return None
    return fd


def rotated_siblings(real_path: str) -> list[tuple[str, os.stat_result]]:
    """`name.*` siblings of a file (not the compressed ones), with their stat."""
    folder, base = os.path.split(real_path)
    try:
        names = [n for n in os.listdir(folder) if n.startswith(base + ".") and not n.endswith(".gz")]
    except OSError:
        return []
    out: list[tuple[str, os.stat_result]] = []
    for name in names:
        sibling = os.path.join(folder, name)
        try:
            out.append((sibling, os.stat(sibling)))
        except OSError:
            continue
    return out


def find_entry_file(entry: FileCheckpoint, key: str, fingerprint_bytes: int) -> tuple[int, FileIdentity, str] | None:
    """A checkpointed file found by its inode in its old folder (rotated while we were down): descriptor, identity
    and path, or None when it is gone (an inode reused by another file is not ours: other fingerprint)."""
    found = _find_inode(entry)
    if found is None:
        return None
    fd, path = found
    ident = identify(fd, fingerprint_bytes)
    if ident is None or ident.key != key:
        os.close(fd)
        return None
    return fd, ident, path


def _find_inode(entry: FileCheckpoint) -> tuple[int, str] | None:
    """An open descriptor and the path of a checkpointed file's inode in its old folder, or None when gone."""
    folder = os.path.dirname(entry.real_path)
    try:
        names = os.listdir(folder)
    except OSError:
        return None
    for name in names:
        path = os.path.join(folder, name)
        try:
            st = os.stat(path)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (entry.dev, entry.ino):
            try:
                return os.open(path, os.O_RDONLY | os.O_CLOEXEC), path
            except OSError:
                return None
    return None


class DiscoveryLoop:
    """Runs discovery passes forever: every poll interval, or at once when inotify sees a directory change."""

    def __init__(self, config: LogsConfig, poll: Callable[[], Awaitable[None]], patterns: Callable[[], list[str]]) -> None:
        self.config = config
        self.poll = poll
        self.patterns = patterns
        self.wake = asyncio.Event()  # set by inotify events: run the next discovery pass now
        self.mode = "poll"

    def _start_watcher(self) -> DirWatcher | None:
        reason = "logs.inotify is off"
        watcher = None
        if self.config.inotify == "auto":
            try:
                watcher = DirWatcher(self.wake)
            except OSError as exc:
                reason = str(exc)
        self.mode = "inotify" if watcher is not None else "poll"
        extra: dict[str, object] = {"observe.discovery.mode": self.mode,
                                    "observe.discovery.poll_interval_seconds": self.config.poll_interval_seconds}
        if watcher is None:
            extra["event.reason"] = reason
        log.info("file discovery: %s", "inotify wake-ups with polling as the safety net" if watcher else "polling only",
                 extra=extra)
        return watcher

    async def run(self) -> None:
        """Poll forever; with inotify a directory event starts the next pass at once instead of after the interval."""
        watcher = self._start_watcher()
        events = asyncio.create_task(watcher.run(), name="logs-inotify") if watcher is not None else None
        try:
            while True:
                self.wake.clear()
                started = time.monotonic()
                try:
                    await self.poll()
                except Exception:
                    log.exception("discovery pass failed; retrying")
                if events is not None and events.done():
                    log.error("inotify watcher failed; discovery falls back to polling",
                              extra={"error.message": repr(events.exception())})
                    events = None
                    self.mode = "poll"
                if events is not None and watcher is not None:
                    try:
                        if watcher.sync(watch_dirs(self.patterns())):
                            self.wake.set()  # a file created before its directory was watched
                    except Exception:
                        log.exception("updating the inotify watches failed; polling continues")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.config.poll_interval_seconds)
                    # A burst of events is one pass, not one pass each.
                    await asyncio.sleep(max(0.0, started + INOTIFY_MIN_GAP_S - time.monotonic()))
        finally:
            if events is not None:
                events.cancel()
            if watcher is not None:
                watcher.close()
