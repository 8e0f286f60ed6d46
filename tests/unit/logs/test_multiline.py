"""Multiline merging on real-world traces, interleaved across streams."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from observe.logs.multiline import SPLIT_FLAG, TRIGGERS, Merger, MultilineSpecError, Record, level_of, rule_for
from observe.logs.multiline.at_frames import FRAME, AtFrames, is_frame
from observe.logs.multiline.go_panic import _GO_SIGNALS
from observe.logs.multiline.language import _KNOWN_LEVELS, _LEVEL_HEAD, _LEVEL_KEY, _LEVEL_WORD, _LEVELS
from observe.logs.multiline.python_traceback import _PY_TRACEBACK
from observe.logs.multiline.rules import _languages
from tests.unit.logs import traces
from tests.unit.logs.multiline_cases import HERE as CASES

INFO = "2024-05-14 09:12:45.002  INFO 1 --- [nio-8080-exec-4] c.e.orders.OrderController : GET /orders/7 200"


def merge_all(mode: str, streams: dict[str, list[str]], *, order: str = "roundrobin", **kw: float) -> dict[str, list[str]]:
    """Feed the streams' lines interleaved one by one; return each stream's merged messages."""
    merger: Merger[str, int] = Merger(**kw)  # type: ignore[arg-type]
    rule = rule_for(mode)
    out: dict[str, list[Record[int]]] = {k: [] for k in streams}
    feeds = [[(k, line) for line in lines] for k, lines in streams.items()]
    seq = [x for x in itertools.chain.from_iterable(itertools.zip_longest(*feeds)) if x is not None]
    for i, (key, line) in enumerate(seq):
        out[key].extend(merger.feed(key, rule, line, i, now=float(i)))
    for rec in merger.drain():
        out[seq[rec.origins[0]][0]].append(rec)
    return {k: [r.message for r in sorted(v, key=lambda r: r.origins[0])] for k, v in out.items()}


@pytest.mark.parametrize(
    ("mode", "trace"),
    [
        ("java", traces.SPRING_BOOT),
        ("java", traces.SPRING_CAUSED_BY),
        ("java", traces.DUBBO),
        ("python", traces.PYTHON),
        ("python", traces.PYTHON_UNCAUGHT),
        ("go", traces.GO_PANIC),
        ("auto", traces.SPRING_BOOT),
        ("auto", traces.SPRING_CAUSED_BY),
        ("auto", traces.DUBBO),
        ("auto", traces.PYTHON),
        ("auto", traces.PYTHON_UNCAUGHT),
        ("auto", traces.GO_PANIC),
    ],
)
def test_trace_becomes_one_event_between_plain_lines(mode: str, trace: str) -> None:
    lines = [INFO, *trace.split("\n"), INFO, traces.GO_BEFORE]
    merged = merge_all(mode, {"stdout": lines})["stdout"]
    assert merged == [INFO, trace, INFO, traces.GO_BEFORE]


def test_interleaved_stdout_and_stderr_never_mix() -> None:
    stdout = [INFO, *traces.SPRING_CAUSED_BY.split("\n"), INFO]
    stderr = [*traces.PYTHON.split("\n"), "plain stderr line"]
    merged = merge_all("auto", {"stdout": stdout, "stderr": stderr})
    assert merged["stdout"] == [INFO, traces.SPRING_CAUSED_BY, INFO]
    assert merged["stderr"] == [traces.PYTHON, "plain stderr line"]


def test_two_pods_with_the_same_trace_shape_stay_apart() -> None:
    a = [*traces.GO_PANIC.split("\n")]
    b = [traces.GO_BEFORE, *traces.GO_PANIC.split("\n")]
    merged = merge_all("go", {"pod-a/stderr": a, "pod-b/stderr": b})
    assert merged["pod-a/stderr"] == [traces.GO_PANIC]
    assert merged["pod-b/stderr"] == [traces.GO_BEFORE, traces.GO_PANIC]


def test_custom_start_pattern_merges_until_the_next_start() -> None:
    lines = ["2024-05-14 a", "  detail 1", "detail 2", "2024-05-14 b", "2024-05-14 c", "x"]
    merged = merge_all(r"regex:^\d{4}-\d{2}-\d{2}", {"s": lines})["s"]
    assert merged == ["2024-05-14 a\n  detail 1\ndetail 2", "2024-05-14 b", "2024-05-14 c\nx"]


def test_none_mode_passes_every_line_through() -> None:
    lines = traces.PYTHON.split("\n")
    assert merge_all("none", {"s": lines})["s"] == lines


def test_flush_timeout_emits_a_quiet_record() -> None:
    merger: Merger[str, int] = Merger(flush_seconds=2.0)
    rule = rule_for("java")
    lines = traces.DUBBO.split("\n")
    for i, line in enumerate(lines):
        assert merger.feed("s", rule, line, i, now=100.0) == []
    assert merger.expired(now=101.9) == []
    [record] = merger.expired(now=102.0)
    assert record.message == traces.DUBBO
    assert record.origins == list(range(len(lines)))
    assert merger.pending() == 0


def test_line_cap_splits_without_losing_a_line() -> None:
    lines = traces.SPRING_CAUSED_BY.split("\n")
    merged = merge_all("java", {"s": lines}, max_lines=5)["s"]
    assert "\n".join(merged) == traces.SPRING_CAUSED_BY
    assert all(m.count("\n") <= 4 for m in merged)
    assert len(merged) == -(-len(lines) // 5)


def test_byte_cap_splits_and_flags_the_parts() -> None:
    merger: Merger[str, int] = Merger(max_bytes=300)
    rule = rule_for("java")
    out: list[Record[int]] = []
    for i, line in enumerate(traces.DUBBO.split("\n")):
        out.extend(merger.feed("s", rule, line, i, now=0.0))
    out.extend(merger.drain())
    assert len(out) > 1
    assert all(SPLIT_FLAG in r.flags for r in out)
    assert all(r.size <= 300 or len(r.lines) == 1 for r in out)
    assert "\n".join(r.message for r in out) == traces.DUBBO


@pytest.mark.parametrize("spec", ["cobol", "regex:", "regex:(unclosed"])
def test_bad_spec_is_rejected_with_the_reason(spec: str) -> None:
    with pytest.raises(MultilineSpecError):
        rule_for(spec)


def test_two_consecutive_java_traces_stay_two_events() -> None:
    first = "java.lang.IllegalStateException: a\n\tat a.B.c(B.java:1)"
    second = "java.lang.IllegalArgumentException: b\n\tat a.B.d(B.java:2)"
    lines = [*first.split("\n"), *second.split("\n")]
    assert merge_all("java", {"s": lines})["s"] == [first, second]


def test_held_lines_leave_a_record_that_goes_quiet() -> None:
    # A Python exception line, then a blank line that a chained traceback would have confirmed: the stream goes
    # quiet, so the blank line ships on its own and the checkpoint origins stay with their lines.
    merger: Merger[str, int] = Merger(flush_seconds=2.0)
    rule = rule_for("python")
    lines = [*traces.PYTHON_UNCAUGHT.split("\n"), ""]
    for i, line in enumerate(lines):
        assert merger.feed("s", rule, line, i, now=100.0) == []
    trace, blank = merger.expired(now=102.0)
    assert trace.message == traces.PYTHON_UNCAUGHT
    assert trace.origins == list(range(len(lines) - 1))
    assert (blank.lines, blank.origins) == ([""], [len(lines) - 1])
    assert trace.size == len(traces.PYTHON_UNCAUGHT.encode())


def test_drain_releases_held_lines_too() -> None:
    merger: Merger[str, int] = Merger()
    rule = rule_for("go")
    lines = [*traces.GO_PANIC.split("\n"), ""]
    for i, line in enumerate(lines):
        merger.feed("s", rule, line, i, now=0.0)
    assert [r.message for r in merger.drain()] == [traces.GO_PANIC, ""]


def test_a_line_no_later_line_can_continue_leaves_at_once() -> None:
    # Neither a trace's start nor an error or warning record (a trace may attach to those): no reason to hold it
    # until the stream's next line or its quiet timeout.
    merger: Merger[str, int] = Merger(flush_seconds=2.0)
    rule = rule_for("auto")
    [record] = merger.feed("s", rule, INFO, 0, now=0.0)
    assert (record.lines, record.origins) == ([INFO], [0])
    assert merger.pending() == 0


@pytest.mark.parametrize("line", [
    "2024-05-14 09:12:45.002 ERROR 1 --- [main] o.s.boot.SpringApplication : Application run failed",
    'level=warn msg="retrying"',
    "java.lang.IllegalStateException: boom",
    "Traceback (most recent call last):",
    "panic: runtime error: index out of range [3] with length 3",
])
def test_a_line_a_later_line_may_continue_is_held(line: str) -> None:
    merger: Merger[str, int] = Merger(flush_seconds=2.0)
    assert merger.feed("s", rule_for("auto"), line, 0, now=0.0) == []
    assert merger.pending() == 1
    [record] = merger.expired(now=2.0)
    assert record.lines == [line]


def test_a_custom_start_pattern_holds_every_record() -> None:
    merger: Merger[str, int] = Merger()
    assert merger.feed("s", rule_for(r"regex:^\d{4}-"), "x", 0, now=0.0) == []
    assert merger.pending() == 1


def test_several_rules_hold_a_record_when_one_of_them_does() -> None:
    from observe.logs.multiline import AnyRule, StartRule

    merger: Merger[str, int] = Merger()
    both = AnyRule([rule_for("java"), StartRule(r"^\d{4}-")])  # type: ignore[list-item]
    assert merger.feed("s", both, INFO, 0, now=0.0) == []
    java_only = AnyRule([rule_for("java"), rule_for("python")])  # type: ignore[list-item]
    assert len(merger.feed("t", java_only, INFO, 1, now=0.0)) == 1


# TRIGGERS: a line free of all of them starts no trace and has no level, so a stream without an open record
# ships it as a one-line event without asking the rules (observe/logs/process.py).
def _triggerless(line: str) -> bool:
    return not any(t in line for t in TRIGGERS)


def _says_nothing(line: str) -> bool:
    return all(lang.start(line) is None for lang in _languages().values()) and level_of(line) is None


_STARTS = [*TRIGGERS, *_GO_SIGNALS, _PY_TRACEBACK, "panic: ", "http: panic serving ", "PHP Fatal error:  ",
           "exception 'E' with message 'boom'", "Fatal error: Uncaught foo",
           "Unhandled exception:", "app/models/user.rb:12:in `save'", "Started GET (x):",
           'Exception in thread "main" ', "java.lang.IllegalStateException: boom", "TypeError: x", "level=error ",
           '"severity":"WARNING"', "lvl=crit",
           # One start line or level per trigger word, holding no other trigger word: removing that word from
           # TRIGGERS must fail the test.
           "PHP Warning:  x", "ActiveRecord::RecordNotFound (Couldn't find User with 'id'=7):", "java.lang.Throwable: x",
           "V8 errors stack trace", "runtime: out of memory", "fatal error: all goroutines are asleep",
           "[CRITICAL] x", "[FATAL] x", "SEVERE: x", "WARN x", "LEVEL=warn x", "severity: error"]
_FRAGMENTS = st.sampled_from([*_STARTS, *(t[:-1] for t in _STARTS), *(t[1:] for t in _STARTS),
                              " ", "\t", ":", "(", ")", "[", "]", "é", "\udcff"])


@given(st.lists(st.one_of(_FRAGMENTS, st.text(max_size=6)), max_size=6).map("".join))
@settings(max_examples=2000, deadline=None, derandomize=True, database=None)
def test_a_line_without_a_trigger_word_starts_no_trace_and_has_no_level(line: str) -> None:
    if _triggerless(line):
        assert _says_nothing(line), line


def test_every_line_of_the_trace_corpora_that_says_something_has_a_trigger_word() -> None:
    lines = [line for path in sorted(CASES.rglob("*.log"))
             for line in path.read_bytes().decode("utf-8", "surrogateescape").split("\n")]
    lines += [line for trace in (traces.SPRING_BOOT, traces.SPRING_CAUSED_BY, traces.DUBBO, traces.PYTHON,
                                 traces.PYTHON_UNCAUGHT, traces.GO_PANIC) for line in trace.split("\n")]
    lines += _STARTS
    speaking = [line for line in lines if not _says_nothing(line)]
    assert len(speaking) > 50  # the corpora's headers, panics and level lines
    assert [line for line in speaking if _triggerless(line)] == []


# A run of `at` frames is taken in one go (observe/logs/process.py): is_frame must only say yes to a line that
# `follow` continues into state FRAME from every state but `o`.
_FRAME_BITS = st.sampled_from(["\tat ", "    at ", "at ", "eval at ", " ", "\t", "\u00a0", "\x1c", "\x0b", " {", "{",
                               "at", "a", "é", "\udcff", "org.x.Y.run(Y.java:1)", "--- End of ", "... 3 more"])


def _frame_lines() -> list[str]:
    return [line for path in sorted(CASES.rglob("*.log"))
            for line in path.read_bytes().decode("utf-8", "surrogateescape").split("\n")]


@given(st.lists(st.one_of(_FRAME_BITS, st.text(max_size=4)), max_size=6).map("".join))
@settings(max_examples=3000, deadline=None, derandomize=True, database=None)
def test_a_line_is_frame_calls_a_frame_is_one_for_follow_in_every_state_but_o(line: str) -> None:
    _frames_agree(line)


def _frames_agree(line: str) -> None:
    lang = AtFrames("java")
    if is_frame(line.encode("utf-8", "surrogateescape")):
        assert [lang.follow(s, line) for s in "hbnaf"] == [FRAME] * 5, line


def test_is_frame_on_the_corpora_says_yes_to_the_indented_at_frames_and_agrees_with_follow() -> None:
    lines = _frame_lines()
    framed = [line for line in lines if is_frame(line.encode("utf-8", "surrogateescape"))]
    assert len(framed) > 80
    for line in lines:
        _frames_agree(line)
    # Every indented at-frame of the corpora that follow puts into FRAME is seen (none left to feed needlessly),
    # except those whose indent holds whitespace bytes.lstrip does not strip.
    missed = [line for line in lines if line[:1] in " \t" and line.lstrip()[:3] == "at " and len(line.lstrip()) > 3
              and not line.endswith(" {") and not is_frame(line.encode("utf-8", "surrogateescape"))]
    assert missed == []


@pytest.mark.parametrize("max_lines", [1, 2, 3, 6])
def test_extend_takes_exactly_the_lines_feed_would_before_it_splits(max_lines: int) -> None:
    # Merger.extend (a run of frames taken in one go) against feed, line by line, at every byte cap around the sizes.
    rule = rule_for("regex:^START")
    assert rule is not None
    lines = ["START", "a" * 7, "bb", "c" * 11, "d", "e" * 5]
    for max_bytes in range(0, 40):
        by_feed: Merger[str, int] = Merger(max_lines=max_lines, max_bytes=max_bytes)
        closed = [r for i, line in enumerate(lines) for r in by_feed.feed("k", rule, line, i, now=float(i))]
        first = closed[0] if closed else next(by_feed.drain())
        by_extend: Merger[str, int] = Merger(max_lines=max_lines, max_bytes=max_bytes)
        by_extend.feed("k", rule, lines[0], 0, now=0.0)
        record = by_extend.open_record("k", rule)
        assert record is not None
        rest = lines[1:]
        taken = by_extend.extend(record, rest, list(range(1, len(lines))), [len(x) for x in rest], now=5.0)
        assert (taken, record.size) == (len(first.lines) - 1, first.size), (max_bytes, taken)
        assert record.lines == first.lines and record.origins == first.origins
        assert record.last_seen == (5.0 if taken else 0.0)


def _level_unguarded(line: str) -> str | None:
    """level_of before its guard: the key's case-insensitive search always runs."""
    head = line[:_LEVEL_HEAD]
    if not ("ERROR" in head or "CRITICAL" in head or "FATAL" in head or "SEVERE" in head or "WARN" in head
            or "evel" in head or "EVEL" in head or "everity" in head or "lvl" in head):
        return None
    key = _LEVEL_KEY.search(head)
    if key is not None and (value := key[1].lower()) in _KNOWN_LEVELS:
        return _LEVELS.get(value)
    word = _LEVEL_WORD.search(head)
    return _LEVELS.get(word[1].lower()) if word else None


_LEVEL_BITS = st.sampled_from(["level", "Level", "LEVEL", "LeVeL", "severity", "SEVERITY", "\u017feverity", "Severity",
                               "lvl", "LVL", "L\u0130vl", "evel", "everity", "=", ":", '"', " ", "error", "ERROR",
                               "warn", "WARN", "info", "fatal", "[", "]", "K", "\u212a", "x" * 150])


@given(st.lists(st.one_of(_LEVEL_BITS, _LEVEL_BITS, _LEVEL_BITS, st.text(max_size=3)), max_size=8).map("".join))
@settings(max_examples=3000, deadline=None, derandomize=True, database=None)
def test_level_of_with_its_guard_is_level_of_without(line: str) -> None:
    assert level_of(line) == _level_unguarded(line)


@pytest.mark.parametrize(("line", "level"), [("LEVEL=error x", "e"), ("Level: warn", "w"), ("x level=error", "e"),
                                             ('{"severity":"ERROR"}', "e"), ("\u017feverity=warn", "w"),
                                             ("lvl=info ERROR", None), ("ERROR x", "e"), ("x" * 170 + "level=error", None)])
def test_level_of_reads_the_level_key_in_any_case(line: str, level: str | None) -> None:
    assert level_of(line) == _level_unguarded(line) == level


def test_a_split_part_that_begins_with_a_held_line_is_released_as_lines_not_as_an_empty_record() -> None:
    # Found by test_process_frames in CI: the trace reaches max_lines, the next (indented, held) line starts the
    # split part, and nothing confirms it. Releasing the held lines used to leave that part empty, and the
    # processor's release step failed on it (IndexError) instead of shipping the line.
    rule = rule_for("java")
    merger: Merger[str, int] = Merger(max_lines=2)
    lines = ["java.lang.IllegalStateException: boom", "Caused by: java.io.IOException: gone", "\tat ", "\tnot a frame"]
    out = [r for i, line in enumerate(lines) for r in merger.feed("k", rule, line, i, now=0.0)]
    out += list(merger.drain())
    assert all(r.lines for r in out)
    assert sorted(o for r in out for o in r.origins) == [0, 1, 2, 3]  # every line shipped once
    assert [r.lines for r in out] == [lines[:2], ["\tat "], ["\tnot a frame"]]
    assert SPLIT_FLAG in out[0].flags and SPLIT_FLAG in out[1].flags
