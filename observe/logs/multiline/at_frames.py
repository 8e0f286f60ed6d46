"""Java, and the languages that print `at` frames the same way: JavaScript (Node, V8) and C# (.NET, Mono)."""

from __future__ import annotations

import re

from observe.logs.multiline.language import HELD

_AT_START = re.compile(r"(?:Exception|Error|Throwable)(?::|\[|$| in thread )|V8 errors stack trace")
# A header on its own line: a qualified throwable name (`java.lang.IllegalStateException: ...`,
# `Exception in thread "main" ...`) or a JavaScript error name (`TypeError: ...`, `Error`).
_AT_HEADER = re.compile(
    r"^(?:Exception in thread \"[^\"]*\"\s+)?(?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable|Fault)[\w$]*(?::.*)?$"
    r"|^[A-Z][\w$]*(?:Error|Exception)(?:: .*)?$"
)
_AT_MORE = re.compile(r"^\.\.\. ?\d+ (?:more|common frames omitted)")
_AT_CHAIN = ("Caused by:", "Suppressed:", "Wrapped by:")
_AT_BLANK = {"h": HELD + "b", "b": HELD + "b", "n": HELD + "n", "a": HELD + "a"}  # blank lines before the first frame
_INDENT = (b" ", b"\t")
_FRAME_WORDS = (b"at ", b"eval at ")
FRAME = "f"
"""The state after an `at` frame, from every state but `o` (see `is_frame`)."""


def is_frame(msg: bytes) -> bool:
    """Whether the line `msg` (raw bytes) is an indented `at` frame that does not open Node's `{ ... }`: such a line
    continues a trace of AtFrames in any state but `o`, and leaves it in state `f` (FRAME). This is `follow`'s own
    first test, on bytes, for a run of frames taken in one go (observe/logs/process.py). bytes.lstrip strips ASCII
    whitespace only, str.lstrip more; so a line this calls a frame is one for `follow` too, and a line whose
    indent holds other whitespace is simply left to `follow`."""
    if msg[:1] not in _INDENT:
        return False
    body = msg.lstrip()
    return body.startswith(_FRAME_WORDS) and len(body) > 3 and not body.endswith(b" {")


class AtFrames:
    """Java, JavaScript and C# traces: a header, `at` frames, chained causes and the runtimes' markers.

    States: `h` header block (no frame yet), `b` a blank line in it, `n` after `nested exception is:`, `a` a
    blank line after an error-level record (Spring Boot's `with root cause`), `f` frames, `o` the properties
    Node prints after an error's frames (`{ ... }`).
    """

    def __init__(self, name: str = "java") -> None:
        self.name = name

    def start(self, line: str) -> str | None:
        if ("Exception" in line or "Error" in line or "Throwable" in line or "V8 errors" in line) and _AT_START.search(line):
            return "h"
        return None

    def attach(self, line: str, level: str) -> str | None:
        if not line or line.isspace():
            return HELD + "a"
        return "h" if _AT_HEADER.match(line) else None

    def follow(self, state: str, line: str) -> str | None:
        if line[:1] in (" ", "\t"):
            body = line.lstrip()
            if not body:
                return _AT_BLANK.get(state)
            if state == "o":
                return "o"
            if body.startswith(("at ", "eval at ")) and len(body) > 3:
                return "o" if body.endswith(" {") else FRAME
            if body.startswith(_AT_CHAIN) or body.startswith("---> "):
                return "h"
            if body.startswith("--- End of ") or _AT_MORE.match(body):
                return "f"
            if body.startswith("nested exception is:"):
                return "n"
            # A wrapped exception message, or the nested exception after `nested exception is:`.
            return HELD + "h" if state in ("h", "n", "b") else None
        if not line:
            return _AT_BLANK.get(state)
        if state == "o":
            return "f" if line == "}" else None
        if line.startswith(_AT_CHAIN):
            return "h"
        if line.startswith("--- End of "):
            return "f"
        if line.startswith("nested exception is:"):
            return "n"
        # A header joins a header block only across a blank line or `nested exception is:`, so two error
        # lines in a row (`ValueError: a`, `ValueError: b`) stay two events.
        if state in ("n", "a", "b") and _AT_HEADER.match(line):
            return "h"
        return None
