"""Error fields from a merged stack trace (Java, Python, Go, JavaScript, Ruby, PHP, Dart) for the encoder."""

from __future__ import annotations

import re
from typing import Any

from observe.logs.parsers import put

_JAVA_HEADER = re.compile(
    r"^(?:Exception in thread \"[^\"]*\"\s+)?"
    r"(?P<type>(?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable|Fault)[\w$]*)"
    r"(?::\s*(?P<message>.*))?$",
    re.M,
)
_PY_LAST = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s*(?P<message>.*))?$")
_GO_PANIC = re.compile(r"^(?P<type>panic|fatal error): (?P<message>.*)$", re.M)
_GO_HTTP_PANIC = re.compile(r"http: panic serving \S+: (?P<message>.*)$", re.M)
_JS_HEADER = re.compile(r"^(?P<type>[A-Z][\w$]*(?:Error|Exception)|Error)(?::\s*(?P<message>.*))?$", re.M)
_RB_RAILS = re.compile(r"^\s*(?P<type>[A-Z]\w*(?:::[A-Z]\w*)*) \((?P<message>.*)\):$", re.M)
_RB_UNCAUGHT = re.compile(r"^\S.*?:\d+:in [`'][^`']*[`']: (?P<message>.*) \((?P<type>[A-Z][\w:]*)\)$", re.M)
_JAVA_FRAME = re.compile(r"^\s+at\s", re.M)
_RB_FRAME = re.compile(r"^\s+(?:from )?\S.*:\d+:in [`']", re.M)
_JS_FRAME = re.compile(r"^\s+(?:eval )?at\s", re.M)
_PHP = re.compile(r"Uncaught (?P<type>[\w\\]+): (?P<message>.*?) in \S+:\d+$"
                  r"|exception '(?P<type2>[^']+)' with message '(?P<message2>.*)' in ", re.M)


def error_fields(message: str) -> dict[str, Any]:
    """ECS error.type / error.message / error.stack_trace from a merged stack trace; {} if none.

    The trace's kind goes into ECS `tags` (java_exception, python_exception, go_panic, javascript_exception,
    ruby_exception, php_exception, dart_exception), so a saved search can find Java traces with
    `tags:java_exception`.
    """
    if "\n" not in message:
        return {}
    out: dict[str, Any] = {}
    tb = message.find("Traceback (most recent call last):")
    if tb >= 0:
        trace = message[tb:]
        # The last unindented line after the final frame names the exception.
        for line in reversed(trace.splitlines()):
            if line and not line[0].isspace() and (m := _PY_LAST.match(line)):
                put(out, "error.type", m["type"])
                if m["message"]:
                    put(out, "error.message", m["message"])
                break
        put(out, "error.stack_trace", trace)
        out["tags"] = ["python_exception"]
        return out
    # Each regex below is searched only when the message holds the literal text it needs (a `^` under re.M is
    # tried at every position: over a 5 kB Java trace, _GO_PANIC alone cost 13 us of the 24 this function took).
    if "goroutine " in message and ("panic: " in message or "fatal error: " in message) and (
            g := _GO_PANIC.search(message)):
        put(out, "error.type", g["type"])
        put(out, "error.message", g["message"])
        put(out, "error.stack_trace", message[g.start():])
        out["tags"] = ["go_panic"]
        return out
    if "\ngoroutine " in message and (h := _GO_HTTP_PANIC.search(message)):
        return _trace(out, "panic", h["message"], message[h.start():], "go_panic")
    j = _JAVA_HEADER.search(message)
    if j and _JAVA_FRAME.search(message[j.end():]):  # a slice: its `^` matches at its start
        put(out, "error.type", j["type"])
        if j["message"]:
            put(out, "error.message", j["message"])
        put(out, "error.stack_trace", message[j.start():])
        out["tags"] = ["java_exception"]
        return out
    return _other_languages(out, message)


def _trace(out: dict[str, Any], kind: str, text: str | None, stack: str, tag: str) -> dict[str, Any]:
    put(out, "error.type", kind)
    if text:
        put(out, "error.message", text)
    put(out, "error.stack_trace", stack)
    out["tags"] = [tag]
    return out


def _other_languages(out: dict[str, Any], message: str) -> dict[str, Any]:
    """error.* for the traces multiline merges besides Java, Python and Go: JavaScript, Ruby, PHP, Dart."""
    if (d := message.find("Unhandled exception:\n")) >= 0:
        first = message[d + len("Unhandled exception:\n"):].split("\n", 1)[0]
        kind, _, text = first.partition(": ")
        if not text or "'" in kind:  # `Instance of 'MyError'`, `'file:///x.dart': malformed type: ...`
            kind, text = "Unhandled exception", first
        return _trace(out, kind, text, message[d:], "dart_exception")
    if "\nStack trace:\n" in message and (p := _PHP.search(message)):
        return _trace(out, p["type"] or p["type2"], p["message"] or p["message2"], message[p.start():].lstrip(),
                      "php_exception")
    if r := ("):" in message and _RB_RAILS.search(message)) or (":in " in message and _RB_UNCAUGHT.search(message)):
        if _RB_FRAME.search(message[r.end():]):
            return _trace(out, r["type"], r["message"], message[r.start():].lstrip(), "ruby_exception")
    js = ("Error" in message or "Exception" in message) and _JS_HEADER.search(message)
    if js and _JS_FRAME.search(message[js.end():]):
        return _trace(out, js["type"], js["message"], message[js.start():], "javascript_exception")
    return out
