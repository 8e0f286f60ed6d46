"""Answers the sink cannot read, through our proxy in front of the real node, while lines keep arriving: a 200 whose
body is not JSON, a body cut mid-way, items that do not match the request. The worker survives each: the batch is
retried with backoff, the error is logged with the batch's first file and offset and counted, /readyz says so
while it lasts, and in the end every line is in the index exactly once."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.logs.bulk_proxy import BulkProxy
from tests.integration.logs.shipper_process import LineWriter, ShipperProcess, count, wait_for
from tests.integration.logs.test_shipper_core import assert_exactly_once
from tests.peers.base import Peer

pytestmark = [pytest.mark.integration]

FAULT_SECONDS = 4.0


@pytest.fixture
def proxy(elasticsearch: Peer) -> Iterator[BulkProxy]:
    with BulkProxy(elasticsearch.url) as p:
        yield p


def run_fault(tmp_path: Path, peer: Peer, proxy: BulkProxy, mode: str) -> tuple[ShipperProcess, list[str]]:
    """Lines flow through the proxy, `mode` spoils the bulk answers for a while, then the proxy passes again."""
    sp = ShipperProcess(tmp_path, proxy.url, f"sinkfault{mode.replace('_', '')}{os.getpid()}{int(time.time()) % 100000}",
                        retry_initial_seconds=0.1, retry_max_seconds=0.5, linger_ms=50).start()
    writer = LineWriter(sp.logs_dir / "app.log", mode, tick=0.05, pad=60)
    seen: list[str] = []
    with writer:
        wait_for(lambda: count(peer.url, sp.data_stream) > 0, 60, "the first documents", sp.log_tail)
        proxy.mode = mode
        deadline = time.monotonic() + FAULT_SECONDS
        while time.monotonic() < deadline:
            status, body = sp.readyz()
            seen.append(f"{status} {body['services']['shipper']['reason']}")
            time.sleep(0.2)
        proxy.mode = "pass"
        time.sleep(1.0)
    assert proxy.spoiled > 0, "no bulk answer was spoiled: the test proves nothing"
    assert_exactly_once(sp, peer, writer.expected, timeout=120)
    wait_for(lambda: sp.readyz()[0] == 200 and "failing" not in sp.shipper_reason(), 30, "readiness to recover",
             lambda: f"{sp.readyz()}\n{sp.log_tail()}")
    # One final outcome per line: created, or already there when the spoiled answer hid a success.
    acked = sp.metric("observe_shipper_events_acked_total", outcome="delivered") + sp.metric(
        "observe_shipper_events_acked_total", outcome="duplicate")
    assert acked == len(writer.expected)
    assert "Traceback" not in sp.log_path.read_text()
    return sp, seen


def worker_errors(sp: ShipperProcess, why: str) -> float:
    return sp.metric("observe_shipper_sink_errors_total", reason=why)


def first_batch_logged(sp: ShipperProcess) -> bool:
    """The supervisor's log line names the batch's first file and offset."""
    for line in sp.log_path.read_text(errors="replace").splitlines():
        if "sink failed on a batch" in line:
            rec = json.loads(line)
            return str(rec.get("file.path", "")).endswith("app.log") and isinstance(rec.get("log.offset"), int)
    return False


def test_a_200_whose_body_is_not_json(tmp_path: Path, elasticsearch: Peer, proxy: BulkProxy) -> None:
    sp, seen = run_fault(tmp_path, elasticsearch, proxy, "not_json")
    assert any(s.startswith("503") and "sink failing" in s for s in seen), seen
    assert worker_errors(sp, "bad_response") > 0
    assert first_batch_logged(sp)
    assert sp.stop() == 0


def test_items_that_do_not_match_the_request(tmp_path: Path, elasticsearch: Peer, proxy: BulkProxy) -> None:
    sp, seen = run_fault(tmp_path, elasticsearch, proxy, "mismatch")
    assert any(s.startswith("503") and "sink failing" in s for s in seen), seen
    assert worker_errors(sp, "bad_response") > 0
    assert first_batch_logged(sp)
    assert sp.stop() == 0


def test_an_answer_cut_mid_body(tmp_path: Path, elasticsearch: Peer, proxy: BulkProxy) -> None:
    sp, seen = run_fault(tmp_path, elasticsearch, proxy, "cut")
    # A connection lost mid-answer is a known failure: the sink retries it itself (reason connection), as in an
    # outage, and /readyz says the bulk requests are failing.
    assert any("failing" in s for s in seen), seen
    assert sp.metric("observe_shipper_events_retried_total", reason="connection") > 0
    assert sp.stop() == 0
