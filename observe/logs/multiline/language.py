"""What every language's trace grammar shares: the Language protocol, held lines, and a record's log level."""

from __future__ import annotations

import re
from typing import Protocol

# How a trace may join the log record printed just before it: by that record's level field, never by a word
# somewhere in its text. `logging.exception`, `log.error(msg, ex)` and `log.warn(msg, ex)` print such pairs.
_LEVEL_WORD = re.compile(r"(?:^|[\s\[|(<:])(ERROR|CRITICAL|FATAL|SEVERE|WARN|WARNING)(?=$|[\s\]|)>:,])")
_LEVEL_KEY = re.compile(r"(?i)\b(?:level|severity|lvl)\"?\s*[=:]\s*\"?([a-z]+)")
_LEVEL_HEAD = 160  # a level field sits in a record's head, before the message
_LEVELS = {"error": "e", "err": "e", "critical": "e", "crit": "e", "fatal": "e", "severe": "e", "emerg": "e",
           "alert": "e", "panic": "e", "warn": "w", "warning": "w"}
_KNOWN_LEVELS = {*_LEVELS, "info", "information", "notice", "debug", "trace", "verbose"}


def level_of(line: str) -> str | None:
    """`e` when `line` is a log record at ERROR/CRITICAL/FATAL level by its level field, `w` at WARN, else None."""
    head = line[:_LEVEL_HEAD]
    if not ("ERROR" in head or "CRITICAL" in head or "FATAL" in head or "SEVERE" in head or "WARN" in head
            or "evel" in head or "EVEL" in head or "everity" in head or "lvl" in head):
        return None
    # A `level=`/`"level":` key is the level field when there is one (its message may say ERROR); else a word.
    # The key's case-insensitive search (3 us over 160 characters) runs only when the head may hold one: on ASCII
    # text, (?i) matches exactly what lower() finds; other text may fold more (U+017F, long s, is an `s` to it), so
    # there it always runs.
    low = head.lower()
    key = _LEVEL_KEY.search(head) if "level" in low or "severity" in low or "lvl" in low or not head.isascii() else None
    if key is not None and (value := key[1].lower()) in _KNOWN_LEVELS:
        return _LEVELS.get(value)
    word = _LEVEL_WORD.search(head)
    return _LEVELS.get(word[1].lower()) if word else None


# Substrings without one of which no built-in language's `start` and no `level_of` says anything of a line: each
# is the literal test those functions make first (a trace's header word, a panic, a level word, ...). A line free of
# all of them, in a stream with no open record, is a one-line event whatever the rules (observe/logs/process.py
# checks a chunk's lines in one C call). A change to a start line's tests must keep this a superset:
# tests/unit/logs/test_multiline.py checks it on fuzzed lines and on every line of the trace corpora.
TRIGGERS = (
    "Traceback (most recent call last):",  # Python
    "panic", "fatal error: ", "SIG", "runtime: ",  # Go
    "PHP ", "exception '", "Fatal error",  # PHP
    "Unhandled exception:",  # Dart
    "):", ":in ",  # Ruby
    "Exception", "Error", "Throwable", "V8 errors",  # Java, JavaScript, C#
    "ERROR", "CRITICAL", "FATAL", "SEVERE", "WARN", "evel", "EVEL", "everity", "lvl",  # level_of
)

# A state that starts with HELD keeps its line only tentatively: if no later line confirms the trace goes on,
# the held lines leave the event again and ship as the separate lines they were (blank lines after a trace,
# an indented line after an exception header that turned out to have no frames).
HELD = "~"


class Language(Protocol):
    """One language's trace grammar, as a small state machine over lines."""

    name: str

    def start(self, line: str) -> str | None:
        """The state when `line` opens a trace of this language, else None."""
        ...

    def attach(self, line: str, level: str) -> str | None:
        """The state when `line` opens a trace that joins the one-line log record before it (of `level`)."""
        ...

    def follow(self, state: str, line: str) -> str | None:
        """The next state when `line` continues a trace in `state`, else None (the line starts a new event)."""
        ...
