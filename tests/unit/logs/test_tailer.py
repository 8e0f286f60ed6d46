"""The tailer with the spool sink on real files: restart from the checkpoint, kubelet rotation while down,
bytes rotated away counted. (Pure file logic; the Elasticsearch cases are in tests/integration/logs.)"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry

from observe.logs.checkpoint import CheckpointStore, FileCheckpoint
from observe.logs.config import LogsConfig
from observe.logs.identity import identify
from observe.logs.metrics import ShipperMetrics
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
    def __init__(self, tmp: Path, pattern: str) -> None:
        self.config = LogsConfig(paths=[pattern], spool_dir=tmp / "spool", checkpoint_path=tmp / "cp.json",
                                 poll_interval_seconds=0.05, linger_ms=10, rotate_grace_seconds=0.1,
                                 checkpoint_interval_ms=20, host_name="h")
        self.metrics = ShipperMetrics(CollectorRegistry())
        self.shipper = Shipper(self.config, SpoolSink(self.config.spool_dir, self.metrics), self.metrics)

    async def until(self, n: int) -> list[tuple[str, str]]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            got = spooled(self.config.spool_dir)
            if len(got) >= n:
                await asyncio.sleep(0.2)
                return spooled(self.config.spool_dir)
            await asyncio.sleep(0.05)
        raise AssertionError(f"only {len(spooled(self.config.spool_dir))} of {n} events")


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
    CheckpointStore(tmp_path / "cp.json").write({ident.key: FileCheckpoint(
        path=str(log), real_path=str(log), dev=ident.dev, ino=ident.ino, fingerprint=ident.fingerprint.hex(),
        offset=half, size=log.stat().st_size)})
    lost = log.stat().st_size - half
    log.unlink()
    log.write_bytes(lines("new file", 30))
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
