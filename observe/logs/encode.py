"""Encoding: records to bulk items (an action line and an ECS document line, as bytes).

The per-file constant part of every document (file path, container, kubernetes, host) is encoded once per
plan; each line then costs one `bytes %` format and one orjson call for its message. Encoding never decodes.
"""

from __future__ import annotations

from typing import Any

import orjson

from observe.logs.event import FLAG_INVALID_UTF8, FLAG_NAMES, Event
from observe.logs.parsers import JSON_ROOTS, NGINX_ROOTS
from observe.logs.plan import FilePlan
from observe.logs.timestamp import to_utc
from observe.merge import deep_merge


def _esc(raw: bytes) -> bytes:
    """Escape `%` so constant bytes can sit inside a `bytes %` template."""
    return raw.replace(b"%", b"%%")


def doc_id(file_key: str, offset: int) -> str:
    """The deterministic document _id: file identity and the event's start offset."""
    return f"{file_key}-{offset:x}"


class Encoder:
    """Encodes the records of one file into bulk items for one data stream."""

    def __init__(self, plan: FilePlan, file_key: str, index: str) -> None:
        self.plan = plan
        self.file_key = file_key
        self.index = index
        self.flagged: dict[str, int] = {}
        id_head = b'{"create":{"_index":' + orjson.dumps(index) + b',"_id":"' + file_key.encode() + b"-"
        self.action = _esc(id_head) + b'%x"}}\n'
        path_part = b',"file":{"path":' + orjson.dumps(plan.path) + b"}}"
        rest = orjson.dumps(dict(plan.fields))[1:-1]
        self.suffix = path_part + (b"," + rest if rest else b"") + b"}\n"
        # For documents with parsed fields: the plan's fields, encoded once, and the keys a field may not share.
        self.plan_part = b"," + rest if rest else b""
        self.own_keys = frozenset(("@timestamp", "message", *plan.fields))
        # The C loop writes parsed documents itself (cri_native.ship_chunk) only as `_encode_dict` writes them
        # without deep_merge: for the parsers whose roots are not the plan's. It puts a JSON line's log.level and
        # log.logger into the log object, which parts[5] below closes at `log_close`.
        self.inline_parsers = frozenset(name for name, roots in (("nginx", NGINX_ROOTS), ("json", JSON_ROOTS))
                                        if self.own_keys.isdisjoint(roots))
        self.log_close = len(path_part)
        # A whole line with a stream: these constant pieces around (offset in hex, timestamp, JSON message, offset,
        # stream). The C fast path (cri_native.c) writes them as they are; `tmpl` is the same item as a template.
        self.line_parts = (id_head, b'"}}\n{"@timestamp":"', b'","message":', b',"log":{"offset":', b',"iostream":"',
                           b'"' + self.suffix)
        head = b"".join(_esc(part) + spec for part, spec in zip(self.line_parts[:4], (b"%x", b"%s", b"%s", b"%d"),
                                                                strict=True))
        self.tmpl = head + _esc(self.line_parts[4]) + b"%s" + _esc(self.line_parts[5])
        self.tmpl_nostream = head + _esc(self.suffix)

    def _flags(self, flags: int) -> bytes:
        names = [name for bit, name in FLAG_NAMES.items() if flags & bit]
        for name in names:
            self.flagged[name] = self.flagged.get(name, 0) + 1
        return b',"flags":' + orjson.dumps(names)

    def encode(self, records: list[Event], out: list[bytes]) -> None:
        """Append one item per record to `out`."""
        dumps = orjson.dumps
        for offset, ts, stream, msg, flags, fields in records:
            if ts[-1:] != b"Z":
                # @timestamp in UTC; a runtime's own offset moves to event.timezone.
                ts, zone = to_utc(ts)
                if zone is not None:
                    fields = deep_merge(fields, {"event": {"timezone": zone}}) if fields else {"event": {"timezone": zone}}
            try:
                text = msg.decode()
            except UnicodeDecodeError:
                text = msg.decode(errors="replace")
                flags |= FLAG_INVALID_UTF8
            if fields is not None:
                out.append(self._encode_dict(offset, ts, stream, text, flags, fields))
            elif flags:
                stream_part = b',"iostream":"' + stream + b'"' if stream else b""
                out.append(
                    self.action % offset
                    + b'{"@timestamp":"' + ts + b'","message":' + dumps(text) + b',"log":{"offset":' + str(offset).encode()
                    + stream_part + self._flags(flags) + self.suffix
                )
            elif stream:
                out.append(self.tmpl % (offset, ts, dumps(text), offset, stream))
            else:
                out.append(self.tmpl_nostream % (offset, ts, dumps(text), offset))

    def _encode_dict(self, offset: int, ts: bytes, stream: bytes, text: str, flags: int, fields: dict[str, Any]) -> bytes:
        log: dict[str, Any] = {"offset": offset}
        if stream:
            log["iostream"] = stream.decode()
        if flags:
            log["flags"] = orjson.loads(self._flags(flags)[len(b',"flags":'):])
        log["file"] = {"path": self.plan.path}
        extra_log = fields.get("log", {})
        if self.own_keys.isdisjoint(fields) and isinstance(extra_log, dict):
            # The document deep_merge would build, key for key and in the same order (head, the plan's fields,
            # then the parsed roots), with the plan's part pre-encoded: parsed fields never share its roots.
            if "log" in fields:
                log = deep_merge(log, extra_log)
                fields = {k: v for k, v in fields.items() if k != "log"}
            head = orjson.dumps({"@timestamp": ts.decode(), "message": text, "log": log})[:-1] + self.plan_part
            return self.action % offset + head + (b"," + orjson.dumps(fields)[1:] if fields else b"}") + b"\n"
        doc = deep_merge({"@timestamp": ts.decode(), "message": text, "log": log, **self.plan.fields}, fields)
        return self.action % offset + orjson.dumps(doc) + b"\n"


def source_of(item: bytes) -> bytes:
    """The document line of a bulk item (without its newline)."""
    return item[item.index(b"\n") + 1 : -1]


def action_id(item: bytes) -> str:
    """The _id in a bulk item's action line."""
    action = orjson.loads(item[: item.index(b"\n")])
    return str(next(iter(action.values())).get("_id", ""))
