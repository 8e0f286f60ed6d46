"""The shipper supervises its sink: an error is logged, counted and the batch sent again; RETRY outcomes are re-sent."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from observe.logs.batch import Batch, FileAcks, Segment
from observe.logs.config import LogsConfig
from observe.logs.metrics import ShipperMetrics
from observe.logs.shipper import Shipper
from observe.logs.sinks.elasticsearch.request import BulkResponseError, answers
from observe.logs.sinks.protocol import Outcome


class Owner:
    namespace = "ns"
    path = "/var/log/app.log"

    def __init__(self) -> None:
        self.acks = FileAcks(0, lambda: None)

    def segment_done(self) -> None:
        self.acks.advance()


def item(offset: int) -> bytes:
    return b'{"create":{"_index":"logs-a-default","_id":"k-%x"}}\n{"message":"m"}\n' % offset


class ScriptedSink:
    """Fails, then answers RETRY for the second event, then delivers (a test double of pure logic)."""

    name = "scripted"

    def __init__(self, shipper_ready: list[tuple[bool, str]], shipper: list[Shipper]) -> None:
        self.calls: list[list[bytes]] = []
        self.seen_ready = shipper_ready
        self.shipper = shipper

    async def send(self, batch: Batch) -> list[Outcome]:
        self.calls.append(list(batch.items()))
        self.seen_ready.append(self.shipper[0].ready())
        if len(self.calls) <= 2:
            raise BulkResponseError("the bulk answer is not a JSON object")
        if len(self.calls) == 3:
            return [Outcome.DELIVERED, Outcome.RETRY, Outcome.DUPLICATE]
        return [Outcome.DELIVERED] * batch.count


def test_a_failing_sink_is_retried_and_readiness_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    metrics = ShipperMetrics(CollectorRegistry())
    config = LogsConfig(paths=[str(tmp_path / "*.log")], checkpoint_path=tmp_path / "cp.json",
                        retry_initial_seconds=0.001, retry_max_seconds=0.002)
    seen: list[tuple[bool, str]] = []
    holder: list[Shipper] = []
    sink = ScriptedSink(seen, holder)
    shipper = Shipper(config, sink, metrics)  # type: ignore[arg-type]
    holder.append(shipper)
    owner = Owner()
    seg = Segment(owner, [item(0x10), item(0x20), item(0x30)], 0x40)
    owner.acks.register(seg)
    batch = Batch()
    batch.slices.append((seg, 0, 3))
    batch.count = 3
    asyncio.run(shipper._deliver(batch))
    assert [len(c) for c in sink.calls] == [3, 3, 3, 1]
    assert sink.calls[3] == [item(0x20)]  # only the RETRY event is sent again
    assert seen[0][0] is True
    assert seen[1][0] is False and "sink failing" in seen[1][1] and "/var/log/app.log at offset 16" in seen[1][1]
    assert shipper.ready() == (True, "")
    assert metrics.sink_errors.labels("bad_response")._value.get() == 2
    assert metrics.events_retried.labels("sink")._value.get() == 1
    failed = [r for r in caplog.records if "sink failed on a batch" in r.getMessage()]
    assert len(failed) == 2 and failed[0].__dict__["log.offset"] == 16


def test_bulk_answers_that_cannot_be_paired_with_the_items_are_refused() -> None:
    ok = b'{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409}}]}'
    assert len(answers(ok, 2)) == 2
    for raw in (b"<html>502</html>", b'{"errors":true,"items":[{"create":{"status":201}}]}',
                b'{"errors":true,"items":[[201],[409]]}', b"[1,2]", b'{"errors":true}'):
        with pytest.raises(BulkResponseError):
            answers(raw, 2)


def test_a_subset_shares_the_segments() -> None:
    owner = Owner()
    seg = Segment(owner, [item(i) for i in range(5)], 100)
    batch = Batch()
    batch.slices.append((seg, 0, 5))
    batch.count = 5
    sub = batch.subset([1, 2, 4])
    assert sub.slices == [(seg, 1, 3), (seg, 4, 5)] and sub.count == 3
    assert list(sub.items()) == [item(1), item(2), item(4)]
