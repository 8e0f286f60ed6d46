"""A parser that raises on a line (a bug) flags that line parse_failed: the file goes on, the rest is parsed.

Before this, an exception out of a parser left the reader's loop, and after a restart the same line stopped it
again: nothing of the node after that line shipped. NginxParser's `float()` on a request time of `1.2.3` was one.
"""

from __future__ import annotations

import logging

import pytest

from observe.logs import process
from observe.logs.event import FLAG_PARSE_FAILED, Event
from observe.logs.parsers import NginxParser, Parsed
from observe.logs.plan import Settings
from observe.logs.process import PlanProcessor
from tests.unit.logs import traces


def test_a_parser_that_raises_flags_the_line_and_logs_once(monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    real = NginxParser.parse

    def parse(self: NginxParser, message: str) -> Parsed:
        if "boom" in message:
            raise ZeroDivisionError("a bug")
        return real(self, message)

    monkeypatch.setattr(NginxParser, "parse", parse)
    monkeypatch.setattr(process, "_RAISED", set(), raising=False)
    records: list[Event] = [
        (0, b"2024-01-01T00:00:00Z", b"stdout", b"boom 1", 0, None),
        (10, b"2024-01-01T00:00:00Z", b"stdout", traces.NGINX_COMBINED.encode(), 0, None),
        (20, b"2024-01-01T00:00:00Z", b"stdout", b"boom 2", 0, None),
    ]
    with caplog.at_level(logging.ERROR, logger="observe.logs.process"):
        out = PlanProcessor(Settings(parser="nginx")).process(records)
    assert [r[0] for r in out] == [0, 10, 20]
    assert out[0][4] == out[2][4] == FLAG_PARSE_FAILED and out[0][3] == b"boom 1" and out[0][5] is None
    assert out[1][4] == 0 and out[1][5] is not None and out[1][5]["source"] == {"ip": "203.0.113.9"}
    assert [r.message for r in caplog.records] == [
        "the parser raised on a line; it ships flagged parse_failed (a bug: please report it)"]
