"""The decoded event that flows from the decoders through the processors to the encoder.

An event is a plain tuple, because the hot path builds one per line and a tuple is the cheapest object:
``(offset, timestamp, stream, message, flags, fields)``

- offset: byte offset of the event's first line in its file (with the file identity, this is the `_id`);
- timestamp: RFC 3339 bytes as the runtime wrote them (or the read time for plain files);
- stream: b"stdout" / b"stderr" (b"" when unknown);
- message: raw bytes, possibly invalid UTF-8 (the encoder replaces and flags it);
- flags: a bit set of FLAG_* below;
- fields: extra ECS fields set by a processor (nested dicts, e.g. {"log": {"level": "error"}}), or None.
"""

from __future__ import annotations

from typing import Any

Event = tuple[int, bytes, bytes, bytes, int, dict[str, Any] | None]

FLAG_INVALID_UTF8 = 1
FLAG_TRUNCATED = 2
FLAG_UNDECODABLE = 4
FLAG_PARSE_FAILED = 8
FLAG_MULTILINE_SPLIT = 16  # a multiline event hit its line/byte cap and continues in the next event

# Bit -> the name written to log.flags and used as the `flag` label of observe_shipper_events_flagged_total.
FLAG_NAMES: dict[int, str] = {
    FLAG_INVALID_UTF8: "invalid_utf8",
    FLAG_TRUNCATED: "truncated",
    FLAG_UNDECODABLE: "undecodable",
    FLAG_PARSE_FAILED: "parse_failed",
    FLAG_MULTILINE_SPLIT: "multiline_split",
}


def flag_names(flags: int) -> list[str]:
    """The names of the bits set in `flags`, in a stable order."""
    return [name for bit, name in FLAG_NAMES.items() if flags & bit]
