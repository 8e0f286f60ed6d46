"""The Merger: lines become records, one open record per stream key (file + iostream).

A record is emitted when a line starts a new one, when its stream has been quiet for the flush timeout, at once
when its rule says no later line can continue it (a one-line record that neither opens a trace nor carries an
error or warning level, most lines of most streams), or when it would exceed the line or byte cap (then it is
split, never cut: the split parts carry the flag `multiline_split`). Whether a line continues a record is its
Rule's say (observe/logs/multiline/rules.py).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")

SPLIT_FLAG = "multiline_split"


@dataclass(slots=True)
class Record(Generic[T]):
    """Lines merged so far for one stream, with the origin of each line (for acks)."""

    lines: list[str]
    origins: list[T]
    first_seen: float
    last_seen: float
    size: int = 0
    state: dict[str, str] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    held: int = 0  # trailing lines kept only tentatively (see HELD): they leave the record if nothing confirms them

    @property
    def message(self) -> str:
        """The merged text, lines joined by newlines."""
        return "\n".join(self.lines)


class Rule(Protocol):
    """Decides whether a line continues the open record, and tracks what it has seen."""

    name: str

    def continues(self, line: str, record: Record[Any]) -> bool:
        """True when `line` belongs to `record` rather than starting a new one."""
        ...

    def note(self, line: str, record: Record[Any]) -> None:
        """Update the record's state after `line` was added to it."""
        ...

    def holds(self, record: Record[Any]) -> bool:
        """Whether a later line may still continue `record` (noted after its first line). False lets the merger
        emit it at once instead of holding it until the stream's next line or its quiet timeout."""
        ...


K = TypeVar("K", bound=Hashable)


def _release_held(record: Record[T]) -> list[Record[T]]:
    """The record without its held lines, then each held line as its own record (nothing confirmed them). A record
    keeps its first line even when that one is held too (the part a split began with a held line), so no record is
    ever left empty."""
    if not record.held:
        return [record]
    keep = max(len(record.lines) - record.held, 1)
    out = [record]
    for line, origin in zip(record.lines[keep:], record.origins[keep:], strict=True):
        size = len(line.encode("utf-8", "surrogateescape"))
        record.size -= size + 1
        out.append(Record([line], [origin], record.last_seen, record.last_seen, size))
    del record.lines[keep:], record.origins[keep:]
    record.held = 0
    return out


class Merger(Generic[K, T]):
    """Merges lines into records, one open record per stream key."""

    def __init__(self, *, flush_seconds: float = 2.0, max_lines: int = 500, max_bytes: int = 1 << 20) -> None:
        self.flush_seconds = flush_seconds
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self._open: dict[K, tuple[Rule, Record[T]]] = {}

    def feed(self, key: K, rule: Rule | None, line: str, origin: T, now: float, size: int = -1) -> list[Record[T]]:
        """Add one line of stream `key`; return the records this line closed (oldest first).

        `size` is the line's length in bytes when the caller has it (the bytes it decoded `line` from).
        """
        out: list[Record[T]] = []
        if size < 0:
            size = len(line.encode("utf-8", "surrogateescape"))
        current = self._open.get(key)
        if current is not None:
            open_rule, record = current
            if open_rule is rule and rule is not None and rule.continues(line, record):
                if len(record.lines) + 1 > self.max_lines or record.size + size + 1 > self.max_bytes:
                    # Too big: emit what we have and carry on in a new part, so nothing is cut.
                    record.flags.append(SPLIT_FLAG)
                    out.append(record)
                    nxt: Record[T] = Record([line], [origin], now, now, size, dict(record.state), [SPLIT_FLAG])
                    rule.note(line, nxt)
                    self._open[key] = (rule, nxt)
                    return out
                record.lines.append(line)
                record.origins.append(origin)
                record.size += size + 1
                record.last_seen = now
                rule.note(line, record)
                return out
            if record.held:
                out.extend(_release_held(record))
            else:
                out.append(record)
            del self._open[key]
        record = Record([line], [origin], now, now, size)
        if rule is None:
            out.append(record)
            return out
        rule.note(line, record)
        if rule.holds(record):
            self._open[key] = (rule, record)
        else:
            out.append(record)  # nothing can continue it: it leaves now, not a line or a timeout later
        return out

    def open_record(self, key: K, rule: Rule) -> Record[T] | None:
        """The open record of stream `key` when it is open under `rule`, else None."""
        current = self._open.get(key)
        return current[1] if current is not None and current[0] is rule else None

    def extend(self, record: Record[T], lines: list[str], origins: list[T], sizes: list[int], now: float) -> int:
        """Append lines that the record's rule has already found to continue it (a run checked in one go), as many
        as the line and byte caps allow; the count taken. The rest go through `feed`, which splits the record."""
        take = min(len(lines), self.max_lines - len(record.lines))
        if take <= 0:
            return 0
        grown = record.size + sum(sizes[:take]) + take
        while take > 0 and grown > self.max_bytes:  # rare: back off to the lines that still fit
            take -= 1
            grown -= sizes[take] + 1
        if take <= 0:
            return 0
        record.lines.extend(lines[:take])
        record.origins.extend(origins[:take])
        record.size = grown
        record.last_seen = now
        return take

    def expired(self, now: float) -> list[Record[T]]:
        """Records whose stream has been quiet for the flush timeout."""
        done = [k for k, (_, r) in self._open.items() if now - r.last_seen >= self.flush_seconds]
        return [part for k in done for part in _release_held(self._open.pop(k)[1])]

    def close(self, key: K) -> Record[T] | None:
        """Emit the open record of one stream (its file ended or was closed), held lines included."""
        current = self._open.pop(key, None)
        return current[1] if current else None

    def drain(self) -> Iterator[Record[T]]:
        """Emit every open record (shutdown)."""
        while self._open:
            yield from _release_held(self._open.popitem()[1][1])

    def open_records(self) -> list[Record[T]]:
        """The records still open (their first origin bounds the checkpoint)."""
        return [r for _, r in self._open.values()]

    def is_open(self, key: K) -> bool:
        """Whether stream `key` has an open record (a later line may continue it)."""
        return key in self._open

    def pending(self) -> int:
        """How many streams have an open record."""
        return len(self._open)
