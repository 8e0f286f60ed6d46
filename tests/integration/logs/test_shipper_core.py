"""The shipper against real Elasticsearch and OpenSearch nodes: every line written is in the index exactly once
(or in the dead letter), and the counters on the real /metrics agree."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.logs.shipper_process import ShipperProcess, all_docs, count, cri_line, wait_for
from tests.peers.base import Peer

pytestmark = [pytest.mark.integration]


@pytest.fixture(params=["elasticsearch", "opensearch"])
def engine(request: pytest.FixtureRequest) -> Peer:
    """Each core case runs against both engines."""
    peer: Peer = request.getfixturevalue(request.param)
    return peer


def shipper(tmp_path: Path, peer: Peer, name: str, **logs: Any) -> ShipperProcess:
    return ShipperProcess(tmp_path, peer.url, f"{name}{os.getpid()}{int(time.time() * 1000) % 100000}", **logs)


def assert_exactly_once(sp: ShipperProcess, peer: Peer, expected: list[tuple[str, str]], *, timeout: float = 120) -> None:
    """The data stream holds exactly `expected` (path, message) pairs, no more, no fewer, no duplicates."""
    def missing() -> str:
        docs = all_docs(peer.url, sp.data_stream)
        have = {(d["log"]["file"]["path"], d["message"]) for d in docs}
        lost = [e for e in expected if e not in have]
        return f"{len(docs)} docs, {len(lost)} missing, e.g. {lost[:5]}\n{sp.log_tail(30)}"

    wait_for(lambda: count(peer.url, sp.data_stream) >= len(expected), timeout,
             f"{len(expected)} documents in {sp.data_stream}", missing)
    # Everything read is acknowledged: no request is in flight, so no duplicate can still arrive.
    wait_for(lambda: sp.metric("observe_shipper_lag_bytes") == 0, 60, "every byte acknowledged", sp.log_tail)
    docs = all_docs(peer.url, sp.data_stream)
    got = sorted((d["log"]["file"]["path"], d["message"]) for d in docs)
    assert len(docs) == len(expected), f"{len(docs)} documents for {len(expected)} lines"
    assert got == sorted(expected)
    assert len({d["_id"] for d in docs}) == len(docs)


def test_steady_tailing_of_several_files_with_partial_lines(tmp_path: Path, engine: Peer) -> None:
    sp = shipper(tmp_path, engine, "steady").start()
    expected: list[tuple[str, str]] = []
    physical = 0
    files = [sp.logs_dir / f"app{i}.log" for i in range(3)]
    for round_ in range(20):
        for i, path in enumerate(files):
            with path.open("ab") as f:
                for j in range(25):
                    text = f"file {i} round {round_} line {j} \"quoted\" \\ 100%"
                    if j % 5 == 0:
                        # kubelet splits long lines into P parts ended by an F part; stderr interleaves
                        f.write(cri_line(text[:10], tag="P"))
                        f.write(cri_line(f"err {i}.{round_}.{j}", stream="stderr"))
                        f.write(cri_line(text[10:20], tag="P"))
                        f.write(cri_line(text[20:]))
                        physical += 4
                        expected.append((str(path), f"err {i}.{round_}.{j}"))
                    else:
                        f.write(cri_line(text))
                        physical += 1
                    expected.append((str(path), text))
        time.sleep(0.05)
    assert_exactly_once(sp, engine, expected)
    wait_for(lambda: sp.metric("observe_shipper_events_acked_total", outcome="delivered") == len(expected), 10,
             "acked counter", sp.log_tail)
    assert sp.metric("observe_shipper_lines_read_total") == physical
    assert sp.metric("observe_shipper_events_shipped_total") == len(expected)
    assert sp.metric("observe_shipper_bytes_read_total") == sum(p.stat().st_size for p in files)
    assert sp.metric("observe_shipper_events_acked_total", outcome="duplicate") == 0
    assert sp.metric("observe_shipper_bulk_items_total", status="201") == len(expected)
    assert sp.stop() == 0


def test_sigkill_mid_batch_then_restart_exact_count(tmp_path: Path, engine: Peer) -> None:
    n = 60000
    path = None
    sp = shipper(tmp_path, engine, "sigkill", batch_max_events=500, checkpoint_interval_ms=50)
    path = sp.logs_dir / "burst.log"
    with path.open("wb") as f:
        f.write(b"".join(cri_line(f"line {i:07d} " + "x" * 100) for i in range(n)))
    sp.start()
    wait_for(lambda: count(engine.url, sp.data_stream) >= n // 4, 120, "a quarter shipped", sp.log_tail)
    sp.kill()
    shipped_before = count(engine.url, sp.data_stream)
    assert shipped_before < n, "too late: everything was shipped before the kill"
    sp.start()
    expected = [(str(path), f"line {i:07d} " + "x" * 100) for i in range(n)]
    assert_exactly_once(sp, engine, expected, timeout=180)
    acked = sp.metric("observe_shipper_events_acked_total", outcome="delivered") + sp.metric(
        "observe_shipper_events_acked_total", outcome="duplicate")
    # The restart resumes at the checkpoint: it re-sends only what was not acknowledged before the kill.
    assert acked <= n - shipped_before + 20000
    assert acked >= n - shipped_before
    sp.stop()


def test_mapping_conflict_goes_to_dead_letter(tmp_path: Path, engine: Peer) -> None:
    sp = shipper(tmp_path, engine, "mapping").start()
    path = sp.logs_dir / "bad.log"
    with path.open("wb") as f:
        f.write(cri_line("good one"))
        f.write(b"9999-99-99T99:99:99Z stdout F impossible date\n")
        f.write(cri_line("good two"))
    assert_exactly_once(sp, engine, [(str(path), "good one"), (str(path), "good two")])
    wait_for(lambda: count(engine.url, sp.deadletter) == 1, 60, "the dead letter", sp.log_tail)
    dl = all_docs(engine.url, sp.deadletter, fields=("event", "error", "log", "observe"))
    assert dl[0]["observe"]["deadletter"]["reason"] == "mapping"
    assert dl[0]["observe"]["deadletter"]["data_stream"] == sp.data_stream
    assert '"message":"impossible date"' in dl[0]["event"]["original"]
    assert dl[0]["log"]["file"]["path"] == str(path)
    assert dl[0]["log"]["offset"] == len(cri_line("good one"))
    wait_for(lambda: sp.metric("observe_shipper_events_deadlettered_total", reason="mapping") == 1, 10, "dl counter")
    assert sp.metric("observe_shipper_events_acked_total", outcome="deadlettered") == 1
    assert sp.metric("observe_shipper_events_acked_total", outcome="delivered") == 2
    assert sp.metric("observe_shipper_bulk_items_total", status="400") == 1
    sp.stop()


def test_invalid_utf8_is_replaced_and_flagged(tmp_path: Path, engine: Peer) -> None:
    sp = shipper(tmp_path, engine, "utf8").start()
    path = sp.logs_dir / "bin.log"
    with path.open("wb") as f:
        f.write(cri_line("fine"))
        f.write(b"2024-05-01T12:00:00Z stdout F caf\xc3\xa9 \xff\xfe broken\n")
    assert_exactly_once(sp, engine, [(str(path), "fine"), (str(path), "caf\u00e9 \ufffd\ufffd broken")])
    docs = all_docs(engine.url, sp.data_stream)
    flagged = [d for d in docs if d["log"].get("flags")]
    assert [d["log"]["flags"] for d in flagged] == [["invalid_utf8"]]
    assert sp.metric("observe_shipper_events_flagged_total", flag="invalid_utf8") == 1
    sp.stop()


def test_rename_rotation_under_write_load(tmp_path: Path, engine: Peer) -> None:
    sp = shipper(tmp_path, engine, "rotate").start()
    path = sp.logs_dir / "rot.log"
    expected: list[tuple[str, str]] = []
    stop = threading.Event()

    def writer() -> None:
        i = 0
        f = path.open("ab")
        rotations = 0
        while not stop.is_set():
            for _ in range(200):
                text = f"rot line {i}"
                f.write(cri_line(text))
                expected.append((str(path), text))
                i += 1
            f.flush()
            if i % 2000 == 0:
                # logrotate's rename + create: the old inode keeps its unread tail
                f.close()
                rotations += 1
                os.rename(path, sp.logs_dir / f"rot.log.{rotations}")
                f = path.open("ab")
            time.sleep(0.01)
        f.close()

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(6)
    stop.set()
    t.join()
    assert len(expected) > 10000
    assert_exactly_once(sp, engine, expected)
    assert sp.metric("observe_shipper_lost_bytes_total", reason="rotated_away") == 0
    sp.stop()


def test_copytruncate_restarts_at_zero(tmp_path: Path, engine: Peer) -> None:
    sp = shipper(tmp_path, engine, "copytrunc").start()
    path = sp.logs_dir / "ct.log"
    first = [f"before truncate {i}" for i in range(500)]
    path.write_bytes(b"".join(cri_line(t) for t in first))
    wait_for(lambda: count(engine.url, sp.data_stream) == len(first), 60, "the first half", sp.log_tail)
    with path.open("r+b") as f:  # copytruncate: the copy is someone else's; the original shrinks to 0
        f.truncate(0)
    second = [f"after truncate {i}" for i in range(300)]
    with path.open("ab") as f:
        f.write(b"".join(cri_line(t) for t in second))
    assert_exactly_once(sp, engine, [(str(path), t) for t in first + second])
    sp.stop()


def test_file_deleted_while_open_is_read_to_its_end(tmp_path: Path, engine: Peer) -> None:
    sp = shipper(tmp_path, engine, "deleted", read_bytes=4096).start()
    path = sp.logs_dir / "gone.log"
    path.write_bytes(cri_line("first"))
    wait_for(lambda: count(engine.url, sp.data_stream) == 1, 60, "the first line", sp.log_tail)
    rest = [f"then {i} " + "y" * 150 for i in range(5000)]
    with path.open("ab") as f:
        f.write(b"".join(cri_line(t) for t in rest))
    path.unlink()
    assert_exactly_once(sp, engine, [(str(path), t) for t in ["first", *rest]])
    wait_for(lambda: sp.metric("observe_shipper_files_open") == 0, 30, "the deleted file to be closed", sp.log_tail)
    sp.stop()


def test_globs_narrowed_then_widened_while_lines_keep_arriving(tmp_path: Path, elasticsearch: Peer) -> None:
    # Three runs on one checkpoint: both folders, then only b/ (a/ keeps growing), then both again.
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    both = [str(a / "*.log"), str(b / "*.log")]
    name = f"narrow{os.getpid()}{int(time.time() * 1000) % 100000}"
    written: dict[str, list[str]] = {"a": [], "b": []}
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            for folder, key in ((a, "a"), (b, "b")):
                if key == "a" and i % 40 >= 20:
                    continue  # a/ pauses for longer than rotate_grace_seconds (1 s) now and then
                text = f"{key} line {i}"
                with (folder / "app.log").open("ab") as f:
                    f.write(cri_line(text))
                written[key].append(text)
            i += 1
            time.sleep(0.1)

    def shipped(key: str) -> set[str]:
        return {d["message"] for d in all_docs(elasticsearch.url, f"logs-test.{name}-default")
                if d["log"]["file"]["path"].startswith(str(tmp_path / key))}

    t = threading.Thread(target=writer)
    t.start()
    try:
        first = ShipperProcess(tmp_path, elasticsearch.url, name, paths=both).start()
        wait_for(lambda: len(shipped("a")) >= 20, 60, "a/ shipping", first.log_tail)
        assert first.stop() == 0
        narrowed = ShipperProcess(tmp_path, elasticsearch.url, name, paths=[str(b / "*.log")]).start()
        a_before = len(written["a"])
        wait_for(lambda: len(written["a"]) >= a_before + 40, 60, "a/ growing while narrowed")
        b_mark = len(written["b"])
        wait_for(lambda: len(written["b"]) > b_mark and written["b"][b_mark] in shipped("b"), 60,
                 "b/ shipping while narrowed", narrowed.log_tail)
        assert narrowed.stop() == 0
        assert not shipped("a") & set(written["a"][a_before:]), "a run whose globs exclude a/ shipped from it"
        widened = ShipperProcess(tmp_path, elasticsearch.url, name, paths=both).start()
        wait_for(lambda: len(written["a"]) >= a_before + 80, 60, "more lines after widening")
    finally:
        stop.set()
        t.join()
    expected = [(str(a / "app.log"), m) for m in written["a"]] + [(str(b / "app.log"), m) for m in written["b"]]
    assert_exactly_once(widened, elasticsearch, expected)
    widened.stop()
