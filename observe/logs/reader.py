"""One open log file: read a chunk, split lines, decode, process, encode, and hand back a segment.

Between two chunks the reader takes the newest plan from its PlanSlot (the enricher publishes there); a plan
never changes while a chunk is being processed.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

from observe.logs import cri_native
from observe.logs.batch import FileAcks, Segment
from observe.logs.checkpoint import FileCheckpoint
from observe.logs.decode import CriDecoder, Decoder, detect, make_decoder
from observe.logs.encode import Encoder
from observe.logs.event import FLAG_TRUNCATED, Event
from observe.logs.fastpath import ship_cri
from observe.logs.identity import FileIdentity, read_fingerprint
from observe.logs.metrics import ShipperMetrics
from observe.logs.plan import NO_PROCESSING, FilePlan, PlanSlot
from observe.logs.process import PlanProcessor

log = logging.getLogger("observe.logs.tailer")

# Room for the CRI/docker framing around a message of max_event_bytes before a physical line counts as overlong.
LINE_SLACK = 4096


def now_timestamp() -> bytes:
    """The read time as RFC 3339 bytes (the timestamp of plain-text events)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()


class FileReader:
    """Reads one file from an offset; owns its decoder state and its acknowledgement order."""

    def __init__(self, fd: int, identity: FileIdentity, real_path: str, offset: int, plans: PlanSlot,
                 index: str, metrics: ShipperMetrics, *, read_bytes: int, max_event_bytes: int,
                 on_advance: Callable[[], None], multiline_limits: tuple[float, int, int] = (2.0, 500, 1 << 20)) -> None:
        self.fd = fd
        self.identity = identity
        self.key = identity.key
        self.plans = plans
        plans.take()
        plan = plans.current
        self.path = plan.path
        self.real_path = real_path
        self.namespace = plan.namespace
        self.read_pos = offset
        self.size = os.fstat(fd).st_size
        self.carry = b""
        self.skip_from: int | None = None
        self.read_bytes = read_bytes
        self.max_event_bytes = max_event_bytes
        self.max_line = max_event_bytes + LINE_SLACK
        self.decoder: Decoder | None = None if plan.format == "auto" else make_decoder(plan.format, max_event_bytes)
        self.index = index
        self.acks = FileAcks(offset, on_advance)
        # Events starting before this offset may have been written by an earlier run (see `may_be_written`).
        self.verify_until = 0
        self._emitted_safe = offset
        self.metrics = metrics
        self.multiline_limits = multiline_limits
        self.processor: PlanProcessor | None = None  # created the first time a plan asks for processing
        self._apply(plan)
        self._lines = metrics.lines_read.labels(self.namespace)
        self._bytes = metrics.bytes_read.labels(self.namespace)
        self._lost_truncated = metrics.lost_bytes.labels("truncated")
        now = time.monotonic()
        self.last_growth = now
        self.detached_since: float | None = None  # renamed away or deleted: read to the end, then close
        self.truncated = False  # copytruncate seen: stop reading this identity
        self.finished = False  # no more reads; waiting for the last acknowledgements

    # AckTarget
    def segment_done(self) -> None:
        """Advance the acknowledged offset across completed segments."""
        self.acks.advance()

    @property
    def acked_offset(self) -> int:
        """Everything before this offset is acknowledged."""
        return self.acks.acked_offset

    def may_be_written(self, until: int) -> None:
        """An earlier run may have sent this file's events up to `until` (its size now): look them up before sending."""
        self.verify_until = max(self.verify_until, until)

    def checkpoint(self, *, closed: bool) -> FileCheckpoint:
        """This file's checkpoint entry: everything before the acknowledged offset is delivered."""
        ident = self.identity
        return FileCheckpoint(path=self.path, real_path=self.real_path, dev=ident.dev, ino=ident.ino,
                              fingerprint=ident.fingerprint.hex(), offset=self.acked_offset, size=self.size, closed=closed)

    def observe(self, st: os.stat_result, *, listed: bool, now: float, fingerprint_bytes: int) -> bool:
        """Take in what discovery saw of this file (renamed, deleted, truncated, grown); True when truncated now."""
        if not listed or st.st_nlink == 0:
            if self.detached_since is None:
                self.detached_since = now
                log.info("file rotated or deleted; reading it to its end",
                         extra={"file.path": self.path, "file.inode": str(self.identity.ino)})
        shrunk = st.st_size < self.size or st.st_size < self.read_pos
        if shrunk or read_fingerprint(self.fd, fingerprint_bytes) != self.identity.fingerprint:
            if not self.truncated:
                self.truncated = True
                lost = max(0, self.size - self.read_pos)
                if lost:
                    self.metrics.lost_bytes.labels("rotated_away").inc(lost)
                log.warning("file truncated (copytruncate); restarting it at offset 0",
                            extra={"file.path": self.path, "log.offset": self.read_pos})
                return True
        else:
            self.size = st.st_size
        return False

    def _safe_offset(self) -> int:
        safe = self.read_pos - len(self.carry)
        if self.skip_from is not None:
            safe = min(safe, self.skip_from)
        if self.decoder is not None:
            pending = self.decoder.pending_offset()
            if pending is not None:
                safe = min(safe, pending)
        if self.processor is not None:
            held = self.processor.pending_offset()
            if held is not None:
                safe = min(safe, held)
        return safe

    def _apply(self, plan: FilePlan) -> None:
        """Ship by `plan` from now on: its constants and target in the encoder, its settings in the processor."""
        self.plan = plan
        self.encoder = Encoder(plan, self.key, plan.data_stream or self.index)
        # Only the NO_PROCESSING object itself keeps the CRI fast path: an explicit Settings() still gets a
        # processor (benchmarks measure the general path that way); the enricher hands out NO_PROCESSING.
        if self.processor is None and plan.settings is not NO_PROCESSING:
            flush, lines, size = self.multiline_limits
            self.processor = PlanProcessor(plan.settings, dropped=self.metrics.events_dropped, flush_seconds=flush,
                                           max_lines=lines, max_bytes=size)
        elif self.processor is not None:
            self.processor.settings = plan.settings

    def _take_plan(self) -> None:
        plan = self.plans.take()
        if plan is not None:
            self._apply(plan)

    def _decoder_for(self, first_line: bytes) -> Decoder:
        """The file's decoder, detected from its first line, after taking the newest plan."""
        if self.plans.next is not None:
            self._take_plan()
        if self.decoder is None:
            self.decoder = make_decoder(detect(first_line), self.max_event_bytes)
        return self.decoder

    def _encode_chunk(self, buf: bytes, end: int, offset: int, now: bytes, out: list[bytes]) -> int:
        """The whole lines buf[:end] (each with its newline; what follows is the carry): by the C loop when it is built
        and the file takes the CRI fast path or only the nginx or json parser (the lines it hands back go to `_encode`
        one by one), else split and `_encode`d. Returns how many lines they were."""
        dec = self._decoder_for(buf[: buf.index(b"\n")])
        if cri_native.AVAILABLE and isinstance(dec, CriDecoder):
            proc = self.processor
            if proc is None:
                return cri_native.ship_chunk(buf, end, offset, now, dec, self.encoder, out)
            parser = proc.native_parser()
            if parser is not None and parser in self.encoder.inline_parsers:
                return cri_native.ship_chunk(buf, end, offset, now, dec, self.encoder, out, parser,
                                             lambda line, at: self._encode([line], at, now, out))
        lines = buf.split(b"\n")
        lines.pop()  # the carry
        self._encode(lines, offset, now, out)
        return len(lines)

    def _encode(self, lines: list[bytes], offset: int, now: bytes, out: list[bytes], flags: int = 0) -> None:
        dec = self._decoder_for(lines[0])
        if not flags and self.processor is None and isinstance(dec, CriDecoder):
            ship_cri(lines, offset, now, dec, self.encoder, out)
            return
        records: list[Event] = []
        dec.decode(lines, offset, now, records, flags)
        if self.processor is not None:
            records = self.processor.process(records)
        self.encoder.encode(records, out)

    def _segment(self, items: list[bytes]) -> Segment:
        enc = self.encoder
        if enc.flagged:
            for name, n in enc.flagged.items():
                self.metrics.events_flagged.labels(name).inc(n)
            enc.flagged.clear()
        dec = self.decoder
        if dec is not None and dec.skipped_bytes:
            self._lost_truncated.inc(dec.skipped_bytes)
            dec.skipped_bytes = 0
        safe = self._safe_offset()
        # Every item here starts at or after the previous segment's safe offset.
        verify = self._emitted_safe < self.verify_until
        self._emitted_safe = safe
        seg = Segment(self, items, safe, verify)
        self.acks.register(seg)
        return seg

    def read(self) -> Segment | None:
        """Read the next chunk; None at the end of the file."""
        data = os.pread(self.fd, self.read_bytes, self.read_pos)
        if not data:
            return None
        self.last_growth = time.monotonic()
        self._bytes.inc(len(data))
        buf = self.carry + data if self.carry else data
        base = self.read_pos - len(self.carry)
        self.read_pos += len(data)
        self.carry = b""
        out: list[bytes] = []
        now = now_timestamp()
        if self.skip_from is not None:
            nl = buf.find(b"\n")
            if nl < 0:
                self._lost_truncated.inc(len(buf))
                return self._segment(out)
            self._lost_truncated.inc(nl)
            buf = buf[nl + 1 :]
            base += nl + 1
            self.skip_from = None
        end = buf.rfind(b"\n") + 1
        carry = buf[end:]
        if end:
            self._lines.inc(self._encode_chunk(buf, end, base, now, out))
        if len(carry) > self.max_line:
            # An overlong physical line: ship its head flagged truncated, skip the rest up to its newline.
            start = base + len(buf) - len(carry)
            self._lines.inc()
            self._encode([carry[: self.max_line]], start, now, out, FLAG_TRUNCATED)
            self._lost_truncated.inc(len(carry) - self.max_line)
            self.skip_from = start
            carry = b""
        self.carry = carry
        return self._segment(out)

    def tick(self, now: float) -> Segment | None:
        """Release records the processors held past their timeout."""
        self._take_plan()
        proc = self.processor
        if proc is None:
            return None
        records = proc.process([]) + proc.flush(now, False)
        if not records:
            return None
        out: list[bytes] = []
        self.encoder.encode(records, out)
        return self._segment(out)

    def finish(self) -> Segment:
        """The file is closing: ship whatever is still held (a last line without newline included)."""
        self.finished = True
        now = now_timestamp()
        records: list[Event] = []
        if self.carry and self.skip_from is None:
            if self.decoder is None:
                self.decoder = make_decoder(detect(self.carry), self.max_event_bytes)
            self._lines.inc()
            self.decoder.decode([self.carry], self.read_pos - len(self.carry), now, records)
        self.carry = b""
        self.skip_from = None
        if self.decoder is not None:
            self.decoder.flush(records)
        self._take_plan()
        if self.processor is not None:
            records = self.processor.process(records) + self.processor.flush(time.monotonic(), True)
        out: list[bytes] = []
        self.encoder.encode(records, out)
        return self._segment(out)

    def close(self) -> None:
        """Release the file descriptor."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
