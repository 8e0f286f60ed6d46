"""Python tracebacks, chained ones included."""

from __future__ import annotations

import re

from observe.logs.multiline.language import HELD

_PY_TRACEBACK = "Traceback (most recent call last):"
_PY_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(?::.*)?$")
_PY_CHAIN = ("The above exception was the direct cause of the following exception:",
             "During handling of the above exception, another exception occurred:")


class PythonTraceback:
    """Tracebacks: frames and source lines (`t`), the exception line (`x`), chained tracebacks (`c`)."""

    name = "python"

    def start(self, line: str) -> str | None:
        return "t" if line.startswith(_PY_TRACEBACK) else None

    def attach(self, line: str, level: str) -> str | None:
        # Only an ERROR/CRITICAL record by its level field, as logging.exception prints it.
        return "t" if level == "e" and line.startswith(_PY_TRACEBACK) else None

    def follow(self, state: str, line: str) -> str | None:
        indented = line[:1] in (" ", "\t")
        if state == "t":
            if indented:
                return "t"
            return "x" if line and _PY_EXCEPTION.match(line) else None
        if not line or line.isspace():
            return HELD + state
        if state == "x":
            return "c" if line.startswith(_PY_CHAIN) else None
        return "t" if line.startswith(_PY_TRACEBACK) else None  # state c
