"""The puller's state file: the watermark and the window, written atomically so a crash leaves the old one."""

from __future__ import annotations

from pathlib import Path

import msgspec

from observe.durable_file import private_dir, write_atomic
from observe.traces.ingest import Window

VERSION = 1


class State(msgspec.Struct):
    """What a restart resumes from."""

    version: int
    watermark_us: int
    window: Window


def save(path: Path, state: State) -> None:
    """Write state to path durably and atomically."""
    private_dir(path.parent)
    write_atomic(path, msgspec.msgpack.encode(state))


def load(path: Path) -> State | None:
    """The saved state, or None when there is none; a corrupt or foreign file raises ValueError."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        state = msgspec.msgpack.decode(data, type=State)
    except msgspec.DecodeError as exc:
        raise ValueError(f"traces state file {path} is unreadable ({exc}); move it away to start fresh") from None
    if state.version != VERSION:
        raise ValueError(f"traces state file {path} has version {state.version}, expected {VERSION}")
    return state
