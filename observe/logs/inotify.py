"""Directory watches that wake file discovery at once (inotify via the asyncinotify package, Linux only).

Only names appearing, moving or going are watched (IN_MODIFY is not): the default glob matches symlinks whose
targets live in other directories, so a write would not show here anyway, and a busy file would flood the queue.
Any event, including a queue overflow, only wakes the next discovery pass; the pass itself finds what changed.
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
