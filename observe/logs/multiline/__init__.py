"""Multiline merging: stack traces and panics become one event, per container stream.

A rule looks at the record being built and the next line, and says whether that line continues
the record. Records are kept per stream key (file + iostream), so interleaved stdout and stderr,
or two pods on one node, never mix. A record is emitted when a line starts a new one, when its
stream has been quiet for the flush timeout, or when it would exceed the line or byte cap (then
it is split, never cut: the split parts carry the flag `multiline_split`).

The package, by role: merger (Record, Rule, Merger), rules (TraceRule, StartRule, rule_for and the modes),
language (what the grammars share), and one grammar per language family: at_frames (Java, JavaScript, C#),
python_traceback, go_panic, ruby_backtrace, php_trace, dart_trace.
"""

from __future__ import annotations

from observe.logs.multiline.at_frames import AtFrames
from observe.logs.multiline.dart_trace import DartTrace
from observe.logs.multiline.go_panic import GoPanic
from observe.logs.multiline.language import HELD, TRIGGERS, Language, level_of
from observe.logs.multiline.merger import SPLIT_FLAG, Merger, Record, Rule
from observe.logs.multiline.php_trace import PhpStackTrace
from observe.logs.multiline.python_traceback import PythonTraceback
from observe.logs.multiline.ruby_backtrace import RubyBacktrace
from observe.logs.multiline.rules import (
    LANGUAGES,
    MODES,
    AnyRule,
    GoRule,
    JavaRule,
    MultilineSpecError,
    PythonRule,
    StartRule,
    TraceRule,
    rule_for,
)

__all__ = [
    "HELD",
    "LANGUAGES",
    "MODES",
    "SPLIT_FLAG",
    "TRIGGERS",
    "AnyRule",
    "AtFrames",
    "DartTrace",
    "GoPanic",
    "GoRule",
    "JavaRule",
    "Language",
    "Merger",
    "MultilineSpecError",
    "PhpStackTrace",
    "PythonRule",
    "PythonTraceback",
    "Record",
    "RubyBacktrace",
    "Rule",
    "StartRule",
    "TraceRule",
    "level_of",
    "rule_for",
]
