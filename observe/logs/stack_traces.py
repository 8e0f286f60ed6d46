"""Error fields from a merged stack trace (Java, Python, Go): what multiline merging hands the encoder."""

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


def error_fields(message: str) -> dict[str, Any]:
    """ECS error.type / error.message / error.stack_trace from a merged Java, Python or Go trace; {} if none.

    The trace's kind goes into ECS `tags` (java_exception, python_exception, go_panic), so a saved search
    can find Java traces with `tags:java_exception`.
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
    if (g := _GO_PANIC.search(message)) and "goroutine " in message:
        put(out, "error.type", g["type"])
        put(out, "error.message", g["message"])
        put(out, "error.stack_trace", message[g.start():])
        out["tags"] = ["go_panic"]
        return out
    j = _JAVA_HEADER.search(message)
    if j and re.search(r"^\s+at\s", message[j.end():], re.M):
        put(out, "error.type", j["type"])
        if j["message"]:
            put(out, "error.message", j["message"])
        put(out, "error.stack_trace", message[j.start():])
        out["tags"] = ["java_exception"]
    return out
