"""Finds log files, follows them through rotation, reads them into segments, and keeps their checkpoints.

Discovery polls the globs (at most every second) and, with inotify, also runs as soon as a watched directory
gains or loses a name: a new file is opened at once, so rotation cannot take its
bytes away before they are read. A renamed or deleted file is read to its end and closed after a grace
period; a truncated one (copytruncate) is finished and reopened from offset 0 as a new identity.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

from observe.logs.batch import Segment
from observe.logs.checkpoint import CheckpointStore, FileCheckpoint
from observe.logs.config import LogsConfig
from observe.logs.discovery import DiscoveryLoop, find_files, find_inode, rotated_siblings
from observe.logs.identity import FileIdentity, identify
from observe.logs.metrics import ShipperMetrics
from observe.logs.plan import MetadataProvider, PathMetadata, PlanSlot, path_plan
from observe.logs.reader import FileReader

log = logging.getLogger("observe.logs.tailer")

Inode = tuple[int, int]

# A closed file's entry outlives its last sighting this long, so a sibling scan never re-reads it.
CLOSED_RETENTION_S = 300.0


def _realpath(path: str) -> str:
    return os.path.realpath(path)


class Tailer:
    """Discovery, reading and checkpointing for every matched file."""

    def __init__(self, config: LogsConfig, metrics: ShipperMetrics, outbox: asyncio.Queue[Segment | None], *,
                 provider: MetadataProvider | None = None, host_name: str | None = None,
                 node_name: str | None = None) -> None:
        self.config = config
        self.metrics = metrics
        self.outbox = outbox
        self.provider: MetadataProvider = provider or PathMetadata()
        self.host_name = host_name or config.host_name or node_name or socket.gethostname()
        self.node_name = node_name
        self.store = CheckpointStore(config.checkpoint_path)
        self.saved: dict[str, FileCheckpoint] = {}
        self.files: dict[Inode, FileReader] = {}  # open and being read
        self.finishing: dict[str, FileReader] = {}  # read to the end, waiting for acknowledgements
        self.closed: dict[str, FileCheckpoint] = {}  # done; kept while the inode is still discovered
        self.young: dict[Inode, tuple[int, str]] = {}  # opened but too short to fingerprint yet
        self._closed_at: dict[str, float] = {}
        self._path_inode: dict[str, Inode] = {}
        self._last_poll_wall = time.time()
        self._wake = asyncio.Event()
        self.discovery = DiscoveryLoop(config, self.poll, self._patterns)
        self._dirty_since: float | None = None
        self._first_poll = True
        self._starting = True  # files opened now may have been shipped by an earlier run past their checkpoint
        self._stopping = False

    # ---- checkpoints -------------------------------------------------------------------------
    def _advanced(self) -> None:
        if self._dirty_since is None:
            self._dirty_since = time.monotonic()

    def snapshot(self) -> dict[str, FileCheckpoint]:
        """Every checkpoint to persist now."""
        out: dict[str, FileCheckpoint] = dict(self.saved)
        out.update(self.closed)
        for reader in [*self.files.values(), *self.finishing.values()]:
            out[reader.key] = reader.checkpoint(closed=reader.finished and not reader.acks.segments)
        return out

    async def checkpoint_loop(self) -> None:
        """Write the checkpoint at most every checkpoint_interval_ms, when something advanced."""
        interval = self.config.checkpoint_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            self._retire_finished()
            if self._dirty_since is None:
                self.metrics.checkpoint_age.set(0)
                continue
            await self.save()

    async def save(self) -> bool:
        """Persist the checkpoint now; False (and a metric) when the write failed."""
        since = self._dirty_since
        self._dirty_since = None
        entries = self.snapshot()
        try:
            await asyncio.to_thread(self.store.write, entries)
        except OSError as exc:
            self.metrics.checkpoint_write_failures.inc()
            if since is not None and (self._dirty_since is None or since < self._dirty_since):
                self._dirty_since = since
            self.metrics.checkpoint_age.set(time.monotonic() - since if since else 0)
            log.error("checkpoint write failed; keeping the previous one",
                      extra={"file.path": str(self.store.path), "error.message": str(exc)})
            return False
        self.metrics.checkpoint_age.set(0 if self._dirty_since is None else time.monotonic() - self._dirty_since)
        return True

    def save_now(self) -> None:
        """A last blocking write (at shutdown, even when cancelled)."""
        self._retire_finished()
        try:
            self.store.write(self.snapshot())
        except OSError as exc:
            self.metrics.checkpoint_write_failures.inc()
            log.error("final checkpoint write failed", extra={"error.message": str(exc)})

    def _retire_finished(self) -> None:
        for key, reader in list(self.finishing.items()):
            if not reader.acks.segments:
                self.closed[key] = reader.checkpoint(closed=True)
                del self.finishing[key]
                self._closed_at[key] = time.monotonic()
                if not any(r.path == reader.path for r in self.files.values()):
                    try:
                        self.metrics.file_lag_bytes.remove(reader.path)
                    except KeyError:
                        pass
                self._advanced()

    # ---- discovery ---------------------------------------------------------------------------
    @property
    def discovery_mode(self) -> str:
        """`inotify` or `poll`."""
        return self.discovery.mode

    def _patterns(self) -> list[str]:
        return [*self.config.paths, *self.provider.extra_paths()]

    async def discovery_loop(self) -> None:
        """Discovery passes forever (observe/logs/discovery.py)."""
        await self.discovery.run()

    async def _open(self, fd: int, ident: FileIdentity, path: str, real_path: str, *, offset: int | None = None,
                    detached: bool = False) -> None:
        key = ident.key
        if offset is None:
            saved = self.saved.pop(key, None)
            if saved is not None and saved.closed:
                self.closed[key] = saved
                os.close(fd)
                return
            offset = saved.offset if saved is not None else 0
            if key in self.closed or key in self.finishing:
                os.close(fd)
                return
        size = os.fstat(fd).st_size
        if offset > size:
            log.warning("file is shorter than its checkpoint; reading it from the start",
                        extra={"file.path": path, "log.offset": offset})
            offset = 0
        plans = PlanSlot(path_plan(path, real_path, host_name=self.host_name, node_name=self.node_name,
                                   fmt=self.config.format))
        await self.provider.resolve(plans)
        ml = self.config.multiline
        reader = FileReader(
            fd, ident, real_path, offset, plans, self.config.data_stream, self.metrics,
            read_bytes=self.config.read_bytes, max_event_bytes=self.config.max_event_bytes, on_advance=self._advanced,
            multiline_limits=(ml.flush_seconds, ml.max_lines, ml.max_bytes),
        )
        if detached:
            reader.detached_since = time.monotonic()
        if self._starting and size > offset:
            # Whatever an earlier run read past the checkpoint was at most the file's size now.
            reader.may_be_written(size)
        self.files[(ident.dev, ident.ino)] = reader
        log.info("tailing file", extra={"file.path": path, "log.offset": offset, "file.inode": str(ident.ino)})
        self._wake.set()

    async def poll(self) -> None:
        """One discovery pass: open new files, notice rotation, deletion and truncation."""
        found = find_files(self._patterns(), self.config.exclude_paths)
        by_inode: dict[Inode, str] = {}
        for path, st in found.items():
            by_inode.setdefault((st.st_dev, st.st_ino), path)
        limit = self.config.fingerprint_bytes
        now_wall = time.time()
        for path, st in found.items():
            prev = self._path_inode.get(path)
            if prev is not None and prev != (st.st_dev, st.st_ino):
                await self._open_rotated_siblings(path, self._last_poll_wall - 1.0)
        self._path_inode = {p: (st.st_dev, st.st_ino) for p, st in found.items()}
        self._last_poll_wall = now_wall
        for inode, path in by_inode.items():
            if inode in self.files or inode in self.young:
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != inode:
                os.close(fd)
                continue
            self.young[inode] = (fd, path)
        for inode, (fd, path) in list(self.young.items()):
            ident = identify(fd, limit)
            if ident is None:
                if inode not in by_inode and os.fstat(fd).st_nlink == 0:
                    del self.young[inode]
                    os.close(fd)
                continue
            del self.young[inode]
            await self._open(fd, ident, path, _realpath(path))
        if self._first_poll:
            self._first_poll = False
            await self._resume_rotated()
            self._starting = False
        # Closed entries are kept while their inode is still discovered, so a rotated name that matches too is not re-read.
        for key, entry in list(self.closed.items()):
            if (entry.dev, entry.ino) not in by_inode and time.monotonic() - self._closed_at.get(key, 0) > CLOSED_RETENTION_S:
                del self.closed[key]
                self._closed_at.pop(key, None)
                self._advanced()
        now = time.monotonic()
        lag_total = 0
        for inode, reader in list(self.files.items()):
            try:
                st = os.fstat(reader.fd)
            except OSError:
                continue
            if reader.observe(st, listed=inode in by_inode, now=now, fingerprint_bytes=limit):
                self._wake.set()
            lag = max(0, reader.size - reader.acked_offset)
            lag_total += lag
            self.metrics.file_lag_bytes.labels(reader.path).set(lag)
            if reader.size > reader.read_pos:
                self._wake.set()
        for reader in self.finishing.values():
            lag_total += max(0, reader.size - reader.acked_offset)
        self.metrics.lag_bytes.set(lag_total)
        self.metrics.files_open.set(len(self.files) + len(self.young))

    async def _open_rotated_siblings(self, path: str, since: float) -> None:
        """Files rotated away between two polls: `name.*` siblings written since the last poll that we never opened."""
        known = {(r.identity.dev, r.identity.ino) for r in [*self.files.values(), *self.finishing.values()]}
        for sibling, st in rotated_siblings(_realpath(path)):
            inode = (st.st_dev, st.st_ino)
            if inode in known or inode in self.young or st.st_mtime < since:
                continue
            try:
                fd = os.open(sibling, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            ident = identify(fd, self.config.fingerprint_bytes)
            if ident is None or (ident.dev, ident.ino) != inode:
                os.close(fd)
                continue
            if ident.key not in self.closed and ident.key not in self.finishing:
                log.info("found a file rotated between two polls", extra={"file.path": sibling})
            await self._open(fd, ident, path, sibling, detached=True)

    async def _resume_rotated(self) -> None:
        """After a restart: find files rotated away while we were down (by inode), or count their bytes as lost."""
        for key, entry in list(self.saved.items()):
            if entry.closed:
                self.closed[key] = entry
                del self.saved[key]
                continue
            found = find_inode(entry)
            del self.saved[key]
            ident = identify(found[0], self.config.fingerprint_bytes) if found is not None else None
            if found is not None and (ident is None or ident.key != key):
                os.close(found[0])  # the inode was reused by another file: ours is gone
                found = None
            if found is None or ident is None:
                lost = max(0, entry.size - entry.offset)
                if lost:
                    self.metrics.lost_bytes.labels("rotated_away").inc(lost)
                log.warning("file rotated away while the shipper was down", extra={
                    "file.path": entry.path, "log.offset": entry.offset, "event.reason": "rotated_away",
                    "observe.lost_bytes": lost})
                self._advanced()
                continue
            fd, path = found
            await self._open(fd, ident, entry.path, path, offset=entry.offset, detached=True)

    # ---- reading -----------------------------------------------------------------------------
    async def _emit(self, seg: Segment) -> None:
        if seg.items:
            await self.outbox.put(seg)

    async def read_loop(self) -> None:
        """Round-robin over open files, one chunk each per turn; a full queue holds the loop."""
        grace = self.config.rotate_grace_seconds
        while not self._stopping:
            progressed = False
            for inode, reader in list(self.files.items()):
                if self._stopping:
                    break
                if reader.truncated:
                    await self._close(inode, reader)
                    continue
                seg = reader.read()
                if seg is not None:
                    progressed = True
                    await self._emit(seg)
                    continue
                now = time.monotonic()
                if reader.detached_since is not None and now - max(reader.detached_since, reader.last_growth) >= grace:
                    await self._close(inode, reader)
                    continue
                tick = reader.tick(now)
                if tick is not None:
                    await self._emit(tick)
            if not progressed:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.config.poll_interval_seconds)
                except TimeoutError:
                    pass
            else:
                await asyncio.sleep(0)  # let the batcher and the sink run between turns

    async def _close(self, inode: Inode, reader: FileReader) -> None:
        seg = reader.finish()
        reader.close()
        del self.files[inode]
        self.finishing[reader.key] = reader
        log.info("closed file", extra={"file.path": reader.path, "log.offset": reader.read_pos})
        await self._emit(seg)

    def load(self) -> None:
        """Read the saved checkpoints (before the first poll)."""
        self.saved = self.store.load()

    def stop(self) -> None:
        """Stop reading (the reader loop exits at its next turn)."""
        self._stopping = True
        self._wake.set()

    def close_all(self) -> None:
        """Release every descriptor."""
        for reader in self.files.values():
            reader.close()
        for fd, _ in self.young.values():
            os.close(fd)
        self.young.clear()

