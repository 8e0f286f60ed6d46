"""Checkpoint files: atomic replace, round trip, and a failed write keeps the old file."""

from pathlib import Path

import pytest

from observe import durable_file
from observe.logs.checkpoint import CheckpointStore, FileCheckpoint


def entry(offset: int) -> FileCheckpoint:
    return FileCheckpoint(path="/a.log", real_path="/a.log", dev=1, ino=2, fingerprint="00", offset=offset, size=10)


def test_round_trip(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "sub" / "cp.json")
    assert store.load() == {}
    store.write({"k": entry(5)})
    assert store.load() == {"k": entry(5)}
    store.write({"k": entry(9)})
    assert store.load()["k"].offset == 9
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["cp.json"]  # no temp file left behind


def test_failed_write_keeps_the_old_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = CheckpointStore(tmp_path / "cp.json")
    store.write({"k": entry(5)})

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(durable_file.os, "fsync", full_disk)  # fails whoever we run as (root ignores modes)
    with pytest.raises(OSError):
        store.write({"k": entry(7)})
    assert store.load()["k"].offset == 5


def test_corrupt_file_starts_over(tmp_path: Path) -> None:
    (tmp_path / "cp.json").write_text("{not json")
    assert CheckpointStore(tmp_path / "cp.json").load() == {}
