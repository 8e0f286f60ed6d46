"""Real network faults between the shipper and the real Elasticsearch node, injected by Toxiproxy while lines keep
arriving: connection resets, responses that never come, a starved link. Once the fault is gone, every line is in
the index exactly once and the retry counters on the real /metrics show what happened."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.logs.shipper_process import LineWriter, ShipperProcess, count, wait_for
from tests.integration.logs.test_shipper_core import assert_exactly_once
from tests.peers.base import Peer
from tests.peers.toxiproxy import Toxiproxy

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FAULT_SECONDS = 6.0


@pytest.fixture
def proxied(toxiproxy: Toxiproxy, elasticsearch: Peer) -> Iterator[tuple[str, str]]:
    """(proxy name, URL) of a Toxiproxy proxy of its own in front of the real node."""
    name = f"netfault{os.getpid()}{int(time.time() * 1000) % 100000}"
    port = toxiproxy.proxy(name, elasticsearch.ports["http"])
    try:
        yield name, f"http://127.0.0.1:{port}"
    finally:
        toxiproxy.delete_proxy(name)


def shipper(tmp_path: Path, url: str, name: str, *, timeout_s: float = 30.0, **logs: object) -> ShipperProcess:
    """A shipper process with short backoffs, through `url`."""
    sp = ShipperProcess(tmp_path, url, f"{name}{os.getpid()}{int(time.time() * 1000) % 100000}",
                        retry_initial_seconds=0.1, retry_max_seconds=1.0, **logs)
    sp.config["elasticsearch"]["request_timeout_seconds"] = timeout_s
    sp.config_path.write_text(yaml.safe_dump(sp.config))
    return sp


def under_fault(sp: ShipperProcess, peer: Peer, writer: LineWriter, add: Callable[[], None],
                remove: Callable[[], None], during: Callable[[], None] = lambda: None) -> None:
    """Lines flow, the fault comes for FAULT_SECONDS and goes, lines keep flowing a while, the writer stops."""
    with writer:
        wait_for(lambda: count(peer.url, sp.data_stream) > 0, 60, "the first documents", sp.log_tail)
        add()
        try:
            time.sleep(FAULT_SECONDS)
            during()
        finally:
            remove()
        time.sleep(2)


def assert_one_outcome_per_line(sp: ShipperProcess, lines: int) -> float:
    """Every line acknowledged once: created (201), or already there (409) when a request whose answer was lost had
    reached the node; returns the duplicates."""
    def acked() -> float:
        return sp.metric("observe_shipper_events_acked_total", outcome="delivered") + duplicates(sp)

    wait_for(lambda: acked() == lines, 10, f"{lines} acknowledgements", lambda: f"{acked()}\n{sp.log_tail()}")
    assert sp.metric("observe_shipper_bulk_items_total", status="409") == duplicates(sp)
    return duplicates(sp)


def duplicates(sp: ShipperProcess) -> float:
    return sp.metric("observe_shipper_events_acked_total", outcome="duplicate")


def test_connection_resets_are_retried_and_deliver_exactly_once(
        tmp_path: Path, elasticsearch: Peer, toxiproxy: Toxiproxy, proxied: tuple[str, str]) -> None:
    proxy, url = proxied
    sp = shipper(tmp_path, url, "resets").start()
    writer = LineWriter(sp.logs_dir / "resets.log", "reset", tick=0.05, pad=60)
    # Every connection is reset (RST) as soon as the request goes out.
    under_fault(sp, elasticsearch, writer,
                lambda: toxiproxy.add_toxic(proxy, "reset_peer", name="rst", stream="upstream", timeout=0),
                lambda: toxiproxy.remove_toxic(proxy, "rst"))
    assert_exactly_once(sp, elasticsearch, writer.expected, timeout=120)
    assert sp.metric("observe_shipper_events_retried_total", reason="connection") > 0
    assert_one_outcome_per_line(sp, len(writer.expected))
    assert sp.stop() == 0


def test_responses_that_never_come_time_out_and_retry_into_409s(
        tmp_path: Path, elasticsearch: Peer, toxiproxy: Toxiproxy, proxied: tuple[str, str]) -> None:
    proxy, url = proxied
    sp = shipper(tmp_path, url, "stall", timeout_s=1.5).start()
    writer = LineWriter(sp.logs_dir / "stall.log", "stall", tick=0.05, pad=60)
    # The requests reach the node and are indexed; the answers are held back, so the shipper cannot know.
    under_fault(sp, elasticsearch, writer,
                lambda: toxiproxy.add_toxic(proxy, "timeout", name="stall", stream="downstream", timeout=0),
                lambda: toxiproxy.remove_toxic(proxy, "stall"))
    assert_exactly_once(sp, elasticsearch, writer.expected, timeout=120)
    assert sp.metric("observe_shipper_events_retried_total", reason="timeout") > 0
    # The timed-out requests had been indexed: their retries met 409s, counted as duplicates, not as new documents.
    assert assert_one_outcome_per_line(sp, len(writer.expected)) > 0, "the 409 path was not exercised"
    assert sp.stop() == 0


def test_a_starved_link_builds_a_backlog_then_catches_up_exactly_once(
        tmp_path: Path, elasticsearch: Peer, toxiproxy: Toxiproxy, proxied: tuple[str, str]) -> None:
    proxy, url = proxied
    # 4 KB/s towards the node, while about 140 KB/s of lines arrive: no bulk finishes in time. (At 16 KB/s some
    # did: the reader takes lines as they are written, so the first bulks under the fault are small.)
    sp = shipper(tmp_path, url, "starved", timeout_s=3.0, batch_max_bytes=256 * 1024).start()
    writer = LineWriter(sp.logs_dir / "starved.log", "starved", tick=0.05, pad=60)
    lag: list[float] = []
    under_fault(sp, elasticsearch, writer,
                lambda: toxiproxy.add_toxic(proxy, "bandwidth", name="slow", stream="upstream", rate=4),
                lambda: toxiproxy.remove_toxic(proxy, "slow"),
                lambda: lag.append(sp.metric("observe_shipper_lag_bytes")))
    assert lag[0] > 256 * 1024, f"no backlog built up under the limit (lag {lag[0]:.0f} bytes)"
    assert_exactly_once(sp, elasticsearch, writer.expected, timeout=120)
    assert sp.metric("observe_shipper_events_retried_total", reason="timeout") > 0
    assert_one_outcome_per_line(sp, len(writer.expected))
    wait_for(lambda: sp.metric("observe_shipper_lag_bytes") == 0, 10, "the lag to drain", sp.log_tail)
    assert sp.stop() == 0
