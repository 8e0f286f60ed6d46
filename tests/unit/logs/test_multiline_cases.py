"""Every trace of the public exception-detector suites (tests/unit/logs/multiline_cases) comes out as exactly one
event, with exact boundaries, in `auto` and in its language's named mode: between unrelated lines, twice back to
back, interleaved with the other stream, and with its lines split across CRI P/F parts."""

from __future__ import annotations

import random

import pytest

from observe.logs.multiline import MODES, level_of
from tests.unit.logs.multiline_cases import ARBITRARY, LANGUAGES, SCENARIOS, Case, cri, load_cases, run, scenario

CASES = load_cases()


def test_every_language_has_cases_and_a_named_mode() -> None:
    assert {c.language for c in CASES} == set(LANGUAGES)
    assert set(LANGUAGES) <= set(MODES)


@pytest.mark.parametrize("name", SCENARIOS)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@pytest.mark.parametrize("named", [False, True], ids=["auto", "named"])
def test_trace_is_one_event_with_exact_boundaries(case: Case, name: str, named: bool) -> None:
    lines, want = scenario(name, case.text)
    assert run(case.language if named else "auto", lines) == want, case.source


@pytest.mark.parametrize("order", ["forward", "reversed", "shuffled"])
def test_all_languages_back_to_back_in_one_stream(order: str) -> None:
    # The detect-exceptions suite's mixed-languages test: every trace right after the previous one, so each
    # language's trace is followed directly by another language's first line.
    texts = [c.text for c in CASES]
    if order == "reversed":
        texts.reverse()
    elif order == "shuffled":
        random.Random(13).shuffle(texts)
    lines = [b for t in texts for line in t.split("\n") for b in cri("stdout", line)]
    assert run("auto", lines) == {"stdout": texts}


@pytest.mark.parametrize("mode", MODES)
def test_neutral_text_is_never_merged(mode: str) -> None:
    # "tympanic: " is not a Go panic, and a blank line is its own event.
    lines = [b for t in ARBITRARY for b in cri("stdout", t)]
    assert run(mode, lines) == {"stdout": ARBITRARY}


JAVA = 'Exception in thread "main" java.lang.IllegalStateException: boom\n\tat a.B.c(B.java:1)'
TRACEBACK = 'Traceback (most recent call last):\n  File "/app/x.py", line 1, in <module>\n    f()\nValueError: boom'


@pytest.mark.parametrize("before", [
    "2024-05-14 09:12:45.002  INFO 1 --- [main] c.e.App : started",
    "This is not an exception.",
    "retrying after error: exception in upstream",
    "2024-05-14 09:12:45.002 DEBUG 1 --- [main] c.e.App : ERRORS=0",
])
@pytest.mark.parametrize("mode", ["auto", "java"])
def test_no_neighbour_is_glued_to_a_java_header(before: str, mode: str) -> None:
    lines = [b for t in [before, *JAVA.split("\n")] for b in cri("stdout", t)]
    assert run(mode, lines) == {"stdout": [before, JAVA]}


@pytest.mark.parametrize("level_line", [
    "2024-05-14 09:12:45.002 ERROR 1 --- [main] c.e.App : order failed",
    "2024-05-14 09:12:45.002  WARN 1 --- [main] c.e.App : order retried",
    '{"level":"error","msg":"order failed"}',
])
def test_an_error_or_warn_record_keeps_the_java_trace_it_logged(level_line: str) -> None:
    lines = [b for t in [level_line, *JAVA.split("\n")] for b in cri("stdout", t)]
    assert run("auto", lines) == {"stdout": [f"{level_line}\n{JAVA}"]}


@pytest.mark.parametrize(("before", "joined"), [
    ("ERROR:root:sync failed", True),
    ("CRITICAL:worker:out of retries", True),
    ("2024-05-14 09:15:31,207 ERROR [worker.tasks] task sync_invoices failed", True),
    ("level=error msg=\"sync failed\"", True),
    ("This is not an exception.", False),
    ("WARNING:root:this exception is retried", False),
    ("a warning about an exception, not an error record", False),
    ("2024-05-14 09:15:31,207 INFO [worker.tasks] error budget ok", False),
])
@pytest.mark.parametrize("mode", ["auto", "python"])
def test_only_an_error_level_record_joins_a_traceback(before: str, joined: bool, mode: str) -> None:
    lines = [b for t in [before, *TRACEBACK.split("\n")] for b in cri("stdout", t)]
    want = [f"{before}\n{TRACEBACK}"] if joined else [before, TRACEBACK]
    assert run(mode, lines) == {"stdout": want}


def test_level_is_read_from_the_level_field() -> None:
    assert level_of("2024-05-14 09:12:45.002 ERROR 1 --- [main] c.e.App : x") == "e"
    assert level_of("[2024-05-14 09:12:45] [WARN] retry") == "w"
    assert level_of('{"ts":1,"level":"fatal","msg":"x"}') == "e"
    assert level_of("an error happened") is None
    assert level_of('{"level":"info","msg":"retry: ERROR budget"}') is None
    assert level_of("time=1 level=INFO msg=\"WARN: x\"") is None
    assert level_of("2024-05-14 09:12:45 ERROR [app] battery level: low") == "e"
    assert level_of("x" * 200 + " ERROR late in the message") is None


@pytest.mark.parametrize("mode", ["auto", "go"])
def test_back_to_back_go_panics_are_two_events(mode: str) -> None:
    first = "panic: first\n\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:5 +0x1d"
    second = "panic: second\n\ngoroutine 7 [running]:\nmain.work()\n\t/app/main.go:9 +0x2e\nexit status 2"
    lines = [b for t in f"{first}\n{second}".split("\n") for b in cri("stderr", t)]
    assert run(mode, lines) == {"stderr": [first, second]}


@pytest.mark.parametrize("mode", ["auto", "java"])
def test_held_lines_leave_a_trace_that_does_not_go_on(mode: str) -> None:
    # A header with a blank line and an indented line after it, but no frame: nothing is glued.
    lines = ["java.lang.IllegalStateException: boom", "", "  indented, but no frame", "next record"]
    assert run(mode, [b for t in lines for b in cri("stdout", t)]) == {"stdout": lines}


def test_trailing_blank_lines_after_a_go_dump_ship_on_their_own() -> None:
    dump = "panic: x\n\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:5 +0x1d"
    lines = [*dump.split("\n"), "", "", "restarting"]
    assert run("auto", [b for t in lines for b in cri("stderr", t)]) == {"stderr": [dump, "", "", "restarting"]}


@pytest.mark.parametrize("mode", ["auto", "java", "javascript"])
def test_error_lines_in_a_row_without_frames_stay_apart(mode: str) -> None:
    lines = ["ValueError: bad input 1", "ValueError: bad input 2", "TypeError: x is undefined",
             "java.lang.IllegalStateException: a", "java.lang.IllegalStateException: b"]
    assert run(mode, [b for t in lines for b in cri("stdout", t)]) == {"stdout": lines}


@pytest.mark.parametrize("mode", ["auto", "go"])
def test_a_panic_word_in_a_log_line_takes_no_indented_neighbour(mode: str) -> None:
    lines = ["recovered from panic: nil map", "  config:", "    retries: 3"]
    assert run(mode, [b for t in lines for b in cri("stdout", t)]) == {"stdout": lines}


def test_nested_go_panics_stay_in_their_event() -> None:
    trace = ("panic: first [recovered]\n\tpanic: second\n\ngoroutine 1 [running]:\nmain.main()\n"
             "\t/app/main.go:5 +0x1d\nexit status 2")
    lines = [b for t in [*trace.split("\n"), "next"] for b in cri("stderr", t)]
    assert run("auto", lines) == {"stderr": [trace, "next"]}
