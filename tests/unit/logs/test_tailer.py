"""The tailer with the spool sink on real files: restart from the checkpoint, kubelet rotation while down,
bytes rotated away counted. (Pure file logic; the Elasticsearch cases are in tests/integration/logs.)"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from observe.logs.checkpoint import CheckpointStore, FileCheckpoint
from observe.logs.config import LogsConfig
from observe.logs.identity import identify
from observe.logs.metrics import ShipperMetrics
from observe.logs.plan import MetadataProvider, PlanSlot
from observe.logs.shipper import Shipper
from observe.logs.sinks.spool import SpoolSink, spool_files

TS = b"2024-01-01T00:00:00Z"


def lines(prefix: str, n: int) -> bytes:
    return b"".join(TS + b" stdout F " + f"{prefix} {i}".encode() + b"\n" for i in range(n))


def spooled(folder: Path) -> list[tuple[str, str]]:
    out = []
    for f in spool_files(folder):
        parts = f.read_bytes().split(b"\n")
        for action, doc in zip(parts[0::2], parts[1::2], strict=False):
            if action:
                out.append((orjson.loads(action)["create"]["_id"], orjson.loads(doc)["message"]))
    return out


class Run:
    def __init__(self, tmp: Path, pattern: str, provider: MetadataProvider | None = None) -> None:
        self.config = LogsConfig(paths=[pattern], spool_dir=tmp / "spool", checkpoint_path=tmp / "cp.json",
                                 poll_interval_seconds=0.05, linger_ms=10, rotate_grace_seconds=0.1,
                                 checkpoint_interval_ms=20, host_name="h")
        self.metrics = ShipperMetrics(CollectorRegistry())
        self.shipper = Shipper(self.config, SpoolSink(self.config.spool_dir, self.metrics), self.metrics,
                               provider=provider)

    async def until(self, n: int) -> list[tuple[str, str]]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the spool is read in a thread: file reads block on a busy disk
            got = await asyncio.to_thread(spooled, self.config.spool_dir)
            if len(got) >= n:
                await asyncio.sleep(0.2)
                return await asyncio.to_thread(spooled, self.config.spool_dir)
            await asyncio.sleep(0.05)
        raise AssertionError(f"only {len(await asyncio.to_thread(spooled, self.config.spool_dir))} of {n} events")


async def test_restart_resumes_from_the_checkpoint(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "a.log"
    log.parent.mkdir()
    log.write_bytes(lines("first", 100))
    run = Run(tmp_path, str(tmp_path / "logs" / "*.log"))
    await run.shipper.start()
    await run.until(100)
    await run.shipper.stop()
    with log.open("ab") as f:
        f.write(lines("second", 50))
    run2 = Run(tmp_path, str(tmp_path / "logs" / "*.log"))
    await run2.shipper.start()
    got = await run2.until(150)
    await run2.shipper.stop()
    assert len(got) == 150 and len({i for i, _ in got}) == 150


async def test_kubelet_rotation_while_down_is_found_by_inode(tmp_path: Path) -> None:
    pod = tmp_path / "pods" / "ns_web-0_uid" / "app"
    pod.mkdir(parents=True)
    log = pod / "0.log"
    log.write_bytes(lines("before", 100))
    pattern = str(tmp_path / "pods" / "*" / "*" / "*.log")
    run = Run(tmp_path, pattern)
    await run.shipper.start()
    await run.until(100)
    await run.shipper.stop()
    with log.open("ab") as f:
        f.write(lines("unread tail", 50))
    os.rename(log, pod / "0.log.20240101-000000")
    log.write_bytes(lines("new file", 30))
    run2 = Run(tmp_path, pattern)
    await run2.shipper.start()
    got = await run2.until(180)
    await run2.shipper.stop()
    messages = sorted(m for _, m in got)
    assert len(got) == 180
    assert sum(m.startswith("unread tail") for m in messages) == 50
    assert run2.metrics.lost_bytes.labels("rotated_away")._value.get() == 0


async def test_bytes_rotated_away_while_down_are_counted(tmp_path: Path) -> None:
    pod = tmp_path / "pods" / "ns_web-0_uid" / "app"
    pod.mkdir(parents=True)
    log = pod / "0.log"
    log.write_bytes(lines("before", 100))
    half = len(lines("before", 50))
    fd = os.open(log, os.O_RDONLY)
    ident = identify(fd, 64)
    os.close(fd)
    assert ident is not None
    # The shipper died with half the file acknowledged; then kubelet rotated, compressed and deleted it.
    # The store fsyncs twice: off the loop, as the shipper does (on a busy disk this took 3.2 s in one run).
    await asyncio.to_thread(CheckpointStore(tmp_path / "cp.json").write, {ident.key: FileCheckpoint(
        path=str(log), real_path=str(log), dev=ident.dev, ino=ident.ino, fingerprint=ident.fingerprint.hex(),
        offset=half, size=log.stat().st_size)})
    lost = log.stat().st_size - half

    def rotate() -> None:  # in a thread: an unlink and a write waited 0.37 s on the journal of a busy disk in CI
        log.unlink()
        log.write_bytes(lines("new file", 30))

    await asyncio.to_thread(rotate)
    run = Run(tmp_path, str(tmp_path / "pods" / "*" / "*" / "*.log"))
    await run.shipper.start()
    await run.until(30)
    await run.shipper.stop()
    assert run.metrics.lost_bytes.labels("rotated_away")._value.get() == lost


async def test_copytruncate_restarts_at_zero_with_a_new_identity(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "a.log"
    log.parent.mkdir()
    log.write_bytes(lines("old", 40))
    run = Run(tmp_path, str(tmp_path / "logs" / "*.log"))
    await run.shipper.start()
    await run.until(40)
    with log.open("r+b") as f:
        f.truncate(0)
    await asyncio.sleep(0.2)
    log.write_bytes(lines("new", 10))
    got = await run.until(50)
    await run.shipper.stop()
    assert len({i for i, _ in got}) == 50
    assert len({i.split("-")[0] for i, _ in got}) == 2  # two identities, so no _id collides


async def shipping(tmp_path: Path, n: int) -> tuple[Path, Run]:
    """A shipper that has spooled the n lines of one file."""
    log = tmp_path / "logs" / "a.log"
    log.parent.mkdir()
    log.write_bytes(lines("first", n))
    run = Run(tmp_path, str(tmp_path / "logs" / "*.log"))
    await run.shipper.start()
    await run.until(n)
    return log, run


def slow_disk(monkeypatch: pytest.MonkeyPatch, seconds: float) -> list[float]:
    """Every fsync from now on first waits `seconds`; returns when each one ran."""
    real_fsync = os.fsync
    done: list[float] = []

    def slow_fsync(fd: int) -> None:
        time.sleep(seconds)
        done.append(time.monotonic())
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    return done


async def test_shutdown_on_a_slow_disk_keeps_the_loop_free(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every fsync takes 0.5 s (a disk as slow as these machines' can be): the final checkpoint write at shutdown
    must run off the event loop (the loop guard fails this test otherwise) and still land on disk."""
    log, run = await shipping(tmp_path, 100)
    slow = slow_disk(monkeypatch, 0.5)
    await run.shipper.stop()
    assert slow, "the final checkpoint write did not fsync"
    saved = CheckpointStore(tmp_path / "cp.json").load()
    assert [e.offset for e in saved.values()] == [log.stat().st_size]


async def test_cancelled_shutdown_still_writes_the_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cancelling stop() while the final write waits on the disk does not skip the write."""
    log, run = await shipping(tmp_path, 40)
    # Spooled is not yet acknowledged (the ack follows the spool write): wait until the reader's acknowledged
    # offset reached the end, so the final write has something to keep.
    size = log.stat().st_size
    await wait_until(lambda: [e.offset for e in run.shipper.tailer.snapshot().values()] == [size], "all acknowledged")
    (tmp_path / "cp.json").unlink(missing_ok=True)
    slow_disk(monkeypatch, 0.3)
    stopping = asyncio.ensure_future(run.shipper.stop())
    await asyncio.sleep(0.1)
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    saved = CheckpointStore(tmp_path / "cp.json").load()
    assert [e.offset for e in saved.values()] == [log.stat().st_size]


async def wait_until(check: Callable[[], bool], what: str, within: float = 10) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_a_run_with_other_globs_keeps_entries_untouched_and_appended_lines_are_read(tmp_path: Path) -> None:
    # `observe up --logs examples/logs`, then `observe ship` (other globs, same checkpoint), then `observe up` again.
    examples = tmp_path / "examples"
    examples.mkdir()
    for name in ("a", "b", "c"):
        (examples / f"{name}.log").write_bytes(lines(name, 5))
    first = Run(tmp_path, str(examples / "*.log"))
    await first.shipper.start()
    await first.until(15)
    await first.shipper.stop()
    before = CheckpointStore(tmp_path / "cp.json").load()
    assert len(before) == 3

    other = Run(tmp_path, str(tmp_path / "containers" / "*.log"))
    await other.shipper.start()
    await asyncio.sleep(1.0)  # a run far longer than rotate_grace_seconds (0.1 s), as a person's would be
    await other.shipper.stop()
    assert CheckpointStore(tmp_path / "cp.json").load() == before, "entries outside the globs must be kept untouched"
    assert len(spooled(tmp_path / "spool")) == 15

    with (examples / "b.log").open("ab") as f:
        f.write(lines("appended", 1))
    third = Run(tmp_path, str(examples / "*.log"))
    await third.shipper.start()
    got = await third.until(16)
    await third.shipper.stop()
    assert len(got) == 16 and len({i for i, _ in got}) == 16
    assert sorted(m for _, m in got if m.startswith("appended")) == ["appended 0"]


async def test_a_closed_entry_does_not_stop_a_file_with_bytes_past_its_offset(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "a.log"
    log.parent.mkdir()
    log.write_bytes(lines("first", 10))
    fd = os.open(log, os.O_RDONLY)
    ident = identify(fd, 64)
    os.close(fd)
    assert ident is not None
    done = len(lines("first", 10))
    # The store fsyncs twice: off the loop, as the shipper does (on a busy disk this took 3.2 s in one run).
    await asyncio.to_thread(CheckpointStore(tmp_path / "cp.json").write, {ident.key: FileCheckpoint(
        path=str(log), real_path=str(log), dev=ident.dev, ino=ident.ino, fingerprint=ident.fingerprint.hex(),
        offset=done, size=done, closed=True)})
    with log.open("ab") as f:
        f.write(lines("later", 7))
    run = Run(tmp_path, str(tmp_path / "logs" / "*.log"))
    await run.shipper.start()
    got = await run.until(7)
    await run.shipper.stop()
    assert sorted(m for _, m in got) == [f"later {i}" for i in range(7)]


class SwitchableGlobs:
    """A provider whose extra globs change, as a pod's annotations narrow and widen the files it declares."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths

    async def resolve(self, slot: PlanSlot) -> None:
        return None

    def extra_paths(self) -> list[str]:
        return list(self.paths)


async def test_globs_narrowed_then_widened_while_lines_keep_arriving(tmp_path: Path) -> None:
    log = tmp_path / "declared" / "app.log"
    log.parent.mkdir()
    provider = SwitchableGlobs([str(log.parent / "*.log")])
    run = Run(tmp_path, str(tmp_path / "nothing" / "*.log"), provider=provider)
    tailer = run.shipper.tailer
    written: list[str] = []
    stop = asyncio.Event()

    async def writer() -> None:
        i = 0
        while not stop.is_set():
            with log.open("ab") as f:
                for _ in range(10):
                    text = f"line {i}"
                    f.write(TS + b" stdout F " + text.encode() + b"\n")
                    written.append(text)
                    i += 1
            await asyncio.sleep(0.3)  # bursts with pauses longer than rotate_grace_seconds (0.1 s)

    log.write_bytes(b"")
    await run.shipper.start()
    task = asyncio.create_task(writer())
    try:
        await wait_until(lambda: len(spooled(run.config.spool_dir)) >= 30, "lines shipped while declared")
        provider.paths = []  # narrowed: the pod no longer declares the file
        await wait_until(lambda: not tailer.files and not tailer.finishing, "the file no longer read")
        assert not tailer.ledger.closed and [e.closed for e in tailer.ledger.saved.values()] == [False]
        written_then = len(written)
        await wait_until(lambda: len(written) >= written_then + 30, "lines written while narrowed")
        provider.paths = [str(log.parent / "*.log")]  # widened again
        await wait_until(lambda: len(tailer.files) == 1, "the file reopened")
    finally:
        stop.set()
        await task
    got = await run.until(len(written))
    await run.shipper.stop()
    assert sorted(m for _, m in got) == sorted(written)
    assert len({i for i, _ in got}) == len(got)
