"""error_fields searches each regex only when the message holds the literal text it needs: the same fields as
searching them all, as error_fields did before (kept here as the oracle), on fuzzed messages and every corpus trace."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from observe.logs import stack_traces as s
from observe.logs.parsers import put
from tests.unit.logs.multiline_cases import HERE as CASES


def _unguarded(message: str) -> dict[str, Any]:
    """error_fields as of cc3c10c, every regex searched whatever the message holds."""
    if "\n" not in message:
        return {}
    out: dict[str, Any] = {}
    tb = message.find("Traceback (most recent call last):")
    if tb >= 0:
        return s.error_fields(message)  # unchanged branch
    if (g := s._GO_PANIC.search(message)) and "goroutine " in message:
        put(out, "error.type", g["type"])
        put(out, "error.message", g["message"])
        put(out, "error.stack_trace", message[g.start():])
        out["tags"] = ["go_panic"]
        return out
    if (h := s._GO_HTTP_PANIC.search(message)) and "\ngoroutine " in message:
        return s._trace(out, "panic", h["message"], message[h.start():], "go_panic")
    j = s._JAVA_HEADER.search(message)
    if j and re.search(r"^\s+at\s", message[j.end():], re.M):
        put(out, "error.type", j["type"])
        if j["message"]:
            put(out, "error.message", j["message"])
        put(out, "error.stack_trace", message[j.start():])
        out["tags"] = ["java_exception"]
        return out
    if "Unhandled exception:\n" in message or "\nStack trace:\n" in message:
        return s._other_languages(out, message)  # unchanged branches
    if r := s._RB_RAILS.search(message) or s._RB_UNCAUGHT.search(message):
        if re.search(r"^\s+(?:from )?\S.*:\d+:in [`']", message[r.end():], re.M):
            return s._trace(out, r["type"], r["message"], message[r.start():].lstrip(), "ruby_exception")
    js = s._JS_HEADER.search(message)
    if js and re.search(r"^\s+(?:eval )?at\s", message[js.end():], re.M):
        return s._trace(out, js["type"], js["message"], message[js.start():], "javascript_exception")
    return out


_BITS = ["panic: boom", "fatal error: x", "goroutine 1 [running]:", "goroutine ", "http: panic serving 1.2.3.4: x",
         "java.lang.IllegalStateException: boom", "Exception in thread \"main\" a.B", "TypeError: x", "Error",
         "\tat a.B.c(B.java:1)", "    at f (/x.js:1:1)", "at x", "eval at y", "ActionView::Template::Error (boom):",
         "app/x.rb:1:in `y': boom (RuntimeError)", "app/x.rb:1:in 'y': boom (RuntimeError)", "  from app/x.rb:2:in `z'",
         "  from app/x.rb:2:in 'z'", ":in `", "):", "\n", "\n", " ",
         "\t", "é", "\udcff"]


@given(st.lists(st.one_of(st.sampled_from(_BITS), st.text(max_size=4)), max_size=12).map("".join))
@settings(max_examples=3000, deadline=None, derandomize=True, database=None)
def test_the_guards_change_no_field(message: str) -> None:
    assert s.error_fields(message) == _unguarded(message)


def test_the_guards_change_no_field_of_the_corpora() -> None:
    messages = [path.read_bytes().decode("utf-8", "surrogateescape") for path in sorted(CASES.rglob("*.log"))]
    assert len(messages) > 20
    found = 0
    for message in messages:
        fields = s.error_fields(message)
        assert fields == _unguarded(message), message[:200]
        found += bool(fields)
    assert found > 20
