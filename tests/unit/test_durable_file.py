"""write_atomic replaces a file whole, a failed write leaves the old one, and no planted symlink is followed."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from observe import durable_file
from observe.durable_file import write_atomic
from observe.logs.checkpoint import CheckpointStore, FileCheckpoint
from observe.logs.metrics import ShipperMetrics
from observe.logs.sinks.spool import SpoolSink


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_replaces_the_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(b"old")
    write_atomic(target, b"new" * 100_000)
    assert target.read_bytes() == b"new" * 100_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(durable_file.os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_symlink_planted_at_the_old_fixed_temp_name_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / ".state.json.tmp").symlink_to(victim)
    write_atomic(tmp_path / "state.json", b"new")
    assert victim.read_bytes() == b"precious"
    assert (tmp_path / "state.json").read_bytes() == b"new"


def test_a_symlink_at_the_temp_name_is_refused_not_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Even a symlink that guessed the random name is refused (O_EXCL|O_NOFOLLOW), and the victim is untouched.
    monkeypatch.setattr(durable_file.secrets, "token_hex", lambda n: "guessed")
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / ".state.json.guessed.tmp").symlink_to(victim)
    with pytest.raises(FileExistsError):
        write_atomic(tmp_path / "state.json", b"new")
    assert victim.read_bytes() == b"precious"
    assert not (tmp_path / "state.json").exists()


def test_a_target_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    target = tmp_path / "state.json"
    target.symlink_to(victim)
    with pytest.raises(OSError, match="symlink"):
        write_atomic(target, b"new")
    assert target.is_symlink() and victim.read_bytes() == b"precious"


def test_a_symlinked_checkpoint_is_not_read(tmp_path: Path) -> None:
    planted = tmp_path / "planted.json"
    entry = FileCheckpoint("/p", "/p", 1, 2, "00", 10, 10)
    CheckpointStore(planted).write({"k": entry})
    link = tmp_path / "checkpoint.json"
    link.symlink_to(planted)
    assert CheckpointStore(link).load() == {}


def test_checkpoint_files_are_0600_in_a_0700_folder(tmp_path: Path) -> None:
    path = tmp_path / "var" / "shipper" / "checkpoint.json"
    CheckpointStore(path).write({})
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700


def test_spool_files_are_0600_in_a_0700_folder(tmp_path: Path) -> None:
    from observe.logs.batch import Batch

    folder = tmp_path / "var" / "spool" / "logs"
    sink = SpoolSink(folder, ShipperMetrics(CollectorRegistry()))

    async def run() -> None:
        await sink.start()
        await sink.send(Batch())

    asyncio.run(run())
    files = list(folder.iterdir())
    assert len(files) == 1
    assert mode(files[0]) == 0o600
    assert mode(folder) == 0o700


def test_replayed_spool_folder_is_0700(tmp_path: Path) -> None:
    from observe.logs.replay import _move_done

    spooled = tmp_path / "1.ndjson"
    write_atomic(spooled, b"")
    _move_done(spooled)
    assert mode(tmp_path / "replayed") == 0o700
    assert mode(tmp_path / "replayed" / "1.ndjson") == 0o600


def test_trace_puller_state_is_0600_in_a_0700_folder(tmp_path: Path) -> None:
    from observe.traces import state

    path = tmp_path / "var" / "traces" / "state.bin"
    state.save(path, state.State(version=1, watermark_us=0, window=state.Window(seen=[], clients=[], orphans=[], traces=[])))
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700


@pytest.mark.parametrize("key", ["checkpoint_path", "spool_dir"])
def test_observe_ship_refuses_a_symlinked_state_path_with_exit_2(tmp_path: Path, key: str) -> None:
    real = tmp_path / "elsewhere"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real / "x" if key == "checkpoint_path" else real)
    other = "spool_dir" if key == "checkpoint_path" else "checkpoint_path"
    config = tmp_path / "observe.yaml"
    config.write_text(f"service:\n  port: 0\nlogs:\n  paths: ['{tmp_path}/none/*.log']\n  {key}: '{link}'\n"
                      f"  {other}: '{tmp_path / 'own'}'\n  sink: spool\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBSERVE_")}
    observe = Path(sys.executable).with_name("observe")
    try:
        out = subprocess.run([str(observe), "ship", "--config", str(config)], env=env, capture_output=True, text=True,
                             timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("observe ship started with a symlinked state path")
    assert out.returncode == 2, out.stderr
    assert f"logs.{key}" in out.stderr and str(link) in out.stderr and "symlink" in out.stderr
    assert "Traceback" not in out.stderr
