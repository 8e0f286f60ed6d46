"""Dart unhandled exceptions with their stack traces."""

from __future__ import annotations

import re

from observe.logs.multiline.language import HELD

_DART_FRAME = re.compile(r"^#\d+\s+.+\(.+\)$")
_DART_HEAD_LINES = 12  # lines between `Unhandled exception:` and the first frame (message, source, caret)


class DartTrace:
    """`Unhandled exception:`, its message block (held until the first frame), `#N` frames, `<asynchronous suspension>`."""

    name = "dart"

    def start(self, line: str) -> str | None:
        return "h0" if line.startswith("Unhandled exception:") and line.rstrip() == "Unhandled exception:" else None

    def attach(self, line: str, level: str) -> str | None:
        return None

    def follow(self, state: str, line: str) -> str | None:
        if line.startswith("#") and _DART_FRAME.match(line):
            return "f"
        if state == "f":
            return "f" if line == "<asynchronous suspension>" else None
        seen = int(state[1:]) + 1
        return f"{HELD}h{seen}" if seen < _DART_HEAD_LINES else None
