"""Which of some `_id`s a data stream already holds, in any of its backing indices.

`op_type=create` answers 409 only when the `_id` is in the stream's current write index. After a rollover, an
event written before it would be created again in the new index. So an event that may already have been written
(re-read after a restart, or replayed from a spool) is looked up first in the older backing indices of its data
stream and of the dead-letter stream (the write index answers 409 by itself), one `ids` query per batch. A stream
that was never rolled over has no older index, and costs one `_resolve/index` request per batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

import orjson

from observe.es_connection import Connection, HttpError

# A search returns at most index.max_result_window (10,000) hits: ask in chunks below it.
CHUNK = 5000
MISSING_OK = {"ignore_unavailable": "true", "allow_no_indices": "true"}


def targets(items: Iterable[tuple[int, bytes]]) -> dict[str, list[tuple[int, str]]]:
    """(position, _id) of each item, grouped by the data stream its action line names."""
    out: dict[str, list[tuple[int, str]]] = {}
    for pos, item in items:
        action = orjson.loads(item[: item.index(b"\n")])
        meta = next(iter(action.values()))
        out.setdefault(str(meta.get("_index", "")), []).append((pos, str(meta.get("_id", ""))))
    return out


def older_indices(resolved: bytes) -> list[str] | None:
    """The backing indices but the write index (the last) of each data stream in a `_resolve/index` answer; None
    when the answer names plain indices or aliases (look those up whole)."""
    got = orjson.loads(resolved)
    if got.get("indices") or got.get("aliases"):
        return None
    return [name for ds in got.get("data_streams", []) for name in ds.get("backing_indices", [])[:-1]]


class ExistingIds:
    """Looks `_id`s up in the older backing indices of a data stream (and of the dead-letter stream)."""

    def __init__(self, conn: Connection, deadletter: str) -> None:
        self.conn = conn
        self.deadletter = deadletter
        self._refreshed: set[str] = set()

    def _names(self, stream: str) -> str:
        return stream if stream == self.deadletter else f"{stream},{self.deadletter}"

    async def _request(self, method: str, path: str, body: dict[str, object] | None = None,
                       params: dict[str, str] | None = None) -> tuple[int, bytes]:
        node, status, raw = await self.conn.request_node(method, path, body, params={**MISSING_OK, **(params or {})})
        if status >= 300 and status != 404:
            raise HttpError(status, raw, node)
        return status, raw

    async def _targets(self, stream: str) -> str | None:
        """The comma-separated indices to search, or None when there is nothing but write indices."""
        names = self._names(stream)
        node, status, raw = await self.conn.request_node("GET", "/_resolve/index/" + quote(names, safe=","),
                                                         params=MISSING_OK)
        if status == 429 or status >= 500:
            raise HttpError(status, raw, node)
        older = older_indices(raw) if status < 300 else None
        if older is None:
            return names  # no _resolve/index (or not data streams): search the streams whole
        return ",".join(older) or None

    async def find(self, stream: str, ids: list[str]) -> set[str]:
        """The `ids` already stored in an older backing index of `stream` or of its dead-letter stream."""
        where = await self._targets(stream)
        if where is None:
            return set()
        path = "/" + quote(where, safe=",")
        if where not in self._refreshed:
            # Search sees what was refreshed; what a killed process wrote just before may not be yet.
            await self._request("POST", path + "/_refresh")
            self._refreshed.add(where)
        found: set[str] = set()
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            body: dict[str, object] = {"size": len(chunk), "_source": False, "track_total_hits": False,
                                       "query": {"ids": {"values": chunk}}}
            status, raw = await self._request("POST", path + "/_search", body, {"filter_path": "hits.hits._id"})
            if status == 404:
                return found  # deleted by the lifecycle meanwhile
            hits = (orjson.loads(raw).get("hits") or {}).get("hits") or []
            found.update(str(h["_id"]) for h in hits)
        return found
