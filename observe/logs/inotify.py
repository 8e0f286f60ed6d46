"""inotify wake-ups (via the asyncinotify package, Linux only): directory watches that wake file discovery at
once, and one-shot write watches on young files (open, but without a first line to fingerprint yet).

The directory watches see only names appearing, moving or going (not IN_MODIFY): the default glob matches
symlinks whose targets live in other directories, so a write would not show there anyway, and a busy file would
flood the queue. Any event, including a queue overflow, only wakes the next discovery pass; the pass itself finds
what changed.

A file created empty (a container's log before its first line) is young until its first line: it gets an IN_MODIFY
watch with IN_ONESHOT (`FileWakeups`), which the kernel removes after the first event, and that event wakes the
discovery pass that identifies it, instead of the next poll. Files being read have no write watch (tailer.py's
read_loop says why).
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
from collections.abc import Iterable

log = logging.getLogger("observe.logs.inotify")

try:  # a missing package or a libc without inotify (not Linux) means polling only
    import asyncinotify
except (ImportError, OSError, AttributeError) as exc:
    asyncinotify = None  # type: ignore[assignment]
    UNAVAILABLE = f"asyncinotify not usable here: {exc}"
else:
    UNAVAILABLE = ""


def watch_dirs(patterns: Iterable[str]) -> set[str]:
    """Every existing directory a file matching one of the globs could appear in, and each level above it down
    from the glob's fixed prefix (so a new pod or container directory is seen too)."""
    out: set[str] = set()
    for pattern in patterns:
        parts = (os.path.dirname(pattern) or ".").split(os.sep)
        fixed = 0
        while fixed < len(parts) and not glob.has_magic(parts[fixed]):
            fixed += 1
        prefix = os.sep.join(parts[:fixed]) or os.sep
        if os.path.isdir(prefix):
            out.add(prefix)
        for level in range(fixed + 1, len(parts) + 1):
            out.update(d for d in glob.glob(os.sep.join(parts[:level])) if os.path.isdir(d))
    return out


class DirWatcher:
    """One inotify instance whose directory watches follow `sync`; every event sets `wake`."""

    def __init__(self, wake: asyncio.Event) -> None:
        if asyncinotify is None:
            raise OSError(UNAVAILABLE)
        self.wake = wake
        self._inotify = asyncinotify.Inotify()  # OSError when the per-user instance limit is reached
        self._mask = (asyncinotify.Mask.CREATE | asyncinotify.Mask.MOVED_TO | asyncinotify.Mask.DELETE
                      | asyncinotify.Mask.MOVED_FROM | asyncinotify.Mask.MOVE_SELF | asyncinotify.Mask.ONLYDIR)
        self._watches: dict[str, asyncinotify.Watch] = {}
        self._warned: set[str] = set()
        self.overflows = 0

    def sync(self, dirs: set[str]) -> bool:
        """Watch exactly these directories; True when a watch was added (a file may have appeared meanwhile)."""
        added = False
        for path in list(self._watches):
            if path not in dirs:
                self._forget(path, remove=True)
        for path in dirs - self._watches.keys():
            try:
                self._watches[path] = self._inotify.add_watch(path, self._mask)
                added = True
            except OSError as exc:
                # ENOSPC: fs.inotify.max_user_watches is reached; this directory is found by polling only.
                if path not in self._warned:
                    self._warned.add(path)
                    log.warning("cannot watch a directory; polling finds its files",
                                extra={"file.directory": path, "error.message": str(exc)})
        return added

    def _forget(self, path: str, *, remove: bool) -> None:
        watch = self._watches.pop(path, None)
        if remove and watch is not None:
            try:
                self._inotify.rm_watch(watch)
            except OSError:
                pass  # the kernel already dropped it (directory deleted)

    async def run(self) -> None:
        """Read events forever, waking discovery on each."""
        assert asyncinotify is not None
        async for event in self._inotify:
            if asyncinotify.Mask.Q_OVERFLOW in event.mask:
                self.overflows += 1  # events were lost: the woken pass rescans everything
            elif asyncinotify.Mask.IGNORED in event.mask or asyncinotify.Mask.MOVE_SELF in event.mask:
                # The directory went or moved: drop the watch so the next sync adds one for whatever is there now.
                watch = event.watch
                for path, held in list(self._watches.items()):
                    if held is watch:
                        self._forget(path, remove=asyncinotify.Mask.MOVE_SELF in event.mask)
            self.wake.set()

    def close(self) -> None:
        """Release the inotify descriptor."""
        self._inotify.close()


class FileWakeups:
    """One-shot IN_MODIFY watches on open files that nobody reads yet (too young to fingerprint); a watch's event
    sets the event it was armed with.

    A watch is added through /proc/self/fd/N, so it follows the open file through renames and deletion.
    """

    def __init__(self) -> None:
        if asyncinotify is None:
            raise OSError(UNAVAILABLE)
        self._inotify = asyncinotify.Inotify()
        self._mask = asyncinotify.Mask.MODIFY | asyncinotify.Mask.ONESHOT
        self._armed: dict[object, asyncinotify.Watch] = {}  # file key -> its pending watch
        self._keys: dict[asyncinotify.Watch, tuple[object, asyncio.Event]] = {}

    def arm(self, key: object, fd: int, wake: asyncio.Event) -> bool:
        """Watch this open file for its next write, which sets `wake`; True when a watch was added now (False: it
        already had one, or none can be added and polling finds its growth)."""
        if key in self._armed:
            return False
        try:
            watch = self._inotify.add_watch(f"/proc/self/fd/{fd}", self._mask)
        except OSError:  # e.g. fs.inotify.max_user_watches reached: polling finds the file's first line
            return False
        self._armed[key] = watch
        self._keys[watch] = (key, wake)
        return True

    def disarm(self, key: object) -> None:
        """The file is identified (no longer young) or gone: drop its watch."""
        watch = self._armed.pop(key, None)
        if watch is not None:
            self._keys.pop(watch, None)
            try:
                self._inotify.rm_watch(watch)
            except OSError:
                pass  # the kernel already removed it (it fired, or the file is gone)

    async def run(self) -> None:
        """Read events forever: a fired watch is gone (one-shot); a file still young is armed again by the next
        discovery pass."""
        assert asyncinotify is not None
        async for event in self._inotify:
            if asyncinotify.Mask.Q_OVERFLOW in event.mask:
                wakes = {id(w): w for _, w in self._keys.values()}
                for key in list(self._armed):  # which ones fired is lost: start over, and wake every waiter
                    self.disarm(key)
                for wake in wakes.values():
                    wake.set()
            elif asyncinotify.Mask.IGNORED not in event.mask:  # IGNORED: a watch went (fired, disarmed, file gone)
                held = self._keys.pop(event.watch, None) if event.watch is not None else None
                if held is not None:
                    self._armed.pop(held[0], None)
                    held[1].set()

    def close(self) -> None:
        """Release the inotify descriptor (and with it every watch)."""
        self._inotify.close()
