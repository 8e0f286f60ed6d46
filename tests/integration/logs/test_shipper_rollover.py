"""Exactly once across data-stream rollovers, on the real nodes: `_id` is unique only inside one backing index, so a
re-send after a restart, a lost checkpoint or a spool replayed again must look its ids up across the whole stream.
Each case checks the exact multiset of (file, offset, message), unique `_id`s, and the counters."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.logs.shipper_process import ShipperProcess, all_docs, count, cri_line, es, wait_for
from tests.peers.base import Peer

pytestmark = [pytest.mark.integration]

Line = tuple[str, int, str]


@pytest.fixture(params=["elasticsearch", "opensearch"])
def engine(request: pytest.FixtureRequest) -> Peer:
    peer: Peer = request.getfixturevalue(request.param)
    return peer


def shipper(tmp_path: Path, peer: Peer, name: str, **logs: object) -> ShipperProcess:
    return ShipperProcess(tmp_path, peer.url, f"{name}{os.getpid()}{int(time.time() * 1000) % 100000}", **logs)


def append(path: Path, texts: list[str]) -> list[Line]:
    """Append CRI lines; their (file, offset, message)."""
    offset = path.stat().st_size if path.exists() else 0
    out: list[Line] = []
    with path.open("ab") as f:
        for text in texts:
            raw = cri_line(text)
            f.write(raw)
            out.append((str(path), offset, text))
            offset += len(raw)
    return out


def rollover(url: str, stream: str) -> str:
    """Roll the data stream over (works on the core node, which has no ILM); the new write index."""
    got = es(url, "POST", f"/{stream}/_rollover")
    assert got and got["rolled_over"], got
    return str(got["new_index"])


def backing_indices(url: str, stream: str) -> set[str]:
    es(url, "POST", f"/{stream}/_refresh")
    got = es(url, "POST", f"/{stream}/_search", {"size": 0, "aggs": {"i": {"terms": {"field": "_index"}}}})
    return {b["key"] for b in got["aggregations"]["i"]["buckets"]}


def assert_exact(url: str, stream: str, expected: list[Line], timeout: float = 120) -> None:
    """The stream holds exactly the multiset `expected` of (file, offset, message), each under its own `_id`."""
    wait_for(lambda: count(url, stream) >= len(expected), timeout, f"{len(expected)} documents")
    time.sleep(1.5)  # a duplicate would land now
    docs = all_docs(url, stream)
    got = sorted((d["log"]["file"]["path"], int(d["log"]["offset"]), d["message"]) for d in docs)
    assert len(docs) == len(expected), f"{len(docs)} documents for {len(expected)} lines"
    assert got == sorted(expected)
    assert len({d["_id"] for d in docs}) == len(docs)


def test_rollover_between_sigkill_and_restart_adds_nothing(tmp_path: Path, engine: Peer) -> None:
    # The checkpoint never moves in the first run: everything it shipped is in the window a restart re-sends.
    sp = shipper(tmp_path, engine, "rollkill", checkpoint_interval_ms=600_000)
    path = sp.logs_dir / "app.log"
    expected = append(path, [f"before kill {i}" for i in range(1000)])
    sp.start()
    wait_for(lambda: count(engine.url, sp.data_stream) == 1000, 120, "the first run's lines", sp.log_tail)
    sp.kill()
    assert not (tmp_path / "checkpoint.json").exists()
    rollover(engine.url, sp.data_stream)
    sp.start()
    expected += append(path, [f"after restart {i}" for i in range(200)])
    assert_exact(engine.url, sp.data_stream, expected)
    wait_for(lambda: sp.metric("observe_shipper_events_acked_total", outcome="delivered") == 200, 20, "delivered")
    assert sp.metric("observe_shipper_duplicates_avoided_total", reason="restart") == 1000
    assert sp.metric("observe_shipper_events_acked_total", outcome="duplicate") == 1000
    assert sp.metric("observe_shipper_bulk_items_total", status="201") == 200
    assert len(backing_indices(engine.url, sp.data_stream)) == 2
    assert sp.stop() == 0


def test_two_rollovers_then_restart_adds_nothing(tmp_path: Path, elasticsearch: Peer) -> None:
    url = elasticsearch.url
    sp = shipper(tmp_path, elasticsearch, "rolltwice", checkpoint_interval_ms=600_000)
    path = sp.logs_dir / "app.log"
    expected = append(path, [f"first {i}" for i in range(500)])
    sp.start()
    wait_for(lambda: count(url, sp.data_stream) == 500, 120, "the first 500", sp.log_tail)
    rollover(url, sp.data_stream)
    expected += append(path, [f"second {i}" for i in range(500)])
    wait_for(lambda: count(url, sp.data_stream) == 1000, 120, "the second 500", sp.log_tail)
    sp.kill()
    rollover(url, sp.data_stream)
    sp.start()
    expected += append(path, [f"third {i}" for i in range(100)])
    assert_exact(url, sp.data_stream, expected)
    # The first run's lines sit in two older backing indices; the third index holds only the new ones.
    assert len(backing_indices(url, sp.data_stream)) == 3
    wait_for(lambda: sp.metric("observe_shipper_events_acked_total", outcome="delivered") == 100, 20, "delivered")
    assert sp.metric("observe_shipper_duplicates_avoided_total", reason="restart") == 1000
    assert sp.metric("observe_shipper_events_acked_total", outcome="duplicate") == 1000
    assert sp.stop() == 0


def test_checkpoint_deleted_after_a_rollover_adds_nothing(tmp_path: Path, elasticsearch: Peer) -> None:
    url = elasticsearch.url
    sp = shipper(tmp_path, elasticsearch, "rollcp")
    path = sp.logs_dir / "app.log"
    expected = append(path, [f"checkpointed {i}" for i in range(300)])
    sp.start()
    wait_for(lambda: count(url, sp.data_stream) == 300, 120, "300 lines", sp.log_tail)
    assert sp.stop() == 0
    assert (tmp_path / "checkpoint.json").exists()
    (tmp_path / "checkpoint.json").unlink()
    rollover(url, sp.data_stream)
    sp.start()
    expected += append(path, [f"new {i}" for i in range(50)])
    assert_exact(url, sp.data_stream, expected)
    wait_for(lambda: sp.metric("observe_shipper_events_acked_total", outcome="delivered") == 50, 20, "delivered")
    assert sp.metric("observe_shipper_duplicates_avoided_total", reason="restart") == 300
    assert sp.metric("observe_shipper_events_acked_total", outcome="duplicate") == 300
    assert sp.stop() == 0


def replay(sp: ShipperProcess, spool: Path) -> str:
    argv = [str(Path(sys.executable).parent / "observe"), "ship", "--config", str(sp.config_path), "--replay", str(spool)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_replaying_a_spool_again_after_a_rollover_adds_nothing(tmp_path: Path, elasticsearch: Peer) -> None:
    url = elasticsearch.url
    spool = tmp_path / "spool"
    sp = shipper(tmp_path, elasticsearch, "rollspool", sink="spool", spool_dir=str(spool))
    path = sp.logs_dir / "app.log"
    expected = append(path, [f"spooled {i}" for i in range(400)])
    sp.start()
    wait_for(lambda: sp.metric("observe_shipper_events_acked_total", outcome="delivered") == 400, 60, "the spool")
    assert sp.stop() == 0
    assert "400 delivered, 0 duplicate" in replay(sp, spool)
    assert_exact(url, sp.data_stream, expected)
    rollover(url, sp.data_stream)
    # The same spool again (copied to another node, or a replay cut short and started over).
    for done in (spool / "replayed").iterdir():
        done.rename(spool / done.name)
    assert "0 delivered, 400 duplicate" in replay(sp, spool)
    assert_exact(url, sp.data_stream, expected)
