"""The per-file record processor: exclusion, multiline merging, parsing and exception fields, per the pod's plan.

The reader sets `settings` from the file's plan between chunks, so a changed annotation applies to a file
that is already open (an open multiline event survives the change). Held records (an open multiline event)
report their first offset, so the checkpoint never passes them; merged events keep the first line's offset,
so a re-read after a restart gives the same `_id`.
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache
from typing import Any

from prometheus_client import Counter

from observe.logs import cri_native
from observe.logs.cri_native import AT_FRAME, UNTRIGGERED
from observe.logs.event import FLAG_MULTILINE_SPLIT, FLAG_PARSE_FAILED, Event
from observe.logs.multiline import SPLIT_FLAG, TRIGGERS, Merger, Rule, TraceRule, rule_for
from observe.logs.multiline.at_frames import is_frame
from observe.logs.parsers import Parser, parser_for
from observe.logs.plan import Settings
from observe.logs.stack_traces import error_fields
from observe.merge import deep_merge

_TRIGGER_BYTES = b"".join(t.encode() + b"\0" for t in TRIGGERS)
log = logging.getLogger(__name__)
_RAISED: set[str] = set()  # parsers whose exception has been logged (once each: a stream of such lines would flood)


def _codes(messages: list[bytes]) -> bytes:
    """cri_native.classify's bits for each message; without the library only the frames are marked, by is_frame
    (every line then goes through the merger: the trigger words are not looked for in Python)."""
    codes = cri_native.classify(messages, _TRIGGER_BYTES)
    return codes if codes is not None else bytes(AT_FRAME if is_frame(m) else 0 for m in messages)


@lru_cache(maxsize=256)
def _rule(spec: str) -> Rule | None:
    # Cached so the same spec is the same object: the merger keeps an open record only under one rule.
    return rule_for(spec)


@lru_cache(maxsize=256)
def _parser(spec: str) -> Parser | None:
    return parser_for(spec)


class PlanProcessor:
    """A RecordProcessor driven by the pod's plan."""

    def __init__(self, settings: Settings, *, dropped: Counter | None = None,
                 flush_seconds: float = 2.0, max_lines: int = 500, max_bytes: int = 1 << 20) -> None:
        self.settings = settings
        self.dropped = dropped.labels("excluded", "true") if dropped is not None else None
        self.merger: Merger[bytes, Event] = Merger(flush_seconds=flush_seconds, max_lines=max_lines, max_bytes=max_bytes)

    def native_parser(self) -> str | None:
        """`nginx` or `json` when the settings only parse lines with that parser and nothing is held: then the C loop
        may parse and encode whole lines itself (cri_native.ship_chunk), one event per line, as `process` would."""
        s = self.settings
        if s.parser in ("nginx", "json") and s.multiline == "none" and not s.excluded and not self.merger.pending():
            return s.parser
        return None

    def process(self, records: list[Event]) -> list[Event]:
        """Exclude, merge and parse a run of records."""
        s = self.settings
        if s.excluded:
            if records and self.dropped is not None:
                self.dropped.inc(len(records))
            return self._release(list(self.merger.drain()), s)
        rule = _rule(s.multiline)
        parser = _parser(s.parser)
        if rule is None and parser is None and not self.merger.pending():
            return records
        out: list[Event] = []
        if rule is None:
            for rec in records:
                if self.merger.pending():
                    out.extend(self._release(self._close(rec[2]), s))
                out.append(self._parse(rec, parser) if parser is not None else rec)
            return out
        now = time.monotonic()
        feed = self.merger.feed
        # A line with none of the trace rules' trigger words, in a stream with no open record, is a one-line event
        # whatever the rules say (TRIGGERS): it leaves as it came, without the merger. And a run of `at` frames in an
        # open trace is taken in one go (_frames). One C call per chunk marks both (_codes).
        traces = rule if isinstance(rule, TraceRule) else None
        codes = _codes([rec[3] for rec in records]) if traces is not None else b""
        is_open = self.merger.is_open
        i, n = 0, len(records)
        while i < n:
            rec = records[i]
            msg, key = rec[3], rec[2]
            if traces is not None:
                code = codes[i]
                if code & UNTRIGGERED and not is_open(key):
                    out.append(self._parse(rec, parser) if parser is not None else rec)
                    i += 1
                    continue
                if code & AT_FRAME and (taken := self._frames(traces, records, i, now, codes)):
                    i += taken
                    continue
            # Most lines of a trace close nothing: _release only runs for lines that closed a record.
            if closed := feed(key, rule, msg.decode("utf-8", "surrogateescape"), rec, now, len(msg)):
                out.extend(self._release(closed, s))
            i += 1
        return out

    def _frames(self, rule: TraceRule, records: list[Event], i: int, now: float, codes: bytes) -> int:
        """A run of `at` frames from records[i] on, in one go: when their stream's open record is a trace that takes
        them (`rule.takes_frames`), each would only continue it in state FRAME, so `feed` line by line is skipped
        (a 30-line Java trace is 28 such lines). How many were taken; 0 leaves records[i] to `feed`."""
        key = records[i][2]
        record = self.merger.open_record(key, rule)
        if record is None or not rule.takes_frames(record):
            return 0
        j, n = i + 1, len(records)
        while j < n and codes[j] & AT_FRAME and records[j][2] == key:
            j += 1
        run = records[i:j]
        taken = self.merger.extend(record, [r[3].decode("utf-8", "surrogateescape") for r in run], run,
                                   [len(r[3]) for r in run], now)
        if taken:
            rule.framed(record)
        return taken

    def flush(self, now: float, final: bool) -> list[Event]:
        """Release merged events whose stream went quiet (all of them when the file closes)."""
        done = list(self.merger.drain()) if final else self.merger.expired(now)
        return self._release(done, self.settings)

    def pending_offset(self) -> int | None:
        """The first offset of the oldest open multiline event."""
        offsets = [r.origins[0][0] for r in self.merger.open_records()]
        return min(offsets) if offsets else None

    def _close(self, stream: bytes) -> list[Any]:
        rec = self.merger.close(stream)
        return [rec] if rec is not None else []

    def _release(self, merged: list[Any], s: Settings) -> list[Event]:
        parser = _parser(s.parser)
        out: list[Event] = []
        if len(merged) > 1:
            merged = sorted(merged, key=lambda r: r.origins[0][0])
        for m in merged:
            origins = m.origins
            first: Event = origins[0]
            if len(origins) == 1:
                # A one-line event (most of them): the record itself, unless the merger split it.
                rec = first if SPLIT_FLAG not in m.flags else (
                    first[0], first[1], first[2], first[3], first[4] | FLAG_MULTILINE_SPLIT, first[5])
            else:
                flags = 0
                for origin in origins:
                    flags |= origin[4]
                if SPLIT_FLAG in m.flags:
                    flags |= FLAG_MULTILINE_SPLIT
                message = b"\n".join(o[3] for o in origins)
                fields = error_fields(message.decode("utf-8", "replace")) or None
                rec = (first[0], first[1], first[2], message, flags, fields)
            out.append(self._parse(rec, parser) if parser is not None else rec)
        return out

    @staticmethod
    def _parse(rec: Event, parser: Parser) -> Event:
        offset, ts, stream, msg, flags, fields = rec
        try:
            result = parser.parse(msg.decode("utf-8", "replace"))
        except Exception:  # a parser's bug: the line ships flagged, instead of stopping the file (and, after a
            # restart, stopping it again on the same line: a crash loop that ships nothing of the node after it)
            if parser.name not in _RAISED:
                _RAISED.add(parser.name)
                log.exception("the parser raised on a line; it ships flagged parse_failed (a bug: please report it)",
                              extra={"parser": parser.name, "log.offset": offset})
            return (offset, ts, stream, msg, flags | FLAG_PARSE_FAILED, fields)
        if result.flags:
            return (offset, ts, stream, msg, flags | result.flags, fields)
        # The parser's fields are a fresh dict: use it as is when there is nothing to merge it into.
        out: dict[str, Any] = deep_merge(fields, result.fields) if fields else result.fields
        if result.message is not None:
            msg = result.message.encode()
            # A JSON message that is itself a trace still gets error.* fields.
            if "\n" in result.message and "error" not in out:
                out = deep_merge(out, error_fields(result.message))
        return (offset, ts, stream, msg, flags, out or None)
