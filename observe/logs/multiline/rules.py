"""The rules: which languages' traces a stream merges (TraceRule), a custom start pattern, and lookup by mode."""

from __future__ import annotations

import re
from typing import Any

from observe.config_input import REGEX_ERRORS, echo, regex_error
from observe.logs.multiline.at_frames import FRAME, AtFrames
from observe.logs.multiline.dart_trace import DartTrace
from observe.logs.multiline.go_panic import GoPanic
from observe.logs.multiline.language import HELD, Language, level_of
from observe.logs.multiline.merger import Record, Rule
from observe.logs.multiline.php_trace import PhpStackTrace
from observe.logs.multiline.python_traceback import PythonTraceback
from observe.logs.multiline.ruby_backtrace import RubyBacktrace


class TraceRule:
    """Merges the traces of some languages: the language whose start line opens an event owns it.

    Record state: `l` the owning language, `s` its state, `v` the level of a one-line log record (e/w),
    `n`/`nl` the next state (and language) that `continues` found for `note` to apply.
    """

    def __init__(self, name: str, languages: list[Language]) -> None:
        self.name = name
        self.languages = languages
        self._by_name = {lang.name: lang for lang in languages}
        self._framed = {lang.name for lang in languages if isinstance(lang, AtFrames)}

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

    def holds(self, record: Record[Any]) -> bool:
        # `continues` needs an owning language or a level (an error record a trace may attach to).
        return bool(record.state)

    def takes_frames(self, record: Record[Any]) -> bool:
        """Whether every line `at_frames.is_frame` accepts continues `record` into state FRAME: the record is a
        trace of AtFrames in a state other than `o`. The processor then takes a run of such lines in one go."""
        state = record.state
        return state.get("l") in self._framed and state["s"] != "o"

    def framed(self, record: Record[Any]) -> None:
        """What `note` does after frame lines (a trace of AtFrames took them): state FRAME, nothing held."""
        record.state["s"] = FRAME
        record.held = 0


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

    def holds(self, record: Record[Any]) -> bool:
        return True  # every line that is not a start continues the record


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

    def holds(self, record: Record[Any]) -> bool:
        return any(rule.holds(record) for rule in self.rules)


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
        except REGEX_ERRORS as exc:
            raise MultilineSpecError(f"a valid regex:<start pattern> ({echo(pattern)}: {regex_error(exc)})") from None
    raise MultilineSpecError(f"one of {', '.join(MODES)} or regex:<start pattern>")
