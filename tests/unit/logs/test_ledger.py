"""The ledger of files not open: after a restart, entries of finished files become closed, the rest resume."""

from __future__ import annotations

from observe.logs.checkpoint import FileCheckpoint
from observe.logs.ledger import Ledger


def _entry(path: str, *, closed: bool) -> FileCheckpoint:
    return FileCheckpoint(path=path, real_path=path, dev=1, ino=hash(path) % 1000, fingerprint="00", offset=5,
                          size=10, closed=closed)


def test_after_a_restart_finished_files_are_closed_and_the_others_returned_to_resume() -> None:
    ledger = Ledger(lambda: None)
    ledger.saved = {"a": _entry("/a.log", closed=False), "b": _entry("/b.log", closed=True),
                    "c": _entry("/c.log", closed=False)}
    assert [key for key, _ in ledger.resumable()] == ["a", "c"]
    assert set(ledger.closed) == {"b"} and set(ledger.saved) == {"a", "c"}  # still saved until taken
    assert ledger.take("a") is not None and set(ledger.saved) == {"c"}
    assert set(ledger.entries()) == {"b", "c"}
