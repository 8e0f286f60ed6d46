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


# A log line that may be followed by its exception: only error-ish lines, so an uncaught trace printed
# after an unrelated INFO line stays its own event.
_ERRORISH = re.compile(r"(?i)\b(error|err|exception|critical|crit|fatal|severe|warn|warning|failed|failure)\b")
# Every word above contains one of these. Searching the regex costs microseconds per line (a case-insensitive
# alternation tried at each position), so ASCII lines without any of them are answered by `in` alone.
_ERRORISH_STEMS = ("err", "exception", "crit", "fatal", "severe", "warn", "fail")


def _errorish(line: str) -> bool:
    """True when `line` contains an error-ish word (_ERRORISH)."""
    if line.isascii():
        low = line.lower()
        if not any(stem in low for stem in _ERRORISH_STEMS):
            return False
    return _ERRORISH.search(line) is not None

_JAVA_FRAME = re.compile(r"^\s+at\s+\S")
_JAVA_MORE = re.compile(r"^\s+\.\.\.\s*\d+\s+(more|common frames omitted)\b")
_JAVA_CHAIN = re.compile(r"^\s*(Caused by|Suppressed|Wrapped by):\s")
# A fully qualified class name, then optionally ": message". The last segment must look like a
# throwable so an ordinary "com.foo: bar" log line is not swallowed.
_JAVA_HEADER = re.compile(
    r"^(?:Exception in thread \"[^\"]*\"\s+)?(?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable|Fault)[\w$]*(?::.*)?$"
)


class JavaRule:
    """Java traces: `at ...` frames, `Caused by:`, `Suppressed:`, `... N more`, Spring Boot's root cause."""

    name = "java"

    def continues(self, line: str, record: Record[Any]) -> bool:
        if _JAVA_FRAME.match(line) or _JAVA_MORE.match(line) or _JAVA_CHAIN.match(line):
            return True
        if not line.strip():
            # Spring Boot prints "... with root cause", a blank line, then the exception.
            return record.state.get("java") in ("open", "frames")
        if _JAVA_HEADER.match(line):
            # A header joins a log line or a chain, but after frames it is a new trace.
            return record.state.get("java") != "frames"
        # A wrapped exception message continues until the first frame.
        return record.state.get("java") == "header" and line.startswith((" ", "\t"))

    def note(self, line: str, record: Record[Any]) -> None:
        if _JAVA_FRAME.match(line) or _JAVA_MORE.match(line):
            record.state["java"] = "frames"
        elif _JAVA_HEADER.match(line) or _JAVA_CHAIN.match(line):
            record.state["java"] = "header"
        elif len(record.lines) == 1 and _errorish(line):
            record.state["java"] = "open"
        elif line.rstrip().endswith("root cause"):
            record.state["java"] = "open"


_PY_TRACEBACK = re.compile(r"^Traceback \(most recent call last\):\s*$")
_PY_FRAME = re.compile(r"^\s+File \"")
_PY_CHAIN = re.compile(
    r"^(The above exception was the direct cause of the following exception:"
    r"|During handling of the above exception, another exception occurred:)\s*$"
)
_PY_GROUP = re.compile(r"^\s*[|+]")  # ExceptionGroup tree drawing


class PythonRule:
    """Python tracebacks: the Traceback line, its frames and source lines, the exception line, chains."""

    name = "python"

    def continues(self, line: str, record: Record[Any]) -> bool:
        state = record.state.get("python", "")
        if _PY_CHAIN.match(line):
            return True
        if _PY_TRACEBACK.match(line):
            # logging.exception: the message line, then its traceback.
            return state in ("chain", "open")
        if state == "frames":
            # Frames, source lines, carets, then exactly one unindented exception line.
            return True
        if state in ("exception", "chain"):
            # Blank lines before a chain, and indented continuation of the exception message.
            return not line.strip() or line.startswith((" ", "\t"))
        return False

    def note(self, line: str, record: Record[Any]) -> None:
        state = record.state.get("python", "")
        if len(record.lines) == 1 and _errorish(line) and not _PY_TRACEBACK.match(line):
            record.state["python"] = "open"
        elif _PY_TRACEBACK.match(line):
            record.state["python"] = "frames"
        elif _PY_CHAIN.match(line):
            record.state["python"] = "chain"
        elif state == "frames" and line.strip() and not line.startswith((" ", "\t")) and not _PY_GROUP.match(line):
            record.state["python"] = "exception"


_GO_START = re.compile(r"^(panic: |fatal error: |runtime: |SIGSEGV: |SIGBUS: |SIGABRT: )")
_GO_DUMP = re.compile(
    r"^(\s|$"
    r"|goroutine \d+ "
    r"|\[signal "
    r"|created by "
    r"|panic: |fatal error: |runtime stack:|runtime: "
    r"|exit status \d+"
    r"|\.\.\.additional frames elided\.\.\."
    r"|[\w./*()\[\]{}%-]+\(.*\)$"
    r"|[a-z0-9]+\s+0x[0-9a-f]+"  # register dump: rax    0x0
    r")"
)


class GoRule:
    """Go panics and fatal errors with their goroutine dump."""

    name = "go"

    def continues(self, line: str, record: Record[Any]) -> bool:
        if record.state.get("go") == "panic":
            return bool(_GO_DUMP.match(line))
        return False

    def note(self, line: str, record: Record[Any]) -> None:
        if _GO_START.match(line):
            record.state["go"] = "panic"


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
    """All built-in rules at once (`auto`)."""

    name = "auto"

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules

    def continues(self, line: str, record: Record[Any]) -> bool:
        return any(rule.continues(line, record) for rule in self.rules)

    def note(self, line: str, record: Record[Any]) -> None:
        for rule in self.rules:
            rule.note(line, record)


MODES = ("none", "auto", "java", "python", "go")


class MultilineSpecError(ValueError):
    """A multiline mode that is neither a built-in name nor `regex:<valid pattern>`."""


def rule_for(spec: str) -> Rule | None:
    """The rule for a mode: none | auto | java | python | go | regex:<start pattern>. None means no merging."""
    if spec == "none":
        return None
    if spec == "java":
        return JavaRule()
    if spec == "python":
        return PythonRule()
    if spec == "go":
        return GoRule()
    if spec == "auto":
        return AnyRule([JavaRule(), PythonRule(), GoRule()])
    if spec.startswith("regex:"):
        pattern = spec.removeprefix("regex:")
        if not pattern:
            raise MultilineSpecError("regex: needs a start-of-record pattern after the colon")
        try:
            return StartRule(pattern)
        except re.error as exc:
            raise MultilineSpecError(f"a valid regex:<start pattern> ({pattern!r}: {exc})") from None
    raise MultilineSpecError("one of none, auto, java, python, go or regex:<start pattern>")


K = TypeVar("K", bound=Hashable)


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
        return [self._open.pop(k)[1] for k in done]

    def close(self, key: K) -> Record[T] | None:
        """Emit the open record of one stream (its file ended or was closed)."""
        current = self._open.pop(key, None)
        return current[1] if current else None

    def drain(self) -> Iterator[Record[T]]:
        """Emit every open record (shutdown)."""
        while self._open:
            yield self._open.popitem()[1][1]

    def open_records(self) -> list[Record[T]]:
        """The records still open (their first origin bounds the checkpoint)."""
        return [r for _, r in self._open.values()]

    def pending(self) -> int:
        """How many streams have an open record."""
        return len(self._open)
