"""The per-file reader: chunk boundaries, partial lines across reads, safe offsets, overlong lines."""

import os
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from observe.logs.encode import source_of
from observe.logs.identity import FileIdentity, identify
from observe.logs.metrics import ShipperMetrics
from observe.logs.plan import PlanSlot, path_plan
from observe.logs.reader import FileReader


def reader(path: Path, *, read_bytes: int = 4096, max_event: int = 1024, offset: int = 0, fmt: str = "cri") -> FileReader:
    fd = os.open(path, os.O_RDONLY)
    ident = identify(fd, 64) or FileIdentity(0, 0, b"")
    ctx = path_plan(str(path), str(path), host_name="h", node_name=None, fmt=fmt)
    return FileReader(fd, ident, str(path), offset, PlanSlot(ctx), "logs-x", ShipperMetrics(CollectorRegistry()),
                      read_bytes=read_bytes, max_event_bytes=max_event, on_advance=lambda: None)


def drain(r: FileReader) -> tuple[list[dict[str, object]], list[int]]:
    docs: list[dict[str, object]] = []
    safes: list[int] = []
    while (seg := r.read()) is not None:
        docs += [orjson.loads(source_of(i)) for i in seg.items]
        safes.append(seg.safe_offset)
    return docs, safes


def test_small_reads_give_the_same_documents_as_one_read(tmp_path: Path) -> None:
    p = tmp_path / "a.log"
    lines = [b"2024-01-01T00:00:00Z stdout P part-%d-" % i if i % 3 == 0 else b"2024-01-01T00:00:00Z stdout F line %d" % i
             for i in range(200)]
    p.write_bytes(b"\n".join(lines) + b"\n")
    big, _ = drain(reader(p, read_bytes=1 << 20))
    small, safes = drain(reader(p, read_bytes=4096))
    assert big == small
    assert safes == sorted(safes)
    assert safes[-1] == p.stat().st_size


def test_safe_offset_stays_at_an_unfinished_event(tmp_path: Path) -> None:
    p = tmp_path / "a.log"
    first = b"2024-01-01T00:00:00Z stdout F one\n"
    partial = b"2024-01-01T00:00:00Z stdout P two-a\n"
    p.write_bytes(first + partial + b"2024-01-01T00:00:00Z stdout F incompl")
    r = reader(p)
    seg = r.read()
    assert seg is not None and len(seg.items) == 1
    assert seg.safe_offset == len(first)
    # A restart from the safe offset re-reads the whole event.
    with p.open("ab") as f:
        f.write(b"ete\n")
    docs, _ = drain(reader(p, offset=len(first)))
    assert [d["message"] for d in docs] == ["two-aincomplete"]
    assert docs[0]["log"]["offset"] == len(first)  # type: ignore[index]


def test_overlong_physical_line_is_cut_flagged_and_counted(tmp_path: Path) -> None:
    p = tmp_path / "a.log"
    p.write_bytes(b"x" * 20000 + b"\nnext\n")
    r = reader(p, read_bytes=4096, max_event=1024, fmt="plain")
    docs, safes = drain(r)
    assert [len(str(d["message"])) for d in docs] == [1024, 4]
    assert docs[0]["log"]["flags"] == ["truncated"]  # type: ignore[index]
    assert safes[-1] == p.stat().st_size
    lost = r.metrics.lost_bytes.labels("truncated")._value.get()
    assert lost == 20000 - 1024


def framed(fmt: str, msg: bytes) -> bytes:
    """One physical line carrying msg in the given format."""
    if fmt == "cri":
        return b"2024-01-01T00:00:00Z stdout F " + msg + b"\n"
    if fmt == "docker":
        return b'{"log":"' + msg + b'\\n","stream":"stdout","time":"2024-01-01T00:00:00Z"}\n'
    return msg + b"\n"


@pytest.mark.parametrize("fmt", ["plain", "cri", "docker", "auto"])
@pytest.mark.parametrize("read_bytes", [4096, 1 << 20])
def test_every_format_cuts_at_max_event_bytes_exactly(tmp_path: Path, fmt: str, read_bytes: int) -> None:
    limit = 1024
    sizes = [1, limit - 1, limit, limit + 1, 3000, limit + 4000]  # the last ones are within the old +4096 slack
    p = tmp_path / "a.log"
    p.write_bytes(b"".join(framed(fmt, (b"%05d" % n) + b"m" * (n - 5) if n >= 5 else b"m" * n) for n in sizes))
    r = reader(p, read_bytes=read_bytes, max_event=limit, fmt=fmt)
    docs, safes = drain(r)
    assert [len(str(d["message"])) for d in docs] == [min(n, limit) for n in sizes]
    assert [d["log"].get("flags", []) for d in docs] == [  # type: ignore[attr-defined]
        ["truncated"] if n > limit else [] for n in sizes]
    assert safes[-1] == p.stat().st_size
    m = r.metrics
    assert m.events_flagged.labels("truncated")._value.get() == sum(n > limit for n in sizes)
    assert m.lost_bytes.labels("truncated")._value.get() == sum(max(0, n - limit) for n in sizes)


@pytest.mark.parametrize("fmt", ["cri", "docker"])
def test_a_line_not_in_the_files_format_is_cut_too(tmp_path: Path, fmt: str) -> None:
    p = tmp_path / "a.log"
    p.write_bytes(b"q" * 3000 + b"\n")
    r = reader(p, read_bytes=1 << 20, max_event=1024, fmt=fmt)
    docs, _ = drain(r)
    assert [len(str(d["message"])) for d in docs] == [1024]
    assert docs[0]["log"]["flags"] == ["truncated", "undecodable"]  # type: ignore[index]
    assert r.metrics.lost_bytes.labels("truncated")._value.get() == 3000 - 1024


def test_finish_ships_a_last_line_without_newline(tmp_path: Path) -> None:
    p = tmp_path / "a.log"
    p.write_bytes(b"2024-01-01T00:00:00Z stdout F a\n2024-01-01T00:00:00Z stdout F tail")
    r = reader(p)
    docs, _ = drain(r)
    seg = r.finish()
    assert [orjson.loads(source_of(i))["message"] for i in seg.items] == ["tail"]
    assert seg.safe_offset == p.stat().st_size
    assert [d["message"] for d in docs] == ["a"]


def test_a_published_plan_applies_from_the_next_chunk(tmp_path: Path) -> None:
    from dataclasses import replace

    p = tmp_path / "a.log"
    p.write_bytes(b"2024-01-01T00:00:00Z stdout F one\n")
    r = reader(p)
    [first] = drain(r)[0]
    slot = r.plans
    slot.publish(replace(slot.current, data_stream="logs-other-default", fields={"kubernetes": {"namespace": "n2"}}))
    with p.open("ab") as f:
        f.write(b"2024-01-01T00:00:01Z stdout F two\n")
    seg = r.read()
    assert seg is not None and slot.next is None
    assert b'"_index":"logs-other-default"' in seg.items[0]
    assert orjson.loads(source_of(seg.items[0]))["kubernetes"] == {"namespace": "n2"}
    assert "kubernetes" not in first or first["kubernetes"] != {"namespace": "n2"}


def test_segments_of_the_restart_window_are_marked_for_a_lookup(tmp_path: Path) -> None:
    p = tmp_path / "a.log"
    line = b"2024-01-01T00:00:00Z stdout F some line of text\n"
    p.write_bytes(line * 400)
    window = 100 * len(line)
    r = reader(p, read_bytes=40 * len(line), offset=20 * len(line))
    r.may_be_written(window)
    marks = []
    while (seg := r.read()) is not None:
        offsets = [orjson.loads(source_of(i))["log"]["offset"] for i in seg.items]
        marks.append((min(offsets), seg.verify))
    # Every segment holding an event that starts before the window's end is looked up; none after it.
    assert all(verify == (start < window) for start, verify in marks), marks
    assert [v for _, v in marks].count(True) == 2
    fresh = reader(p, read_bytes=40 * len(line))
    assert all(not seg.verify for seg in iter(fresh.read, None))
