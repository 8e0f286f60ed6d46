"""Records from (text, stream) lines, and a PlanProcessor run over them chunk by chunk: what the processor tests
compare between two ways of processing (with and without the C pre-check, with and without frame runs)."""

from __future__ import annotations

import itertools
from typing import Any

from observe.logs.event import Event
from observe.logs.plan import Settings
from observe.logs.process import PlanProcessor

NOW = b"2024-05-01T00:00:00.000000000Z"


def records_of(lines: list[tuple[str, bytes]]) -> list[Event]:
    """One CRI record per (text, stream), offsets 40 bytes of CRI prefix apart."""
    records: list[Event] = []
    offset = 0
    for text, stream in lines:
        msg = text.encode("utf-8", "surrogateescape")
        records.append((offset, NOW, stream, msg, 0, None))
        offset += len(msg) + 40
    return records


def process_in_chunks(records: list[Event], cuts: list[int], settings: Settings, **caps: Any) -> list[object]:
    """Each chunk's events and the held-back offset after it, then what the final flush releases."""
    bounds = sorted({0, len(records), *(c for c in cuts if c <= len(records))})
    proc = PlanProcessor(settings, **caps)
    seen: list[object] = []
    for a, b in itertools.pairwise(bounds):
        seen.append(proc.process(records[a:b]))
        seen.append(proc.pending_offset())
    seen.append(proc.flush(0.0, True))
    return seen
