"""The checkpoint entries of files the tailer does not hold open, and when to forget them.

Two kinds: `saved` entries came from the last run's checkpoint file, or belong to files that left the globs (they
resume at their offset if they come back); `closed` entries are files read to their end. Both stay while their
file exists, whatever the globs say, and are forgotten once the file has been gone for CLOSED_RETENTION_S.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from observe.logs.checkpoint import FileCheckpoint
from observe.logs.discovery import entry_exists

log = logging.getLogger("observe.logs.tailer")

Inode = tuple[int, int]

# An entry is forgotten once its file has not been seen this long: neither discovered by the globs nor found at
# its recorded path with its device and inode.
CLOSED_RETENTION_S = 300.0
# How often the entries are checked against the disk.
RETENTION_CHECK_S = 5.0


class Ledger:
    """Entries of files not open: `saved` (resume there) and `closed` (read to their end)."""

    def __init__(self, advanced: Callable[[], None]) -> None:
        self.saved: dict[str, FileCheckpoint] = {}
        self.closed: dict[str, FileCheckpoint] = {}
        self._seen_at: dict[str, float] = {}  # when the file of an entry was last seen
        self._checked = 0.0
        self._advanced = advanced  # the checkpoint file must be written again

    def entries(self) -> dict[str, FileCheckpoint]:
        """Every entry, for the checkpoint file."""
        return {**self.saved, **self.closed}

    def resumable(self) -> list[tuple[str, FileCheckpoint]]:
        """After a restart: saved entries of files read to their end become closed; the others are returned, still
        saved, for the caller to resume (and `take`) or keep."""
        out = []
        for key, entry in list(self.saved.items()):
            if entry.closed:
                self.closed[key] = self.saved.pop(key)
            else:
                out.append((key, entry))
        return out

    def take(self, key: str) -> FileCheckpoint | None:
        """The entry of a file being opened: a saved one leaves the ledger, a closed one stays until reopened."""
        return self.saved.pop(key, None) or self.closed.get(key)

    def keep_closed(self, key: str, entry: FileCheckpoint) -> None:
        """A file read to its end (again): remember where, and that it was seen now."""
        self.closed[key] = entry
        self._seen_at[key] = time.monotonic()

    def reopen(self, key: str) -> None:
        """A closed file grew past its end and is read again."""
        self.closed.pop(key, None)
        self._seen_at.pop(key, None)

    def retire(self, key: str, entry: FileCheckpoint, *, parked: bool) -> None:
        """A finished reader's last checkpoint: closed, or (a file that left the globs) an ordinary saved entry."""
        (self.saved if parked else self.closed)[key] = entry
        self._seen_at[key] = time.monotonic()

    def age_out(self, by_inode: dict[Inode, str], *, include_saved: bool) -> None:
        """Forget the entries whose file is gone for a while (at most every RETENTION_CHECK_S).

        `include_saved` is False until the first pass has matched the saved entries to the files on disk.
        """
        now = time.monotonic()
        if now - self._checked < RETENTION_CHECK_S:
            return
        self._checked = now
        for entries in (self.closed, self.saved if include_saved else {}):
            for key, entry in list(entries.items()):
                if (entry.dev, entry.ino) in by_inode or entry_exists(entry):
                    self._seen_at[key] = now
                elif now - self._seen_at.setdefault(key, now) > CLOSED_RETENTION_S:
                    del entries[key]
                    self._seen_at.pop(key, None)
                    log.info("forgot the checkpoint of a file gone for %.0f s", CLOSED_RETENTION_S,
                             extra={"file.path": entry.path, "log.offset": entry.offset})
                    self._advanced()
