"""@timestamp in UTC with `Z`, nanoseconds kept; a runtime's own offset goes to event.timezone."""

import orjson
import pytest

from observe.logs.decode import CriDecoder
from observe.logs.event import Event
from observe.logs.fastpath import ship_cri
from observe.logs.timestamp import to_utc
from tests.unit.logs.test_encode import NOW, encoder, source_of


@pytest.mark.parametrize(("raw", "utc", "zone"), [
    (b"2024-05-14T17:12:45.002123456+08:00", b"2024-05-14T09:12:45.002123456Z", "+08:00"),
    (b"2024-05-14T01:12:45.5-05:30", b"2024-05-14T06:42:45.5Z", "-05:30"),
    (b"2024-01-01T03:00:00+0530", b"2023-12-31T21:30:00Z", "+05:30"),
    (b"2019-05-07T18:57:50.904275087+00:00", b"2019-05-07T18:57:50.904275087Z", None),
    (b"2024-05-14T09:12:45.002z", b"2024-05-14T09:12:45.002Z", None),
    (b"2024-05-14T09:12:45.002123456Z", b"2024-05-14T09:12:45.002123456Z", None),
    (b"2024-13-99T00:00:00+01:00", b"2024-13-99T00:00:00+01:00", None),
])
def test_to_utc(raw: bytes, utc: bytes, zone: str | None) -> None:
    assert to_utc(raw) == (utc, zone)


def test_documents_carry_utc_and_the_original_offset() -> None:
    lines = [b"2024-05-14T17:12:45.002123456+08:00 stdout F local", b"2024-05-14T09:12:45.002123456Z stdout F utc",
             b"2024-05-14T09:12:46.000000001+00:00 stderr F zero offset"]
    fast: list[bytes] = []
    ship_cri(lines, 0, NOW, CriDecoder(1024), encoder(), fast)
    records: list[Event] = []
    CriDecoder(1024).decode(lines, 0, NOW, records)
    slow: list[bytes] = []
    encoder().encode(records, slow)
    assert fast == slow
    docs = [orjson.loads(source_of(item)) for item in fast]
    assert [d["@timestamp"] for d in docs] == ["2024-05-14T09:12:45.002123456Z", "2024-05-14T09:12:45.002123456Z",
                                               "2024-05-14T09:12:46.000000001Z"]
    assert [d.get("event") for d in docs] == [{"timezone": "+08:00"}, None, None]
    assert docs[0]["message"] == "local"
