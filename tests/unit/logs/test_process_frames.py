"""Runs of `at` frames taken in one go by the processor (PlanProcessor._frames, Merger.extend) change no event.

The reference is the same processor with every line fed to the merger one by one (no frame is found); the runs are
found by the C library's classify when it is built, and by is_frame in Python.
Fuzzed: Java, JavaScript and C# traces from the corpora and Node's `{ ... }` frames, interleaved over two streams,
cut into chunks anywhere, under tight line and byte caps so that the run meets the split.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from observe.logs import cri_native, process
from observe.logs.event import Event
from observe.logs.plan import Settings
from observe.logs.process import PlanProcessor
from tests.unit.logs import traces
from tests.unit.logs.chunked import process_in_chunks, records_of
from tests.unit.logs.multiline_cases import HERE as CASES


def _corpus(*langs: str) -> list[str]:
    return [line for lang in langs for path in sorted((CASES / lang).glob("*.log"))
            for line in path.read_bytes().decode("utf-8", "surrogateescape").split("\n")]


_LINES = sorted({*_corpus("java", "javascript", "csharp"), *traces.SPRING_CAUSED_BY.split("\n"),
                 *traces.DUBBO.split("\n"), "    at Object.<anonymous> (/app/x.js:1:1) {", "  code: 'E'", "}",
                 "\tat ", "\tat x", "\u00a0at y", "2024-05-14 09:12:46.000 ERROR 1 --- [main] c.e.O : failed", ""})
_FRAMES = [line for line in _LINES if line[:1] in " \t" and line.lstrip().startswith("at ")]


def _run(records: list[Event], cuts: list[int], mode: str, max_lines: int, max_bytes: int) -> list[object]:
    return process_in_chunks(records, cuts, Settings(multiline=mode), max_lines=max_lines, max_bytes=max_bytes)


# A small vocabulary, so that headers, blank and held lines, causes and Node's `{ ... }` meet runs of frames often;
# and the corpora's lines.
_DENSE = ["java.lang.IllegalStateException: boom", "TypeError: x", "Caused by: java.io.IOException: gone", "", "  ",
          "\tat a.B.c(B.java:1)", "\tat a.B.d(B.java:2)", "    at f (/app/x.js:1:1)", "    at g (/app/x.js:2:2) {",
          "  code: 'E'", "}", "\t... 3 more", "nested exception is:", "  wrapped message",
          "2024-05-14 09:12:46.000 ERROR 1 --- [main] c.e.O : failed", "2024-05-14 09:12:47.000  INFO 1 --- x"]
_LINE = st.one_of(st.sampled_from(_DENSE), st.sampled_from(_FRAMES), st.sampled_from(_LINES))


@given(lines=st.lists(st.tuples(_LINE, st.sampled_from([b"stdout", b"stdout", b"stderr"])), max_size=80),
       cuts=st.lists(st.integers(0, 80), max_size=4), mode=st.sampled_from(["auto", "java", "javascript", "csharp"]),
       max_lines=st.sampled_from([2, 5, 30, 500]), max_bytes=st.sampled_from([120, 700, 4000, 1 << 20]))
@example(lines=[("java.lang.IllegalStateException: boom", b"stderr"), ("Caused by: java.io.IOException: gone", b"stderr"),
                ("\tat ", b"stderr")], cuts=[], mode="auto", max_lines=2, max_bytes=120)  # a split part held whole
@settings(max_examples=400, deadline=None, derandomize=True, database=None)
def test_frame_runs_change_no_event(lines: list[tuple[str, bytes]], cuts: list[int], mode: str, max_lines: int,
                                    max_bytes: int) -> None:
    records = records_of(lines)
    with_runs = _run(records, cuts, mode, max_lines, max_bytes)  # frames found by the C library when it is built
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cri_native, "classify", lambda messages, patterns: None)
        assert _run(records, cuts, mode, max_lines, max_bytes) == with_runs  # frames found by is_frame
        mp.setattr(process, "is_frame", lambda msg: False)
        assert _run(records, cuts, mode, max_lines, max_bytes) == with_runs  # no runs: feed, line by line


def test_a_java_trace_is_taken_in_runs_and_is_one_event() -> None:
    # The bench's shape: an error line, the exception, 28 frames; then the next log line closes it.
    frames = [f"\tat org.example.Handler{i}.invoke(Handler.java:{i})" for i in range(28)]
    lines = ["2024-05-14 09:12:46.000 ERROR 1 --- [main] c.e.O : failed", "java.lang.IllegalStateException: boom",
             *frames, "2024-05-14 09:12:47.000  INFO 1 --- [main] c.e.O : next"]
    records = records_of([(line, b"stdout") for line in lines])
    calls = []
    proc = PlanProcessor(Settings(multiline="auto"))
    real = proc._frames

    def spy(*args: object) -> int:
        calls.append(taken := real(*args))  # type: ignore[arg-type]
        return taken

    proc._frames = spy  # type: ignore[method-assign]
    out = proc.process(records)
    assert calls == [28]  # one run took every frame
    assert [e[3].count(b"\n") + 1 for e in out] == [30, 1]
    fields = out[0][5]
    assert fields is not None and fields["error"]["type"] == "java.lang.IllegalStateException"


@pytest.mark.parametrize("native", [True, False])
def test_a_node_frame_that_opens_its_properties_is_not_taken_as_a_frame(native: bool,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    if not native:
        monkeypatch.setattr(cri_native, "classify", lambda messages, patterns: None)
    lines = ["TypeError: boom", "    at f (/app/x.js:1:1)", "    at g (/app/x.js:2:2) {", "  code: 'E_BOOM'", "}",
             "next line"]
    out = PlanProcessor(Settings(multiline="javascript")).process(records_of([(line, b"stderr") for line in lines]))
    assert [e[3].count(b"\n") + 1 for e in out] == [5, 1]  # the trace with its properties, then `next line`
