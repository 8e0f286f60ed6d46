"""PHP errors and uncaught exceptions with their stack traces."""

from __future__ import annotations

import re

_PHP_START = re.compile(
    r"PHP (?:Notice|Parse error|Fatal error|Catchable fatal error|Warning|Deprecated):"
    r"|exception '[^']+' with message '|(?:^|\s)Fatal error: +Uncaught "
)
_PHP_FRAME = re.compile(r"^#\d+ ")


class PhpStackTrace:
    """`PHP Fatal error: ... Uncaught ...` or `exception '...' with message`, `Stack trace:`, `#N` frames, `thrown in`."""

    name = "php"

    def start(self, line: str) -> str | None:
        if ("PHP " in line or "exception '" in line or "Fatal error" in line) and _PHP_START.search(line):
            return "m"
        return None

    def attach(self, line: str, level: str) -> str | None:
        return None

    def follow(self, state: str, line: str) -> str | None:
        if state == "m":
            return "s" if line.startswith("Stack trace:") else None
        if state == "s":
            if _PHP_FRAME.match(line):
                return "s"
            return "d" if line.lstrip().startswith("thrown in ") and line[:1] in (" ", "\t") else None
        return None
