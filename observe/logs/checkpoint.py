"""Checkpoints: each file's acknowledged offset, written atomically (temp, fsync, rename, fsync the folder)."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from observe.durable_file import private_dir, write_atomic
from observe.logs.metrics import ShipperMetrics

log = logging.getLogger("observe.logs.checkpoint")

VERSION = 1


@dataclass
class FileCheckpoint:
    """One file's resume point and what is needed to find it again after a restart or rotation."""

    path: str
    real_path: str
    dev: int
    ino: int
    fingerprint: str  # hex
    offset: int  # everything before it is acknowledged (delivered or dead-lettered)
    size: int  # last size seen, to count bytes that rotate away while the shipper is down
    closed: bool = False  # read to its end and fully acknowledged; bytes appended later are still read


def _read_nofollow(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        return f.read()


class CheckpointStore:
    """The checkpoint file. `write` is blocking (fsync): call it from a thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # A write still running in a thread when shutdown writes the last one must not share the temp file.
        self._lock = threading.Lock()

    def load(self) -> dict[str, FileCheckpoint]:
        """The saved checkpoints by file key; empty when there is no file yet."""
        try:
            raw = orjson.loads(_read_nofollow(self.path))
        except FileNotFoundError:
            return {}
        except (OSError, orjson.JSONDecodeError) as exc:
            # Starting over would duplicate nothing (deterministic ids), so warn and re-read rather than refuse to run.
            log.error("checkpoint unreadable; files will be re-read from the start (duplicates are absorbed by _id)",
                      extra={"file.path": str(self.path), "error.message": str(exc)})
            return {}
        files = raw.get("files", {}) if isinstance(raw, dict) else {}
        out: dict[str, FileCheckpoint] = {}
        for key, entry in files.items():
            try:
                out[key] = FileCheckpoint(**entry)
            except TypeError:
                log.warning("skipping malformed checkpoint entry", extra={"file.path": str(self.path), "labels.key": key})
        return out

    def write(self, entries: dict[str, FileCheckpoint]) -> None:
        """Replace the checkpoint atomically and durably; raises OSError on failure (the old file stays)."""
        data = orjson.dumps({"version": VERSION, "files": {k: asdict(v) for k, v in entries.items()}})
        with self._lock:
            self._write(data)

    def _write(self, data: bytes) -> None:
        private_dir(self.path.parent)
        write_atomic(self.path, data)


class CheckpointWriter:
    """When and how the checkpoint is written: at most every `interval` seconds once something advanced, off the
    event loop (an fsync can take a second), and a last time at shutdown."""

    def __init__(self, store: CheckpointStore, metrics: ShipperMetrics, interval: float,
                 snapshot: Callable[[], dict[str, FileCheckpoint]], retire: Callable[[], None]) -> None:
        self.store = store
        self.metrics = metrics
        self.interval = interval
        self.snapshot = snapshot
        self.retire = retire  # moves fully acknowledged files to their final entries (may call advanced)
        self.dirty_since: float | None = None

    def advanced(self) -> None:
        """Something moved: the next turn writes."""
        if self.dirty_since is None:
            self.dirty_since = time.monotonic()

    async def loop(self) -> None:
        """Write the checkpoint at most every interval, when something advanced."""
        while True:
            await asyncio.sleep(self.interval)
            self.retire()
            if self.dirty_since is None:
                self.metrics.checkpoint_age.set(0)
                continue
            await self.save()

    async def save(self) -> bool:
        """Persist the checkpoint now; False (and a metric) when the write failed."""
        since = self.dirty_since
        self.dirty_since = None
        entries = self.snapshot()
        try:
            await asyncio.to_thread(self.store.write, entries)
        except OSError as exc:
            self.metrics.checkpoint_write_failures.inc()
            if since is not None and (self.dirty_since is None or since < self.dirty_since):
                self.dirty_since = since
            self.metrics.checkpoint_age.set(time.monotonic() - since if since else 0)
            log.error("checkpoint write failed; keeping the previous one",
                      extra={"file.path": str(self.store.path), "error.message": str(exc)})
            return False
        self.metrics.checkpoint_age.set(0 if self.dirty_since is None else time.monotonic() - self.dirty_since)
        return True

    async def save_final(self) -> None:
        """The last write at shutdown: off the loop, and shielded so that cancelling the drain cannot skip it;
        a cancelled caller still waits for the write, then re-raises."""
        self.retire()
        write = asyncio.ensure_future(asyncio.to_thread(self._write_final, self.snapshot()))
        try:
            await asyncio.shield(write)
        except asyncio.CancelledError:
            await write
            raise

    def _write_final(self, entries: dict[str, FileCheckpoint]) -> None:
        try:
            self.store.write(entries)
        except OSError as exc:
            self.metrics.checkpoint_write_failures.inc()
            log.error("final checkpoint write failed", extra={"error.message": str(exc)})
