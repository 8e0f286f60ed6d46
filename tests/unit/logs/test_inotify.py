"""inotify wake-ups on real directories and files (Linux): with the poll interval at 30 s, a new file is tailed
within a second only because a directory event woke the discovery pass, and the first line of a file created empty
only because its one-shot write watch did; with logs.inotify off both wait for the poll."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from observe.logs.config import LogsConfig
from observe.logs.inotify import UNAVAILABLE, FileWakeups, watch_dirs
from observe.logs.metrics import ShipperMetrics
from observe.logs.shipper import Shipper
from observe.logs.sinks.spool import SpoolSink
from tests.unit.logs.test_tailer import lines, spooled

pytestmark = pytest.mark.skipif(bool(UNAVAILABLE), reason=UNAVAILABLE)

SLOW_POLL_S = 30.0


def shipper(tmp: Path, pattern: str, inotify: str) -> Shipper:
    config = LogsConfig(paths=[pattern], spool_dir=tmp / "spool", checkpoint_path=tmp / "cp.json", linger_ms=10,
                        checkpoint_interval_ms=20, host_name="h", inotify=inotify)
    # Past the validated 1 s ceiling on purpose: only an inotify wake-up can find the file this fast.
    config = config.model_copy(update={"poll_interval_seconds": SLOW_POLL_S})
    metrics = ShipperMetrics(CollectorRegistry())
    return Shipper(config, SpoolSink(config.spool_dir, metrics), metrics)


async def shipped_within(folder: Path, n: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if len(spooled(folder)) >= n:
            return True
        await asyncio.sleep(0.02)
    return False


async def settle(run: Shipper, mode: str) -> None:
    """Wait until the discovery loop has made its first pass and sits in its (30 s) wait."""
    await asyncio.sleep(0.3)
    assert run.tailer.discovery_mode == mode


async def test_a_new_file_is_tailed_within_a_second_by_an_inotify_wakeup(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    run = shipper(tmp_path, str(logs / "*.log"), "auto")
    await run.start()
    try:
        await settle(run, "inotify")
        (logs / "a.log").write_bytes(lines("created", 20))
        assert await shipped_within(run.config.spool_dir, 20, 1.0)
        # A file renamed into place (IN_MOVED_TO) is found the same way.
        (logs / "b.tmp").write_bytes(lines("moved", 10))
        os.rename(logs / "b.tmp", logs / "b.log")
        assert await shipped_within(run.config.spool_dir, 30, 1.0)
        # A file created empty, as a runtime creates a container's log before its first write: the woken pass
        # finds it too young to fingerprint, and its first line wakes the next pass through the file's watch.
        (logs / "c.log").write_bytes(b"")
        await asyncio.sleep(0.3)
        assert run.tailer.young
        append(logs / "c.log", "empty at first", 4)
        assert await shipped_within(run.config.spool_dir, 34, 1.0)
    finally:
        await run.stop()
    assert sorted(m for _, m in spooled(run.config.spool_dir))[:1] == ["created 0"]


async def test_a_new_pod_directory_is_watched_and_its_file_tailed_within_a_second(tmp_path: Path) -> None:
    pods = tmp_path / "pods"
    pods.mkdir()
    run = shipper(tmp_path, str(pods / "*" / "*" / "*.log"), "auto")
    await run.start()
    try:
        await settle(run, "inotify")
        container = pods / "ns_web-0_uid" / "app"
        container.mkdir(parents=True)
        await asyncio.sleep(0.3)  # the woken pass adds watches for the new directories; the file comes later
        (container / "0.log").write_bytes(lines("pod", 5))
        assert await shipped_within(run.config.spool_dir, 5, 1.0)
    finally:
        await run.stop()


async def test_with_inotify_off_a_new_file_waits_for_the_poll(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    run = shipper(tmp_path, str(logs / "*.log"), "off")
    with caplog.at_level(logging.INFO, logger="observe.logs.tailer"):
        await run.start()
        try:
            await settle(run, "poll")
            (logs / "a.log").write_bytes(lines("created", 20))
            assert not await shipped_within(run.config.spool_dir, 1, 1.5)
            await run.tailer.poll()  # what the 30 s poll would do
            assert await shipped_within(run.config.spool_dir, 20, 2.0)
        finally:
            await run.stop()
    modes = [getattr(r, "observe.discovery.mode", None) for r in caplog.records]
    assert "poll" in modes and "inotify" not in modes


def append(path: Path, word: str, n: int) -> None:
    with path.open("ab") as f:
        f.write(lines(word, n))


async def test_file_wakeups_fire_once_per_arming_and_forget_what_is_disarmed(tmp_path: Path) -> None:
    path = tmp_path / "f.log"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)
    wake = asyncio.Event()
    wakeups = FileWakeups()
    events = asyncio.create_task(wakeups.run())
    try:
        assert wakeups.arm("f", fd, wake)
        assert not wakeups.arm("f", fd, wake)  # already watched
        path.write_bytes(b"x\n")
        await asyncio.wait_for(wake.wait(), 1.0)
        await asyncio.sleep(0.05)
        assert wakeups.arm("f", fd, wake)  # the one-shot watch fired and is gone: armed anew
        wakeups.disarm("f")
        wake.clear()
        path.write_bytes(b"y\n")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(wake.wait(), 0.3)
        assert wakeups.arm("f", fd, wake)
    finally:
        events.cancel()
        wakeups.close()
        os.close(fd)


def test_watch_dirs_cover_every_level_below_the_fixed_prefix(tmp_path: Path) -> None:
    (tmp_path / "pods" / "ns_a_1" / "app").mkdir(parents=True)
    (tmp_path / "pods" / "ns_b_2" / "web").mkdir(parents=True)
    (tmp_path / "pods" / "stray.log").write_bytes(b"")
    (tmp_path / "containers").mkdir()
    got = watch_dirs([str(tmp_path / "pods" / "*" / "*" / "*.log"), str(tmp_path / "containers" / "*.log"),
                      str(tmp_path / "missing" / "*.log")])
    assert got == {str(tmp_path / p) for p in ["pods", "pods/ns_a_1", "pods/ns_a_1/app", "pods/ns_b_2",
                                                 "pods/ns_b_2/web", "containers"]}


async def test_when_the_write_watches_fail_the_error_is_logged_and_polling_reads_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    async def broken(self: FileWakeups) -> None:
        raise OSError("inotify read failed")

    monkeypatch.setattr(FileWakeups, "run", broken)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_bytes(b"")  # young: it would get a write watch
    config = LogsConfig(paths=[str(logs / "*.log")], spool_dir=tmp_path / "spool", checkpoint_path=tmp_path / "cp.json",
                        linger_ms=10, checkpoint_interval_ms=20, host_name="h", poll_interval_seconds=0.1)
    metrics = ShipperMetrics(CollectorRegistry())
    run = Shipper(config, SpoolSink(config.spool_dir, metrics), metrics)
    with caplog.at_level(logging.ERROR, logger="observe.logs.tailer"):
        await run.start()
        try:
            await asyncio.sleep(0.3)
            append(logs / "a.log", "first", 2)
            assert await shipped_within(config.spool_dir, 2, 2.0)  # found by the 0.1 s poll
        finally:
            await run.stop()
    assert any("inotify watch on young files failed" in r.getMessage() for r in caplog.records)
    assert run.tailer._wakeups is None
