"""Multiline merging: stack traces and panics become one event, per container stream.

A rule looks at the record being built and the next line, and says whether that line continues
the record. Records are kept per stream key (file + iostream), so interleaved stdout and stderr,
or two pods on one node, never mix. A record is emitted when a line starts a new one, when its
stream has been quiet for the flush timeout, or when it would exceed the line or byte cap (then
it is split, never cut: the split parts carry the flag `multiline_split`).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")

SPLIT_FLAG = "multiline_split"


@dataclass
class Record(Generic[T]):
    """Lines merged so far for one stream, with the origin of each line (for acks)."""

    lines: list[str]
    origins: list[T]
    first_seen: float
    last_seen: float
    size: int = 0
    state: dict[str, str] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    held: int = 0  # trailing lines kept only tentatively (see HELD): they leave the record if nothing confirms them

    @property
    def message(self) -> str:
        """The merged text, lines joined by newlines."""
        return "\n".join(self.lines)


class Rule(Protocol):
    """Decides whether a line continues the open record, and tracks what it has seen."""

    name: str

    def continues(self, line: str, record: Record[Any]) -> bool:
        """True when `line` belongs to `record` rather than starting a new one."""
        ...

    def note(self, line: str, record: Record[Any]) -> None:
        """Update the record's state after `line` was added to it."""
        ...


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
    key = _LEVEL_KEY.search(head)
    if key is not None and (value := key[1].lower()) in _KNOWN_LEVELS:
        return _LEVELS.get(value)
    word = _LEVEL_WORD.search(head)
    return _LEVELS.get(word[1].lower()) if word else None


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


# --- Java, and the languages that print `at` frames the same way: JavaScript (Node, V8) and C# (.NET, Mono).
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
                return "o" if body.endswith(" {") else "f"
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


# --- Python
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


# --- Go
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


# --- Ruby and Rails
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


# --- PHP
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


# --- Dart
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


class TraceRule:
    """Merges the traces of some languages: the language whose start line opens an event owns it.

    Record state: `l` the owning language, `s` its state, `v` the level of a one-line log record (e/w),
    `n`/`nl` the next state (and language) that `continues` found for `note` to apply.
    """

    def __init__(self, name: str, languages: list[Language]) -> None:
        self.name = name
        self.languages = languages
        self._by_name = {lang.name: lang for lang in languages}

    def continues(self, line: str, record: Record[Any]) -> bool:
        state = record.state
        if not state:
            return False
        lang = state.get("l")
        if lang is not None:
            nxt = self._by_name[lang].follow(state["s"], line)
            if nxt is not None:
                state["n"] = nxt
                return True
        level = state.get("v")
        if level is not None and len(record.lines) == 1:
            for language in self.languages:
                nxt = language.attach(line, level)
                if nxt is not None:
                    state["n"] = nxt
                    state["nl"] = language.name
                    return True
        return False

    def note(self, line: str, record: Record[Any]) -> None:
        state = record.state
        nxt = state.pop("n", None)
        if nxt is not None:
            lang = state.pop("nl", None)
            if lang is not None:
                state["l"] = lang
            if nxt[0] == HELD:
                record.held += 1
                nxt = nxt[1:]
            else:
                record.held = 0
            state["s"] = nxt
            return
        for language in self.languages:
            s = language.start(line)
            if s is not None:
                state["l"] = language.name
                state["s"] = s
                break
        level = level_of(line)
        if level is not None:
            state["v"] = level


class JavaRule(TraceRule):
    """Java traces (`java` mode)."""

    def __init__(self) -> None:
        super().__init__("java", [AtFrames("java")])


class PythonRule(TraceRule):
    """Python tracebacks (`python` mode)."""

    def __init__(self) -> None:
        super().__init__("python", [PythonTraceback()])


class GoRule(TraceRule):
    """Go panics and goroutine dumps (`go` mode)."""

    def __init__(self) -> None:
        super().__init__("go", [GoPanic()])


class StartRule:
    """A custom start-of-record pattern: a line that does not match continues the open record."""

    def __init__(self, pattern: str) -> None:
        self.pattern = re.compile(pattern)
        self.name = f"regex:{pattern}"

    def continues(self, line: str, record: Record[Any]) -> bool:
        return not self.pattern.search(line)

    def note(self, line: str, record: Record[Any]) -> None:
        return None


class AnyRule:
    """Several rules at once: a line continues the record when any of them says so."""

    name = "any"

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules

    def continues(self, line: str, record: Record[Any]) -> bool:
        return any(rule.continues(line, record) for rule in self.rules)

    def note(self, line: str, record: Record[Any]) -> None:
        for rule in self.rules:
            rule.note(line, record)


def _languages() -> dict[str, Language]:
    """Every built-in language, in the order `auto` tries their start lines (the first that matches owns the event)."""
    return {
        "python": PythonTraceback(), "go": GoPanic(), "php": PhpStackTrace(), "dart": DartTrace(),
        "ruby": RubyBacktrace(), "java": AtFrames("java"), "javascript": AtFrames("javascript"),
        "csharp": AtFrames("csharp"),
    }


LANGUAGES = tuple(_languages())
MODES = ("none", "auto", *LANGUAGES)


class MultilineSpecError(ValueError):
    """A multiline mode that is neither a built-in name nor `regex:<valid pattern>`."""


def rule_for(spec: str) -> Rule | None:
    """The rule for a mode: none | auto | a language (MODES) | regex:<start pattern>. None means no merging."""
    if spec == "none":
        return None
    langs = _languages()
    if spec == "auto":
        # Java, JavaScript and C# share one grammar (AtFrames): one instance serves the three.
        return TraceRule("auto", [lang for name, lang in langs.items() if name not in ("javascript", "csharp")])
    if spec in langs:
        return TraceRule(spec, [langs[spec]])
    if spec.startswith("regex:"):
        pattern = spec.removeprefix("regex:")
        if not pattern:
            raise MultilineSpecError("regex: needs a start-of-record pattern after the colon")
        try:
            return StartRule(pattern)
        except re.error as exc:
            raise MultilineSpecError(f"a valid regex:<start pattern> ({pattern!r}: {exc})") from None
    raise MultilineSpecError(f"one of {', '.join(MODES)} or regex:<start pattern>")


K = TypeVar("K", bound=Hashable)


def _release_held(record: Record[T]) -> list[Record[T]]:
    """The record without its held lines, then each held line as its own record (nothing confirmed them)."""
    if not record.held:
        return [record]
    keep = len(record.lines) - record.held
    out = [record]
    for line, origin in zip(record.lines[keep:], record.origins[keep:], strict=True):
        size = len(line.encode("utf-8", "surrogateescape"))
        record.size -= size + 1
        out.append(Record([line], [origin], record.last_seen, record.last_seen, size))
    del record.lines[keep:], record.origins[keep:]
    record.held = 0
    return out


class Merger(Generic[K, T]):
    """Merges lines into records, one open record per stream key."""

    def __init__(self, *, flush_seconds: float = 2.0, max_lines: int = 500, max_bytes: int = 1 << 20) -> None:
        self.flush_seconds = flush_seconds
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self._open: dict[K, tuple[Rule, Record[T]]] = {}

    def feed(self, key: K, rule: Rule | None, line: str, origin: T, now: float) -> list[Record[T]]:
        """Add one line of stream `key`; return the records this line closed (oldest first)."""
        out: list[Record[T]] = []
        size = len(line.encode("utf-8", "surrogateescape"))
        current = self._open.get(key)
        if current is not None:
            open_rule, record = current
            if open_rule is rule and rule is not None and rule.continues(line, record):
                if len(record.lines) + 1 > self.max_lines or record.size + size + 1 > self.max_bytes:
                    # Too big: emit what we have and carry on in a new part, so nothing is cut.
                    record.flags.append(SPLIT_FLAG)
                    out.append(record)
                    nxt: Record[T] = Record([line], [origin], now, now, size, dict(record.state), [SPLIT_FLAG])
                    rule.note(line, nxt)
                    self._open[key] = (rule, nxt)
                    return out
                record.lines.append(line)
                record.origins.append(origin)
                record.size += size + 1
                record.last_seen = now
                rule.note(line, record)
                return out
            if record.held:
                out.extend(_release_held(record))
            else:
                out.append(record)
            del self._open[key]
        record = Record([line], [origin], now, now, size)
        if rule is None:
            out.append(record)
            return out
        rule.note(line, record)
        self._open[key] = (rule, record)
        return out

    def expired(self, now: float) -> list[Record[T]]:
        """Records whose stream has been quiet for the flush timeout."""
        done = [k for k, (_, r) in self._open.items() if now - r.last_seen >= self.flush_seconds]
        return [part for k in done for part in _release_held(self._open.pop(k)[1])]

    def close(self, key: K) -> Record[T] | None:
        """Emit the open record of one stream (its file ended or was closed), held lines included."""
        current = self._open.pop(key, None)
        return current[1] if current else None

    def drain(self) -> Iterator[Record[T]]:
        """Emit every open record (shutdown)."""
        while self._open:
            yield from _release_held(self._open.popitem()[1][1])

    def open_records(self) -> list[Record[T]]:
        """The records still open (their first origin bounds the checkpoint)."""
        return [r for _, r in self._open.values()]

    def pending(self) -> int:
        """How many streams have an open record."""
        return len(self._open)
