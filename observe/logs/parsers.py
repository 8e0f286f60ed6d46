"""Parsers turn a message into document fields: JSON lines, nginx / ingress-nginx access logs, named-group regex.

A parser never drops an event: when the text does not parse, the raw message is kept and the
result carries the flag `parse_failed`. Fields come back nested, ready to merge into the document.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

import orjson

from observe.config_input import REGEX_ERRORS, echo, regex_error
from observe.logs.event import FLAG_PARSE_FAILED


@dataclass
class Parsed:
    """What a parser made of one message."""

    fields: dict[str, Any] = field(default_factory=dict)
    message: str | None = None  # a replacement message, when the parser found one
    flags: int = 0  # FLAG_* bits (observe/logs/event.py): FLAG_PARSE_FAILED when the text did not parse


class Parser(Protocol):
    """Turns one message into fields."""

    name: str

    def parse(self, message: str) -> Parsed:
        """Fields from `message`; on failure, no fields and the flag `parse_failed`."""
        ...


def put(doc: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `a.b.c` in a nested dict, creating the objects on the way."""
    *parents, leaf = dotted.split(".")
    node = doc
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[leaf] = value


# JSON keys that have an ECS home. The first key found wins; the key leaves json.* so it is not
# indexed twice under two types.
_JSON_ECS: list[tuple[tuple[str, ...], str]] = [
    (("level", "lvl", "severity", "loglevel", "log.level", "levelname"), "log.level"),
    (("logger", "logger_name", "log.logger", "loggerName"), "log.logger"),
    (("trace_id", "traceId", "trace.id", "traceid", "dd.trace_id"), "trace.id"),
    (("span_id", "spanId", "span.id", "spanid", "dd.span_id"), "span.id"),
    (("stack_trace", "stacktrace", "stack", "exc_info"), "error.stack_trace"),
    (("error.type", "exception_class", "exc_type"), "error.type"),
]
_JSON_MESSAGE = ("msg", "message", "log.message")
# The same table as (keys, parent, leaf, key set): one set intersection finds the groups a line has at all.
_JSON_ECS_GROUPS: list[tuple[tuple[str, ...], str, str, frozenset[str]]] = [
    (keys, target.split(".")[0], target.split(".")[1], frozenset(keys)) for keys, target in _JSON_ECS]
_JSON_ECS_KEYS = frozenset(k for keys, _ in _JSON_ECS for k in keys)
JSON_ROOTS = frozenset(("json", *(target.split(".")[0] for _, target in _JSON_ECS)))
"""Every top-level key JsonParser's fields may have."""


class JsonParser:
    """JSON lines: every key under `json.*`, well-known keys moved to their ECS field."""

    name = "json"

    def parse(self, message: str) -> Parsed:
        text = message.strip()
        if not text.startswith("{"):
            return Parsed(flags=FLAG_PARSE_FAILED)
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            return Parsed(flags=FLAG_PARSE_FAILED)
        if not isinstance(obj, dict):
            return Parsed(flags=FLAG_PARSE_FAILED)
        out = Parsed()
        for key in _JSON_MESSAGE:
            value = obj.get(key)
            if isinstance(value, str):
                out.message = value
                del obj[key]
                break
        present = _JSON_ECS_KEYS.intersection(obj)
        if present:
            fields = out.fields
            for keys, parent, leaf, keyset in _JSON_ECS_GROUPS:
                if keyset.isdisjoint(present):
                    continue
                for key in keys:
                    value = obj.get(key)
                    if isinstance(value, str | int) and not isinstance(value, bool):
                        text_value = str(value)
                        # Only these parents are written before json.*, so each is a dict (as `put` would make).
                        fields.setdefault(parent, {})[leaf] = text_value.lower() if leaf == "level" else text_value
                        del obj[key]
                        break
        if obj:
            out.fields["json"] = obj
        return out


# A quoted field with backslash escapes, written as an unrolled loop: the same strings as ((?:[^"\\]|\\.)*),
# without an alternation tried at every character (that form cost most of the line's parse time).
_Q = r'"([^"\\]*(?:\\.[^"\\]*)*)"'
_NGINX = re.compile(
    r"^(?P<addr>\S+) - (?P<user>\S+) \[(?P<time>[^\]]+)\] " + _Q.replace("(", "(?P<request>", 1)
    + r" (?P<status>\d{3}) (?P<bytes>\d+|-) " + _Q.replace("(", "(?P<referer>", 1) + " " + _Q.replace("(", "(?P<ua>", 1)
    # ingress-nginx appends these to the combined format (its default log-format-upstream).
    + r"(?: (?P<req_len>\d+|-) (?P<req_time>[\d.]+|-) \[(?P<up_name>[^\]]*)\] \[(?P<up_alt>[^\]]*)\]"
    r" (?P<up_addr>\S+(?:, \S+)*) (?P<up_len>\S+(?:, \S+)*) (?P<up_time>\S+(?:, \S+)*)"
    r" (?P<up_status>\S+(?:, \S+)*) (?P<req_id>\S+))?\s*$"
)
_REQUEST = re.compile(r"^(?P<method>[A-Z]+) (?P<target>\S+)(?: HTTP/(?P<version>[\d.]+))?$")


def _unescape(value: str) -> str:
    # nginx escapes '"' and '\' as \x22 / \x5C by default, and some formats use backslash escapes.
    if "\\" not in value:
        return value
    return value.replace('\\"', '"').replace("\\\\", "\\")


_LONG_MAX = (1 << 63) - 1  # Elasticsearch's long: a larger number would fail the document (orjson: the encode)


def _numbers(status: str, size: str, req_len: str | None, req_time: str | None) -> tuple[int, int, int, int] | None:
    """The line's numbers as Elasticsearch longs (-1 for `-` or absent; the duration in nanoseconds, ECS), or None
    when one is not a number a long holds: `[\\d.]+` takes `1.2.3`, and `\\d+` any number of digits."""
    try:
        values = (int(status), -1 if size == "-" else int(size), -1 if req_len in (None, "-") else int(req_len),
                  -1 if req_time in (None, "-") else round(float(req_time) * 1e9))
    except (ValueError, OverflowError):  # not a float, or an infinite one
        return None
    return values if max(values) <= _LONG_MAX else None


@lru_cache(maxsize=4096)
def _is_ip(addr: str) -> bool:
    # Cached: a node sees the same few client and proxy addresses over and over, and ip_address costs microseconds.
    try:
        ipaddress.ip_address(addr)
    except ValueError:
        return False
    return True


NGINX_ROOTS = frozenset(("source", "user", "http", "url", "user_agent", "nginx", "event"))
"""Every top-level key NginxParser's fields may have."""


class NginxParser:
    """nginx's default `combined` access log, and ingress-nginx's default upstream format, to ECS."""

    name = "nginx"

    def parse(self, message: str) -> Parsed:
        m = _NGINX.match(message)
        if not m:
            return Parsed(flags=FLAG_PARSE_FAILED)
        # The nested objects are built directly (not with `put`, whose path splitting was most of the cost),
        # in the same key order as the dotted paths they stand for. One groups() unpacking and inline "-" tests
        # instead of groupdict() and a helper call per field: 0.8 of the parse's CPU.
        (addr, user, time_local, request, status, size, referer, ua, req_len, req_time, up_name, up_alt,
         up_addr, up_len, up_time, up_status, req_id) = m.groups()
        numbers = _numbers(status, size, req_len, req_time)
        if numbers is None:
            return Parsed(flags=FLAG_PARSE_FAILED)
        status_code, body_bytes, request_bytes, duration = numbers
        f: dict[str, Any] = {"source": {"ip": addr} if _is_ip(addr) else {"address": addr}}
        if user and user != "-":
            f["user"] = {"name": user}
        request = _unescape(request)
        rm = _REQUEST.match(request)
        http: dict[str, Any] = {}
        nginx: dict[str, Any] = {}
        if rm:
            f["http"] = http
            method, target, version = rm.groups()
            http["request"] = {"method": method}
            path, _, query = target.partition("?")
            url = f["url"] = {"original": target, "path": path}
            if query:
                url["query"] = query
            if version:
                http["version"] = version
        else:
            f["nginx"] = nginx
            nginx["access"] = {"request": request}
        f["http"] = http
        response: dict[str, Any] = {"status_code": status_code}
        http["response"] = response
        if body_bytes >= 0:
            response["body"] = {"bytes": body_bytes}
        if referer and referer != "-":
            http.setdefault("request", {})["referrer"] = _unescape(referer)
        if ua and ua != "-":
            f["user_agent"] = {"original": _unescape(ua)}
        f["nginx"] = nginx
        nginx.setdefault("access", {})["time"] = time_local
        if req_id is not None:
            if request_bytes >= 0:
                http.setdefault("request", {})["bytes"] = request_bytes
            if duration >= 0:
                f["event"] = {"duration": duration}  # ECS: nanoseconds
            up: dict[str, Any] = {}
            if up_name and up_name != "-":
                up["name"] = up_name
            if up_alt and up_alt != "-":
                up["alternative_name"] = up_alt
            up_response: dict[str, Any] = {}
            for key, value in (("address", up_addr), ("length", up_len), ("time", up_time), ("status_code", up_status)):
                # Retries list several upstreams, comma-separated; keep them all, as keywords.
                items = [v for v in value.split(", ") if v != "-"] if ", " in value else ([value] if value != "-" else [])
                if not items:
                    continue
                if key == "address":
                    up[key] = items
                else:
                    up.setdefault("response", up_response)[key] = items
            if up:
                nginx["ingress_controller"] = {"upstream": up}
            if req_id != "-":
                http.setdefault("request", {})["id"] = req_id
        return Parsed(fields=f)


# Roots the shipper owns: a user's regex must not overwrite where a line came from.
_RESERVED = ("@timestamp", "kubernetes", "container", "host", "agent", "data_stream", "log.file", "log.offset", "event.original")


class RegexParser:
    """A regex with named groups; a group `a__b` becomes the field `a.b`, a group `message` replaces the message."""

    def __init__(self, pattern: str) -> None:
        self.pattern = re.compile(pattern)
        self.name = f"regex:{pattern}"
        self.targets: dict[str, str] = {}
        for group in self.pattern.groupindex:
            target = group.replace("__", ".")
            if any(target == r or target.startswith(r + ".") for r in _RESERVED):
                raise ParserSpecError(f"group {group!r} would overwrite the shipper's field {target!r}")
            self.targets[group] = target
        if not self.targets:
            raise ParserSpecError(f"pattern {pattern!r} has no named group (?P<name>...), so it would add no field")

    def parse(self, message: str) -> Parsed:
        m = self.pattern.search(message)
        if not m:
            return Parsed(flags=FLAG_PARSE_FAILED)
        out = Parsed()
        for group, target in self.targets.items():
            value = m.group(group)
            if value is None:
                continue
            if target == "message":
                out.message = value
            else:
                put(out.fields, target, value.lower() if target == "log.level" else value)
        return out


class ParserSpecError(ValueError):
    """A parser spec that is not json | nginx | regex:<pattern with named groups> | none."""


def parser_for(spec: str) -> Parser | None:
    """The parser for a spec: json | nginx | regex:<pattern> | none (or plain). None means keep the raw message."""
    if spec in ("none", "plain"):
        return None
    if spec == "json":
        return JsonParser()
    if spec == "nginx":
        return NginxParser()
    if spec.startswith("regex:"):
        pattern = spec.removeprefix("regex:")
        try:
            return RegexParser(pattern)
        except REGEX_ERRORS as exc:
            raise ParserSpecError(f"a valid regex:<pattern> ({echo(pattern)}: {regex_error(exc)})") from None
    raise ParserSpecError("one of json, nginx, regex:<pattern with named groups>, none")
