"""Go panics, fatal errors and goroutine dumps."""

from __future__ import annotations

import re

from observe.logs.multiline.language import HELD

_GO_PANIC = re.compile(r"\bpanic: ")
_GO_SIGNALS = ("SIGQUIT: ", "SIGABRT: ", "SIGSEGV: ", "SIGBUS: ", "SIGILL: ", "SIGTRAP: ", "SIGFPE: ", "SIGSYS: ")
_GO_GOROUTINE = re.compile(r"^goroutine \d+ ")
_GO_FRAME = re.compile(r"^[\w./*()\[\]{}%-]+\(.*\)$")
_GO_REGISTER = re.compile(r"^[a-z][a-z0-9]{1,6}\s+0x[0-9a-f]+$")
_GO_DUMP = ("created by ", "...additional frames elided...", "runtime stack:", "[originating from goroutine")


class GoPanic:
    """Panics, fatal errors, `http: panic serving` and signal dumps, with every goroutine block after them.

    States: `r` after `runtime:` lines (a `fatal error:` follows), `p` after the panic line (signal line,
    blank line), `g` inside the goroutine dump, `z` after `exit status N` (the end). A new `panic:` line at
    the left margin starts a new event.
    """

    name = "go"

    def start(self, line: str) -> str | None:
        if line.startswith(("panic: ", "fatal error: ")) or line.startswith(_GO_SIGNALS):
            return "p"
        if line.startswith("runtime: "):
            return "r"
        if "panic" in line and ("http: panic serving " in line or _GO_PANIC.search(line)):
            return "p"
        return None

    def attach(self, line: str, level: str) -> str | None:
        # A goroutine dump a program logs itself (debug.Stack) after an error record.
        return "g" if level == "e" and _GO_GOROUTINE.match(line) else None

    def follow(self, state: str, line: str) -> str | None:
        if state == "z":
            return None
        if not line or line.isspace():
            return None if state == "r" else HELD + state
        if line[:1] in (" ", "\t"):
            if state == "g":
                return "g"
            # After the panic line: only the nested panics Go prints under it (`\tpanic: ... [recovered]`).
            return "p" if line.lstrip().startswith(("panic: ", "[recovered]")) else None
        if line.startswith("goroutine ") and _GO_GOROUTINE.match(line):
            return "g"
        if state == "r":
            if line.startswith("runtime: "):
                return "r"
            return "p" if line.startswith(("fatal error: ", "panic: ")) else None
        if state == "p":
            if line.startswith(("[signal ", "PC=", "runtime: ")):
                return "p"
            return "g" if line.startswith("runtime stack:") else None
        if line.startswith(_GO_DUMP) or _GO_FRAME.match(line) or _GO_REGISTER.match(line):
            return "g"
        return "z" if line.startswith("exit status ") else None
