"""Decoders: complete physical lines of one file in, records out (CRI, docker json-file, plain, auto).

A decoder may hold the start of an event that continues on later lines (CRI `P` lines, docker's 16 KiB
splits). It then reports that event's offset as its pending offset, so the checkpoint stays at the start
of the event and a restart re-reads it whole.
"""

from __future__ import annotations

import re
from typing import Protocol

import orjson

from observe.logs.event import FLAG_TRUNCATED, FLAG_UNDECODABLE, Event

# RFC 3339 as runtimes write it; also proves the bytes are safe to place in JSON without escaping.
TIMESTAMP = re.compile(rb"[0-9][0-9:.TZtz+\-]{9,39}").fullmatch
STREAMS = (b"stdout", b"stderr")


class Decoder(Protocol):
    """Turns complete lines (without their newline) into records."""

    name: str
    skipped_bytes: int  # message bytes cut by truncation since the reader last collected them

    def decode(self, lines: list[bytes], offset: int, now: bytes, out: list[Event], flags: int = 0) -> None:
        """Append the records of `lines` (the first one starts at `offset`) to `out`."""
        ...

    def pending_offset(self) -> int | None:
        """Offset of the oldest event still being assembled, or None."""
        ...

    def flush(self, out: list[Event]) -> None:
        """Emit every event still being assembled (the file is closing)."""
        ...


class _Partial:
    """An event being assembled from several lines of one stream."""

    __slots__ = ("emitted", "offset", "parts", "size", "timestamp")

    def __init__(self, offset: int, timestamp: bytes) -> None:
        self.offset = offset
        self.timestamp = timestamp
        self.parts: list[bytes] = []
        self.size = 0
        self.emitted = False  # already shipped truncated; the rest is skipped up to the final line


class _Limited:
    """What every decoder shares: the max_event_bytes cut, and the count of the bytes it cut."""

    def __init__(self, max_event_bytes: int) -> None:
        self.max_event_bytes = max_event_bytes
        self.skipped_bytes = 0  # message bytes cut by truncation (counted as lost by the reader)

    def whole(self, offset: int, now: bytes, line: bytes, flags: int) -> Event:
        """A line shipped as it is (plain text, or not in the file's format), cut at max_event_bytes."""
        if len(line) > self.max_event_bytes:
            self.skipped_bytes += len(line) - self.max_event_bytes
            return (offset, now, b"", line[: self.max_event_bytes], flags | FLAG_TRUNCATED, None)
        return (offset, now, b"", line, flags, None)


class _Joiner(_Limited):
    """Partial-line assembly shared by the CRI and docker decoders, per stream, bounded by max_event_bytes."""

    def __init__(self, max_event_bytes: int) -> None:
        super().__init__(max_event_bytes)
        self.partial: dict[bytes, _Partial] = {}

    def add(self, offset: int, ts: bytes, stream: bytes, msg: bytes, final: bool, flags: int, out: list[Event]) -> None:
        p = self.partial.get(stream)
        if p is None:
            if final:
                if len(msg) > self.max_event_bytes:
                    self.skipped_bytes += len(msg) - self.max_event_bytes
                    msg = msg[: self.max_event_bytes]
                    flags |= FLAG_TRUNCATED
                out.append((offset, ts, stream, msg, flags, None))
                return
            p = self.partial[stream] = _Partial(offset, ts)
        if p.emitted:
            self.skipped_bytes += len(msg)
        else:
            room = self.max_event_bytes - p.size
            if len(msg) > room:
                p.parts.append(msg[:room])
                self.skipped_bytes += len(msg) - room
                out.append((p.offset, p.timestamp, stream, b"".join(p.parts), flags | FLAG_TRUNCATED, None))
                p.parts = []
                p.emitted = True
            else:
                p.parts.append(msg)
                p.size += len(msg)
        if final:
            del self.partial[stream]
            if not p.emitted:
                out.append((p.offset, p.timestamp, stream, b"".join(p.parts), flags, None))

    def pending_offset(self) -> int | None:
        if not self.partial:
            return None
        return min(p.offset for p in self.partial.values())

    def flush(self, out: list[Event]) -> None:
        for stream, p in sorted(self.partial.items(), key=lambda kv: kv[1].offset):
            if not p.emitted:
                out.append((p.offset, p.timestamp, stream, b"".join(p.parts), 0, None))
        self.partial.clear()


class CriDecoder(_Joiner):
    """`<RFC3339Nano> <stdout|stderr> <P|F> <message>`; P lines are joined up to the final F line."""

    name = "cri"

    def decode(self, lines: list[bytes], offset: int, now: bytes, out: list[Event], flags: int = 0) -> None:
        partial, limit, timestamp = self.partial, self.max_event_bytes, TIMESTAMP
        for line in lines:
            parts = line.split(b" ", 3)
            # Inline, the common line: a whole (F) line within the size limit and no partial line open. Anything
            # else goes through decode_line, which gives the same record for this one.
            if (not partial and len(parts) == 4 and parts[2] == b"F" and parts[1] in STREAMS
                    and len(parts[3]) <= limit and timestamp(parts[0])):
                out.append((offset, parts[0], parts[1], parts[3], flags, None))
            else:
                self.decode_line(line, offset, now, out, flags)
            offset += len(line) + 1

    def decode_line(self, line: bytes, offset: int, now: bytes, out: list[Event], flags: int = 0) -> None:
        """Decode one line; a line that is not CRI is shipped whole, flagged undecodable."""
        parts = line.split(b" ", 3)
        if len(parts) == 3:
            parts.append(b"")
        if len(parts) == 4 and parts[1] in STREAMS and parts[2][:1] in (b"F", b"P") and TIMESTAMP(parts[0]):
            self.add(offset, parts[0], parts[1], parts[3], parts[2][:1] == b"F", flags, out)
        else:
            out.append(self.whole(offset, now, line, flags | FLAG_UNDECODABLE))


class DockerDecoder(_Joiner):
    """docker json-file: `{"log": "...\\n", "stream": "stdout", "time": "..."}`; 16 KiB splits are rejoined."""

    name = "docker"

    def decode(self, lines: list[bytes], offset: int, now: bytes, out: list[Event], flags: int = 0) -> None:
        for line in lines:
            self.decode_line(line, offset, now, out, flags)
            offset += len(line) + 1

    def decode_line(self, line: bytes, offset: int, now: bytes, out: list[Event], flags: int = 0) -> None:
        """Decode one line; a line that is not docker JSON is shipped whole, flagged undecodable."""
        try:
            obj = orjson.loads(line)
            log = obj["log"]
            stream = obj.get("stream", "stdout").encode()
            ts = obj.get("time", "").encode()
            if not isinstance(log, str) or stream not in STREAMS or not TIMESTAMP(ts):
                raise ValueError("not a docker json-file line")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            out.append(self.whole(offset, now, line, flags | FLAG_UNDECODABLE))
            return
        final = log.endswith("\n")
        msg = (log[:-1] if final else log).encode("utf-8", "surrogatepass")
        self.add(offset, ts, stream, msg, final, flags, out)


class PlainDecoder(_Limited):
    """Plain text: one line is one event, timestamped when it was read, cut at max_event_bytes."""

    name = "plain"

    def decode(self, lines: list[bytes], offset: int, now: bytes, out: list[Event], flags: int = 0) -> None:
        limit = self.max_event_bytes
        for line in lines:
            n = len(line)
            out.append(self.whole(offset, now, line, flags) if n > limit else (offset, now, b"", line, flags, None))
            offset += n + 1

    def pending_offset(self) -> int | None:
        return None

    def flush(self, out: list[Event]) -> None:
        return None


def detect(line: bytes) -> str:
    """The format of a file, judged by its first line."""
    if line.startswith(b"{"):
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            return "plain"
        if isinstance(obj, dict) and "log" in obj:
            return "docker"
        return "plain"
    parts = line.split(b" ", 3)
    if len(parts) >= 3 and parts[1] in STREAMS and parts[2][:1] in (b"F", b"P") and TIMESTAMP(parts[0]):
        return "cri"
    return "plain"


def make_decoder(fmt: str, max_event_bytes: int) -> CriDecoder | DockerDecoder | PlainDecoder:
    """A fresh decoder for a known format (auto is resolved by the reader on the first line)."""
    if fmt == "cri":
        return CriDecoder(max_event_bytes)
    if fmt == "docker":
        return DockerDecoder(max_event_bytes)
    if fmt == "plain":
        return PlainDecoder(max_event_bytes)
    raise ValueError(f"unknown log format {fmt!r}; expected auto, cri, docker or plain")
