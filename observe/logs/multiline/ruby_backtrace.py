"""Ruby backtraces and Rails error pages."""

from __future__ import annotations

import re

from observe.logs.multiline.language import HELD

_RB_RAILS = re.compile(r"^\s*[A-Z]\w*(?:::[A-Z]\w*)* \(.*\):$")
_RB_UNCAUGHT = re.compile(r"^\S.*:\d+:in [`'].*")
_RB_FRAME = re.compile(r"^\s+\S.*:\d+:in [`']")
_RB_FROM = re.compile(r"^\s+from \S.*:\d+:in ")


class RubyBacktrace:
    """Rails' `Error (message):` with indented frames (`h`, `f`), and Ruby's uncaught `...:in` line with `from` frames (`u`)."""

    name = "ruby"

    def start(self, line: str) -> str | None:
        if line.endswith("):") and _RB_RAILS.match(line):
            return "h"
        if ":in " in line and _RB_UNCAUGHT.match(line):
            return "u"
        return None

    def attach(self, line: str, level: str) -> str | None:
        return None

    def follow(self, state: str, line: str) -> str | None:
        if state == "u":
            return "u" if _RB_FROM.match(line) else None
        if _RB_FRAME.match(line):
            return "f"
        return HELD + "h" if state == "h" and line.isspace() else None
