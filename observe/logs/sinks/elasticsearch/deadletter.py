"""Dead letters: an event the server rejected for good, rewritten as a document of the dead-letter stream."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from observe.logs.encode import source_of

MAPPING_ERRORS = frozenset({
    "mapper_parsing_exception", "document_parsing_exception", "strict_dynamic_mapping_exception",
    "illegal_argument_exception", "mapper_exception",
})


def reason_of(etype: str) -> str:
    """The dead-letter reason label: `mapping` for a mapping conflict, else `other_4xx`."""
    return "mapping" if etype in MAPPING_ERRORS or "mapper" in etype or "parsing" in etype else "other_4xx"


def deadletter_item(item: bytes, stream: str, status: int, etype: str, ereason: str) -> bytes:
    """The bulk item that writes rejected `item` to the dead-letter `stream`, under the same `_id`."""
    newline = item.index(b"\n")
    action = orjson.loads(item[:newline])
    meta = next(iter(action.values()))
    source = source_of(item)
    doc: dict[str, Any] = {
        "@timestamp": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "message": f"{etype}: {ereason}",
        "event": {"original": source.decode(errors="replace")},
        "error": {"type": etype, "message": ereason},
        "observe": {"deadletter": {"data_stream": meta.get("_index", ""), "status": status, "reason": reason_of(etype)}},
    }
    try:
        original = orjson.loads(source)
        logpart = original.get("log", {})
        doc["log"] = {"offset": logpart.get("offset"), "file": {"path": logpart.get("file", {}).get("path")}}
    except (orjson.JSONDecodeError, AttributeError):
        pass
    new_action = {"create": {"_index": stream, "_id": meta.get("_id")}}
    return orjson.dumps(new_action) + b"\n" + orjson.dumps(doc) + b"\n"
