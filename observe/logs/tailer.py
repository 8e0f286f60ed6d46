"""Finds log files, follows them through rotation, reads them into segments, and keeps their checkpoints.

Discovery polls the globs (at most every second) and, with inotify, also runs as soon as a watched directory
gains or loses a name: a new file is opened at once, so rotation cannot take its
bytes away before they are read. A renamed or deleted file is read to its end and closed after a grace
period; a truncated one (copytruncate) is finished and reopened from offset 0 as a new identity.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import os
import socket
import time

from observe.logs.batch import Segment
from observe.logs.checkpoint import CheckpointStore, CheckpointWriter, FileCheckpoint
from observe.logs.config import LogsConfig
from observe.logs.discovery import DiscoveryLoop, find_entry_file, find_files, in_globs, open_same, real_path, rotated_siblings
from observe.logs.identity import FileIdentity, identify
from observe.logs.inotify import FileWakeups
from observe.logs.ledger import Inode, Ledger
from observe.logs.metrics import ShipperMetrics
from observe.logs.plan import MetadataProvider, PathMetadata, PlanSlot, path_plan
from observe.logs.reader import FileReader

log = logging.getLogger("observe.logs.tailer")

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
        self.files: dict[Inode, FileReader] = {}  # open and being read
        self.finishing: dict[str, FileReader] = {}  # read to the end, waiting for acknowledgements
        self._leaving: set[Inode] = set()  # open files whose path left the globs: stop reading them
        self._parked: set[str] = set()  # finishing readers that left the globs: kept open-ended, not closed
        self.young: dict[Inode, tuple[int, str]] = {}  # opened but too short to fingerprint yet
        self._path_inode: dict[str, Inode] = {}
        self._last_poll_wall = time.time()
        self._wake = asyncio.Event()
        self._wakeups: FileWakeups | None = None  # inotify on young files (logs.inotify auto)
        self._wakeups_task: asyncio.Task[None] | None = None
        self.discovery = DiscoveryLoop(config, self.poll, self._patterns)
        self.checkpoints = CheckpointWriter(self.store, metrics, config.checkpoint_interval_ms / 1000, self.snapshot,
                                            self._retire_finished)
        self._advanced = self.checkpoints.advanced
        self.ledger = Ledger(self._advanced)  # entries of files not open
        self._first_poll = True
        self._starting = True  # files opened now may have been shipped by an earlier run past their checkpoint
        self._stopping = False

    # ---- checkpoints -------------------------------------------------------------------------
    def snapshot(self) -> dict[str, FileCheckpoint]:
        """Every checkpoint to persist now."""
        out = self.ledger.entries()
        for reader in [*self.files.values(), *self.finishing.values()]:
            out[reader.key] = reader.checkpoint(
                closed=reader.finished and not reader.acks.segments and reader.key not in self._parked)
        return out

    def _retire_finished(self) -> None:
        for key, reader in list(self.finishing.items()):
            if not reader.acks.segments:
                parked = key in self._parked
                self._parked.discard(key)
                # A file that left the globs keeps an ordinary entry (not closed): it resumes there if it comes back.
                self.ledger.retire(key, reader.checkpoint(closed=not parked), parked=parked)
                del self.finishing[key]
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
        size = os.fstat(fd).st_size
        if offset is None:
            if key in self.finishing:
                os.close(fd)
                return
            entry = self.ledger.take(key)
            if entry is not None and entry.closed:
                # Closed means "read to its end": nothing to do unless bytes came after that end.
                if size <= entry.offset:
                    self.ledger.keep_closed(key, entry)
                    os.close(fd)
                    return
                self.ledger.reopen(key)
                log.info("a closed file has bytes past its checkpoint; reading them",
                         extra={"file.path": path, "log.offset": entry.offset})
            offset = entry.offset if entry is not None else 0
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
            if inode not in self.files and inode not in self.young and (fd := open_same(path, inode)) is not None:
                self.young[inode] = (fd, path)
        wakeups = self._file_wakeups()
        for inode, (fd, path) in list(self.young.items()):
            size = os.fstat(fd).st_size
            ident = identify(fd, limit)
            if ident is None:
                if inode not in by_inode and os.fstat(fd).st_nlink == 0:
                    del self.young[inode]
                    self._forget(inode)
                    os.close(fd)
                elif wakeups is not None and wakeups.arm(inode, fd, self.discovery.wake) and os.fstat(fd).st_size != size:
                    self.discovery.wake.set()  # written after the look, before the watch: look again now
                continue
            del self.young[inode]
            self._forget(inode)
            await self._open(fd, ident, path, real_path(path))
        if self._first_poll:
            self._first_poll = False
            await self._resume_rotated()
            self._starting = False
        self.ledger.age_out(by_inode, include_saved=not self._first_poll)
        now = time.monotonic()
        lag_total = 0
        for inode, reader in list(self.files.items()):
            try:
                st = os.fstat(reader.fd)
            except OSError:
                continue
            if by_inode.get(inode) is None and reader.detached_since is None and self._left_globs(reader, inode):
                self._leaving.add(inode)  # the read loop parks it; not a rotation, so not read to its end
                self._wake.set()
                continue
            self._leaving.discard(inode)
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

    def _left_globs(self, reader: FileReader, inode: Inode) -> bool:
        """The file is still at its path, but the path no longer matches the globs (config or a pod's annotations)."""
        try:
            st = os.stat(reader.path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == inode and not self._in_globs(reader.path)

    def _in_globs(self, path: str) -> bool:
        return not any(fnmatch.fnmatch(path, ex) for ex in self.config.exclude_paths) and in_globs(path, self._patterns())

    async def _open_rotated_siblings(self, path: str, since: float) -> None:
        """Files rotated away between two polls: `name.*` siblings written since the last poll that we never opened."""
        known = {(r.identity.dev, r.identity.ino) for r in [*self.files.values(), *self.finishing.values()]}
        for sibling, st in rotated_siblings(real_path(path)):
            inode = (st.st_dev, st.st_ino)
            if inode in known or inode in self.young or st.st_mtime < since:
                continue
            fd = open_same(sibling, inode)
            ident = identify(fd, self.config.fingerprint_bytes) if fd is not None else None
            if fd is None or ident is None:
                if fd is not None:
                    os.close(fd)
                continue
            if ident.key not in self.ledger.closed and ident.key not in self.finishing:
                log.info("found a file rotated between two polls", extra={"file.path": sibling})
            await self._open(fd, ident, path, sibling, detached=True)

    async def _resume_rotated(self) -> None:
        """After a restart: find files rotated away while we were down (by inode), or count their bytes as lost."""
        for key, entry in self.ledger.resumable():
            if not self._in_globs(entry.path):
                # Another config's file (or one whose pod no longer declares it): keep its entry as it is, so the
                # file resumes at its offset if it comes back into the globs. Never read it, never close it.
                log.info("checkpoint of a file outside the globs kept as it is",
                         extra={"file.path": entry.path, "log.offset": entry.offset})
                continue
            self.ledger.take(key)
            found = find_entry_file(entry, key, self.config.fingerprint_bytes)
            if found is None:
                lost = max(0, entry.size - entry.offset)
                if lost:
                    self.metrics.lost_bytes.labels("rotated_away").inc(lost)
                log.warning("file rotated away while the shipper was down", extra={
                    "file.path": entry.path, "log.offset": entry.offset, "event.reason": "rotated_away",
                    "observe.lost_bytes": lost})
                self._advanced()
                continue
            fd, ident, path = found
            await self._open(fd, ident, entry.path, path, offset=entry.offset, detached=True)

    # ---- reading -----------------------------------------------------------------------------
    async def _emit(self, seg: Segment) -> None:
        if seg.items:
            await self.outbox.put(seg)

    def _file_wakeups(self) -> FileWakeups | None:
        """The one-shot write watches on young files (observe/logs/inotify.py), started on first use; None without
        inotify."""
        if self._wakeups is None and self._wakeups_task is None and self.config.inotify == "auto":
            try:
                self._wakeups = FileWakeups()
            except OSError as exc:
                log.info("a file created empty is identified by polling", extra={
                    "event.reason": str(exc),
                    "observe.discovery.poll_interval_seconds": self.config.poll_interval_seconds})
            else:
                self._wakeups_task = asyncio.create_task(self._wakeups.run(), name="logs-inotify-files")
        if self._wakeups is not None and self._wakeups_task is not None and self._wakeups_task.done():
            failure = None if self._wakeups_task.cancelled() else self._wakeups_task.exception()
            log.error("the inotify watch on young files failed; their first lines are found by polling",
                      extra={"error.message": repr(failure)})
            self._close_wakeups()
        return self._wakeups

    def _close_wakeups(self) -> None:
        if self._wakeups_task is not None:
            self._wakeups_task.cancel()
        if self._wakeups is not None:
            self._wakeups.close()
            self._wakeups = None

    def _forget(self, inode: Inode) -> None:
        if self._wakeups is not None:
            self._wakeups.disarm(inode)

    async def read_loop(self) -> None:
        """Round-robin over open files, one chunk each per turn; a full queue holds the loop. With nothing to read
        it sleeps until a discovery pass or the poll interval wakes it.

        Open files have no write watches: tried, a node's many trickling files each cost an inotify event, a wake-up
        and a re-arm per write, and with 200 files written 2 times a second each the shipper spent 185 ms of CPU per
        second against 61 polling (10 a second: 131 against 87), for lines that polling finds within
        `poll_interval_seconds` anyway."""
        grace = self.config.rotate_grace_seconds
        while not self._stopping:
            progressed = False
            for inode, reader in list(self.files.items()):
                if self._stopping:
                    break
                if reader.truncated:
                    await self._close(inode, reader)
                    continue
                if inode in self._leaving:
                    self._park(inode, reader)
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

    def _park(self, inode: Inode, reader: FileReader) -> None:
        # Stop at the acknowledged offset: what the decoder or processors hold is read again if the file comes back.
        reader.close()
        del self.files[inode]
        self._leaving.discard(inode)
        self.finishing[reader.key] = reader
        self._parked.add(reader.key)
        log.info("file left the globs; its checkpoint is kept and reading stops",
                 extra={"file.path": reader.path, "log.offset": reader.acked_offset})

    async def _close(self, inode: Inode, reader: FileReader) -> None:
        seg = reader.finish()
        reader.close()
        del self.files[inode]
        self.finishing[reader.key] = reader
        log.info("closed file", extra={"file.path": reader.path, "log.offset": reader.read_pos})
        await self._emit(seg)

    def load(self) -> None:
        """Read the saved checkpoints (before the first poll)."""
        self.ledger.saved = self.store.load()

    def stop(self) -> None:
        """Stop reading (the reader loop exits at its next turn)."""
        self._stopping = True
        self._wake.set()

    def close_all(self) -> None:
        """Release every descriptor."""
        self._close_wakeups()
        for reader in self.files.values():
            reader.close()
        for fd, _ in self.young.values():
            os.close(fd)
        self.young.clear()

