"""Which of some `_id`s a data stream already holds, in any of its backing indices.

`op_type=create` answers 409 only when the `_id` is in the stream's current write index. After a rollover, an
event written before it would be created again in the new index. So an event that may already have been written
(re-read after a restart, or replayed from a spool) is looked up first, across every backing index of its data
stream and of the dead-letter stream, with one `ids` query per data stream and batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

import orjson

from observe.es_connection import Connection, HttpError

# A search returns at most index.max_result_window (10,000) hits: ask in chunks below it.
CHUNK = 5000


def targets(items: Iterable[tuple[int, bytes]]) -> dict[str, list[tuple[int, str]]]:
    """(position, _id) of each item, grouped by the data stream its action line names."""
    out: dict[str, list[tuple[int, str]]] = {}
    for pos, item in items:
        action = orjson.loads(item[: item.index(b"\n")])
        meta = next(iter(action.values()))
        out.setdefault(str(meta.get("_index", "")), []).append((pos, str(meta.get("_id", ""))))
    return out


class ExistingIds:
    """Looks `_id`s up across a data stream's backing indices; refreshes each stream once first."""

    def __init__(self, conn: Connection, deadletter: str) -> None:
        self.conn = conn
        self.deadletter = deadletter
        self._refreshed: set[str] = set()

    def _path(self, stream: str) -> str:
        names = stream if stream == self.deadletter else f"{stream},{self.deadletter}"
        return "/" + quote(names, safe=",")

    async def _refresh(self, stream: str) -> None:
        # Search sees what was refreshed; what a killed process wrote just before may not be yet.
        status, raw = await self.conn.request("POST", self._path(stream) + "/_refresh",
                                              params={"ignore_unavailable": "true", "allow_no_indices": "true"})
        if status >= 300:
            raise HttpError(status, raw)
        self._refreshed.add(stream)

    async def find(self, stream: str, ids: list[str]) -> set[str]:
        """The `ids` already stored in `stream` (or its dead-letter stream), in any backing index."""
        if stream not in self._refreshed:
            await self._refresh(stream)
        found: set[str] = set()
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            body = {"size": len(chunk), "_source": False, "track_total_hits": False,
                    "query": {"ids": {"values": chunk}}}
            status, raw = await self.conn.request(
                "POST", self._path(stream) + "/_search", body,
                params={"ignore_unavailable": "true", "allow_no_indices": "true", "filter_path": "hits.hits._id"})
            if status >= 300:
                raise HttpError(status, raw)
            hits = (orjson.loads(raw).get("hits") or {}).get("hits") or []
            found.update(str(h["_id"]) for h in hits)
        return found
